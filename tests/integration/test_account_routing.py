"""Account routing (workspace.md, second round): a named account's chats go to its owner
first; the owner unreachable, declining or letting the offer expire → the card's own
routing, without the owner. The real offer workflow runs (moto) where time matters."""

from __future__ import annotations

from typing import Any

import pytest
from livechat.store import conversations as stored
from livechat.store.keys import COUNTER_PK, ENGAGEMENTS
from livechat.store.tables import CounterModel

from tests.support.workflow import SENDER, TEAM, Workflow, eventually
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

OWNER = "olga@example.com"
BIGCORP = {"firstName": "Bea", "email": "bea@BigCorp.com"}


def configure(world: World, routing: dict[str, Any], *, on: bool = True, timeout: int = 30) -> None:
    world.settings(account_routing=on, account_owners={"bigcorp.com": OWNER},
                   accept_timeout_seconds=timeout, team_retry_agents=1,
                   failure_emails={"from": SENDER, "to": [TEAM]})
    world.live_dialog("sales", routing)


def request(world: World, fields: dict[str, str] = BIGCORP) -> tuple[Client, str]:
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales", fields=fields)
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    return visitor, conversation_id


def offers_of(client: Client) -> list[dict[str, Any]]:
    return client.of_type("chatOffered")


def test_the_owner_gets_the_chat_of_their_account_before_the_cards_own_target(world: World) -> None:
    world.agent(OWNER)
    world.agent("bob@example.com")
    owner, bob = world.agent_client(OWNER), world.agent_client("bob@example.com")
    configure(world, {"mode": "agent", "agent": "bob@example.com"})

    _, conversation_id = request(world)

    assert [o["conversationId"] for o in offers_of(owner)] == [conversation_id]
    assert offers_of(bob) == []


def test_another_domain_a_subdomain_or_routing_off_leave_the_card_alone(world: World) -> None:
    world.agent(OWNER)
    world.agent("bob@example.com")
    owner, bob = world.agent_client(OWNER), world.agent_client("bob@example.com")
    configure(world, {"mode": "agent", "agent": "bob@example.com"})
    request(world, {"firstName": "Al", "email": "al@acme.io"})
    request(world, {"firstName": "Sue", "email": "sue@eu.bigcorp.com"})
    configure(world, {"mode": "agent", "agent": "bob@example.com"}, on=False)
    request(world)

    assert offers_of(owner) == []
    assert len(offers_of(bob)) == 3


def test_an_owner_who_is_away_or_full_is_passed_over_at_once(world: World) -> None:
    world.agent(OWNER, status="away")
    world.agent("bob@example.com")
    owner, bob = world.agent_client(OWNER), world.agent_client("bob@example.com")
    configure(world, {"mode": "round_robin"})

    _, conversation_id = request(world)

    assert offers_of(owner) == []
    assert [o["conversationId"] for o in offers_of(bob)] == [conversation_id]


def test_a_decline_by_the_owner_runs_the_cards_routing_without_them(world: World) -> None:
    # Round robin would otherwise end in the fallback after one unanswered offer: the
    # owner's offer is not the card's.
    world.agent(OWNER)
    world.agent("bob@example.com")
    owner, bob = world.agent_client(OWNER), world.agent_client("bob@example.com")
    configure(world, {"mode": "round_robin"})
    visitor, conversation_id = request(world)
    (offer,) = offers_of(owner)

    assert owner.ask("decline", conversationId=conversation_id, offerId=offer["offerId"])["type"] == "ack"

    (second,) = offers_of(bob)
    assert owner.of_type("chatOffered") == []  # never offered again
    assert bob.ask("accept", conversationId=conversation_id, offerId=second["offerId"])["type"] == "chatAccepted"
    assert stored.get(conversation_id).agent == "bob@example.com"
    assert visitor.of_type("fallback") == []


def test_an_owner_who_lets_the_offer_expire_hands_over_to_the_team_with_its_own_retry(
        world: World, workflow: Workflow) -> None:
    # The team card keeps its one retry after the owner's expired offer: owner, then two
    # team members, then the fallback.
    world.agent(OWNER)
    for email in ("ann@example.com", "ben@example.com", "cid@example.com"):
        world.agent(email, teams=("emea",))
    owner = world.agent_client(OWNER)
    team = [world.agent_client(e) for e in ("ann@example.com", "ben@example.com", "cid@example.com")]
    configure(world, {"mode": "team", "team": "emea"}, timeout=1)
    visitor, conversation_id = request(world)
    assert len(offers_of(owner)) == 1

    seen: list[dict[str, Any]] = []

    def fell_back() -> dict[str, Any] | None:
        seen.extend(visitor.frames())
        return next((f for f in seen if f["type"] == "fallback"), None)

    fallback = eventually(fell_back, timeout=30)
    assert fallback is not None and fallback["reason"] == "not_accepted"
    conv = stored.get(conversation_id)
    assert [(o["agent"] == OWNER, o["outcome"]) for o in conv.offers] == [
        (True, "expired"), (False, "expired"), (False, "expired")]
    assert sorted(len(c.of_type("chatOffered")) for c in team) == [0, 1, 1]
    assert offers_of(owner) == []  # the owner is never offered it twice


def test_the_quota_comes_first(world: World) -> None:
    world.agent(OWNER)
    owner = world.agent_client(OWNER)
    configure(world, {"mode": "round_robin"})
    world.settings(plan="select", engagement_limit=2, account_routing=True,
                   account_owners={"bigcorp.com": OWNER})
    CounterModel(COUNTER_PK, ENGAGEMENTS, value=2).save()
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales", fields=BIGCORP)

    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")

    assert answer["type"] == "fallback" and answer["reason"] == "quota_reached"
    assert offers_of(owner) == []
