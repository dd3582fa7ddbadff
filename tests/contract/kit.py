"""What the contract tests share: the workspaces they run `livechat dev` on, the shapes the
contract fixes (field names and types), and a few Given steps. Black-box: no livechat import,
only tests/blackbox.py (HTTP, WebSocket, and Cognito sign-in through the emulator)."""

from __future__ import annotations

import asyncio
import contextlib
import json
import re
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from tests.blackbox import Client, Frame, Stack, Visitor

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
DAVE = "dave@example.com"  # never given a status by any test but the one about new agents
AGENTS = {  # e-mail -> (name, password)
    ALICE: ("Alice Adams", "Alice-contract-1"),
    BOB: ("Bob Brown", "Bob-contract-1"),
    CAROL: ("Carol Clark", "Carol-contract-1"),
    DAVE: ("Dave Dunn", "Dave-contract-1"),
}
ROUTED = (ALICE, BOB, CAROL)  # the agents each routing test connects, stating their status
ACCEPT_TIMEOUT = 2
INACTIVITY_TIMEOUT = 3
SLACK = 3.0  # seconds allowed on top of a configured timeout (the workflow, the sweeper)
FAILURE_FROM = "chat-alerts@example.com"
FAILURE_TO = "sales-ops@example.com"
FALLBACK_MESSAGE = "Nobody could take your chat - we will e-mail you."
GLOBAL_FALLBACK_MESSAGE = "Live chat is not available right now."
# Which of the two a fallback shows is the workspace's business, not the contract's.
FALLBACK_MESSAGES = (FALLBACK_MESSAGE, GLOBAL_FALLBACK_MESSAGE)
PRICING = {"url": "https://shop.example.com/pricing", "title": "Pricing", "referrer": ""}

LIVE = "live"  # the live chat card of every dialog
SALES = "sales"  # ask (question) -> Yes: who (capture) -> live; No thanks: bye (message)
RR = "rr"  # one message card, then live (round robin)
RULES = "rules"  # live with custom rules that match only @bigcorp.example e-mails
CAPTURE_FIELDS = ("firstName", "email", "company", "country")
CAPTURE_REQUIRED = ("firstName", "email")


def _agents_yaml(agents: dict[str, tuple[str, str]]) -> str:
    return "\n".join(f"""  - email: {email}
    name: {name}
    avatar_url: https://example.com/{email.split("@")[0]}.png
    max_chats: 5
    password: "{password}\"""" for email, (name, password) in agents.items())


def _settings_yaml(plan: str = "prime", engagement_limit: int | None = None) -> str:
    limit = "null" if engagement_limit is None else engagement_limit
    return f"""settings:
  plan: {plan}
  engagement_limit: {limit}
  accept_timeout_seconds: {ACCEPT_TIMEOUT}
  team_retry_agents: 1
  inactivity_timeout_seconds: {INACTIVITY_TIMEOUT}
  default_max_chats: 5
  fallback_message: "{FALLBACK_MESSAGE}"
  global_fallback_message: "{GLOBAL_FALLBACK_MESSAGE}"
  failure_emails:
    from: {FAILURE_FROM}
    to: [{FAILURE_TO}]
"""


def workspace_yaml() -> str:
    return f"""{_settings_yaml()}
agents:
{_agents_yaml(AGENTS)}

dialogs:
  - id: {SALES}
    cards:
      - id: ask
        kind: question
        text: "Would you like to talk to someone from sales?"
        answers:
          - label: "Yes"
            next:
              - id: who
                kind: capture
                fields: [{", ".join(CAPTURE_FIELDS)}]
                required: [{", ".join(CAPTURE_REQUIRED)}]
              - id: {LIVE}
                kind: live_chat
                routing: {{mode: round_robin}}
          - label: "No thanks"
            next:
              - id: bye
                kind: message
                text: "Happy browsing!"
  - id: {RR}
    cards:
      - id: hello
        kind: message
        text: "Hi there"
      - id: {LIVE}
        kind: live_chat
        routing: {{mode: round_robin}}
  - id: {RULES}
    cards:
      - id: {LIVE}
        kind: live_chat
        routing:
          mode: custom_rules
          rules:
            - when: {{field: email, op: ends_with, value: "@bigcorp.example"}}
              route: {{agent: {ALICE}}}
"""


QUINN = "quinn@example.com"
QUOTA_AGENTS = {QUINN: ("Quinn Quota", "Quinn-contract-1")}
QUOTA_LIMIT = 1


def quota_workspace_yaml() -> str:
    """A `select` plan with a one-engagement quota, and one agent who never set a status."""
    return f"""{_settings_yaml(plan="select", engagement_limit=QUOTA_LIMIT)}
agents:
{_agents_yaml(QUOTA_AGENTS)}

dialogs:
  - id: {RR}
    cards:
      - id: {LIVE}
        kind: live_chat
        routing: {{mode: round_robin}}
"""


def passwords(agents: dict[str, tuple[str, str]]) -> dict[str, str]:
    return {email: password for email, (_, password) in agents.items()}


# --- shapes the contract fixes -------------------------------------------------------------

ISO_Z = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$")
KINDS = {"answer", "capture", "message", "system"}
SENDERS = {"visitor", "agent", "system"}


def instant(value: Any) -> datetime:
    """An ISO-8601 UTC timestamp with a `Z` (protocol.md "Timestamps"), as a datetime."""
    assert isinstance(value, str) and ISO_Z.match(value), f"not ISO-8601 UTC with a Z: {value!r}"
    return datetime.fromisoformat(value.replace("Z", "+00:00"))


