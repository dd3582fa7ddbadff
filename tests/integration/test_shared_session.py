"""PynamoDB's connections share one botocore session per thread (livechat.store.tables):
each new session loads botocore's endpoint rules and DynamoDB's model again (~50 ms of CPU),
so a container's first chat would otherwise pay that once per model and index it touches.
Counted, not timed: bench/cold_start.py --first-invocation prints what it saves."""

from __future__ import annotations

import threading
from typing import Any

import botocore.session
import pytest
from livechat import runtime
from livechat.store import tables

from tests.support.world import World

pytestmark = pytest.mark.integration


@pytest.fixture
def sessions(monkeypatch: pytest.MonkeyPatch) -> list[botocore.session.Session]:
    """Every botocore session created from here on, however it is made (PynamoDB imports
    `get_session` by name, boto3 calls the class)."""
    made: list[botocore.session.Session] = []
    real = botocore.session.Session.__init__

    def counted(self: botocore.session.Session, *args: Any, **kwargs: Any) -> None:
        real(self, *args, **kwargs)
        made.append(self)

    monkeypatch.setattr(botocore.session.Session, "__init__", counted)
    return made


def test_a_whole_chat_opens_one_pynamodb_session_for_all_its_models_and_indexes(
        world: World, sessions: list[botocore.session.Session]) -> None:
    # Given a fresh container's state (no connection of any model yet)
    world.agent("alice@example.com", name="Alice Martin")
    world.live_dialog("sales", {"mode": "round_robin"})
    runtime.reset()
    sessions.clear()

    # When a chat is routed, accepted, spoken in and ended (many models, indexes, transactions)
    agent = world.agent_client("alice@example.com")
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    offer = agent.of_type("chatOffered")[0]
    agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    visitor.ask("sendMessage", conversationId=conversation_id, text="Hi!", clientMessageId="m1")
    agent.ask("endChat", conversationId=conversation_id)

    # Then one session was made (PynamoDB's, for this thread), whatever the number of its
    # connections (each made its own before: 7 sessions in this chat)
    assert len(sessions) == 1
    assert sessions[0] is tables.shared_session()
    connections = {model._connection for model in tables.ALL_MODELS if model._connection is not None}
    assert len(connections) > 3
    assert {c.connection.session for c in connections} == {tables.shared_session()}


def test_each_thread_has_a_session_of_its_own_and_a_reset_starts_a_new_one() -> None:
    # Given this thread's session
    mine = tables.shared_session()
    assert tables.shared_session() is mine

    # When another thread asks, and after a reset
    theirs: list[botocore.session.Session] = []
    thread = threading.Thread(target=lambda: theirs.append(tables.shared_session()))
    thread.start()
    thread.join()
    runtime.reset()

    # Then each got its own, and the reset forgot this thread's
    assert theirs[0] is not mine
    assert tables.shared_session() is not mine
