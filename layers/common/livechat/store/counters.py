"""Atomic counters: round-robin cursors (one ticket per routing decision) and the
engagement quota."""

from __future__ import annotations

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from livechat.store import tables
from livechat.store.keys import COUNTER_PK, ENGAGEMENTS, round_robin_sk
from livechat.store.tables import CounterModel


def next_ticket(cursor: str) -> int:
    """Take the next ticket of a cursor. One UpdateItem ADD: concurrent routers get
    distinct consecutive tickets, which is what makes round-robin fair under load."""
    tables.bind()
    item = CounterModel(COUNTER_PK, round_robin_sk(cursor))
    item.update(actions=[CounterModel.value.add(1)])
    return int(item.value)


def read(name: str) -> int:
    tables.bind()
    try:
        return int(CounterModel.get(COUNTER_PK, name, consistent_read=True).value)
    except CounterModel.DoesNotExist:
        return 0


def engagements_used() -> int:
    return read(ENGAGEMENTS)


def count_engagement(limit: int | None) -> tuple[CounterModel, list[Action], Condition | None]:
    """The counter update that rides in the accept's transaction, refused at `limit`."""
    tables.bind()
    condition = None
    if limit is not None:
        condition = CounterModel.value.does_not_exist() | (CounterModel.value < limit)
    return CounterModel(COUNTER_PK, ENGAGEMENTS), [CounterModel.value.add(1)], condition


def last_ticket(cursor: str) -> int:
    """The last ticket a round-robin cursor gave (0 before the first)."""
    return read(round_robin_sk(cursor))
