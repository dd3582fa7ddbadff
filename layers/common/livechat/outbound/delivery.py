"""Posting frames to WebSocket connections through the API Gateway management API.

A 410 Gone means the connection is dead: it is forgotten at once (connection item, the
owner's connection set), so that presence follows the live connection and an offer to a
dead browser moves on instead of ringing for the whole timeout.

Offers and their withdrawal also reach an agent with no live connection through their Web
Push subscriptions (livechat.outbound.webpush), in the same invocation (protocol.md,
second round).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable
from typing import Any

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from livechat import runtime
from livechat.domain.snapshots import Agent
from livechat.domain.workspace import WorkspaceSettings
from livechat.store import agents, catalog
from livechat.store import connections as stored_connections

logger = Logger(child=True)

# How long a push service keeps an `offerWithdrawn` for a device that is offline: long
# enough to clear a ringing notification on a laptop that wakes up within the quarter hour.
WITHDRAWN_TTL_SECONDS = 900


class Notifier:
    """Posts frames for one invocation. It also keeps the protocol's "exactly one answer
    per request": the first frame of one of the request's answer types that goes to the
    requesting connection carries its requestId, wherever in the code it is sent from."""

    def __init__(
        self,
        endpoint_url: str,
        *,
        requester: str | None = None,
        request_id: str | None = None,
        answer_types: frozenset[str] = frozenset(),
    ) -> None:
        self.endpoint_url = endpoint_url
        self.gone: set[str] = set()
        self.requester = requester
        self.request_id = request_id
        self.answer_types = answer_types
        self.answered = requester is None

    def reply(self, frame: dict[str, Any]) -> bool:
        """Send the answer to the request (always with its requestId)."""
        assert self.requester is not None
        self.answered = True
        if self.request_id is not None:
            frame = {**frame, "requestId": self.request_id}
        return self.send(self.requester, frame)

    def send(self, connection_id: str, frame: dict[str, Any]) -> bool:
        """Post one frame; False when the connection is gone (or cannot be reached)."""
        if connection_id in self.gone:
            return False
        if (
            not self.answered
            and connection_id == self.requester
            and frame.get("type") in self.answer_types
        ):
            self.answered = True
            if self.request_id is not None:
                frame = {**frame, "requestId": self.request_id}
        data = json.dumps(frame, ensure_ascii=False, separators=(",", ":")).encode()
        try:
            runtime.management_api(self.endpoint_url).post_to_connection(
                ConnectionId=connection_id, Data=data
            )
        except ClientError as exc:
            status = exc.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
            code = exc.response.get("Error", {}).get("Code", "")
            if status == 410 or code == "GoneException":
                self.gone.add(connection_id)
                return False
            logger.warning("post_to_connection failed", connection_id=connection_id, code=code)
            return False
        return True

    def send_all(self, connection_ids: Iterable[str], frame: dict[str, Any]) -> set[str]:
        """Post to each connection; return the ones that answered Gone."""
        dead = set()
        for cid in sorted(connection_ids):
            if not self.send(cid, frame) and cid in self.gone:
                dead.add(cid)
        return dead

    def to_agent(
        self,
        email: str,
        frame: dict[str, Any],
        *,
        connections: Iterable[str] | None = None,
        exclude: str | None = None,
    ) -> int:
        """Post to every live connection of an agent (`connections`: as read with the
        agent or mirrored on the conversation; else read here); forget the dead ones.
        Returns how many connections took the frame."""
        live = connections
        if live is None:
            try:
                live = agents.get_agent(email).connections
            except Exception:
                return 0
        targets = set(live) - ({exclude} if exclude else set())
        dead = self.send_all(targets, frame)
        if dead:
            forget_agent_connections(email, dead)
        return len(targets) - len(dead)

    def stored_to_agent(self, email: str, frame: dict[str, Any], *, read: Iterable[str] | None) -> None:
        """A stored event to the agent's connections as read before it was stored, then to
        those the read missed (an inbox that reloaded meanwhile; see `_stored`)."""
        if read is None:
            self.to_agent(email, frame)
            return

        def current() -> set[str]:
            try:
                return set(agents.get_agent(email).connections)
            except Exception:
                return set()

        self._stored(set(read), frame, current, lambda dead: forget_agent_connections(email, dead))

    def offer(self, agent: Agent, frame: dict[str, Any], *, conversation_id: str, ttl: int,
              settings: WorkspaceSettings) -> bool:
        """Offer to the agent's live connections or, when none took it, to their push
        subscriptions. False when every way to reach the agent was refused: routing then
        moves on at once."""
        if self.to_agent(agent.email, frame, connections=agent.connections):
            return True
        # Web Push (its keys, subscriptions and crypto) is loaded only by the invocations
        # that need it, not by every frame's cold start (issue 15).
        from livechat.outbound import webpush

        return webpush.push_to_agent(agent.email, frame, conversation_id=conversation_id, ttl=ttl,
                                     settings=settings).reached

    def offer_ended(self, email: str, frame: dict[str, Any], *, conversation_id: str,
                    settings: WorkspaceSettings | None = None) -> None:
        """`offerWithdrawn` the way the offer went: live connections, else push (under the
        same Topic, so it replaces an offer the push service still holds)."""
        if self.to_agent(email, frame):
            return
        from livechat.outbound import webpush

        webpush.push_to_agent(email, frame, conversation_id=conversation_id, ttl=WITHDRAWN_TTL_SECONDS,
                              settings=settings or catalog.get_workspace_settings())

    def to_visitor(
        self, visitor_id: str, frame: dict[str, Any], *, exclude: str | None = None,
        connections: Iterable[str] | None = None,
    ) -> int:
        """Post to every live connection of a visitor (`connections`: read with the
        conversation, livechat.store.parties; else read here); forget the dead ones."""
        live = set(connections) if connections is not None else visitor_connections(visitor_id)
        targets = live - ({exclude} if exclude else set())
        dead = self.send_all(targets, frame)
        if dead:
            forget_visitor_connections(visitor_id, dead)
        return len(targets) - len(dead)

    def stored_to_visitor(self, visitor_id: str, frame: dict[str, Any], *, read: Iterable[str]) -> None:
        """A stored event to the visitor's connections as read before it was stored, then to
        those the read missed (a page that reloaded meanwhile; see `_stored`)."""
        self._stored(set(read), frame, lambda: visitor_connections(visitor_id),
                     lambda dead: forget_visitor_connections(visitor_id, dead))

    def _stored(self, read: set[str], frame: dict[str, Any], current: Callable[[], set[str]],
                forget: Callable[[set[str]], None]) -> None:
        """Post a stored event to the connections `read` before it was stored. A page that
        reloaded in between (its old connection gone, the new one opened after the read) may
        also have resumed before the event was stored, and would never see it: so when a
        connection read is gone, or none was read, the connections are read again, now that
        the event is stored, and the new ones get it too. Whatever connects after that read
        resumes after the event was stored. No read when every connection read took it."""
        dead = self.send_all(read, frame)
        if dead:
            forget(dead)
        if dead or not read:
            dead = self.send_all(current() - read, frame)
            if dead:
                forget(dead)


def forget_agent_connections(email: str, connection_ids: set[str]) -> None:
    logger.info("forgetting stale agent connections", agent=email, count=len(connection_ids))
    try:
        agents.remove_connections(email, connection_ids)
    except Exception:
        logger.warning("agent gone while forgetting connections", agent=email)
    stored_connections.delete(connection_ids)


def visitor_connections(visitor_id: str) -> set[str]:
    return stored_connections.visitor_connections(visitor_id)


def forget_visitor_connections(visitor_id: str, connection_ids: set[str]) -> None:
    try:
        stored_connections.remove_visitor_connections(visitor_id, connection_ids, known=True)
    except Exception:
        logger.warning("visitor gone while forgetting connections", visitor=visitor_id)
    stored_connections.delete(connection_ids)
