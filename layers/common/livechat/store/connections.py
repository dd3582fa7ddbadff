"""Who is on which WebSocket connection: one item per connection (role and principal,
read on every frame), and each visitor's set of live connections (an agent's set lives on
the agent row, see livechat.store.agents)."""

from __future__ import annotations

from pynamodb.exceptions import UpdateError
from pynamodb.expressions.operand import _Size  # DynamoDB's size(path); condition.size is untyped

from livechat.domain import retention
from livechat.domain.clock import parse_iso
from livechat.store import tables
from livechat.store.keys import CONNECTION_SK, VISITOR_SK, connection_pk, visitor_pk
from livechat.store.tables import ConnectionModel, VisitorModel

# A connection item expires by the table's TTL a day after it opened: API Gateway closes
# every connection within two hours, so only an item a lost $disconnect left behind is ever
# deleted this way.
CONNECTION_TTL_DAYS = 1


def save(connection_id: str, role: str, principal: str, at: str) -> None:
    tables.bind()
    ConnectionModel(connection_pk(connection_id), CONNECTION_SK, role=role, principal=principal,
                    connected_at=at, expiration=retention.expiration(parse_iso(at), CONNECTION_TTL_DAYS)).save()


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


def add_visitor_connection(visitor_id: str, connection_id: str, at: str, *,
                           limit: int | None = None, retention_days: int = retention.DEFAULT_DAYS) -> bool:
    """Add a connection to the visitor's set. With `limit`, only while the set holds fewer
    (`connections_per_visitor`): the condition rides on this one UpdateItem, so the check
    costs no extra round trip and holds across instances; False (nothing written) at the
    limit. An emptied string set is removed by DynamoDB, hence `does_not_exist`."""
    tables.bind()
    condition = None
    if limit is not None:
        condition = VisitorModel.connections.does_not_exist() | (_Size(VisitorModel.connections) < limit)
    try:
        VisitorModel(visitor_pk(visitor_id), VISITOR_SK).update(actions=[
            VisitorModel.connections.add({connection_id}),
            VisitorModel.created_at.set(VisitorModel.created_at | at),
            # Personal data: the item goes `retention_days` after the visitor's last connect.
            VisitorModel.expiration.set(retention.expiration(parse_iso(at), retention_days)),
        ], condition=condition)
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False
        raise
    return True


def connected_at(connection_ids: set[str]) -> dict[str, str | None]:
    """When each connection was registered (its item's `connected_at`); None for one whose
    item is gone. One GetItem each: read only when a visitor is at the connection limit."""
    tables.bind()
    found: dict[str, str | None] = {}
    for cid in connection_ids:
        try:
            found[cid] = ConnectionModel.get(connection_pk(cid), CONNECTION_SK, consistent_read=True).connected_at
        except ConnectionModel.DoesNotExist:
            found[cid] = None
    return found


def remove_visitor_connections(visitor_id: str, connection_ids: set[str], *, known: bool = False) -> None:
    """Forget connections of a visitor; with `known`, only if the visitor row exists."""
    tables.bind()
    condition = VisitorModel.pk.exists() if known else None
    VisitorModel(visitor_pk(visitor_id), VISITOR_SK).update(
        actions=[VisitorModel.connections.delete(connection_ids)], condition=condition)

