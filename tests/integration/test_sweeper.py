"""The minute sweep (livechat.sweeper), driven with a future `at` instead of waiting:
inactivity expiry, a message racing it, requests whose workflow died, counter repair."""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Callable
from datetime import datetime, timedelta
from functools import partial
from typing import Any

import pytest
from livechat.chat import sweeper
from livechat.domain import transitions
from livechat.domain.change import Change
from livechat.domain.clock import iso, now, parse_iso
from livechat.outbound.delivery import Notifier
from livechat.runtime import get_settings
from livechat.store import conversations as stored
from livechat.store import transaction as store
from livechat.store.keys import AGENT_PK
from livechat.store.tables import AgentModel, plain
from livechat.store.transaction import Applied

from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"
BOB = "bob@example.com"
TIMEOUT = 600  # inactivity_timeout_seconds
FALLBACK = "We'll e-mail you."


def configure(world: World, routing: dict[str, Any] | None = None, *,
              accept_timeout: int = 100) -> None:
    world.settings(inactivity_timeout_seconds=TIMEOUT, accept_timeout_seconds=accept_timeout,
                   team_retry_agents=1, fallback_message=FALLBACK)
    world.live_dialog("sales", routing or {"mode": "round_robin"})


def request(world: World) -> tuple[Client, str]:
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    assert answer["type"] == "routing", answer
    return visitor, conversation_id


def live_chat(world: World, agent: Client) -> tuple[Client, str]:
    """A visitor whose chat `agent` accepted; every frame so far is read."""
    visitor, conversation_id = request(world)
    offer = next(f for f in agent.frames() if f["type"] == "chatOffered")
    accepted = agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    assert accepted["type"] == "chatAccepted", accepted
    visitor.frames()
    agent.frames()
    return visitor, conversation_id


def status_of(conversation_id: str) -> str:
    return str(stored.get(conversation_id).status)


def ended(client: Client) -> list[dict[str, Any]]:
    return [f for f in client.frames() if f["type"] == "chatEnded"]


def after_the_timeout() -> datetime:
    return now() + timedelta(seconds=TIMEOUT + 1)


def just_after_the_timeout_of(conversation_id: str) -> datetime:
    """A sweep whose cutoff falls 0.1 s after the chat's last activity: anything said
    from 0.1 s on counts as recent."""
    last = stored.get(conversation_id).live_activity_at
    assert last is not None
    return parse_iso(last) + timedelta(seconds=TIMEOUT, milliseconds=100)


def a_minute_after_the_offer_expired(conversation_id: str) -> datetime:
    """Let the (1 s) offer really expire, then sweep as the next minute's run would: past
    the offer's deadline and its sweep grace, with no workflow having acted."""
    expires_at = stored.get(conversation_id).offer_expires_at
    assert expires_at is not None
    time.sleep(max(0.0, (parse_iso(expires_at) - now()).total_seconds()) + 0.05)
    return now() + timedelta(seconds=60)


def notifier() -> Notifier:
    return Notifier(get_settings().ws_management_endpoint or "")


def slots(agent: AgentModel) -> dict[str, str]:
    return dict(plain(agent.slots) or {})


def say(client: Client, conversation_id: str, text: str) -> dict[str, Any]:
    return client.ask("sendMessage", conversationId=conversation_id, text=text,
                      clientMessageId=uuid.uuid4().hex)


def said(conversation_id: str) -> list[str]:
    return [str(e.text) for e in stored.events_after(conversation_id, 0)
            if e.type == "message"]


# --- inactivity expiry -----------------------------------------------------------------

