"""`subscribePush` / `unsubscribePush` (spec/protocol.md, "Second round": Web Push): an
agent's Web Push subscriptions are stored as given (several per agent), an endpoint belongs
to one agent and moves when another subscribes it, unsubscribing is `ack` whether or not
the agent held it and never touches another agent's; a bad subscription is `BAD_REQUEST`
naming the field and stores nothing; `http://127.0.0.1:PORT/` only with the local stack's
setting; visitors may not."""

from __future__ import annotations

import base64
import os
from collections.abc import Iterator
from typing import Any

import pytest
from livechat import runtime
from livechat.domain.push import endpoint_hash
from livechat.store import push

from tests.support.snapshot import table_snapshot
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@example.com", "bob@example.com"
P256DH = base64.urlsafe_b64encode(b"\x04" + bytes(range(64))).decode().rstrip("=")
AUTH = base64.urlsafe_b64encode(bytes(range(16))).decode().rstrip("=")
FCM = "https://fcm.googleapis.com/fcm/send/dGVzdA:APA91b"
MOZILLA = "https://updates.push.services.mozilla.com/wpush/v2/gAAAAA"
LOOPBACK = "http://127.0.0.1:9/x"


def subscription(endpoint: str, p256dh: str = P256DH, auth: str = AUTH) -> dict[str, Any]:
    return {"endpoint": endpoint, "keys": {"p256dh": p256dh, "auth": auth}}


def subscribe(client: Client, endpoint: str, **keys: str) -> dict[str, Any]:
    return client.ask("subscribePush", subscription=subscription(endpoint, **keys))


def endpoints(agent: str) -> set[str]:
    return {s.endpoint for s in push.subscriptions(agent)}


def push_items() -> list[dict[str, Any]]:
    return [i for i in table_snapshot() if i["pk"]["S"].startswith(("PUSH#", "PUSHEP#"))]


def assert_ack(answer: dict[str, Any], action: str) -> None:
    assert answer["type"] == "ack" and answer["action"] == action, answer


def assert_bad_request(answer: dict[str, Any], field: str) -> None:
    assert answer["type"] == "error" and answer["code"] == "BAD_REQUEST", answer
    assert field in answer["message"], answer


@pytest.fixture
def agents(world: World) -> tuple[Client, Client]:
    world.agent(ALICE)
    world.agent(BOB)
    return world.agent_client(ALICE), world.agent_client(BOB)


@pytest.fixture
def loopback(aws: Any) -> Iterator[None]:
    """The local stack's setting (livechat_local sets it; template.yaml never does)."""
    os.environ["LIVECHAT_ALLOW_LOOPBACK_PUSH"] = "1"
    runtime.reset()
    try:
        yield
    finally:
        del os.environ["LIVECHAT_ALLOW_LOOPBACK_PUSH"]
        runtime.reset()


# --- storing ----------------------------------------------------------------------------

def test_a_subscription_is_stored_with_its_keys(agents: tuple[Client, Client]) -> None:
    alice, _ = agents
    assert_ack(subscribe(alice, FCM), "subscribePush")
    (stored,) = push.subscriptions(ALICE)
    assert (stored.endpoint, stored.p256dh, stored.auth) == (FCM, P256DH, AUTH)
    assert push.owner_of(FCM) == ALICE
    assert endpoints(BOB) == set()


def test_an_agent_may_hold_several_subscriptions(agents: tuple[Client, Client]) -> None:
    alice, _ = agents
    assert_ack(subscribe(alice, FCM), "subscribePush")
    assert_ack(subscribe(alice, MOZILLA), "subscribePush")
    assert endpoints(ALICE) == {FCM, MOZILLA}


def test_subscribing_twice_keeps_one_subscription_with_the_latest_keys(
        agents: tuple[Client, Client]) -> None:
    alice, _ = agents
    new_auth = base64.urlsafe_b64encode(bytes(16)).decode()
    assert_ack(subscribe(alice, FCM), "subscribePush")
    assert_ack(subscribe(alice, FCM, auth=new_auth), "subscribePush")
    (stored,) = push.subscriptions(ALICE)
    assert stored.auth == new_auth
    assert len(push_items()) == 2  # the subscription and its owner item


