"""One read for a frame on a conversation: the conversation item and its clock together
with the items that hold its parties' live connections, in a single BatchGetItem.

Every conversation id this release makes starts with its visitor's handle
(`<handle>.<uuid>`, livechat.chat.conversations.new_conversation_id; the handle keys the
visitor's item, livechat.store.keys.visitor_handle), so the visitor's item is addressed
before the conversation is read; an agent reading their own
conversation brings their e-mail. The chat's agent's connections are mirrored on the
conversation item while the agent holds it (livechat.store.mirror), so a visitor's frame
needs no agent item. A conversation id of an earlier release names no visitor: its visitor
item is then read after it (one more round trip, for conversations of before the upgrade).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from livechat.domain.snapshots import Conversation
from livechat.store import connections, conversations, tables
from livechat.store.keys import AGENT_PK, CLOCK_SK, META_SK, VISITOR_HANDLE_LENGTH, VISITOR_SK, conv_pk, visitor_pk_of_handle
from livechat.store.tables import AgentModel, VisitorModel


def handle_of(conversation_id: str) -> str | None:
    """The visitor handle a conversation id starts with; None for an id of an earlier
    release (32 hexadecimal digits, no dot)."""
    head, dot, _ = conversation_id.rpartition(".")
    return head if dot and len(head) == VISITOR_HANDLE_LENGTH else None


@dataclass(frozen=True)
class Parties:
    """A conversation and the live connections of the visitor and (when read) the agent."""

    conversation: Conversation
    visitor_connections: frozenset[str]
    agent_connections: frozenset[str] | None = None  # None: not read here

    def of_agent(self) -> frozenset[str] | None:
        """The chat's agent's connections: read with it, else mirrored on the conversation
        (None when neither: a conversation of an earlier release, read the agent then)."""
        if self.agent_connections is not None:
            return self.agent_connections
        return self.conversation.agent_connections


def read(conversation_id: str, *, agent: str | None = None, relay: bool = False) -> Parties:
    """The conversation (NotFound when absent) with its visitor's connections and, given
    `agent`, that agent's connections. The caller checks that it is their conversation.
    `relay`: for a frame that is only passed on and stores nothing (typing): the items
    without the clock, and eventually consistent (half the read units), since what it
    decides on (the status, the connections) lags by well under a second at worst."""
    tables.bind()
    handle = handle_of(conversation_id)
    keys = [tables.key(conv_pk(conversation_id), META_SK)]
    if not relay:
        keys.append(tables.key(conv_pk(conversation_id), CLOCK_SK))
    if handle is not None:
        keys.append(tables.key(visitor_pk_of_handle(handle), VISITOR_SK))
    if agent is not None:
        keys.append(tables.key(AGENT_PK, agent))
    own: list[dict[str, Any]] = []
    visitor: frozenset[str] = frozenset()
    agent_connections: frozenset[str] | None = frozenset() if agent is not None else None
    for raw in tables.batch_get(keys, consistent=not relay):
        sk = raw["sk"]["S"]
        if sk.startswith(META_SK):
            own.append(raw)
        elif sk == VISITOR_SK:
            visitor = frozenset(VisitorModel.from_raw_data(raw).connections or ())
        else:
            agent_connections = frozenset(AgentModel.from_raw_data(raw).connections or ())
    snapshot = conversations.of_raw(conversation_id, own)
    if handle is None:
        visitor = frozenset(connections.visitor_connections(snapshot.visitor_id))
    return Parties(snapshot, visitor, agent_connections)
