"""protocol.md "Server events" of routing — agentJoined, offerWithdrawn, fallback — with the
failure e-mail each fallback sends, and the seq every stored event of a conversation carries."""

from __future__ import annotations

import time

import pytest

from tests.blackbox import Stack, accepted, offer_to, offered, run
from tests.contract.kit import (
    ACCEPT_TIMEOUT,
    AGENTS,
    ALICE,
    BOB,
    FAILURE_FROM,
    FAILURE_TO,
    FALLBACK_MESSAGES,
    LIVE,
    RR,
    RULES,
    SLACK,
    at_the_live_card,
    check_gap_free,
    has,
    instant,
    scene_with,
    seq_of,
)
from tests.contract.spec import covers

pytestmark = pytest.mark.contract

def check_fallback(frame: dict[str, object], reason: str) -> None:
    """`fallback` {conversationId, message, reason: not_accepted|no_agent|no_rule_matched|quota_reached}"""
    assert frame.get("type") == "fallback", frame
    has(frame, conversationId=str, message=str, reason=str)
    assert frame["reason"] == reason, frame
    assert frame["message"] in FALLBACK_MESSAGES, frame
    seq_of(frame)  # a stored event


def check_one_failure_mail(mails: list[dict[str, object]], reason: str) -> None:
    """One e-mail per conversation and reason, from the workspace's sender to its recipients."""
    assert len(mails) == 1, f"{len(mails)} failure e-mails about one conversation: {mails}"
    text = str(mails[0])
    assert reason in text, f"the e-mail does not name the reason {reason}: {mails[0]}"
    assert FAILURE_FROM in text and FAILURE_TO in text, mails[0]


@covers(events=["agentJoined"])
def test_given_an_offer_when_the_agent_accepts_then_the_visitor_gets_agent_joined_with_name_and_avatar(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(BOB,)) as given:
            bob, visitor = given.agents[BOB], given.visitor
            conversation_id, offer = await offered(visitor, bob)
            given.end_at_exit(bob, conversation_id)

            # When Bob accepts
            await bob.ok("accept", "chatAccepted", conversationId=conversation_id, offerId=offer["offerId"])

            # Then the visitor gets agentJoined {conversationId, agent {name, avatarUrl}}, a stored event
            joined = await visitor.next_of("agentJoined", conversationId=conversation_id)
            has(joined, conversationId=str, agent=dict)
            assert joined["agent"] == {**joined["agent"], "name": AGENTS[BOB][0],
                                       "avatarUrl": "https://example.com/bob.png"}, joined
            seq_of(joined)
            await given.end_chat(bob, conversation_id)

    run(scenario)


@covers(events=["offerWithdrawn", "fallback"], codes=["OFFER_EXPIRED"],
        reasons={"offerWithdrawn": ["expired"], "fallback": ["not_accepted"]})
