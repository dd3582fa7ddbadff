"""Who is on which WebSocket connection: one item per connection (role and principal,
read on every frame), and each visitor's set of live connections (an agent's set lives on
the agent row, see livechat.store.agents)."""

from __future__ import annotations

from livechat.store import tables
from livechat.store.keys import CONNECTION_SK, VISITOR_SK, connection_pk, visitor_pk
from livechat.store.tables import ConnectionModel, VisitorModel


def save(connection_id: str, role: str, principal: str, at: str) -> None:
    tables.bind()
    ConnectionModel(connection_pk(connection_id), CONNECTION_SK, role=role, principal=principal,
                    connected_at=at).save()


def get(connection_id: str) -> tuple[str, str] | None:
    """(role, principal) of a registered connection."""
    tables.bind()
    try:
        item = ConnectionModel.get(connection_pk(connection_id), CONNECTION_SK)
    except ConnectionModel.DoesNotExist:
        return None
    return item.role, item.principal


def delete(connection_ids: set[str]) -> None:
    tables.bind()
    for cid in connection_ids:
        ConnectionModel(connection_pk(cid), CONNECTION_SK).delete()


def visitor_connections(visitor_id: str) -> set[str]:
    tables.bind()
    try:
        item = VisitorModel.get(visitor_pk(visitor_id), VISITOR_SK, consistent_read=True)
    except VisitorModel.DoesNotExist:
        return set()
    return set(item.connections or ())


def add_visitor_connection(visitor_id: str, connection_id: str, at: str) -> None:
    tables.bind()
    VisitorModel(visitor_pk(visitor_id), VISITOR_SK).update(actions=[
        VisitorModel.connections.add({connection_id}),
        VisitorModel.created_at.set(VisitorModel.created_at | at),
    ])


def remove_visitor_connections(visitor_id: str, connection_ids: set[str], *, known: bool = False) -> None:
    """Forget connections of a visitor; with `known`, only if the visitor row exists."""
    tables.bind()
    condition = VisitorModel.pk.exists() if known else None
    VisitorModel(visitor_pk(visitor_id), VISITOR_SK).update(
        actions=[VisitorModel.connections.delete(connection_ids)], condition=condition)

