"""`listOffers` (spec/protocol.md, "Second round": pending offers): an agent's offers that
are still open and not past `expiresAt`, oldest first, with the fields `chatOffered` carried
and the server's time; an offer ended any way is gone from the list; going away or
disconnecting ends none; other agents' offers never show; visitors may not ask."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from livechat.domain.clock import parse_iso

from tests.support.clock import FakeClock, controlled_clock
from tests.support.workflow import Workflow, eventually
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@example.com", "bob@example.com"
VERA = {"firstName": "Vera", "email": "vera@acme.io"}
PAGE = {"url": "https://example.com/pricing?utm_source=news", "title": "Pricing"}
TIMEOUT = 45
OFFER_FIELDS = ("conversationId", "offerId", "visitor", "page", "expiresAt", "acceptTimeoutSeconds")


# --- helpers ----------------------------------------------------------------------------

@pytest.fixture
def clock(aws: Any) -> Iterator[FakeClock]:
    """Time moves only when the test says so (offers expire by the clock, not by sleeping)."""
    with controlled_clock() as fake:
        yield fake


def given_a_sales_dialog(world: World, *agents: str, max_chats: int = 10) -> None:
    world.settings(accept_timeout_seconds=TIMEOUT)
    world.live_dialog("sales", {"mode": "round_robin"})
    for email in agents:
        world.agent(email, max_chats=max_chats)


def request(world: World, fields: dict[str, str] | None = None) -> tuple[Client, str]:
    """A new visitor walks the dialog and asks for a chat: their client and conversation."""
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales", fields=fields or VERA, page=PAGE)
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    assert answer["type"] == "routing", answer
    return visitor, conversation_id


def offers_to(agent: Client) -> dict[str, dict[str, Any]]:
    """The chatOffered frames this connection got, by conversation (consumes its frames)."""
    offers = agent.of_type("chatOffered")
    by_conversation = {f["conversationId"]: f for f in offers}
    assert len(by_conversation) == len(offers), offers
    return by_conversation


def the_offer(agent: Client, conversation_id: str) -> dict[str, Any]:
    offers = offers_to(agent)
    assert list(offers) == [conversation_id], offers
    return offers[conversation_id]


def listed(agent: Client) -> dict[str, Any]:
    answer = agent.ask("listOffers")
    assert answer["type"] == "offers", answer
    return answer


def offer_ids(agent: Client) -> list[str]:
    return [item["offerId"] for item in listed(agent)["items"]]


def as_item(offer: dict[str, Any]) -> dict[str, Any]:
    """What listOffers says of an offer: the fields its chatOffered carried."""
    return {name: offer[name] for name in OFFER_FIELDS}


# --- what is listed ---------------------------------------------------------------------

def test_an_offered_chat_is_listed_with_the_fields_of_its_offer_and_the_server_time(
        world: World, clock: FakeClock) -> None:
    # Given a chat offered to alice
    given_a_sales_dialog(world, ALICE)
    alice = world.agent_client(ALICE)
    _visitor, conversation_id = request(world)
    offer = the_offer(alice, conversation_id)
    clock.advance(5)

    # When she asks for her pending offers
    answer = listed(alice)

    # Then the offer is listed exactly as chatOffered carried it, with the server's time
    assert answer["items"] == [as_item(offer)]
    item = answer["items"][0]
    assert item["visitor"] == VERA
    assert item["page"]["url"] == PAGE["url"] and item["page"]["utm"] == {"source": "news"}
    assert item["acceptTimeoutSeconds"] == TIMEOUT
    assert answer["serverTime"].endswith("Z") and item["expiresAt"].endswith("Z")
    assert parse_iso(answer["serverTime"]) == clock.now()
    assert parse_iso(item["expiresAt"]) - parse_iso(answer["serverTime"]) == timedelta(seconds=TIMEOUT - 5)
    assert set(answer) == {"type", "items", "serverTime", "requestId"}


def test_an_agent_with_no_offer_gets_an_empty_list(world: World) -> None:
    given_a_sales_dialog(world, ALICE)
    alice = world.agent_client(ALICE)

    answer = listed(alice)

    assert answer["items"] == []
    assert parse_iso(answer["serverTime"])


def test_offers_are_listed_oldest_first(world: World, clock: FakeClock) -> None:
    # Given two conversations, the one started second asking for a chat first (so that
    # neither the ids, made in order here, nor the start times give the offers' order)
    given_a_sales_dialog(world, ALICE)
    alice = world.agent_client(ALICE)
    first_visitor, second_visitor = world.visitor_client(), world.visitor_client()
    started_first = world.walk_to_live_card(first_visitor, "sales", fields=VERA)
    started_second = world.walk_to_live_card(second_visitor, "sales", fields=VERA)
    assert second_visitor.ask("requestChat", conversationId=started_second, cardId="live")["type"] == "routing"
    clock.advance(2)
    assert first_visitor.ask("requestChat", conversationId=started_first, cardId="live")["type"] == "routing"
    offers = offers_to(alice)
    older, newer = offers[started_second], offers[started_first]

    # When alice lists her offers
    items = listed(alice)["items"]

    # Then the older offer comes first
    assert [i["conversationId"] for i in items] == [started_second, started_first]
    assert [i["offerId"] for i in items] == [older["offerId"], newer["offerId"]]


def test_another_agents_offers_are_not_listed(world: World) -> None:
    # Given one chat offered to alice and one to bob (one slot each)
    given_a_sales_dialog(world, ALICE, BOB, max_chats=1)
    alice, bob = world.agent_client(ALICE), world.agent_client(BOB)
    request(world)
    request(world)
    (alices,) = alice.of_type("chatOffered")
    (bobs,) = bob.of_type("chatOffered")

    # When each lists their pending offers, then each sees only their own
    assert listed(alice)["items"] == [as_item(alices)]
    assert listed(bob)["items"] == [as_item(bobs)]


# --- what is not listed -----------------------------------------------------------------

def accept(agent: Client, visitor: Client, conversation_id: str, offer_id: str) -> None:
    assert agent.ask("accept", conversationId=conversation_id, offerId=offer_id)["type"] == "chatAccepted"


def decline(agent: Client, visitor: Client, conversation_id: str, offer_id: str) -> None:
    assert agent.ask("decline", conversationId=conversation_id, offerId=offer_id)["type"] == "ack"


def visitor_leaves(agent: Client, visitor: Client, conversation_id: str, offer_id: str) -> None:
    assert visitor.ask("endChat", conversationId=conversation_id)["type"] == "ack"


@pytest.mark.parametrize("end", [accept, decline, visitor_leaves], ids=lambda f: f.__name__)
def test_an_offer_that_ended_is_not_listed_and_the_others_still_are(world: World, end: Any) -> None:
    # Given two chats offered to alice
    given_a_sales_dialog(world, ALICE)
    alice = world.agent_client(ALICE)
    visitor, ending = request(world)
    _other_visitor, staying = request(world)
    offers = offers_to(alice)
    ended, kept = offers[ending], offers[staying]

    # When one offer ends (accepted, declined, or the visitor left)
    end(alice, visitor, ending, ended["offerId"])

    # Then only the other one is listed
    assert listed(alice)["items"] == [as_item(kept)]


def test_an_offer_past_its_expiry_is_not_listed_even_before_it_is_withdrawn(
        world: World, clock: FakeClock) -> None:
    # Given a chat offered to alice (no workflow runs here: nothing withdraws it)
    given_a_sales_dialog(world, ALICE)
    alice = world.agent_client(ALICE)
    _visitor, conversation_id = request(world)
    offer = the_offer(alice, conversation_id)

    # When its deadline comes, then it is no longer listed (accept would refuse it too)
    clock.advance_to(parse_iso(offer["expiresAt"]) - timedelta(milliseconds=1))
    assert offer_ids(alice) == [offer["offerId"]]
    clock.advance(0.001)
    assert offer_ids(alice) == []
    late = alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    assert late["code"] == "OFFER_EXPIRED"


def test_an_offer_that_timed_out_is_not_listed(world: World, workflow: Workflow) -> None:
    # Given a chat offered to alice with a one-second timeout, the offer workflow running
    world.settings(accept_timeout_seconds=1)
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    _visitor, conversation_id = request(world)
    offer = the_offer(alice, conversation_id)
    assert offer_ids(alice) == [offer["offerId"]]

    # When nobody accepts it in time, then the offer is withdrawn and no longer listed
    seen: list[dict[str, Any]] = []

    def withdrawn() -> bool:
        seen.extend(alice.frames())
        return any(f["type"] == "offerWithdrawn" for f in seen)

    assert eventually(withdrawn, timeout=15), seen
    assert offer_ids(alice) == []


# --- presence does not end an offer -----------------------------------------------------

def test_an_agent_who_went_away_still_sees_their_pending_offer(world: World) -> None:
    # Given a chat offered to alice
    given_a_sales_dialog(world, ALICE)
    alice = world.agent_client(ALICE)
    _visitor, conversation_id = request(world)
    offer = the_offer(alice, conversation_id)

    # When she goes away, then the offer is still hers to take
    assert alice.ask("setStatus", status="away")["type"] == "ack"
    assert listed(alice)["items"] == [as_item(offer)]
    accept(alice, _visitor, conversation_id, offer["offerId"])


def test_an_agent_who_disconnected_and_reconnected_still_sees_their_pending_offer(world: World) -> None:
    # Given a chat offered to alice, whose only tab then closed
    given_a_sales_dialog(world, ALICE)
    first = world.agent_client(ALICE)
    visitor, conversation_id = request(world)
    offer = the_offer(first, conversation_id)
    first.disconnect()
    assert not world.agent_item(ALICE).connections

    # When she connects again and lists her offers
    again = world.agent_client(ALICE)
    items = listed(again)["items"]

    # Then the offer is there, and she can accept it from the new connection
    assert items == [as_item(offer)]
    accept(again, visitor, conversation_id, offer["offerId"])
    assert [f["type"] for f in visitor.of_type("agentJoined")] == ["agentJoined"]
    assert offer_ids(again) == []


# --- who may ask ------------------------------------------------------------------------

def test_a_visitor_may_not_list_offers(world: World) -> None:
    given_a_sales_dialog(world, ALICE)
    world.agent_client(ALICE)
    visitor, _conversation_id = request(world)

    answer = visitor.ask("listOffers")

    assert answer["type"] == "error" and answer["code"] == "FORBIDDEN", answer
