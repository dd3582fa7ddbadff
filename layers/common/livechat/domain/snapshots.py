"""What the use cases read: plain, immutable snapshots of stored items (the store builds
them; nothing here knows how they are kept)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from livechat.domain.schedules import Schedule
from livechat.domain.states import Status


@dataclass(frozen=True)
class Conversation:
    conversation_id: str
    visitor_id: str
    dialog_id: str
    status: Status
    started_at: str
    last_activity_at: str
    kind: str = "automated"
    visitor: Mapping[str, Any] = field(default_factory=dict)  # captured fields
    page: Mapping[str, Any] = field(default_factory=dict)
    card_id: str | None = None  # the live chat card requested
    route_attempt: int = 0
    offer_id: str | None = None  # the current offer, while offered (and the accepted one)
    offer_agent: str | None = None
    offer_expires_at: str | None = None
    # The current offer's agent's name and avatar when it was made: what accept shows the
    # visitor without reading the agent (None: an offer of an earlier release).
    offer_agent_name: str | None = None
    offer_agent_avatar: str | None = None
    # Offer history, oldest first: {"offerId", "agent", "at", "outcome"}.
    offers: tuple[Mapping[str, Any], ...] = ()
    tried: frozenset[str] = frozenset()  # agents this request was offered to
    agent: str | None = None
    agent_name: str | None = None
    agent_avatar: str | None = None  # snapshot taken at accept
    accepted_at: str | None = None
    first_reply_at: str | None = None  # the agent's first message (the dashboard's response time)
    ended_at: str | None = None
    end_reason: str | None = None
    fallback_reason: str | None = None
    transcript_mailed_at: str | None = None  # when the visitor asked for it by e-mail
    last_seq: int = 0
    # Its clock's own last_seq, when the clock was read with it (store.tables.ClockModel):
    # what the next write's condition names. None for one with no clock yet (before the
    # accept, or of an earlier release) or listed from an index.
    clock_seq: int | None = None
    live_activity_at: str | None = None  # set only while active: the inactivity clock
    sweep_at: str | None = None  # set only while routing or offered: when the sweeper steps in
    # When its latest event was stored, as the conversations view orders and shows it: a
    # message moves it only once it is ACTIVITY_KEY_STEP_SECONDS behind
    # (transitions.activity_key_due).
    last_event_at: str = ""
    # Personal data (livechat.domain.retention): the retention in force at its last write
    # that read the settings (None: written before retention existed), and its item's TTL.
    retention_days: int | None = None
    expiration: int | None = None  # epoch seconds
    # The live connections of the agent who holds it (offered or active), mirrored on the
    # conversation so that a broadcast reads no agent item (livechat.store.mirror); None
    # when not mirrored (never offered, or offered by an earlier release).
    agent_connections: frozenset[str] | None = None

    @property
    def clocked(self) -> bool:
        return self.clock_seq is not None

    def offer_index(self, offer_id: str) -> int | None:
        return next((i for i, o in enumerate(self.offers) if o.get("offerId") == offer_id), None)


@dataclass(frozen=True)
class Agent:
    email: str
    name: str
    avatar_url: str = ""
    max_chats: int = 10
    teams: tuple[str, ...] = ()
    live_chat: bool = True  # the Live Chat permission
    status: str = "available"
    active: int = 0  # slots held: pending offers + live chats
    slots: Mapping[str, str] = field(default_factory=dict)  # conversation id -> offer id
    connections: frozenset[str] = frozenset()  # live inbox connections
    push_subscriptions: int = 0  # Web Push subscriptions held
    schedule: Schedule | None = None  # none: always on schedule
    # When the agent's own setStatus stops overriding the schedule (ISO-8601 UTC); only
    # set for an agent with a schedule (livechat.domain.schedules).
    override_until: str | None = None

    @property
    def has_channel(self) -> bool:
        """A live inbox connection or a push subscription (protocol.md, "Reachability";
        the status is checked apart)."""
        return bool(self.connections) or self.push_subscriptions > 0


@dataclass(frozen=True)
class Event:
    """One stored event of a conversation."""

    seq: int
    kind: str  # answer | capture | message | system
    type: str  # the wire event it replays as
    sender: str  # visitor | agent | system
    at: str
    text: str | None = None
    card_id: str | None = None
    value: str | None = None
    fields: Mapping[str, Any] | None = None
    client_message_id: str | None = None
    data: Mapping[str, Any] | None = None  # extra wire fields: agent, reason, message
