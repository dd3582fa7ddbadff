"""DynamoDB round trips on the hot path, counted on the real handlers' calls (issue 15):
a frame reads its conversation and the parties' connections in one BatchGetItem, the
request and its first offer commit together, accept reads the conversation and its events
in one Query. And what keeps that true: the agent's connections mirrored on the chats they
hold, through reconnects and dead connections."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from livechat import runtime
from livechat.chat import conversations as chat_conversations
from livechat.store import conversations, mirror

from tests.support.metering import READS, WRITES, count_calls, label
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"


class Calls:
    """DynamoDB calls, as the route-cost bench labels them."""

    def __init__(self) -> None:
        self.made: list[str] = []

    def on_call(self, service: str, op: str, params: dict[str, Any], context: dict[str, Any]) -> None:
        if service == "dynamodb":
            self.made.append(label(service, op, params))

    def on_result(self, service: str, op: str, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        pass

    def take(self) -> list[str]:
        made, self.made = self.made, []
        return made


@pytest.fixture
def calls(world: World) -> Iterator[Calls]:
    counted = Calls()
    with count_calls(counted):
        runtime.reset()  # new clients, counted
        yield counted


def _ops(labels: list[str]) -> tuple[int, int]:
    reads = sum(1 for entry in labels if entry.split(" ")[0] in READS)
    writes = sum(1 for entry in labels if entry.split(" ")[0] in WRITES)
    return reads, writes


def _live_chat(world: World) -> tuple[Client, Client, str]:
    return world.accepted_chat(ALICE, name="Alice Martin")


def test_the_hot_path_makes_eight_round_trips_and_a_message_two(world: World, calls: Calls) -> None:
    # Given an agent, a round-robin card and a visitor who walked the dialog
    world.agent(ALICE, name="Alice Martin")
    world.live_dialog("sales", {"mode": "round_robin"})
    agent = world.agent_client(ALICE)
    visitor = world.visitor_client()
    chat = world.walk_to_live_card(visitor, "sales")
    calls.take()

    # When the chat is requested, accepted, one message goes each way and it is ended
    assert visitor.ask("requestChat", conversationId=chat, cardId="live")["type"] == "routing"
    request = calls.take()
    offer = agent.of_type("chatOffered")[-1]
    agent.ask("accept", conversationId=chat, offerId=offer["offerId"])
    accept = calls.take()
    visitor.ask("sendMessage", conversationId=chat, text="Hi", clientMessageId="v1")
    from_visitor = calls.take()
    agent.ask("sendMessage", conversationId=chat, text="Hello", clientMessageId="a1")
    from_agent = calls.take()
    agent.ask("endChat", conversationId=chat)
    end = calls.take()

    # Then requestChat is a read of the conversation with its visitor, the agents' Query and
    # one transaction with the offer, the slot and the round-robin cursor
    assert request[:2] == ["BatchGetItem [conversation, clock, visitor]", "Query agent partition"]
    assert len(request) == 3 and request[2].startswith("TransactWriteItems [Put event, Update conversation, "
                                                       "Update agent, Update rr-cursor")
    # And accept: the conversation with its events, the transaction, the visitor to tell
    assert accept[0] == "Query conversation partition" and accept[-1] == "GetItem visitor"
    assert len(accept) == 3 and _ops(accept) == (2, 1)
    # And a message is one read and one write, whoever sends it; so is the end
    assert from_visitor[0] == "BatchGetItem [conversation, clock, visitor]" and _ops(from_visitor) == (1, 1)
    assert from_agent[0] == "BatchGetItem [conversation, clock, visitor, agent]" and _ops(from_agent) == (1, 1)
    # And a message to the live chat writes neither the conversation item nor its indexes,
    # and is one item, under its clientMessageId (this world sets no message rate limit: no
    # counter rides along)
    assert from_visitor[1] == "TransactWriteItems [Put message, Update clock]"
    assert _ops(end) == (1, 1)
    hot = request + accept + end
    assert _ops(hot) == (5, 3) and len(hot) == 8


def test_an_agent_who_reconnects_mid_chat_gets_the_visitors_messages_on_the_new_connection(
        world: World) -> None:
    # Given a live chat whose agent's inbox reconnects (a new connection, the old one closed)
    agent, visitor, chat = _live_chat(world)
    agent.disconnect()
    again = world.agent_client(ALICE)

    # When the visitor writes
    visitor.ask("sendMessage", conversationId=chat, text="Are you there?", clientMessageId="v1")

    # Then the new connection gets it (the mirror followed $disconnect and $connect)
    assert [m["text"] for m in again.of_type("message")] == ["Are you there?"]
    assert conversations.get(chat).agent_connections == frozenset({again.connection_id})


def test_a_dead_agent_connection_is_dropped_from_the_chat_at_its_first_410(world: World) -> None:
    # Given a live chat whose agent also has a second tab that died without a $disconnect
    agent, visitor, chat = _live_chat(world)
    dead = world.agent_client(ALICE)
    assert conversations.get(chat).agent_connections == frozenset({agent.connection_id, dead.connection_id})
    world.gateway.dead.add(dead.connection_id)

    # When the visitor writes twice
    visitor.ask("sendMessage", conversationId=chat, text="one", clientMessageId="v1")
    visitor.ask("sendMessage", conversationId=chat, text="two", clientMessageId="v2")

    # Then the live tab gets both and the dead one is forgotten by the chat and the agent
    assert [m["text"] for m in agent.of_type("message")] == ["one", "two"]
    assert conversations.get(chat).agent_connections == frozenset({agent.connection_id})
    assert dead.connection_id not in (world.agent_item(ALICE).connections or set())


def test_a_connection_the_chat_missed_joins_it_when_it_lists_the_inbox(world: World) -> None:
    # Given a live chat whose mirror of the agent's connections lacks one of her tabs (it
    # opened while routing had read her and before the offer committed)
    _, visitor, chat = _live_chat(world)
    tab = world.agent_client(ALICE)
    mirror.forget(chat, ALICE, {tab.connection_id})
    assert tab.connection_id not in (conversations.get(chat).agent_connections or ())

    # When that tab lists the inbox (as the inbox does on every (re)connection)
    assert [c["conversationId"] for c in tab.ask("listInbox")["chats"]] == [chat]

    # Then the visitor's next message reaches it too
    visitor.ask("sendMessage", conversationId=chat, text="Hello?", clientMessageId="v1")
    assert [m["text"] for m in tab.of_type("message")] == ["Hello?"]


def test_a_visitor_who_reloads_while_the_agent_writes_gets_the_message_on_the_new_page(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a live chat, and an agent's message whose read of the visitor's connections
    # comes just before the visitor's page reloads: the old connection closes, the new one
    # opens and resumes — all before the message is stored
    world.agent(ALICE, name="Alice Martin")
    world.live_dialog("sales", {"mode": "round_robin"})
    agent = world.agent_client(ALICE)
    token = world.visitor_token()["visitorToken"]
    old_page = world.visitor_client(token)
    chat = world.walk_to_live_card(old_page, "sales")
    old_page.ask("requestChat", conversationId=chat, cardId="live")
    offer = agent.of_type("chatOffered")[-1]
    assert agent.ask("accept", conversationId=chat, offerId=offer["offerId"])["type"] == "chatAccepted"
    new_pages: list[Client] = []
    store = chat_conversations.send_message

    def reloaded_in_between(conv: Any, *args: Any, **kwargs: Any) -> Any:
        old_page.disconnect()
        world.gateway.dead.add(old_page.connection_id)  # API Gateway answers 410 for it now
        new_page = world.visitor_client(token)
        resumed = new_page.ask("resume", conversationId=chat, afterSeq=0)
        assert resumed["type"] == "ack"
        new_pages.append(new_page)
        return store(conv, *args, **kwargs)

    monkeypatch.setattr(chat_conversations, "send_message", reloaded_in_between)

    # When the agent's message is stored
    said = agent.ask("sendMessage", conversationId=chat, text="Sent while you reloaded", clientMessageId="a1")

    # Then the new page gets it, though its resume came before it was stored
    assert said["type"] == "message"
    (new_page,) = new_pages
    assert [m["text"] for m in new_page.of_type("message")] == ["Sent while you reloaded"]
