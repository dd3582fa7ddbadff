"""Which counters each transition moves (livechat.domain.stats), on plain snapshots: the
dashboard's numbers are decided here, once, as a table."""

from __future__ import annotations

from datetime import date

import pytest
from livechat.domain import stats, transitions
from livechat.domain.errors import BadRequest
from livechat.domain.snapshots import Agent, Conversation
from livechat.domain.states import Status
from livechat.domain.workspace import AgentRouting, RoundRobinRouting, RulesRouting, TeamRouting
from livechat.store.stats import StatsModel

T0 = "2026-12-06T10:00:00.000Z"
T4 = "2026-12-06T10:00:04.000Z"
T10 = "2026-12-06T10:00:10.000Z"
T60 = "2026-12-06T10:01:00.000Z"
ALICE = Agent(email="alice@example.com", name="Alice")
OFFERS = ({"offerId": "o1", "agent": "bob@example.com", "at": T0, "outcome": "expired"},
          {"offerId": "o2", "agent": ALICE.email, "at": "2026-12-06T10:00:01.000Z", "outcome": "pending"})


def conv(status: Status, **fields: object) -> Conversation:
    values: dict[str, object] = {"started_at": T0, "last_activity_at": T0, **fields}
    return Conversation(conversation_id="c1", visitor_id="v1", dialog_id="d1", status=status,
                        **values)  # type: ignore[arg-type]


OFFERED = conv(Status.OFFERED, offer_id="o2", offer_agent=ALICE.email, offers=OFFERS, card_id="live",
               offer_expires_at="2026-12-06T10:01:00.000Z")
ACTIVE = conv(Status.ACTIVE, offer_id="o2", agent=ALICE.email, accepted_at=T4, offers=OFFERS,
              live_activity_at=T4, last_activity_at=T10)


def test_a_request_is_the_chats() -> None:
    change = transitions.request_chat(conv(Status.AUTOMATED), "live", T0)
    assert stats.moves(conv(Status.AUTOMATED), change, T0) == stats.Moves(chat={"requested": 1})


def test_a_request_committed_with_its_first_offer_counts_both() -> None:
    new = conv(Status.AUTOMATED)
    change = transitions.request_and_offer(new, "live", ALICE, "o1", at=T0, expires_at=T60)
    assert stats.moves(new, change, T0) == stats.Moves(
        chat={"requested": 1, "offered": 1}, own={"offered": 1}, agent=ALICE.email)


def test_an_offer_counts_for_the_chat_and_the_agent() -> None:
    routing = conv(Status.ROUTING)
    moved = stats.moves(routing, transitions.offer(routing, ALICE, "o1", T0, T60), T0)
    assert moved == stats.Moves(chat={"offered": 1}, own={"offered": 1}, agent=ALICE.email)


@pytest.mark.parametrize("outcome", ["expired", "declined", "unreachable"])
def test_an_unanswered_offer_counts_by_outcome(outcome: str) -> None:
    moved = stats.moves(OFFERED, transitions.end_offer(OFFERED, "o2", outcome, T10), T10)
    assert moved == stats.Moves(chat={outcome: 1}, own={outcome: 1}, agent=ALICE.email)


def test_an_offer_taken_back_for_the_quota_counts_nothing_itself() -> None:
    assert not stats.moves(OFFERED, transitions.end_offer(OFFERED, "o2", "quota_reached", T10), T10)


def test_an_accept_times_the_chat_from_its_first_offer_and_the_agent_from_theirs() -> None:
    moved = stats.moves(OFFERED, transitions.accept(OFFERED, "o2", ALICE, T4, None), T4)
    assert moved == stats.Moves(chat={"connected": 1, "accept_ms": 4000},
                                own={"connected": 1, "accept_ms": 3000}, agent=ALICE.email)


@pytest.mark.parametrize("reason", stats.FALLBACK_REASONS)
def test_a_fallback_is_missed_by_reason(reason: str) -> None:
    routing = conv(Status.ROUTING)
    moved = stats.moves(routing, transitions.fall_back(routing, reason, "sorry", T10), T10)
    assert moved == stats.Moves(chat={"missed": 1, f"missed_{reason}": 1})


