"""Round-robin cursors, kept in the agents' partition.

Routing reads every agent and every cursor in one Query (livechat.store.agents.roster),
rotates a pool's candidates by its cursor's next ticket, and moves the cursor in the
offer's own transaction, conditioned on the value it read: two routers that read the same
value cannot both commit, so tickets stay distinct and consecutive (fair under load) and,
when nobody else routes at the same moment, no separate write takes them. The one that
loses takes a ticket with an atomic ADD (`take`), as every router did before.
"""

from __future__ import annotations

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from livechat.store import tables
from livechat.store.keys import AGENT_PK, COUNTER_PK, CURSOR_KIND, cursor_sk, round_robin_sk
from livechat.store.tables import CounterModel, CursorModel


def item(cursor: str) -> CursorModel:
    tables.bind()
    return CursorModel(AGENT_PK, cursor_sk(cursor))


def step(read: int) -> tuple[list[Action], Condition]:
    """Move a cursor from the value routing read to the next ticket, only if unchanged."""
    unchanged = (CursorModel.value == read) if read else (
        CursorModel.value.does_not_exist() | (CursorModel.value == 0))
    return [CursorModel.value.set(read + 1), CursorModel.kind.set(CURSOR_KIND)], unchanged


def take(cursor: str) -> int:
    """Take the next ticket with one UpdateItem ADD, for a router whose conditioned move
    lost to another one: concurrent takers get distinct consecutive tickets."""
    moved = item(cursor)
    moved.update(actions=[CursorModel.value.add(1), CursorModel.kind.set(CURSOR_KIND)])
    return int(moved.value)


def last_ticket(cursor: str) -> int:
    """The last ticket a cursor gave (0 before the first)."""
    try:
        return int(CursorModel.get(AGENT_PK, cursor_sk(cursor), consistent_read=True).value)
    except CursorModel.DoesNotExist:
        return 0


def migrate(cursor: str) -> bool:
    """Move a cursor an earlier release kept under COUNTER into the agents' partition, once:
    True when it was copied now, False when there was none or it was moved already
    (idempotent; run by `livechat apply` for every pool its workspace names)."""
    tables.bind()
    try:
        old = CounterModel.get(COUNTER_PK, round_robin_sk(cursor), consistent_read=True)
    except CounterModel.DoesNotExist:
        return False
    return tables.committed(lambda: CursorModel(AGENT_PK, cursor_sk(cursor), value=int(old.value)).save(
        condition=CursorModel.pk.does_not_exist()))
