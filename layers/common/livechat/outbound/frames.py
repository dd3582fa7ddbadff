"""What the server sends: the server events of the protocol as pydantic models (so
docs/protocol.md is generated from them), stored conversation events as wire frames (for
delivery and `resume`) and as transcript items."""

# No `from __future__ import annotations` here (issue 15, cold start): pydantic would compile
# and evaluate every field's annotation string when the classes are built, ~20 % of this
# module's import.
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from livechat.domain.snapshots import Event
from livechat.domain.transitions import ANSWER_RECORDED, CAPTURE_RECORDED


class _Event(BaseModel):
    # Built when first sent, not at import: an invocation sends one or two kinds of frame.
    model_config = ConfigDict(frozen=True, defer_build=True)
    # Fields whose null means something (schedules' `until`: never changes by itself), sent
    # as null rather than left out like other absent optional fields.
    _null_sent: ClassVar[tuple[str, ...]] = ()

    def wire(self) -> dict[str, Any]:
        data = self.model_dump(mode="json", exclude_none=True, by_alias=True)
        return data | {name: getattr(self, name) for name in self._null_sent if name not in data}


class AgentCard(BaseModel):
    model_config = ConfigDict(defer_build=True)  # built with the first offer or join sent
    name: str
    avatarUrl: str


class ErrorEvent(_Event):
    type: Literal["error"] = "error"
    code: str
    message: str
    requestId: str | None = None
    retryAfterSeconds: int | None = None  # RATE_LIMITED only (second round)


class AckEvent(_Event):
    type: Literal["ack"] = "ack"
    action: str
    requestId: str | None = None
    seq: int | None = None  # the stored event's seq, for answer and capture


class PongEvent(_Event):
    type: Literal["pong"] = "pong"
    requestId: str | None = None


class ConversationStartedEvent(_Event):
    type: Literal["conversationStarted"] = "conversationStarted"
    conversationId: str
    requestId: str | None = None


class AvailabilityEvent(_Event):
    type: Literal["availability"] = "availability"
    dialogId: str
    cardId: str
    available: bool
    requestId: str | None = None


class PendingOffer(BaseModel):
    """An offer as the agent sees it: `chatOffered`, and each item of `listOffers`."""

    model_config = ConfigDict(frozen=True, defer_build=True)  # as _Event's
    conversationId: str
    offerId: str
    visitor: dict[str, Any]
    page: dict[str, Any]
    expiresAt: str
    acceptTimeoutSeconds: int



class ChatOfferedEvent(_Event, PendingOffer):
    type: Literal["chatOffered"] = "chatOffered"


class OfferWithdrawnEvent(_Event):
    type: Literal["offerWithdrawn"] = "offerWithdrawn"
    conversationId: str
    offerId: str
    reason: Literal["expired", "declined", "visitor_left"]


class TypingEvent(_Event):
    type: Literal["typing"] = "typing"
    conversationId: str
    from_: str = Field(alias="from")
    isTyping: bool


class StatusEvent(_Event):
    """Pushed to the agent's other tabs when one of them sets the status (setStatus itself is
    answered by ack)."""

    type: Literal["status"] = "status"
    status: str  # the effective status (livechat.domain.schedules)
    onSchedule: bool = True
    until: str | None = None  # when `status` next changes by itself (ISO-8601 UTC), or null
    _null_sent = ("until",)


class InboxEvent(_Event):
    type: Literal["inbox"] = "inbox"
    chats: list[dict[str, Any]]
    # An addition: the agent's effective status (stored status, schedule and override),
    # with the second round's `onSchedule` and `until` as in `status` frames.
    status: str | None = None
    onSchedule: bool = True
    until: str | None = None
    _null_sent = ("until",)
    # An addition (second round, reachability): how many Web Push subscriptions the agent
    # holds, so the inbox can say whether offers reach them with every tab closed.
    pushSubscriptions: int = 0
    # An addition: the agent's display name (the workspace's `name`), the label of their
    # own messages in the inbox (they are named by e-mail everywhere else).
    name: str | None = None
    requestId: str | None = None


class OffersEvent(_Event):
    """The answer to listOffers (second round): this agent's open offers, oldest first, and
    the server's clock, so that a client whose clock is off counts down right."""

    type: Literal["offers"] = "offers"
    items: list[PendingOffer]
    serverTime: str
    requestId: str | None = None


class StatsEvent(_Event):
    """The answer to getStats (an addition, issue 16): per UTC day (every day of the range),
    per agent and per team (those with any count), and the totals; each row as
    livechat.domain.stats.row makes it. Averages are seconds, null without a sample."""

    model_config = ConfigDict(populate_by_name=True)
    type: Literal["stats"] = "stats"
    from_: str = Field(alias="from")
    to: str
    totals: dict[str, Any]
    days: list[dict[str, Any]]
    agents: list[dict[str, Any]]
    teams: list[dict[str, Any]]
    requestId: str | None = None


class ConversationsEvent(_Event):
    type: Literal["conversations"] = "conversations"
    items: list[dict[str, Any]]
    cursor: str | None = None
    requestId: str | None = None


class TranscriptEvent(_Event):
    type: Literal["transcript"] = "transcript"
    conversationId: str
    visitor: dict[str, Any]
    page: dict[str, Any]
    status: str
    agent: AgentCard | None = None
    events: list[dict[str, Any]]
    text: str | None = None  # an addition: only when asked (getTranscript includeText)
    requestId: str | None = None


class ChatAcceptedEvent(_Event):
    type: Literal["chatAccepted"] = "chatAccepted"
    conversationId: str
    visitor: dict[str, Any]
    page: dict[str, Any]
    transcript: list[dict[str, Any]]
    requestId: str | None = None


def error_frame(code: str, message: str, request_id: str | None, *,
                retry_after_seconds: int | None = None) -> dict[str, Any]:
    return ErrorEvent(code=code, message=message, requestId=request_id,
                      retryAfterSeconds=retry_after_seconds).wire()



def frame_of(conversation_id: str, event: Event) -> dict[str, Any]:
    data = dict(event.data or {})
    frame: dict[str, Any] = {"type": event.type, "conversationId": conversation_id,
                             "seq": int(event.seq)}
    if event.type == "message":
        frame.update({"from": event.sender, "text": event.text, "at": event.at,
                      "clientMessageId": event.client_message_id})
    elif event.type == ANSWER_RECORDED:
        frame.update({"cardId": event.card_id, "value": event.value, "at": event.at})
    elif event.type == CAPTURE_RECORDED:
        frame.update({"cardId": event.card_id, "fields": dict(event.fields or {}),
                      "at": event.at})
    else:
        frame.update(data)
        frame["at"] = event.at
    return frame


def transcript_item(event: Event) -> dict[str, Any]:
    item: dict[str, Any] = {"seq": int(event.seq), "kind": event.kind, "from": event.sender,
                            "at": event.at}
    if event.text is not None:
        item["text"] = event.text
    if event.card_id is not None:
        item["cardId"] = event.card_id
    if event.value is not None:
        item["value"] = event.value
    if event.fields is not None:
        item["fields"] = dict(event.fields)
    if event.client_message_id is not None:
        item["clientMessageId"] = event.client_message_id
    if event.kind == "system":
        item["event"] = event.type
    return item


def withdrawn_frame(conversation_id: str, offer_id: str,
                    reason: Literal["expired", "declined", "visitor_left"]) -> dict[str, Any]:
    return OfferWithdrawnEvent(conversationId=conversation_id, offerId=offer_id, reason=reason).wire()