def test_only_the_agents_first_message_is_timed() -> None:
    first = transitions.post_message(ACTIVE, "agent", "hi", "m1", T10)
    assert stats.moves(ACTIVE, first, T10) == stats.Moves(
        chat={"replied": 1, "reply_ms": 6000}, own={"replied": 1, "reply_ms": 6000}, agent=ALICE.email)
    replied = conv(Status.ACTIVE, agent=ALICE.email, accepted_at=T4, first_reply_at=T10)
    assert not stats.moves(replied, transitions.post_message(replied, "agent", "again", "m2", T60), T60)
    assert not stats.moves(ACTIVE, transitions.post_message(ACTIVE, "visitor", "hello", "m3", T10), T10)


def test_a_live_chat_ended_counts_its_length() -> None:
    moved = stats.moves(ACTIVE, transitions.end(ACTIVE, "visitor", T60), T60)
    assert moved == stats.Moves(chat={"ended": 1, "length_ms": 56000}, own={"ended": 1, "length_ms": 56000},
                                agent=ALICE.email)


def test_an_inactivity_end_counts_up_to_the_last_activity() -> None:
    moved = stats.moves(ACTIVE, transitions.expire(ACTIVE, "2026-12-06T10:00:30.000Z", T60), T60)
    assert moved.chat == {"ended": 1, "length_ms": 6000}


def test_a_visitor_leaving_while_offered_abandons_the_chat() -> None:
    assert stats.moves(OFFERED, transitions.end(OFFERED, "visitor", T10), T10) == stats.Moves(
        chat={"abandoned": 1})
    automated = conv(Status.AUTOMATED)
    assert not stats.moves(automated, transitions.end(automated, "visitor", T10), T10)


def test_the_team_is_the_one_the_card_or_its_rule_routes_to() -> None:
    assert stats.team_of(TeamRouting(mode="team", team="emea"), {}) == "emea"
    assert stats.team_of(RoundRobinRouting(mode="round_robin"), {}) is None
    assert stats.team_of(AgentRouting(mode="agent", agent="alice@example.com"), {}) is None
    rules = RulesRouting.model_validate({"mode": "custom_rules", "rules": [
        {"when": {"field": "country", "op": "equals", "value": "FR"}, "route": {"team": "france"}}]})
    assert stats.team_of(rules, {"country": "FR"}) == "france"
    assert stats.team_of(rules, {"country": "DE"}) is None


@pytest.mark.parametrize(("start", "end", "named"), [
    ("2026-12-6", "2026-12-06", "from"), ("2026-12-06", "tomorrow", "to"),
    ("2026-12-06", "2026-12-05", "to"), ("2026-09-01", "2026-12-06", "to")])
def test_a_bad_range_names_its_field(start: str, end: str, named: str) -> None:
    with pytest.raises(BadRequest, match=f"^{named}:"):
        stats.parse_range(start, end)


def test_ninety_two_days_is_the_longest_range() -> None:
    assert stats.parse_range("2026-09-06", "2026-12-06") == (date(2026, 9, 6), date(2026, 12, 6))


def test_the_summary_sums_shards_and_lists_every_day() -> None:
    items = [("2026-12-05", "all", {"requested": 2, "connected": 1, "accept_ms": 3000}),
             ("2026-12-05", "all", {"requested": 1, "connected": 1, "accept_ms": 5000}),
             ("2026-12-05", "agent:alice@example.com", {"connected": 2}),
             ("2026-12-05", "team:emea", {"requested": 3}),
             ("2026-12-09", "all", {"requested": 9})]  # outside: ignored
    body = stats.summarize(date(2026, 12, 4), date(2026, 12, 6), items, {"alice@example.com": "Alice"})
    assert [d["day"] for d in body["days"]] == ["2026-12-04", "2026-12-05", "2026-12-06"]
    assert body["totals"]["requested"] == 3 and body["totals"]["avgTimeToAcceptSeconds"] == 4.0
    assert body["agents"][0]["name"] == "Alice" and body["agents"][0]["connected"] == 2
    assert body["teams"] == [{"team": "emea", **stats.row({"requested": 3})}]


def test_the_stored_item_has_one_attribute_per_counter() -> None:
    stored = {name for name in StatsModel.get_attributes() if name not in ("pk", "sk")}
    assert stored == set(stats.COUNTS)