def test_given_an_offer_nobody_answers_when_it_times_out_then_withdrawn_expired_fallback_not_accepted_and_one_mail(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, offer = await offered(visitor, alice)
            started = time.monotonic()

            # When Alice lets the offer run out
            withdrawn = await alice.next_of("offerWithdrawn", ACCEPT_TIMEOUT + SLACK, conversationId=conversation_id)

            # Then offerWithdrawn {conversationId, offerId, reason: expired}, not before the timeout
            has(withdrawn, conversationId=str, offerId=str, reason=str)
            assert (withdrawn["offerId"], withdrawn["reason"]) == (offer["offerId"], "expired")
            assert time.monotonic() - started >= ACCEPT_TIMEOUT - 1.0

            # And the visitor gets the fallback, reason not_accepted
            check_fallback(await visitor.next_of("fallback", SLACK, conversationId=conversation_id), "not_accepted")

            # And accepting now is OFFER_EXPIRED
            late = await alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
            assert (late["type"], late["code"]) == ("error", "OFFER_EXPIRED"), late

            # And one failure e-mail about the conversation names the reason
            check_one_failure_mail(await stack.failure_mails(conversation_id), "not_accepted")

    run(scenario)


@covers(events=["fallback"], reasons={"fallback": ["no_agent"]})
def test_given_no_agent_available_when_a_chat_is_requested_then_fallback_no_agent_answers_and_one_mail(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=()) as given:
            visitor = given.visitor
            conversation_id = await visitor.start(RR)

            # When a chat is requested, Then the fallback answers it (it cannot be routed at all)
            answer = await visitor.ask("requestChat", conversationId=conversation_id, cardId=LIVE)
            check_fallback(answer, "no_agent")

            # And one failure e-mail about the conversation names the reason
            check_one_failure_mail(await stack.failure_mails(conversation_id), "no_agent")

    run(scenario)


@covers(events=["fallback"], reasons={"fallback": ["no_rule_matched"]})
def test_given_rules_that_match_nobody_and_no_agent_available_when_a_chat_is_requested_then_fallback_no_rule_matched(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=()) as given:
            visitor = given.visitor
            # Given a visitor whom no rule of the card matches (it routes @bigcorp.example e-mails only)
            conversation_id = await visitor.start(RULES)

            # When a chat is requested and nobody is available
            answer = await visitor.ask("requestChat", conversationId=conversation_id, cardId=LIVE)

            # Then the fallback answers it, reason no_rule_matched, and one e-mail says so
            check_fallback(answer, "no_rule_matched")
            check_one_failure_mail(await stack.failure_mails(conversation_id), "no_rule_matched")

    run(scenario)


def test_given_rules_that_match_nobody_when_an_agent_is_available_then_round_robin_offers_her_the_chat(
        stack: Stack) -> None:
    async def scenario() -> None:
        # Given Bob is available and no rule of the card matches the visitor (protocol.md:
        # "every routing mode falls back to round-robin over all available agents before giving up")
        async with scene_with(stack, available=(BOB,)) as given:
            bob, visitor = given.agents[BOB], given.visitor
            answer = await visitor.ask("availability", dialogId=RULES, cardId=LIVE)
            assert answer["available"] is True, answer

            # When a chat is requested
            conversation_id = await visitor.start(RULES)
            routing = await visitor.ask("requestChat", conversationId=conversation_id, cardId=LIVE)

            # Then it is routed, and Bob is offered it
            assert routing["type"] == "routing", routing
            offer = await bob.next_of("chatOffered", conversationId=conversation_id)
            await bob.ok("decline", "ack", conversationId=conversation_id, offerId=offer["offerId"])

    run(scenario)


def test_given_a_whole_conversation_when_its_transcript_is_read_then_every_stored_event_has_the_next_seq(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            # Given a conversation that went through the dialog, a live chat, messages and its end
            conversation_id, answered, captured = await at_the_live_card(visitor)
            given.end_at_exit(alice, conversation_id)
            offer = await offer_to(visitor, alice, conversation_id)
            live = [await accepted(visitor, alice, conversation_id, offer)]
            live.append(await visitor.ok("sendMessage", "message", conversationId=conversation_id, text="1",
                                         clientMessageId="v-1"))
            live.append(await alice.ok("sendMessage", "message", conversationId=conversation_id, text="2",
                                       clientMessageId="a-1"))
            live.append(await visitor.ok("endChat", "chatEnded", conversationId=conversation_id))
            given.ended(conversation_id)

            # When its transcript is read
            transcript = await alice.ok("getTranscript", "transcript", conversationId=conversation_id)

            # Then the events' seqs increase by one, and the frames carried those same seqs
            seqs = [e["seq"] for e in transcript["events"]]
            check_gap_free(seqs)
            assert [seq_of(frame) for frame in live] == seqs[-len(live):]
            assert [e["kind"] for e in transcript["events"]][:2] == ["answer", "capture"]
            for ack in (answered, captured):  # an ack may carry the stored event's seq (ours)
                assert ack.get("seq") in (None, *seqs[:2]), ack
            assert all(instant(e["at"]) for e in transcript["events"])

    run(scenario)

