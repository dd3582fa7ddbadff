"""Upgrading what an earlier release stored, run by `livechat apply` after its changes.

Each step is a conditional write that does nothing once done, so a run is idempotent and a
run cut short is finished by the next one (resumable). New fields otherwise default when
absent, so the code also works on items not upgraded yet: a step only restores what an
upgrade would otherwise lose or pay for.

- **Round-robin cursors** moved from the COUNTER partition into the agents' partition
  (livechat.store.cursors): copied once, so the rotation goes on where it was instead of
  starting again at the first agent.
- **The agent's connections mirrored on the conversations they hold** (livechat.store.mirror):
  filled for offers and chats open at the upgrade, so their broadcasts stop reading the
  agent item (before, they read it: correct, one round trip more).
- **Visitor items keyed by the visitor's handle** (livechat.store.keys.visitor_handle), not
  by the id: a visitor connected across the upgrade has their live connections on the old
  key, which this release no longer reads; they are added to the new item and the old one
  is deleted. Finding them takes one Scan of the table (a filter on the key), once: a
  marker item records that it ran to the end, and later runs skip it.
"""

from __future__ import annotations

from dataclasses import dataclass

from livechat.domain.clock import VISITOR_ID_PREFIX
from livechat.store import agents, cursors, mirror, tables
from livechat.store.keys import (
    CONFIG_PK,
    COUNTER_PK,
    VISITOR_SK,
    legacy_visitor_pk,
    round_robin_sk,
    visitor_pk,
)
from livechat.store.tables import CounterModel, VisitorModel
from pynamodb.expressions.update import Action


@dataclass(frozen=True)
class Upgrade:
    cursors: int  # moved now
    conversations: int  # mirrored now
    visitors: int = 0  # visitor items moved now

    def line(self) -> str | None:
        """What was upgraded; None when nothing needed it (said nothing: the usual case)."""
        if not self.cursors and not self.conversations and not self.visitors:
            return None
        return (f"stored items upgraded: {self.cursors} round-robin cursor(s) moved, "
                f"{self.conversations} open conversation(s) given their agent's connections, "
                f"{self.visitors} visitor item(s) moved to their handle")


def _old_cursors() -> list[str]:
    tables.bind()
    prefix = round_robin_sk("")
    return [item.sk.removeprefix(prefix) for item in CounterModel.query(
        COUNTER_PK, CounterModel.sk.startswith(prefix), consistent_read=True)]


VISITOR_KEYS_MOVED = "MIGRATED#visitor-keys"  # sk of the marker under CONFIG_PK
_LEGACY_VISITOR = "VISITOR#" + VISITOR_ID_PREFIX
LEGACY_ID_LENGTH = len(VISITOR_ID_PREFIX) + 22  # "v_" + token_urlsafe(16)


def _move_visitors() -> int:
    """Move every visitor item still keyed by the id (a Scan, once: see the module)."""
    tables.bind()
    try:
        CounterModel.get(CONFIG_PK, VISITOR_KEYS_MOVED, consistent_read=True)
        return 0
    except CounterModel.DoesNotExist:
        pass
    moved = 0
    for item in VisitorModel.scan(VisitorModel.pk.startswith(_LEGACY_VISITOR) & (VisitorModel.sk == VISITOR_SK)):
        visitor_id = item.pk.removeprefix("VISITOR#")
        if len(visitor_id) != LEGACY_ID_LENGTH:
            continue  # a handle (16 characters) that happens to start like an id does
        actions: list[Action] = [VisitorModel.created_at.set(VisitorModel.created_at | (item.created_at or ""))]
        if item.connections:
            actions.append(VisitorModel.connections.add(set(item.connections)))
        if item.expiration is not None:
            actions.append(VisitorModel.expiration.set(VisitorModel.expiration | int(item.expiration)))
        VisitorModel(visitor_pk(visitor_id), VISITOR_SK).update(actions=actions)
        VisitorModel(legacy_visitor_pk(visitor_id), VISITOR_SK).delete()
        moved += 1
    CounterModel(CONFIG_PK, VISITOR_KEYS_MOVED, value=moved).save()
    return moved


def run() -> Upgrade:
    moved = sum(cursors.migrate(name) for name in _old_cursors())
    mirrored = 0
    for agent in agents.list_agents():
        for conversation_id in sorted(agent.slots):
            mirrored += mirror.backfill(conversation_id, agent.email, agent.connections)
    return Upgrade(moved, mirrored, _move_visitors())
