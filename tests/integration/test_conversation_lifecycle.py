"""A conversation from its first answer to its end (spec/protocol.md): gap-free `seq`,
`resume` after a reconnect, decline, the visitor leaving an offer, ending, the inbox and
conversations views, transcripts and avatars, typing, presence and every tab of an agent."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from livechat.domain.clock import parse_iso
from livechat.store import conversations as stored
from livechat.store.tables import plain

from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE, BOB = "alice@example.com", "bob@example.com"
VERA = {"firstName": "Vera", "email": "vera@acme.io"}
PAGE_URL = "https://example.com/pricing"
ROUND_ROBIN = {"mode": "round_robin"}


# --- helpers ----------------------------------------------------------------------------

@dataclass
class Visitor:
    """A visitor identity (its token) and its current connection."""

    token: str
    client: Client


def new_visitor(world: World) -> Visitor:
    session = world.visitor_token()
    assert session["status"] == 200, session
    token = str(session["visitorToken"])
    return Visitor(token, world.visitor_client(token))


def request_chat(world: World, visitor: Client, dialog_id: str = "sales") -> str:
    """Walk the dialog to its live chat card and ask for an agent: the chat is routed."""
    conversation_id = world.walk_to_live_card(visitor, dialog_id)
    answer = visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    assert answer["type"] == "routing", answer
    return conversation_id


def the_offer(agent: Client, conversation_id: str) -> dict[str, Any]:
    """The one chatOffered this connection got for the conversation (consumes its frames)."""
    offers = [f for f in agent.of_type("chatOffered") if f["conversationId"] == conversation_id]
    assert len(offers) == 1, offers
    return offers[0]


def accept(agent: Client, conversation_id: str) -> dict[str, Any]:
    offer = the_offer(agent, conversation_id)
    accepted = agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    assert accepted["type"] == "chatAccepted", accepted
    return accepted


def live_chat(world: World, email: str = ALICE) -> tuple[Client, Visitor, str]:
    """One agent, one visitor, one accepted chat; both sides' frames so far are consumed
    except the visitor's agentJoined."""
    world.agent(email)
    world.live_dialog("sales", ROUND_ROBIN)
    agent = world.agent_client(email)
    visitor = new_visitor(world)
    conversation_id = request_chat(world, visitor.client)
    accept(agent, conversation_id)
    return agent, visitor, conversation_id


def say(sender: Client, conversation_id: str, text: str, client_message_id: str) -> dict[str, Any]:
    """Send a message and check it was stored: the sender's answer is its `message`."""
    sent = sender.ask("sendMessage", conversationId=conversation_id, text=text,
                      clientMessageId=client_message_id)
    assert sent["type"] == "message", sent
    return sent


def seqs(frames: list[dict[str, Any]]) -> list[int]:
    return [int(f["seq"]) for f in frames]


def slots_of(world: World, email: str) -> dict[str, Any]:
    return dict(plain(world.agent_item(email).slots) or {})


def without_request_id(frame: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in frame.items() if k != "requestId"}


# --- 1. seq -----------------------------------------------------------------------------

def test_every_stored_event_of_a_conversation_carries_the_next_seq(world: World) -> None:
    # Given an agent, and a visitor with a second tab open on the same identity
    world.agent(ALICE)
    world.live_dialog("sales", ROUND_ROBIN)
    agent = world.agent_client(ALICE)
    visitor = new_visitor(world)
    other_tab = world.visitor_client(visitor.token)

    # When the visitor answers, captures, asks for a chat, talks with the agent and ends it
    conversation_id = request_chat(world, visitor.client)
    accept(agent, conversation_id)
    say(visitor.client, conversation_id, "Hi", "v1")
    say(agent, conversation_id, "Hello", "a1")
    assert visitor.client.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"

    # Then the transcript numbers its events 1, 2, 3, … without a gap
    transcript = agent.ask("getTranscript", conversationId=conversation_id)
    events = transcript["events"]
    assert seqs(events) == list(range(1, 8))
    assert [e.get("event", e["kind"]) for e in events] == [
        "answer", "capture", "routing", "agentJoined", "message", "message", "chatEnded",
    ]
    # And the other tab saw every one of them as a frame with the same seq, in order
    assert [(f["type"], f.get("seq")) for f in other_tab.frames()] == [
        ("answerRecorded", 1), ("captureRecorded", 2), ("routing", 3), ("agentJoined", 4),
        ("message", 5), ("message", 6), ("chatEnded", 7),
    ]


# --- 2. resume (visitor) ----------------------------------------------------------------

