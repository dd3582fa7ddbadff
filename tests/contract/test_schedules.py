"""protocol.md second round, "Schedules", seen from outside: `status` frames and the `inbox`
answer carry `onSchedule` (bool) and `until` (ISO-8601 UTC, or null); an agent outside
their schedule is not reachable, and their own toggle overrides the schedule until the next
boundary or local midnight.

`livechat dev` runs on the real clock, which these tests cannot move: Sam's schedule has
no block at all (kit.SCHEDULES), so he is off schedule whenever the test runs, his status
never changes by itself (`until` null), and an `available` toggle holds until the next
local midnight in his zone, whatever the time of day."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from tests.blackbox import Client, Stack, closing, run
from tests.contract.kit import LIVE, SAM, SAM_TIMEZONE, TO_SAM, has, instant, now
from tests.contract.spec import covers

pytestmark = pytest.mark.contract


def presence(frame: dict[str, object]) -> tuple[object, object, object]:
    has(frame, status=str, onSchedule=bool)
    assert "until" in frame, f"`until` must be sent, null or not: {frame}"
    return frame["status"], frame["onSchedule"], frame["until"]


def next_local_midnight(moment: datetime) -> datetime:
    local = moment.astimezone(ZoneInfo(SAM_TIMEZONE))
    return datetime.combine(local.date() + timedelta(days=1), datetime.min.time(), local.tzinfo)


def is_a_midnight_after(until: object, before: datetime, after: datetime) -> None:
    """`until` is the next local midnight in Sam's zone of some instant of the exchange."""
    moment = instant(until)
    assert moment in (next_local_midnight(before), next_local_midnight(after)), (until, before, after)


async def away_again(sam: Client) -> None:
    """Leave Sam as the other tests expect him: not reachable."""
    await sam.ok("setStatus", "ack", status="away")


@covers(actions=["listInbox"], events=["inbox"])
def test_given_an_agent_off_schedule_when_he_lists_the_inbox_then_it_says_away_off_schedule_for_good(
        stack: Stack) -> None:
    async def scenario() -> None:
        sam = await stack.agent(SAM, status=None)
        try:
            # Given Sam, whose schedule has no block, set away (his toggle lasts until
            # midnight, and then the schedule says away too)
            await away_again(sam)
            # When he lists his inbox
            inbox = await sam.ok("listInbox", "inbox")
            # Then it carries onSchedule false and `until` null: nothing changes by itself
            status, on_schedule, until = presence(inbox)
            assert (status, on_schedule) == ("away", False), inbox
            assert until is None, inbox
        finally:
            await closing(sam)

    run(scenario)


@covers(actions=["setStatus"], events=["status", "inbox"])
def test_given_an_agent_off_schedule_when_he_sets_himself_available_then_it_holds_until_local_midnight(
        stack: Stack) -> None:
    async def scenario() -> None:
        sam = await stack.agent(SAM, status=None)
        other = await stack.agent(SAM, status=None)
        try:
            # When Sam, off schedule, sets himself available
            before = now()
            await sam.ok("setStatus", "ack", status="available")
            after = now()
            # Then his other tab gets the status with onSchedule false, until his local midnight
            status, on_schedule, until = presence(await other.next_of("status"))
            assert (status, on_schedule) == ("available", False)
            is_a_midnight_after(until, before, after)
            # And his inbox says the same
            inbox = presence(await sam.ok("listInbox", "inbox"))
            assert inbox == (status, on_schedule, until)
        finally:
            await away_again(sam)
            await closing(sam, other)

    run(scenario)


@covers(actions=["requestChat"], events=["chatOffered"])
def test_given_an_agent_off_schedule_then_he_is_offered_a_chat_only_once_his_toggle_overrides_it(
        stack: Stack) -> None:
    async def scenario() -> None:
        sam = await stack.agent(SAM, status=None)
        visitor = await stack.visitor()
        try:
            # Given Sam connected, off schedule, his toggle away
            await away_again(sam)
            # When a visitor asks for a chat of a card routed to him
            first = await visitor.start(TO_SAM)
            await visitor.ask("requestChat", conversationId=first, cardId=LIVE)
            # Then he is not offered it
            await sam.none_of("chatOffered", 1.0, conversationId=first)
            # And once he sets himself available, the next request is offered to him
            await sam.ok("setStatus", "ack", status="available")
            second = await visitor.start(TO_SAM)
            await visitor.ok("requestChat", "routing", conversationId=second, cardId=LIVE)
            offer = await sam.next_of("chatOffered", conversationId=second)
            await sam.ok("decline", "ack", conversationId=second, offerId=offer["offerId"])
        finally:
            await away_again(sam)
            await closing(sam, visitor)

    run(scenario)