def test_a_silent_chat_expires_and_both_sides_are_told_inactivity(world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor, conversation_id = live_chat(world, alice)

    report = sweeper.sweep(at=after_the_timeout())

    assert report.expired == 1
    assert [(f["conversationId"], f["reason"]) for f in ended(visitor)] == [
        (conversation_id, "inactivity")]
    assert [(f["conversationId"], f["reason"]) for f in ended(alice)] == [
        (conversation_id, "inactivity")]
    assert status_of(conversation_id) == "expired"


def test_an_expired_chat_frees_the_agents_slot_and_leaves_the_inbox(world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    _, conversation_id = live_chat(world, alice)
    assert [c["conversationId"] for c in alice.ask("listInbox")["chats"]] == [conversation_id]

    sweeper.sweep(at=after_the_timeout())

    agent = world.agent_item(ALICE)
    assert (int(agent.active), slots(agent)) == (0, {})
    assert alice.ask("listInbox")["chats"] == []


def test_only_the_chat_without_a_recent_message_expires(world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    silent_visitor, silent = live_chat(world, alice)
    talking_visitor, talking = live_chat(world, alice)
    time.sleep(0.4)  # both chats were accepted well before the message below
    message = say(talking_visitor, talking, "Are you still there?")
    # The cutoff falls after both accepts and just before the message.
    at = parse_iso(message["at"]) + timedelta(seconds=TIMEOUT) - timedelta(seconds=0.2)

    report = sweeper.sweep(at=at)

    assert report.expired == 1
    assert (status_of(silent), status_of(talking)) == ("expired", "active")
    assert len(ended(silent_visitor)) == 1
    assert ended(talking_visitor) == []


def test_a_chat_whose_index_key_lags_its_last_message_expires_on_that_message_not_on_the_key(
        world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor, conversation_id = live_chat(world, alice)
    time.sleep(0.05)
    message = say(visitor, conversation_id, "One more thing")
    # Within a minute of the accept, the message leaves the index key (gsi3) where it was.
    key = stored.get(conversation_id).live_activity_at
    assert key is not None and key < message["at"]

    # A sweep whose cutoff the key is before but the message is not: the chat lives on.
    assert sweeper.sweep(at=parse_iso(message["at"]) + timedelta(seconds=TIMEOUT)).expired == 0
    assert status_of(conversation_id) == "active"
    # The next sweep past the message's own timeout expires it.
    assert sweeper.sweep(at=parse_iso(message["at"]) + timedelta(seconds=TIMEOUT, milliseconds=1)).expired == 1
    assert status_of(conversation_id) == "expired"


def test_sweeping_twice_expires_a_chat_once(world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor, conversation_id = live_chat(world, alice)
    at = after_the_timeout()

    first, second = sweeper.sweep(at=at), sweeper.sweep(at=at + timedelta(minutes=1))

    assert (first.expired, second.expired) == (1, 0)
    assert len(ended(visitor)) == 1
    assert len(ended(alice)) == 1
    chat_ended = [e for e in stored.events_after(conversation_id, 0)
                  if e.type == "chatEnded"]
    assert len(chat_ended) == 1
    assert int(world.agent_item(ALICE).active) == 0


# --- a message racing the expiry -------------------------------------------------------

def test_a_message_between_the_sweeps_read_and_its_write_keeps_the_chat_alive(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor, conversation_id = live_chat(world, alice)
    original = store.apply
    answers: list[dict[str, Any]] = []
    racing: list[bool] = []

    def sweep_racing_a_message(cid: str, plan: Callable[..., Change], **kw: Any) -> Applied:
        if cid != conversation_id or racing:
            return original(cid, plan, **kw)
        racing.append(True)  # only the sweeper's first write races

        def plan_then_message(conv: Any) -> Change:
            change = plan(conv)  # the sweeper has decided to expire this chat...
            if not answers:  # ...and the visitor's message commits before its write
                answers.append(say(visitor, conversation_id, "Wait, one more question"))
            return change

        return original(cid, plan_then_message, **kw)

    monkeypatch.setattr(store, "apply", sweep_racing_a_message)
    at = just_after_the_timeout_of(conversation_id)
    time.sleep(0.2)  # the message will be after the sweep's cutoff

    report = sweeper.sweep(at=at)

    assert answers and answers[0]["type"] == "message", answers
    assert report.expired == 0
    assert status_of(conversation_id) == "active"
    assert said(conversation_id) == ["Wait, one more question"]
    assert ended(visitor) == []


def test_a_cutoff_read_before_a_message_does_not_expire_the_chat(world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor, conversation_id = live_chat(world, alice)
    time.sleep(0.05)
    cutoff = iso(now())  # the sweeper saw the chat silent up to here
    time.sleep(0.05)
    assert say(visitor, conversation_id, "Hello?")["type"] == "message"

    expired = sweeper.expire_chat(conversation_id, cutoff, notifier())

    assert expired is False
    assert status_of(conversation_id) == "active"
    assert int(world.agent_item(ALICE).active) == 1


def test_a_message_after_the_expiry_is_refused_and_not_stored(world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor, conversation_id = live_chat(world, alice)
    sweeper.sweep(at=after_the_timeout())

    from_visitor = say(visitor, conversation_id, "Too late?")
    from_agent = say(alice, conversation_id, "Sorry, I was away")

    assert (from_visitor["type"], from_visitor.get("code")) == ("error", "CONFLICT")
    assert (from_agent["type"], from_agent.get("code")) == ("error", "CONFLICT")
    assert said(conversation_id) == []


def test_a_message_sent_while_the_sweep_runs_is_either_stored_or_refused(world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    for round_ in range(3):
        visitor, conversation_id = live_chat(world, alice)
        text = f"race {round_}"
        answer: list[dict[str, Any]] = []
        start = threading.Barrier(2)

        def send(v: Client = visitor, cid: str = conversation_id, t: str = text,
                 out: list[dict[str, Any]] = answer,
                 go: threading.Barrier = start) -> None:
            go.wait()
            out.append(say(v, cid, t))

        at = just_after_the_timeout_of(conversation_id)
        time.sleep(0.2)  # a message stored from now on is after the sweep's cutoff
        sender = threading.Thread(target=send)
        sender.start()
        start.wait()
        sweeper.sweep(at=at)
        sender.join(10)

        assert len(answer) == 1
        if answer[0]["type"] == "message":  # it landed first: the chat lives on
            assert said(conversation_id) == [text]
            assert status_of(conversation_id) == "active"
        else:  # the expiry won: the sender is told, nothing is half-stored
            assert answer[0].get("code") == "CONFLICT", answer
            assert said(conversation_id) == []
            assert status_of(conversation_id) == "expired"
        alice.frames()


# --- requests whose workflow died ------------------------------------------------------

def test_an_offer_whose_workflow_died_is_finished_by_the_sweeper_as_a_timeout_would(
        world: World) -> None:
    configure(world, accept_timeout=1)  # and no workflow: nothing else keeps the time
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor, conversation_id = request(world)
    offer = next(f for f in alice.frames() if f["type"] == "chatOffered")
    visitor.frames()
    at = a_minute_after_the_offer_expired(conversation_id)

    report = sweeper.sweep(at=at)

    assert report.recovered == 1
    withdrawn = [f for f in alice.frames() if f["type"] == "offerWithdrawn"]
    assert withdrawn == [{"type": "offerWithdrawn", "conversationId": conversation_id,
                          "offerId": offer["offerId"], "reason": "expired"}]
    fallbacks = [f for f in visitor.frames() if f["type"] == "fallback"]
    assert [(f["reason"], f["message"]) for f in fallbacks] == [("not_accepted", FALLBACK)]
    assert status_of(conversation_id) == "fallback"
    agent = world.agent_item(ALICE)
    assert (int(agent.active), slots(agent)) == (0, {})


def test_the_sweeper_leaves_an_offer_alone_before_its_deadline(world: World) -> None:
    configure(world, accept_timeout=100)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor, conversation_id = request(world)
    alice.frames()

    report = sweeper.sweep(at=now() + timedelta(seconds=60))

    assert report.recovered == 0
    assert status_of(conversation_id) == "offered"
    assert [f for f in alice.frames() if f["type"] == "offerWithdrawn"] == []
    assert [f for f in visitor.frames() if f["type"] == "fallback"] == []


def test_a_dead_team_offer_moves_to_the_next_agent_of_the_team(world: World) -> None:
    configure(world, {"mode": "team", "team": "emea"}, accept_timeout=1)
    world.agent(ALICE, teams=("emea",))
    world.agent(BOB, teams=("emea",))
    alice, bob = world.agent_client(ALICE), world.agent_client(BOB)
    visitor, conversation_id = request(world)
    first = alice if any(f["type"] == "chatOffered" for f in alice.frames()) else bob
    second = bob if first is alice else alice
    second.frames()
    at = a_minute_after_the_offer_expired(conversation_id)

    sweeper.sweep(at=at)

    assert [f["reason"] for f in first.frames() if f["type"] == "offerWithdrawn"] == ["expired"]
    assert [f["conversationId"] for f in second.frames()
            if f["type"] == "chatOffered"] == [conversation_id]
    assert [f for f in visitor.frames() if f["type"] == "fallback"] == []
    assert status_of(conversation_id) == "offered"


def test_a_request_stuck_in_routing_is_offered_by_the_sweeper(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")

    # A request moved to routing and never offered: the state a router of the previous
    # release left when it died between its two writes (this one commits the request with
    # its first offer, and stores a request alone only to answer it with the fallback).
    store.apply(conversation_id, partial(transitions.request_chat, card_id="live", at=iso(now())))
    assert status_of(conversation_id) == "routing"
    assert [f for f in alice.frames() if f["type"] == "chatOffered"] == []

    report = sweeper.sweep(at=now() + timedelta(seconds=60))

    assert report.recovered == 1
    assert [f["conversationId"] for f in alice.frames()
            if f["type"] == "chatOffered"] == [conversation_id]
    assert status_of(conversation_id) == "offered"
    assert int(world.agent_item(ALICE).active) == 1


# --- counter repair --------------------------------------------------------------------

def test_a_drifted_counter_is_repaired_to_the_agents_open_chats(world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    _, conversation_id = live_chat(world, alice)
    AgentModel.get(AGENT_PK, ALICE).update(actions=[AgentModel.active.set(7)])

    report = sweeper.sweep(at=now())

    assert report.repaired >= 1
    assert ALICE in report.repaired_agents
    agent = world.agent_item(ALICE)
    assert int(agent.active) == 1
    assert list(slots(agent)) == [conversation_id]


def test_a_slot_held_for_an_ended_chat_is_released_by_the_repair(world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor, conversation_id = live_chat(world, alice)
    offer_id = stored.get(conversation_id).offer_id
    assert visitor.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"
    # A lost release: the ended chat still holds its slot.
    AgentModel.get(AGENT_PK, ALICE).update(actions=[
        AgentModel.active.add(1), AgentModel.slots[conversation_id].set(offer_id)])

    report = sweeper.sweep(at=now())

    assert report.repaired_agents == [ALICE]
    agent = world.agent_item(ALICE)
    assert (int(agent.active), slots(agent)) == (0, {})


def test_a_healthy_agent_is_not_repaired(world: World) -> None:
    configure(world)
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    live_chat(world, alice)
    request(world)  # a pending offer holds a slot too
    before = world.agent_item(ALICE)
    assert int(before.active) == 2

    report = sweeper.sweep(at=now())

    assert (report.repaired, report.repaired_agents) == (0, [])
    after = world.agent_item(ALICE)
    assert (int(after.active), slots(after)) == (2, slots(before))
