"""Upgrading a deployment: items written by the previous release, run by this code.

`tests/fixtures/release-fb20bde.json` is what release fb20bde stored for a live chat (one
message each way), two pending offers and a round-robin cursor that had given 3 tickets —
written by that release's own code (a checkout of fb20bde, its test world, a Scan of the
table), not by hand. This code reads them as they are, and `livechat apply`'s upgrade
(livechat_admin.migrate) moves what changed place, once.
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
from livechat.store import conversations, cursors, mirror
from livechat.store.keys import visitor_pk
from livechat.store.tables import VisitorModel, plain

from livechat_admin import migrate
from livechat_admin.migrate import Upgrade
from tests.support.aws import TABLE
from tests.support.clock import FakeClock, controlled_clock
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

FIXTURE = Path(__file__).parents[1] / "fixtures" / "release-fb20bde.json"
ALICE, BOB = "alice@example.com", "bob@example.com"


def _meta(dump: dict[str, Any], conversation_id: str) -> dict[str, Any]:
    return next(i for i in dump["items"] if i["pk"]["S"] == f"CONV#{conversation_id}" and i["sk"]["S"] == "META")


def _meta_now(conversation_id: str) -> dict[str, Any]:
    found = boto3.client("dynamodb", region_name="us-east-1").get_item(
        TableName=TABLE, Key={"pk": {"S": f"CONV#{conversation_id}"}, "sk": {"S": "META"}}, ConsistentRead=True)
    return dict(found["Item"])


@pytest.fixture
def dump(world: World) -> dict[str, Any]:
    """The previous release's items, put into this deployment's table as they were."""
    data: dict[str, Any] = json.loads(FIXTURE.read_text(encoding="utf-8"))
    table = boto3.client("dynamodb", region_name="us-east-1")
    for item in data["items"]:
        table.put_item(TableName=TABLE, Item=item)
    return data


@pytest.fixture
def clock(dump: dict[str, Any]) -> Iterator[FakeClock]:
    """Time as it was a few seconds after the previous release made its offers."""
    offered = max(parse_iso(o["M"]["at"]["S"]) for c in dump["offered"]
                  for o in _meta(dump, c)["offers"]["L"])
    with controlled_clock(offered + timedelta(seconds=5)) as fake:
        yield fake


def _visitor(world: World, dump: dict[str, Any], conversation_id: str) -> Client:
    """The conversation's visitor, back with a token of this deployment for the same id."""
    _, token = issue_visitor_token(_meta(dump, conversation_id)["visitor_id"]["S"])
    return world.visitor_client(token)


def test_a_chat_live_before_the_upgrade_goes_on_both_ways(world: World, dump: dict[str, Any],
                                                          clock: FakeClock) -> None:
    # Given the live chat of the previous release (its id names no visitor, nothing mirrored),
    # its agent and visitor connected again
    chat = dump["active"]
    assert "." not in chat and "agent_mirrored" not in _meta(dump, chat)
    agent = world.agent_client(dump["active_agent"])
    visitor = _visitor(world, dump, chat)

    # When the visitor writes and the agent answers
    sent = visitor.ask("sendMessage", conversationId=chat, text="Still there?", clientMessageId="v-up")
    answer = agent.ask("sendMessage", conversationId=chat, text="Yes!", clientMessageId="a-up")

    # Then each side gets the other's message, numbered on from the stored events
    assert (sent["type"], sent["seq"], answer["seq"]) == ("message", 6, 7)
    assert [m["text"] for m in agent.of_type("message")] == ["Still there?"]
    assert [m["text"] for m in visitor.of_type("message")] == ["Yes!"]
    # And a retried message of before the upgrade is still recognised (its id marker)
    again = agent.ask("sendMessage", conversationId=chat, text="Hello", clientMessageId="a1")
    assert again["seq"] == 5
    # And the chat had no clock (it was accepted before): the first message made it, and the
    # second moved it only (the item the indexes copy keeps the first message's seq)
    clock_item = conversations.clock_of(chat)
    assert clock_item is not None and int(clock_item.last_seq) == 7
    assert _meta_now(chat)["last_seq"]["N"] == "6"
    # And ending it frees the agent's slot, and the item is exact again
    assert visitor.ask("endChat", conversationId=chat)["type"] == "chatEnded"
    assert agent.of_type("chatEnded")
    assert chat not in (plain(world.agent_item(dump["active_agent"]).slots) or {})
    assert _meta_now(chat)["last_seq"]["N"] == "8"
    # And its events read back once each, in order: the earlier release's messages (at their
    # seq, their markers left out) with this release's (under their clientMessageIds)
    events = conversations.events_after(chat, 0)
    assert [e.seq for e in events] == list(range(1, 9))
    assert [e.text for e in events if e.seq in (5, 6, 7)] == ["Hello", "Still there?", "Yes!"]
    assert [e.seq for e in conversations.events_after(chat, 5)] == [6, 7, 8]


