from __future__ import annotations

import pytest

from tests.support.world import World

pytestmark = pytest.mark.integration


def test_a_visitor_is_routed_accepted_and_both_sides_talk(world: World) -> None:
    # Given one available, connected agent and a round-robin dialog
    world.agent("alice@example.com", name="Alice Martin")
    world.live_dialog("sales", {"mode": "round_robin"})
    agent = world.agent_client("alice@example.com")
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")

    # When the visitor requests a chat
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")

    # Then the visitor is told an agent is being contacted and the agent gets the offer
    assert answer["type"] == "routing"
    offers = agent.of_type("chatOffered")
    assert len(offers) == 1
    offer = offers[0]
    assert offer["visitor"] == {"firstName": "Vera", "email": "vera@acme.io"}
    assert offer["acceptTimeoutSeconds"] == 100

    accepted = agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    assert accepted["type"] == "chatAccepted"
    joined = visitor.of_type("agentJoined")
    assert joined[0]["agent"]["name"] == "Alice Martin"

    sent = visitor.ask("sendMessage", conversationId=conversation_id, text="Hi!",
                       clientMessageId="m1")
    assert sent["type"] == "message" and sent["from"] == "visitor"
    assert [m["text"] for m in agent.of_type("message")] == ["Hi!"]
    ended = agent.ask("endChat", conversationId=conversation_id)
    assert ended["type"] == "chatEnded" and ended["reason"] == "agent"
    assert world.agent_item("alice@example.com").active == 0
