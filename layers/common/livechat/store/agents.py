"""Agent rows: presence, live connections and the capacity semaphore.

Capacity is one counter (`active`) plus a per-conversation slot marker (`slots[conv] =
offer id`). Claim and release are conditional updates on both (ridden inside the
conversation's transaction, see livechat.store.transaction), so a retried claim or release
is a no-op and the counter can neither pass `max_chats` nor go below zero.
"""

from __future__ import annotations

from collections.abc import Mapping

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from livechat.domain.errors import NotFound
from livechat.domain.snapshots import Agent
from livechat.store import mirror, tables
from livechat.store.keys import AGENT_PK, CURSOR_KIND, cursor_sk
from livechat.store.tables import AgentModel


def roster() -> tuple[list[Agent], dict[str, int]]:
    """Every agent (sorted by e-mail: the round-robin order) and every round-robin cursor's
    last ticket (livechat.store.cursors), in one strongly consistent Query."""
    found: list[Agent] = []
    cursors: dict[str, int] = {}
    for raw in tables.partition_items(AGENT_PK):
        if raw.get("kind", {}).get("S") == CURSOR_KIND:
            cursors[raw["sk"]["S"].removeprefix(cursor_sk(""))] = int(raw.get("value", {}).get("N", "0"))
        else:
            found.append(tables.agent_of(AgentModel.from_raw_data(raw)))
    return found, cursors


def list_agents() -> list[Agent]:
    """Every agent, in one strongly consistent Query (sorted by e-mail)."""
    return roster()[0]


def get_agent(email: str) -> Agent:
    tables.bind()
    try:
        return tables.agent_of(AgentModel.get(AGENT_PK, email, consistent_read=True))
    except AgentModel.DoesNotExist:
        raise NotFound(f"agent {email} not found") from None


def handle(email: str) -> AgentModel:
    """An agent item addressed by key only, for updates that need no read."""
    tables.bind()
    return AgentModel(AGENT_PK, email)


def create_if_absent(email: str, name: str, max_chats: int) -> bool:
    """A profile for an agent who has none; False when one exists."""
    return tables.committed(lambda: AgentModel(AGENT_PK, email, name=name, max_chats=max_chats, slots={}).save(
        condition=AgentModel.pk.does_not_exist()))


def claim(conversation_id: str, offer_id: str, status: str, override_until: str | None
          ) -> tuple[list[Action], Condition]:
    """`status` and `override_until`: the agent's as routing read them, when it found them
    available (livechat.domain.routing computes the effective status from them and the
    schedule): a setStatus committed since fails the claim, which routing takes as "cannot
    take the chat" and moves on."""
    slot = AgentModel.slots[conversation_id]
    override = (AgentModel.override_until == override_until if override_until is not None
                else AgentModel.override_until.does_not_exist())
    return (
        [AgentModel.active.add(1), slot.set(offer_id)],
        (AgentModel.active < AgentModel.max_chats)
        & slot.does_not_exist()
        & (AgentModel.status == status)
        & override
        & (AgentModel.live_chat == True)  # noqa: E712 (a DynamoDB condition, not a bool)
        # Reachable: an inbox connection or a push subscription (protocol.md, second round).
        & (AgentModel.connections.exists() | (AgentModel.push_subscriptions > 0)),
    )


def release(conversation_id: str, offer_id: str) -> tuple[list[Action], Condition]:
    slot = AgentModel.slots[conversation_id]
    return [AgentModel.active.add(-1), slot.remove()], (slot == offer_id) & (AgentModel.active > 0)


def repair_slots(email: str, read: Agent, valid: Mapping[str, str]) -> bool:
    """Set the agent's slots to `valid` (and `active` to their count), only if the row is
    still what was read; False when it changed meanwhile."""
    try:
        handle(email).update(
            actions=[AgentModel.active.set(len(valid)), AgentModel.slots.set(dict(valid))],
            condition=(AgentModel.active == read.active) & (AgentModel.slots == dict(read.slots)),
        )
    except Exception as exc:
        if getattr(exc, "cause_response_code", "") == "ConditionalCheckFailedException":
            return False
        raise
    return True


def set_status(email: str, status: str, override_until: str | None = None) -> None:
    """The status, and the end of the override it makes of the agent's schedule (None:
    the agent has no schedule)."""
    override = (AgentModel.override_until.set(override_until) if override_until is not None
                else AgentModel.override_until.remove())
    handle(email).update(actions=[AgentModel.status.set(status), override], condition=AgentModel.pk.exists())


def add_connection(email: str, connection_id: str) -> None:
    """Add a live connection; the conversations the agent holds mirror it (the update
    returns the item as written, slots included: no read)."""
    item = handle(email)
    item.update(actions=[AgentModel.connections.add({connection_id})], condition=AgentModel.pk.exists())
    mirror.agent_connected(email, connection_id, _held(item))


def remove_connections(email: str, connection_ids: set[str]) -> None:
    if connection_ids:
        item = handle(email)
        item.update(actions=[AgentModel.connections.delete(connection_ids)], condition=AgentModel.pk.exists())
        mirror.agent_disconnected(email, connection_ids, _held(item))


def _held(item: AgentModel) -> list[str]:
    """The conversations whose slot the agent holds (offered or live), as just written."""
    return list((tables.plain(item.slots) or {}).keys())
