"""A conversation's clock (issue 15, the bill): a message to a live chat writes its event
(under its clientMessageId), the clock and the sender's rate counter, and not the
conversation item, so none of the item's index entries; what reads the item alone may lag
by up to ACTIVITY_KEY_STEP_SECONDS while the chat is live, and is exact once it is over."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import replace
from typing import Any

import boto3
import pytest
from livechat.chat import conversations
from livechat.domain.clock import iso
from livechat.domain.errors import Conflict
from livechat.domain.states import Status
from livechat.domain.transitions import ACTIVITY_KEY_STEP_SECONDS
from livechat.store import conversations as stored
from livechat.store import parties
from livechat.store.keys import CLOCK_SK, META_SK, conv_pk

from tests.support.aws import REGION, TABLE
from tests.support.clock import FakeClock, controlled_clock
from tests.support.snapshot import table_snapshot
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"


@pytest.fixture
def clock(world: World) -> Iterator[FakeClock]:
    with controlled_clock() as fake:
        yield fake


def live_chat(world: World) -> tuple[Client, Client, str]:
    return world.accepted_chat(ALICE, name="Alice Martin")


def item(chat: str, sk: str = META_SK) -> dict[str, Any]:
    found = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=TABLE, Key={"pk": {"S": conv_pk(chat)}, "sk": {"S": sk}}, ConsistentRead=True)
    return dict(found.get("Item") or {})


def changed_keys(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> set[str]:
    """The sort keys of the conversations' items a step added or changed."""
    old = {(i["pk"]["S"], i["sk"]["S"]): i for i in before}
    return {i["sk"]["S"] for i in after
            if i["pk"]["S"].startswith("CONV#") and old.get((i["pk"]["S"], i["sk"]["S"])) != i}


def test_a_message_to_a_live_chat_leaves_the_conversation_item_and_its_indexes_alone(
        world: World, clock: FakeClock) -> None:
    # Given a live chat, a few seconds after the accept
    agent, visitor, chat = live_chat(world)
    clock.advance(5)
    before = table_snapshot()

    # When each side writes
    first = visitor.ask("sendMessage", conversationId=chat, text="Hi", clientMessageId="v1")
    agent.ask("sendMessage", conversationId=chat, text="Hello", clientMessageId="a1")

    # Then the conversation's partition got the two messages (each one item, under its
    # clientMessageId) and the clock, and its item (the one the four indexes copy) is as
    # it was
    assert changed_keys(before, table_snapshot()) == {"CMID#v1", "CMID#a1", CLOCK_SK}
    # And what the chat reads is current: the seq, the activity, the agent's first reply
    conv = stored.get(chat)
    assert (conv.last_seq, conv.last_activity_at, conv.first_reply_at) == (
        first["seq"] + 1, iso(clock.now()), iso(clock.now()))
    assert int(item(chat)["last_seq"]["N"]) == first["seq"] - 1


def test_the_inbox_shows_the_last_message_at_once_and_the_conversations_view_within_the_step(
        world: World, clock: FakeClock) -> None:
    # Given a live chat accepted at t0
    agent, visitor, chat = live_chat(world)
    accepted = iso(clock.now())

    # When the visitor writes a minute later
    clock.advance(60)
    visitor.ask("sendMessage", conversationId=chat, text="Still there?", clientMessageId="v1")

    # Then the inbox shows the message's time, while the conversations view still orders
    # and shows the chat by the accept (its index key moves only every step)
    (inboxed,) = agent.ask("listInbox")["chats"]
    assert inboxed["lastActivityAt"] == iso(clock.now())
    (listed,) = [i for i in agent.ask("listConversations")["items"] if i["conversationId"] == chat]
    assert listed["lastActivityAt"] == accepted

    # And once a message comes a step after the key last moved, the view catches up
    clock.advance(ACTIVITY_KEY_STEP_SECONDS)
    visitor.ask("sendMessage", conversationId=chat, text="Hello?", clientMessageId="v2")
    (listed,) = [i for i in agent.ask("listConversations")["items"] if i["conversationId"] == chat]
    assert listed["lastActivityAt"] == iso(clock.now())


