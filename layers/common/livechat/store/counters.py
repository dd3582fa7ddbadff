"""Atomic counters: round-robin cursors (one ticket per routing decision)."""

from __future__ import annotations

from livechat.store import tables as models
from livechat.store.tables import COUNTER_PK, CounterModel


def next_ticket(name: str) -> int:
    """Take the next ticket of a cursor. One UpdateItem ADD: concurrent routers get
    distinct consecutive tickets, which is what makes round-robin fair under load."""
    models.bind()
    item = CounterModel(COUNTER_PK, f"RR#{name}")
    item.update(actions=[CounterModel.value.add(1)])
    return int(item.value)


def read(name: str) -> int:
    models.bind()
    try:
        return int(CounterModel.get(COUNTER_PK, name, consistent_read=True).value)
    except CounterModel.DoesNotExist:
        return 0
