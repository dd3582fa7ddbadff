"""Races on one conversation are settled by conditions: exactly one outcome."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from livechat.chat import offers
from livechat.domain import states
from livechat.outbound.delivery import Notifier
from livechat.store import catalog
from livechat.store import conversations as stored
from livechat.store.tables import plain

from tests.support.aws import WS_ENDPOINT
from tests.support.world import Client, World

pytestmark = pytest.mark.integration


def run_together(*actions: Callable[[], Any]) -> list[Any]:
    barrier = threading.Barrier(len(actions))
    results: list[Any] = [None] * len(actions)

    def run(index: int) -> None:
        barrier.wait()
        results[index] = actions[index]()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(actions))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results


@pytest.mark.parametrize("attempt", range(8))
def test_accept_decline_and_a_second_router_have_exactly_one_outcome(world: World,
                                                                     attempt: int) -> None:
    # Given a team chat offered to alice, with bob (her team mate) also free: a decline
    # moves a team chat on to the next agent of the team
    world.agent("alice@example.com", teams=("emea",))
    world.agent("bob@example.com", teams=("emea",))
    alice, bob = world.agent_client("alice@example.com"), world.agent_client("bob@example.com")
    world.live_dialog("sales", {"mode": "team", "team": "emea"})
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    offer = alice.of_type("chatOffered")[0]

    def second_router() -> str:
        return offers.route(conversation_id, Notifier(WS_ENDPOINT),
                            catalog.get_workspace_settings()).result

    # When alice accepts, alice declines (another tab) and a second router runs, together
    accepted, declined, routed = run_together(
        lambda: alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"]),
        lambda: alice.ask("decline", conversationId=conversation_id, offerId=offer["offerId"]),
        second_router,
    )

    # Then exactly one of accept and decline won, and state agrees with the winner
    conv = stored.get(conversation_id)
    alice_row, bob_row = world.agent_item("alice@example.com"), world.agent_item("bob@example.com")
    bob_offers = bob.of_type("chatOffered")
    if accepted["type"] == "chatAccepted":
        assert declined["code"] == "OFFER_EXPIRED"
        assert conv.status == states.ACTIVE and conv.agent == "alice@example.com"
        assert (alice_row.active, bob_row.active) == (1, 0)
        assert bob_offers == []
    else:
        assert accepted["code"] == "OFFER_EXPIRED"
        assert declined["type"] == "ack"
        assert conv.status == states.OFFERED and conv.offer_agent == "bob@example.com"
        assert (alice_row.active, bob_row.active) == (0, 1)
        assert len(bob_offers) == 1
    assert routed == "stopped" or len(bob_offers) == 1
    assert set(plain(alice_row.slots)) | set(plain(bob_row.slots)) == {conversation_id}


def test_two_routers_on_one_request_make_one_offer(world: World) -> None:
    world.agent("alice@example.com")
    world.agent("bob@example.com")
    clients = [world.agent_client("alice@example.com"), world.agent_client("bob@example.com")]
    world.live_dialog("sales", {"mode": "round_robin"})
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    answers = run_together(*(
        (lambda: visitor.ask("requestChat", conversationId=conversation_id, cardId="live"))
        for _ in range(3)
    ))
    assert {a["type"] for a in answers} == {"routing"}
    offered = [f for c in clients for f in c.of_type("chatOffered")]
    assert len(offered) == 1
    assert sum(world.agent_item(c.principal).active for c in clients) == 1


def _offer_to_dead_then_live(world: World) -> tuple[Client, Client, str, dict[str, Any]]:
    world.agent("alice@example.com")
    world.agent("bob@example.com")
    alice, bob = world.agent_client("alice@example.com"), world.agent_client("bob@example.com")
    world.gateway.dead.add(alice.connection_id)  # alice's browser died without a $disconnect
    world.live_dialog("sales", {"mode": "agent", "agent": "alice@example.com"})
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    return alice, bob, conversation_id, answer


def test_an_offer_to_a_dead_connection_moves_on_at_once(world: World) -> None:
    _alice, bob, conversation_id, answer = _offer_to_dead_then_live(world)
    assert answer["type"] == "routing"
    offer = bob.of_type("chatOffered")
    assert len(offer) == 1 and offer[0]["conversationId"] == conversation_id
    conv = stored.get(conversation_id)
    assert conv.offer_agent == "bob@example.com"
    assert [o["outcome"] for o in conv.offers] == ["unreachable", "pending"]


def test_an_agent_whose_connections_are_gone_is_no_longer_present(world: World) -> None:
    alice, _, _, _ = _offer_to_dead_then_live(world)
    row = world.agent_item("alice@example.com")
    assert row.connections is None and row.active == 0 and not row.slots.as_dict()
    from livechat.chat.presence import caller_of

    assert caller_of(alice.connection_id) is None
    # a later chat is not offered to alice even though she is "available"
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    assert stored.get(conversation_id).offer_agent == "bob@example.com"


def test_when_every_agent_is_unreachable_the_visitor_gets_the_fallback(world: World) -> None:
    world.agent("alice@example.com")
    alice = world.agent_client("alice@example.com")
    world.gateway.dead.add(alice.connection_id)
    world.live_dialog("sales", {"mode": "round_robin"})
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    assert answer["type"] == "routing"
    fallback = visitor.of_type("fallback")
    assert len(fallback) == 1 and fallback[0]["reason"] == "no_agent"
    assert stored.get(conversation_id).status == states.FALLBACK
    assert world.agent_item("alice@example.com").active == 0
