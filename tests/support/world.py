"""A test world: agents, dialogs and clients that speak to the real Lambda handlers with
API Gateway-shaped events, reading what the gateway recorder captured."""

from __future__ import annotations

import itertools
import json
import threading
import uuid
from dataclasses import dataclass
from typing import Any

import boto3
from livechat.domain.workspace import Dialog, WorkspaceSettings
from livechat.store import catalog
from livechat.store import tables as models
from livechat.store.keys import AGENT_PK
from livechat.store.tables import AgentModel

from functions.visitor_session import app as visitor_session_app
from functions.ws_authorizer import app as ws_authorizer_app
from functions.ws_connect import app as ws_connect_app
from functions.ws_message import app as ws_message_app
from livechat_local import events
from livechat_local.authorizer import decide
from tests.support.aws import REGION, Gateway
from tests.support.template import load_template, user_pool_create_kwargs

_counter = itertools.count(1)


@dataclass
class LambdaContext:
    function_name: str = "test-fn"
    memory_limit_in_mb: int = 512
    invoked_function_arn: str = "arn:aws:lambda:us-east-1:123456789012:function:test-fn"
    aws_request_id: str = "req"


DOMAIN = "abc123.execute-api.us-east-1.amazonaws.com"


# `authorizer`: the context the $connect authorizer allowed the connection with
# (World.identities), as API Gateway puts it on every event of the connection. Without it,
# an event is one of a connection opened before the authorizer was deployed.
def message_event(connection_id: str, body: str, route_key: str = "$default", *,
                  authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    return events.ws_message(connection_id, body, route_key, domain=DOMAIN, stage="test",
                             authorizer=authorizer)


def connect_event(connection_id: str, query: dict[str, str], *,
                  authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    return events.ws_connect(connection_id, query, domain=DOMAIN, stage="test", authorizer=authorizer)


def disconnect_event(connection_id: str, *, authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    return events.ws_disconnect(connection_id, domain=DOMAIN, stage="test", authorizer=authorizer)


def authorizer_event(connection_id: str, query: dict[str, str]) -> dict[str, Any]:
    return events.ws_authorizer(connection_id, query, domain=DOMAIN, stage="test")


@dataclass
class Client:
    world: World
    connection_id: str
    role: str
    principal: str

    @property
    def identity(self) -> dict[str, Any] | None:
        return self.world.identities.get(self.connection_id)

    def raw(self, body: str) -> list[dict[str, Any]]:
        """Send a raw frame body; return every frame this connection received."""
        ws_message_app.handler(message_event(self.connection_id, body, authorizer=self.identity), LambdaContext())
        return self.frames()

    def send(self, action: str, **fields: Any) -> list[dict[str, Any]]:
        return self.raw(json.dumps({"action": action, **fields}))

    def ask(self, action: str, **fields: Any) -> dict[str, Any]:
        """Send with a requestId and return the one answer that echoes it."""
        rid = f"r{next(_counter)}"
        body = json.dumps({"action": action, "requestId": rid, **fields})
        ws_message_app.handler(message_event(self.connection_id, body, authorizer=self.identity), LambdaContext())
        # Threads may share one client (one agent accepting several offers at once): taking
        # the frames and keeping the others must be one step, or a thread could carry off
        # another's answer between the two.
        with self.world.frames_lock:
            frames = self.frames()
            answers = [f for f in frames if f.get("requestId") == rid]
            self.world.leftovers[self.connection_id] = [
                f for f in frames if f.get("requestId") != rid]
        assert len(answers) == 1, f"expected exactly one answer to {action}, got {frames}"
        return answers[0]

    def frames(self) -> list[dict[str, Any]]:
        with self.world.frames_lock:
            return self.world.leftovers.pop(self.connection_id, []) + self.world.gateway.take(
                self.connection_id
            )

    def of_type(self, kind: str) -> list[dict[str, Any]]:
        return [f for f in self.frames() if f["type"] == kind]

    def disconnect(self) -> None:
        ws_connect_app.handler(disconnect_event(self.connection_id, authorizer=self.identity), LambdaContext())


class World:
    def __init__(self, gateway: Gateway) -> None:
        self.gateway = gateway
        self.leftovers: dict[str, list[dict[str, Any]]] = {}
        self.frames_lock = threading.RLock()
        self._pool: tuple[str, str] | None = None
        self._passwords: dict[str, str] = {}
        # connection id -> requestContext.authorizer of its events (what the authorizer allowed)
        self.identities: dict[str, dict[str, Any]] = {}
        models.bind()

    # --- configuration ------------------------------------------------------------------
    def settings(self, **values: Any) -> WorkspaceSettings:
        settings = WorkspaceSettings(**values)
        catalog.put_workspace_settings(settings)
        return settings

    def dialog(self, data: dict[str, Any]) -> Dialog:
        dialog = Dialog.model_validate(data)
        catalog.put_dialog(dialog)
        return dialog

    def live_dialog(self, dialog_id: str, routing: dict[str, Any],
                    fields: tuple[str, ...] = ("firstName", "email"),
                    required: tuple[str, ...] | None = None) -> Dialog:
        """The demo shape: question → capture → live chat; every field required unless
        `required` names fewer."""
        return self.dialog({
            "id": dialog_id,
            "cards": [{
                "id": "ask", "kind": "question", "text": "Talk to sales?",
                "answers": [
                    {"label": "Yes", "next": [
                        {"id": "who", "kind": "capture", "fields": list(fields),
                         "required": list(fields if required is None else required)},
                        {"id": "live", "kind": "live_chat", "routing": routing},
                    ]},
                    {"label": "No", "next": [{"id": "bye", "kind": "message", "text": "Bye"}]},
                ],
            }],
        })

    def agent(self, email: str, *, name: str | None = None, max_chats: int = 10,
              teams: tuple[str, ...] = (), status: str = "available", live_chat: bool = True,
              avatar_url: str = "") -> None:
        AgentModel(
            AGENT_PK, email, name=name or email.split("@", maxsplit=1)[0].title(), max_chats=max_chats,
            teams=list(teams), status=status, live_chat=live_chat, active=0, slots={},
            avatar_url=avatar_url or f"https://example.com/{email.split('@', maxsplit=1)[0]}.png",
        ).save()
        for team in teams:
            catalog.put_team(team)

    def agent_item(self, email: str) -> AgentModel:
        return AgentModel.get(AGENT_PK, email, consistent_read=True)

    # --- identities ---------------------------------------------------------------------
    def cognito(self) -> tuple[str, str]:
        """The agents' user pool (as template.yaml defines it) and the inbox's app client."""
        return self._cognito()

    def _cognito(self) -> tuple[str, str]:
        if self._pool is None:
            idp = boto3.client("cognito-idp", region_name=REGION)
            pool = idp.create_user_pool(**user_pool_create_kwargs(load_template(), pool_name="agents"))
            pool_id = pool["UserPool"]["Id"]
            client_id = idp.create_user_pool_client(
                UserPoolId=pool_id, ClientName="inbox",
                ExplicitAuthFlows=["ALLOW_USER_PASSWORD_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"],
                # Cognito's default (the template names none): every attribute is readable,
                # so the ID token carries `email` next to `cognito:username`. moto puts only
                # the attributes named here in its tokens.
                ReadAttributes=["email", "email_verified", "name"],
            )["UserPoolClient"]["ClientId"]
            for group in ("LiveChat", "LiveChatAdmin"):  # as template.yaml defines them
                idp.create_group(UserPoolId=pool_id, GroupName=group)
            import os

            from livechat import runtime

            os.environ["LIVECHAT_USER_POOL_ID"] = pool_id
            os.environ["LIVECHAT_USER_POOL_CLIENT_ID"] = client_id
            runtime.reset()
            self._pool = (pool_id, client_id)
        return self._pool

    def token(self, email: str, *, groups: tuple[str, ...] = ("LiveChat",)) -> str:
        pool_id, client_id = self._cognito()
        idp = boto3.client("cognito-idp", region_name=REGION)
        if email not in self._passwords:
            password = "Passw0rd!" + uuid.uuid4().hex[:8]
            idp.admin_create_user(UserPoolId=pool_id, Username=email,
                                  UserAttributes=[{"Name": "email", "Value": email}],
                                  MessageAction="SUPPRESS")
            idp.admin_set_user_password(UserPoolId=pool_id, Username=email, Password=password,
                                        Permanent=True)
            for group in groups:
                idp.admin_add_user_to_group(UserPoolId=pool_id, Username=email, GroupName=group)
            self._passwords[email] = password
        auth = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                 AuthParameters={"USERNAME": email,
                                                 "PASSWORD": self._passwords[email]})
        return str(auth["AuthenticationResult"]["IdToken"])

    def visitor_token(self, old: str | None = None) -> dict[str, Any]:
        body = json.dumps({"visitorToken": old} if old else {})
        event = events.http_v2("POST", "/visitor/session", body,
                               headers={"content-type": "application/json"})
        response = visitor_session_app.handler(event, LambdaContext())
        return {"status": response["statusCode"], **json.loads(response["body"])}

    # --- connections --------------------------------------------------------------------
    def connect(self, query: dict[str, str]) -> tuple[int, str]:
        """A handshake as API Gateway runs it: the $connect authorizer first (its refusal is
        the handshake's status), then $connect with the authorizer's context."""
        connection_id = f"c{next(_counter)}="
        decision = decide(lambda event: ws_authorizer_app.handler(event, LambdaContext()),
                          authorizer_event(connection_id, query))
        if decision.status != 200:
            return decision.status, connection_id
        response = ws_connect_app.handler(connect_event(connection_id, query, authorizer=decision.context),
                                          LambdaContext())
        status = int(response["statusCode"])
        if status == 200 and decision.context is not None:
            self.identities[connection_id] = decision.context
        return status, connection_id

    def agent_client(self, email: str) -> Client:
        status, connection_id = self.connect({"token": self.token(email)})
        assert status == 200, status
        return Client(self, connection_id, "agent", email)

    def visitor_client(self, token: str | None = None) -> Client:
        if token is None:
            session = self.visitor_token()
            token = session["visitorToken"]
        status, connection_id = self.connect({"visitorToken": token})
        assert status == 200, status
        from livechat.api.auth import verify_visitor_token

        return Client(self, connection_id, "visitor", verify_visitor_token(token).visitor_id)

    # --- the common walk ----------------------------------------------------------------
    def walk_to_live_card(self, visitor: Client, dialog_id: str,
                          fields: dict[str, str] | None = None,
                          page: dict[str, Any] | None = None) -> str:
        started = visitor.ask("startConversation", dialogId=dialog_id,
                              page=page or {"url": "https://example.com/pricing"})
        conversation_id = str(started["conversationId"])
        assert visitor.ask("answer", conversationId=conversation_id, cardId="ask",
                           value="Yes")["type"] == "ack"
        captured = visitor.ask("capture", conversationId=conversation_id, cardId="who",
                               fields=fields or {"firstName": "Vera", "email": "vera@acme.io"})
        assert captured["type"] == "ack", captured
        return conversation_id

    def accepted_chat(self, email: str, *, name: str | None = None) -> tuple[Client, Client, str]:
        """(agent, visitor, conversation id): a round-robin "sales" card routed to `email`,
        the only agent, who accepted it."""
        self.agent(email, name=name)
        self.live_dialog("sales", {"mode": "round_robin"})
        agent = self.agent_client(email)
        visitor = self.visitor_client()
        chat = self.walk_to_live_card(visitor, "sales")
        visitor.ask("requestChat", conversationId=chat, cardId="live")
        offer = agent.of_type("chatOffered")[-1]
        assert agent.ask("accept", conversationId=chat, offerId=offer["offerId"])["type"] == "chatAccepted"
        return agent, visitor, chat
