"""The real statemachine/offer.asl.json in moto: timeouts, team retry, decline, races."""

from __future__ import annotations

from typing import Any

import pytest
from livechat.domain import states
from livechat.store import conversations as stored

from tests.support.workflow import SENDER, TEAM, Workflow, eventually, sent_mails
from tests.support.world import Client, World

pytestmark = pytest.mark.integration


def configure(world: World, routing: dict[str, Any], timeout: int = 2) -> None:
    world.settings(accept_timeout_seconds=timeout, team_retry_agents=1,
                   fallback_message="We'll e-mail you.",
                   failure_emails={"from": SENDER, "to": [TEAM]})
    world.live_dialog("sales", routing)


def request(world: World) -> tuple[Client, str]:
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    assert answer["type"] == "routing"
    return visitor, conversation_id


def wait_for(client: Client, kind: str, seen: list[dict[str, Any]], timeout: float = 15
             ) -> dict[str, Any] | None:
    def probe() -> dict[str, Any] | None:
        seen.extend(client.frames())
        return next((f for f in seen if f["type"] == kind), None)

    return eventually(probe, timeout=timeout)


def states_entered(workflow: Workflow, execution_arn: str) -> list[str]:
    """The states an execution entered: what Step Functions Standard bills."""
    return [e["stateEnteredEventDetails"]["name"] for e in workflow.history(execution_arn)
            if "stateEnteredEventDetails" in e]


def offered_to_alice(world: World) -> tuple[Client, Client, str, dict[str, Any]]:
    """alice, the only agent, has the visitor's request on offer for 2 s."""
    configure(world, {"mode": "round_robin"}, timeout=2)
    world.agent("alice@example.com")
    alice = world.agent_client("alice@example.com")
    visitor, conversation_id = request(world)
    return alice, visitor, conversation_id, alice.of_type("chatOffered")[0]


def stopped_in_its_wait(workflow: Workflow, conversation_id: str) -> None:
    """The request's one execution was stopped, and stays stopped past the offer's deadline
    (2 s here) having entered its Wait only: the deadline check never ran."""
    stopped = eventually(lambda: [e for e in workflow.executions() if e["status"] == "ABORTED"], timeout=10)
    assert len(stopped) == 1 and stopped[0]["name"].startswith(conversation_id)
    eventually(lambda: False, timeout=3)
    assert states_entered(workflow, stopped[0]["executionArn"]) == ["WaitForAccept"]
    assert [e["status"] for e in workflow.executions()] == ["ABORTED"]


def test_an_accepted_offer_stops_its_timer_after_one_state_and_no_fallback(
        world: World, workflow: Workflow) -> None:
    alice, visitor, conversation_id, offer = offered_to_alice(world)
    assert alice.ask("accept", conversationId=conversation_id,
                     offerId=offer["offerId"])["type"] == "chatAccepted"
    stopped_in_its_wait(workflow, conversation_id)
    assert stored.get(conversation_id).status == states.ACTIVE
    assert [f for f in visitor.frames() if f["type"] == "fallback"] == []
    assert sent_mails() == []


def test_a_visitor_leaving_an_open_offer_stops_its_timer(world: World, workflow: Workflow) -> None:
    alice, visitor, conversation_id, offer = offered_to_alice(world)
    assert visitor.ask("endChat", conversationId=conversation_id)["type"] == "ack"
    withdrawn = wait_for(alice, "offerWithdrawn", [])
    assert withdrawn is not None and withdrawn["offerId"] == offer["offerId"]
    assert withdrawn["reason"] == "visitor_left"
    stopped_in_its_wait(workflow, conversation_id)
    assert world.agent_item("alice@example.com").active == 0
    assert sent_mails() == []


def test_an_unanswered_offer_expires_the_visitor_gets_the_fallback_and_one_email(
        world: World, workflow: Workflow) -> None:
    configure(world, {"mode": "round_robin"}, timeout=1)
    world.agent("alice@example.com")
    alice = world.agent_client("alice@example.com")
    visitor, conversation_id = request(world)
    offer = alice.of_type("chatOffered")[0]
    agent_frames: list[dict[str, Any]] = []
    withdrawn = wait_for(alice, "offerWithdrawn", agent_frames)
    assert withdrawn == {"type": "offerWithdrawn", "conversationId": conversation_id,
                         "offerId": offer["offerId"], "reason": "expired"}
    fallback = wait_for(visitor, "fallback", [])
    assert fallback is not None and fallback["reason"] == "not_accepted"
    assert fallback["message"] == "We'll e-mail you."
    assert world.agent_item("alice@example.com").active == 0
    mails = eventually(sent_mails)
    assert len(mails) == 1
    assert mails[0].destinations["ToAddresses"] == [TEAM]
    assert "vera@acme.io" in mails[0].body and "not_accepted" in mails[0].subject
    late = alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    assert late["code"] == "OFFER_EXPIRED"


