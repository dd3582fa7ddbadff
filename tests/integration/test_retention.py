"""Retention (issue 14, "Personal data"): every item that belongs to a conversation or a
visitor carries the table's TTL attribute `expiration` = its write time + the workspace's
`retention_days` (epoch seconds); the conversation's own item is refreshed with every write
and never expires before its last event; a setting change applies to the writes after it.
Connection items expire a day after they opened; rate-limit counters a window after theirs."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

import pytest
from boto3.dynamodb.types import TypeDeserializer
from livechat.domain.clock import parse_iso
from livechat.store import conversations
from livechat.store.keys import META_SK, conv_pk, visitor_pk
from livechat.store.tables import ConversationModel

from tests.support.clock import FakeClock, controlled_clock
from tests.support.snapshot import table_snapshot
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"
START = datetime(2026, 12, 5, 10, 10, 20, tzinfo=UTC)
DAY = 86_400


@pytest.fixture
def clock(aws: Any) -> Iterator[FakeClock]:
    with controlled_clock(START) as fake:
        yield fake


def items() -> dict[tuple[str, str], dict[str, Any]]:
    """Every item of the table as plain values, by (pk, sk)."""
    plain = TypeDeserializer()
    found = {}
    for raw in table_snapshot():
        item = {k: plain.deserialize(v) for k, v in raw.items()}
        found[(item["pk"], item["sk"])] = item
    return found


def partition(conversation_id: str) -> dict[str, dict[str, Any]]:
    return {sk: item for (pk, sk), item in items().items() if pk == conv_pk(conversation_id)}


def epoch(at: str | datetime) -> int:
    return int((parse_iso(at) if isinstance(at, str) else at).timestamp())


def walk(world: World, visitor: Client, clock: FakeClock) -> str:
    """startConversation, answer and capture, each 10 s after the one before."""
    started = visitor.ask("startConversation", dialogId="sales", page={"url": "https://example.com/pricing"})
    conversation_id = str(started["conversationId"])
    clock.advance(10)
    assert visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="Yes")["type"] == "ack"
    clock.advance(10)
    captured = visitor.ask("capture", conversationId=conversation_id, cardId="who",
                           fields={"firstName": "Vera", "email": "vera@acme.io"})
    assert captured["type"] == "ack", captured
    return conversation_id


def say(client: Client, conversation_id: str, text: str) -> dict[str, Any]:
    sent = client.ask("sendMessage", conversationId=conversation_id, text=text, clientMessageId=uuid.uuid4().hex)
    assert sent["type"] == "message", sent
    return sent


def test_every_item_of_a_live_chat_expires_retention_days_after_its_write(world: World, clock: FakeClock) -> None:
    # Given a workspace that keeps personal data 30 days, and a visitor who walks the dialog,
    # chats with Alice and ends the chat, a little later each time
    world.settings(retention_days=30)
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor = world.visitor_client()
    conversation_id = walk(world, visitor, clock)
    clock.advance(5)
    visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    (offer,) = alice.of_type("chatOffered")
    clock.advance(5)
    alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    clock.advance(60)
    say(visitor, conversation_id, "Hello")
    clock.advance(60)
    say(alice, conversation_id, "Hi Vera")
    clock.advance(60)
    assert visitor.ask("endChat", conversationId=conversation_id)["type"] in ("ack", "chatEnded")

    stored = items()
    # Then every event expires 30 days after it was written
    # (the messages are under their clientMessageIds)
    events = {sk: item for sk, item in partition(conversation_id).items() if sk.startswith(("EVT#", "CMID#"))}
    assert len(events) >= 7  # answer, capture, routing, joined, two messages, ended
    assert len([sk for sk in events if sk.startswith("CMID#")]) == 2
    for event in events.values():
        assert event["expiration"] == epoch(event["at"]) + 30 * DAY, event
    # and the conversation's item 30 days after its last write (the end), remembering the days
    conversation = stored[(conv_pk(conversation_id), META_SK)]
    assert conversation["expiration"] == epoch(clock.now()) + 30 * DAY
    assert conversation["expiration"] >= max(e["expiration"] for e in events.values())
    assert conversation["retention_days"] == 30
    # and the visitor's item 30 days after the visitor connected; a connection's item a day
    visitor_item = stored[(visitor_pk(visitor.principal), "VISITOR")]
    assert visitor_item["expiration"] == epoch(START) + 30 * DAY
    assert stored[(f"CONN#{visitor.connection_id}", "CONN")]["expiration"] == epoch(START) + DAY
    assert stored[(f"CONN#{alice.connection_id}", "CONN")]["expiration"] == epoch(START) + DAY


def test_without_a_setting_items_are_kept_365_days(world: World, clock: FakeClock) -> None:
    world.live_dialog("sales", {"mode": "round_robin"})
    visitor = world.visitor_client()
    conversation_id = walk(world, visitor, clock)

    found = partition(conversation_id)
    assert found[META_SK]["expiration"] == epoch(clock.now()) + 365 * DAY
    assert found[META_SK]["retention_days"] == 365
    assert {sk: e["expiration"] for sk, e in found.items() if sk.startswith("EVT#")} == {
        "EVT#0000000001": epoch(START) + 10 + 365 * DAY,
        "EVT#0000000002": epoch(START) + 20 + 365 * DAY,
    }
    assert items()[(visitor_pk(visitor.principal), "VISITOR")]["expiration"] == epoch(START) + 365 * DAY


def test_a_setting_change_applies_to_the_writes_after_it(world: World, clock: FakeClock) -> None:
    # Given a conversation written under 30 days
    world.settings(retention_days=30)
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    visitor = world.visitor_client()
    conversation_id = walk(world, visitor, clock)
    visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    (offer,) = alice.of_type("chatOffered")
    alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    before = partition(conversation_id)
    longest = before[META_SK]["expiration"]

    # When the admin shortens it to 7 days, and a message is sent a minute later
    world.settings(retention_days=7)
    clock.advance(60)
    message = say(visitor, conversation_id, "Still there?")

    # Then the new message (under its clientMessageId) expires 7 days after it; the events
    # written before keep their 30 days
    after = partition(conversation_id)
    (new,) = [item for sk, item in after.items() if sk.startswith("CMID#")]
    assert new["seq"] == message["seq"]
    assert new["expiration"] == epoch(clock.now()) + 7 * DAY
    assert {sk: after[sk]["expiration"] for sk in before if sk.startswith("EVT#")} == {
        sk: item["expiration"] for sk, item in before.items() if sk.startswith("EVT#")}
    # and the conversation remembers 7 days (on its clock: a message to a live chat leaves
    # its item alone), and its item does not expire before the events written under 30
    assert conversations.get(conversation_id).retention_days == 7
    assert after[META_SK]["expiration"] == longest
    # A write that does not read the settings (endChat) uses the days the item remembers
    clock.advance(60)
    visitor.ask("endChat", conversationId=conversation_id)
    ended = partition(conversation_id)
    last = ended[f"EVT#{message['seq'] + 1:010d}"]
    assert last["expiration"] == epoch(clock.now()) + 7 * DAY

    # A conversation started now is written with 7 days, and so is the visitor's item at its
    # next connect
    clock.advance(60)
    again = world.visitor_client()
    started = again.ask("startConversation", dialogId="sales", page={"url": "https://example.com/"})
    fresh = partition(str(started["conversationId"]))[META_SK]
    assert fresh["expiration"] == epoch(clock.now()) + 7 * DAY and fresh["retention_days"] == 7
    assert items()[(visitor_pk(again.principal), "VISITOR")]["expiration"] == epoch(clock.now()) + 7 * DAY


def test_a_conversation_written_before_retention_existed_gets_the_default(world: World, clock: FakeClock) -> None:
    # Given a conversation item with no expiration and no remembered days (an older release)
    world.settings(retention_days=30)
    world.live_dialog("sales", {"mode": "round_robin"})
    visitor = world.visitor_client()
    started = visitor.ask("startConversation", dialogId="sales", page={"url": "https://example.com/"})
    conversation_id = str(started["conversationId"])
    ConversationModel(conv_pk(conversation_id), META_SK).update(actions=[
        ConversationModel.expiration.remove(), ConversationModel.retention_days.remove()])

    # When the visitor answers (a write that does not read the settings)
    clock.advance(10)
    visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="Yes")

    # Then it is kept the default 365 days from that write
    found = partition(conversation_id)
    assert found["EVT#0000000001"]["expiration"] == epoch(clock.now()) + 365 * DAY
    assert found[META_SK]["expiration"] == epoch(clock.now()) + 365 * DAY


def test_rate_limit_counters_carry_the_ttl_a_window_after_theirs(world: World, clock: FakeClock) -> None:
    world.settings(rate_limits={"conversations_per_visitor_per_hour": 5})
    world.live_dialog("sales", {"mode": "round_robin"})
    visitor = world.visitor_client()
    visitor.ask("startConversation", dialogId="sales", page={"url": "https://example.com/"})

    counters = {sk: item for (pk, sk), item in items().items() if pk == f"RATE#conv:{visitor.principal}"}
    hour = epoch(START) - epoch(START) % 3600
    assert counters == {f"h{hour}": {"pk": f"RATE#conv:{visitor.principal}", "sk": f"h{hour}", "value": 1,
                                     "expiration": hour + 2 * 3600}}


def test_retention_days_is_at_least_one() -> None:
    from livechat.domain.workspace import WorkspaceSettings
    from pydantic import ValidationError

    with pytest.raises(ValidationError):
        WorkspaceSettings(retention_days=0)
    assert WorkspaceSettings().retention_days == 365
