"""Capacity and round-robin fairness stay exact when many routers run at once."""

from __future__ import annotations

import sys
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager

import pytest
from livechat.store import agents
from livechat.store.tables import plain

from tests.support.world import Client, World

pytestmark = pytest.mark.integration


@contextmanager
def frequent_thread_switches() -> Iterator[None]:
    # Switch threads far more often than the default 5 ms so that interleavings between
    # the read of the agents and the conditional writes really happen.
    before = sys.getswitchinterval()
    sys.setswitchinterval(1e-4)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def staff(world: World, count: int, max_chats: int) -> list[Client]:
    emails = [f"agent{i:02d}@example.com" for i in range(count)]
    for email in emails:
        world.agent(email, max_chats=max_chats)
    return [world.agent_client(email) for email in emails]


def visitors_at_live_card(world: World, count: int) -> list[tuple[Client, str]]:
    # Offers must outlive the whole run (a slow machine must not expire them mid-test).
    world.settings(accept_timeout_seconds=3600)
    world.live_dialog("sales", {"mode": "round_robin"})
    result = []
    for _ in range(count):
        visitor = world.visitor_client()
        result.append((visitor, world.walk_to_live_card(visitor, "sales")))
    return result


def request_all(pairs: list[tuple[Client, str]]) -> list[dict[str, object]]:
    def one(pair: tuple[Client, str]) -> dict[str, object]:
        visitor, conversation_id = pair
        return visitor.ask("requestChat", conversationId=conversation_id, cardId="live")

    with frequent_thread_switches(), ThreadPoolExecutor(max_workers=16) as pool:
        return list(pool.map(one, pairs))


def test_round_robin_gives_every_agent_exactly_its_share_under_16_threads(world: World) -> None:
    # Given 20 connected agents with room for 10 chats each
    team = staff(world, 20, max_chats=10)
    pairs = visitors_at_live_card(world, 100)

    # When 100 chats are requested from 16 threads at once
    answers = request_all(pairs)

    # Then every request is being routed and every agent was offered exactly 5
    assert Counter(a["type"] for a in answers) == {"routing": 100}
    offers = {agent.principal: len(agent.of_type("chatOffered")) for agent in team}
    assert set(offers.values()) == {5}, offers
    assert all(world.agent_item(a.principal).active == 5 for a in team)


def test_capacity_is_never_exceeded_and_every_slot_comes_back(world: World) -> None:
    # Given 20 agents who can each hold 3 chats
    team = staff(world, 20, max_chats=3)
    pairs = visitors_at_live_card(world, 200)

    # When 200 chats are requested from 16 threads at once
    answers = request_all(pairs)

    # Then exactly 60 are offered, 140 fall back for want of an agent, nobody holds more than 3
    offers = [(agent, frame) for agent in team for frame in agent.of_type("chatOffered")]
    assert len(offers) == 60
    # A request is answered by `fallback` when nobody was free when it was read, or by
    # `routing` and then a `fallback` when every free agent was taken meanwhile.
    fallbacks = [f for v, _ in pairs for f in v.frames() if f["type"] == "fallback"]
    fallbacks += [a for a in answers if a["type"] == "fallback"]
    assert len(fallbacks) == 140
    assert all(f["reason"] == "no_agent" for f in fallbacks)
    rows = agents.list_agents()
    assert all(row.active == 3 and len(plain(row.slots)) == 3 for row in rows)

    # And when every offered chat is accepted and then ended, every counter is back to 0
    def accept_and_end(item: tuple[Client, dict[str, object]]) -> None:
        agent, offer = item
        accepted = agent.ask("accept", conversationId=offer["conversationId"],
                             offerId=offer["offerId"])
        assert accepted["type"] == "chatAccepted"
        ended = agent.ask("endChat", conversationId=offer["conversationId"])
        assert ended["type"] == "chatEnded"

    with frequent_thread_switches(), ThreadPoolExecutor(max_workers=16) as pool:
        list(pool.map(accept_and_end, offers))
    rows = agents.list_agents()
    assert all(row.active == 0 and not plain(row.slots) for row in rows)