def test_team_routing_tries_the_next_agent_when_the_first_does_not_answer(
        world: World, workflow: Workflow) -> None:
    configure(world, {"mode": "team", "team": "emea"}, timeout=1)
    world.agent("alice@example.com", teams=("emea",))
    world.agent("bob@example.com", teams=("emea",))
    alice, bob = world.agent_client("alice@example.com"), world.agent_client("bob@example.com")
    visitor, conversation_id = request(world)
    first = [c for c in (alice, bob) if c.of_type("chatOffered")]
    assert len(first) == 1
    second = bob if first[0] is alice else alice
    offer = wait_for(second, "chatOffered", [])
    assert offer is not None
    accepted = second.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    assert accepted["type"] == "chatAccepted"
    assert stored.get(conversation_id).agent == second.principal
    assert [f for f in visitor.frames() if f["type"] == "fallback"] == []


def test_team_routing_falls_back_after_the_second_agent_times_out_too(
        world: World, workflow: Workflow) -> None:
    configure(world, {"mode": "team", "team": "emea"}, timeout=1)
    for email in ("alice@example.com", "bob@example.com", "carol@example.com"):
        world.agent(email, teams=("emea",))
    clients = [world.agent_client(e) for e in
               ("alice@example.com", "bob@example.com", "carol@example.com")]
    visitor, conversation_id = request(world)
    fallback = wait_for(visitor, "fallback", [], timeout=20)
    assert fallback is not None and fallback["reason"] == "not_accepted"
    conv = stored.get(conversation_id)
    assert [o["outcome"] for o in conv.offers] == ["expired", "expired"]  # one retry, not two
    # two different agents were tried, the third never
    assert sorted(len(c.of_type("chatOffered")) for c in clients) == [0, 1, 1]
    assert len(eventually(sent_mails)) == 1


def test_a_decline_moves_a_team_chat_to_the_next_agent_at_once(
        world: World, workflow: Workflow) -> None:
    configure(world, {"mode": "team", "team": "emea"}, timeout=30)
    world.agent("alice@example.com", teams=("emea",))
    world.agent("bob@example.com", teams=("emea",))
    alice, bob = world.agent_client("alice@example.com"), world.agent_client("bob@example.com")
    _, conversation_id = request(world)
    first = alice if alice.of_type("chatOffered") else bob
    other = bob if first is alice else alice
    conv = stored.get(conversation_id)
    assert first.ask("decline", conversationId=conversation_id,
                     offerId=conv.offer_id)["type"] == "ack"
    assert len(other.of_type("chatOffered")) == 1  # no waiting for the 30 s timeout
    # the request goes on: its timer keeps the new offer's time
    assert [e["status"] for e in workflow.executions()] == ["RUNNING"]


def test_a_decline_that_ends_in_the_fallback_stops_the_timer(world: World, workflow: Workflow) -> None:
    alice, visitor, conversation_id, offer = offered_to_alice(world)
    assert alice.ask("decline", conversationId=conversation_id, offerId=offer["offerId"])["type"] == "ack"
    fallback = wait_for(visitor, "fallback", [])
    assert fallback is not None and fallback["reason"] == "not_accepted"
    stopped_in_its_wait(workflow, conversation_id)
    assert len(eventually(sent_mails)) == 1  # the team still hears of it, once


def test_an_accept_just_after_expiry_is_refused_and_the_visitor_gets_one_outcome(
        world: World, workflow: Workflow) -> None:
    configure(world, {"mode": "round_robin"}, timeout=1)
    world.agent("alice@example.com")
    alice = world.agent_client("alice@example.com")
    visitor, conversation_id = request(world)
    offer = alice.of_type("chatOffered")[0]
    seen: list[dict[str, Any]] = []
    assert wait_for(visitor, "fallback", seen) is not None
    answer = alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    assert answer["code"] == "OFFER_EXPIRED"
    seen.extend(visitor.frames())
    outcomes = [f for f in seen if f["type"] in ("fallback", "agentJoined")]
    assert len(outcomes) == 1
    assert stored.get(conversation_id).status == states.FALLBACK


def test_a_team_retry_never_leaves_the_team(world: World, workflow: Workflow) -> None:
    # Given a one-agent team and an agent outside it, both free
    configure(world, {"mode": "team", "team": "emea"}, timeout=1)
    world.agent("alice@example.com", teams=("emea",))
    world.agent("zoe@example.com", teams=("amer",))
    alice, zoe = world.agent_client("alice@example.com"), world.agent_client("zoe@example.com")
    visitor, _ = request(world)
    assert len(alice.of_type("chatOffered")) == 1
    # When alice does not answer, the retry finds nobody else in the team
    fallback = wait_for(visitor, "fallback", [])
    # Then the visitor gets the fallback; zoe (not in the team) is never offered the chat
    assert fallback is not None and fallback["reason"] == "not_accepted"
    assert zoe.of_type("chatOffered") == []
