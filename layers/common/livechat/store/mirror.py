"""The holding agent's live connections, mirrored on each conversation they hold.

A broadcast of a live chat (a message, its end) reads the conversation anyway; with the
agent's connections on it, it reads no agent item. The mirror is written:
- by the offer's transaction (the connections routing read, with the agent's slot claim);
- by the accept's transaction (the accepting connection, whatever the offer saw);
- at the agent's `$connect` and `$disconnect`, on every conversation the agent holds a slot
  of (the agent item's `slots`, returned by the update that adds or removes the
  connection: no extra read), one UpdateItem each — an agent reconnecting with chats open;
- when a delivery answers 410 Gone (livechat.outbound.delivery).
A connection that misses an update in a race (a connect between routing's read and the
offer's commit) is added when it accepts, or when it lists its inbox, as the inbox does on
every (re)connection.
"""

from __future__ import annotations

from collections.abc import Iterable

from aws_lambda_powertools import Logger
from pynamodb.expressions.update import Action

from livechat.store import tables
from livechat.store.keys import META_SK, conv_pk
from livechat.store.tables import ConversationModel

logger = Logger(child=True)


def _update(conversation_id: str, email: str, connection_ids: set[str], *, add: bool) -> bool:
    """Add or remove connections of `email` on one conversation, only while that agent
    holds it and it is mirrored; False when not (nothing written)."""
    tables.bind()
    attribute = ConversationModel.agent_connections
    return tables.committed(lambda: ConversationModel(conv_pk(conversation_id), META_SK).update(
        actions=[attribute.add(connection_ids) if add else attribute.delete(connection_ids)],
        condition=ConversationModel.offer_agent == email,
    ))


def agent_connected(email: str, connection_id: str, held: Iterable[str]) -> None:
    for conversation_id in sorted(held):
        _update(conversation_id, email, {connection_id}, add=True)


def agent_disconnected(email: str, connection_ids: set[str], held: Iterable[str]) -> None:
    if connection_ids:
        for conversation_id in sorted(held):
            _update(conversation_id, email, connection_ids, add=False)


def add(conversation_id: str, email: str, connection_id: str) -> bool:
    return _update(conversation_id, email, {connection_id}, add=True)


def forget(conversation_id: str, email: str, connection_ids: set[str]) -> None:
    try:
        _update(conversation_id, email, connection_ids, add=False)
    except Exception:
        logger.warning("could not forget mirrored connections", conversation_id=conversation_id)


def backfill(conversation_id: str, email: str, connection_ids: frozenset[str]) -> bool:
    """Mirror `email`'s connections on a conversation they hold that no offer of this
    release mirrored (an upgrade, livechat_admin.migrate); False when mirrored already or
    not theirs (nothing written)."""
    tables.bind()
    model = ConversationModel
    actions: list[Action] = [
        model.agent_mirrored.set(True),
        model.agent_connections.set(set(connection_ids)) if connection_ids else model.agent_connections.remove()]
    return tables.committed(lambda: model(conv_pk(conversation_id), META_SK).update(
        actions=actions, condition=(model.offer_agent == email) & model.agent_mirrored.does_not_exist()))
