"""Agents' schedules on the stack (workspace.md and protocol.md, second round): routing,
`availability`, the toggle's override, the `status` and `inbox` fields, the slot claim's
condition, `livechat apply` and the dry-run. The clock is a FakeClock: crossing a boundary
is a jump of it, never a sleep."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import Any

import pytest
from livechat.chat import offers, presence
from livechat.domain import schedules, transitions
from livechat.domain.clock import iso, now_iso
from livechat.outbound.delivery import Notifier
from livechat.store import agents, catalog, transaction
from livechat.store import conversations as stored
from livechat.store.tables import AgentModel

from tests.support.admin import STACK, Deployment, livechat, write
from tests.support.aws import WS_ENDPOINT
from tests.support.clock import FakeClock, controlled_clock
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@example.com", "bob@example.com"
PARIS = "Europe/Paris"
WEEKLY = {"mon": ["09:00-12:30", "13:30-18:00"], "tue": ["09:00-18:00"]}
# Monday 2026-12-07 (Paris is UTC+1): 11:00 local is on schedule, 21:00 is not.
ON_SCHEDULE = datetime(2026, 12, 7, 10, 0, tzinfo=UTC)
OFF_SCHEDULE = datetime(2026, 12, 7, 20, 0, tzinfo=UTC)
LOCAL_MIDNIGHT = "2026-12-07T23:00:00.000Z"
TUESDAY_09_00 = "2026-12-08T08:00:00.000Z"


@pytest.fixture
def clock(aws: Any) -> Iterator[FakeClock]:
    with controlled_clock(ON_SCHEDULE) as fake:
        yield fake


def with_schedule(email: str, weekly: dict[str, list[str]] | None = None) -> None:
    """The agent's schedule as `livechat apply` stores it."""
    schedule = schedules.build(PARIS, WEEKLY if weekly is None else weekly)
    agents.handle(email).update(actions=[AgentModel.schedule.set(schedules.to_json(schedule))])


def request(world: World) -> str:
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] in (
        "routing", "fallback")
    return conversation_id


def available(world: World) -> bool:
    answer = world.visitor_client().ask("availability", dialogId="sales", cardId="live")
    assert answer["type"] == "availability", answer
    return bool(answer["available"])


# --- routing and availability ------------------------------------------------------------

def test_a_named_agent_off_schedule_is_passed_over_for_round_robin(world: World, clock: FakeClock) -> None:
    # Given bob, named by the card, with a schedule, and alice without one
    world.agent(ALICE)
    world.agent(BOB)
    with_schedule(BOB)
    alice, bob = world.agent_client(ALICE), world.agent_client(BOB)
    world.live_dialog("sales", {"mode": "agent", "agent": BOB})
    # When a visitor asks for a chat outside bob's hours
    clock.advance_to(OFF_SCHEDULE)
    conversation_id = request(world)
    # Then alice gets it, and bob's hours give him the next one
    assert stored.get(conversation_id).offer_agent == ALICE and not bob.of_type("chatOffered")
    clock.advance_to(datetime(2026, 12, 8, 8, 0, tzinfo=UTC))
    assert stored.get(request(world)).offer_agent == BOB
    assert len(alice.of_type("chatOffered")) == 1


def test_availability_follows_the_only_agents_schedule(world: World, clock: FakeClock) -> None:
    world.agent(ALICE)
    with_schedule(ALICE)
    world.agent_client(ALICE)
    world.live_dialog("sales", {"mode": "round_robin"})
    assert available(world)
    clock.advance_to(datetime(2026, 12, 7, 11, 30, tzinfo=UTC))  # 12:30 local: lunch
    assert not available(world)
    clock.advance_to(datetime(2026, 12, 7, 12, 30, tzinfo=UTC))
    assert available(world)


def test_off_schedule_the_toggle_makes_the_agent_available_until_local_midnight(
        world: World, clock: FakeClock) -> None:
    # Given alice off schedule, with two tabs open
    world.agent(ALICE)
    with_schedule(ALICE)
    alice, other_tab = world.agent_client(ALICE), world.agent_client(ALICE)
    world.live_dialog("sales", {"mode": "round_robin"})
    clock.advance_to(OFF_SCHEDULE)
    assert not available(world)
    # When she sets herself available
    assert alice.ask("setStatus", status="available")["type"] == "ack"
    # Then the other tab learns until when, and she is offered chats until local midnight
    assert other_tab.of_type("status") == [
        {"type": "status", "status": "available", "onSchedule": False, "until": LOCAL_MIDNIGHT}]
    assert world.agent_item(ALICE).override_until == LOCAL_MIDNIGHT
    assert available(world)
    clock.advance(3 * 3600)  # midnight, local
    assert not available(world)


