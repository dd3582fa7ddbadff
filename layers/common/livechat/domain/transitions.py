"""Every change of a conversation, as a function from its snapshot to a Change.

A function raises a domain error when the snapshot forbids the change, and otherwise
returns what to write and the guard under which to write it; the store commits the Change
in one conditional transaction, or plans again on a fresh snapshot if the conversation
moved meanwhile. So each rule below is decided once, on data, and is testable as a table.

    automated ─request_chat→ routing ─offer→ offered ─accept→ active ─end/expire→ ended|expired
        │                      │  ↑              │
        end                 fall_back  └─end_offer┘ (declined, expired, unreachable)
        ↓                      ↓                 end (visitor left)
      ended                 fallback             ↓
                                               ended
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from datetime import timedelta

from livechat.domain.change import (
    Change,
    CountEngagement,
    Guard,
    NewEvent,
    SlotClaim,
    SlotRelease,
)
from livechat.domain.clock import iso, parse_iso
from livechat.domain.errors import (
    AgentUnavailable,
    AlreadyRequested,
    Conflict,
    NotRouting,
    OfferExpired,
    QuotaReached,
    StillActive,
)
from livechat.domain.snapshots import Agent, Conversation
from livechat.domain.states import LIVE_KIND, OPEN, Status

# The server events that stored answers and captures replay as (protocol additions, see
# docs/protocol.md): they let `resume` fill every gap, not only messages.
ANSWER_RECORDED = "answerRecorded"
CAPTURE_RECORDED = "captureRecorded"

# How long after a deadline the sweeper steps in for a workflow that did not.
SWEEP_GRACE_SECONDS = 20

# A message moves the conversation's activity index keys (gsi3's live_activity_at, gsi1's
# order key) only when they are this far behind it: each move is a delete and a put in the
# index, two write units each (docs/performance.md, "Cost"). So the conversations view (its
# order and lastActivityAt) may lag a message by up to this long; every message still writes
# last_activity_at (no index key), which the inbox shows and the inactivity expiry decides on.
ACTIVITY_KEY_STEP_SECONDS = 300


def activity_key_due(key_at: str | None, at: str) -> bool:
    """Whether an activity key last moved at `key_at` moves for a message at `at`."""
    return not key_at or parse_iso(at) - parse_iso(key_at) >= timedelta(seconds=ACTIVITY_KEY_STEP_SECONDS)


def sweep_deadline(moment: str) -> str:
    return iso(parse_iso(moment) + timedelta(seconds=SWEEP_GRACE_SECONDS))


# --- the dialog -------------------------------------------------------------------------

def _dialog_open(conv: Conversation) -> None:
    if conv.status != Status.AUTOMATED:
        raise Conflict("the dialog is over for this conversation")


def record_answer(conv: Conversation, card_id: str, value: str) -> Change:
    _dialog_open(conv)
    return Change(guard=Guard(Status.AUTOMATED), events=(
        NewEvent("answer", ANSWER_RECORDED, "visitor", card_id=card_id, value=value),))


def record_capture(conv: Conversation, card_id: str, fields: Mapping[str, str]) -> Change:
    _dialog_open(conv)
    return Change(guard=Guard(Status.AUTOMATED), visitor=dict(fields), events=(
        NewEvent("capture", CAPTURE_RECORDED, "visitor", card_id=card_id, fields=dict(fields)),))


# --- routing ----------------------------------------------------------------------------

def request_chat(conv: Conversation, card_id: str, at: str, *, with_event: bool = True) -> Change:
    """automated → routing: only one request wins (the guard against two routers)."""
    if conv.status in (Status.ROUTING, Status.OFFERED):
        raise AlreadyRequested(f"live chat is being requested already ({conv.status})")
    if conv.status != Status.AUTOMATED:
        raise Conflict(f"live chat was already requested (conversation is {conv.status})")
    events = (NewEvent("system", "routing", "system", text="Live chat requested", card_id=card_id),)
    return Change(
        guard=Guard(Status.AUTOMATED),
        events=events if with_event else (),
        set={"status": Status.ROUTING, "kind": LIVE_KIND, "card_id": card_id,
             "sweep_at": sweep_deadline(at)},
        add={"route_attempt": 1},
    )


def offer(conv: Conversation, agent: Agent, offer_id: str, at: str, expires_at: str) -> Change:
    """routing → offered, claiming one of the agent's slots in the same transaction (a
    crash between the two cannot leak a slot), while the agent's presence is still the one
    read (`agent`, found eligible)."""
    if conv.status != Status.ROUTING:
        raise NotRouting("conversation is not waiting for an agent")
    email = agent.email
    if email in conv.tried:
        raise AgentUnavailable("agent already tried")
    # The agent's name and avatar as offered: what accept shows the visitor, without
    # reading the agent again; and their connections, mirrored (livechat.store.mirror).
    fields: dict[str, object] = {
        "status": Status.OFFERED, "offer_id": offer_id, "offer_agent": email, "offer_expires_at": expires_at,
        "sweep_at": sweep_deadline(expires_at), "offer_agent_name": agent.name}
    if agent.avatar_url:
        fields["offer_agent_avatar"] = agent.avatar_url
    if agent.connections:
        fields["agent_connections"] = agent.connections
    return Change(
        guard=Guard(Status.ROUTING),
        set=fields,
        remove=(() if agent.avatar_url else ("offer_agent_avatar",)) + (
            () if agent.connections else ("agent_connections",)),
        new_offer={"offerId": offer_id, "agent": email, "at": at, "outcome": "pending"},
        slot=SlotClaim(email, offer_id, lambda: AgentUnavailable(f"agent {email} cannot take the chat"),
                       status=agent.status, override_until=agent.override_until),
    )


def request_and_offer(conv: Conversation, card_id: str, agent: Agent, offer_id: str, *, at: str,
                      expires_at: str) -> Change:
    """automated → offered in one transaction: the request (its `routing` event, the
    guard against two routers) and its first offer (the agent's slot) together."""
    requested = request_chat(conv, card_id, at)
    offered = offer(replace(conv, status=Status.ROUTING), agent, offer_id, at, expires_at)
    return replace(offered, guard=requested.guard, events=requested.events,
                       set={**requested.set, **offered.set}, add=requested.add)


def end_offer(conv: Conversation, offer_id: str, outcome: str, at: str, *,
              agent: str | None = None) -> Change:
    """offered → routing: the offer ended unanswered (declined, expired, unreachable, or
    taken back for the quota); its slot is released in the same transaction."""
    if conv.status != Status.OFFERED or conv.offer_id != offer_id or (
            agent is not None and conv.offer_agent != agent):
        raise OfferExpired("this offer is no longer open")
    holder = conv.offer_agent or ""
    index = conv.offer_index(offer_id)
    return Change(
        guard=Guard(Status.OFFERED, offer_id=offer_id, offer_agent=agent),
        set={"status": Status.ROUTING, "sweep_at": sweep_deadline(at)},
        remove=("offer_id", "offer_expires_at"),
        tried=holder,
        offer_outcome=(index, outcome) if index is not None else None,
        slot=SlotRelease(holder, offer_id, lambda: Conflict("the offer's slot is not held")),
    )


def offered_agent(conv: Conversation, offer_id: str) -> Agent | None:
    """The agent of the current offer as it was made (name and avatar), when the offer
    recorded them (offers made by an earlier release did not)."""
    if conv.offer_id != offer_id or conv.offer_agent is None or conv.offer_agent_name is None:
        return None
    return Agent(email=conv.offer_agent, name=conv.offer_agent_name, avatar_url=conv.offer_agent_avatar or "")


def accept(conv: Conversation, offer_id: str, agent: Agent, at: str,
           engagement_limit: int | None, *, connection_id: str | None = None) -> Change:
    """offered → active, only while this offer is current and unexpired: an accept racing
    a decline, a timeout or another router has exactly one outcome. The engagement is
    counted in the same transaction."""
    if (conv.status != Status.OFFERED or conv.offer_id != offer_id
            or conv.offer_agent != agent.email):
        raise OfferExpired("this offer is no longer open")
    if conv.offer_expires_at and conv.offer_expires_at <= at:
        raise OfferExpired("this offer expired")
    index = conv.offer_index(offer_id)
    card = {"name": agent.name, "avatarUrl": agent.avatar_url or ""}
    return Change(
        guard=Guard(Status.OFFERED, offer_id=offer_id, offer_agent=agent.email, offer_open_after=at),
        events=(NewEvent("system", "agentJoined", "system", text=f"{agent.name} joined the chat",
                         data={"agent": card}, activity=True),),
        set={"status": Status.ACTIVE, "kind": LIVE_KIND, "agent": agent.email,
             "agent_name": agent.name, "agent_avatar": agent.avatar_url or "",
             "accepted_at": at, "live_activity_at": at},
        remove=("offer_expires_at", "sweep_at", "offer_agent_name", "offer_agent_avatar"),
        offer_outcome=(index, "accepted") if index is not None else None,
        engagement=CountEngagement(engagement_limit,
                                   lambda: QuotaReached("the engagement quota is reached")),
        agent_connection=connection_id,
    )


def fall_back(conv: Conversation, reason: str, message: str, at: str, *,
              from_status: Status = Status.ROUTING) -> Change:
    """routing (or automated, when nothing can be routed) → fallback, once."""
    if conv.status != from_status:
        raise NotRouting("conversation is not waiting for an agent")
    return Change(
        guard=Guard(from_status),
        events=(NewEvent("system", "fallback", "system", text=message,
                         data={"reason": reason, "message": message}),),
        set={"status": Status.FALLBACK, "kind": LIVE_KIND, "fallback_reason": reason,
             "ended_at": at},
        remove=("sweep_at",),
    )


# --- the live chat ----------------------------------------------------------------------

def post_message(conv: Conversation, sender: str, text: str, client_message_id: str,
                 at: str) -> Change:
    """A message: the visitor may write while the chat is being routed; the agent only in
    a live chat. In a live chat it restarts the inactivity clock."""
    allowed = ({Status.ROUTING, Status.OFFERED, Status.ACTIVE} if sender == "visitor"
               else {Status.ACTIVE})
    if conv.status not in allowed:
        raise Conflict(f"no live chat to send to (conversation is {conv.status})")
    live = conv.status == Status.ACTIVE and activity_key_due(conv.live_activity_at, at)
    marks: dict[str, str] = {"live_activity_at": at} if live else {}
    if sender == "agent" and conv.first_reply_at is None:
        marks["first_reply_at"] = at  # the dashboard's first response time (domain.stats)
    return Change(
        guard=Guard(conv.status),
        events=(NewEvent("message", "message", sender, text=text,
                         client_message_id=client_message_id, activity=True),),
        set=marks,
        reorder=activity_key_due(conv.last_event_at, at),
    )


def end(conv: Conversation, by: str, at: str) -> Change:
    """Any open conversation → ended, by the visitor or (a live chat) the agent: an
    automated one closes quietly; an offered one withdraws its offer (visitor_left); the
    slot an offer or a live chat holds is released in the same transaction."""
    if conv.status not in OPEN:
        raise Conflict("the conversation has already ended")
    if by == "agent" and conv.status != Status.ACTIVE:
        raise Conflict("the chat is not live")
    holder = conv.agent if conv.status == Status.ACTIVE else conv.offer_agent
    slot = None
    if conv.status in (Status.ACTIVE, Status.OFFERED) and holder and conv.offer_id:
        slot = SlotRelease(holder, conv.offer_id, lambda: Conflict("the chat's slot is not held"))
    index = conv.offer_index(conv.offer_id) if conv.status == Status.OFFERED and conv.offer_id else None
    events = () if conv.status == Status.AUTOMATED else (
        NewEvent("system", "chatEnded", "system", text=f"Chat ended by the {by}", data={"reason": by}),)
    return Change(
        guard=Guard(conv.status),
        events=events,
        set={"status": Status.ENDED, "end_reason": by, "ended_at": at},
        remove=("live_activity_at", "sweep_at", "offer_expires_at"),
        offer_outcome=(index, "visitor_left") if index is not None else None,
        slot=slot,
    )


def withdrawn_offer(conv: Conversation) -> str | None:
    """The offer that ending this conversation withdraws (visitor_left), if any."""
    return conv.offer_id if conv.status == Status.OFFERED else None


def expire(conv: Conversation, cutoff: str, at: str) -> Change:
    """active → expired when its last message is older than `cutoff`: a message racing it
    lands first (the chat lives on) or finds the chat expired. The index key the sweep found
    it by may lag the last message (ACTIVITY_KEY_STEP_SECONDS): last_activity_at does not."""
    if (conv.status != Status.ACTIVE or not conv.live_activity_at
            or max(conv.live_activity_at, conv.last_activity_at) >= cutoff):
        raise StillActive("not inactive")
    return Change(
        guard=Guard(Status.ACTIVE, live_activity_at=conv.live_activity_at),
        events=(NewEvent("system", "chatEnded", "system", text="Chat ended after inactivity",
                         data={"reason": "inactivity"}),),
        set={"status": Status.EXPIRED, "end_reason": "inactivity", "ended_at": at},
        remove=("live_activity_at",),
        slot=SlotRelease(conv.agent or "", conv.offer_id or "", lambda: StillActive("slot not held")),
    )
