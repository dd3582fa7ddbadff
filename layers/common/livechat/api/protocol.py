"""The wire contract (spec/protocol.md) as pydantic models.

Inbound frames are validated strictly (no coercion: `"isTyping": "yes"` is an error);
unknown extra fields are ignored so that newer clients keep working. Outbound frames are
models too, so docs/protocol.md is generated from this file (`python -m livechat.api.protocol_doc`).
"""

# No `from __future__ import annotations` here (issue 15, cold start): pydantic would compile
# and evaluate every field's annotation string when the classes are built, ~20 % of this
# module's import.
import json
import typing
from functools import cache
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from livechat.domain.errors import BadRequest

Id = Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:@+-]+$")]
ShortText = Annotated[str, Field(max_length=2048)]

# Issue 15 (cold start): each frame model builds its validator when the first frame of its
# action arrives (parse_frame validates against that action's model alone), not at import:
# an invocation parses one frame, and most containers see a handful of the 21 actions.
_STRICT = ConfigDict(strict=True, extra="ignore", frozen=True, defer_build=True)


class _Frame(BaseModel):
    model_config = _STRICT
    requestId: Annotated[str, Field(max_length=128)] | None = None


class Utm(BaseModel):
    model_config = _STRICT
    source: ShortText | None = None
    medium: ShortText | None = None
    campaign: ShortText | None = None


class Page(BaseModel):
    model_config = _STRICT
    url: ShortText | None = None
    title: ShortText | None = None
    referrer: ShortText | None = None
    utm: Utm | None = None


# --- visitor actions --------------------------------------------------------------------

class StartConversation(_Frame):
    action: Literal["startConversation"]
    dialogId: Id
    page: Page = Field(default_factory=Page)
    # An addition: the client's own name for the conversation it is starting, so that a
    # start re-sent after a dropped connection (with a new requestId) creates it once.
    clientConversationId: Id | None = None


class AnswerFrame(_Frame):
    action: Literal["answer"]
    conversationId: Id
    cardId: Id
    value: Annotated[str, Field(min_length=1, max_length=200)]


class CaptureFrame(_Frame):
    action: Literal["capture"]
    conversationId: Id
    cardId: Id
    fields: dict[Annotated[str, Field(min_length=1, max_length=64)], Annotated[str, Field(max_length=500)]]


class RequestChat(_Frame):
    action: Literal["requestChat"]
    conversationId: Id
    cardId: Id


class Availability(_Frame):
    action: Literal["availability"]
    dialogId: Id
    cardId: Id


class EmailTranscript(_Frame):
    """An addition: e-mail this conversation's transcript to the address captured in it
    (never one named here), once the chat is over; answered by ack."""

    action: Literal["emailTranscript"]
    conversationId: Id


# --- agent actions ----------------------------------------------------------------------

class SetStatus(_Frame):
    action: Literal["setStatus"]
    status: Literal["available", "away"]


class AcceptFrame(_Frame):
    action: Literal["accept"]
    conversationId: Id
    offerId: Id


class DeclineFrame(_Frame):
    action: Literal["decline"]
    conversationId: Id
    offerId: Id


class ListInbox(_Frame):
    action: Literal["listInbox"]


class ListOffers(_Frame):
    """Second round: this agent's pending offers (a reconnecting inbox shows them again)."""

    action: Literal["listOffers"]


class PushKeys(BaseModel):
    model_config = _STRICT
    p256dh: Annotated[str, Field(max_length=256)]
    auth: Annotated[str, Field(max_length=256)]


class PushSubscription(BaseModel):
    """What `PushSubscription.toJSON()` gives (expirationTime and the like are ignored); the
    endpoint rule itself is livechat.domain.push's."""

    model_config = _STRICT
    endpoint: str
    keys: PushKeys


class SubscribePush(_Frame):
    """Second round: register a Web Push subscription for this agent (answered by ack)."""

    action: Literal["subscribePush"]
    subscription: PushSubscription


class UnsubscribePush(_Frame):
    """Second round: forget this agent's subscription to an endpoint (ack even when none)."""

    action: Literal["unsubscribePush"]
    endpoint: Annotated[str, Field(min_length=1, max_length=2048)]


class ListConversations(_Frame):
    action: Literal["listConversations"]
    cursor: Annotated[str, Field(max_length=2048)] | None = None


class GetTranscript(_Frame):
    action: Literal["getTranscript"]
    conversationId: Id
    # An addition: also the transcript as plain text (`text`), as the e-mails render it:
    # what the inbox's "Download transcript" saves.
    includeText: bool = False


# --- both sides -------------------------------------------------------------------------

class SendMessage(_Frame):
    action: Literal["sendMessage"]
    conversationId: Id
    # The length limit is checked against settings in the handler (it is configurable).
    text: Annotated[str, Field(min_length=1)]
    clientMessageId: Id


class Typing(_Frame):
    action: Literal["typing"]
    conversationId: Id
    isTyping: bool


class EndChat(_Frame):
    action: Literal["endChat"]
    conversationId: Id