def test_a_reconnecting_visitor_resumes_exactly_the_events_it_missed(world: World) -> None:
    # Given a live chat whose visitor has seen everything up to agentJoined
    agent, visitor, conversation_id = live_chat(world)
    last_seen = max(seqs(visitor.client.frames()))

    # When the visitor's connection drops, the agent writes three messages, and the visitor
    # reconnects with the same token and resumes after the last seq it saw
    visitor.client.disconnect()
    for text in ("one", "two", "three"):
        say(agent, conversation_id, text, f"a-{text}")
    again = world.visitor_client(visitor.token)
    assert again.connection_id != visitor.client.connection_id
    frames = again.send("resume", requestId="resume-1", conversationId=conversation_id,
                        afterSeq=last_seen)

    # Then it gets exactly the missed messages in seq order, then the ack of the resume
    *replayed, answer = frames
    assert [(f["type"], f["seq"], f["from"], f["text"]) for f in replayed] == [
        ("message", last_seen + 1, "agent", "one"),
        ("message", last_seen + 2, "agent", "two"),
        ("message", last_seen + 3, "agent", "three"),
    ]
    assert answer == {"type": "ack", "action": "resume", "requestId": "resume-1",
                      "seq": last_seen + 3}


def test_resuming_after_seq_zero_replays_the_whole_conversation(world: World) -> None:
    # Given a live chat with one message
    _agent, visitor, conversation_id = live_chat(world)
    say(visitor.client, conversation_id, "Hi", "v1")
    visitor.client.frames()

    # When the visitor resumes after seq 0
    frames = visitor.client.send("resume", requestId="resume-0", conversationId=conversation_id,
                                 afterSeq=0)

    # Then every stored event comes again, in order, and the ack names the last seq
    *replayed, answer = frames
    assert [(f["type"], f["seq"]) for f in replayed] == [
        ("answerRecorded", 1), ("captureRecorded", 2), ("routing", 3), ("agentJoined", 4),
        ("message", 5),
    ]
    assert answer == {"type": "ack", "action": "resume", "requestId": "resume-0", "seq": 5}


def test_a_visitor_disconnect_does_not_end_the_chat(world: World) -> None:
    # Given a live chat
    agent, visitor, conversation_id = live_chat(world)

    # When the visitor's connection closes
    visitor.client.disconnect()

    # Then the chat is still active, the agent still holds its slot and can still write
    assert agent.ask("getTranscript", conversationId=conversation_id)["status"] == "active"
    item = world.agent_item(ALICE)
    assert item.active == 1 and conversation_id in slots_of(world, ALICE)
    assert say(agent, conversation_id, "Still there?", "a1")["from"] == "agent"


# --- 3. resume (agent) and presence -----------------------------------------------------

def test_a_reconnecting_agent_resumes_their_own_chat(world: World) -> None:
    # Given a live chat the agent saw up to its acceptance
    world.agent(ALICE)
    world.live_dialog("sales", ROUND_ROBIN)
    agent = world.agent_client(ALICE)
    visitor = new_visitor(world)
    conversation_id = request_chat(world, visitor.client)
    last_seen = max(seqs(accept(agent, conversation_id)["transcript"]))

    # When the agent's connection drops, the visitor writes twice, and the agent reconnects
    # and resumes after the last seq it saw
    agent.disconnect()
    for number, text in enumerate(("anyone?", "hello?"), start=1):
        say(visitor.client, conversation_id, text, f"v{number}")
    again = world.agent_client(ALICE)
    frames = again.send("resume", requestId="resume-a", conversationId=conversation_id,
                        afterSeq=last_seen)

    # Then the agent gets the two missed messages, then the ack
    *replayed, answer = frames
    assert [(f["type"], f["seq"], f["from"], f["text"]) for f in replayed] == [
        ("message", last_seen + 1, "visitor", "anyone?"),
        ("message", last_seen + 2, "visitor", "hello?"),
    ]
    assert answer == {"type": "ack", "action": "resume", "requestId": "resume-a",
                      "seq": last_seen + 2}


def test_another_agent_cannot_resume_a_chat_that_is_not_theirs(world: World) -> None:
    # Given alice's live chat and bob, who is connected too
    world.agent(BOB)
    bob = world.agent_client(BOB)
    _alice, _visitor, conversation_id = live_chat(world, ALICE)

    # When bob resumes it
    answer = bob.ask("resume", conversationId=conversation_id, afterSeq=0)

    # Then it looks exactly like a missing conversation, and nothing is replayed
    assert answer["type"] == "error" and answer["code"] == "NOT_FOUND"
    assert bob.frames() == []