def test_the_inbox_answer_carries_the_effective_status_and_until_when(world: World, clock: FakeClock) -> None:
    world.agent(ALICE)
    with_schedule(ALICE)
    alice = world.agent_client(ALICE)
    inbox = alice.ask("listInbox")
    assert (inbox["status"], inbox["onSchedule"], inbox["until"]) == ("available", True, "2026-12-07T11:30:00.000Z")
    clock.advance_to(datetime(2026, 12, 7, 17, 0, tzinfo=UTC))
    inbox = alice.ask("listInbox")
    assert (inbox["status"], inbox["onSchedule"], inbox["until"]) == ("away", False, TUESDAY_09_00)


def test_an_agent_without_a_schedule_is_always_on_schedule_and_keeps_their_status(
        world: World, clock: FakeClock) -> None:
    world.agent(ALICE)
    alice, other_tab = world.agent_client(ALICE), world.agent_client(ALICE)
    alice.ask("setStatus", status="away")
    assert other_tab.of_type("status") == [{"type": "status", "status": "away", "onSchedule": True, "until": None}]
    assert world.agent_item(ALICE).override_until is None
    inbox = alice.ask("listInbox")
    assert (inbox["status"], inbox["onSchedule"], inbox["until"]) == ("away", True, None)


def alice_away_by_a_lapsed_toggle(world: World) -> Client:
    """Alice on schedule, whose stored `away` is from a toggle that has lapsed (so she is
    available), connected, and a round-robin card."""
    world.agent(ALICE)
    with_schedule(ALICE)
    agents.set_status(ALICE, "away", "2026-12-06T23:00:00.000Z")
    alice = world.agent_client(ALICE)
    world.live_dialog("sales", {"mode": "round_robin"})
    return alice


def test_once_the_toggle_has_lapsed_the_schedule_decides_again(world: World, clock: FakeClock) -> None:
    # Given alice set herself away yesterday: her stored status is still `away`
    alice_away_by_a_lapsed_toggle(world)
    # When a visitor asks during her hours, then she is offered the chat
    assert stored.get(request(world)).offer_agent == ALICE


def test_going_off_schedule_ends_neither_a_pending_offer_nor_a_live_chat(world: World, clock: FakeClock) -> None:
    world.agent(ALICE)
    with_schedule(ALICE)
    alice = world.agent_client(ALICE)
    world.live_dialog("sales", {"mode": "round_robin"})
    clock.advance_to(datetime(2026, 12, 7, 11, 29, 30, tzinfo=UTC))  # 30 s before lunch
    conversation_id = request(world)
    offer = alice.of_type("chatOffered")[0]
    clock.advance(60)
    accepted = alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    assert accepted["type"] == "chatAccepted"
    clock.advance(60)
    sent = alice.ask("sendMessage", conversationId=conversation_id, text="Still here", clientMessageId="m1")
    assert sent["type"] == "message"


# --- the slot claim's condition ----------------------------------------------------------

def routing_conversation(world: World) -> str:
    """A conversation that asked for an agent and has no offer yet (what a router reads)."""
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    transaction.apply(conversation_id, partial(transitions.request_chat, card_id="live", at=now_iso()))
    return conversation_id


def route_on(conversation_id: str, read: tuple[list[Any], dict[str, int]]) -> offers.Outcome:
    return offers.route(conversation_id, Notifier(WS_ENDPOINT), catalog.get_workspace_settings(), roster=read)


def test_a_toggle_committed_after_routing_read_the_agent_fails_the_claim(world: World, clock: FakeClock) -> None:
    # Given alice on schedule, whose stored `away` is from a lapsed toggle (so she is
    # available), and a router that has read her as such
    alice = alice_away_by_a_lapsed_toggle(world)
    conversation_id = routing_conversation(world)
    read = agents.roster()
    # When she sets herself away again before the router claims her slot (same stored
    # status, a new override)
    assert alice.ask("setStatus", status="away")["type"] == "ack"
    outcome = route_on(conversation_id, read)
    # Then the claim's condition refuses her: no offer, no slot taken
    assert outcome.result == "fallback"
    assert not alice.of_type("chatOffered")
    assert world.agent_item(ALICE).active == 0


