"""$connect and $disconnect: who is on which connection, and presence."""

from __future__ import annotations

from dataclasses import dataclass

from aws_lambda_powertools import Logger
from pynamodb.exceptions import PutError

from livechat.api import auth
from livechat.domain.clock import now_iso
from livechat.domain.errors import Conflict, Forbidden, NotFound, Unauthorized
from livechat.outbound.delivery import connection_pk, visitor_pk
from livechat.store import agents, catalog
from livechat.store import tables as models
from livechat.store.tables import AGENT_PK, AgentModel, ConnectionModel, VisitorModel

logger = Logger(child=True)

AGENT = "agent"
VISITOR = "visitor"


@dataclass(frozen=True)
class Caller:
    connection_id: str
    role: str
    principal: str  # agent e-mail or visitor id


def connect(connection_id: str, query: dict[str, str]) -> Caller:
    """Verify the token in the query string and register the connection. Raises
    Unauthorized/Forbidden (refused at the handshake) before anything is stored."""
    models.bind()
    if query.get("token"):
        agent = auth.verify_agent_token(query["token"])
        _ensure_agent_profile(agent.email)
        caller = Caller(connection_id, AGENT, agent.email)
    elif query.get("visitorToken"):
        visitor = auth.verify_visitor_token(query["visitorToken"])
        caller = Caller(connection_id, VISITOR, visitor.visitor_id)
    else:
        raise Unauthorized("a token (agent) or visitorToken (visitor) is required")
    item = ConnectionModel(
        connection_pk(connection_id), "CONN",
        role=caller.role, principal=caller.principal, connected_at=now_iso(),
    )
    item.save()
    try:
        if caller.role == AGENT:
            agents.add_connection(caller.principal, connection_id)
        else:
            VisitorModel(visitor_pk(caller.principal), "VISITOR").update(
                actions=[VisitorModel.connections.add({connection_id}),
                         VisitorModel.created_at.set(
                             VisitorModel.created_at | now_iso())],
            )
    except Exception:
        # The handshake fails and API Gateway sends no $disconnect for it: nothing else
        # would ever remove this connection's item.
        item.delete()
        raise
    logger.info("connected", role=caller.role, connection_id=connection_id)
    return caller


_PROFILE_ATTEMPTS = 3


def _ensure_agent_profile(email: str) -> None:
    """A Cognito user in the LiveChat group whom no workspace described yet still gets a
    profile, with the deployment's default limit."""
    for _ in range(_PROFILE_ATTEMPTS):
        try:
            AgentModel(
                AGENT_PK, email, name=email.split("@", maxsplit=1)[0],
                max_chats=catalog.get_workspace_settings().default_max_chats, slots={},
            ).save(condition=AgentModel.pk.does_not_exist())
            return
        except PutError as exc:
            if exc.cause_response_code != "ConditionalCheckFailedException":
                raise
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
    models.bind()
    try:
        item = ConnectionModel.get(connection_pk(connection_id), "CONN")
    except ConnectionModel.DoesNotExist:
        return None
    return Caller(connection_id, item.role, item.principal)


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
        VisitorModel(visitor_pk(caller.principal), "VISITOR").update(
            actions=[VisitorModel.connections.delete({connection_id})]
        )
    ConnectionModel(connection_pk(connection_id), "CONN").delete()
    logger.info("disconnected", role=caller.role, connection_id=connection_id)