def test_an_agent_who_reconnects_is_present_again_on_the_new_connection_only(world: World) -> None:
    # Given a connected agent
    world.agent(ALICE)
    first = world.agent_client(ALICE)
    assert world.agent_item(ALICE).connections == {first.connection_id}

    # When that connection closes and the agent connects again
    first.disconnect()
    assert not world.agent_item(ALICE).connections
    second = world.agent_client(ALICE)

    # Then the agent row holds the new connection and not the old one
    assert world.agent_item(ALICE).connections == {second.connection_id}


# --- 4. decline -------------------------------------------------------------------------

@dataclass
class Declining:
    conversation_id: str
    offer_id: str
    decliner: str
    decliner_tabs: list[Client]
    next_agent: str
    next_tabs: list[Client]


TEAM = "inside-sales"


def offered_to_one_of_two(world: World) -> Declining:
    """A team of two available agents with two tabs each; one chat offered, round-robin
    inside the team, to one of them. (Team routing is the mode where a timeout, and so a
    decline, moves on to another agent; every other mode falls back.)"""
    tabs: dict[str, list[Client]] = {}
    for email in (ALICE, BOB):
        world.agent(email, teams=(TEAM,))
        tabs[email] = [world.agent_client(email), world.agent_client(email)]
    world.live_dialog("sales", {"mode": "team", "team": TEAM})
    visitor = new_visitor(world)
    conversation_id = request_chat(world, visitor.client)
    offers = {email: [f for f in clients[0].of_type("chatOffered")] for email, clients in tabs.items()}
    decliner = next(email for email, got in offers.items() if got)
    next_agent = next(email for email in tabs if email != decliner)
    assert offers[next_agent] == []
    for tab in tabs[decliner][1:]:
        tab.frames()  # the other tab's copy of the offer
    return Declining(conversation_id, offers[decliner][0]["offerId"], decliner, tabs[decliner],
                     next_agent, tabs[next_agent])


def test_a_decline_is_acked_and_the_agents_other_tabs_see_the_offer_withdrawn(world: World) -> None:
    # Given a chat offered to an agent who has two tabs open
    d = offered_to_one_of_two(world)

    # When the agent declines it in one tab
    answer = d.decliner_tabs[0].ask("decline", conversationId=d.conversation_id, offerId=d.offer_id)

    # Then that tab gets an ack and the other tab is told the offer was declined
    assert answer["type"] == "ack" and answer["action"] == "decline"
    assert d.decliner_tabs[1].of_type("offerWithdrawn") == [{
        "type": "offerWithdrawn", "conversationId": d.conversation_id, "offerId": d.offer_id,
        "reason": "declined",
    }]


def test_a_declined_team_chat_is_offered_at_once_to_the_next_agent(world: World) -> None:
    # Given a team chat offered to one of the team's two available agents
    d = offered_to_one_of_two(world)

    # When that agent declines
    answer = d.decliner_tabs[0].ask("decline", conversationId=d.conversation_id, offerId=d.offer_id)
    assert answer["type"] == "ack", answer

    # Then the other agent is offered the chat right away, under a new offer
    offer = the_offer(d.next_tabs[0], d.conversation_id)
    assert offer["offerId"] != d.offer_id
    assert d.decliner_tabs[0].of_type("chatOffered") == []


def test_declining_a_round_robin_chat_gives_the_visitor_the_not_accepted_fallback(world: World) -> None:
    # Given a round-robin chat offered to one of two available agents
    for email in (ALICE, BOB):
        world.agent(email)
    alice, bob = world.agent_client(ALICE), world.agent_client(BOB)
    world.live_dialog("sales", ROUND_ROBIN)
    visitor = new_visitor(world)
    conversation_id = request_chat(world, visitor.client)
    (decliner, offer), = [(a, f) for a in (alice, bob) for f in a.of_type("chatOffered")]

    # When that agent declines
    answer = decliner.ask("decline", conversationId=conversation_id, offerId=offer["offerId"])

    # Then, as on a timeout, the visitor gets the fallback at once and nobody else is offered
    assert answer["type"] == "ack", answer
    fallbacks = visitor.client.of_type("fallback")
    assert [(f["conversationId"], f["reason"]) for f in fallbacks] == [(conversation_id, "not_accepted")]
    assert alice.of_type("chatOffered") == bob.of_type("chatOffered") == []


def test_declining_releases_the_decliners_slot(world: World) -> None:
    # Given a chat offered to an agent, which holds one of the agent's slots
    d = offered_to_one_of_two(world)
    assert world.agent_item(d.decliner).active == 1
    assert d.conversation_id in slots_of(world, d.decliner)

    # When the agent declines
    d.decliner_tabs[0].ask("decline", conversationId=d.conversation_id, offerId=d.offer_id)

    # Then the slot is free again
    assert world.agent_item(d.decliner).active == 0
    assert d.conversation_id not in slots_of(world, d.decliner)


