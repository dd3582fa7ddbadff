"""What the contract tests share: the workspaces they run `livechat dev` on, the shapes the
contract fixes (field names and types), and a few Given steps. Black-box: no livechat import,
only tests/blackbox.py (HTTP, WebSocket, and Cognito sign-in through the emulator)."""

from __future__ import annotations

import contextlib
import re
import time
import uuid
from contextlib import AbstractAsyncContextManager
from datetime import UTC, datetime
from typing import Any

from tests.blackbox import LIVE_CARD, ROUND_ROBIN, Client, Frame, Scene, Stack, Visitor, scene

ALICE = "alice@example.com"
BOB = "bob@example.com"
CAROL = "carol@example.com"
DAVE = "dave@example.com"  # never given a status by any test but the one about new agents
# Only test_schedules.py connects Sam: a schedule with no block (never on schedule, so never
# offered a chat unless his own toggle says so), in a zone whose offset is not whole hours.
SAM = "sam@example.com"
SAM_TIMEZONE = "Pacific/Chatham"
TO_SAM = "to-sam"  # one live chat card, routed to Sam (mode: agent)
AGENTS = {  # e-mail -> (name, password)
    ALICE: ("Alice Adams", "Alice-contract-1"),
    BOB: ("Bob Brown", "Bob-contract-1"),
    CAROL: ("Carol Clark", "Carol-contract-1"),
    DAVE: ("Dave Dunn", "Dave-contract-1"),
    SAM: ("Sam Shift", "Sam-contract-1"),
}
SCHEDULES = {SAM: f"{{timezone: {SAM_TIMEZONE}, weekly: {{}}}}"}  # e-mail -> the workspace's schedule
# Only test_dashboard.py connects Olga: `admin: true` (the LiveChatAdmin group, getStats); she
# sets herself away at once, so she is never offered a chat.
OLGA = "olga@example.com"
AGENTS[OLGA] = ("Olga Owens", "Olga-contract-1")
ADMINS = {OLGA}
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

LIVE = LIVE_CARD  # the live chat card of every dialog
SALES = "sales"  # ask (question) -> Yes: who (capture) -> live; No thanks: bye (message)
RR = ROUND_ROBIN  # one message card, then live (round robin)
RULES = "rules"  # live with custom rules that match only @bigcorp.example e-mails
CAPTURE_FIELDS = ("firstName", "email", "company", "country")
CAPTURE_REQUIRED = ("firstName", "email")
ADA = {"firstName": "Ada", "email": "ada@example.com"}  # the required fields, as a visitor fills them
ACCOUNT_DOMAIN = "named-account.example"  # the main workspace's one account (account routing on)
ACCOUNT_OWNER = BOB


# The round-robin dialog every contract workspace has: one message card, then live chat.
RR_DIALOG = f"""  - id: {RR}
    cards:
      - id: hello
        kind: message
        text: "Hi there"
      - id: {LIVE}
        kind: live_chat
        routing: {{mode: round_robin}}
"""


def _agents_yaml(agents: dict[str, tuple[str, str]], schedules: dict[str, str] | None = None) -> str:
    return "\n".join(f"""  - email: {email}
    name: {name}
    avatar_url: https://example.com/{email.split("@")[0]}.png
    max_chats: 5
    password: "{password}\"""" + (f"\n    schedule: {(schedules or {})[email]}" if email in (schedules or {}) else "")
                     + ("\n    admin: true" if email in ADMINS else "")
                     for email, (name, password) in agents.items())


def _settings_yaml(plan: str = "prime", engagement_limit: int | None = None,
                   account_routing: bool = False) -> str:
    limit = "null" if engagement_limit is None else engagement_limit
    return f"""settings:
  account_routing: {str(account_routing).lower()}
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
    return f"""{_settings_yaml(account_routing=True)}
agents:
{_agents_yaml(AGENTS, SCHEDULES)}

accounts:
  - domain: {ACCOUNT_DOMAIN}
    owner: {ACCOUNT_OWNER}

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
{RR_DIALOG}  - id: {TO_SAM}
    cards:
      - id: {LIVE}
        kind: live_chat
        routing: {{mode: agent, agent: {SAM}}}
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

def scene_with(stack: Stack, available: tuple[str, ...]) -> AbstractAsyncContextManager[Scene]:
    """The routed agents connected, those named `available` available and the others away
    (status is stored, so each test states the presence it relies on), and a visitor."""
    return scene(stack, ROUTED, available)


async def at_the_capture_card(visitor: Visitor) -> tuple[str, Frame]:
    """A conversation of the sales dialog whose visitor answered Yes (the capture card is
    next): its id and the answer's ack."""
    conversation_id = await visitor.start(SALES)
    answered = await visitor.ok("answer", "ack", conversationId=conversation_id, cardId="ask", value="Yes")
    return conversation_id, answered


async def at_the_live_card(visitor: Visitor) -> tuple[str, Frame, Frame]:
    """A conversation of the sales dialog whose visitor answered Yes and left the required
    fields (`ADA`), the live chat card next: its id and the answer's and capture's acks."""
    conversation_id, answered = await at_the_capture_card(visitor)
    captured = await visitor.ok("capture", "ack", conversationId=conversation_id, cardId="who", fields=ADA)
    return conversation_id, answered, captured


async def ask_raw(client: Client, text: str, request_id: str) -> Frame:
    """Send a frame as written (for what json.dumps would not write) and await its answer."""
    await client.send(text)
    return await client.answer_to(request_id, text[:60])


async def pump(client: Client, seconds: float) -> None:
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
        await pump(client, 0.2)
    return frames


def now() -> datetime:
    return datetime.now(UTC)


# --- Web Push: a stack of its own (test_web_push.py, bench/push_delay.py) ------------------
# A push subscription makes an agent reachable without a connection (protocol.md second round,
# Reachability), so the Web Push tests run on a workspace of their own instead of leaving
# subscriptions on the shared stack: Alice and Bob only, and a dialog routed to Alice first.

TO_ALICE = "to-alice"  # capture (`who`), then a live chat card routed to Alice (mode: agent)
PUSH_AGENTS = {email: AGENTS[email] for email in (ALICE, BOB)}
PUSH_ACCEPT_TIMEOUT = 4  # long enough to open the inbox on a pushed offer, short to expire


def push_workspace_yaml() -> str:
    """The Web Push tests' workspace: the contract's settings with a 4 s accept timeout,
    Alice and Bob; `TO_ALICE` (an agent-mode card: Alice first, then round robin over
    everyone, live-chat.md) and `RR`."""
    settings = _settings_yaml().replace(f"accept_timeout_seconds: {ACCEPT_TIMEOUT}\n",
                                        f"accept_timeout_seconds: {PUSH_ACCEPT_TIMEOUT}\n")
    return f"""{settings}
agents:
{_agents_yaml(PUSH_AGENTS)}

dialogs:
  - id: {TO_ALICE}
    cards:
      - id: who
        kind: capture
        fields: [{", ".join(CAPTURE_FIELDS)}]
        required: [{", ".join(CAPTURE_REQUIRED)}]
      - id: {LIVE}
        kind: live_chat
        routing: {{mode: agent, agent: {ALICE}}}
{RR_DIALOG}"""


def push_topic(conversation_id: str) -> str:
    """protocol.md: `Topic` = the first 32 characters of base64url(SHA-256(conversationId))."""
    import base64  # here, not above: this part of kit.py was appended to it
    import hashlib

    digest = hashlib.sha256(conversation_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]