def test_a_router_that_read_the_current_presence_claims_the_slot(world: World, clock: FakeClock) -> None:
    alice_away_by_a_lapsed_toggle(world)
    conversation_id = routing_conversation(world)
    assert route_on(conversation_id, agents.roster()).result == "offered"
    assert world.agent_item(ALICE).active == 1


# --- livechat apply and the dry-run ------------------------------------------------------

def scheduled_workspace(weekly: dict[str, list[str]] | None) -> dict[str, Any]:
    alice: dict[str, Any] = {"email": ALICE, "name": "Alice"}
    if weekly is not None:
        alice["schedule"] = {"timezone": PARIS, "weekly": weekly}
    return {"agents": [alice, {"email": BOB, "name": "Bob"}],
            "dialogs": [{"id": "sales", "cards": [
                {"id": "live", "kind": "live_chat", "routing": {"mode": "agent", "agent": ALICE}}]}]}


def test_apply_stores_the_schedule_merged_and_a_second_apply_changes_nothing(
        deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, scheduled_workspace({"mon": ["09:00-12:30", "12:30-18:00"]}))
    assert livechat(capsys, "apply", str(path), "--stack", STACK)[0] == 0
    schedule = agents.get_agent(ALICE).schedule
    assert schedule == schedules.build(PARIS, {"mon": ["09:00-18:00"]})
    code, out, _ = livechat(capsys, "apply", str(path), "--stack", STACK)
    assert code == 0 and ALICE not in out
    # And a file without it takes it away: always on schedule again
    assert livechat(capsys, "apply", str(write(tmp_path, scheduled_workspace(None))), "--stack", STACK)[0] == 0
    assert agents.get_agent(ALICE).schedule is None


def test_apply_refuses_a_bad_schedule_with_its_path_and_changes_nothing(
        deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, scheduled_workspace({"mon": ["09:00-12:30", "12:00-13:00"]}))
    code, _, err = livechat(capsys, "apply", str(path), "--stack", STACK)
    assert code != 0
    assert "agents[0].schedule.weekly.mon[1]: 12:00-13:00 overlaps mon[0] (09:00-12:30)" in err
    assert AgentModel.count() == 0


def test_the_dry_run_says_an_agent_is_off_schedule_and_until_when(
        deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = write(tmp_path, scheduled_workspace({}))  # a schedule without blocks: never on
    assert livechat(capsys, "apply", str(path), "--stack", STACK)[0] == 0
    for email in (ALICE, BOB):
        agents.add_connection(email, f"conn-{email}")
    code, out, _ = livechat(capsys, "route", "--dry-run", "--workspace", str(path), "--dialog", "sales",
                            "--card", "live", "--visitor", "{}", "--stack", STACK)
    assert code == 0
    assert f"  agent:{ALICE} {ALICE}: off schedule" in out.splitlines()
    assert f"  all {BOB}: gets the chat" in out.splitlines()


def test_the_dry_run_gives_a_scheduled_agents_next_change_in_their_time_zone(
        deployment: Deployment, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    always = {day: ["00:00-24:00"] for day in schedules.DAYS}
    path = write(tmp_path, scheduled_workspace(always))
    assert livechat(capsys, "apply", str(path), "--stack", STACK)[0] == 0
    agents.add_connection(ALICE, "conn-alice")
    with controlled_clock(ON_SCHEDULE):
        assert toggle(ALICE, "away") == iso(datetime(2026, 12, 7, 23, 0, tzinfo=UTC))
        code, out, _ = livechat(capsys, "route", "--dry-run", "--workspace", str(path), "--dialog", "sales",
                                "--card", "live", "--visitor", "{}", "--stack", STACK)
    assert code == 0
    assert f"  agent:{ALICE} {ALICE}: away [on schedule, away until Tue 00:00 {PARIS}]" in out.splitlines()


def toggle(email: str, status: str) -> str | None:
    """The agent's setStatus, as the action runs it: the override it stored."""
    presence.set_status(email, status)
    return agents.get_agent(email).override_until