def test_declining_the_same_offer_again_is_acked_and_changes_nothing(world: World) -> None:
    # Given an offer the agent already declined (the chat went on to its fallback)
    d = offered_to_one_of_two(world)
    d.decliner_tabs[0].ask("decline", conversationId=d.conversation_id, offerId=d.offer_id)
    before = stored.get(d.conversation_id)

    # When the agent declines it again (a retried frame, or a second tab's stale banner)
    again = d.decliner_tabs[0].ask("decline", conversationId=d.conversation_id, offerId=d.offer_id)

    # Then it is acked like the first, the slot count is unchanged and nothing else moves
    assert again["type"] == "ack", again
    assert world.agent_item(d.decliner).active == 0
    after = stored.get(d.conversation_id)
    assert (after.status, after.last_seq) == (before.status, before.last_seq)


# --- 5. the visitor leaves while the chat is offered --------------------------------------

def offered_chat(world: World) -> tuple[Client, Visitor, str, str]:
    world.agent(ALICE)
    world.live_dialog("sales", ROUND_ROBIN)
    agent = world.agent_client(ALICE)
    visitor = new_visitor(world)
    conversation_id = request_chat(world, visitor.client)
    return agent, visitor, conversation_id, the_offer(agent, conversation_id)["offerId"]


def test_a_visitor_leaving_an_offered_chat_is_acked_and_the_offer_withdrawn(world: World) -> None:
    # Given a chat offered to an agent
    agent, visitor, conversation_id, offer_id = offered_chat(world)

    # When the visitor ends it before anyone accepted
    answer = visitor.client.ask("endChat", conversationId=conversation_id)

    # Then the visitor's answer is an ack and the agent is told the visitor left
    assert answer["type"] == "ack" and answer["action"] == "endChat"
    assert agent.of_type("offerWithdrawn") == [{
        "type": "offerWithdrawn", "conversationId": conversation_id, "offerId": offer_id,
        "reason": "visitor_left",
    }]


def test_a_visitor_leaving_an_offered_chat_releases_the_agents_slot(world: World) -> None:
    # Given a chat offered to an agent, holding one of the agent's slots
    _agent, visitor, conversation_id, _offer_id = offered_chat(world)
    assert world.agent_item(ALICE).active == 1

    # When the visitor ends it
    assert visitor.client.ask("endChat", conversationId=conversation_id)["type"] == "ack"

    # Then the slot is free again
    assert world.agent_item(ALICE).active == 0
    assert conversation_id not in slots_of(world, ALICE)


def test_accepting_an_offer_the_visitor_left_says_offer_expired(world: World) -> None:
    # Given an offer whose visitor has left
    agent, visitor, conversation_id, offer_id = offered_chat(world)
    assert visitor.client.ask("endChat", conversationId=conversation_id)["type"] == "ack"

    # When the agent accepts it anyway
    answer = agent.ask("accept", conversationId=conversation_id, offerId=offer_id)

    # Then the offer is reported expired, and no half-joined chat exists
    assert answer["type"] == "error" and answer["code"] == "OFFER_EXPIRED"
    assert agent.ask("getTranscript", conversationId=conversation_id)["status"] == "ended"
    assert world.agent_item(ALICE).active == 0
    assert visitor.client.of_type("agentJoined") == []


# --- 6. the visitor ends a live chat ----------------------------------------------------

def test_a_visitor_ending_a_live_chat_tells_both_sides(world: World) -> None:
    # Given a live chat
    agent, visitor, conversation_id = live_chat(world)

    # When the visitor ends it
    answer = visitor.client.ask("endChat", conversationId=conversation_id)

    # Then both sides get chatEnded, reason visitor
    assert answer["type"] == "chatEnded" and answer["reason"] == "visitor"
    assert answer["conversationId"] == conversation_id
    ended = agent.of_type("chatEnded")
    assert [(f["conversationId"], f["reason"], f["seq"]) for f in ended] == [
        (conversation_id, "visitor", answer["seq"]),
    ]


def test_a_visitor_ending_a_live_chat_frees_the_agents_slot(world: World) -> None:
    # Given a live chat holding one of the agent's slots
    _agent, visitor, conversation_id = live_chat(world)
    assert world.agent_item(ALICE).active == 1

    # When the visitor ends it
    assert visitor.client.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"

    # Then the slot is free again
    assert world.agent_item(ALICE).active == 0
    assert conversation_id not in slots_of(world, ALICE)


def test_an_ended_chat_leaves_the_agents_inbox(world: World) -> None:
    # Given a live chat in the agent's inbox
    agent, visitor, conversation_id = live_chat(world)
    before = agent.ask("listInbox")["chats"]
    assert [c["conversationId"] for c in before] == [conversation_id]

    # When the visitor ends it
    assert visitor.client.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"

    # Then the inbox is empty
    assert agent.ask("listInbox")["chats"] == []