def test_subscribing_an_endpoint_from_another_agent_moves_it(agents: tuple[Client, Client]) -> None:
    alice, bob = agents
    assert_ack(subscribe(alice, FCM), "subscribePush")
    assert_ack(subscribe(alice, MOZILLA), "subscribePush")
    assert_ack(subscribe(bob, FCM), "subscribePush")
    assert endpoints(ALICE) == {MOZILLA}
    assert endpoints(BOB) == {FCM}
    assert push.owner_of(FCM) == BOB
    assert len(push_items()) == 4


def test_unsubscribing_forgets_the_endpoint(agents: tuple[Client, Client]) -> None:
    alice, _ = agents
    assert_ack(subscribe(alice, FCM), "subscribePush")
    assert_ack(subscribe(alice, MOZILLA), "subscribePush")
    assert_ack(alice.ask("unsubscribePush", endpoint=FCM), "unsubscribePush")
    assert endpoints(ALICE) == {MOZILLA}
    assert push.owner_of(FCM) is None
    assert_ack(alice.ask("unsubscribePush", endpoint=MOZILLA), "unsubscribePush")
    assert push_items() == []


def test_unsubscribing_an_endpoint_held_by_no_one_is_ack(agents: tuple[Client, Client]) -> None:
    alice, _ = agents
    assert_ack(alice.ask("unsubscribePush", endpoint=FCM), "unsubscribePush")
    assert push_items() == []


def test_unsubscribing_someone_elses_endpoint_is_ack_and_leaves_theirs(
        agents: tuple[Client, Client]) -> None:
    alice, bob = agents
    assert_ack(subscribe(bob, FCM), "subscribePush")
    before = push_items()
    assert_ack(alice.ask("unsubscribePush", endpoint=FCM), "unsubscribePush")
    assert push_items() == before
    assert endpoints(BOB) == {FCM}


def test_the_move_leaves_the_old_agent_unable_to_unsubscribe_it(agents: tuple[Client, Client]) -> None:
    alice, bob = agents
    assert_ack(subscribe(alice, FCM), "subscribePush")
    assert_ack(subscribe(bob, FCM), "subscribePush")
    assert_ack(alice.ask("unsubscribePush", endpoint=FCM), "unsubscribePush")
    assert endpoints(BOB) == {FCM}


# --- refusing ---------------------------------------------------------------------------

@pytest.mark.parametrize(("sub", "field"), [
    ({}, "subscription"),
    ({"endpoint": FCM}, "subscription.keys"),
    ({"keys": {"p256dh": P256DH, "auth": AUTH}}, "subscription.endpoint"),
    ({"endpoint": FCM, "keys": {"p256dh": P256DH}}, "subscription.keys.auth"),
    ({"endpoint": FCM, "keys": {"auth": AUTH}}, "subscription.keys.p256dh"),
    ({"endpoint": 7, "keys": {"p256dh": P256DH, "auth": AUTH}}, "subscription.endpoint"),
    ({"endpoint": FCM, "keys": ["a", "b"]}, "subscription.keys"),
    ({"endpoint": FCM, "keys": {"p256dh": 1, "auth": AUTH}}, "subscription.keys.p256dh"),
    ("https://fcm.googleapis.com/x", "subscription"),
    (subscription(FCM, p256dh=AUTH), "subscription.keys.p256dh"),
    (subscription(FCM, p256dh="not base64!"), "subscription.keys.p256dh"),
    (subscription(FCM, p256dh=base64.urlsafe_b64encode(b"\x02" + bytes(64)).decode()),
     "subscription.keys.p256dh"),
    (subscription(FCM, auth=P256DH), "subscription.keys.auth"),
    (subscription("https://evil.example.com/push"), "subscription.endpoint"),
    (subscription("https://fcm.googleapis.com.evil.example/x"), "subscription.endpoint"),
    (subscription("https://a.b.notify.windows.com/w/?token=1"), "subscription.endpoint"),
    (subscription("http://fcm.googleapis.com/fcm/send/x"), "subscription.endpoint"),
    (subscription(LOOPBACK), "subscription.endpoint"),
    (subscription("https://fcm.googleapis.com/" + "x" * 10_000), "subscription.endpoint"),
    (subscription("ftp://fcm.googleapis.com/x"), "subscription.endpoint"),
], ids=lambda v: str(v)[:40])
def test_a_bad_subscription_is_refused_naming_the_field_and_stores_nothing(
        agents: tuple[Client, Client], sub: Any, field: str) -> None:
    alice, _ = agents
    assert_bad_request(alice.ask("subscribePush", subscription=sub), field)
    assert push_items() == []


