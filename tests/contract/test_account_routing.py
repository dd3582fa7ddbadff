"""workspace.md, second round — account routing, seen from the wire: a visitor whose
captured e-mail is at a named account's domain is offered to the account's owner first;
the owner declining (or away) hands the chat to the card's own routing, without them."""

from __future__ import annotations

import pytest

from tests.blackbox import Stack, Visitor, run
from tests.contract.kit import (
    ACCOUNT_DOMAIN,
    ACCOUNT_OWNER,
    ALICE,
    at_the_capture_card,
    pump,
    scene_with,
)

pytestmark = pytest.mark.contract

AT_THE_ACCOUNT = {"firstName": "Nia", "email": f"nia@{ACCOUNT_DOMAIN.upper()}"}


async def requested_from_the_account(visitor: Visitor) -> str:
    """A sales conversation whose visitor left an e-mail at the account's domain (in capitals:
    domains match in any case) and asked for a chat: its id."""
    conversation_id, _ = await at_the_capture_card(visitor)
    await visitor.ok("capture", "ack", conversationId=conversation_id, cardId="who", fields=AT_THE_ACCOUNT)
    await visitor.request_chat(conversation_id)
    return conversation_id


def test_given_the_owner_available_a_visitor_of_the_account_is_offered_to_them_and_a_decline_hands_over(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE, ACCOUNT_OWNER)) as given:
            owner, alice, visitor = given.agents[ACCOUNT_OWNER], given.agents[ALICE], given.visitor
            # When the visitor asks for a chat: whatever the round-robin cursor, the owner first
            conversation_id = await requested_from_the_account(visitor)
            offer = await owner.next_of("chatOffered", conversationId=conversation_id)

            # And when the owner declines, the card's routing runs without them: Alice
            await owner.ok("decline", "ack", conversationId=conversation_id, offerId=offer["offerId"])
            handed = await alice.next_of("chatOffered", conversationId=conversation_id)
            await alice.ok("accept", "chatAccepted", conversationId=conversation_id, offerId=handed["offerId"])
            given.end_at_exit(alice, conversation_id)
            joined = await visitor.next_of("agentJoined", conversationId=conversation_id)
            assert joined["agent"]["name"] != "", joined
            await pump(owner, 0.5)
            assert [f for f in owner.buffer if f.get("type") == "chatOffered"
                    and f.get("conversationId") == conversation_id] == []
            assert [f for f in visitor.buffer if f.get("type") == "fallback"] == []

    run(scenario)


def test_given_the_owner_away_the_cards_routing_runs_at_once(stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id = await requested_from_the_account(visitor)

            offer = await alice.next_of("chatOffered", conversationId=conversation_id)
            await alice.ok("decline", "ack", conversationId=conversation_id, offerId=offer["offerId"])

    run(scenario)