@pytest.mark.parametrize("side", ["visitor", "agent"])
def test_sending_a_message_to_an_ended_chat_is_a_conflict(world: World, side: str) -> None:
    # Given a chat the visitor ended
    agent, visitor, conversation_id = live_chat(world)
    assert visitor.client.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"
    sender = visitor.client if side == "visitor" else agent

    # When one side still sends a message
    answer = sender.ask("sendMessage", conversationId=conversation_id, text="Wait!",
                        clientMessageId="late")

    # Then it is refused as a conflict and nothing is stored
    assert answer["type"] == "error" and answer["code"] == "CONFLICT"
    transcript = agent.ask("getTranscript", conversationId=conversation_id)
    assert transcript["events"][-1].get("event") == "chatEnded"


# --- 7. inbox ---------------------------------------------------------------------------

def test_the_inbox_shows_only_this_agents_accepted_open_chats(world: World) -> None:
    # Given alice with one open chat, one ended chat and one pending offer, and bob's chat
    world.agent(ALICE)
    world.agent(BOB)
    world.live_dialog("to-alice", {"mode": "agent", "agent": ALICE})
    world.live_dialog("to-bob", {"mode": "agent", "agent": BOB})
    alice, bob = world.agent_client(ALICE), world.agent_client(BOB)

    open_visitor = new_visitor(world)
    open_chat = request_chat(world, open_visitor.client, "to-alice")
    accept(alice, open_chat)
    ended_visitor = new_visitor(world)
    ended_chat = request_chat(world, ended_visitor.client, "to-alice")
    accept(alice, ended_chat)
    assert ended_visitor.client.ask("endChat", conversationId=ended_chat)["type"] == "chatEnded"
    offered = request_chat(world, new_visitor(world).client, "to-alice")
    the_offer(alice, offered)
    accept(bob, request_chat(world, new_visitor(world).client, "to-bob"))

    # When alice lists her inbox
    chats = alice.ask("listInbox")["chats"]

    # Then only her open, accepted chat is there, with the inbox fields
    assert [c["conversationId"] for c in chats] == [open_chat]
    chat = chats[0]
    assert set(chat) == {"conversationId", "visitor", "page", "acceptedAt", "lastActivityAt"}
    assert chat["visitor"] == VERA
    assert chat["page"]["url"] == PAGE_URL
    assert chat["acceptedAt"].endswith("Z") and chat["lastActivityAt"].endswith("Z")
    assert parse_iso(chat["acceptedAt"]) <= parse_iso(chat["lastActivityAt"])


# --- 8. conversations view --------------------------------------------------------------

def test_the_conversations_view_lists_every_kind_newest_activity_first(world: World) -> None:
    # Given an automated conversation, one that fell back (nobody connected) and a live one
    world.agent(ALICE)
    world.live_dialog("sales", ROUND_ROBIN)
    automated_visitor = new_visitor(world)
    automated = str(automated_visitor.client.ask(
        "startConversation", dialogId="sales", page={"url": PAGE_URL})["conversationId"])
    fallback_visitor = new_visitor(world)
    fallback = world.walk_to_live_card(fallback_visitor.client, "sales")
    answer = fallback_visitor.client.ask("requestChat", conversationId=fallback, cardId="live")
    assert answer["type"] == "fallback"
    alice = world.agent_client(ALICE)
    live = request_chat(world, new_visitor(world).client)
    accept(alice, live)
    # and the automated one, the oldest, has the latest activity
    answered = automated_visitor.client.ask("answer", conversationId=automated, cardId="ask", value="No")
    assert answered["type"] == "ack", answered

    # When an agent lists the conversations
    listed = alice.ask("listConversations")

    # Then all three are there, newest activity first, with their kind and status
    assert [(i["conversationId"], i["kind"], i["status"]) for i in listed["items"]] == [
        (automated, "automated", "automated"),
        (live, "live", "active"),
        (fallback, "live", "fallback"),
    ]
    activity = [parse_iso(i["lastActivityAt"]) for i in listed["items"]]
    assert activity == sorted(activity, reverse=True)
    assert listed.get("cursor") is None