def test_an_offer_made_before_the_upgrade_is_accepted_with_the_agents_name(
        world: World, dump: dict[str, Any], clock: FakeClock) -> None:
    # Given an offer of the previous release (its record names no agent name)
    chat = next(c for c in dump["offered"] if dump["offered_to"][c] == BOB)
    bob = world.agent_client(BOB)
    visitor = _visitor(world, dump, chat)

    # When Bob accepts it
    accepted = bob.ask("accept", conversationId=chat, offerId=dump["offers"][chat])

    # Then he gets the transcript so far and the visitor his name
    assert accepted["type"] == "chatAccepted"
    assert [e["seq"] for e in accepted["transcript"]] == [1, 2, 3, 4]
    assert visitor.of_type("agentJoined")[0]["agent"]["name"] == "Bob Stone"
    # And the chat runs as one of this release's
    visitor.ask("sendMessage", conversationId=chat, text="Hi Bob", clientMessageId="v1")
    assert [m["text"] for m in bob.of_type("message")] == ["Hi Bob"]


def test_apply_upgrades_the_stored_items_once_and_the_rotation_goes_on(
        world: World, dump: dict[str, Any], clock: FakeClock) -> None:
    # Given the previous release's items, and the agents connected to this one
    alice, bob = world.agent_client(ALICE), world.agent_client(BOB)
    old_ticket = int(next(i for i in dump["items"] if i["sk"]["S"] == "RR#all")["value"]["N"])
    assert cursors.last_ticket("all") == 0  # not where this release keeps it

    # When one conversation is upgraded by a run cut short, then the upgrade runs in full, twice
    cut_short = dump["offered"][0]
    assert mirror.backfill(cut_short, dump["offered_to"][cut_short],
                           frozenset(world.agent_item(dump["offered_to"][cut_short]).connections or ()))
    first, second = migrate.run(), migrate.run()

    # Then the first moves the cursor, mirrors the other two open conversations and moves the
    # three visitor items to their handle; the second does nothing
    assert first == Upgrade(cursors=1, conversations=2, visitors=3)
    assert second == Upgrade(cursors=0, conversations=0, visitors=0)
    assert cursors.last_ticket("all") == old_ticket == 3
    for chat in (dump["active"], *dump["offered"]):
        holder = world.agent_item(dump["offered_to"][chat])
        assert conversations.get(chat).agent_connections == frozenset(holder.connections or ())
    # And the next request takes ticket 4: the second of the two agents, not the first again
    visitor = world.visitor_client()
    new_chat = world.walk_to_live_card(visitor, "sales")
    assert visitor.ask("requestChat", conversationId=new_chat, cardId="live")["type"] == "routing"
    assert [o["conversationId"] for o in bob.of_type("chatOffered")] == [new_chat]
    assert alice.of_type("chatOffered") == []
    assert cursors.last_ticket("all") == 4


def test_a_visitor_connected_across_the_upgrade_still_gets_the_agents_messages(
        world: World, dump: dict[str, Any], clock: FakeClock) -> None:
    # Given the live chat's visitor still on the connection they opened before the upgrade
    # (their item keyed by their id, where this release does not look)
    chat = dump["active"]
    visitor_id = _meta(dump, chat)["visitor_id"]["S"]
    legacy = next(i for i in dump["items"] if i["pk"]["S"] == f"VISITOR#{visitor_id}")
    (old_connection,) = legacy["connections"]["SS"]
    agent = world.agent_client(dump["active_agent"])

    # When apply's upgrade has run and the agent writes
    migrate.run()
    agent.ask("sendMessage", conversationId=chat, text="After the upgrade", clientMessageId="a-up")

    # Then the message reaches the old connection; the item now sits under the visitor's handle
    assert [f["text"] for f in world.gateway.take(old_connection) if f["type"] == "message"] == ["After the upgrade"]
    assert VisitorModel.get(visitor_pk(visitor_id), "VISITOR").connections == {old_connection}
    with pytest.raises(VisitorModel.DoesNotExist):
        VisitorModel.get(f"VISITOR#{visitor_id}", "VISITOR")
