"""protocol.md "Agent actions": each row's answer and effect, seen from outside; the second
round's setStatus → ack with `status` to the agent's other connections; agents named by their
e-mail (the Cognito user name)."""

from __future__ import annotations

import asyncio
import base64
import json
from typing import Any

import pytest
from botocore.exceptions import ClientError

from tests.blackbox import Client, Stack, closing, live_chat, offered, run
from tests.contract.kit import (
    ACCEPT_TIMEOUT,
    ADA,
    AGENTS,
    ALICE,
    BOB,
    CAROL,
    DAVE,
    LIVE,
    PRICING,
    RR,
    SALES,
    at_the_live_card,
    check_transcript_event,
    has,
    instant,
    now,
    scene_with,
)
from tests.contract.spec import covers

pytestmark = pytest.mark.contract


# --- setStatus ----------------------------------------------------------------------------

@covers(actions=["setStatus"], events=["ack", "status"])
def test_given_an_agent_on_two_connections_when_one_sets_the_status_then_ack_and_only_the_other_gets_status(
        stack: Stack) -> None:
    async def scenario() -> None:
        # Given Alice signed in twice (say, two tabs)
        sender = await stack.agent(ALICE, status=None)
        other = await stack.agent(ALICE, status=None)
        try:
            for status in ("away", "available"):
                # When one tab sets her status
                answer = await sender.ask("setStatus", status=status)

                # Then it is answered by {"type": "ack", "action": "setStatus", "requestId": ...}
                assert (answer["type"], answer["action"]) == ("ack", "setStatus"), answer

                # And the other tab gets {"type": "status", "status": ...}
                change = await other.next_of("status")
                assert change["status"] == status, change

                # And the sender gets no status frame of its own
                await sender.none_of("status", 0.3)
        finally:
            await closing(sender, other)

    run(scenario)


@covers(actions=["setStatus"])
def test_given_every_connected_agent_away_when_a_chat_is_requested_then_nobody_is_offered_it(stack: Stack) -> None:
    async def scenario() -> None:
        # Given every connected agent is away
        async with scene_with(stack, available=()) as given:
            visitor = given.visitor
            conversation_id = await visitor.start(RR)

            # When a visitor requests a chat, Then it cannot be routed at all: fallback answers
            answer = await visitor.ask("requestChat", conversationId=conversation_id, cardId=LIVE)
            assert (answer["type"], answer.get("reason")) == ("fallback", "no_agent"), answer

            # And no away agent was offered it
            for agent in given.agents.values():
                await agent.none_of("chatOffered", 0.2, conversationId=conversation_id)

    run(scenario)