# The largest integer every JSON client reads exactly (JavaScript's Number.MAX_SAFE_INTEGER).
MAX_SEQ = 2**53 - 1


class Resume(_Frame):
    action: Literal["resume"]
    conversationId: Id
    afterSeq: Annotated[int, Field(ge=0, le=MAX_SEQ)]


class Ping(_Frame):
    action: Literal["ping"]


class GetStats(_Frame):
    """An addition (issue 16): the performance dashboard's counters for the UTC days
    `from`..`to` (inclusive, YYYY-MM-DD, at most 92 days); admins only."""

    model_config = ConfigDict(populate_by_name=True)  # and _Frame's
    action: Literal["getStats"]
    from_: Annotated[str, Field(alias="from", max_length=10)]
    to: Annotated[str, Field(max_length=10)]


VISITOR_ACTIONS = frozenset(
    {"startConversation", "answer", "capture", "requestChat", "availability", "emailTranscript"}
)
AGENT_ACTIONS = frozenset(
    {"setStatus", "accept", "decline", "listInbox", "listOffers", "listConversations",
     "getTranscript", "subscribePush", "unsubscribePush", "getStats"}
)
SHARED_ACTIONS = frozenset({"sendMessage", "typing", "endChat", "resume", "ping"})

Inbound = Annotated[
    StartConversation
    | AnswerFrame
    | CaptureFrame
    | RequestChat
    | Availability
    | EmailTranscript
    | SetStatus
    | AcceptFrame
    | DeclineFrame
    | ListInbox
    | ListOffers
    | ListConversations
    | GetTranscript
    | SubscribePush
    | UnsubscribePush
    | GetStats
    | SendMessage
    | Typing
    | EndChat
    | Resume
    | Ping,
    Field(discriminator="action"),
]
ACTIONS = VISITOR_ACTIONS | AGENT_ACTIONS | SHARED_ACTIONS


@cache
def _frame_models() -> dict[str, type[_Frame]]:
    """The frame model of each action, from `Inbound` (what the discriminator would pick)."""
    models: tuple[type[_Frame], ...] = typing.get_args(typing.get_args(Inbound)[0])
    return {typing.get_args(m.model_fields["action"].annotation)[0]: m for m in models}


def request_id_of(body: str | None) -> str | None:
    """The requestId of a frame, if it can be read at all (for echoing on errors)."""
    try:
        data = json.loads(body or "")
    except (ValueError, TypeError, RecursionError):
        return None
    if isinstance(data, dict):
        rid = data.get("requestId")
        if isinstance(rid, str) and len(rid) <= 128 and _is_unicode(rid):
            return rid
    return None


def _is_unicode(value: Any) -> bool:
    """False when a string holds a lone surrogate: json.loads accepts the escape "\\ud800",
    but such a string cannot be encoded as UTF-8, so it can be neither stored (DynamoDB
    takes UTF-8) nor sent back (the answer would fail to encode)."""
    pending = [value]  # a loop, not recursion: the frame may be nested as deep as json allows
    while pending:
        item = pending.pop()
        if isinstance(item, str):
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return False
        elif isinstance(item, dict):
            pending.extend(item)
            pending.extend(item.values())
        elif isinstance(item, list):
            pending.extend(item)
    return True


def parse_frame(body: str | None, max_bytes: int) -> Inbound:
    """Parse one client frame or raise BadRequest with a message naming the problem."""
    if body is None or body == "":
        raise BadRequest("empty frame: send a JSON object with an 'action'")
    if len(body.encode("utf-8", errors="surrogatepass")) > max_bytes:
        raise BadRequest(f"frame too large: more than {max_bytes} bytes")
    try:
        data: Any = json.loads(body)
    except ValueError:
        raise BadRequest("malformed JSON: send a JSON object with an 'action'") from None
    except RecursionError:
        raise BadRequest("malformed JSON: nested too deeply") from None
    if not isinstance(data, dict):
        raise BadRequest("a frame must be a JSON object with an 'action'")
    if not _is_unicode(data):
        raise BadRequest("invalid text: a string holds a lone surrogate (\\ud800-\\udfff)")
    action = data.get("action")
    if not isinstance(action, str):
        raise BadRequest("action: missing or not a string")
    if action not in ACTIONS:
        raise BadRequest(f"unknown action {action[:64]!r}")
    try:
        return typing.cast("Inbound", _frame_models()[action].model_validate(data))
    except ValidationError as exc:
        raise BadRequest(describe(exc)) from None


def describe(exc: ValidationError) -> str:
    problems = []
    for err in exc.errors(include_url=False, include_input=False)[:3]:
        # A location can hold a client's dict key (capture's field names): name it, do not
        # echo up to a whole frame of it back.
        loc = [str(p)[:64] for p in err["loc"]]
        # Drop the discriminator tag pydantic puts first in the location.
        if loc and loc[0] in ACTIONS:
            loc = loc[1:]
        problems.append(f"{'.'.join(loc) or 'frame'}: {err['msg']}")
    return "; ".join(problems)
