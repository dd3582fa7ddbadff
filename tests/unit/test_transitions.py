"""Every state transition of a conversation as a table: a snapshot in, a Change (what to
write and under which guard) or a domain error out. No AWS, no moto: the store commits a
Change in one conditional transaction (tests/integration prove that part)."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from livechat.domain import transitions as t
from livechat.domain.change import Change, CountEngagement, Guard, SlotClaim, SlotRelease
from livechat.domain.clock import iso, parse_iso
from livechat.domain.errors import (
    AgentUnavailable,
    AlreadyRequested,
    Conflict,
    LivechatError,
    NotRouting,
    OfferExpired,
    QuotaReached,
    StillActive,
)
from livechat.domain.snapshots import Agent, Conversation
from livechat.domain.states import Status

pytestmark = pytest.mark.unit

AT = "2026-12-05T10:00:00.000Z"
LATER = "2026-12-05T10:01:40.000Z"
ALMOST_A_MINUTE_ON, A_MINUTE_ON = "2026-12-05T10:00:59.999Z", "2026-12-05T10:01:00.000Z"
# The activity keys' step after AT, and a millisecond before it
A_STEP_ON = iso(parse_iso(AT) + timedelta(seconds=t.ACTIVITY_KEY_STEP_SECONDS))
ALMOST_A_STEP_ON = iso(parse_iso(A_STEP_ON) - timedelta(milliseconds=1))
ALICE = Agent(email="alice@example.com", name="Alice", avatar_url="https://example.com/a.png")
NEW = Conversation(conversation_id="c1", visitor_id="v_1", dialog_id="sales", status=Status.AUTOMATED,
                   started_at=AT, last_activity_at=AT)
ROUTING = replace(NEW, status=Status.ROUTING, kind="live", card_id="live", route_attempt=1)
OFFERED = replace(ROUTING, status=Status.OFFERED, offer_id="o1", offer_agent=ALICE.email, offer_expires_at=LATER,
                  offers=({"offerId": "o1", "agent": ALICE.email, "at": AT, "outcome": "pending"},))
ACTIVE = replace(OFFERED, status=Status.ACTIVE, agent=ALICE.email, offer_expires_at=None,
                 offers=({"offerId": "o1", "agent": ALICE.email, "at": AT, "outcome": "accepted"},),
                 live_activity_at=AT)


def fields(change: Change) -> dict[str, Any]:
    return dict(change.set)


def raises(error: type[LivechatError], transition: Any, *args: Any, **kwargs: Any) -> None:
    with pytest.raises(error):
        transition(*args, **kwargs)


# --- automated → routing ------------------------------------------------------------------

def test_requesting_a_chat_moves_an_automated_conversation_to_routing() -> None:
    change = t.request_chat(NEW, "live", AT)
    assert change.guard == Guard(Status.AUTOMATED)
    assert fields(change) == {"status": Status.ROUTING, "kind": "live", "card_id": "live",
                              "sweep_at": "2026-12-05T10:00:20.000Z"}
    assert change.add == {"route_attempt": 1}
    assert [e.type for e in change.events] == ["routing"]


def test_a_request_that_cannot_be_routed_moves_to_routing_without_an_event() -> None:
    assert t.request_chat(NEW, "live", AT, with_event=False).events == ()


@pytest.mark.parametrize(("conv", "error"), [
    (ROUTING, AlreadyRequested), (OFFERED, AlreadyRequested),
    (ACTIVE, Conflict), (replace(NEW, status=Status.FALLBACK), Conflict),
])
def test_a_request_on_a_conversation_past_its_dialog_is_refused(conv: Conversation, error: type) -> None:
    raises(error, t.request_chat, conv, "live", AT)


# --- routing → offered --------------------------------------------------------------------

def test_an_offer_binds_the_agent_and_claims_their_slot_in_one_change() -> None:
    change = t.offer(ROUTING, ALICE, "o2", AT, LATER)
    assert change.guard == Guard(Status.ROUTING)
    assert fields(change) == {"status": Status.OFFERED, "offer_id": "o2", "offer_agent": ALICE.email,
                              "offer_expires_at": LATER, "sweep_at": "2026-12-05T10:02:00.000Z",
                              "offer_agent_name": "Alice", "offer_agent_avatar": "https://example.com/a.png"}
    # An agent with no live connection (reachable by push): the mirror is emptied, not kept
    assert change.remove == ("agent_connections",)
    assert change.new_offer == {"offerId": "o2", "agent": ALICE.email, "at": AT, "outcome": "pending"}
    assert isinstance(change.slot, SlotClaim) and (change.slot.agent, change.slot.offer_id) == (ALICE.email, "o2")
    assert isinstance(change.slot.on_fail(), AgentUnavailable)


def test_an_offer_mirrors_the_connections_routing_read_on_the_conversation() -> None:
    online = replace(ALICE, connections=frozenset({"c1=", "c2="}))
    change = t.offer(ROUTING, online, "o2", AT, LATER)
    assert (fields(change)["agent_connections"], change.remove) == (frozenset({"c1=", "c2="}), ())


def test_a_request_and_its_first_offer_are_one_change_guarded_by_the_automated_state() -> None:
    change = t.request_and_offer(NEW, "live", ALICE, "o1", at=AT, expires_at=LATER)
    assert change.guard == Guard(Status.AUTOMATED)
    assert [(e.type, e.card_id) for e in change.events] == [("routing", "live")]
    assert fields(change)["status"] == Status.OFFERED and fields(change)["card_id"] == "live"
    assert change.add == {"route_attempt": 1}
    assert isinstance(change.slot, SlotClaim) and change.slot.offer_id == "o1"
    raises(AlreadyRequested, t.request_and_offer, ROUTING, "live", ALICE, "o1", at=AT, expires_at=LATER)


def test_accept_takes_the_agents_name_from_the_offer_and_an_older_offer_has_none() -> None:
    offered = t.offered_agent(replace(OFFERED, offer_agent_name="Alice"), "o1")
    assert offered == Agent(email=ALICE.email, name="Alice", avatar_url="")
    assert t.offered_agent(replace(OFFERED, offer_agent_name="Alice"), "o0") is None  # not the current offer
    assert t.offered_agent(OFFERED, "o1") is None  # recorded by an earlier release
    change = t.accept(OFFERED, "o1", ALICE, AT, None, connection_id="c9=")
    assert change.agent_connection == "c9="
    # While the chat is live its agent is `agent_name`: the offer's copy goes
    assert {"offer_agent_name", "offer_agent_avatar"} <= set(change.remove)


def test_an_offer_claims_the_slot_only_while_the_agents_status_and_override_are_as_read() -> None:
    toggled = replace(ALICE, status="away", override_until=LATER)
    change = t.offer(ROUTING, toggled, "o2", AT, LATER)
    assert isinstance(change.slot, SlotClaim)
    assert (change.slot.status, change.slot.override_until) == ("away", LATER)


def test_an_agent_already_tried_for_this_request_is_not_offered_it_again() -> None:
    raises(AgentUnavailable, t.offer, replace(ROUTING, tried=frozenset({ALICE.email})), ALICE, "o2", AT, LATER)


@pytest.mark.parametrize("status", [Status.AUTOMATED, Status.OFFERED, Status.ACTIVE, Status.ENDED])
def test_only_a_routing_conversation_is_offered(status: Status) -> None:
    raises(NotRouting, t.offer, replace(ROUTING, status=status), ALICE, "o2", AT, LATER)


# --- offered → routing (declined, expired, unreachable) -----------------------------------

@pytest.mark.parametrize("outcome", ["declined", "expired", "unreachable"])
def test_an_offer_ending_unanswered_goes_back_to_routing_and_releases_the_slot(outcome: str) -> None:
    change = t.end_offer(OFFERED, "o1", outcome, AT, agent=ALICE.email)
    assert change.guard == Guard(Status.OFFERED, offer_id="o1", offer_agent=ALICE.email)
    assert fields(change) == {"status": Status.ROUTING, "sweep_at": "2026-12-05T10:00:20.000Z"}
    assert set(change.remove) == {"offer_id", "offer_expires_at"}
    assert change.tried == ALICE.email
    assert change.offer_outcome == (0, outcome)
    assert isinstance(change.slot, SlotRelease) and (change.slot.agent, change.slot.offer_id) == (ALICE.email, "o1")


@pytest.mark.parametrize(("conv", "offer_id", "agent"), [
    (OFFERED, "o-old", ALICE.email),  # not the current offer
    (OFFERED, "o1", "bob@example.com"),  # someone else's
    (ACTIVE, "o1", ALICE.email),  # already accepted
    (ROUTING, "o1", None),  # already ended
])
def test_only_the_current_offer_can_end(conv: Conversation, offer_id: str, agent: str | None) -> None:
    raises(OfferExpired, t.end_offer, conv, offer_id, "declined", AT, agent=agent)


# --- offered → active ---------------------------------------------------------------------

def test_accepting_the_current_offer_makes_the_chat_live_and_counts_an_engagement() -> None:
    change = t.accept(OFFERED, "o1", ALICE, AT, engagement_limit=100)
    assert change.guard == Guard(Status.OFFERED, offer_id="o1", offer_agent=ALICE.email, offer_open_after=AT)
    assert fields(change) == {"status": Status.ACTIVE, "kind": "live", "agent": ALICE.email, "agent_name": "Alice",
                              "agent_avatar": ALICE.avatar_url, "accepted_at": AT, "live_activity_at": AT}
    assert set(change.remove) == {"offer_expires_at", "sweep_at", "offer_agent_name", "offer_agent_avatar"}
    assert change.offer_outcome == (0, "accepted")
    assert [(e.type, dict(e.data or {})) for e in change.events] == [
        ("agentJoined", {"agent": {"name": "Alice", "avatarUrl": ALICE.avatar_url}})]
    assert change.events[0].activity
    assert isinstance(change.engagement, CountEngagement) and change.engagement.limit == 100
    assert isinstance(change.engagement.on_fail(), QuotaReached)


@pytest.mark.parametrize(("conv", "offer_id", "at"), [
    (OFFERED, "o1", LATER),  # at the deadline
    (OFFERED, "o2", AT),  # not this offer
    (replace(OFFERED, offer_agent="bob@example.com"), "o1", AT),  # offered to someone else
    (ROUTING, "o1", AT),  # declined meanwhile
    (ACTIVE, "o1", AT),  # accepted already
])
def test_a_stale_offer_cannot_be_accepted(conv: Conversation, offer_id: str, at: str) -> None:
    raises(OfferExpired, t.accept, conv, offer_id, ALICE, at, None)


# --- routing → fallback -------------------------------------------------------------------

def test_the_fallback_ends_a_request_once_with_its_reason_and_message() -> None:
    change = t.fall_back(ROUTING, "not_accepted", "We'll e-mail you.", AT)
    assert change.guard == Guard(Status.ROUTING)
    assert fields(change) == {"status": Status.FALLBACK, "kind": "live", "fallback_reason": "not_accepted",
                              "ended_at": AT}
    assert change.remove == ("sweep_at",)
    assert [(e.type, dict(e.data or {})) for e in change.events] == [
        ("fallback", {"reason": "not_accepted", "message": "We'll e-mail you."})]


def test_a_request_that_cannot_be_routed_falls_back_from_automated() -> None:
    assert t.fall_back(NEW, "no_agent", "m", AT, from_status=Status.AUTOMATED).guard == Guard(Status.AUTOMATED)


@pytest.mark.parametrize("status", [Status.OFFERED, Status.ACTIVE, Status.FALLBACK, Status.ENDED])
def test_only_a_routing_request_falls_back(status: Status) -> None:
    raises(NotRouting, t.fall_back, replace(ROUTING, status=status), "no_agent", "m", AT)


# --- → ended --------------------------------------------------------------------------------

def test_the_visitor_leaving_an_offered_chat_withdraws_the_offer_and_releases_the_slot() -> None:
    change = t.end(OFFERED, "visitor", AT)
    assert change.guard == Guard(Status.OFFERED)
    assert fields(change) == {"status": Status.ENDED, "end_reason": "visitor", "ended_at": AT}
    assert change.offer_outcome == (0, "visitor_left")
    assert isinstance(change.slot, SlotRelease) and change.slot.agent == ALICE.email
    assert [dict(e.data or {}) for e in change.events] == [{"reason": "visitor"}]
    assert t.withdrawn_offer(OFFERED) == "o1"


@pytest.mark.parametrize("by", ["agent", "visitor"])
def test_either_side_ends_a_live_chat_and_the_agents_slot_is_released(by: str) -> None:
    change = t.end(ACTIVE, by, AT)
    assert change.guard == Guard(Status.ACTIVE)
    assert fields(change)["status"] == Status.ENDED and fields(change)["end_reason"] == by
    assert "live_activity_at" in change.remove
    assert isinstance(change.slot, SlotRelease) and (change.slot.agent, change.slot.offer_id) == (ALICE.email, "o1")
    assert change.offer_outcome is None
    assert t.withdrawn_offer(ACTIVE) is None


def test_an_automated_conversation_ends_quietly() -> None:
    change = t.end(NEW, "visitor", AT)
    assert (change.guard, change.events, change.slot) == (Guard(Status.AUTOMATED), (), None)
    assert fields(change)["status"] == Status.ENDED


@pytest.mark.parametrize(("conv", "by"), [
    (OFFERED, "agent"), (ROUTING, "agent"), (replace(ACTIVE, status=Status.ENDED), "visitor"),
    (replace(ACTIVE, status=Status.EXPIRED), "agent"), (replace(ROUTING, status=Status.FALLBACK), "visitor"),
])
def test_what_is_not_live_for_this_side_cannot_be_ended(conv: Conversation, by: str) -> None:
    raises(Conflict, t.end, conv, by, AT)


def test_a_chat_silent_past_the_cutoff_expires_and_releases_the_slot() -> None:
    change = t.expire(ACTIVE, cutoff=LATER, at=LATER)
    assert change.guard == Guard(Status.ACTIVE, live_activity_at=AT)
    assert fields(change) == {"status": Status.EXPIRED, "end_reason": "inactivity", "ended_at": LATER}
    assert [dict(e.data or {}) for e in change.events] == [{"reason": "inactivity"}]
    assert isinstance(change.slot, SlotRelease) and change.slot.agent == ALICE.email


@pytest.mark.parametrize("conv", [ACTIVE, replace(ACTIVE, live_activity_at=None), OFFERED])
def test_a_chat_with_a_message_after_the_cutoff_is_not_expired(conv: Conversation) -> None:
    raises(StillActive, t.expire, conv, cutoff=AT, at=LATER)


def test_a_chat_whose_index_key_lags_its_last_message_is_not_expired_before_that_message_times_out() -> None:
    # The sweep found it by live_activity_at (AT); its last message came later and left the key.
    conv = replace(ACTIVE, last_activity_at=ALMOST_A_MINUTE_ON)
    raises(StillActive, t.expire, conv, cutoff=ALMOST_A_MINUTE_ON, at=LATER)
    assert t.expire(conv, cutoff=A_MINUTE_ON, at=LATER).guard == Guard(Status.ACTIVE, live_activity_at=AT)


# --- the dialog and messages ----------------------------------------------------------------

def test_answers_and_captures_are_recorded_only_while_the_dialog_runs() -> None:
    assert t.record_answer(NEW, "ask", "Yes").events[0].value == "Yes"
    capture = t.record_capture(NEW, "who", {"email": "vera@acme.io"})
    assert capture.visitor == {"email": "vera@acme.io"} and capture.guard == Guard(Status.AUTOMATED)
    raises(Conflict, t.record_answer, ROUTING, "ask", "Yes")
    raises(Conflict, t.record_capture, ACTIVE, "who", {})


@pytest.mark.parametrize(("conv", "sender", "ok"), [
    (ROUTING, "visitor", True), (OFFERED, "visitor", True), (ACTIVE, "visitor", True), (ACTIVE, "agent", True),
    (NEW, "visitor", False), (OFFERED, "agent", False), (replace(ACTIVE, status=Status.ENDED), "agent", False),
])
def test_who_may_write_when(conv: Conversation, sender: str, ok: bool) -> None:
    if not ok:
        raises(Conflict, t.post_message, conv, sender, "hi", "m1", AT)
        return
    change = t.post_message(conv, sender, "hi", "m1", A_STEP_ON)
    assert change.guard == Guard(conv.status)
    # Only a live chat's messages restart its inactivity clock (and the agent's first one
    # marks the first response, for the dashboard).
    expected = {"live_activity_at": A_STEP_ON} if conv.status == Status.ACTIVE else {}
    if sender == "agent":
        expected["first_reply_at"] = A_STEP_ON
    assert fields(change) == expected


def test_only_the_agents_first_message_marks_the_first_response() -> None:
    first = t.post_message(ACTIVE, "agent", "hi", "m1", ALMOST_A_STEP_ON)
    assert fields(first)["first_reply_at"] == ALMOST_A_STEP_ON
    replied = replace(ACTIVE, first_reply_at=ALMOST_A_STEP_ON, last_event_at=ALMOST_A_STEP_ON)
    assert "first_reply_at" not in fields(t.post_message(replied, "agent", "again", "m2", A_STEP_ON))
    assert "first_reply_at" not in fields(t.post_message(ACTIVE, "visitor", "hi", "m3", A_STEP_ON))


def test_a_message_within_a_step_of_the_activity_keys_leaves_them_where_they_are() -> None:
    change = t.post_message(replace(ACTIVE, last_event_at=AT), "visitor", "hi", "m1", ALMOST_A_STEP_ON)
    assert (fields(change), change.reorder) == ({}, False)
    assert change.events[0].activity  # last_activity_at still moves: it is no index key


def test_a_message_a_step_after_the_activity_keys_moves_them() -> None:
    change = t.post_message(replace(ACTIVE, last_event_at=AT, first_reply_at=AT), "agent", "hi", "m1", A_STEP_ON)
    assert (fields(change), change.reorder) == ({"live_activity_at": A_STEP_ON}, True)


def test_the_order_key_and_the_inactivity_key_each_move_when_they_are_behind() -> None:
    # The order key moved with a later event (the accept's join) than the inactivity key.
    conv = replace(ACTIVE, last_event_at=ALMOST_A_STEP_ON)
    change = t.post_message(conv, "visitor", "hi", "m1", A_STEP_ON)
    assert (fields(change), change.reorder) == ({"live_activity_at": A_STEP_ON}, False)

