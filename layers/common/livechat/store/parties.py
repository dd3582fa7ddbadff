"""One read for a frame on a conversation: the conversation item together with the items
that hold its parties' live connections, in a single BatchGetItem.

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

from livechat import runtime
from livechat.domain.errors import NotFound
from livechat.domain.snapshots import Conversation
from livechat.store import connections, tables
from livechat.store.keys import AGENT_PK, META_SK, VISITOR_HANDLE_LENGTH, VISITOR_SK, conv_pk, visitor_pk_of_handle
from livechat.store.tables import AgentModel, ConversationModel, VisitorModel

_BATCH_ATTEMPTS = 5


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


def _key(pk: str, sk: str) -> dict[str, dict[str, str]]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def _batch_get(keys: list[dict[str, dict[str, str]]]) -> list[dict[str, Any]]:
    """Strongly consistent BatchGetItem of a few keys (one round trip unless DynamoDB
    leaves some unprocessed, which it does only under throttling)."""
    table = runtime.get_settings().table_name
    found: list[dict[str, Any]] = []
    pending: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
    for _ in range(_BATCH_ATTEMPTS):
        answer = tables.connection().dispatch("BatchGetItem", {"RequestItems": pending})
        found += answer.get("Responses", {}).get(table, [])
        pending = answer.get("UnprocessedKeys") or {}
        if not pending:
            return found
    raise RuntimeError("BatchGetItem left keys unprocessed")


def read(conversation_id: str, *, agent: str | None = None) -> Parties:
    """The conversation (NotFound when absent) with its visitor's connections and, given
    `agent`, that agent's connections. The caller checks that it is their conversation."""
    tables.bind()
    handle = handle_of(conversation_id)
    keys = [_key(conv_pk(conversation_id), META_SK)]
    if handle is not None:
        keys.append(_key(visitor_pk_of_handle(handle), VISITOR_SK))
    if agent is not None:
        keys.append(_key(AGENT_PK, agent))
    conv: ConversationModel | None = None
    visitor: frozenset[str] = frozenset()
    agent_connections: frozenset[str] | None = frozenset() if agent is not None else None
    for raw in _batch_get(keys):
        sk = raw["sk"]["S"]
        if sk == META_SK:
            conv = ConversationModel.from_raw_data(raw)
        elif sk == VISITOR_SK:
            visitor = frozenset(VisitorModel.from_raw_data(raw).connections or ())
        else:
            agent_connections = frozenset(AgentModel.from_raw_data(raw).connections or ())
    if conv is None:
        raise NotFound(f"conversation {conversation_id} not found")
    snapshot = tables.conversation_of(conv)
    if handle is None:
        visitor = frozenset(connections.visitor_connections(snapshot.visitor_id))
    return Parties(snapshot, visitor, agent_connections)
