"""protocol.md "Second round", pending offers: `listOffers` → `offers` {items: [{conversationId,
offerId, visitor, page, expiresAt, acceptTimeoutSeconds}], serverTime}, the agent's offers
still open and not past `expiresAt`, oldest first; an agent action (a visitor gets
FORBIDDEN). Black-box over `livechat dev`: WebSocket only, no livechat import.

(Not registered with spec.covers: the contract registry reads the action tables, and
`listOffers` is named in the second round's prose, not in a table.)"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from tests.blackbox import Client, Frame, Stack, Visitor, closing, run
from tests.contract.kit import ACCEPT_TIMEOUT, ALICE, ROUTED, RR, has, instant

pytestmark = pytest.mark.contract

OFFER_FIELDS = ("conversationId", "offerId", "visitor", "page", "expiresAt", "acceptTimeoutSeconds")
SLACK = 3.0  # seconds on top of the accept timeout for the workflow to withdraw an offer


# --- Given steps (local: only the stable parts of tests/blackbox.py are used) ------------

@dataclass
class Given:
    alice: Client
    visitor: Visitor


@contextlib.asynccontextmanager
async def alice_alone(stack: Stack) -> AsyncIterator[Given]:
    """Every routed agent connected, Alice available and the others away (status is stored:
    each test states the presence it relies on), and a visitor; all closed at the end."""
    connected: list[Client] = []
    try:
        for email in ROUTED:
            connected.append(await stack.agent(email, "available" if email == ALICE else "away"))
        visitor = await stack.visitor()
        connected.append(visitor)
        yield Given(connected[ROUTED.index(ALICE)], visitor)
    finally:
        await closing(*connected)


async def offered_to(given: Given) -> tuple[str, Frame]:
    """The visitor starts a conversation and asks for a chat: the chatOffered Alice gets."""
    started = await given.visitor.ok("startConversation", "conversationStarted", dialogId=RR,
                                     page={"url": "https://shop.example.com/pricing", "title": "Pricing"})
    conversation_id: str = started["conversationId"]
    await given.visitor.ok("requestChat", "routing", conversationId=conversation_id, cardId="live")
    offer = await given.alice.next_of("chatOffered", conversationId=conversation_id)
    return conversation_id, offer


async def pending(agent: Client) -> Frame:
    """The `offers` answer, checked against the shape the contract fixes."""
    answer = await agent.ask("listOffers")
    assert answer.get("type") == "offers", answer
    has(answer, items=list, serverTime=str)
    server_time = instant(answer["serverTime"])
    for item in answer["items"]:
        has(item, conversationId=str, offerId=str, visitor=dict, page=dict, expiresAt=str,
            acceptTimeoutSeconds=int)
        assert instant(item["expiresAt"]) > server_time, answer  # not past expiresAt
    return answer


def listed_ids(answer: Frame) -> list[str]:
    return [item["offerId"] for item in answer["items"]]


# --- the tests -----------------------------------------------------------------------------

def test_given_an_offer_when_the_agent_lists_offers_then_it_is_listed_as_chat_offered_carried_it(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with alice_alone(stack) as given:
            # Given a chat offered to Alice
            conversation_id, offer = await offered_to(given)

            # When she lists her pending offers
            answer = await pending(given.alice)

            # Then it is there with the fields chatOffered carried, and the server's time
            (item,) = [i for i in answer["items"] if i["conversationId"] == conversation_id]
            assert item == {name: offer[name] for name in OFFER_FIELDS}, (item, offer)
            assert item["acceptTimeoutSeconds"] == ACCEPT_TIMEOUT
            remaining = (instant(item["expiresAt"]) - instant(answer["serverTime"])).total_seconds()
            assert 0 < remaining <= ACCEPT_TIMEOUT, answer

            # And once she accepts it, it is no longer listed
            await given.alice.ok("accept", "chatAccepted", conversationId=conversation_id,
                                 offerId=offer["offerId"])
            assert offer["offerId"] not in listed_ids(await pending(given.alice))
            await given.alice.ask("endChat", conversationId=conversation_id)

    run(scenario)


def test_given_two_offers_when_the_agent_lists_offers_then_the_older_comes_first(stack: Stack) -> None:
    async def scenario() -> None:
        async with alice_alone(stack) as given:
            # Given two chats offered to Alice, one after the other
            _, first = await offered_to(given)
            _, second = await offered_to(given)

            # When she lists her pending offers
            answer = await pending(given.alice)

            # Then the first offer comes first (of those still open when the list was made:
            # the stack's accept timeout is short, and a slow machine may outlast it)
            server_time = instant(answer["serverTime"])
            still_open = [o["offerId"] for o in (first, second) if instant(o["expiresAt"]) > server_time]
            ids = listed_ids(answer)
            assert [i for i in ids if i in (first["offerId"], second["offerId"])] == still_open, answer
            for offer in (first, second):
                await given.alice.ask("decline", conversationId=offer["conversationId"], offerId=offer["offerId"])

    run(scenario)


def test_given_an_offer_when_the_agent_declines_it_then_it_is_no_longer_listed(stack: Stack) -> None:
    async def scenario() -> None:
        async with alice_alone(stack) as given:
            conversation_id, offer = await offered_to(given)
            assert offer["offerId"] in listed_ids(await pending(given.alice))

            await given.alice.ok("decline", "ack", conversationId=conversation_id, offerId=offer["offerId"])

            assert offer["offerId"] not in listed_ids(await pending(given.alice))

    run(scenario)


def test_given_an_offer_nobody_accepts_when_it_times_out_then_it_is_no_longer_listed(stack: Stack) -> None:
    async def scenario() -> None:
        async with alice_alone(stack) as given:
            conversation_id, offer = await offered_to(given)

            await given.alice.next_of("offerWithdrawn", ACCEPT_TIMEOUT + SLACK, conversationId=conversation_id)

            assert offer["offerId"] not in listed_ids(await pending(given.alice))

    run(scenario)


def test_given_an_agent_who_went_away_and_reconnected_then_the_pending_offer_is_still_listed(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with alice_alone(stack) as given:
            # Given a chat offered to Alice, who then goes away and closes her connection
            conversation_id, offer = await offered_to(given)
            await given.alice.set_status("away")
            await given.alice.close()

            # When she connects again (without setting a status) and lists her offers
            again = await stack.agent(ALICE, status=None)
            try:
                # Then the offer is still hers (protocol: neither ends it), and she can take it
                assert offer["offerId"] in listed_ids(await pending(again))
                await again.ok("accept", "chatAccepted", conversationId=conversation_id, offerId=offer["offerId"])
                await again.ask("endChat", conversationId=conversation_id)
            finally:
                await closing(again)

    run(scenario)


def test_given_a_visitor_when_they_list_offers_then_forbidden(stack: Stack) -> None:
    async def scenario() -> None:
        visitor = await stack.visitor()
        try:
            answer = await visitor.ask("listOffers")
            assert (answer.get("type"), answer.get("code")) == ("error", "FORBIDDEN"), answer
        finally:
            await closing(visitor)

    run(scenario)
