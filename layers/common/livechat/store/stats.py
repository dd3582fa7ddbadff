"""The performance dashboard's counter items (livechat.domain.stats says what is counted).

| item    | pk               | sk               | written by                                 |
|---------|------------------|------------------|--------------------------------------------|
| counter | STATS#<shard>    | <day>#<scope>    | ADD, inside a transition's transaction     |

Writing: the counters a Change moves ride in its own transaction (store.transaction),
one small item per scope it touches (the workspace, the card's team, the agent), all in
one shard chosen at random among SHARDS: ADD with no condition cannot fail, and two
transactions touching the same item at once (which DynamoDB cancels with
TransactionConflict, and apply() then plans again) are two that picked the same shard,
about one pair in SHARDS, instead of every pair of concurrent accepts on one hot item.
No round trip is added: the items ride in the transaction that is made anyway.

Reading: one Query per shard (sk between the range's first and last day), summed here;
the cost is the size of the items read (docs/performance.md, "Dashboard: what it costs").
The counters hold no visitor data and carry no TTL; agents are named by e-mail in them.
"""

from __future__ import annotations

import random
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from pynamodb.attributes import NumberAttribute
from pynamodb.expressions.update import Action

from livechat import runtime
from livechat.domain import stats
from livechat.domain.change import Change
from livechat.domain.clock import now_iso
from livechat.domain.errors import LivechatError
from livechat.domain.rules import visitor_attributes
from livechat.domain.snapshots import Conversation
from livechat.store import catalog, tables

SHARDS = 8  # raising it later is safe (reads cover every shard up to it); lowering loses counts
STATS_PREFIX = "STATS#"


def stats_pk(shard: int) -> str:
    return f"{STATS_PREFIX}{shard}"


def stats_sk(day: str, scope: str) -> str:
    return f"{day}#{scope}"


class StatsModel(tables._Item):
    """One scope's counters of one UTC day in one shard; an absent attribute is zero.
    The attributes are livechat.domain.stats.COUNTS (a unit test checks they agree)."""

    requested = NumberAttribute(null=True)
    offered = NumberAttribute(null=True)
    connected = NumberAttribute(null=True)
    missed = NumberAttribute(null=True)
    missed_not_accepted = NumberAttribute(null=True)
    missed_no_agent = NumberAttribute(null=True)
    missed_no_rule_matched = NumberAttribute(null=True)
    missed_quota_reached = NumberAttribute(null=True)
    abandoned = NumberAttribute(null=True)
    expired = NumberAttribute(null=True)
    declined = NumberAttribute(null=True)
    unreachable = NumberAttribute(null=True)
    accept_ms = NumberAttribute(null=True)
    replied = NumberAttribute(null=True)
    reply_ms = NumberAttribute(null=True)
    ended = NumberAttribute(null=True)
    length_ms = NumberAttribute(null=True)


@runtime.on_reset
def _unbind() -> None:
    StatsModel._connection = None


def _team(conv: Conversation, change: Change) -> str | None:
    """The card's team (livechat.domain.stats.team_of), from the dialog as the container
    keeps it (store.catalog: no read on the hot path once cached)."""
    card_id = change.set.get("card_id") or conv.card_id
    if not card_id:
        return None
    try:
        card = catalog.get_dialog(conv.dialog_id).live_chat_card(str(card_id))
    except LivechatError:
        return None  # the dialog was removed meanwhile: counted for the workspace only
    if card is None:
        return None
    return stats.team_of(card.routing, visitor_attributes(conv.visitor, conv.page))


def updates(conv: Conversation, change: Change, *, shard: int | None = None
            ) -> list[tuple[StatsModel, list[Action]]]:
    """The counter items `change` moves and their ADD actions (none when it moves none),
    for store.transaction to put in the change's own transaction."""
    at = now_iso()
    moved = stats.moves(conv, change, at)
    if not moved:
        return []
    tables.bind()
    pk = stats_pk(random.randrange(SHARDS) if shard is None else shard)
    day = stats.day_of(at)
    scoped: list[tuple[str, Mapping[str, int]]] = []
    if moved.chat:
        scoped.append((stats.ALL, moved.chat))
        team = _team(conv, change)
        if team:
            scoped.append((stats.team_scope(team), moved.chat))
    if moved.own and moved.agent:
        scoped.append((stats.agent_scope(moved.agent), moved.own))
    return [(StatsModel(pk, stats_sk(day, scope)),
             [getattr(StatsModel, name).add(n) for name, n in counts.items()])
            for scope, counts in scoped]


@dataclass
class ReadCost:
    """What one read of the counters took: Queries, pages, items, and the bytes DynamoDB
    bills for (attribute names and values, as its item size is computed)."""

    queries: int = 0
    pages: int = 0
    items: int = 0
    bytes: int = 0

    @property
    def read_units(self) -> float:
        """Eventually consistent: half a unit per 4 KB, rounded up per Query page (an
        estimate from item sizes: pages are the Query's, sizes are summed per Query)."""
        return 0.5 * max(self.pages, -(-self.bytes // 4096))


def _size(raw: Mapping[str, Any]) -> int:
    """An item's size as DynamoDB bills it: each attribute's name plus its value (a string's
    UTF-8 bytes; a number about one byte per two significant digits, plus one)."""
    size = 0
    for name, value in raw.items():
        size += len(name.encode())
        if "S" in value:
            size += len(str(value["S"]).encode())
        elif "N" in value:
            size += (len(str(value["N"]).strip("-").replace(".", "")) + 1) // 2 + 1
    return size


def read(first: date, last: date, cost: ReadCost | None = None) -> Iterator[tuple[str, str, dict[str, int]]]:
    """Every counter item of the days `first`..`last`: (day, scope, counts), one per item
    and shard (the caller sums). One Query per shard, eventually consistent (a count that
    just moved shows on the next view)."""
    tables.bind()
    cost = cost if cost is not None else ReadCost()
    low, high = f"{first.isoformat()}#", f"{last.isoformat()}$"  # '$' sorts right after '#'
    for shard in range(SHARDS):
        cost.queries += 1
        result = StatsModel.query(stats_pk(shard), StatsModel.sk.between(low, high))
        for page in result.page_iter:
            cost.pages += 1
            for raw in page.get("Items", []):
                cost.items += 1
                cost.bytes += _size(raw)
                item = StatsModel.from_raw_data(raw)
                day, scope = item.sk.split("#", 1)
                yield day, scope, {n: int(v) for n in stats.COUNTS if (v := getattr(item, n)) is not None}
