"""Transcripts (issue 16, additions in docs/protocol.md): the visitor's `emailTranscript`
{conversationId} — answered by `ack` once the conversation is over, mailed once, only to the
address captured in it, at most 3 a UTC day per address; `getTranscript`'s `includeText`;
`inbox`'s `name`. Black-box over `livechat dev`: WebSocket, HTTP and its mailbox only.

(Not registered with spec.covers: these are additions, which ../shared/spec/protocol.md does
not name.)"""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

import pytest

from tests.blackbox import Stack, Visitor, closing, run
from tests.contract.kit import AGENTS, ALICE, FAILURE_FROM, SALES, has

pytestmark = pytest.mark.contract

DAILY_LIMIT = 3  # docs/protocol.md: at most 3 per address and UTC day


def fresh_address() -> str:
    """An address no other test captured (the daily count is per address)."""
    return f"reader-{uuid.uuid4().hex[:10]}@example.com"


async def walked(visitor: Visitor, address: str) -> str:
    """A conversation of the sales dialog: Yes, then the visitor's details captured."""
    conversation_id = await visitor.start(SALES)
    await visitor.ok("answer", "ack", conversationId=conversation_id, cardId="ask", value="Yes")
    await visitor.ok("capture", "ack", conversationId=conversation_id, cardId="who",
                     fields={"firstName": "Ada", "email": address})
    return conversation_id


async def ended(visitor: Visitor, address: str) -> str:
    """A walked conversation the visitor then closed (without asking for a chat)."""
    conversation_id = await walked(visitor, address)
    await visitor.ok("endChat", "ack", conversationId=conversation_id)
    return conversation_id


def mails_to(stack: Stack, address: str) -> list[dict[str, Any]]:
    return [m for m in stack.mailbox() if address in m.get("destinations", {}).get("ToAddresses", [])]


async def wait_for_mails(stack: Stack, address: str, count: int) -> list[dict[str, Any]]:
    """The mails to `address` once there are `count`, and a moment more for a duplicate."""
    deadline = time.monotonic() + 10
    while len(mails_to(stack, address)) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
    await asyncio.sleep(1.0)
    return mails_to(stack, address)


def test_a_visitor_gets_the_transcript_of_an_ended_conversation_once_at_the_captured_address(
        stack: Stack) -> None:
    async def scenario() -> None:
        visitor = await stack.visitor()
        try:
            # Given a conversation that captured an address and is over
            address = fresh_address()
            conversation_id = await ended(visitor, address)

            # When the visitor asks for its transcript, and asks again
            first = await visitor.ask("emailTranscript", conversationId=conversation_id)
            again = await visitor.ask("emailTranscript", conversationId=conversation_id)

            # Then both are answered ack, and one mail goes to that address, from the sender
            for answer in (first, again):
                assert answer.get("type") == "ack" and answer.get("action") == "emailTranscript", answer
            mails = await wait_for_mails(stack, address, 1)
            assert len(mails) == 1, mails
            (mail,) = mails
            assert mail["destinations"]["ToAddresses"] == [address]
            assert mail["source"] == FAILURE_FROM
            assert "Yes" in mail["body"] and address in mail["body"]
        finally:
            await closing(visitor)

    run(scenario)


def test_a_conversation_still_open_is_not_mailed(stack: Stack) -> None:
    async def scenario() -> None:
        visitor = await stack.visitor()
        try:
            address = fresh_address()
            conversation_id = await walked(visitor, address)

            answer = await visitor.ask("emailTranscript", conversationId=conversation_id)

            assert answer.get("type") == "error" and answer.get("code") == "CONFLICT", answer
            assert not await wait_for_mails(stack, address, 1)
        finally:
            await closing(visitor)

    run(scenario)


def test_another_visitors_conversation_looks_missing_and_an_agent_is_forbidden(stack: Stack) -> None:
    async def scenario() -> None:
        visitor, stranger, alice = await stack.visitor(), await stack.visitor(), await stack.agent(ALICE)
        try:
            conversation_id = await ended(visitor, fresh_address())

            by_stranger = await stranger.ask("emailTranscript", conversationId=conversation_id)
            by_agent = await alice.ask("emailTranscript", conversationId=conversation_id)

            assert by_stranger.get("code") == "NOT_FOUND", by_stranger
            assert by_agent.get("code") == "FORBIDDEN", by_agent
        finally:
            await closing(visitor, stranger, alice)

    run(scenario)


def test_an_address_gets_at_most_three_transcripts_a_day(stack: Stack) -> None:
    async def scenario() -> None:
        visitor = await stack.visitor()
        try:
            # Given one address captured in one conversation more than the daily limit
            address = fresh_address()
            conversations = [await ended(visitor, address) for _ in range(DAILY_LIMIT + 1)]

            # When the visitor asks for each transcript
            answers = [await visitor.ask("emailTranscript", conversationId=c) for c in conversations]

            # Then the last is refused until the next UTC day, and only the others are mailed
            assert [a.get("type") for a in answers[:-1]] == ["ack"] * DAILY_LIMIT, answers
            refused = answers[-1]
            assert refused.get("type") == "error" and refused.get("code") == "RATE_LIMITED", refused
            has(refused, retryAfterSeconds=int)
            assert 1 <= refused["retryAfterSeconds"] <= 86400, refused
            assert len(await wait_for_mails(stack, address, DAILY_LIMIT)) == DAILY_LIMIT
        finally:
            await closing(visitor)

    run(scenario)


def test_get_transcript_with_include_text_adds_the_plain_text_and_nothing_else(stack: Stack) -> None:
    async def scenario() -> None:
        visitor, alice = await stack.visitor(), await stack.agent(ALICE)
        try:
            conversation_id = await walked(visitor, fresh_address())

            plain = await alice.ok("getTranscript", "transcript", conversationId=conversation_id)
            with_text = await alice.ok("getTranscript", "transcript", conversationId=conversation_id,
                                       includeText=True)
            own = await visitor.ok("getTranscript", "transcript", conversationId=conversation_id,
                                   includeText=True)

            assert "text" not in plain
            has(with_text, text=str)
            assert "Yes" in with_text["text"] and "Ada" in with_text["text"], with_text
            assert own["text"] == with_text["text"]
            assert {k: v for k, v in with_text.items() if k not in ("text", "requestId")} == \
                {k: v for k, v in plain.items() if k != "requestId"}
        finally:
            await closing(visitor, alice)

    run(scenario)


def test_the_inbox_answer_names_the_agent(stack: Stack) -> None:
    async def scenario() -> None:
        alice = await stack.agent(ALICE)
        try:
            answer = await alice.ok("listInbox", "inbox")

            assert answer.get("name") == AGENTS[ALICE][0], answer
        finally:
            await closing(alice)

    run(scenario)
