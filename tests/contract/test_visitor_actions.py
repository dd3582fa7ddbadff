"""protocol.md "Visitor actions": each row's answer and effect, seen from outside; and the
second round's capture rules and startConversation's `clientConversationId` (ours)."""

from __future__ import annotations

import asyncio
import uuid

import pytest

from tests.blackbox import Stack, Visitor, closing, run, scene
from tests.contract.kit import (
    ADA,
    ALICE,
    CAPTURE_FIELDS,
    LIVE,
    PRICING,
    RR,
    SALES,
    at_the_capture_card,
    check_transcript_event,
    has,
    scene_with,
)
from tests.contract.spec import covers

pytestmark = pytest.mark.contract


# --- startConversation ----------------------------------------------------------------------

@covers(actions=["startConversation"], events=["conversationStarted"])
def test_given_a_visitor_when_it_starts_a_conversation_then_conversation_started_names_a_new_one(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            # When the visitor starts two conversations of a dialog
            first = await visitor.ask("startConversation", dialogId=SALES, page=PRICING)
            second = await visitor.ask("startConversation", dialogId=SALES, page=PRICING)

            # Then each is answered by conversationStarted {conversationId}, a new id each time
            for answer in (first, second):
                assert answer["type"] == "conversationStarted", answer
                has(answer, conversationId=str)
                assert answer["conversationId"]
            assert first["conversationId"] != second["conversationId"]

    run(scenario)


def test_given_a_page_url_with_utm_parameters_when_utm_is_absent_then_the_page_takes_them_from_the_url(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            # When a conversation starts on a page whose url carries utm_* and no utm is sent
            url = "https://shop.example.com/pricing?utm_source=news&utm_medium=email&utm_campaign=spring"
            started = await visitor.ok("startConversation", "conversationStarted", dialogId=SALES,
                                       page={"url": url, "title": "Pricing", "referrer": "https://example.org/"})
            # And another sends its own utm with the same url
            own = {"source": "ads", "medium": "cpc", "campaign": "winter"}
            explicit = await visitor.ok("startConversation", "conversationStarted", dialogId=SALES,
                                        page={"url": url, "title": "Pricing", "referrer": "", "utm": own})

            # Then the first's page has utm taken from the url, the second keeps its own
            taken = await visitor.ok("getTranscript", "transcript", conversationId=started["conversationId"])
            assert taken["page"]["url"] == url
            assert taken["page"]["utm"] == {"source": "news", "medium": "email", "campaign": "spring"}
            kept = await visitor.ok("getTranscript", "transcript", conversationId=explicit["conversationId"])
            assert kept["page"]["utm"] == own

    run(scenario)


@covers(actions=["startConversation"])
def test_given_a_client_conversation_id_when_the_same_visitor_sends_it_twice_then_both_answers_name_one_conversation(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor, other = given.visitor, await given.another_visitor()
            client_id = f"cc-{uuid.uuid4().hex}"

            # When the same visitor starts a conversation twice with one clientConversationId
            answers = [await visitor.ask("startConversation", dialogId=SALES, page=PRICING,
                                         clientConversationId=client_id) for _ in range(2)]

            # Then both are answered by conversationStarted (each echoing its own requestId),
            # naming the same conversation
            assert [a["type"] for a in answers] == ["conversationStarted"] * 2, answers
            assert answers[0]["conversationId"] == answers[1]["conversationId"]
            assert answers[0]["requestId"] != answers[1]["requestId"]

            # When another visitor uses the same clientConversationId
            theirs = await other.ok("startConversation", "conversationStarted", dialogId=SALES, page=PRICING,
                                    clientConversationId=client_id)

            # Then they get a conversation of their own
            assert theirs["conversationId"] != answers[0]["conversationId"]

    run(scenario)


# --- answer -----------------------------------------------------------------------------

@covers(actions=["answer"], events=["ack"], codes=["BAD_REQUEST"])
def test_given_a_question_card_when_the_visitor_answers_then_ack_and_the_transcript_records_the_label(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            conversation_id = await visitor.start(SALES)

            # When the visitor answers the question card with one of its labels
            answer = await visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="Yes")

            # Then it is answered by ack, and the transcript records it as an answer event
            assert (answer["type"], answer["action"]) == ("ack", "answer"), answer
            transcript = await visitor.ok("getTranscript", "transcript", conversationId=conversation_id)
            (event,) = [e for e in transcript["events"] if e["kind"] == "answer"]
            check_transcript_event(event)
            assert (event["cardId"], event["value"], event["from"]) == ("ask", "Yes", "visitor")

            # When it answers with a value that is no answer's label
            wrong = await visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="Maybe")

            # Then BAD_REQUEST naming the field, and nothing more is stored
            assert (wrong["type"], wrong["code"]) == ("error", "BAD_REQUEST"), wrong
            assert "value" in wrong["message"], wrong
            again = await visitor.ok("getTranscript", "transcript", conversationId=conversation_id)
            assert again == {**transcript, "requestId": again["requestId"]}

    run(scenario)


# --- capture ----------------------------------------------------------------------------

@covers(actions=["capture"])
def test_given_a_capture_card_when_the_required_fields_come_without_the_optional_ones_then_ack_and_stored(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            conversation_id, _ = await at_the_capture_card(visitor)

            # When the visitor sends the card's required fields and leaves out the listed optional ones
            fields = ADA
            answer = await visitor.ask("capture", conversationId=conversation_id, cardId="who", fields=fields)

            # Then it is answered by ack
            assert (answer["type"], answer["action"]) == ("ack", "capture"), answer

            # And the transcript has them in `visitor` and as a capture event
            transcript = await visitor.ok("getTranscript", "transcript", conversationId=conversation_id)
            assert {k: transcript["visitor"].get(k) for k in fields} == fields
            (event,) = [e for e in transcript["events"] if e["kind"] == "capture"]
            check_transcript_event(event)
            assert event["cardId"] == "who"
            assert {k: event["fields"].get(k) for k in fields} == fields

            # And every listed field may come (a second capture of the same card)
            full = {"firstName": "Ada", "email": "ada@example.com", "company": "Analytical", "country": "GB"}
            assert set(full) == set(CAPTURE_FIELDS)
            await visitor.ok("capture", "ack", conversationId=conversation_id, cardId="who", fields=full)

    run(scenario)


@pytest.mark.parametrize(("fields", "named"), [
    pytest.param({"firstName": "Ada"}, "email", id="a required field missing"),
    pytest.param({"email": "ada@example.com", "company": "Analytical"}, "firstName", id="another required field missing"),
    pytest.param({"firstName": "Ada", "email": "ada@example.com", "jobTitle": "Analyst"}, "jobTitle",
                 id="a field the card does not list"),
    pytest.param({"firstName": "Ada", "email": "not-an-email"}, "email", id="an invalid e-mail"),
])
@covers(actions=["capture"], codes=["BAD_REQUEST"])
def test_given_a_capture_card_when_the_fields_break_its_rules_then_bad_request_names_the_field_and_stores_nothing(
        stack: Stack, fields: dict[str, str], named: str) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            conversation_id, _ = await at_the_capture_card(visitor)
            before = await visitor.ok("getTranscript", "transcript", conversationId=conversation_id)

            # When the visitor sends them
            answer = await visitor.ask("capture", conversationId=conversation_id, cardId="who", fields=fields)

            # Then BAD_REQUEST whose message names the field
            assert (answer["type"], answer["code"]) == ("error", "BAD_REQUEST"), answer
            assert named in answer["message"], answer

            # And nothing is stored
            after = await visitor.ok("getTranscript", "transcript", conversationId=conversation_id)
            assert after == {**before, "requestId": after["requestId"]}

    run(scenario)


# --- requestChat --------------------------------------------------------------------------

@covers(actions=["requestChat"], events=["routing"])
def test_given_an_available_agent_when_the_visitor_requests_a_chat_then_routing_answers_and_the_agent_is_offered_it(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            alice, visitor = given.agents[ALICE], given.visitor
            conversation_id = await visitor.start(RR)

            # When the visitor requests a chat on the dialog's live chat card
            routing = await visitor.ask("requestChat", conversationId=conversation_id, cardId=LIVE)

            # Then it is answered by routing {conversationId}, and the agent gets the offer
            assert routing["type"] == "routing", routing
            has(routing, conversationId=str)
            assert routing["conversationId"] == conversation_id
            offer = await alice.next_of("chatOffered", conversationId=conversation_id)
            await alice.ok("decline", "ack", conversationId=conversation_id, offerId=offer["offerId"])

    run(scenario)


@covers(actions=["requestChat"], codes=["BAD_REQUEST"])
def test_given_a_card_that_is_no_live_chat_card_when_the_visitor_requests_a_chat_on_it_then_bad_request(
        stack: Stack) -> None:
    async def scenario() -> None:
        async with scene(stack) as given:
            visitor = given.visitor
            conversation_id = await visitor.start(SALES)

            # When the visitor requests a chat on the dialog's question card, or an unknown card
            for card in ("ask", "no-such-card"):
                answer = await visitor.ask("requestChat", conversationId=conversation_id, cardId=card)

                # Then BAD_REQUEST naming the card (the card must be a live chat card of that dialog)
                assert (answer["type"], answer["code"]) == ("error", "BAD_REQUEST"), answer
                assert "card" in answer["message"], answer

            # And nothing is stored
            transcript = await visitor.ok("getTranscript", "transcript", conversationId=conversation_id)
            assert transcript["events"] == []

    run(scenario)


# --- availability -------------------------------------------------------------------------

async def _availability_turns(visitor: Visitor, expected: bool, within: float = 3.0) -> bool:
    """Whether availability says `expected` within a few seconds (a closed socket is noticed
    by the server's $disconnect, which runs after the close)."""
    deadline = asyncio.get_running_loop().time() + within
    while True:
        answer = await visitor.ok("availability", "availability", dialogId=RR, cardId=LIVE)
        if answer["available"] is expected:
            return True
        if asyncio.get_running_loop().time() > deadline:
            return False
        await asyncio.sleep(0.2)


@covers(actions=["availability"], events=["availability"])
def test_given_an_agent_available_or_not_when_the_visitor_asks_availability_then_it_says_so(stack: Stack) -> None:
    async def scenario() -> None:
        async with scene_with(stack, available=(ALICE,)) as given:
            agents, visitor = given.agents, given.visitor
            # Given Alice is available and connected: availability says true
            answer = await visitor.ask("availability", dialogId=RR, cardId=LIVE)
            assert answer["type"] == "availability", answer
            has(answer, available=bool)
            assert answer["available"] is True, answer

            # When she goes away: false
            await agents[ALICE].set_status("away")
            assert (await visitor.ok("availability", "availability", dialogId=RR, cardId=LIVE))["available"] is False

            # When she is available again but has no live connection (no push either): false
            await agents[ALICE].set_status("available")
            assert (await visitor.ok("availability", "availability", dialogId=RR, cardId=LIVE))["available"] is True
            await closing(*agents.values())
            agents.clear()
            assert await _availability_turns(visitor, False), "still available with no agent connected"

    run(scenario)

