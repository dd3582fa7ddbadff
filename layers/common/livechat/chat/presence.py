"""$connect and $disconnect: who is on which connection, and presence (an agent is
present while they have a live inbox connection).

A visitor's $connect (spec/protocol.md, second round) is also where two abuse controls sit:
- **Origins**: with `settings.allowed_origins` set, a handshake whose `Origin` is not in it
  (or has none) is refused (403) before anything is stored. Agents' handshakes are not
  checked: their tokens are issued by Cognito to users the admin made (an origin proves
  nothing more), and the inbox is served by the deployment itself.
- **Connections per visitor**: at most `connections_per_visitor` live connections, as the
  condition `size(connections) < n` of the UpdateItem that adds this one to the visitor's
  set (no extra round trip when accepted); one more is refused (429) and its connection
  item, written just before, is deleted again: nothing stays stored. A connection stays
  counted until its $disconnect (or a delivery answering 410) removes it; API Gateway sends
  $disconnect when a client closes, and after 10 idle minutes for a socket that died
  silently. So that a lost $disconnect cannot lock a visitor out for good, a refused
  handshake first drops from the set the connections that cannot be alive any more (no
  connection item, or registered more than API Gateway's 2-hour maximum ago) and tries once
  more; those reads happen only on refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from aws_lambda_powertools import Logger

from livechat import runtime
from livechat.domain import routing, schedules
from livechat.domain.clock import iso, now, now_iso
from livechat.domain.errors import Conflict, Forbidden, LivechatError, NotFound
from livechat.domain.limits import effective
from livechat.domain.origins import allowed
from livechat.domain.retention import DEFAULT_DAYS as DEFAULT_RETENTION_DAYS
from livechat.domain.schedules import Effective
from livechat.domain.workspace import WorkspaceSettings
from livechat.store import agents, catalog, connections

logger = Logger(child=True)

AGENT = "agent"
VISITOR = "visitor"
_PROFILE_ATTEMPTS = 3
# API Gateway closes every WebSocket connection after 2 hours at the latest.
MAX_CONNECTION_AGE = timedelta(hours=2)


class TooManyConnections(LivechatError):
    """A visitor's connection over `connections_per_visitor` (HTTP 429 at $connect). Not a
    windowed limit: it lifts as soon as one of the visitor's connections closes."""

    code = "RATE_LIMITED"


@dataclass(frozen=True)
class Caller:
    connection_id: str
    role: str
    principal: str  # agent e-mail or visitor id


def connect(connection_id: str, role: str, principal: str, *, origin: str | None = None) -> Caller:
    """Register a connection whose token was verified (`origin`: the handshake's `Origin`
    header). Raises Forbidden (refused at the handshake) before anything is stored, and
    TooManyConnections with nothing left stored; a failed handshake leaves nothing behind."""
    limit, retention_days = None, DEFAULT_RETENTION_DAYS
    if role == AGENT:
        _ensure_agent_profile(principal)
    else:
        limit, retention_days = _admit_visitor(origin)
    caller = Caller(connection_id, role, principal)
    connections.save(connection_id, role, principal, now_iso())
    try:
        if role == AGENT:
            agents.add_connection(principal, connection_id)
        elif not _add_visitor_connection(principal, connection_id, limit, retention_days):
            raise TooManyConnections(f"too many connections: at most {limit} per visitor")
    except Exception:
        # The handshake fails and API Gateway sends no $disconnect for it: nothing else
        # would ever remove this connection's item.
        connections.delete({connection_id})
        raise
    logger.info("connected", role=role, connection_id=connection_id)
    return caller


def _admit_visitor(origin: str | None) -> tuple[int | None, int]:
    """Refuse a visitor's handshake from an origin not allowed (Forbidden); the connection
    limit in force, if any, and the retention (days) the visitor's item is written with."""
    settings: WorkspaceSettings = catalog.get_workspace_settings()
    if not allowed(origin, settings.allowed_origins):
        raise Forbidden("this site may not connect to the chat (Origin not allowed)")
    rules = effective(settings, defaults=runtime.get_settings().default_rate_limits)
    return (rules.connections_per_visitor if rules is not None else None), settings.retention_days


def _add_visitor_connection(visitor_id: str, connection_id: str, limit: int | None, retention_days: int) -> bool:
    """Add the connection under the limit; at the limit, forget the visitor's connections
    that cannot be alive and try once more."""
    if connections.add_visitor_connection(visitor_id, connection_id, now_iso(), limit=limit,
                                          retention_days=retention_days):
        return True
    held = connections.visitor_connections(visitor_id) - {connection_id}
    oldest_alive = iso(now() - MAX_CONNECTION_AGE)
    dead = {cid for cid, at in connections.connected_at(held).items() if at is None or at < oldest_alive}
    if not dead:
        return False
    logger.info("forgetting dead visitor connections at the limit", count=len(dead))
    connections.remove_visitor_connections(visitor_id, dead, known=True)
    connections.delete(dead)
    return connections.add_visitor_connection(visitor_id, connection_id, now_iso(), limit=limit,
                                              retention_days=retention_days)


def _ensure_agent_profile(email: str) -> None:
    """A Cognito user in the LiveChat group whom no workspace described yet still gets a
    profile, with the deployment's default limit."""
    for _ in range(_PROFILE_ATTEMPTS):
        max_chats = catalog.get_workspace_settings().default_max_chats
        if agents.create_if_absent(email, email.split("@", maxsplit=1)[0], max_chats):
            return
        try:
            agent = agents.get_agent(email)
        except NotFound:
            # The create was refused as if the row existed, and now it does not: it was
            # removed in between (or the refusal was spurious). Create it again.
            continue
        # An agent the admin removed keeps a valid ID token for up to an hour after the
        # global sign-out: the row's permission, not only the token's group, decides.
        if not agent.live_chat:
            raise Forbidden("the Live Chat permission was revoked")
        return
    raise Conflict("the agent's profile kept changing while connecting; connect again")


def caller_of(connection_id: str) -> Caller | None:
    """The caller a connection item names: for a connection whose events carry no
    authorizer context (opened before the authorizer was deployed; livechat.api.gateway)."""
    found = connections.get(connection_id)
    return Caller(connection_id, *found) if found else None


def disconnect(caller: Caller) -> None:
    """Forget a closed connection. A disconnect never ends a chat: the other side may
    reconnect and resume. The caller comes from the authorizer's context, so the agent's or
    visitor's item may be gone already (an agent removed, a visitor erased): it is only
    updated where it still exists, never written back."""
    connection_id = caller.connection_id
    try:
        if caller.role == AGENT:
            agents.remove_connections(caller.principal, {connection_id})
        else:
            connections.remove_visitor_connections(caller.principal, {connection_id}, known=True)
    except Exception:
        logger.warning("party gone at disconnect", role=caller.role)
    connections.delete({connection_id})
    logger.info("disconnected", role=caller.role, connection_id=connection_id)


def set_status(email: str, status: str) -> Effective:
    """The agent's own toggle. With a schedule it overrides it until the next boundary or
    local midnight (workspace.md); the answer is the effective status it leaves."""
    agent = agents.get_agent(email)
    at = now()
    override = iso(schedules.override_end(agent.schedule, at)) if agent.schedule else None
    agents.set_status(email, status, override)
    return routing.presence(replace(agent, status=status, override_until=override), at)
