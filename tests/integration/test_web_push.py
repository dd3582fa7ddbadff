"""Web Push sending (spec/protocol.md, "Second round": Web Push, reachability), on the
embedded AWS with a push service of the test's own on 127.0.0.1 (tests/pushservice.py): an
agent with no live inbox connection but a push subscription is reachable, takes their turn,
and gets the offer as an RFC 8291/8292 push; offerWithdrawn follows under the same Topic;
404/410 deletes the subscription, a refused push moves routing on at once, a push service
that fails or hangs leaves the offer standing until its timeout."""

from __future__ import annotations

import base64
import hashlib
import os
from collections.abc import Iterator
from typing import Any

import pytest
from livechat import runtime
from livechat.chat import workflow
from livechat.domain.clock import parse_iso
from livechat.outbound import webpush
from livechat.outbound.delivery import Notifier
from livechat.runtime import get_settings
from livechat.store import catalog, push
from livechat.store import conversations as stored

from livechat_admin.dry_run import dry_run, live_state
from tests.pushservice import PushService, Subscription
from tests.support.clock import FakeClock, controlled_clock
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@example.com", "bob@example.com"
TIMEOUT = 45
VERA = {"firstName": "Vera", "email": "vera@acme.io"}
PAGE = {"url": "https://example.com/pricing", "title": "Pricing"}


@pytest.fixture
def service(aws: Any) -> Iterator[PushService]:
    """The test's push service, with the local stack's setting that lets agents subscribe
    endpoints on 127.0.0.1 (a deployment never has it)."""
    os.environ["LIVECHAT_ALLOW_LOOPBACK_PUSH"] = "1"
    runtime.reset()
    try:
        with PushService() as running:
            yield running
    finally:
        del os.environ["LIVECHAT_ALLOW_LOOPBACK_PUSH"]
        runtime.reset()


@pytest.fixture
def clock(aws: Any) -> Iterator[FakeClock]:
    with controlled_clock() as fake:
        yield fake


def sales(world: World, *agents: str) -> None:
    world.settings(accept_timeout_seconds=TIMEOUT)
    world.live_dialog("sales", {"mode": "round_robin"})
    for email in agents:
        world.agent(email)


def push_only(world: World, service: PushService, email: str, *names: str) -> list[Subscription]:
    """The agent subscribes from an inbox, then closes it: reachable by push only."""
    client = world.agent_client(email)
    subs = [service.subscribe(name) for name in names or (email.split("@", maxsplit=1)[0],)]
    for sub in subs:
        answer = client.ask("subscribePush", subscription=dict(sub))
        assert answer["type"] == "ack", answer
    client.disconnect()
    assert not world.agent_item(email).connections
    return subs


def request(world: World) -> tuple[Client, str]:
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales", fields=VERA, page=PAGE)
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    assert answer["type"] in ("routing", "fallback"), answer
    return visitor, conversation_id


def topic(conversation_id: str) -> str:
    digest = hashlib.sha256(conversation_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]


def notifier() -> Notifier:
    return Notifier(get_settings().ws_management_endpoint or "")


# --- reachability ------------------------------------------------------------------------

def test_the_agent_item_counts_subscriptions_exactly(world: World, service: PushService) -> None:
    sales(world, ALICE, BOB)
    alice, bob = world.agent_client(ALICE), world.agent_client(BOB)
    one, two = service.subscribe("one"), service.subscribe("two")
    alice.ask("subscribePush", subscription=dict(one))
    alice.ask("subscribePush", subscription=dict(one))  # again: the same subscription
    alice.ask("subscribePush", subscription=dict(two))
    assert world.agent_item(ALICE).push_subscriptions == 2
    bob.ask("subscribePush", subscription=dict(two))  # moves to Bob
    assert (world.agent_item(ALICE).push_subscriptions, world.agent_item(BOB).push_subscriptions) == (1, 1)
    alice.ask("unsubscribePush", endpoint=two["endpoint"])  # Bob's now: untouched
    alice.ask("unsubscribePush", endpoint=one["endpoint"])
    alice.ask("unsubscribePush", endpoint=one["endpoint"])  # again: nothing to count down
    assert (world.agent_item(ALICE).push_subscriptions, world.agent_item(BOB).push_subscriptions) == (0, 1)


def test_a_push_only_agent_counts_for_availability(world: World, service: PushService) -> None:
    sales(world, ALICE)
    visitor = world.visitor_client()
    ask = {"dialogId": "sales", "cardId": "live"}
    assert visitor.ask("availability", **ask)["available"] is False
    push_only(world, service, ALICE)
    assert visitor.ask("availability", **ask)["available"] is True
    world.agent_client(ALICE).ask("setStatus", status="away")
    assert visitor.ask("availability", **ask)["available"] is False


