"""What one transition does to a conversation, as data: the store turns a Change into one
conditional transaction (livechat.store.transaction.apply)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from livechat.domain.errors import LivechatError
from livechat.domain.states import Status


@dataclass(frozen=True)
class NewEvent:
    kind: str  # answer | capture | message | system
    type: str  # the wire event it replays as
    sender: str  # visitor | agent | system
    text: str | None = None
    card_id: str | None = None
    value: str | None = None
    fields: Mapping[str, Any] | None = None
    client_message_id: str | None = None
    data: Mapping[str, Any] | None = None
    activity: bool = False  # a message or a join: counts for the inactivity timeout


@dataclass(frozen=True)
class Guard:
    """What must still hold when the transaction commits (besides the `last_seq` the store
    always checks): the state the transition was planned on."""

    status: Status
    offer_id: str | None = None
    offer_agent: str | None = None
    offer_open_after: str | None = None  # offer_expires_at must be later than this
    live_activity_at: str | None = None  # unchanged since it was read


@dataclass(frozen=True)
class SlotClaim:
    """Take one of the agent's slots for this offer (the capacity semaphore): refused when
    the agent is full, without the permission, disconnected, or holds it already, or when
    their status or override is no longer the one routing read (it found them available)."""

    agent: str
    offer_id: str
    on_fail: Callable[[], LivechatError]
    status: str  # the stored status, as read
    override_until: str | None  # the stored override's end, as read


@dataclass(frozen=True)
class SlotRelease:
    """Give back the slot this offer holds; refused when it is not held."""

    agent: str
    offer_id: str
    on_fail: Callable[[], LivechatError]


@dataclass(frozen=True)
class CountEngagement:
    """One more engagement on the quota counter, refused at `limit` (None: no limit)."""

    limit: int | None
    on_fail: Callable[[], LivechatError]


@dataclass(frozen=True)
class CursorStep:
    """Move a round-robin cursor from the value routing read to the next ticket, refused
    when another router moved it meanwhile (the rotation was planned on a stale ticket)."""

    cursor: str
    read: int
    on_fail: Callable[[], LivechatError]


@dataclass(frozen=True)
class Change:
    guard: Guard
    events: tuple[NewEvent, ...] = ()
    set: Mapping[str, Any] = field(default_factory=dict)  # conversation fields
    remove: tuple[str, ...] = ()
    add: Mapping[str, int] = field(default_factory=dict)  # numeric fields to increment
    tried: str | None = None  # an agent to add to the tried set
    new_offer: Mapping[str, Any] | None = None  # appended to the offer history
    offer_outcome: tuple[int, str] | None = None  # (history index, outcome)
    visitor: Mapping[str, str] = field(default_factory=dict)  # captured fields to set
    slot: SlotClaim | SlotRelease | None = None
    engagement: CountEngagement | None = None
    cursor: CursorStep | None = None
    # A connection of the holding agent to add to the conversation's mirror of them
    # (livechat.store.mirror): the one that accepts.
    agent_connection: str | None = None
    reorder: bool = True  # its events move the conversations view's order key (gsi1sk)