@covers(actions=["setStatus"])
def test_given_an_agent_who_went_away_when_they_connect_again_then_the_status_is_still_away(stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            visitor = given.visitor
            # Given Alice (the only available agent) sets away and closes her inbox
            await given.agents[ALICE].set_status("away")
            await given.agents.pop(ALICE).close()

            # When she connects again without setting a status
            again = await given.agent(ALICE)

            # Then she is still away: nobody can take a chat
            answer = await visitor.ok("availability", "availability", dialogId=RR, cardId=LIVE)
            assert answer["available"] is False, answer
            await again.set_status("available")
            answer = await visitor.ok("availability", "availability", dialogId=RR, cardId=LIVE)
            assert answer["available"] is True, answer

    run(scenario)


def test_given_an_agent_who_never_set_a_status_when_they_connect_then_they_are_available(stack: Stack) -> None:
    async def scenario() -> None:
        # Given every other agent is away, and Dave has never set a status
        async with scene_with(stack, available=()) as given:
            visitor = given.visitor
            # When Dave connects
            dave = await given.agent(DAVE)

            # Then availability is true, and a requested chat is offered to him
            answer = await visitor.ok("availability", "availability", dialogId=RR, cardId=LIVE)
            assert answer["available"] is True, answer
            conversation_id, offer = await offered(visitor, dave)
            await dave.ok("decline", "ack", conversationId=conversation_id, offerId=offer["offerId"])

    run(scenario)


# --- accept -------------------------------------------------------------------------------

@covers(actions=["accept"], events=["chatOffered", "chatAccepted"])
def test_given_a_visitor_who_answered_and_captured_when_the_agent_accepts_then_chat_accepted_carries_the_transcript(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            # Given a visitor who answered the question and left their name and e-mail
            conversation_id, _, _ = await at_the_live_card(visitor)
            given.end_at_exit(alice, conversation_id)
            captured = ADA

            # When they request a chat
            requested = now()
            await visitor.request_chat(conversation_id)

            # Then Alice gets chatOffered {conversationId, offerId, visitor, page, expiresAt, acceptTimeoutSeconds}
            offer = await alice.next_of("chatOffered", conversationId=conversation_id)
            has(offer, conversationId=str, offerId=str, visitor=dict, page=dict, expiresAt=str,
                acceptTimeoutSeconds=int)
            assert offer["acceptTimeoutSeconds"] == ACCEPT_TIMEOUT
            assert {k: offer["visitor"].get(k) for k in captured} == captured
            assert offer["page"]["url"] == PRICING["url"]
            remaining = (instant(offer["expiresAt"]) - requested).total_seconds()
            assert 0 < remaining <= ACCEPT_TIMEOUT + 2, offer

            # When she accepts it
            accepted = await alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])

            # Then chatAccepted {conversationId, visitor, page, transcript: [events so far]}
            assert accepted["type"] == "chatAccepted", accepted
            has(accepted, conversationId=str, visitor=dict, page=dict, transcript=list)
            assert accepted["conversationId"] == conversation_id
            assert {k: accepted["visitor"].get(k) for k in captured} == captured
            assert accepted["page"]["url"] == PRICING["url"]
            for event in accepted["transcript"]:
                check_transcript_event(event)
            kinds = [e["kind"] for e in accepted["transcript"]]
            assert "answer" in kinds and "capture" in kinds, accepted["transcript"]
            await given.end_chat(alice, conversation_id)

    run(scenario)


# --- decline ------------------------------------------------------------------------------

@covers(actions=["decline"], events=["offerWithdrawn"], codes=["OFFER_EXPIRED"],
        reasons={"offerWithdrawn": ["declined"], "fallback": ["not_accepted"]})
def test_given_an_offer_when_the_agent_declines_then_ack_other_tabs_see_it_withdrawn_and_routing_moves_on_at_once(
        stack: Stack) -> None:
    async def scenario() -> None:
        # Given Alice, the only available agent, on two tabs, is offered a chat
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            tab = await given.agent(ALICE)
            conversation_id, offer = await offered(visitor, alice)

            # When she declines it
            answer = await alice.ask("decline", conversationId=conversation_id, offerId=offer["offerId"])
            declined_at = asyncio.get_running_loop().time()

            # Then it is answered by ack
            assert (answer["type"], answer["action"]) == ("ack", "decline"), answer

            # And her other tab gets offerWithdrawn {conversationId, offerId, reason: declined}
            withdrawn = await tab.next_of("offerWithdrawn", conversationId=conversation_id)
            has(withdrawn, conversationId=str, offerId=str, reason=str)
            assert (withdrawn["offerId"], withdrawn["reason"]) == (offer["offerId"], "declined")

            # And routing does at once what the timeout would have done: the fallback (nobody else)
            fallback = await visitor.next_of("fallback", ACCEPT_TIMEOUT + 3, conversationId=conversation_id)
            assert asyncio.get_running_loop().time() - declined_at < ACCEPT_TIMEOUT * 0.75, "waited for the timeout"
            assert fallback["reason"] == "not_accepted", fallback

            # And accepting the declined offer now is OFFER_EXPIRED
            late = await alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
            assert (late["type"], late["code"]) == ("error", "OFFER_EXPIRED"), late

    run(scenario)


# --- listInbox ----------------------------------------------------------------------------