def test_the_dry_run_names_an_agent_reachable_by_push_only(world: World, service: PushService) -> None:
    sales(world, ALICE, BOB)
    push_only(world, service, ALICE)
    card = catalog.get_dialog("sales").live_chat_card("live")
    assert card is not None
    rows, tickets = live_state(card, {})
    result = dry_run(card, {}, rows, live=True, tickets=tickets)
    text = "\n".join(f"{v.email}: {v.verdict}" for v in result.verdicts)
    assert f"{ALICE}: gets the chat (by Web Push: no inbox open)" in text
    assert f"{BOB}: not reachable (no inbox open, no push subscription)" in text


def test_an_inbox_answer_says_how_many_subscriptions_the_agent_holds(world: World, service: PushService) -> None:
    sales(world, ALICE)
    alice = world.agent_client(ALICE)
    assert alice.ask("listInbox")["pushSubscriptions"] == 0
    alice.ask("subscribePush", subscription=dict(service.subscribe()))
    assert alice.ask("listInbox")["pushSubscriptions"] == 1


# --- the offer by push ---------------------------------------------------------------------

def test_an_offer_to_a_push_only_agent_is_pushed_encrypted_and_signed(world: World, service: PushService) -> None:
    sales(world, ALICE)
    (sub,) = push_only(world, service, ALICE)
    _, conversation_id = request(world)

    offer = service.take(sub["endpoint"])
    assert offer.problems == [], offer.problems
    assert offer.payload["type"] == "chatOffered"
    conv = stored.get(conversation_id)
    assert offer.payload["conversationId"] == conversation_id
    assert offer.payload["offerId"] == conv.offer_id
    assert offer.payload["visitor"] == VERA and offer.payload["page"]["url"] == PAGE["url"]
    assert offer.payload["acceptTimeoutSeconds"] == TIMEOUT
    assert offer.headers["Urgency"] == "high"
    assert offer.headers["Topic"] == topic(conversation_id)
    assert 0 < int(offer.headers["TTL"]) <= TIMEOUT
    assert offer.claims is not None and offer.claims["sub"] == "mailto:chat-alerts@example.com"
    assert conv.status == "offered" and conv.offer_agent == ALICE


def test_a_connected_agent_gets_the_offer_by_websocket_only(world: World, service: PushService) -> None:
    sales(world, ALICE)
    alice = world.agent_client(ALICE)
    alice.ask("subscribePush", subscription=dict(service.subscribe("alice")))
    _, conversation_id = request(world)
    assert [f["conversationId"] for f in alice.of_type("chatOffered")] == [conversation_id]
    assert service.pushes() == []


def test_a_push_only_agent_who_reconnects_lists_and_accepts_the_offer(world: World, service: PushService) -> None:
    sales(world, ALICE)
    (sub,) = push_only(world, service, ALICE)
    visitor, conversation_id = request(world)
    offer = service.take(sub["endpoint"]).payload
    alice = world.agent_client(ALICE)
    (listed,) = alice.ask("listOffers")["items"]
    assert listed["offerId"] == offer["offerId"]
    accepted = alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    assert accepted["type"] == "chatAccepted", accepted
    assert [f["type"] for f in visitor.frames()].count("agentJoined") == 1


def test_the_expired_offer_is_withdrawn_by_push_under_the_same_topic(
        world: World, service: PushService, clock: FakeClock) -> None:
    sales(world, ALICE)
    (sub,) = push_only(world, service, ALICE)
    visitor, conversation_id = request(world)
    offer = service.take(sub["endpoint"])
    expires_at = stored.get(conversation_id).offer_expires_at
    assert expires_at is not None
    clock.advance_to(parse_iso(expires_at))
    clock.advance(1)

    workflow.deadline_task(conversation_id, notifier(), catalog.get_workspace_settings())

    withdrawn = service.take(sub["endpoint"])
    assert withdrawn.problems == [], withdrawn.problems
    assert withdrawn.payload == {"type": "offerWithdrawn", "conversationId": conversation_id,
                                 "offerId": offer.payload["offerId"], "reason": "expired"}
    assert withdrawn.headers["Topic"] == offer.headers["Topic"]
    assert int(withdrawn.headers["TTL"]) > 0
    # Nobody else: the visitor gets the fallback as before.
    assert [f["reason"] for f in visitor.frames() if f["type"] == "fallback"] == ["not_accepted"]


def test_a_visitor_who_leaves_withdraws_the_pushed_offer(world: World, service: PushService) -> None:
    sales(world, ALICE)
    (sub,) = push_only(world, service, ALICE)
    visitor, conversation_id = request(world)
    offer = service.take(sub["endpoint"]).payload
    assert visitor.ask("endChat", conversationId=conversation_id)["type"] in ("chatEnded", "ack")
    withdrawn = service.take(sub["endpoint"]).payload
    assert (withdrawn["type"], withdrawn["offerId"], withdrawn["reason"]) == (
        "offerWithdrawn", offer["offerId"], "visitor_left")


