"""$connect and $disconnect: who is on which connection, and presence (an agent is
present while they have a live inbox connection)."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger

from livechat.domain.clock import now_iso
from livechat.domain.errors import Conflict, Forbidden, NotFound
from livechat.store import agents, catalog, connections

logger = Logger(child=True)

AGENT = "agent"
VISITOR = "visitor"
_PROFILE_ATTEMPTS = 3


@dataclass(frozen=True)
class Caller:
    connection_id: str
    role: str
    principal: str  # agent e-mail or visitor id


def connect(connection_id: str, role: str, principal: str) -> Caller:
    """Register a connection whose token was verified. Raises Forbidden (refused at the
    handshake) before anything is stored; a failed handshake leaves nothing behind."""
    if role == AGENT:
        _ensure_agent_profile(principal)
    caller = Caller(connection_id, role, principal)
    connections.save(connection_id, role, principal, now_iso())
    try:
        if role == AGENT:
            agents.add_connection(principal, connection_id)
        else:
            connections.add_visitor_connection(principal, connection_id, now_iso())
    except Exception:
        # The handshake fails and API Gateway sends no $disconnect for it: nothing else
        # would ever remove this connection's item.
        connections.delete({connection_id})
        raise
    logger.info("connected", role=role, connection_id=connection_id)
    return caller


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
    found = connections.get(connection_id)
    return Caller(connection_id, *found) if found else None


def disconnect(connection_id: str) -> None:
    """Forget a closed connection. A disconnect never ends a chat: the other side may
    reconnect and resume."""
    caller = caller_of(connection_id)
    if caller is None:
        return
    if caller.role == AGENT:
        try:
            agents.remove_connections(caller.principal, {connection_id})
        except Exception:
            logger.warning("agent gone at disconnect", agent=caller.principal)
    else:
        connections.remove_visitor_connections(caller.principal, {connection_id})
    connections.delete({connection_id})
    logger.info("disconnected", role=caller.role, connection_id=connection_id)


def set_status(email: str, status: str) -> None:
    agents.set_status(email, status)
