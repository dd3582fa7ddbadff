"""A message is stored under its clientMessageId (keys.message_id_sk): the key that refuses a
retry is the message's own. Each side's client makes up its own ids, so the other side's
message under the same id is not a retry: it is stored under the id and its sender."""

from __future__ import annotations

import boto3
import pytest
from livechat.store import conversations as stored
from livechat.store.keys import conv_pk

from tests.support.aws import REGION, TABLE
from tests.support.world import World

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"


def test_the_same_id_from_both_sides_stores_both_messages_and_retries_each_once(world: World) -> None:
    # Given a live chat where the visitor said something with the id "1"
    agent, visitor, chat = world.accepted_chat(ALICE, name="Alice Martin")
    said = visitor.ask("sendMessage", conversationId=chat, text="Hi", clientMessageId="1")

    # When the agent's client, counting its own ids, sends "1" too
    answered = agent.ask("sendMessage", conversationId=chat, text="Hello Vera", clientMessageId="1")

    # Then it is the agent's own message, stored next to the visitor's, and the visitor gets it
    assert (answered["type"], answered["from"], answered["text"]) == ("message", "agent", "Hello Vera")
    assert answered["seq"] == said["seq"] + 1
    assert [m["text"] for m in visitor.of_type("message")] == ["Hello Vera"]
    # And a retry of either is answered with that side's own message and stores nothing
    again = agent.ask("sendMessage", conversationId=chat, text="Hello Vera", clientMessageId="1")
    assert (again["seq"], again["text"]) == (answered["seq"], "Hello Vera")
    again = visitor.ask("sendMessage", conversationId=chat, text="Hi", clientMessageId="1")
    assert (again["seq"], again["text"]) == (said["seq"], "Hi")
    events = stored.events_after(chat, 0)
    assert [(e.sender, e.text) for e in events if e.kind == "message"] == [("visitor", "Hi"), ("agent", "Hello Vera")]
    assert stored.get(chat).last_seq == answered["seq"]


def test_a_retry_is_answered_with_the_stored_message_even_when_its_text_differs(world: World) -> None:
    # Given the visitor's message "1"
    _agent, visitor, chat = world.accepted_chat(ALICE, name="Alice Martin")
    said = visitor.ask("sendMessage", conversationId=chat, text="Hi", clientMessageId="1")

    # When the same client sends "1" again with other text (the id is what names a message)
    again = visitor.ask("sendMessage", conversationId=chat, text="Hi there", clientMessageId="1")

    # Then it is the stored one, once
    assert (again["type"], again["seq"], again["text"]) == ("message", said["seq"], "Hi")
    assert [e.text for e in stored.events_after(chat, 0) if e.kind == "message"] == ["Hi"]


def test_an_id_whose_earlier_release_marker_lost_its_message_still_takes_a_new_message(world: World) -> None:
    # Given a marker an earlier release left under "1" whose message is gone (the table's TTL
    # deletes items one by one: the message went first)
    _agent, visitor, chat = world.accepted_chat(ALICE, name="Alice Martin")
    boto3.client("dynamodb", region_name=REGION).put_item(TableName=TABLE, Item={
        "pk": {"S": conv_pk(chat)}, "sk": {"S": "CMID#1"}, "seq": {"N": "99"}})

    # When the visitor sends "1"
    said = visitor.ask("sendMessage", conversationId=chat, text="Hi", clientMessageId="1")

    # Then it is stored as a new message, and a retry of it is recognised
    assert (said["type"], said["text"], said["seq"]) == ("message", "Hi", stored.get(chat).last_seq)
    again = visitor.ask("sendMessage", conversationId=chat, text="Hi", clientMessageId="1")
    assert again["seq"] == said["seq"]
    assert [e.text for e in stored.events_after(chat, 0) if e.kind == "message"] == ["Hi"]
