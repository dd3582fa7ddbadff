"""The performance dashboard's counters (issue 16), as pure functions.

Counters are kept as chats happen: each transition's Change moves a few numbers (`moves`),
which the store adds to small counter items in the transition's own transaction
(livechat.store.stats), so a view of the dashboard reads counters, never conversations.
A number is counted on the UTC day of the transition that moves it (a chat requested at
23:59 and accepted at 00:01 is requested on one day and connected on the next).

Scopes: the whole workspace (`all`), the team the card's routing (or its matched rule)
names (`team:<name>`; none for round robin or a named agent), and the agent concerned
(`agent:<email>`: the one offered, the one who accepted).

What is counted, and from which Change:
- requested: automated → routing (every request, also the ones that fall back at once);
- offered / expired / declined / unreachable: an offer made, an offer ended unanswered;
- connected: offered → active, with the time to accept: per chat (all, team) from the
  request's first offer, which is made as the chat is requested (what the visitor waited);
  per agent from their own offer (how long they took to answer);
- missed, and missed by reason: → fallback (`not_accepted`, `no_agent`, `no_rule_matched`,
  `quota_reached`); abandoned: the visitor left while the chat was routed or offered;
- first response: the agent's first message of the chat, timed from the accept;
- chat length: a live chat ended (by either side: accept → end; by inactivity: accept →
  its last activity, not the sweep's time).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from livechat.domain import routing
from livechat.domain.change import Change
from livechat.domain.clock import parse_iso
from livechat.domain.errors import BadRequest
from livechat.domain.snapshots import Conversation
from livechat.domain.states import Status
from livechat.domain.workspace import Routing

ALL = "all"
AGENT_PREFIX = "agent:"
TEAM_PREFIX = "team:"
MAX_DAYS = 92  # the longest range one getStats reads (a quarter)

FALLBACK_REASONS = ("not_accepted", "no_agent", "no_rule_matched", "quota_reached")
UNANSWERED = ("expired", "declined", "unreachable")

# Every counter, as the store keeps it (one number attribute each).
COUNTS = ("requested", "offered", "connected", "missed", *(f"missed_{r}" for r in FALLBACK_REASONS),
          "abandoned", *UNANSWERED, "accept_ms", "replied", "reply_ms", "ended", "length_ms")


def agent_scope(email: str) -> str:
    return f"{AGENT_PREFIX}{email}"


def team_scope(name: str) -> str:
    return f"{TEAM_PREFIX}{name}"


@dataclass(frozen=True)
class Moves:
    """What one Change adds: `chat` to the workspace's and the team's counters, `own` to
    the agent's (`agent`)."""

    chat: Mapping[str, int] = field(default_factory=dict)
    own: Mapping[str, int] = field(default_factory=dict)
    agent: str | None = None

    def __bool__(self) -> bool:
        return bool(self.chat or self.own)


def _ms(start: str | None, end: str | None) -> int:
    if not start or not end:
        return 0
    return max(0, int((parse_iso(end) - parse_iso(start)).total_seconds() * 1000))


def moves(conv: Conversation, change: Change, at: str) -> Moves:
    """The counters `change` (planned on `conv`, committed at `at`) moves."""
    status = change.set.get("status")
    if conv.status == Status.AUTOMATED and change.new_offer is not None:
        # The request and its first offer, one transaction (transitions.request_and_offer)
        return Moves(chat={"requested": 1, "offered": 1}, own={"offered": 1},
                     agent=str(change.new_offer["agent"]))
    if status == Status.ROUTING and conv.status == Status.AUTOMATED:
        return Moves(chat={"requested": 1})
    if change.new_offer is not None:
        return Moves(chat={"offered": 1}, own={"offered": 1}, agent=str(change.new_offer["agent"]))
    if status == Status.ROUTING and conv.status == Status.OFFERED and change.offer_outcome is not None:
        outcome = change.offer_outcome[1]
        if outcome not in UNANSWERED:
            return Moves()  # taken back (quota): the chat's own fallback says it
        return Moves(chat={outcome: 1}, own={outcome: 1}, agent=conv.offer_agent)
    if status == Status.ACTIVE:
        accepted = str(change.set.get("accepted_at") or at)
        index = conv.offer_index(conv.offer_id) if conv.offer_id else None
        own_offer = conv.offers[index].get("at") if index is not None else None
        first_offer = conv.offers[0].get("at") if conv.offers else own_offer
        return Moves(chat={"connected": 1, "accept_ms": _ms(first_offer, accepted)},
                     own={"connected": 1, "accept_ms": _ms(own_offer, accepted)},
                     agent=str(change.set.get("agent") or conv.offer_agent))
    if status == Status.FALLBACK:
        reason = str(change.set.get("fallback_reason") or "")
        chat = {"missed": 1}
        if reason in FALLBACK_REASONS:
            chat[f"missed_{reason}"] = 1
        return Moves(chat=chat)
    if "first_reply_at" in change.set and conv.status == Status.ACTIVE:
        took = {"replied": 1, "reply_ms": _ms(conv.accepted_at, str(change.set["first_reply_at"]))}
        return Moves(chat=took, own=took, agent=conv.agent)
    if status in (Status.ENDED, Status.EXPIRED):
        if conv.status == Status.ACTIVE:
            end = conv.last_activity_at if status == Status.EXPIRED else str(change.set.get("ended_at") or at)
            length = {"ended": 1, "length_ms": _ms(conv.accepted_at, end)}
            return Moves(chat=length, own=length, agent=conv.agent)
        if conv.status in (Status.ROUTING, Status.OFFERED):
            return Moves(chat={"abandoned": 1})
    return Moves()


