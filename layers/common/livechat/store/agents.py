"""Agents: presence, live connections and the capacity semaphore.

Capacity is one counter (`active`) plus a per-conversation slot marker (`slots[conv] =
offer id`). Acquire and release are conditional updates on both, so a retried acquire or
release is a no-op and the counter can neither pass `max_chats` nor go below zero.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.expressions.condition import Condition
from pynamodb.expressions.update import Action

from livechat.domain.errors import Conflict, LivechatError, NotFound
from livechat.store import tables as models
from livechat.store.tables import AGENT_PK, AgentModel

AVAILABLE = "available"
AWAY = "away"


def list_agents() -> list[AgentModel]:
    """Every agent in one strongly consistent Query (sorted by e-mail: the round-robin
    order)."""
    models.bind()
    return list(AgentModel.query(AGENT_PK, consistent_read=True))


def get_agent(email: str) -> AgentModel:
    models.bind()
    try:
        return AgentModel.get(AGENT_PK, email, consistent_read=True)
    except AgentModel.DoesNotExist:
        raise NotFound(f"agent {email} not found") from None


def handle(email: str) -> AgentModel:
    """An agent item addressed by key only, for updates that need no read."""
    models.bind()
    return AgentModel(AGENT_PK, email)


def is_eligible(agent: AgentModel) -> bool:
    return (
        bool(agent.live_chat)
        and agent.status == AVAILABLE
        and bool(agent.connections)
        and int(agent.active) < int(agent.max_chats)
    )


def why_not_eligible(agent: AgentModel) -> str | None:
    if not agent.live_chat:
        return "no Live Chat permission"
    if agent.status != AVAILABLE:
        return "away"
    if not agent.connections:
        return "not connected"
    if int(agent.active) >= int(agent.max_chats):
        return "full"
    return None


@dataclass(frozen=True)
class SlotWrite:
    actions: list[Action]
    condition: Condition
    error: type[LivechatError]
    message: str


def acquire(conversation_id: str, offer_id: str) -> SlotWrite:
    slot = AgentModel.slots[conversation_id]
    return SlotWrite(
        actions=[AgentModel.active.add(1), slot.set(offer_id)],
        condition=(
            (AgentModel.active < AgentModel.max_chats)
            & slot.does_not_exist()
            & (AgentModel.status == AVAILABLE)
            & (AgentModel.live_chat == True)  # noqa: E712 (a DynamoDB condition, not a bool)
            & AgentModel.connections.exists()
        ),
        error=Conflict,
        message="agent can no longer take this chat",
    )


def release(conversation_id: str, offer_id: str) -> SlotWrite:
    slot = AgentModel.slots[conversation_id]
    return SlotWrite(
        actions=[AgentModel.active.add(-1), slot.remove()],
        condition=(slot == offer_id) & (AgentModel.active > 0),
        error=Conflict,
        message="slot already released",
    )


def set_status(email: str, status: str) -> None:
    handle(email).update(
        actions=[AgentModel.status.set(status)],
        condition=AgentModel.pk.exists(),
    )


def add_connection(email: str, connection_id: str) -> None:
    handle(email).update(
        actions=[AgentModel.connections.add({connection_id})],
        condition=AgentModel.pk.exists(),
    )


def remove_connections(email: str, connection_ids: set[str]) -> None:
    if connection_ids:
        handle(email).update(
            actions=[AgentModel.connections.delete(connection_ids)],
            condition=AgentModel.pk.exists(),
        )