def test_a_missing_subscription_is_refused(agents: tuple[Client, Client]) -> None:
    alice, _ = agents
    assert_bad_request(alice.ask("subscribePush"), "subscription")
    assert_bad_request(alice.ask("unsubscribePush"), "endpoint")
    assert_bad_request(alice.ask("unsubscribePush", endpoint=["x"]), "endpoint")
    assert push_items() == []


def test_a_star_stands_for_exactly_one_label_and_hosts_are_case_insensitive(
        agents: tuple[Client, Client]) -> None:
    alice, _ = agents
    one_label = "https://a.notify.windows.com/w/?token=1"
    assert_ack(subscribe(alice, one_label), "subscribePush")
    assert_bad_request(subscribe(alice, "https://a.b.notify.windows.com/w/?token=1"),
                       "subscription.endpoint")
    shouting = "https://FCM.GoogleAPIs.COM/fcm/send/abc"
    assert_ack(subscribe(alice, shouting), "subscribePush")
    assert endpoints(ALICE) == {one_label, shouting}


def test_push_services_is_the_workspaces_setting(world: World, agents: tuple[Client, Client]) -> None:
    alice, _ = agents
    world.settings(push_services=["push.example.com", "*.Push.Example.net"])
    assert_bad_request(subscribe(alice, FCM), "subscription.endpoint")
    assert_ack(subscribe(alice, "https://PUSH.example.com/a"), "subscribePush")
    assert_ack(subscribe(alice, "https://eu.push.example.net/b"), "subscribePush")
    assert_bad_request(subscribe(alice, "https://push.example.net/b"), "subscription.endpoint")
    assert endpoints(ALICE) == {"https://PUSH.example.com/a", "https://eu.push.example.net/b"}


def test_loopback_http_is_accepted_only_with_the_local_stacks_setting(
        agents: tuple[Client, Client], loopback: None) -> None:
    alice, _ = agents
    assert_ack(subscribe(alice, LOOPBACK), "subscribePush")
    for other in ("http://localhost:9/x", "http://127.0.0.2:9/x", "http://127.0.0.1/x",
                  "http://fcm.googleapis.com/x", "http://[::1]:9/x"):
        assert_bad_request(subscribe(alice, other), "subscription.endpoint")
    assert endpoints(ALICE) == {LOOPBACK}


def test_a_deployment_refuses_loopback_http(agents: tuple[Client, Client]) -> None:
    alice, _ = agents
    assert not runtime.get_settings().allow_loopback_push
    assert_bad_request(subscribe(alice, LOOPBACK), "subscription.endpoint")
    assert push_items() == []


def test_visitors_may_not_subscribe_or_unsubscribe(world: World, agents: tuple[Client, Client]) -> None:
    _, bob = agents
    assert_ack(subscribe(bob, FCM), "subscribePush")
    before = push_items()
    visitor = world.visitor_client()
    for answer in (visitor.ask("subscribePush", subscription=subscription(MOZILLA)),
                   visitor.ask("unsubscribePush", endpoint=FCM)):
        assert answer["type"] == "error" and answer["code"] == "FORBIDDEN", answer
    assert push_items() == before


def test_items_are_keyed_by_the_endpoints_hash(agents: tuple[Client, Client]) -> None:
    alice, _ = agents
    assert_ack(subscribe(alice, FCM), "subscribePush")
    keys = {(i["pk"]["S"], i["sk"]["S"]) for i in push_items()}
    digest = endpoint_hash(FCM)
    assert keys == {(f"PUSH#{ALICE}", digest), (f"PUSHEP#{digest}", "OWNER")}