def team_of(card_routing: Routing, attrs: Mapping[str, str]) -> str | None:
    """The team a chat is counted for: the one its card's routing (or the rule it matched)
    names first; None for round robin or a named agent."""
    card = routing.plan(card_routing, attrs, [])
    first = card.pools[0].name if card.pools else ""
    return first.removeprefix(TEAM_PREFIX) if first.startswith(TEAM_PREFIX) else None


# --- reading ----------------------------------------------------------------------------

def day_of(at: str) -> str:
    return at[:10]


def parse_range(start: str, end: str) -> tuple[date, date]:
    """The inclusive UTC date range of a getStats, or BadRequest naming the field."""
    days: list[date] = []
    for name, value in (("from", start), ("to", end)):
        try:
            if len(value) != 10:
                raise ValueError(value)
            days.append(date.fromisoformat(value))
        except ValueError:
            raise BadRequest(f"{name}: a UTC date as YYYY-MM-DD is required") from None
    first, last = days
    if last < first:
        raise BadRequest("to: must not be before from")
    if (last - first).days + 1 > MAX_DAYS:
        raise BadRequest(f"to: at most {MAX_DAYS} days from `from`")
    return first, last


def days_between(first: date, last: date) -> list[str]:
    return [(first + timedelta(days=n)).isoformat() for n in range((last - first).days + 1)]


def _avg_seconds(total_ms: int, count: int) -> float | None:
    return round(total_ms / count / 1000, 1) if count else None


def row(counts: Mapping[str, int]) -> dict[str, Any]:
    """One row of the `stats` event from summed counters."""
    c = {name: int(counts.get(name, 0)) for name in COUNTS}
    return {
        "requested": c["requested"], "connected": c["connected"], "missed": c["missed"],
        "missedByReason": {r: c[f"missed_{r}"] for r in FALLBACK_REASONS},
        "abandoned": c["abandoned"], "offered": c["offered"],
        "offersExpired": c["expired"], "offersDeclined": c["declined"],
        "offersUnreachable": c["unreachable"],
        "avgTimeToAcceptSeconds": _avg_seconds(c["accept_ms"], c["connected"]),
        "firstResponses": c["replied"],
        "avgFirstResponseSeconds": _avg_seconds(c["reply_ms"], c["replied"]),
        "chatsEnded": c["ended"],
        "avgChatLengthSeconds": _avg_seconds(c["length_ms"], c["ended"]),
    }


def _add(into: dict[str, int], counts: Mapping[str, int]) -> None:
    for name, n in counts.items():
        into[name] = into.get(name, 0) + int(n)


def summarize(first: date, last: date, items: Iterable[tuple[str, str, Mapping[str, int]]],
              names: Mapping[str, str]) -> dict[str, Any]:
    """The `stats` event's body from counter items (day, scope, counts; shards summed
    here): every day of the range (zeros included), the agents and teams with any count,
    and the totals. `names`: agents' display names by e-mail."""
    per_day: dict[str, dict[str, int]] = {d: {} for d in days_between(first, last)}
    per_scope: dict[str, dict[str, int]] = {}
    for day, scope, counts in items:
        if scope == ALL:
            if day in per_day:
                _add(per_day[day], counts)
        elif day in per_day:
            _add(per_scope.setdefault(scope, {}), counts)
    totals: dict[str, int] = {}
    for counts in per_day.values():
        _add(totals, counts)
    agents = sorted((s.removeprefix(AGENT_PREFIX), c) for s, c in per_scope.items() if s.startswith(AGENT_PREFIX))
    teams = sorted((s.removeprefix(TEAM_PREFIX), c) for s, c in per_scope.items() if s.startswith(TEAM_PREFIX))
    return {
        "from": first.isoformat(), "to": last.isoformat(),
        "totals": row(totals),
        "days": [{"day": d, **row(c)} for d, c in per_day.items()],
        "agents": [{"agent": email, "name": names.get(email, email), **row(c)} for email, c in agents],
        "teams": [{"team": name, **row(c)} for name, c in teams],
    }
