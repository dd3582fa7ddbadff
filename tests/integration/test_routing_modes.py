"""Every routing mode of the live chat card and its edges (spec/live-chat.md)."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.world import Client, World

pytestmark = pytest.mark.integration

RULES = {
    "mode": "custom_rules",
    "rules": [
        {"when": {"field": "email", "op": "ends_with", "value": "@bigcorp.com"},
         "route": {"agent": "alice@example.com"}},
        {"when": {"field": "country", "op": "in", "value": ["FR", "DE"]},
         "route": {"team": "emea"}},
        {"when": {"field": "emailDomain", "op": "equals", "value": "bigcorp.com"},
         "route": {"agent": "bob@example.com"}},
    ],
}


def request(world: World, routing: dict[str, Any], fields: dict[str, str] | None = None,
            capture: tuple[str, ...] = ("firstName", "email")) -> tuple[Client, str, dict[str, Any]]:
    world.live_dialog("sales", routing, fields=capture)
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales", fields=fields)
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    return visitor, conversation_id, answer


def offered_to(*agents: Client) -> list[str]:
    return [a.principal for a in agents for _ in a.of_type("chatOffered")]


def test_round_robin_goes_to_each_agent_in_turn(world: World) -> None:
    emails = ["a@example.com", "b@example.com", "c@example.com"]
    for email in emails:
        world.agent(email)
    clients = [world.agent_client(e) for e in emails]
    world.live_dialog("sales", {"mode": "round_robin"})
    order = []
    for _ in range(6):
        visitor = world.visitor_client()
        conversation_id = world.walk_to_live_card(visitor, "sales")
        assert visitor.ask("requestChat", conversationId=conversation_id,
                           cardId="live")["type"] == "routing"
        order += offered_to(*clients)
    assert order == emails * 2


def test_a_named_agent_receives_the_chat(world: World) -> None:
    world.agent("alice@example.com")
    world.agent("bob@example.com")
    alice, bob = world.agent_client("alice@example.com"), world.agent_client("bob@example.com")
    _, _, answer = request(world, {"mode": "agent", "agent": "bob@example.com"})
    assert answer["type"] == "routing"
    assert offered_to(alice, bob) == ["bob@example.com"]


def test_a_named_agent_who_is_away_falls_back_to_round_robin_over_everyone(world: World) -> None:
    world.agent("alice@example.com")
    world.agent("bob@example.com", status="away")
    alice, bob = world.agent_client("alice@example.com"), world.agent_client("bob@example.com")
    request(world, {"mode": "agent", "agent": "bob@example.com"})
    assert offered_to(alice, bob) == ["alice@example.com"]


def test_a_named_agent_at_capacity_is_skipped(world: World) -> None:
    world.agent("alice@example.com")
    world.agent("bob@example.com", max_chats=1)
    alice, bob = world.agent_client("alice@example.com"), world.agent_client("bob@example.com")
    request(world, {"mode": "agent", "agent": "bob@example.com"})  # bob's one slot
    assert offered_to(alice, bob) == ["bob@example.com"]
    request(world, {"mode": "agent", "agent": "bob@example.com"})
    assert offered_to(alice, bob) == ["alice@example.com"]
    assert world.agent_item("bob@example.com").active == 1


def test_an_agent_with_no_live_connection_is_not_offered(world: World) -> None:
    world.agent("alice@example.com")
    world.agent("bob@example.com")  # never connects
    alice = world.agent_client("alice@example.com")
    request(world, {"mode": "agent", "agent": "bob@example.com"})
    assert offered_to(alice) == ["alice@example.com"]


def test_an_agent_without_the_live_chat_permission_is_never_a_candidate(world: World) -> None:
    # Given a connected agent whose permission the admin then revoked (the connection
    # survives until the admin's apply closes it; routing must not wait for that)
    world.agent("alice@example.com")
    alice = world.agent_client("alice@example.com")
    row = world.agent_item("alice@example.com")
    row.update(actions=[type(row).live_chat.set(False)])
    _visitor, _conversation_id, answer = request(world, {"mode": "round_robin"})
    assert answer["type"] == "fallback" and answer["reason"] == "no_agent"
    assert offered_to(alice) == []


def test_team_routing_stays_inside_the_team(world: World) -> None:
    world.agent("a@example.com", teams=("emea",))
    world.agent("b@example.com", teams=("amer",))
    world.agent("c@example.com", teams=("emea",))
    clients = [world.agent_client(e) for e in ("a@example.com", "b@example.com", "c@example.com")]
    for _ in range(4):
        request(world, {"mode": "team", "team": "emea"})
    assert sorted(offered_to(*clients)) == ["a@example.com"] * 2 + ["c@example.com"] * 2


def test_a_team_with_nobody_available_falls_back_to_everyone(world: World) -> None:
    world.agent("a@example.com", teams=("emea",), status="away")
    world.agent("b@example.com", teams=("amer",))
    a, b = world.agent_client("a@example.com"), world.agent_client("b@example.com")
    _, _, answer = request(world, {"mode": "team", "team": "emea"})
    assert answer["type"] == "routing"
    assert offered_to(a, b) == ["b@example.com"]


def test_nobody_available_anywhere_gives_the_no_agent_fallback(world: World) -> None:
    world.settings(fallback_message="We'll e-mail you.")
    world.agent("a@example.com", teams=("emea",), status="away")
    world.agent_client("a@example.com")
    visitor, conversation_id, answer = request(world, {"mode": "team", "team": "emea"})
    assert answer["type"] == "fallback"
    assert answer["reason"] == "no_agent" and answer["message"] == "We'll e-mail you."
    transcript = visitor.ask("getTranscript", conversationId=conversation_id)
    assert transcript["status"] == "fallback"


def test_rules_are_tried_in_order_and_the_first_match_routes(world: World) -> None:
    world.agent("alice@example.com")
    world.agent("bob@example.com")
    world.agent("eve@example.com", teams=("emea",))
    clients = [world.agent_client(e) for e in
               ("alice@example.com", "bob@example.com", "eve@example.com")]
    request(world, RULES, {"firstName": "Ann", "email": "ann@bigcorp.com", "country": "FR"},
            capture=("firstName", "email", "country"))
    assert offered_to(*clients) == ["alice@example.com"]  # rule 0 beats rule 1 and rule 2
    request(world, RULES, {"firstName": "Jo", "email": "jo@small.fr", "country": "fr"},
            capture=("firstName", "email", "country"))
    assert offered_to(*clients) == ["eve@example.com"]  # rule 1: the emea team


def test_no_rule_matching_is_routed_round_robin_over_every_available_agent(world: World) -> None:
    # protocol.md ("availability"): every routing mode falls back to round-robin over all
    # available agents before giving up
    world.agent("alice@example.com")
    alice = world.agent_client("alice@example.com")
    _, _, answer = request(world, RULES, {"firstName": "Sam", "email": "sam@else.com",
                                          "country": "US"},
                           capture=("firstName", "email", "country"))
    assert answer["type"] == "routing", answer
    assert offered_to(alice) == ["alice@example.com"]


def test_no_rule_matching_with_nobody_available_gives_the_no_rule_matched_fallback(world: World) -> None:
    world.agent("alice@example.com", status="away")
    alice = world.agent_client("alice@example.com")
    _, _, answer = request(world, RULES, {"firstName": "Sam", "email": "sam@else.com",
                                          "country": "US"},
                           capture=("firstName", "email", "country"))
    assert answer["type"] == "fallback" and answer["reason"] == "no_rule_matched"
    assert offered_to(alice) == []


def test_a_matched_rule_whose_agent_is_full_falls_back_to_everyone(world: World) -> None:
    world.agent("alice@example.com", max_chats=1)
    world.agent("bob@example.com")
    alice, bob = world.agent_client("alice@example.com"), world.agent_client("bob@example.com")
    fields = {"firstName": "Ann", "email": "ann@bigcorp.com", "country": "US"}
    capture = ("firstName", "email", "country")
    request(world, RULES, fields, capture)
    request(world, RULES, fields, capture)
    assert offered_to(alice, bob) == ["alice@example.com", "bob@example.com"]


def test_routing_config_comes_from_the_stored_card_never_from_the_client(world: World) -> None:
    world.agent("alice@example.com")
    world.agent("bob@example.com")
    alice, bob = world.agent_client("alice@example.com"), world.agent_client("bob@example.com")
    world.live_dialog("sales", {"mode": "agent", "agent": "bob@example.com"})
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live",
                         routing={"mode": "agent", "agent": "alice@example.com"})
    assert answer["type"] == "routing"
    assert offered_to(alice, bob) == ["bob@example.com"]


def test_availability_says_whether_anyone_can_take_a_chat(world: World) -> None:
    world.agent("alice@example.com")
    world.live_dialog("sales", {"mode": "round_robin"})
    visitor = world.visitor_client()
    ask = {"dialogId": "sales", "cardId": "live"}
    assert visitor.ask("availability", **ask)["available"] is False  # not connected
    alice = world.agent_client("alice@example.com")
    assert visitor.ask("availability", **ask)["available"] is True
    assert alice.ask("setStatus", status="away")["type"] == "ack"
    assert visitor.ask("availability", **ask)["available"] is False


def test_a_retried_request_is_not_routed_twice(world: World) -> None:
    world.agent("alice@example.com")
    world.agent("bob@example.com")
    alice, bob = world.agent_client("alice@example.com"), world.agent_client("bob@example.com")
    visitor, conversation_id, _ = request(world, {"mode": "round_robin"})
    again = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    assert again["type"] == "routing"
    assert len(offered_to(alice, bob)) == 1