@covers(actions=["listInbox"], events=["inbox"])
def test_given_chats_in_every_state_when_the_agent_lists_the_inbox_then_only_her_open_accepted_chats_are_in_it(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, bob = given.agents[ALICE], given.agents[BOB]
            visitors = [given.visitor, await given.another_visitor(), await given.another_visitor()]
            # Given a chat Alice accepted, one she ended, and one she is only offered
            live_id, _ = await given.live_chat(alice, visitor=visitors[0])
            ended_id, _ = await live_chat(visitors[1], alice)
            await alice.ok("endChat", "chatEnded", conversationId=ended_id)
            offered_id, offer = await offered(visitors[2], alice)

            # When she lists her inbox
            inbox = await alice.ask("listInbox")

            # Then inbox {chats: [...]} holds the live one only, as {conversationId, visitor, page,
            # acceptedAt, lastActivityAt}
            assert inbox["type"] == "inbox", inbox
            has(inbox, chats=list)
            ids = [chat["conversationId"] for chat in inbox["chats"]]
            assert live_id in ids and ended_id not in ids and offered_id not in ids, inbox
            (chat,) = [c for c in inbox["chats"] if c["conversationId"] == live_id]
            has(chat, conversationId=str, visitor=dict, page=dict, acceptedAt=str, lastActivityAt=str)
            assert instant(chat["lastActivityAt"]) >= instant(chat["acceptedAt"]), chat
            assert chat["page"]["url"] == PRICING["url"]

            # And Bob's inbox does not hold Alice's chat
            theirs = await bob.ok("listInbox", "inbox")
            assert live_id not in [c["conversationId"] for c in theirs["chats"]]
            await alice.ok("decline", "ack", conversationId=offered_id, offerId=offer["offerId"])
            await given.end_chat(alice, live_id)

    run(scenario)


# --- listConversations --------------------------------------------------------------------

async def _all_conversations(agent: Client) -> list[dict[str, Any]]:
    """Every page of listConversations, following the cursor."""
    items: list[dict[str, Any]] = []
    cursor: str | None = None
    for _ in range(1000):
        fields: dict[str, Any] = {"cursor": cursor} if cursor else {}
        answer = await agent.ask("listConversations", **fields)
        assert answer["type"] == "conversations", answer
        has(answer, items=list)
        assert answer.get("cursor") is None or isinstance(answer["cursor"], str), answer
        items.extend(answer["items"])
        cursor = answer.get("cursor")
        if not cursor:
            return items
    raise AssertionError("listConversations never gave a last page")


@covers(actions=["listConversations"], events=["conversations"])
def test_given_automated_and_live_conversations_when_an_agent_lists_them_then_every_one_comes_newest_first(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            # Given many automated conversations (more than a page, whatever its size) ...
            request_ids = [f"many-{i}" for i in range(60)]
            for request_id in request_ids:
                await visitor.send({"action": "startConversation", "requestId": request_id,
                                    "dialogId": SALES, "page": PRICING})
            many = [(await visitor.answer_to(r, "startConversation"))["conversationId"] for r in request_ids]
            # ... then a live one, ended by Alice (the newest activity)
            live_id, _ = await live_chat(visitor, alice)
            await alice.ok("endChat", "chatEnded", conversationId=live_id)

            # When Alice lists the conversations, page after page
            items = await _all_conversations(alice)

            # Then each is there once, as {conversationId, kind, status, visitor, agent?, startedAt,
            # lastActivityAt}, newest activity first
            ids = [item["conversationId"] for item in items]
            assert len(ids) == len(set(ids)), "a conversation listed twice"
            assert set(many) | {live_id} <= set(ids)
            for item in items:
                has(item, conversationId=str, kind=str, status=str, visitor=dict, startedAt=str, lastActivityAt=str)
                assert item["kind"] in ("automated", "live"), item
                assert instant(item["lastActivityAt"]) >= instant(item["startedAt"]), item
            activity = [instant(item["lastActivityAt"]) for item in items]
            assert activity == sorted(activity, reverse=True), "not newest activity first"
            assert ids.index(live_id) < min(ids.index(i) for i in many)
            by_id = {item["conversationId"]: item for item in items}
            assert by_id[many[0]]["kind"] == "automated" and "agent" not in by_id[many[0]]
            assert by_id[live_id]["kind"] == "live"
            # An agent is named by their e-mail
            assert ALICE in json.dumps(by_id[live_id]["agent"]), by_id[live_id]

    run(scenario, timeout=90)


# --- getTranscript ------------------------------------------------------------------------

@covers(actions=["getTranscript"], events=["transcript"])
def test_given_a_live_chat_when_its_transcript_is_read_then_it_has_the_fixed_shape_and_reads_the_same_twice(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, carol, visitor = given.agents[ALICE], given.agents[CAROL], given.visitor
            # Given a chat Alice accepted, with a message each way
            conversation_id, _ = await given.live_chat(alice)
            await visitor.ok("sendMessage", "message", conversationId=conversation_id, text="Hi", clientMessageId="v1")
            await alice.ok("sendMessage", "message", conversationId=conversation_id, text="Hello", clientMessageId="a1")

            # When Alice reads its transcript
            transcript = await alice.ask("getTranscript", conversationId=conversation_id)

            # Then {conversationId, visitor, page, status, agent?, events: [{seq, kind, from, at, ...}]}
            assert transcript["type"] == "transcript", transcript
            has(transcript, conversationId=str, visitor=dict, page=dict, status=str, events=list)
            assert transcript["conversationId"] == conversation_id
            assert "agent" in transcript, "an accepted chat's transcript names its agent"
            for event in transcript["events"]:
                check_transcript_event(event)
            messages = [e for e in transcript["events"] if e["kind"] == "message"]
            assert [(m["from"], m["text"]) for m in messages] == [("visitor", "Hi"), ("agent", "Hello")]

            # And reading it again (unchanged) gives the same; so does another agent, and the visitor
            def body(frame: dict[str, Any]) -> dict[str, Any]:
                return {k: v for k, v in frame.items() if k != "requestId"}

            assert body(await alice.ok("getTranscript", "transcript", conversationId=conversation_id)) == body(transcript)
            assert body(await carol.ok("getTranscript", "transcript", conversationId=conversation_id)) == body(transcript)
            assert body(await visitor.ok("getTranscript", "transcript", conversationId=conversation_id)) == body(transcript)
            await given.end_chat(alice, conversation_id)

    run(scenario)


# --- agents are named by their e-mail -----------------------------------------------------

def _claims(token: str) -> dict[str, Any]:
    payload = token.split(".")[1]
    claims: dict[str, Any] = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    return claims


def test_given_an_agent_when_they_sign_in_with_their_email_in_any_case_then_the_user_name_is_the_email(
        stack: Stack) -> None:
    async def scenario() -> None:
        password = AGENTS[ALICE][1]

        # When Alice signs in with her e-mail as written
        tokens = [stack.sign_in(ALICE, password)]

        # Then her ID token's cognito:username is her e-mail
        assert _claims(tokens[0])["cognito:username"] == ALICE, _claims(tokens[0])

        # When she signs in with her e-mail in other letter case
        for name in (ALICE.upper(), "Alice@Example.COM"):
            try:
                tokens.append(stack.sign_in(name, password))
            except ClientError as refused:
                raise AssertionError(f"sign-in as {name!r} refused: {refused}") from None

            # Then she is signed in as the same user: the user name is her e-mail as written
            assert _claims(tokens[-1])["cognito:username"] == ALICE, _claims(tokens[-1])

        # And each connects as the same agent: one tab's setStatus reaches the others as status
        tabs = [await stack.connect(f"alice-{i}", token=token) for i, token in enumerate(tokens)]
        try:
            await tabs[0].ok("setStatus", "ack", status="available")
            for tab in tabs[1:]:
                assert (await tab.next_of("status"))["status"] == "available"
        finally:
            await closing(*tabs)

    run(scenario)
