"""The performance dashboard (issue 16): `getStats` {from, to} reads counters that the
transitions keep in their own transactions (livechat.domain.stats, livechat.store.stats):
requested, connected, missed by reason, offers declined, times to accept, first response
and chat length, per day, agent and team; admins only; bad ranges refused by field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from livechat.chat import stats as stats_use_case
from livechat.store import stats as stored_stats

from tests.support.clock import FakeClock, controlled_clock
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE, BOB, ADA = "alice@example.com", "bob@example.com", "ada@example.com"
VERA = {"firstName": "Vera", "email": "vera@acme.io"}


@pytest.fixture
def clock(aws: Any) -> Iterator[FakeClock]:
    with controlled_clock() as fake:
        yield fake


def admin_client(world: World, email: str = ADA) -> Client:
    status, connection_id = world.connect({"token": world.token(email, groups=("LiveChat", "LiveChatAdmin"))})
    assert status == 200, status
    return Client(world, connection_id, "agent", email)


def request(world: World) -> tuple[Client, str]:
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales", fields=VERA)
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    assert answer["type"] in ("routing", "fallback"), answer
    return visitor, conversation_id


def offer_of(agent: Client, conversation_id: str) -> dict[str, Any]:
    offers = [f for f in agent.of_type("chatOffered") if f["conversationId"] == conversation_id]
    assert offers, agent.frames
    return offers[-1]


def test_counters_follow_the_chats_per_day_agent_and_team(world: World, clock: FakeClock) -> None:
    world.settings(team_retry_agents=0)
    world.live_dialog("sales", {"mode": "team", "team": "emea"})
    world.agent(ALICE, name="Alice Martin", teams=("emea",))
    world.agent(ADA, name="Ada", teams=(), status="away")
    alice = world.agent_client(ALICE)
    admin = admin_client(world)
    day = clock.now().date().isoformat()

    # 1: offered to Alice, accepted after 4 s, first answer 6 s later, ended 50 s after the accept.
    visitor, first = request(world)
    offer = offer_of(alice, first)
    clock.advance(4)
    assert alice.ask("accept", conversationId=first, offerId=offer["offerId"])["type"] == "chatAccepted"
    clock.advance(6)
    assert alice.ask("sendMessage", conversationId=first, text="Hi Vera", clientMessageId="m1")["type"] == "message"
    clock.advance(10)
    alice.ask("sendMessage", conversationId=first, text="Anything else?", clientMessageId="m2")
    clock.advance(34)
    assert visitor.ask("endChat", conversationId=first)["type"] == "chatEnded"

    # 2: Alice declines; nobody else in the team nor available: the fallback (not_accepted).
    _, second = request(world)
    alice.ask("decline", conversationId=second, offerId=offer_of(alice, second)["offerId"])

    # 3: Alice away: nobody to offer it to (no_agent).
    assert alice.ask("setStatus", status="away")["type"] == "ack"
    request(world)

    answer = admin.ask("getStats", **{"from": day, "to": day})
    assert answer["type"] == "stats", answer
    assert (answer["from"], answer["to"]) == (day, day)
    totals = answer["totals"]
    assert totals["requested"] == 3
    assert totals["connected"] == 1
    assert totals["missed"] == 2
    assert totals["missedByReason"] == {"not_accepted": 1, "no_agent": 1, "no_rule_matched": 0,
                                        "quota_reached": 0}
    assert totals["offered"] == 2 and totals["offersDeclined"] == 1 and totals["offersExpired"] == 0
    assert totals["avgTimeToAcceptSeconds"] == 4.0
    assert totals["avgFirstResponseSeconds"] == 6.0
    assert totals["firstResponses"] == 1
    assert totals["avgChatLengthSeconds"] == 50.0
    assert answer["days"] == [{"day": day, **totals}]
    (agent_row,) = answer["agents"]
    assert agent_row["agent"] == ALICE and agent_row["name"] == "Alice Martin"
    assert (agent_row["offered"], agent_row["connected"], agent_row["offersDeclined"]) == (2, 1, 1)
    assert agent_row["requested"] == 0  # a request is the chat's, not an agent's
    (team_row,) = answer["teams"]
    assert team_row["team"] == "emea" and team_row["requested"] == 3 and team_row["missed"] == 2


def test_the_counters_are_sharded_and_read_without_a_scan(world: World, clock: FakeClock) -> None:
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent(ALICE)
    world.agent_client(ALICE)
    for _ in range(9):
        request(world)
    day = clock.now().date()
    cost = stored_stats.ReadCost()
    body = stats_use_case.get_stats(day.isoformat(), day.isoformat(), cost)
    assert body["totals"]["requested"] == 9 and body["totals"]["offered"] == 9
    assert cost.queries == stored_stats.SHARDS
    assert 1 < cost.items <= 2 * stored_stats.SHARDS  # the day's `all` and Alice's items, in some shards
    pks = {item.pk for shard in range(stored_stats.SHARDS)
           for item in stored_stats.StatsModel.query(stored_stats.stats_pk(shard))}
    assert len(pks) > 1  # spread: 9 transactions' random shards all alike: 1 in 8^8 per run


def test_a_range_of_days_lists_every_day(world: World, clock: FakeClock) -> None:
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent(ADA, status="away")  # the admin takes no chats
    admin = admin_client(world)
    first = clock.now().date()
    request(world)  # no agent at all: no_agent
    clock.advance(86_400)
    request(world)
    last = first + timedelta(days=2)
    answer = admin.ask("getStats", **{"from": first.isoformat(), "to": last.isoformat()})
    assert [d["day"] for d in answer["days"]] == [(first + timedelta(days=n)).isoformat() for n in range(3)]
    assert [d["requested"] for d in answer["days"]] == [1, 1, 0]
    assert [d["missedByReason"]["no_agent"] for d in answer["days"]] == [1, 1, 0]
    assert answer["days"][2]["avgTimeToAcceptSeconds"] is None
    # Outside the range: nothing.
    before = admin.ask("getStats", **{"from": (first - timedelta(days=3)).isoformat(),
                                      "to": (first - timedelta(days=1)).isoformat()})
    assert before["totals"]["requested"] == 0


@pytest.mark.parametrize(("fields", "named"), [
    ({"from": "2026-12-06"}, "to"),
    ({"from": "2026-13-01", "to": "2026-12-06"}, "from"),
    ({"from": "06/12/2026", "to": "2026-12-06"}, "from"),
    ({"from": "2026-12-06", "to": "2026-12-05"}, "to"),
    ({"from": "2026-01-01", "to": "2026-12-06"}, "to"),
    ({"from": 20261206, "to": "2026-12-06"}, "from"),
])
def test_a_bad_range_is_refused_naming_the_field(world: World, fields: dict[str, Any], named: str) -> None:
    admin = admin_client(world)
    answer = admin.ask("getStats", **fields)
    assert answer["type"] == "error" and answer["code"] == "BAD_REQUEST", answer
    assert answer["message"].startswith(named), answer


def test_only_admins_may_read_the_dashboard(world: World) -> None:
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent(BOB)
    bob = world.agent_client(BOB)
    answer = bob.ask("getStats", **{"from": "2026-12-01", "to": "2026-12-06"})
    assert (answer["type"], answer["code"]) == ("error", "FORBIDDEN"), answer
    visitor = world.visitor_client()
    answer = visitor.ask("getStats", **{"from": "2026-12-01", "to": "2026-12-06"})
    assert (answer["type"], answer["code"]) == ("error", "FORBIDDEN"), answer
