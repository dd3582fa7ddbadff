"""protocol.md "Second round", Web Push: agent actions `subscribePush` {subscription:
{endpoint, keys: {p256dh, auth}}} → `ack` and `unsubscribePush` {endpoint} → `ack` (also for
an endpoint the agent does not hold, another agent's included); an endpoint that is not
`https://` on a host of `settings.push_services`, or longer than 1,024 characters, or a
malformed subscription → `BAD_REQUEST`; the local stack also accepts
`http://127.0.0.1:PORT/...` and no other `http://` URL; visitors may not (FORBIDDEN).
Black-box over `livechat dev`: WebSocket only, no livechat import.

(Not registered with spec.covers: the contract registry reads the action tables, and these
actions are named in the second round's prose, not in a table.)"""

from __future__ import annotations

import base64
from typing import Any

import pytest

from tests.blackbox import Client, Frame, Stack, closing, run
from tests.contract.kit import BOB, CAROL

pytestmark = pytest.mark.contract

P256DH = base64.urlsafe_b64encode(b"\x04" + bytes(range(64))).decode().rstrip("=")
AUTH = base64.urlsafe_b64encode(bytes(range(16))).decode().rstrip("=")
FCM = "https://fcm.googleapis.com/fcm/send/contract-push-1"
WINDOWS = "https://db5p.notify.windows.com/w/?token=contract-push-2"
LOOPBACK = "http://127.0.0.1:9/contract-push-3"


def subscription(endpoint: Any, **keys: Any) -> dict[str, Any]:
    return {"endpoint": endpoint, "keys": {"p256dh": P256DH, "auth": AUTH, **keys}}


def assert_ack(answer: Frame, action: str) -> None:
    assert (answer.get("type"), answer.get("action")) == ("ack", action), answer


def assert_bad_request(answer: Frame, field: str) -> None:
    assert (answer.get("type"), answer.get("code")) == ("error", "BAD_REQUEST"), answer
    assert field in str(answer.get("message")), answer


def with_agents(stack: Stack, body: Any) -> None:
    """Carol and Bob connected without stating a status (nothing about routing changes);
    both closed at the end."""
    async def scenario() -> None:
        carol = await stack.agent(CAROL, status=None)
        bob = await stack.agent(BOB, status=None)
        try:
            await body(carol, bob)
        finally:
            shouting = WINDOWS.replace("db5p.notify.windows.com", "DB5P.Notify.Windows.COM")
            for client, endpoint in ((carol, FCM), (carol, shouting), (carol, LOOPBACK), (bob, FCM)):
                await client.ask("unsubscribePush", endpoint=endpoint)
            await closing(carol, bob)

    run(scenario)


def test_given_an_agent_when_they_subscribe_and_unsubscribe_then_both_are_answered_ack(
        stack: Stack) -> None:
    async def body(carol: Client, bob: Client) -> None:
        assert_ack(await carol.ask("subscribePush", subscription=subscription(FCM)), "subscribePush")
        # twice, and a second endpoint (`*` is one label; hosts are case-insensitive)
        assert_ack(await carol.ask("subscribePush", subscription=subscription(FCM)), "subscribePush")
        shouting = WINDOWS.replace("db5p.notify.windows.com", "DB5P.Notify.Windows.COM")
        assert_ack(await carol.ask("subscribePush", subscription=subscription(shouting)),
                   "subscribePush")
        assert_ack(await carol.ask("unsubscribePush", endpoint=FCM), "unsubscribePush")
        # an endpoint she does not hold (any more), and one nobody holds
        assert_ack(await carol.ask("unsubscribePush", endpoint=FCM), "unsubscribePush")
        assert_ack(await carol.ask("unsubscribePush", endpoint="https://fcm.googleapis.com/none"),
                   "unsubscribePush")

    with_agents(stack, body)


def test_given_another_agents_endpoint_when_subscribing_or_unsubscribing_it_then_ack(
        stack: Stack) -> None:
    async def body(carol: Client, bob: Client) -> None:
        assert_ack(await bob.ask("subscribePush", subscription=subscription(FCM)), "subscribePush")
        assert_ack(await carol.ask("unsubscribePush", endpoint=FCM), "unsubscribePush")
        assert_ack(await carol.ask("subscribePush", subscription=subscription(FCM)), "subscribePush")

    with_agents(stack, body)


def test_given_the_local_stack_then_a_loopback_http_endpoint_is_accepted(stack: Stack) -> None:
    async def body(carol: Client, bob: Client) -> None:
        assert_ack(await carol.ask("subscribePush", subscription=subscription(LOOPBACK)), "subscribePush")
        assert_ack(await carol.ask("unsubscribePush", endpoint=LOOPBACK), "unsubscribePush")

    with_agents(stack, body)


@pytest.mark.parametrize(("sub", "field"), [
    (subscription("https://evil.example.com/push"), "subscription.endpoint"),
    (subscription("https://a.b.notify.windows.com/w/?token=1"), "subscription.endpoint"),
    (subscription("http://fcm.googleapis.com/fcm/send/x"), "subscription.endpoint"),
    (subscription("http://localhost:9/x"), "subscription.endpoint"),
    (subscription("https://fcm.googleapis.com/" + "x" * 10_000), "subscription.endpoint"),
    (subscription(7), "subscription.endpoint"),
    ({"endpoint": FCM}, "subscription.keys"),
    (subscription(FCM, auth=P256DH), "subscription.keys.auth"),
    (subscription(FCM, p256dh="not base64!"), "subscription.keys.p256dh"),
], ids=["other-host", "two-labels-for-star", "http", "http-localhost", "10KB", "not-a-string",
        "no-keys", "bad-auth", "bad-p256dh"])
def test_given_a_bad_subscription_then_bad_request_naming_the_field(
        stack: Stack, sub: Any, field: str) -> None:
    async def body(carol: Client, bob: Client) -> None:
        assert_bad_request(await carol.ask("subscribePush", subscription=sub), field)

    with_agents(stack, body)


def test_given_a_visitor_when_they_subscribe_or_unsubscribe_then_forbidden(stack: Stack) -> None:
    async def scenario() -> None:
        visitor = await stack.visitor()
        try:
            for answer in (await visitor.ask("subscribePush", subscription=subscription(FCM)),
                           await visitor.ask("unsubscribePush", endpoint=FCM)):
                assert (answer.get("type"), answer.get("code")) == ("error", "FORBIDDEN"), answer
        finally:
            await closing(visitor)

    run(scenario)
