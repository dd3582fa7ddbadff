"""protocol.md's error codes, each provoked from outside: BAD_REQUEST (and a bad frame never
closes the socket nor changes stored state), the handshake's refusals (UNAUTHORIZED: HTTP 401,
and 403 without the LiveChat group), FORBIDDEN, NOT_FOUND (someone else's conversation or offer
looks exactly like a missing one), OFFER_EXPIRED and CONFLICT."""

from __future__ import annotations

import base64
import json
import uuid
from typing import Any

import pytest

from tests.blackbox import Stack, Visitor, closing, offer_to, offered, run, scene, tampered
from tests.contract.kit import (
    ADA,
    ALICE,
    BOB,
    LIVE,
    PRICING,
    SALES,
    ask_raw,
    at_the_live_card,
    has,
    same_error,
    scene_with,
    unknown_id,
)
from tests.contract.spec import covers

pytestmark = pytest.mark.contract


async def _transcript(visitor: Visitor, conversation_id: str) -> dict[str, Any]:
    transcript = await visitor.ok("getTranscript", "transcript", conversationId=conversation_id)
    return {k: v for k, v in transcript.items() if k != "requestId"}


# --- BAD_REQUEST ------------------------------------------------------------------------

@covers(events=["error"], codes=["BAD_REQUEST"])
def test_given_a_connection_when_it_sends_a_frame_that_is_not_json_then_bad_request_without_request_id(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            for text in ("{this is not json", '{"action": "ping", "requestId": "cut-short"', "[1, 2", ""):
                # When it sends a frame that is not a JSON object
                await visitor.send(text)

                # Then an error BAD_REQUEST {code, message}, which cannot echo a requestId
                error = await visitor.next_of("error")
                has(error, code=str, message=str)
                assert error["code"] == "BAD_REQUEST", error
                assert error["message"], error
                assert error.get("requestId") is None, error

                # And the socket keeps working
                await visitor.ok("ping", "pong")

    run(scenario)


@covers(events=["error"], codes=["BAD_REQUEST"])
def test_given_a_connection_when_it_sends_an_unknown_action_then_bad_request_naming_it_echoes_the_request_id(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor, agent = given.visitor, await given.agent(ALICE)
            for client in (visitor, agent):
                # When it sends an action the contract does not name
                answer = await client.ask("fetchEverything")

                # Then error {code: BAD_REQUEST, message naming it, requestId: its own}
                assert answer["type"] == "error", answer
                has(answer, code=str, message=str, requestId=str)
                assert answer["code"] == "BAD_REQUEST", answer
                assert "fetchEverything" in answer["message"], answer
                await client.ok("ping", "pong")

            # And a frame with no action at all is BAD_REQUEST too
            nothing = await visitor.ask("")
            assert (nothing["type"], nothing["code"]) == ("error", "BAD_REQUEST"), nothing
            request_id = uuid.uuid4().hex
            missing = await ask_raw(visitor, json.dumps({"requestId": request_id}), request_id)
            assert (missing["type"], missing["code"]) == ("error", "BAD_REQUEST"), missing
            assert "action" in missing["message"], missing

    run(scenario)


# (action, fields besides conversationId, the field the message must name)
BAD_FIELDS = [
    pytest.param("answer", {"cardId": "ask"}, "value", id="answer without value"),
    pytest.param("answer", {"cardId": "ask", "value": 1}, "value", id="answer with a number for value"),
    pytest.param("capture", {"cardId": "who"}, "fields", id="capture without fields"),
    pytest.param("capture", {"cardId": "who", "fields": ["firstName"]}, "fields", id="capture with a list for fields"),
    pytest.param("capture", {"cardId": "who", "fields": {"firstName": 7, "email": "ada@example.com"}}, "firstName",
                 id="capture with a number for a field"),
    pytest.param("sendMessage", {"text": "hi"}, "clientMessageId", id="sendMessage without clientMessageId"),
    pytest.param("typing", {"isTyping": "yes"}, "isTyping", id="typing with a string for isTyping"),
    pytest.param("resume", {"afterSeq": 1.5}, "afterSeq", id="resume with a fraction for afterSeq"),
    pytest.param("requestChat", {}, "cardId", id="requestChat without cardId"),
    pytest.param("getTranscript", {"conversationId": 5}, "conversationId", id="getTranscript with a number for the id"),
]


@pytest.mark.parametrize(("action", "fields", "named"), BAD_FIELDS)
@covers(codes=["BAD_REQUEST"])
def test_given_a_conversation_when_a_frame_misses_or_mistypes_a_field_then_bad_request_names_it_and_stores_nothing(
        stack: Stack, action: str, fields: dict[str, Any], named: str) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            conversation_id = await visitor.start(SALES)
            before = await _transcript(visitor, conversation_id)

            # When the visitor sends the frame
            answer = await visitor.ask(action, **{"conversationId": conversation_id, **fields})

            # Then BAD_REQUEST naming the field, echoing the requestId
            assert (answer["type"], answer["code"]) == ("error", "BAD_REQUEST"), answer
            assert named in answer["message"], answer

            # And nothing is stored, and the socket keeps working
            assert await _transcript(visitor, conversation_id) == before

    run(scenario)


@covers(codes=["BAD_REQUEST"])
def test_given_a_start_without_a_dialog_when_it_is_sent_then_bad_request_names_dialog_id(stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            answer = await visitor.ask("startConversation", page=PRICING)
            assert (answer["type"], answer["code"]) == ("error", "BAD_REQUEST"), answer
            assert "dialogId" in answer["message"], answer

    run(scenario)


@covers(codes=["BAD_REQUEST"])
def test_given_a_connection_when_it_sends_a_frame_over_32_kb_then_bad_request_and_the_socket_keeps_working(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            conversation_id = await visitor.start(SALES)
            before = await _transcript(visitor, conversation_id)

            # When it sends one 40 KB frame (a valid answer padded with an extra field)
            frame = {"action": "answer", "requestId": "too-big", "conversationId": conversation_id,
                     "cardId": "ask", "value": "Yes", "pad": "x" * 40_000}
            await visitor.send(json.dumps(frame))

            # Then BAD_REQUEST whose message names the problem
            error = await visitor.next_of("error")
            assert error["code"] == "BAD_REQUEST", error
            assert any(word in error["message"].lower() for word in ("large", "size", "bytes", "kb")), error

            # And the answer was not stored, and the socket keeps working
            assert await _transcript(visitor, conversation_id) == before
            await visitor.ok("ping", "pong")

    run(scenario)


@covers(actions=["listConversations"], codes=["BAD_REQUEST"])
def test_given_an_agent_when_they_list_conversations_with_a_forged_cursor_then_bad_request(stack: Stack) -> None:
    async def scenario() -> None:
        agent = await stack.agent(ALICE, status=None)
        try:
            forged = base64.urlsafe_b64encode(b'{"after": "anything"}').decode()
            for cursor in (forged, "not a cursor", 5):
                answer = await agent.ask("listConversations", cursor=cursor)
                assert (answer["type"], answer["code"]) == ("error", "BAD_REQUEST"), answer
                assert "cursor" in answer["message"], answer
        finally:
            await closing(agent)

    run(scenario)


# --- the handshake (UNAUTHORIZED) ---------------------------------------------------------

@covers(codes=["UNAUTHORIZED"])
def test_given_a_forged_or_altered_agent_token_when_it_connects_then_the_handshake_is_refused_with_401(
        stack: Stack) -> None:
    async def scenario() -> None:
        genuine = stack.agent_token(ALICE)
        assert await stack.handshake_status(token=genuine) == 101
        for token in (tampered(genuine, email=BOB, **{"cognito:username": BOB}),
                      "eyJhbGciOiJub25lIn0.eyJjb2duaXRvOmdyb3VwcyI6WyJMaXZlQ2hhdCJdfQ.",
                      "forged"):
            assert await stack.handshake_status(token=token) == 401, token

    run(scenario)


@covers(codes=["UNAUTHORIZED"])
def test_given_a_user_outside_the_live_chat_group_when_they_connect_then_the_handshake_is_refused_with_403(
        stack: Stack) -> None:
    async def scenario() -> None:
        assert await stack.handshake_status(token=stack.token_outside_the_group()) == 403

    run(scenario)


@covers(codes=["UNAUTHORIZED"])
def test_given_a_forged_or_altered_visitor_token_when_it_connects_then_the_handshake_is_refused_with_401(
        stack: Stack) -> None:
    async def scenario() -> None:
        genuine = stack.visitor_session()["visitorToken"]
        assert await stack.handshake_status(visitorToken=genuine) == 101
        other = stack.visitor_session()["visitorToken"]
        spliced = ".".join(genuine.split(".")[:-1] + other.split(".")[-1:])  # another token's signature
        for token in (spliced, tampered(genuine, sub="v_someone_else"), "forged"):
            assert await stack.handshake_status(visitorToken=token) == 401, token

    run(scenario)


# --- FORBIDDEN ----------------------------------------------------------------------------

AGENT_ONLY = [
    pytest.param("accept", {"offerId": "offer-1"}, id="accept"),
    pytest.param("decline", {"offerId": "offer-1"}, id="decline"),
    pytest.param("listInbox", {}, id="listInbox"),
    pytest.param("listConversations", {}, id="listConversations"),
    pytest.param("setStatus", {"status": "available"}, id="setStatus"),
]


@pytest.mark.parametrize(("action", "fields"), AGENT_ONLY)
@covers(codes=["FORBIDDEN"])
def test_given_a_visitor_when_it_sends_an_agent_action_then_forbidden(
        stack: Stack, action: str, fields: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            conversation_id = await visitor.start(SALES)
            answer = await visitor.ask(action, conversationId=conversation_id, **fields)
            assert (answer["type"], answer["code"]) == ("error", "FORBIDDEN"), answer
            await visitor.ok("ping", "pong")

    run(scenario)


VISITOR_ONLY = [
    pytest.param("startConversation", {"dialogId": SALES, "page": PRICING}, id="startConversation"),
    pytest.param("answer", {"cardId": "ask", "value": "Yes"}, id="answer"),
    pytest.param("capture", {"cardId": "who", "fields": ADA}, id="capture"),
    pytest.param("requestChat", {"cardId": LIVE}, id="requestChat"),
]


@pytest.mark.parametrize(("action", "fields"), VISITOR_ONLY)
@covers(codes=["FORBIDDEN"])
def test_given_an_agent_when_they_send_a_visitor_action_then_forbidden_and_nothing_is_stored(
        stack: Stack, action: str, fields: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor, agent = given.visitor, await given.agent(ALICE)
            conversation_id = await visitor.start(SALES)
            before = await _transcript(visitor, conversation_id)
            answer = await agent.ask(action, conversationId=conversation_id, **fields)
            assert (answer["type"], answer["code"]) == ("error", "FORBIDDEN"), answer
            assert await _transcript(visitor, conversation_id) == before

    run(scenario)


# --- NOT_FOUND ----------------------------------------------------------------------------

VISITOR_ACTIONS_ON_A_CONVERSATION = [
    pytest.param("getTranscript", {}, id="getTranscript"),
    pytest.param("answer", {"cardId": "ask", "value": "Yes"}, id="answer"),
    pytest.param("capture", {"cardId": "who", "fields": ADA}, id="capture"),
    pytest.param("requestChat", {"cardId": LIVE}, id="requestChat"),
    pytest.param("sendMessage", {"text": "hi", "clientMessageId": "m-1"}, id="sendMessage"),
    pytest.param("typing", {"isTyping": True}, id="typing"),
    pytest.param("resume", {"afterSeq": 0}, id="resume"),
    pytest.param("endChat", {}, id="endChat"),
]


@pytest.mark.parametrize(("action", "fields"), VISITOR_ACTIONS_ON_A_CONVERSATION)
@covers(codes=["NOT_FOUND"])
def test_given_someone_elses_conversation_when_a_visitor_acts_on_it_then_not_found_exactly_as_for_a_missing_one(
        stack: Stack, action: str, fields: dict[str, Any]) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            owner, stranger = given.visitor, await given.another_visitor()
            # Given a conversation of another visitor's, and an id that names nothing
            theirs = await owner.start(SALES)
            await owner.ok("answer", "ack", conversationId=theirs, cardId="ask", value="Yes")
            before = await _transcript(owner, theirs)
            missing = unknown_id(theirs)

            # When a visitor acts on each
            on_theirs = await stranger.ask(action, conversationId=theirs, **fields)
            on_missing = await stranger.ask(action, conversationId=missing, **fields)

            # Then both are NOT_FOUND, and the two errors say the same thing
            assert (on_theirs["type"], on_theirs["code"]) == ("error", "NOT_FOUND"), on_theirs
            same_error(on_theirs, on_missing, theirs, missing)

            # And the owner's conversation is untouched
            assert await _transcript(owner, theirs) == before

    run(scenario)


@covers(codes=["NOT_FOUND"])
def test_given_another_agents_live_chat_when_an_agent_writes_to_it_then_not_found_exactly_as_for_a_missing_one(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, bob, visitor = given.agents[ALICE], given.agents[BOB], given.visitor
            # Given Alice's live chat, and an id that names nothing
            conversation_id, _ = await given.live_chat(alice)
            missing = unknown_id(conversation_id)

            for action, fields in (("sendMessage", {"text": "hi", "clientMessageId": "b-1"}),
                                   ("typing", {"isTyping": True}), ("endChat", {})):
                # When Bob acts on each
                on_hers = await bob.ask(action, conversationId=conversation_id, **fields)
                on_missing = await bob.ask(action, conversationId=missing, **fields)

                # Then NOT_FOUND both times, saying the same thing
                assert (on_hers["type"], on_hers["code"]) == ("error", "NOT_FOUND"), on_hers
                same_error(on_hers, on_missing, conversation_id, missing)

            # And the chat is untouched: still in Alice's inbox, the visitor told nothing
            inbox = await alice.ok("listInbox", "inbox")
            assert conversation_id in [c["conversationId"] for c in inbox["chats"]]
            await visitor.none_of("message", 0.2)
            await visitor.none_of("chatEnded", 0.1)

            # And an agent reading a missing conversation's transcript gets NOT_FOUND
            gone = await bob.ask("getTranscript", conversationId=missing)
            assert (gone["type"], gone["code"]) == ("error", "NOT_FOUND"), gone
            await given.end_chat(alice, conversation_id)

    run(scenario)


@covers(codes=["NOT_FOUND"])
def test_given_an_offer_to_another_agent_when_an_agent_accepts_or_declines_it_then_not_found_as_for_a_missing_one(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, bob, visitor = given.agents[ALICE], given.agents[BOB], given.visitor
            # Given an offer made to Alice, and an offer id that names nothing
            conversation_id, offer = await offered(visitor, alice)
            missing = unknown_id(offer["offerId"])

            for action in ("accept", "decline"):
                # When Bob accepts (or declines) Alice's offer, and the missing one
                on_hers = await bob.ask(action, conversationId=conversation_id, offerId=offer["offerId"])
                on_missing = await bob.ask(action, conversationId=conversation_id, offerId=missing)

                # Then NOT_FOUND both times, saying the same thing
                assert (on_hers["type"], on_hers["code"]) == ("error", "NOT_FOUND"), on_hers
                same_error(on_hers, on_missing, offer["offerId"], missing)

            # And Alice's offer still stands: she can take it
            await alice.ok("accept", "chatAccepted", conversationId=conversation_id, offerId=offer["offerId"])
            await alice.ok("endChat", "chatEnded", conversationId=conversation_id)

    run(scenario)


# --- CONFLICT -----------------------------------------------------------------------------

@covers(codes=["CONFLICT"])
def test_given_a_conversation_whose_chat_has_ended_when_the_visitor_answers_or_requests_a_chat_then_conflict(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            # Given a conversation of the sales dialog whose live chat the agent ended
            conversation_id, _, _ = await at_the_live_card(visitor)
            offer = await offer_to(visitor, alice, conversation_id)
            await alice.ok("accept", "chatAccepted", conversationId=conversation_id, offerId=offer["offerId"])
            await alice.ok("endChat", "chatEnded", conversationId=conversation_id)
            before = await _transcript(visitor, conversation_id)

            # When the visitor answers a card of its dialog, captures, or requests a chat again
            for action, fields in (("answer", {"cardId": "ask", "value": "Yes"}),
                                   ("capture", {"cardId": "who", "fields": ADA}),
                                   ("requestChat", {"cardId": LIVE})):
                answer = await visitor.ask(action, conversationId=conversation_id, **fields)

                # Then CONFLICT, and nothing changes
                assert (answer["type"], answer["code"]) == ("error", "CONFLICT"), (action, answer)
            assert await _transcript(visitor, conversation_id) == before
            await alice.none_of("chatOffered", 0.3, conversationId=conversation_id)

    run(scenario)

