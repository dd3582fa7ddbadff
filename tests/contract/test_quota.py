"""The engagement quota (plan `select`, `engagement_limit`), on a stack of its own: an
engagement is a chat an agent accepted; once the quota is reached, `availability` says false
and a requested chat falls back with reason quota_reached (and one failure e-mail)."""

from __future__ import annotations

import pytest

from tests.blackbox import Stack, Visitor, offered, run, scene
from tests.contract.kit import (
    FALLBACK_MESSAGES,
    LIVE,
    QUINN,
    QUOTA_LIMIT,
    RR,
    has,
    seq_of,
)
from tests.contract.spec import covers

pytestmark = pytest.mark.contract


async def _available(visitor: Visitor) -> bool:
    answer = await visitor.ok("availability", "availability", dialogId=RR, cardId=LIVE)
    has(answer, available=bool)
    available: bool = answer["available"]
    return available


@covers(actions=["availability"], events=["fallback"], reasons={"fallback": ["quota_reached"]})
def test_given_a_select_plan_when_its_engagements_are_used_up_then_availability_is_false_and_chats_fall_back(
        quota_stack: Stack) -> None:
    async def scenario() -> None:
        # Given a select plan with a quota of one engagement, and Quinn, who never set a status
        async with scene(quota_stack) as given:
            quinn = await given.agent(QUINN)
            visitors = [given.visitor, await given.another_visitor(), await given.another_visitor()]
            # Then a new agent starts available: someone can take a chat
            assert await _available(visitors[0]) is True

            # And an offer that is declined is not an engagement
            declined_id, offer = await offered(visitors[0], quinn)
            await quinn.ok("decline", "ack", conversationId=declined_id, offerId=offer["offerId"])
            assert await _available(visitors[0]) is True

            # When Quinn accepts a chat (the quota's one engagement) and ends it
            assert QUOTA_LIMIT == 1
            first, _ = await given.live_chat(quinn, visitor=visitors[1])
            await given.end_chat(quinn, first)

            # Then availability says false, though Quinn is available with a free slot
            assert await _available(visitors[2]) is False

            # And a requested chat cannot be routed at all: the fallback answers, reason quota_reached
            conversation_id = await visitors[2].start(RR)
            answer = await visitors[2].ask("requestChat", conversationId=conversation_id, cardId=LIVE)
            assert answer["type"] == "fallback", answer
            has(answer, conversationId=str, message=str, reason=str)
            assert answer["reason"] == "quota_reached", answer
            assert answer["message"] in FALLBACK_MESSAGES, answer
            seq_of(answer)
            await quinn.none_of("chatOffered", 0.3, conversationId=conversation_id)

            # And one failure e-mail about that conversation names the reason
            mails = await quota_stack.failure_mails(conversation_id)
            assert len(mails) == 1, mails
            assert "quota_reached" in str(mails[0]), mails[0]

    run(scenario)
