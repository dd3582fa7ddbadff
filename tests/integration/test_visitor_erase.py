"""`livechat visitor erase EMAIL --stack …` (issue 14, "Personal data"), end to end in moto:
the conversations that captured the e-mail (any case) and the same visitors' conversations
that captured none go with all their items, and so do the visitors' items, connection items
and rate-limit counters; open sockets are closed; everyone else's items stay exactly as
they were. Live chats are refused; `--dry-run` lists and changes nothing."""

from __future__ import annotations

import json
import uuid
from typing import Any
from urllib.parse import unquote

import pytest
from livechat.chat import workflow
from livechat.outbound.delivery import Notifier
from livechat.store import catalog
from livechat.store.keys import visitor_handle

from tests.support.admin import STACK, Deployment, livechat
from tests.support.aws import WS_ENDPOINT
from tests.support.snapshot import table_snapshot
from tests.support.world import Client, World

pytestmark = pytest.mark.integration

ALICE = "alice@example.com"
VERA = "vera@acme.io"
OTTO = "otto@example.org"


def live_chat_that_ended(world: World, visitor: Client, agent: Client, email: str) -> str:
    """Walk the dialog (answer, capture), chat with the agent both ways, end it."""
    conversation_id = world.walk_to_live_card(visitor, "sales", fields={"firstName": "V", "email": email})
    visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
    (offer,) = [f for f in agent.of_type("chatOffered") if f["conversationId"] == conversation_id]
    assert agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])["type"] == "chatAccepted"
    for client, text in ((visitor, "Hello, I am " + email), (agent, "Hi! How can I help?"), (visitor, "Pricing")):
        sent = client.ask("sendMessage", conversationId=conversation_id, text=text, clientMessageId=uuid.uuid4().hex)
        assert sent["type"] == "message", sent
    visitor.ask("endChat", conversationId=conversation_id)
    return conversation_id


def anonymous(visitor: Client) -> str:
    """A conversation that captured nothing: the visitor answered "No"."""
    started = visitor.ask("startConversation", dialogId="sales", page={"url": "https://example.com/blog"})
    conversation_id = str(started["conversationId"])
    visitor.ask("answer", conversationId=conversation_id, cardId="ask", value="No")
    return conversation_id


