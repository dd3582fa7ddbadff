"""protocol.md "Both sides": sendMessage, typing, endChat, resume, ping — and what the contract
says of seq, disconnects and inactivity."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from tests.blackbox import Stack, closing, live_chat, offered, run, scene
from tests.contract.kit import (
    ADA,
    ALICE,
    INACTIVITY_TIMEOUT,
    SLACK,
    ask_raw,
    check_gap_free,
    has,
    instant,
    pump,
    scene_with,
    seq_of,
    stored_frames,
)
from tests.contract.spec import covers

pytestmark = pytest.mark.contract


def _check_message(frame: dict[str, object]) -> None:
    """`message` {conversationId, seq, from: visitor|agent|system, text, at, clientMessageId}"""
    has(frame, conversationId=str, seq=int, text=str, at=str, clientMessageId=str)
    assert frame.get("from") in ("visitor", "agent", "system"), frame
    instant(frame["at"])


# --- sendMessage --------------------------------------------------------------------------

@covers(actions=["sendMessage"], events=["message"])
def test_given_a_live_chat_when_each_side_sends_a_message_then_both_get_it_with_consecutive_seqs(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, _ = await given.live_chat(alice)

            # When the visitor sends a message
            mine = await visitor.ask("sendMessage", conversationId=conversation_id, text="Do you ship to Norway?",
                                     clientMessageId="v-1")

            # Then the sender's copy of its message answers it, and the agent gets the same message
            assert mine["type"] == "message", mine
            _check_message(mine)
            assert (mine["from"], mine["text"], mine["clientMessageId"]) == ("visitor", "Do you ship to Norway?", "v-1")
            seen = await alice.next_of("message", conversationId=conversation_id)
            _check_message(seen)
            assert {k: seen[k] for k in ("seq", "from", "text", "at", "clientMessageId")} == {
                k: mine[k] for k in ("seq", "from", "text", "at", "clientMessageId")}

            # When the agent answers
            reply = await alice.ok("sendMessage", "message", conversationId=conversation_id, text="We do!",
                                   clientMessageId="a-1")

            # Then the visitor gets it, from the agent, with the next seq
            got = await visitor.next_of("message", conversationId=conversation_id)
            _check_message(got)
            assert (got["from"], got["text"], got["seq"]) == ("agent", "We do!", reply["seq"])
            assert seq_of(reply) == seq_of(mine) + 1
            await given.end_chat(alice, conversation_id)

    run(scenario)


@covers(actions=["sendMessage"])
def test_given_a_sent_message_when_it_is_retried_with_the_same_client_message_id_then_the_stored_one_answers(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, _ = await given.live_chat(alice)
            first = await visitor.ok("sendMessage", "message", conversationId=conversation_id, text="once",
                                     clientMessageId="retry-me")

            # When the visitor retries it (same clientMessageId, a new requestId)
            again = await visitor.ask("sendMessage", conversationId=conversation_id, text="once",
                                      clientMessageId="retry-me")

            # Then the stored message answers again, with the same seq
            assert again["type"] == "message", again
            assert (again["seq"], again["text"], again["clientMessageId"]) == (first["seq"], "once", "retry-me")

            # And it is stored once
            transcript = await alice.ok("getTranscript", "transcript", conversationId=conversation_id)
            assert [e["text"] for e in transcript["events"] if e["kind"] == "message"] == ["once"]
            await given.end_chat(alice, conversation_id)

    run(scenario)


@covers(actions=["sendMessage"])
def test_given_the_visitors_message_when_the_agent_sends_the_same_client_message_id_then_both_are_stored(
        stack: Stack) -> None:
    # The contract is silent on whose ids these are; docs/protocol.md: an id names a message
    # of its sender, and each side's client makes up its own.
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, _ = await given.live_chat(alice)
            first = await visitor.ok("sendMessage", "message", conversationId=conversation_id, text="Hi",
                                     clientMessageId="1")

            # When the agent's client sends "1" too
            reply = await alice.ok("sendMessage", "message", conversationId=conversation_id, text="Hello",
                                   clientMessageId="1")

            # Then it is the agent's own message, stored after the visitor's
            assert (reply["from"], reply["text"], seq_of(reply)) == ("agent", "Hello", seq_of(first) + 1)
            # And a retry of either side's "1" is answered with that side's message
            again = await alice.ok("sendMessage", "message", conversationId=conversation_id, text="Hello",
                                   clientMessageId="1")
            assert (seq_of(again), again["from"]) == (seq_of(reply), "agent")
            again = await visitor.ok("sendMessage", "message", conversationId=conversation_id, text="Hi",
                                     clientMessageId="1")
            assert (seq_of(again), again["from"]) == (seq_of(first), "visitor")
            transcript = await alice.ok("getTranscript", "transcript", conversationId=conversation_id)
            assert [(e["from"], e["text"]) for e in transcript["events"] if e["kind"] == "message"] == [
                ("visitor", "Hi"), ("agent", "Hello")]
            await given.end_chat(alice, conversation_id)

    run(scenario)


# --- typing -------------------------------------------------------------------------------

@covers(actions=["typing", "resume"], events=["typing"])
def test_given_a_live_chat_when_a_side_types_then_the_other_side_gets_typing_without_seq_never_replayed(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, _ = await given.live_chat(alice)

            # When the visitor starts typing
            answer = await visitor.ask("typing", conversationId=conversation_id, isTyping=True)

            # Then it is answered by ack, and the agent gets typing {conversationId, from, isTyping}, no seq
            assert (answer["type"], answer["action"]) == ("ack", "typing"), answer
            seen = await alice.next_of("typing", conversationId=conversation_id)
            has(seen, conversationId=str, isTyping=bool)
            assert (seen["from"], seen["isTyping"]) == ("visitor", True)
            assert "seq" not in seen, seen
            await visitor.none_of("typing", 0.2)  # the other side, not the sender

            # When the agent types and stops
            await alice.ok("typing", "ack", conversationId=conversation_id, isTyping=True)
            await alice.ok("typing", "ack", conversationId=conversation_id, isTyping=False)

            # Then the visitor gets both, from the agent
            got = [await visitor.next_of("typing", conversationId=conversation_id) for _ in range(2)]
            assert [(t["from"], t["isTyping"]) for t in got] == [("agent", True), ("agent", False)]
            assert all("seq" not in t for t in got), got

            # And resume from the start replays the stored events, no typing among them
            transcript = await alice.ok("getTranscript", "transcript", conversationId=conversation_id)
            seqs = [e["seq"] for e in transcript["events"] if e["seq"] > 0]
            returning = await stack.visitor(visitor.token)
            try:
                done = await returning.ask("resume", conversationId=conversation_id, afterSeq=0)
                assert (done["type"], done["action"]) == ("ack", "resume"), done
                frames = await stored_frames(returning, conversation_id, len(seqs))
                assert [f["seq"] for f in frames] == seqs
                await returning.none_of("typing", 0.5)
            finally:
                await closing(returning)
            await given.end_chat(alice, conversation_id)

    run(scenario)


# --- endChat ------------------------------------------------------------------------------

@pytest.mark.parametrize("ender", ["agent", "visitor"])
@covers(actions=["endChat"], events=["chatEnded"], reasons={"chatEnded": ["agent", "visitor"]})
def test_given_a_live_chat_when_one_side_ends_it_then_chat_ended_goes_to_both_with_that_reason(
        stack: Stack, ender: str) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, joined = await given.live_chat(alice)
            by, other = (alice, visitor) if ender == "agent" else (visitor, alice)

            # When one side ends the chat
            ended = await by.ask("endChat", conversationId=conversation_id)

            # Then its answer is chatEnded {conversationId, reason}, and the other side gets the same
            assert ended["type"] == "chatEnded", ended
            has(ended, conversationId=str, reason=str)
            assert ended["reason"] == ender
            theirs = await other.next_of("chatEnded", conversationId=conversation_id)
            assert (theirs["reason"], seq_of(theirs)) == (ender, seq_of(ended))
            assert seq_of(ended) > seq_of(joined)
            given.ended(conversation_id)

            # And the agent's slot is free: her inbox no longer holds it
            inbox = await alice.ok("listInbox", "inbox")
            assert ended["conversationId"] not in [c["conversationId"] for c in inbox["chats"]]

    run(scenario)


@covers(actions=["endChat"], events=["offerWithdrawn"], codes=["OFFER_EXPIRED"],
        reasons={"offerWithdrawn": ["visitor_left"]})
def test_given_a_chat_being_offered_when_the_visitor_ends_it_then_ack_and_the_agent_sees_the_offer_withdrawn(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, offer = await offered(visitor, alice)

            # When the visitor ends the conversation while it is offered
            answer = await visitor.ask("endChat", conversationId=conversation_id)

            # Then it is answered by ack
            assert (answer["type"], answer["action"]) == ("ack", "endChat"), answer

            # And the agent gets offerWithdrawn, reason visitor_left
            withdrawn = await alice.next_of("offerWithdrawn", conversationId=conversation_id)
            assert (withdrawn["offerId"], withdrawn["reason"]) == (offer["offerId"], "visitor_left")

            # And accepting it now is too late
            late = await alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
            assert (late["type"], late["code"]) == ("error", "OFFER_EXPIRED"), late

    run(scenario)


# --- resume -------------------------------------------------------------------------------

@covers(actions=["resume"])
def test_given_a_reconnected_visitor_when_it_resumes_after_a_seq_then_every_later_event_comes_in_order(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, _ = await given.live_chat(alice)
            mine = await visitor.ok("sendMessage", "message", conversationId=conversation_id, text="brb",
                                    clientMessageId="v-1")
            last_seen = seq_of(mine)

            # When the visitor's socket drops, the agent writes twice and ends the chat meanwhile
            await visitor.close()
            missed = [await alice.ok("sendMessage", "message", conversationId=conversation_id, text=text,
                                     clientMessageId=f"a-{i}") for i, text in enumerate(("Still there?", "Bye"))]
            missed.append(await given.end_chat(alice, conversation_id))

            # And the visitor reconnects with its token and resumes after the last seq it saw
            returning = await given.another_visitor(visitor.token)
            answer = await returning.ask("resume", conversationId=mine["conversationId"], afterSeq=last_seen)

            # Then it is answered by ack, and gets exactly the missed events, in order, gap-free
            assert (answer["type"], answer["action"]) == ("ack", "resume"), answer
            frames = await stored_frames(returning, mine["conversationId"], len(missed))
            assert [(f["type"], f["seq"]) for f in frames] == [(m["type"], m["seq"]) for m in missed]
            check_gap_free([last_seen] + [f["seq"] for f in frames])
            assert [f.get("text") for f in frames[:2]] == ["Still there?", "Bye"]
            await returning.none_of("message", 0.3)

    run(scenario)


@pytest.mark.parametrize("after_seq", [
    pytest.param("9" * 4300, id="a 4300-digit integer"),
    pytest.param(str(2**53 + 1), id="above 2**53"),
    pytest.param(str(2**63), id="2**63"),
    pytest.param('"3"', id="a string"),
])
@covers(actions=["resume"], codes=["BAD_REQUEST"])
def test_given_a_conversation_when_resume_names_an_absurd_after_seq_then_bad_request(
        stack: Stack, after_seq: str) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            conversation_id = await visitor.start("sales")

            # When the visitor resumes with that afterSeq (written into the JSON as is)
            request_id = uuid.uuid4().hex
            answer = await ask_raw(visitor, f'{{"action": "resume", "requestId": "{request_id}", '
                                            f'"conversationId": "{conversation_id}", "afterSeq": {after_seq}}}',
                                   request_id)

            # Then BAD_REQUEST naming afterSeq, echoing the requestId; and the socket still works
            assert (answer["type"], answer["code"]) == ("error", "BAD_REQUEST"), answer
            assert "afterSeq" in answer["message"], answer
            await visitor.ok("ping", "pong")

    run(scenario)


# --- ping ---------------------------------------------------------------------------------

@covers(actions=["ping"], events=["pong"])
def test_given_a_connection_when_it_pings_then_pong_echoes_the_request_id(stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            for client in (given.visitor, await given.agent(ALICE)):
                answer = await client.ask("ping")
                assert answer["type"] == "pong", answer

    run(scenario)


# --- a disconnect never ends a chat ---------------------------------------------------------

@covers(actions=["resume"])
def test_given_a_live_chat_when_the_visitor_disconnects_then_the_chat_goes_on(stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, joined = await given.live_chat(alice)

            # When the visitor's socket closes and a while passes
            await visitor.close()
            await asyncio.sleep(1.0)

            # Then the chat is still live: the agent is not told it ended, it is in her inbox,
            # and her message is stored
            await alice.none_of("chatEnded", 0.1, conversationId=conversation_id)
            inbox = await alice.ok("listInbox", "inbox")
            assert conversation_id in [c["conversationId"] for c in inbox["chats"]]
            sent = await alice.ok("sendMessage", "message", conversationId=conversation_id, text="Still there?",
                                  clientMessageId="a-1")

            # And the visitor, back, resumes and gets it
            returning = await given.another_visitor(visitor.token)
            await returning.ok("resume", "ack", conversationId=conversation_id, afterSeq=seq_of(joined))
            (got,) = await stored_frames(returning, conversation_id, 1)
            assert (got["seq"], got["text"]) == (sent["seq"], "Still there?")
            await given.end_chat(alice, conversation_id)

    run(scenario)


def test_given_a_live_chat_when_the_agent_disconnects_then_the_chat_goes_on(stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            visitor = given.visitor
            conversation_id, joined = await live_chat(visitor, given.agents[ALICE])

            # When the agent's only socket closes and a while passes
            await given.agents.pop(ALICE).close()
            await asyncio.sleep(1.0)

            # Then the visitor is not told it ended, and can still send
            await visitor.none_of("chatEnded", 0.1, conversationId=conversation_id)
            sent = await visitor.ok("sendMessage", "message", conversationId=conversation_id, text="Hello?",
                                    clientMessageId="v-1")

            # And the agent, back, still has it in her inbox and resumes the message
            back = await given.agent(ALICE)
            given.end_at_exit(back, conversation_id)
            inbox = await back.ok("listInbox", "inbox")
            assert conversation_id in [c["conversationId"] for c in inbox["chats"]]
            await back.ok("resume", "ack", conversationId=conversation_id, afterSeq=seq_of(joined))
            (got,) = await stored_frames(back, conversation_id, 1)
            assert (got["seq"], got["text"]) == (sent["seq"], "Hello?")
            await given.end_chat(back, conversation_id)

    run(scenario)


# --- inactivity ---------------------------------------------------------------------------

@covers(events=["chatEnded"], reasons={"chatEnded": ["inactivity"]})
def test_given_a_live_chat_when_nobody_writes_for_the_inactivity_timeout_then_it_ends_with_reason_inactivity(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id, _ = await live_chat(visitor, alice)
            await visitor.ok("sendMessage", "message", conversationId=conversation_id, text="thinking…",
                             clientMessageId="v-1")
            quiet_since = time.monotonic()

            # When nobody sends a message, though the visitor keeps typing (typing is not activity)
            ended = None
            while ended is None and time.monotonic() - quiet_since < INACTIVITY_TIMEOUT + SLACK + 2:
                await visitor.send({"action": "typing", "conversationId": conversation_id, "isTyping": True})
                try:
                    ended = await visitor.next_of("chatEnded", 0.5, conversationId=conversation_id)
                except AssertionError:
                    continue

            # Then the chat ends on both sides, reason inactivity, not before the timeout
            assert ended is not None, "the chat never ended: typing kept it alive, or nothing sweeps"
            assert ended["reason"] == "inactivity", ended
            assert time.monotonic() - quiet_since >= INACTIVITY_TIMEOUT - 0.5, "ended before the timeout"
            theirs = await alice.next_of("chatEnded", conversationId=conversation_id)
            assert theirs["reason"] == "inactivity", theirs

    run(scenario)


# --- exactly one answer -------------------------------------------------------------------

def test_given_a_whole_chat_when_every_kind_of_request_is_sent_then_each_gets_exactly_one_answer(
        stack: Stack) -> None:
    async def scenario() -> None:
        answers: list[dict[str, object]] = []
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor

            # When a visitor and an agent go through a chat, each request carrying a requestId
            def got(answer: dict[str, object]) -> dict[str, object]:
                answers.append(answer)
                return answer

            conversation_id = str(got(await visitor.ask("startConversation", dialogId="sales",
                                                        page={"url": "https://shop.example.com/"}))["conversationId"])
            given.end_at_exit(alice, conversation_id)
            got(await visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="Yes"))
            got(await visitor.ask("capture", conversationId=conversation_id, cardId="who", fields=ADA))
            got(await visitor.ask("availability", dialogId="sales", cardId="live"))
            got(await visitor.ask("requestChat", conversationId=conversation_id, cardId="live"))
            offer = await alice.next_of("chatOffered", conversationId=conversation_id)
            got(await alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"]))
            got(await alice.ask("setStatus", status="available"))
            got(await alice.ask("listInbox"))
            got(await alice.ask("listConversations"))
            got(await visitor.ask("sendMessage", conversationId=conversation_id, text="hi", clientMessageId="v-1"))
            got(await visitor.ask("sendMessage", conversationId=conversation_id, text="hi", clientMessageId="v-1"))
            got(await alice.ask("typing", conversationId=conversation_id, isTyping=True))
            got(await visitor.ask("resume", conversationId=conversation_id, afterSeq=0))
            got(await visitor.ask("getTranscript", conversationId=conversation_id))
            got(await alice.ask("getTranscript", conversationId=conversation_id))
            got(await visitor.ask("ping"))
            got(await alice.ask("endChat", conversationId=conversation_id))
            given.ended(conversation_id)

            # Then none was an error, and no second frame echoes any of their requestIds
            assert not [a for a in answers if a.get("type") == "error"], answers
            for client in (visitor, alice):
                await pump(client, 0.5)
            asked = {a["requestId"] for a in answers}
            again = [f for c in (visitor, alice) for f in c.buffer if f.get("requestId") in asked]
            assert not again, f"a second answer: {again}"

    run(scenario)
