"""The performance dashboard (issue 16), an addition documented in docs/protocol.md:
`getStats` {from, to} (UTC dates, inclusive, at most 92 days) → `stats` {from, to, totals,
days, agents, teams}; only for agents in the `LiveChatAdmin` group (workspace `admin: true`);
another agent or a visitor → FORBIDDEN; a bad range → BAD_REQUEST naming the field.
Black-box over `livechat dev`: WebSocket only, no livechat import.

(Not registered with spec.covers: the contract registry reads the spec's action tables, and
`getStats` is this project's addition.)"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

import pytest

from tests.blackbox import Client, Frame, Stack, closing, run
from tests.contract.kit import ALICE, OLGA, ROUTED, RR, has

pytestmark = pytest.mark.contract

ROW: dict[str, type | tuple[type, ...]] = {
       "requested": int, "connected": int, "missed": int, "missedByReason": dict, "abandoned": int,
       "offered": int, "offersExpired": int, "offersDeclined": int, "offersUnreachable": int,
       "avgTimeToAcceptSeconds": (float, int, type(None)), "firstResponses": int,
       "avgFirstResponseSeconds": (float, int, type(None)), "chatsEnded": int,
       "avgChatLengthSeconds": (float, int, type(None))}
REASONS = {"not_accepted", "no_agent", "no_rule_matched", "quota_reached"}


def window() -> dict[str, Any]:
    """Yesterday to tomorrow (UTC): a test that crosses midnight still sees its counts."""
    today = datetime.now(UTC).date()
    return {"from": (today - timedelta(days=1)).isoformat(), "to": (today + timedelta(days=1)).isoformat()}


def check_row(row: Frame) -> None:
    has(row, **ROW)
    assert set(row["missedByReason"]) == REASONS, row


async def admin(stack: Stack) -> Client:
    olga = await stack.agent(OLGA, "away")  # never offered a chat
    return olga


async def stats(client: Client, **fields: Any) -> Frame:
    answer = await client.ok("getStats", "stats", **(fields or window()))
    has(answer, totals=dict, days=list, agents=list, teams=list)
    for row in (answer["totals"], *answer["days"], *answer["agents"], *answer["teams"]):
        check_row(row)
    return answer


def test_stats_has_every_day_of_the_range_and_rows_of_the_documented_shape(stack: Stack) -> None:
    async def scenario() -> None:
        olga = await admin(stack)
        try:
            answer = await stats(olga, **window())
            assert answer["from"] == window()["from"] and answer["to"] == window()["to"]
            first = date.fromisoformat(window()["from"])
            assert [d["day"] for d in answer["days"]] == [(first + timedelta(days=n)).isoformat() for n in range(3)]
            for agent in answer["agents"]:
                has(agent, agent=str, name=str)
            for team in answer["teams"]:
                has(team, team=str)
        finally:
            await closing(olga)
    run(scenario)


def test_a_live_chat_moves_the_counters_of_the_workspace_and_of_its_agent(stack: Stack) -> None:
    async def scenario() -> None:
        olga = await admin(stack)
        connected = [await stack.agent(email, "available" if email == ALICE else "away") for email in ROUTED]
        alice = connected[ROUTED.index(ALICE)]
        visitor = await stack.visitor()
        try:
            before = await stats(olga)
            mine = {a["agent"]: a for a in before["agents"]}.get(ALICE, {"offered": 0, "connected": 0})
            conversation_id = await visitor.start(RR)
            await visitor.ok("requestChat", "routing", conversationId=conversation_id, cardId="live")
            offer = await alice.next_of("chatOffered", conversationId=conversation_id)
            await alice.ok("accept", "chatAccepted", conversationId=conversation_id, offerId=offer["offerId"])
            await alice.ok("sendMessage", "message", conversationId=conversation_id, text="Hello!",
                           clientMessageId="dash-1")
            await visitor.ok("endChat", "chatEnded", conversationId=conversation_id)

            after = await stats(olga)
            # At least this chat (the stack is shared: an earlier test's chat may end, or
            # its request move on, in the same seconds).
            for name in ("requested", "connected", "offered", "firstResponses", "chatsEnded"):
                assert after["totals"][name] >= before["totals"][name] + 1, (name, before, after)
            for average in ("avgTimeToAcceptSeconds", "avgFirstResponseSeconds", "avgChatLengthSeconds"):
                assert after["totals"][average] is not None and after["totals"][average] >= 0
            row = {a["agent"]: a for a in after["agents"]}[ALICE]
            assert row["offered"] >= mine["offered"] + 1 and row["connected"] >= mine["connected"] + 1
            assert row["name"] == "Alice Adams"
        finally:
            await closing(olga, visitor, *connected)
    run(scenario)


def test_only_an_admin_may_read_the_dashboard(stack: Stack) -> None:
    async def scenario() -> None:
        alice = await stack.agent(ALICE, None)
        visitor = await stack.visitor()
        try:
            for client in (alice, visitor):
                answer = await client.ask("getStats", **window())
                assert (answer["type"], answer["code"]) == ("error", "FORBIDDEN"), answer
        finally:
            await closing(alice, visitor)
    run(scenario)


@pytest.mark.parametrize(("fields", "named"), [
    ({"to": "2026-12-06"}, "from"),
    ({"from": "2026-12-06", "to": "12/07/2026"}, "to"),
    ({"from": "2026-12-06", "to": "2026-12-05"}, "to"),
    ({"from": "2026-01-01", "to": "2026-12-31"}, "to"),
])
def test_a_bad_range_is_a_bad_request_naming_the_field(stack: Stack, fields: dict[str, Any], named: str) -> None:
    async def scenario() -> None:
        olga = await admin(stack)
        try:
            answer = await olga.ask("getStats", **fields)
            assert (answer["type"], answer["code"]) == ("error", "BAD_REQUEST"), answer
            assert named in answer["message"], answer
        finally:
            await closing(olga)
    run(scenario)
