"""Upgrading from the release before messages were stored under their clientMessageId.

`tests/fixtures/release-4e42844.json` is what release 4e42844 (conversation clocks; a
message as an event at EVT#<seq> plus a marker under its id) stored, written by that
release's own code (`tests/fixtures/make_release_fixture.py`, run in its checkout): a live
chat with a clock and one message each way, and an offer still open. This code runs on the
items as they are: nothing to migrate (docs/deploy.md).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import boto3
import pytest
from livechat.api.auth import issue_visitor_token
from livechat.domain.clock import parse_iso
from livechat.store import conversations

from tests.support.aws import REGION, TABLE
from tests.support.clock import FakeClock, controlled_clock
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[1] / "fixtures" / "release-4e42844.json"


@pytest.fixture
def dump(world: World) -> dict[str, Any]:
    """The release's items, put into this deployment's table as they were."""
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    table = boto3.client("dynamodb", region_name=REGION)
    for item in data["items"]:
        table.put_item(TableName=TABLE, Item=item)
    return data


def _item(dump: dict[str, Any], conversation_id: str, sk: str) -> dict[str, Any]:
    return next(i for i in dump["items"] if i["pk"]["S"] == f"CONV#{conversation_id}" and i["sk"]["S"] == sk)


@pytest.fixture
def clock(dump: dict[str, Any]) -> Iterator[FakeClock]:
    """Time as it was a few seconds after that release made the open offer."""
    offered = max(parse_iso(o["M"]["at"]["S"]) for o in _item(dump, dump["offered"], "META")["offers"]["L"])
    with controlled_clock(offered + timedelta(seconds=5)) as fake:
        yield fake


def _visitor(world: World, visitor_id: str) -> Client:
    """The visitor back, with a token of this deployment for the same id."""
    _, token = issue_visitor_token(visitor_id)
    return world.visitor_client(token)


def test_a_live_chat_with_a_clock_goes_on_and_its_old_messages_stay_in_order(
        world: World, dump: dict[str, Any], clock: FakeClock) -> None:
    # Given the release's live chat: its clock at seq 6, its two messages at EVT#5 and EVT#6
    # with their markers under "v1" and "a1"
    chat = dump["active"]
    assert _item(dump, chat, "META#CLOCK")["last_seq"] == {"N": "6"}
    assert set(_item(dump, chat, "CMID#v1")) == {"pk", "sk", "seq", "expiration"}
    agent = world.agent_client(dump["active_agent"])
    visitor = _visitor(world, dump["active_visitor"])

    # When each side writes on, the agent with an id the visitor's old message has
    said = visitor.ask("sendMessage", conversationId=chat, text="Is there a discount?", clientMessageId="v2")
    answered = agent.ask("sendMessage", conversationId=chat, text="For a year, yes", clientMessageId="v1")

    # Then both are stored after the old ones, each side's own
    assert (said["seq"], answered["seq"], answered["from"]) == (7, 8, "agent")
    assert [f["text"] for f in agent.of_type("message")] == ["Is there a discount?"]
    assert [f["text"] for f in visitor.of_type("message")] == ["For a year, yes"]
    # And a retry of an old message is answered with it, and stores nothing
    again = agent.ask("sendMessage", conversationId=chat, text="Sure, ask away", clientMessageId="a1")
    assert (again["seq"], again["text"], again["from"]) == (6, "Sure, ask away", "agent")
    again = visitor.ask("sendMessage", conversationId=chat, text="Hi, a question about pricing",
                        clientMessageId="v1")
    assert (again["seq"], again["from"]) == (5, "visitor")
    assert conversations.get(chat).last_seq == 8
    # And a reconnecting visitor resumes with the old and the new messages, in order
    resumed = _visitor(world, dump["active_visitor"])
    done = resumed.ask("resume", conversationId=chat, afterSeq=4)
    assert [(f["seq"], f["text"]) for f in resumed.of_type("message")] == [
        (5, "Hi, a question about pricing"), (6, "Sure, ask away"), (7, "Is there a discount?"),
        (8, "For a year, yes")]
    assert done == {"type": "ack", "action": "resume", "seq": 8, "requestId": done["requestId"]}
    # And the end is numbered on, and leaves the item exact
    assert visitor.ask("endChat", conversationId=chat)["type"] == "chatEnded"
    events = conversations.events_after(chat, 0)
    assert [e.seq for e in events] == list(range(1, 10)) and events[-1].type == "chatEnded"
    item = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=TABLE, Key={"pk": {"S": f"CONV#{chat}"}, "sk": {"S": "META"}}, ConsistentRead=True)["Item"]
    assert item["last_seq"] == {"N": "9"}


def test_the_open_offer_is_accepted_with_the_transcript_so_far(
        world: World, dump: dict[str, Any], clock: FakeClock) -> None:
    # Given the release's open offer
    chat = dump["offered"]
    holder = world.agent_client(dump["offered_to"])
    visitor = _visitor(world, dump["offered_visitor"])

    # When it is accepted, and the visitor writes
    accepted = holder.ask("accept", conversationId=chat, offerId=dump["offer_id"])
    said = visitor.ask("sendMessage", conversationId=chat, text="Hello", clientMessageId="v1")

    # Then the agent has the transcript and the message, numbered on
    assert accepted["type"] == "chatAccepted"
    assert [e["seq"] for e in accepted["transcript"]] == list(range(1, len(accepted["transcript"]) + 1))
    assert said["seq"] == len(accepted["transcript"]) + 1
    assert [f["text"] for f in holder.of_type("message")] == ["Hello"]