@pytest.fixture
def stack(world: World, deployment: Deployment, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    # The functions of a deployment run with it (`livechat` sets the same from the stack).
    monkeypatch.setenv("LIVECHAT_WS_MANAGEMENT_ENDPOINT", WS_ENDPOINT)
    # Rate limits on, so that the visitors' counters exist too.
    world.settings(rate_limits={"messages_per_minute": 100, "conversations_per_visitor_per_hour": 100})
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent(ALICE)
    return deployment


def mentions(item: dict[str, Any], *needles: str) -> bool:
    text = json.dumps(item).lower()
    return any(n.lower() in text for n in needles)


def erase(capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, str, str]:
    return livechat(capsys, "visitor", "erase", *args, "--stack", STACK)


def test_erase_removes_everything_of_the_visitor_and_nothing_else(
    world: World, stack: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Vera, who chatted with Alice (answers, captures, messages; the chat ended) and
    # started another conversation without giving her e-mail, still on the site
    alice = world.agent_client(ALICE)
    vera = world.visitor_client()
    chat = live_chat_that_ended(world, vera, alice, VERA)
    other = anonymous(vera)
    # and who left her e-mail from another browser too (that visitor has gone)
    laptop = world.visitor_client()
    elsewhere = world.walk_to_live_card(laptop, "sales", fields={"firstName": "V", "email": VERA})
    laptop.disconnect()
    # and Otto, another visitor with a chat of his own and another conversation
    otto = world.visitor_client()
    otto_chat = live_chat_that_ended(world, otto, alice, OTTO)
    otto_other = anonymous(otto)
    before = table_snapshot()
    vera_ids = (VERA, vera.principal, laptop.principal, visitor_handle(vera.principal),
                visitor_handle(laptop.principal), chat, other, elsewhere, vera.connection_id)
    assert any(mentions(item, VERA) for item in before)
    assert sum(mentions(item, *vera_ids) for item in before) >= 20

    # When the admin erases her, naming the address in another case
    code, out, err = erase(capsys, "Vera@ACME.io")

    # Then nothing in the table mentions her e-mail, her visitor ids or her conversations
    assert code == 0, err
    after = table_snapshot()
    assert [item for item in after if mentions(item, *vera_ids)] == []
    # and every other item is still there, unchanged (Otto's conversations, items, counters)
    assert after == [item for item in before if not mentions(item, *vera_ids)]
    assert any(mentions(item, otto_chat) for item in after) and any(mentions(item, otto_other) for item in after)
    assert any(mentions(item, OTTO) for item in after) and any(mentions(item, otto.principal) for item in after)
    # and her open socket was closed; the command said what it erased
    assert [unquote(c) for c in stack.closed] == [vera.connection_id]  # moto keeps it URL-encoded
    for conversation_id in (chat, other, elsewhere):
        assert f"conversation {conversation_id}" in out
    assert "3 conversation(s)" in out and "1 open connection(s) closed" in out


def test_dry_run_lists_what_would_go_and_changes_nothing(
    world: World, stack: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    alice = world.agent_client(ALICE)
    vera = world.visitor_client()
    chat = live_chat_that_ended(world, vera, alice, VERA)
    other = anonymous(vera)
    before = table_snapshot()

    code, out, err = erase(capsys, VERA, "--dry-run")

    assert code == 0, err
    assert table_snapshot() == before
    assert stack.closed == []
    lines = out.splitlines()
    assert any(line.startswith(f"conversation {chat} (ended,") and f"e-mail {VERA}" in line for line in lines), out
    assert any(line.startswith(f"conversation {other} (automated,") and "no e-mail" in line for line in lines), out
    assert any(line.startswith(f"visitor {vera.principal}: its item, 1 connection item(s) ({vera.connection_id})")
               and "rate-limit counter(s)" in line for line in lines), out
    assert "2 conversation(s)" in out and "would be erased (dry run: nothing changed)" in out


def test_a_live_chat_in_progress_is_refused_and_nothing_is_erased(
    world: World, stack: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given Vera in a live chat with Alice, and an older conversation of hers
    alice = world.agent_client(ALICE)
    vera = world.visitor_client()
    older = anonymous(vera)
    conversation_id = world.walk_to_live_card(vera, "sales", fields={"firstName": "V", "email": VERA})
    vera.ask("requestChat", conversationId=conversation_id, cardId="live")
    (offer,) = alice.of_type("chatOffered")
    alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
    before = table_snapshot()

    # When the admin erases her, Then it is refused, naming the chat, and nothing changed
    code, out, err = erase(capsys, VERA)
    assert code == 1
    assert f"conversation {conversation_id} (active," in out and "LIVE, refused" in out
    assert conversation_id in err and "Nothing was erased" in err
    assert table_snapshot() == before and stack.closed == []

    # Once the chat has ended, the same command erases both conversations
    alice.ask("endChat", conversationId=conversation_id)
    code, out, err = erase(capsys, VERA)
    assert code == 0, err
    assert [i for i in table_snapshot() if mentions(i, VERA, vera.principal, older, conversation_id)] == []


def test_another_address_on_the_same_browser_is_kept_and_named(
    world: World, stack: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given one browser where Vera and then a colleague left their e-mails
    alice = world.agent_client(ALICE)
    shared = world.visitor_client()
    hers = live_chat_that_ended(world, shared, alice, VERA)
    theirs = live_chat_that_ended(world, shared, alice, OTTO)

    code, out, err = erase(capsys, VERA)

    assert code == 0, err
    after = table_snapshot()
    assert not any(mentions(item, VERA, hers) for item in after)
    assert any(mentions(item, theirs) for item in after)
    assert f"kept: conversation {theirs} (ended) of visitor {shared.principal}, which captured another e-mail" in out


def test_an_address_nobody_gave_erases_nothing(world: World, stack: Deployment,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    alice = world.agent_client(ALICE)
    live_chat_that_ended(world, world.visitor_client(), alice, OTTO)
    before = table_snapshot()

    code, out, _ = erase(capsys, VERA)

    assert code == 0
    assert "no conversation captured vera@acme.io: nothing to erase" in out
    assert table_snapshot() == before


def test_a_bad_address_is_refused_before_anything_is_read(capsys: pytest.CaptureFixture[str]) -> None:
    code, _, err = livechat(capsys, "visitor", "erase", "not-an-address", "--stack", "no-such-stack")
    assert code == 2
    assert "'not-an-address' is not an e-mail address" in err


def test_an_offer_workflow_still_waiting_finds_the_erased_conversation_gone(
    world: World, stack: Deployment, capsys: pytest.CaptureFixture[str]
) -> None:
    # Given a chat accepted and ended before its offer's deadline (its workflow still waits)
    alice = world.agent_client(ALICE)
    vera = world.visitor_client()
    chat = live_chat_that_ended(world, vera, alice, VERA)
    assert erase(capsys, VERA)[0] == 0

    # When the workflow's deadline task and rescue run, Then they are done, not failed
    settings = catalog.get_workspace_settings()
    notifier = Notifier(WS_ENDPOINT)
    assert workflow.deadline_task(chat, notifier, settings)["outcome"] == workflow.DONE
    assert workflow.offer_task(chat, notifier, settings)["outcome"] == workflow.DONE
    assert workflow.rescue_task(chat, notifier, settings, {"Error": "x"})["outcome"] == workflow.DONE
    assert not any(mentions(item, chat) for item in table_snapshot())