def test_the_conversations_cursor_pages_through_every_conversation_exactly_once(world: World) -> None:
    # Given 55 automated conversations, more than one page
    world.agent(ALICE)
    world.live_dialog("sales", ROUND_ROBIN)
    visitor = new_visitor(world)
    created = {str(visitor.client.ask("startConversation", dialogId="sales")["conversationId"])
               for _ in range(55)}
    alice = world.agent_client(ALICE)

    # When an agent follows the cursor until there is none
    seen: list[str] = []
    pages = 0
    cursor: str | None = None
    while True:
        page = alice.ask("listConversations", **({"cursor": cursor} if cursor else {}))
        assert page["type"] == "conversations", page
        assert len(page["items"]) <= 50
        seen += [i["conversationId"] for i in page["items"]]
        pages += 1
        cursor = page.get("cursor")
        if not cursor:
            break
        assert pages < 10, "the cursor never ends"

    # Then every conversation was listed exactly once, over more than one page
    assert pages >= 2
    assert len(seen) == len(set(seen)) == 55
    assert set(seen) == created


@pytest.mark.parametrize("cursor", ["garbage", "e30=", "eyJwayI6eyJTIjoiQ09OViN4In19", "%%%"])
def test_a_garbage_cursor_is_a_bad_request(world: World, cursor: str) -> None:
    # Given a connected agent
    world.agent(ALICE)
    alice = world.agent_client(ALICE)

    # When it lists conversations with a cursor this server never gave
    answer = alice.ask("listConversations", cursor=cursor)

    # Then the answer is BAD_REQUEST naming the cursor
    assert answer["type"] == "error" and answer["code"] == "BAD_REQUEST"
    assert "cursor" in answer["message"]


# --- 9. transcripts and avatars ---------------------------------------------------------

def test_an_agent_can_read_any_conversations_transcript(world: World) -> None:
    # Given alice's live chat and another visitor's automated conversation
    world.agent(BOB)
    bob = world.agent_client(BOB)
    _alice, _visitor, live = live_chat(world, ALICE)
    automated = str(new_visitor(world).client.ask("startConversation", dialogId="sales")["conversationId"])

    # When bob, who took part in neither, reads them
    read = [bob.ask("getTranscript", conversationId=c) for c in (live, automated)]

    # Then he gets both transcripts
    assert [(t["type"], t["conversationId"], t["status"]) for t in read] == [
        ("transcript", live, "active"), ("transcript", automated, "automated"),
    ]


def test_reading_an_unchanged_conversation_twice_gives_the_same_transcript(world: World) -> None:
    # Given a live chat with a message
    agent, visitor, conversation_id = live_chat(world)
    say(visitor.client, conversation_id, "Hi", "v1")

    # When it is read twice without a change in between
    first = agent.ask("getTranscript", conversationId=conversation_id)
    second = agent.ask("getTranscript", conversationId=conversation_id)

    # Then both reads are the same
    assert without_request_id(first) == without_request_id(second)


def test_captured_fields_are_in_the_visitor_and_in_a_capture_event(world: World) -> None:
    # Given a visitor who filled the capture card
    agent, _visitor, conversation_id = live_chat(world)

    # When the agent reads the transcript
    transcript = agent.ask("getTranscript", conversationId=conversation_id)

    # Then the fields are the visitor's and also a capture event of the card
    assert transcript["visitor"] == VERA
    captures = [e for e in transcript["events"] if e["kind"] == "capture"]
    assert [(e["cardId"], e["fields"], e["from"]) for e in captures] == [("who", VERA, "visitor")]


def test_a_chat_keeps_the_avatar_the_agent_had_at_accept(world: World) -> None:
    # Given a live chat accepted while alice's avatar was the old picture
    agent, visitor, conversation_id = live_chat(world)
    old = "https://example.com/alice.png"
    assert [f["agent"]["avatarUrl"] for f in visitor.client.of_type("agentJoined")] == [old]

    # When alice changes her avatar during the chat
    item = world.agent_item(ALICE)
    item.update(actions=[type(item).avatar_url.set("https://new")])

    # Then the transcript's agent and the stored agentJoined still show the old picture
    transcript = agent.ask("getTranscript", conversationId=conversation_id)
    assert transcript["agent"] == {"name": "Alice", "avatarUrl": old}
    replayed = [f for f in visitor.client.send("resume", conversationId=conversation_id, afterSeq=0)
                if f["type"] == "agentJoined"]
    assert [f["agent"] for f in replayed] == [{"name": "Alice", "avatarUrl": old}]


def test_the_next_chat_shows_the_agents_new_avatar(world: World) -> None:
    # Given alice changed her avatar during a chat
    agent, _visitor, _first = live_chat(world)
    item = world.agent_item(ALICE)
    item.update(actions=[type(item).avatar_url.set("https://new")])

    # When she accepts her next chat
    visitor = new_visitor(world)
    second = request_chat(world, visitor.client)
    accept(agent, second)

    # Then that chat shows the new picture, to the visitor and in the transcript
    assert [f["agent"]["avatarUrl"] for f in visitor.client.of_type("agentJoined")] == ["https://new"]
    transcript = agent.ask("getTranscript", conversationId=second)
    assert transcript["agent"]["avatarUrl"] == "https://new"


