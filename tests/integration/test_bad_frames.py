"""A bad frame gets exactly one `error` naming the problem; the socket keeps working and
nothing stored changes. A retried message is stored once."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pytest

from tests.support.snapshot import table_snapshot
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

RID = "bad-1"


@dataclass
class LiveChat:
    visitor: Client
    agent: Client
    conversation_id: str


@pytest.fixture
def chat(world: World) -> LiveChat:
    """A live chat: the visitor answered, captured, requested a chat, and an agent accepted."""
    world.agent("alice@example.com", name="Alice Martin")
    world.live_dialog("sales", {"mode": "round_robin"})
    agent = world.agent_client("alice@example.com")
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    offer = agent.of_type("chatOffered")[0]
    assert agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])["type"] == "chatAccepted"
    visitor.frames()
    agent.frames()
    return LiveChat(visitor, agent, conversation_id)


def frame(action: str, **fields: Any) -> Callable[[str], str]:
    """A JSON frame with a requestId, for the chat's conversation."""
    return lambda conversation_id: json.dumps(
        {"action": action, "requestId": RID, "conversationId": conversation_id, **fields})


def message(text: str) -> Callable[[str], str]:
    return frame("sendMessage", text=text, clientMessageId="cm-bad")


# (body for the conversation, whether it carries a requestId, what the message must name)
CASES: dict[str, tuple[Callable[[str], str], bool, str]] = {
    "not-json": (lambda _: "{this is not json", False, "JSON"),
    "a-json-array": (lambda _: json.dumps([{"action": "ping", "requestId": RID}]), False, "object"),
    "unknown-action": (frame("teleport"), True, "teleport"),
    "missing-field": (frame("sendMessage", text="hello"), True, "clientMessageId"),
    "isTyping-not-a-boolean": (frame("typing", isTyping="yes"), True, "isTyping"),
    "afterSeq-not-an-integer": (frame("resume", afterSeq="3"), True, "afterSeq"),
    "afterSeq-past-2**53": (frame("resume", afterSeq=2**53), True, "afterSeq"),
    "afterSeq-of-4300-digits": (frame("resume", afterSeq=int("9" * 4300)), True, "afterSeq"),
    "frame-too-large": (message("x" * 200_000), True, "too large"),
    "text-over-the-message-limit": (message("x" * 4001), True, "text"),
    "empty-text": (message(""), True, "text"),
    "whitespace-text": (message(" \n\t "), True, "text"),
    "capture-invalid-email": (frame("capture", cardId="who",
                                    fields={"firstName": "Vera", "email": "vera-at-acme"}),
                              True, "fields.email"),
    "capture-undeclared-field": (frame("capture", cardId="who",
                                       fields={"firstName": "Vera", "email": "vera@acme.io",
                                               "salary": "1M"}),
                                 True, "fields.salary"),
    "answer-not-a-label": (frame("answer", cardId="ask", value="Maybe"), True, "value"),
    "requestChat-on-a-non-live-card": (frame("requestChat", cardId="ask"), True, "cardId"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_a_bad_frame_gets_one_error_naming_the_problem_and_changes_nothing(
        chat: LiveChat, case: str) -> None:
    # Given a live chat and the table as it is
    body, has_request_id, named = CASES[case]
    before = table_snapshot()

    # When the visitor sends a bad frame
    frames = chat.visitor.raw(body(chat.conversation_id))

    # Then exactly one frame comes back: a BAD_REQUEST error naming the problem, echoing
    # the requestId when there was one to read
    assert len(frames) == 1, frames
    error = frames[0]
    assert (error["type"], error["code"]) == ("error", "BAD_REQUEST"), error
    assert named in error["message"], error
    if has_request_id:
        assert error["requestId"] == RID
    else:
        assert "requestId" not in error
    # ... nothing stored changed, the agent heard nothing, and the connection still works
    assert table_snapshot() == before
    assert chat.agent.frames() == []
    assert chat.visitor.ask("ping")["type"] == "pong"


def test_a_retried_message_is_answered_with_the_stored_one_and_stored_once(chat: LiveChat) -> None:
    # Given a message the visitor sent
    first = chat.visitor.ask("sendMessage", conversationId=chat.conversation_id, text="Hello?",
                             clientMessageId="cm-1")
    assert first["type"] == "message"

    # When the visitor retries it with the same clientMessageId
    retried = chat.visitor.ask("sendMessage", conversationId=chat.conversation_id, text="Hello?",
                               clientMessageId="cm-1")

    # Then the answer is the same message with the same seq, and the transcript holds it once
    assert retried["type"] == "message"
    assert (retried["seq"], retried["text"], retried["clientMessageId"]) == (first["seq"], "Hello?", "cm-1")
    transcript = chat.agent.ask("getTranscript", conversationId=chat.conversation_id)
    messages = [e for e in transcript["events"] if e["kind"] == "message"]
    assert [(m["seq"], m["text"]) for m in messages] == [(first["seq"], "Hello?")]
