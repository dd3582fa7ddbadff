"""The engagement quota of plan `select`: a lifetime limit of accepted live chats, counted
atomically by the accept, with the global fallback and e-mails when it runs out."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from livechat.chat import quota
from livechat.store import conversations as stored
from livechat.store.keys import COUNTER_PK, ENGAGEMENTS
from livechat.store.tables import CounterModel, plain

from tests.support.workflow import SENDER, TEAM, Workflow, sent_mails
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"
BOB = "bob@example.com"
FALLBACK = "We'll e-mail you."
GLOBAL_FALLBACK = "Live chat is closed for this site."


def configure(world: World, *, limit: int, plan: str = "select") -> None:
    world.settings(plan=plan, engagement_limit=limit, fallback_message=FALLBACK,
                   global_fallback_message=GLOBAL_FALLBACK,
                   failure_emails={"from": SENDER, "to": [TEAM]})
    world.live_dialog("sales", {"mode": "round_robin"})


def engagements_used_already(value: int) -> None:
    CounterModel(COUNTER_PK, ENGAGEMENTS, value=value).save()


def request(world: World) -> tuple[Client, str, dict[str, Any]]:
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    return visitor, conversation_id, answer


def offer_of(agent: Client, conversation_id: str) -> dict[str, Any]:
    return next(f for f in agent.frames()
                if f["type"] == "chatOffered" and f["conversationId"] == conversation_id)


def accepted_chat(world: World, agent: Client) -> str:
    _, conversation_id, answer = request(world)
    assert answer["type"] == "routing", answer
    offer = offer_of(agent, conversation_id)
    accepted = agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    assert accepted["type"] == "chatAccepted", accepted
    return conversation_id


def mails_about(reason: str) -> list[Any]:
    return [m for m in sent_mails() if reason in m.subject]


# --- the limit -------------------------------------------------------------------------

def test_the_third_request_with_a_limit_of_two_gets_the_global_fallback(world: World) -> None:
    configure(world, limit=2)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    accepted_chat(world, alice)
    accepted_chat(world, alice)

    _, conversation_id, answer = request(world)

    assert answer["type"] == "fallback", answer
    assert (answer["reason"], answer["message"]) == ("quota_reached", GLOBAL_FALLBACK)
    assert [f for f in alice.frames() if f["type"] == "chatOffered"] == []
    assert stored.get(conversation_id).status == "fallback"
    assert quota.used() == 2


def test_availability_is_false_once_the_quota_is_reached_with_an_agent_online(world: World) -> None:
    # Given a select plan with one engagement left and an available agent with free slots
    configure(world, limit=2)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    accepted_chat(world, alice)
    visitor = world.visitor_client()
    ask = {"dialogId": "sales", "cardId": "live"}
    assert visitor.ask("availability", **ask)["available"] is True

    # When the last engagement is used
    accepted_chat(world, alice)

    # Then availability says no, although Alice is online with free slots
    assert visitor.ask("availability", **ask)["available"] is False
    assert world.agent_item(ALICE).status == "available"


def test_two_accepts_racing_for_the_last_engagement_count_once(world: World) -> None:
    configure(world, limit=1)
    world.agent(ALICE)
    world.agent(BOB)
    alice, bob = world.agent_client(ALICE), world.agent_client(BOB)
    visitors: dict[str, Client] = {}
    offers: dict[str, dict[str, Any]] = {}
    for _ in range(2):  # round robin: one chat each
        visitor, conversation_id, answer = request(world)
        assert answer["type"] == "routing", answer
        agent = alice if any(f["conversationId"] == conversation_id
                             for f in alice.frames() if f["type"] == "chatOffered") else bob
        visitors[agent.principal] = visitor
        offers[agent.principal] = {"conversationId": conversation_id,
                                   "offerId": stored.get(
                                       conversation_id).offer_id}
        visitor.frames()
    bob.frames()
    assert sorted(offers) == [ALICE, BOB]
    answers: dict[str, dict[str, Any]] = {}
    start = threading.Barrier(2)

    def accept(agent: Client) -> None:
        start.wait()
        answers[agent.principal] = agent.ask("accept", **offers[agent.principal])

    threads = [threading.Thread(target=accept, args=(a,)) for a in (alice, bob)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)

    kinds = sorted(a["type"] for a in answers.values())
    assert kinds == ["chatAccepted", "error"], answers
    winner = next(e for e, a in answers.items() if a["type"] == "chatAccepted")
    loser = ALICE if winner == BOB else BOB
    assert answers[loser]["code"] == "CONFLICT"
    assert quota.used() == 1
    loser_agent = world.agent_item(loser)
    assert (int(loser_agent.active), plain(loser_agent.slots) or {}) == (0, {})
    seen = visitors[loser].frames()
    assert [(f["reason"], f["message"]) for f in seen if f["type"] == "fallback"] == [
        ("quota_reached", GLOBAL_FALLBACK)]
    assert [f for f in seen if f["type"] == "agentJoined"] == []
    lost = offers[loser]["conversationId"]
    assert stored.get(lost).status == "fallback"


def test_plan_prime_ignores_the_engagement_limit(world: World) -> None:
    configure(world, limit=1, plan="prime")
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    engagements_used_already(5)

    accepted_chat(world, alice)
    _, _, answer = request(world)

    assert answer["type"] == "routing", answer


# --- e-mails ---------------------------------------------------------------------------

def test_reaching_the_limit_sends_one_email(world: World, workflow: Workflow) -> None:
    configure(world, limit=2)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    accepted_chat(world, alice)
    assert sent_mails() == []

    accepted_chat(world, alice)

    mails = sent_mails()
    assert len(mails) == 1
    assert "quota_reached" in mails[0].subject
    assert mails[0].destinations["ToAddresses"] == [TEAM]
    assert mails[0].source == SENDER


def test_a_warning_email_is_sent_when_ninety_percent_is_used(
        world: World, workflow: Workflow) -> None:
    configure(world, limit=10)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    engagements_used_already(7)
    accepted_chat(world, alice)  # the 8th: 80 %
    assert sent_mails() == []

    accepted_chat(world, alice)  # the 9th: 90 %

    mails = sent_mails()
    assert len(mails) == 1
    assert "quota_warning" in mails[0].subject
    assert quota.used() == 9


def test_each_quota_reached_fallback_mails_once_per_conversation(
        world: World, workflow: Workflow) -> None:
    configure(world, limit=1)
    world.agent(ALICE)
    world.agent_client(ALICE)
    engagements_used_already(1)

    _, first, answer1 = request(world)
    _, second, answer2 = request(world)

    assert (answer1["reason"], answer2["reason"]) == ("quota_reached", "quota_reached")
    mails = mails_about("quota_reached")  # notify_failure ran inline with the request
    assert len(mails) == 2
    assert sorted(first in m.body for m in mails) == [False, True]
    assert sorted(second in m.body for m in mails) == [False, True]