def test_the_end_writes_what_the_clock_says_onto_the_item(world: World, clock: FakeClock) -> None:
    # Given a live chat with a message each way, the last one 30 s after the accept
    agent, visitor, chat = live_chat(world)
    clock.advance(10)
    agent.ask("sendMessage", conversationId=chat, text="Hello", clientMessageId="a1")
    replied = iso(clock.now())
    clock.advance(20)
    visitor.ask("sendMessage", conversationId=chat, text="Bye", clientMessageId="v1")
    last = iso(clock.now())

    # When the agent ends it
    clock.advance(5)
    agent.ask("endChat", conversationId=chat)

    # Then the item alone (what the indexes, the export and erasure read) is exact
    meta, tick = item(chat), item(chat, CLOCK_SK)
    assert meta["last_seq"] == tick["last_seq"]
    assert (meta["last_activity_at"]["S"], meta["first_reply_at"]["S"]) == (last, replied)
    assert stored.get(chat).status == Status.ENDED


def test_typing_just_after_the_accept_is_relayed_when_the_relays_read_is_stale(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a live chat, and a relay read (eventually consistent) that still sees the
    # conversation as it was before the accept: offered, no agent
    agent, visitor, chat = live_chat(world)
    original = parties.read
    stale_reads: list[str] = []

    def lagging(conversation_id: str, **kw: Any) -> parties.Parties:
        found = original(conversation_id, **kw)
        if not kw.get("relay"):
            return found
        stale_reads.append(conversation_id)
        return replace(found, conversation=replace(found.conversation, status=Status.OFFERED, agent=None))

    monkeypatch.setattr(parties, "read", lagging)

    # When the agent starts typing
    answer = agent.ask("typing", conversationId=chat, isTyping=True)

    # Then the stale read was not the last word: the visitor sees it and the agent gets ack
    assert stale_reads == [chat]
    assert answer["type"] == "ack"
    assert [(f["from"], f["isTyping"]) for f in visitor.of_type("typing")] == [("agent", True)]


def test_a_message_planned_on_the_live_chat_and_written_after_its_end_is_refused(world: World) -> None:
    # Given a live chat read while it was live (the message's plan), then ended by the agent
    agent, _visitor, chat = live_chat(world)
    was_live = stored.get(chat)
    agent.ask("endChat", conversationId=chat)
    events = stored.events_after(chat, 0)

    # When the message is written on that read: its transaction names only the clock, whose
    # last_seq the end moved, so it is planned again on the chat as it now is
    with pytest.raises(Conflict, match="no live chat"):
        conversations.send_message(was_live, "visitor", "too late", "v-late")

    # Then nothing was stored
    assert stored.events_after(chat, 0) == events


def test_events_an_earlier_release_added_after_the_clock_are_numbered_on_from(world: World) -> None:
    # Given a live chat with a clock, then a rollback: the earlier release, which knows no
    # clock, stored a message as it did (the event, and last_seq on the item)
    _agent, visitor, chat = live_chat(world)
    said = visitor.ask("sendMessage", conversationId=chat, text="Hi", clientMessageId="v1")
    seq = int(said["seq"]) + 1
    dynamodb = boto3.client("dynamodb", region_name=REGION)
    dynamodb.put_item(TableName=TABLE, Item={
        "pk": {"S": conv_pk(chat)}, "sk": {"S": f"EVT#{seq:010d}"}, "seq": {"N": str(seq)},
        "kind": {"S": "message"}, "type": {"S": "message"}, "from": {"S": "agent"},
        "at": {"S": said["at"]}, "text": {"S": "From the earlier release"}})
    dynamodb.update_item(TableName=TABLE, Key={"pk": {"S": conv_pk(chat)}, "sk": {"S": META_SK}},
                         UpdateExpression="SET last_seq = :s", ExpressionAttributeValues={":s": {"N": str(seq)}})

    # When this release is back and the visitor writes
    again = visitor.ask("sendMessage", conversationId=chat, text="Still there?", clientMessageId="v2")

    # Then the message follows the earlier release's event, and the clock catches up
    assert (again["type"], again["seq"]) == ("message", seq + 1)
    assert item(chat, CLOCK_SK)["last_seq"] == {"N": str(seq + 1)}
    assert [e.seq for e in stored.events_after(chat, 0)] == list(range(1, seq + 2))
