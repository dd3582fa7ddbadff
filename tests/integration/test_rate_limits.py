"""Rate limits on the WebSocket actions (spec/protocol.md and workspace.md, second round):
messages per connection per minute and conversations per visitor per hour are counted in
DynamoDB with the write they guard, so over a limit the action is `RATE_LIMITED` with
`retryAfterSeconds` (to the end of the fixed UTC window), stores nothing and leaves the
socket open; a retried write is answered and not counted; the next window starts afresh.
Frames per connection per second are bounded per container."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from livechat import runtime
from livechat.store import conversations as stored

from tests.support.clock import FakeClock, controlled_clock
from tests.support.snapshot import table_snapshot
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"
# Twenty seconds into a minute that is also 10 minutes into an hour.
START = datetime(2026, 12, 5, 10, 10, 20, tzinfo=UTC)


@pytest.fixture
def clock(aws: Any) -> Iterator[FakeClock]:
    with controlled_clock(START) as fake:
        yield fake


def limited(world: World, **limits: int) -> None:
    world.settings(rate_limits=limits, accept_timeout_seconds=300)
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent(ALICE)


def live_chat(world: World, token: str | None = None) -> tuple[Client, Client, str]:
    alice = world.agent_client(ALICE)
    visitor = world.visitor_client(token)
    conversation_id = world.walk_to_live_card(visitor, "sales")
    visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    (offer,) = alice.of_type("chatOffered")
    alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    return alice, visitor, conversation_id


def say(client: Client, conversation_id: str, text: str, cmid: str | None = None) -> dict[str, Any]:
    return client.ask("sendMessage", conversationId=conversation_id, text=text,
                      clientMessageId=cmid or uuid.uuid4().hex)


def messages(conversation_id: str) -> list[str]:
    return [str(e.text) for e in stored.events_after(conversation_id, 0) if e.type == "message"]


def assert_limited(answer: dict[str, Any], retry_after: int) -> None:
    assert answer["type"] == "error" and answer["code"] == "RATE_LIMITED", answer
    assert answer["retryAfterSeconds"] == retry_after, answer


# --- messages per connection per minute -------------------------------------------------------

def test_messages_over_the_minute_are_refused_until_the_next_minute(world: World, clock: FakeClock) -> None:
    limited(world, messages_per_minute=3)
    _, visitor, conversation_id = live_chat(world)
    for n in range(3):
        assert say(visitor, conversation_id, f"m{n}")["type"] == "message"
    clock.advance(10.5)  # 30.5 s into the minute: 29.5 s left, rounded up
    before = table_snapshot()

    assert_limited(say(visitor, conversation_id, "one too many"), 30)

    assert table_snapshot() == before  # nothing stored, nothing counted
    # The socket stays open and other frames still work.
    assert visitor.ask("availability", dialogId="sales", cardId="live")["type"] == "availability"
    clock.advance(30)  # the next minute
    assert say(visitor, conversation_id, "next minute")["type"] == "message"
    assert messages(conversation_id) == ["m0", "m1", "m2", "next minute"]


def test_the_limit_is_per_connection(world: World, clock: FakeClock) -> None:
    limited(world, messages_per_minute=2)
    token = world.visitor_token()["visitorToken"]
    alice, visitor, conversation_id = live_chat(world, token)
    say(visitor, conversation_id, "v1")
    say(visitor, conversation_id, "v2")
    assert say(visitor, conversation_id, "v3")["code"] == "RATE_LIMITED"
    # The agent's connection and the visitor's second tab count apart.
    answer = say(alice, conversation_id, "a1")
    assert answer["type"] == "message", answer
    tab = world.visitor_client(token)
    assert say(tab, conversation_id, "v3 from another tab")["type"] == "message"


def test_a_retried_message_is_answered_and_not_counted(world: World, clock: FakeClock) -> None:
    limited(world, messages_per_minute=2)
    _, visitor, conversation_id = live_chat(world)
    first = say(visitor, conversation_id, "hello", cmid="c1")
    again = say(visitor, conversation_id, "hello", cmid="c1")
    assert again["seq"] == first["seq"]
    assert say(visitor, conversation_id, "second", cmid="c2")["type"] == "message"
    # At the limit now; a retry of a stored one is still answered with it.
    assert say(visitor, conversation_id, "hello", cmid="c1")["seq"] == first["seq"]
    assert say(visitor, conversation_id, "third", cmid="c3")["code"] == "RATE_LIMITED"


def test_without_a_rate_limits_block_the_tests_and_the_local_stack_apply_none(world: World) -> None:
    world.settings(accept_timeout_seconds=300)
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent(ALICE)
    _, visitor, conversation_id = live_chat(world)
    for n in range(35):  # more than the deployed default of 30
        assert say(visitor, conversation_id, f"m{n}")["type"] == "message"


def test_a_deployment_without_a_block_applies_the_defaults(world: World, clock: FakeClock) -> None:
    os.environ["LIVECHAT_DEFAULT_RATE_LIMITS"] = "1"
    runtime.reset()
    try:
        world.settings(accept_timeout_seconds=300)
        world.live_dialog("sales", {"mode": "round_robin"})
        world.agent(ALICE)
        _, visitor, conversation_id = live_chat(world)
        answers = [say(visitor, conversation_id, f"m{n}")["type"] for n in range(31)]
        assert answers == ["message"] * 30 + ["error"]
    finally:
        os.environ["LIVECHAT_DEFAULT_RATE_LIMITS"] = "0"
        runtime.reset()


# --- conversations per visitor per hour ---------------------------------------------------------

def start(visitor: Client, client_id: str | None = None) -> dict[str, Any]:
    extra = {"clientConversationId": client_id} if client_id else {}
    return visitor.ask("startConversation", dialogId="sales", page={"url": "https://example.com/"}, **extra)


def conversations_of(visitor: Client) -> int:
    return sum(1 for i in table_snapshot() if i["sk"]["S"] == "META" and
               i.get("visitor_id", {}).get("S") == visitor.principal)


def test_conversations_over_the_hour_are_refused_until_the_next_hour(world: World, clock: FakeClock) -> None:
    limited(world, conversations_per_visitor_per_hour=2)
    visitor = world.visitor_client()
    assert start(visitor)["type"] == "conversationStarted"
    assert start(visitor, "page-load-2")["type"] == "conversationStarted"
    # A re-sent start (same clientConversationId) is answered with its conversation, uncounted.
    assert start(visitor, "page-load-2")["type"] == "conversationStarted"

    assert_limited(start(visitor, "page-load-3"), 50 * 60 - 20)  # to 11:00:00
    assert conversations_of(visitor) == 2
    # Another visitor is not affected.
    assert start(world.visitor_client())["type"] == "conversationStarted"
    clock.advance(50 * 60)
    assert start(visitor, "page-load-3")["type"] == "conversationStarted"


# --- frames per connection per second (one container) --------------------------------------

def test_a_burst_of_frames_past_the_bound_is_refused_and_the_socket_stays_usable(world: World) -> None:
    os.environ["LIVECHAT_FRAMES_PER_SECOND"] = "1"
    os.environ["LIVECHAT_FRAME_BURST"] = "5"
    runtime.reset()
    try:
        world.live_dialog("sales", {"mode": "round_robin"})
        visitor = world.visitor_client()
        answers = [visitor.ask("ping")["type"] for _ in range(8)]
        assert answers[:5] == ["pong"] * 5 and "error" in answers[5:]
        other = world.visitor_client()  # another connection has its own budget
        assert other.ask("ping")["type"] == "pong"
    finally:
        del os.environ["LIVECHAT_FRAME_BURST"]
        os.environ["LIVECHAT_FRAMES_PER_SECOND"] = "0"
        runtime.reset()


def test_answers_and_captures_count_apart_from_messages_under_the_same_limit(world: World, clock: FakeClock) -> None:
    limited(world, messages_per_minute=3)
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")  # one answer, one capture
    assert visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="Yes")["type"] == "ack"
    before = table_snapshot()
    assert_limited(visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="Yes"), 40)
    assert table_snapshot() == before
    # Messages have a counter of their own.
    world.agent_client(ALICE)
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    assert say(visitor, conversation_id, "still free to talk")["type"] == "message"