# --- 10. typing -------------------------------------------------------------------------

def test_visitor_typing_reaches_the_agent_without_a_seq(world: World) -> None:
    # Given a live chat
    agent, visitor, conversation_id = live_chat(world)

    # When the visitor starts typing
    answer = visitor.client.ask("typing", conversationId=conversation_id, isTyping=True)

    # Then the visitor's request is acked and the agent gets an unnumbered typing frame
    assert answer["type"] == "ack" and answer["action"] == "typing"
    assert agent.of_type("typing") == [
        {"type": "typing", "conversationId": conversation_id, "from": "visitor", "isTyping": True},
    ]


def test_typing_is_never_replayed_by_resume(world: World) -> None:
    # Given a live chat where the visitor typed and the agent missed it
    agent, visitor, conversation_id = live_chat(world)
    agent.disconnect()
    for is_typing in (True, False):
        typed = visitor.client.ask("typing", conversationId=conversation_id, isTyping=is_typing)
        assert typed["type"] == "ack", typed
    again = world.agent_client(ALICE)

    # When the agent resumes from the start
    frames = again.send("resume", requestId="resume-t", conversationId=conversation_id, afterSeq=0)

    # Then only stored events come back, numbered without a gap, and no typing
    *replayed, answer = frames
    assert [(f["type"], f["seq"]) for f in replayed] == [
        ("answerRecorded", 1), ("captureRecorded", 2), ("routing", 3), ("agentJoined", 4),
    ]
    assert answer == {"type": "ack", "action": "resume", "requestId": "resume-t", "seq": 4}


@pytest.mark.parametrize("state", ["automated", "offered", "ended"])
def test_typing_on_a_chat_that_is_not_live_is_a_conflict(world: World, state: str) -> None:
    # Given a conversation that is not a live chat (yet, or any more)
    world.agent(ALICE)
    world.live_dialog("sales", ROUND_ROBIN)
    agent = world.agent_client(ALICE)
    visitor = new_visitor(world)
    if state == "automated":
        conversation_id = world.walk_to_live_card(visitor.client, "sales")
    else:
        conversation_id = request_chat(world, visitor.client)
    if state == "ended":
        accept(agent, conversation_id)
        assert visitor.client.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"
    agent.frames()

    # When the visitor types in it
    answer = visitor.client.ask("typing", conversationId=conversation_id, isTyping=True)

    # Then it is refused as a conflict and the agent hears nothing
    assert answer["type"] == "error" and answer["code"] == "CONFLICT"
    assert agent.of_type("typing") == []


# --- 11. status -------------------------------------------------------------------------

def test_away_persists_across_connections(world: World) -> None:
    # Given an agent who set themselves away and then reconnected
    world.agent(ALICE)
    world.live_dialog("sales", ROUND_ROBIN)
    first = world.agent_client(ALICE)
    assert first.ask("setStatus", status="away")["type"] == "ack"
    first.disconnect()
    again = world.agent_client(ALICE)

    # When a visitor asks for a chat
    visitor = new_visitor(world)
    conversation_id = world.walk_to_live_card(visitor.client, "sales")
    answer = visitor.client.ask("requestChat", conversationId=conversation_id, cardId="live")

    # Then the agent is still away and is not offered the chat
    assert world.agent_item(ALICE).status == "away"
    assert answer["type"] == "fallback" and answer["reason"] == "no_agent"
    assert again.of_type("chatOffered") == []


def test_set_status_is_acked_and_only_the_agents_other_tabs_get_the_status(world: World) -> None:
    # Given an agent with two tabs open
    world.agent(ALICE)
    tab, other_tab = world.agent_client(ALICE), world.agent_client(ALICE)

    # When one tab sets the agent away
    answer = tab.ask("setStatus", status="away")

    # Then that tab gets an ack (the contract's answer to an action without an event of its
    # own) and only the other tab is told the new status
    assert answer == {"type": "ack", "action": "setStatus", "requestId": answer["requestId"]}
    assert tab.frames() == []
    # (an agent without a schedule is always on it, and never changes status by itself)
    assert other_tab.frames() == [{"type": "status", "status": "away", "onSchedule": True, "until": None}]


# --- 12. every tab ----------------------------------------------------------------------

def test_a_chat_offer_rings_every_live_tab_of_the_agent(world: World) -> None:
    # Given an agent with two tabs open
    world.agent(ALICE)
    world.live_dialog("sales", ROUND_ROBIN)
    tabs = [world.agent_client(ALICE), world.agent_client(ALICE)]

    # When a visitor asks for a chat
    conversation_id = request_chat(world, new_visitor(world).client)

    # Then both tabs get the same offer
    offers = [the_offer(tab, conversation_id) for tab in tabs]
    assert offers[0] == offers[1]