# --- what the push service answers ----------------------------------------------------------

@pytest.mark.parametrize("status", [404, 410])
def test_a_gone_subscription_is_deleted_and_the_chat_moves_on_at_once(
        world: World, service: PushService, status: int) -> None:
    sales(world, ALICE, BOB)
    (sub,) = push_only(world, service, ALICE)
    service.respond(sub["endpoint"], status)
    bob = world.agent_client(BOB)
    _, conversation_id = request(world)
    service.take(sub["endpoint"])  # it was tried
    assert [f["conversationId"] for f in bob.of_type("chatOffered")] == [conversation_id]
    assert push.subscriptions(ALICE) == []
    assert world.agent_item(ALICE).push_subscriptions == 0
    assert world.agent_item(ALICE).active == 0  # the slot came back


def test_a_refused_push_moves_on_at_once_and_keeps_the_subscription(world: World, service: PushService) -> None:
    sales(world, ALICE, BOB)
    (sub,) = push_only(world, service, ALICE)
    service.respond(sub["endpoint"], 400)
    bob = world.agent_client(BOB)
    _, conversation_id = request(world)
    service.take(sub["endpoint"])
    assert [f["conversationId"] for f in bob.of_type("chatOffered")] == [conversation_id]
    assert [s.endpoint for s in push.subscriptions(ALICE)] == [sub["endpoint"]]


@pytest.mark.parametrize("status", [500, 503, 429, 408])
def test_a_push_service_failing_leaves_the_offer_standing(
        world: World, service: PushService, status: int) -> None:
    sales(world, ALICE, BOB)
    (sub,) = push_only(world, service, ALICE)
    service.respond(sub["endpoint"], status)
    bob = world.agent_client(BOB)
    _, conversation_id = request(world)
    service.take(sub["endpoint"])
    conv = stored.get(conversation_id)
    assert (conv.status, conv.offer_agent) == ("offered", ALICE)  # delivered-unknown
    assert bob.of_type("chatOffered") == []
    assert [s.endpoint for s in push.subscriptions(ALICE)] == [sub["endpoint"]]


def test_a_push_service_that_hangs_leaves_the_offer_standing(
        world: World, service: PushService, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(webpush, "PUSH_TIMEOUT", (0.5, 0.3))
    sales(world, ALICE, BOB)
    (sub,) = push_only(world, service, ALICE)
    service.stall(sub["endpoint"], 1.5)
    world.agent_client(BOB)
    _, conversation_id = request(world)
    conv = stored.get(conversation_id)
    assert (conv.status, conv.offer_agent) == ("offered", ALICE)


def test_one_live_subscription_of_several_is_enough(world: World, service: PushService) -> None:
    sales(world, ALICE, BOB)
    laptop, phone = push_only(world, service, ALICE, "laptop", "phone")
    service.respond(laptop["endpoint"], 410)
    world.agent_client(BOB)
    _, conversation_id = request(world)
    assert service.take(phone["endpoint"]).payload["conversationId"] == conversation_id
    assert stored.get(conversation_id).offer_agent == ALICE
    assert [s.endpoint for s in push.subscriptions(ALICE)] == [phone["endpoint"]]
    assert world.agent_item(ALICE).push_subscriptions == 1


def test_an_endpoint_the_settings_no_longer_allow_is_not_posted_to(world: World, service: PushService) -> None:
    sales(world, ALICE, BOB)
    push_only(world, service, ALICE)
    os.environ["LIVECHAT_ALLOW_LOOPBACK_PUSH"] = "0"  # as if the rule narrowed meanwhile
    runtime.reset()
    bob = world.agent_client(BOB)
    _, conversation_id = request(world)
    assert service.pushes() == []
    assert [f["conversationId"] for f in bob.of_type("chatOffered")] == [conversation_id]


def test_a_long_page_and_visitor_still_fit_in_a_push(world: World, service: PushService) -> None:
    sales(world, ALICE)
    world.live_dialog("sales", {"mode": "round_robin"},
                      fields=("firstName", "lastName", "email", "company", "phone"),
                      required=("firstName",))
    (sub,) = push_only(world, service, ALICE)
    visitor = world.visitor_client()
    long_page = {"url": "https://example.com/p?" + "q=x&" * 400, "title": "T" * 1500}
    fields = {"firstName": "Vera", "lastName": "Ø" * 100, "email": "vera@acme.io", "company": "C" * 200}
    conversation_id = world.walk_to_live_card(visitor, "sales", fields=fields, page=long_page)
    visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    offer = service.take(sub["endpoint"])
    assert offer.problems == [], offer.problems
    assert offer.plaintext is not None and len(offer.plaintext) <= 3000
    assert offer.payload["visitor"]["firstName"] == "Vera"
    assert offer.payload["page"]["url"].startswith("https://example.com/p?q=x&")