def has(frame: Frame, **types: type | tuple[type, ...]) -> None:
    """Each named field is present with a value of that type (bool is not an int here)."""
    for name, kind in types.items():
        assert name in frame, f"no {name!r} in {frame}"
        value = frame[name]
        assert isinstance(value, kind), f"{name!r} is {value!r}, not {kind}: {frame}"
        if kind is int:
            assert not isinstance(value, bool), f"{name!r} is a bool: {frame}"


def seq_of(frame: Frame) -> int:
    has(frame, seq=int)
    seq: int = frame["seq"]
    return seq


def check_transcript_event(event: Frame) -> None:
    """{seq, kind: answer|capture|message|system, from, at, text?, cardId?, value?, fields?}"""
    has(event, seq=int, kind=str, at=str)
    assert event["kind"] in KINDS, event
    assert isinstance(event.get("from"), str), event
    instant(event["at"])
    for optional, kind in (("text", str), ("cardId", str), ("value", str), ("fields", dict)):
        if optional in event:
            assert isinstance(event[optional], kind), event


def check_gap_free(seqs: list[int]) -> None:
    assert seqs, "no events"
    assert seqs == list(range(seqs[0], seqs[0] + len(seqs))), f"seq not increasing by one: {seqs}"


def same_error(a: Frame, b: Frame, *ids: str) -> None:
    """Two `error` frames that say the same thing, up to the ids they name."""
    def shape(frame: Frame) -> tuple[Any, ...]:
        message = str(frame.get("message"))
        for value in ids:
            message = message.replace(value, "<id>")
        return frame.get("type"), frame.get("code"), message, sorted(set(frame) - {"requestId"})

    assert shape(a) == shape(b), f"the two errors differ:\n{a}\n{b}"


def unknown_id(like: str) -> str:
    """An id of the same form as `like` that names nothing (same length, same alphabet)."""
    fresh = uuid.uuid4().hex
    return (fresh * (len(like) // len(fresh) + 1))[:len(like)] if like else fresh


# --- Given steps ----------------------------------------------------------------------------

async def agents_with(stack: Stack, available: tuple[str, ...]) -> dict[str, Client]:
    """The routed agents connected: those named `available`, the others `away` (status is
    stored, so each test states the presence it relies on)."""
    return {email: await stack.agent(email, "available" if email in available else "away")
            for email in ROUTED}


async def offered(visitor: Visitor, agent: Client, dialog: str = RR) -> tuple[str, Frame]:
    """A visitor's chat request offered to `agent` (the only available one)."""
    conversation_id = await visitor.start(dialog)
    await visitor.request_chat(conversation_id)
    offer = await agent.next_of("chatOffered", conversationId=conversation_id)
    return conversation_id, offer


async def live_chat(visitor: Visitor, agent: Client, dialog: str = RR) -> tuple[str, Frame]:
    """A visitor's chat accepted by `agent`; returns its id and the visitor's agentJoined."""
    conversation_id, offer = await offered(visitor, agent, dialog)
    await agent.ok("accept", "chatAccepted", conversationId=conversation_id, offerId=offer["offerId"])
    joined = await visitor.next_of("agentJoined", conversationId=conversation_id)
    return conversation_id, joined


async def end_quietly(client: Client, conversation_id: str) -> None:
    """End a chat a test started, if it is still open (cleanup: never fails the test)."""
    with contextlib.suppress(Exception):
        await client.ask("endChat", conversationId=conversation_id)


async def ask_raw(client: Client, text: str, request_id: str) -> Frame:
    """Send a frame as written (for what json.dumps would not write) and await its answer."""
    await client.send(text)
    return await client.answer_to(request_id, text[:60])


async def _pump(client: Client, seconds: float) -> None:
    """Read whatever arrives for a moment into the client's buffer."""
    with contextlib.suppress(AssertionError):
        await client.next_of("\0 no such type", seconds)  # never matches: every frame is buffered


async def stored_frames(client: Client, conversation_id: str, count: int, timeout: float = 5.0) -> list[Frame]:
    """The next `count` frames of this conversation that carry a `seq`, buffered or to come."""
    frames: list[Frame] = []
    deadline = time.monotonic() + timeout
    while len(frames) < count:
        matching = [f for f in client.buffer if f.get("conversationId") == conversation_id and "seq" in f]
        if matching:
            client.buffer.remove(matching[0])
            frames.append(matching[0])
            continue
        assert time.monotonic() < deadline, f"{client.name}: only {frames} of {count} frames with a seq"
        await _pump(client, 0.2)
    return frames


def mails_about(stack: Stack, conversation_id: str) -> list[dict[str, Any]]:
    return [mail for mail in stack.mailbox() if conversation_id in json.dumps(mail)]


async def failure_mails(stack: Stack, conversation_id: str) -> list[dict[str, Any]]:
    """The failure e-mails about this conversation, once there is one (and a moment more for
    a duplicate to show)."""
    deadline = time.monotonic() + 10
    mails = mails_about(stack, conversation_id)
    while not mails and time.monotonic() < deadline:
        await asyncio.sleep(0.3)
        mails = mails_about(stack, conversation_id)
    assert mails, f"no failure e-mail for {conversation_id}; mailbox.json: {stack.mailbox()}"
    await asyncio.sleep(1.0)
    return mails_about(stack, conversation_id)


def now() -> datetime:
    return datetime.now(UTC)
