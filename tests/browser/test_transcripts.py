"""Transcripts in the browser (issue 16): the inbox labels the agent's own messages with their
name and downloads a chat's transcript (plain text and JSON), and the widget offers the
visitor "E-mail me the transcript" at the end of the chat, mailed to the captured address."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.sync.client import connect

from tests.browser.conftest import Stack, screenshot
from tests.browser.test_widget_and_inbox import (
    accept_offer,
    send_from_agent,
    send_from_visitor,
    sign_in,
    visitor_requests_chat,
)

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")
expect = sync_api.expect

pytestmark = pytest.mark.browser

ALICE = "alice@example.com"  # the agent this module's dialogs route to ("Alice Adams")
BOB = "bob@example.com"  # the agent of the error scenario, so its chats never meet Alice's


def ask(ws: Any, action: str, **fields: Any) -> dict[str, Any]:
    ws.send(json.dumps({"action": action, "requestId": action, **fields}))
    while True:
        frame: dict[str, Any] = json.loads(ws.recv(timeout=10))
        if frame.get("requestId") == action:
            return frame


def use_up_the_daily_transcripts(stack: Stack, dialog: str, address: str) -> None:
    """As a visitor could: three dialog-only conversations capturing `address`, each ended
    and its transcript asked for (the daily limit per address, docs/protocol.md)."""
    with requests.Session() as http:
        http.trust_env = False
        token = http.post(stack.http + "visitor/session", json={}, timeout=10).json()["visitorToken"]
    with connect(f"{stack.endpoints['websocket']}?visitorToken={token}", proxy=None) as ws:
        for _ in range(3):
            conversation_id = ask(ws, "startConversation", dialogId=dialog)["conversationId"]
            ask(ws, "answer", conversationId=conversation_id, cardId="ask", value="Yes")
            ask(ws, "capture", conversationId=conversation_id, cardId="who",
                fields={"firstName": "Xia", "email": address})
            ask(ws, "endChat", conversationId=conversation_id)
            assert ask(ws, "emailTranscript", conversationId=conversation_id)["type"] == "ack"


def mails_to(stack: Stack, address: str) -> list[dict[str, Any]]:
    with requests.Session() as http:
        http.trust_env = False  # never through a proxy: the stack is on 127.0.0.1
        mails = http.get(stack.http + "dev/mailbox.json", timeout=10).json()
    return [m for m in mails if address in m.get("destinations", {}).get("ToAddresses", [])]


def downloaded(page: Any, button: Any) -> str:
    with page.expect_download() as info:
        button.click()
    return Path(info.value.path()).read_text(encoding="utf-8")


def test_the_agent_sees_their_name_downloads_the_transcript_and_the_visitor_gets_it_by_email(
        stack: Stack, new_page: Any) -> None:
    agent, visitor = new_page(), new_page()
    sign_in(agent, stack, ALICE)
    visitor_requests_chat(visitor, stack, "alice", "Zoe", "zoe@shop.example")
    accept_offer(agent, "Zoe")
    send_from_visitor(visitor, "Hi, I need a quote")
    send_from_agent(agent, "Sure, for how many seats?")

    # The agent's own message carries their name, not their e-mail
    mine = agent.locator("#chat-log [data-from=agent]")
    expect(mine).to_contain_text("Alice Adams")
    expect(mine).not_to_contain_text(ALICE)

    # "Download transcript": the dialog's answer and captures, the messages with names and times
    text = downloaded(agent, agent.locator("#chat-download-txt"))
    assert "Zoe answered “Would you like to talk to someone from sales?”: Yes" in text, text
    assert "First name: Zoe, E-mail: zoe@shop.example" in text, text
    assert "Zoe: Hi, I need a quote" in text, text
    assert "Alice Adams: Sure, for how many seats?" in text, text
    assert " UTC] " in text
    screenshot(agent, "transcript-download-agent")

    # At the end of the chat the visitor may have it by e-mail, at the address they gave
    agent.get_by_role("button", name="End chat").click()
    expect(visitor.locator("[data-role=ended]")).to_have_text("The agent ended the chat.")
    offer = visitor.get_by_role("button", name="E-mail me the transcript")
    expect(offer).to_be_visible()
    offer.click()
    expect(visitor.locator("[data-role=email-transcript]")).to_contain_text(
        "The transcript is on its way to zoe@shop.example.")
    expect(offer).to_have_count(0)
    screenshot(visitor, "transcript-emailed-visitor")
    deadline = time.monotonic() + 10
    while not mails_to(stack, "zoe@shop.example") and time.monotonic() < deadline:
        time.sleep(0.2)
    (mail,) = mails_to(stack, "zoe@shop.example")
    assert "Alice Adams: Sure, for how many seats?" in mail["body"]


def test_the_conversations_tab_downloads_any_transcript_as_json(stack: Stack, new_page: Any) -> None:
    agent, visitor = new_page(), new_page()
    sign_in(agent, stack, ALICE)
    visitor_requests_chat(visitor, stack, "alice", "Yann", "yann@shop.example")
    accept_offer(agent, "Yann")
    send_from_agent(agent, "Hello Yann")
    agent.get_by_role("button", name="End chat").click()

    agent.get_by_role("tab", name="Conversations").click()
    agent.locator("#conversation-list button", has_text="Yann").first.click()
    expect(agent.locator("#transcript-log")).to_contain_text("Hello Yann")
    expect(agent.locator("#transcript-log [data-from=agent]")).to_contain_text("Alice Adams")

    data = json.loads(downloaded(agent, agent.get_by_role("button", name="Download transcript as JSON")))
    assert data["visitor"]["email"] == "yann@shop.example"
    assert data["agent"]["name"] == "Alice Adams"
    assert [e["kind"] for e in data["events"]][:2] == ["answer", "capture"]
    assert any(e.get("text") == "Hello Yann" and e["from"] == "agent" for e in data["events"])
    text = downloaded(agent, agent.locator("#transcript-download-txt"))
    assert "Alice Adams: Hello Yann" in text
    screenshot(agent, "transcript-conversations-agent")


def test_the_widget_says_plainly_why_a_transcript_was_not_sent(stack: Stack, new_page: Any) -> None:
    # Given an address that had its transcripts for today already
    address = "xia@shop.example"
    use_up_the_daily_transcripts(stack, "bob", address)
    agent, visitor = new_page(), new_page()
    sign_in(agent, stack, BOB)
    visitor_requests_chat(visitor, stack, "bob", "Xia", address)
    accept_offer(agent, "Xia")
    agent.get_by_role("button", name="End chat").click()

    # When the visitor asks for this chat's transcript
    offer = visitor.get_by_role("button", name="E-mail me the transcript")
    offer.click()

    # Then the widget says why, and the button stays for another try
    expect(visitor.locator("[data-role=email-transcript] [role=status]")).to_have_text(
        "The transcript could not be sent: too many transcript e-mails to this address: at most 3 per UTC day")
    expect(offer).to_be_enabled()
    screenshot(visitor, "transcript-refused-visitor")
