"""protocol.md "Second round", rate limits, black-box over a `livechat dev` of its own whose
workspace has a `rate_limits` block (the local stack applies none without one): a scripted
flood from one visitor — messages over `messages_per_minute`, conversations over
`conversations_per_visitor_per_hour`, frames faster than the per-connection bound — is
answered `RATE_LIMITED` with `retryAfterSeconds` and changes nothing, the socket stays
open, what was stored is all there, and another visitor's chat still routes meanwhile.
Bounded in count and time; loopback only."""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator

import pytest

from tests.blackbox import Client, Stack, Visitor, accepted, closing, offered, run, running_stack
from tests.contract.kit import ALICE, RR, RR_DIALOG, _agents_yaml, _settings_yaml, passwords

pytestmark = pytest.mark.contract

MESSAGES_PER_MINUTE = 5
CONVERSATIONS_PER_HOUR = 3
AGENTS = {ALICE: ("Alice Martin", "Alice-contract-1")}


def workspace() -> str:
    return f"""{_settings_yaml()}  rate_limits:
    messages_per_minute: {MESSAGES_PER_MINUTE}
    conversations_per_visitor_per_hour: {CONVERSATIONS_PER_HOUR}

agents:
{_agents_yaml(AGENTS)}

dialogs:
{RR_DIALOG}"""


@pytest.fixture(scope="module")
def limited_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("contract-limits"), workspace(), passwords(AGENTS)) as stack:
        yield stack


def seconds_left_in(window: int) -> float:
    return window - time.time() % window


async def not_near_the_end_of_the_minute(needed: float = 20.0) -> None:
    """A flood that straddled two minute windows would be allowed twice the limit."""
    if seconds_left_in(60) < needed:
        await asyncio.sleep(seconds_left_in(60) + 0.5)


def message(conversation_id: str, text: str) -> dict[str, object]:
    return {"action": "sendMessage", "conversationId": conversation_id, "text": text,
            "clientMessageId": uuid.uuid4().hex}


async def answers(client: Client, frames: list[dict[str, object]]) -> list[dict[str, object]]:
    """Send every frame at once (no waiting between them), then collect each answer."""
    ids = [uuid.uuid4().hex for _ in frames]
    for request_id, frame in zip(ids, frames, strict=True):
        await client.send({**frame, "requestId": request_id})
    return [await client.answer_to(request_id, str(frame["action"]), timeout=30)
            for request_id, frame in zip(ids, frames, strict=True)]


def rate_limited(answer: dict[str, object], longest: int) -> bool:
    if answer.get("type") != "error" or answer.get("code") != "RATE_LIMITED":
        return False
    retry = answer.get("retryAfterSeconds")
    assert isinstance(retry, int) and 1 <= retry <= longest, answer
    return True


def test_a_message_flood_stores_exactly_the_limit_and_other_chats_still_route(limited_stack: Stack) -> None:
    async def scenario() -> None:
        alice = await limited_stack.agent(ALICE, "available")
        flooder = await limited_stack.visitor()
        other = await limited_stack.visitor()
        try:
            # (before the chat starts: a live chat left silent meanwhile would expire)
            await not_near_the_end_of_the_minute(50.0)
            conversation_id, joined = await live_chat_with(flooder, alice)
            # When one visitor sends 30 messages as fast as the socket takes them
            began = time.time()
            flood = await answers(flooder, [message(conversation_id, f"spam {n}") for n in range(30)])
            minutes = int(time.time() // 60 - began // 60) + 1  # a loaded machine may cross one
            # Then exactly the limit is stored per minute window, the rest refused with the
            # time to the minute's end
            stored = [a for a in flood if a.get("type") == "message"]
            refused = [a for a in flood if rate_limited(a, 60)]
            assert len(stored) + len(refused) == 30, flood
            if minutes == 1:
                assert len(stored) == MESSAGES_PER_MINUTE, flood
            else:
                assert MESSAGES_PER_MINUTE <= len(stored) <= MESSAGES_PER_MINUTE * minutes, flood
            # (the flood also emptied the connection's frame bucket: 10/s, bursts of 20)
            await asyncio.sleep(2.5)
            # nothing else is in the transcript
            transcript = await flooder.ok("getTranscript", "transcript", conversationId=conversation_id)
            texts = [e.get("text") for e in transcript["events"] if e.get("kind") == "message"]
            assert sorted(map(str, texts)) == sorted(str(a["text"]) for a in stored)  # frames run concurrently
            # the socket stays open, and another visitor's chat still routes meanwhile
            await flooder.ok("ping", "pong")
            other_id, offer = await offered(other, alice, RR)
            assert offer["conversationId"] == other_id
            await alice.ok("decline", "ack", conversationId=other_id, offerId=offer["offerId"])
            await alice.ask("endChat", conversationId=conversation_id)
            assert joined["conversationId"] == conversation_id
        finally:
            await closing(alice, flooder, other)

    run(scenario, timeout=120)


async def live_chat_with(visitor: Visitor, alice: Client) -> tuple[str, dict[str, object]]:
    conversation_id, offer = await offered(visitor, alice, RR)
    return conversation_id, await accepted(visitor, alice, conversation_id, offer)


def test_conversations_over_the_hour_are_refused_and_a_retried_start_is_not_counted(limited_stack: Stack) -> None:
    async def scenario() -> None:
        visitor = await limited_stack.visitor()
        try:
            if seconds_left_in(3600) < 30:
                await asyncio.sleep(seconds_left_in(3600) + 0.5)
            page = {"url": "https://shop.example.com/", "title": "Shop", "referrer": ""}
            start = {"action": "startConversation", "dialogId": RR, "page": page}
            first = await visitor.ask(**start, clientConversationId="load-1")  # type: ignore[arg-type]
            again = await visitor.ask(**start, clientConversationId="load-1")  # type: ignore[arg-type]
            assert first["type"] == again["type"] == "conversationStarted"
            assert first["conversationId"] == again["conversationId"]  # answered, not counted
            flood = await answers(visitor, [{**start, "clientConversationId": f"load-{n}"} for n in range(2, 8)])
            started = [a for a in flood if a.get("type") == "conversationStarted"]
            assert len(started) == CONVERSATIONS_PER_HOUR - 1, flood
            assert all(rate_limited(a, 3600) for a in flood if a not in started), flood
        finally:
            await closing(visitor)

    run(scenario, timeout=60)


def test_frames_faster_than_the_bound_are_refused_and_the_socket_recovers(limited_stack: Stack) -> None:
    async def scenario() -> None:
        visitor = await limited_stack.visitor()
        try:
            flood = await answers(visitor, [{"action": "ping"}] * 60)
            pongs = [a for a in flood if a.get("type") == "pong"]
            refused = [a for a in flood if rate_limited(a, 60)]
            assert len(pongs) + len(refused) == 60
            assert refused, "60 frames at once went through the per-connection bound"
            assert len(pongs) >= 20  # the burst the bound allows
            await asyncio.sleep(1.5)
            await visitor.ok("ping", "pong")
        finally:
            await closing(visitor)

    run(scenario, timeout=60)