# --- 13. requesting again ---------------------------------------------------------------

def test_requesting_a_chat_that_is_already_live_is_a_conflict(world: World) -> None:
    # Given a live chat
    agent, visitor, conversation_id = live_chat(world)

    # When the visitor requests a chat on it again
    answer = visitor.client.ask("requestChat", conversationId=conversation_id, cardId="live")

    # Then it is refused as a conflict and nobody is offered anything
    assert answer["type"] == "error" and answer["code"] == "CONFLICT"
    assert agent.of_type("chatOffered") == []
    assert world.agent_item(ALICE).active == 1


def test_the_inbox_answer_carries_the_agents_stored_status(world: World) -> None:
    # Given an agent who went away on one connection
    world.agent("alice@example.com")
    first = world.agent_client("alice@example.com")
    first.ask("setStatus", status="away")
    # When a new connection lists the inbox, Then it learns the stored status
    second = world.agent_client("alice@example.com")
    assert second.ask("listInbox")["status"] == "away"


# --- 14. capture cards (workspace.md, second round) ----------------------------------------

def test_a_capture_without_an_optional_field_is_stored_and_a_missing_required_one_is_refused(
        world: World) -> None:
    # Given a card listing four fields of which two are required
    world.live_dialog("sales", ROUND_ROBIN, fields=("firstName", "email", "company", "country"),
                      required=("firstName", "email"))
    visitor = new_visitor(world).client
    conversation_id = str(visitor.ask("startConversation", dialogId="sales")["conversationId"])
    visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="Yes")

    # When the visitor leaves out the required e-mail, Then it is refused naming the field
    refused = visitor.ask("capture", conversationId=conversation_id, cardId="who",
                          fields={"firstName": "Vera", "country": "FR"})
    assert (refused["type"], refused["code"]) == ("error", "BAD_REQUEST")
    assert refused["message"] == "fields.email: required"

    # When the visitor gives the required fields and no country, Then it is stored as given
    stored = visitor.ask("capture", conversationId=conversation_id, cardId="who", fields=VERA)
    assert stored["type"] == "ack", stored
    transcript = visitor.ask("getTranscript", conversationId=conversation_id)
    assert transcript["visitor"] == VERA
    assert [e["fields"] for e in transcript["events"] if e["kind"] == "capture"] == [VERA]


# --- 15. a start re-sent by the client (clientConversationId, an addition) ----------------

def test_a_start_re_sent_with_the_same_client_conversation_id_creates_one_conversation(
        world: World) -> None:
    # Given a visitor whose start was sent, and sent again with a new requestId (the answer
    # to the first was lost with the connection)
    world.live_dialog("sales", ROUND_ROBIN)
    world.agent(ALICE)
    visitor = new_visitor(world).client
    first = visitor.ask("startConversation", dialogId="sales", clientConversationId="c-page-1")
    again = visitor.ask("startConversation", dialogId="sales", clientConversationId="c-page-1")

    # Then both answers name the same conversation, and it is the only one there is
    assert first["type"] == again["type"] == "conversationStarted", (first, again)
    assert first["conversationId"] == again["conversationId"]
    assert first["requestId"] != again["requestId"]
    listed = world.agent_client(ALICE).ask("listConversations")["items"]
    assert [c["conversationId"] for c in listed] == [first["conversationId"]]


def test_another_visitor_with_the_same_client_conversation_id_gets_a_conversation_of_their_own(
        world: World) -> None:
    world.live_dialog("sales", ROUND_ROBIN)
    one, other = new_visitor(world).client, new_visitor(world).client

    mine = one.ask("startConversation", dialogId="sales", clientConversationId="c-1")
    theirs = other.ask("startConversation", dialogId="sales", clientConversationId="c-1")

    assert mine["conversationId"] != theirs["conversationId"]
    refused = other.ask("getTranscript", conversationId=mine["conversationId"])
    assert (refused["type"], refused["code"]) == ("error", "NOT_FOUND")


def test_a_client_conversation_id_used_for_another_dialog_is_a_conflict(world: World) -> None:
    world.live_dialog("sales", ROUND_ROBIN)
    world.live_dialog("support", ROUND_ROBIN)
    visitor = new_visitor(world).client
    visitor.ask("startConversation", dialogId="sales", clientConversationId="c-1")

    answer = visitor.ask("startConversation", dialogId="support", clientConversationId="c-1")

    assert (answer["type"], answer["code"]) == ("error", "CONFLICT")
    assert "clientConversationId" in answer["message"]
