"""The performance dashboard in the browser (issue 16): an agent marked `admin: true` (the
LiveChatAdmin group) gets a Performance tab — a UTC date range, the totals, a chart of chats
per day and one of missed chats by reason, tables per day, agent and team, and a CSV
download; keyboard only. An agent who is not admin sees no such tab."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import boto3
import pytest
import requests
from websockets.sync.client import connect

from tests.browser.conftest import Stack, running_stack, screenshot, sign_in_to_inbox

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")
expect = sync_api.expect

pytestmark = pytest.mark.browser

ADA, ALICE, BOB = "ada@example.com", "alice@example.com", "bob@example.com"
PASSWORDS = {ADA: "Ada-browser-1", ALICE: "Alice-browser-1", BOB: "Bob-browser-1"}


def workspace_yaml() -> str:
    return f"""settings:
  accept_timeout_seconds: 30
  team_retry_agents: 0
  inactivity_timeout_seconds: 600
  fallback_message: "Our team is busy right now - we'll e-mail you shortly."

agents:
  - email: {ADA}
    name: Ada Admin
    password: "{PASSWORDS[ADA]}"
    admin: true
  - email: {ALICE}
    name: Alice Adams
    password: "{PASSWORDS[ALICE]}"
    teams: [emea]
  - email: {BOB}
    name: Bob Brown
    password: "{PASSWORDS[BOB]}"
    teams: [amer]

teams:
  - name: emea
  - name: amer

dialogs:
  - id: emea
    cards:
      - id: live
        kind: live_chat
        routing: {{mode: team, team: emea}}
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("livechat-dashboard"), workspace_yaml()) as running:
        yield running


class Socket:
    def __init__(self, url: str) -> None:
        self.ws = connect(url, proxy=None)
        self.n = 0

    def ask(self, action: str, **fields: Any) -> dict[str, Any]:
        self.n += 1
        rid = f"{action}-{self.n}"
        self.ws.send(json.dumps({"action": action, "requestId": rid, **fields}))
        return self.until(lambda f: f.get("requestId") == rid)

    def until(self, match: Any) -> dict[str, Any]:
        while True:
            frame: dict[str, Any] = json.loads(self.ws.recv(timeout=10))
            if match(frame):
                return frame


def agent_socket(stack: Stack, email: str) -> Socket:
    endpoints = stack.endpoints
    idp = boto3.client("cognito-idp", region_name=endpoints["region"], endpoint_url=endpoints["aws_endpoint"],
                       aws_access_key_id="browser", aws_secret_access_key="browser")
    token = idp.initiate_auth(ClientId=endpoints["cognito"]["client_id"], AuthFlow="USER_PASSWORD_AUTH",
                              AuthParameters={"USERNAME": email, "PASSWORD": PASSWORDS[email]})
    return Socket(f"{endpoints['websocket']}?token={token['AuthenticationResult']['IdToken']}")


def visitor_socket(stack: Stack) -> Socket:
    with requests.Session() as http:
        http.trust_env = False  # never through a proxy: the stack is on 127.0.0.1
        token = http.post(stack.http + "visitor/session", json={}, timeout=10).json()["visitorToken"]
    return Socket(f"{stack.endpoints['websocket']}?visitorToken={token}")


def some_chats(stack: Stack) -> None:
    """Two chats Alice takes and answers, one she declines (not_accepted), one while she is
    away (no_agent): the figures the dashboard then shows."""
    ada = agent_socket(stack, ADA)
    assert ada.ask("setStatus", status="away")["type"] == "ack"  # the admin takes no chats
    bob = agent_socket(stack, BOB)
    assert bob.ask("setStatus", status="away")["type"] == "ack"
    alice = agent_socket(stack, ALICE)
    assert alice.ask("setStatus", status="available")["type"] == "ack"
    for n, outcome in enumerate(["accept", "accept", "decline"]):
        visitor = visitor_socket(stack)
        conversation_id = visitor.ask("startConversation", dialogId="emea")["conversationId"]
        assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
        offer = alice.until(lambda f, c=conversation_id: f.get("type") == "chatOffered" and f["conversationId"] == c)
        if outcome == "decline":
            alice.ask("decline", conversationId=conversation_id, offerId=offer["offerId"])
            continue
        assert alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])["type"] == "chatAccepted"
        alice.ask("sendMessage", conversationId=conversation_id, text="Hello!", clientMessageId=f"m{n}")
        assert visitor.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"
    assert alice.ask("setStatus", status="away")["type"] == "ack"
    visitor = visitor_socket(stack)
    conversation_id = visitor.ask("startConversation", dialogId="emea")["conversationId"]
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "fallback"
    for socket in (ada, bob, alice):
        socket.ws.close()


def sign_in(page: Any, stack: Stack, email: str) -> None:
    sign_in_to_inbox(page, stack, email, PASSWORDS[email])


def test_an_admin_sees_the_performance_tab_with_charts_tables_and_a_csv(
        stack: Stack, new_page: Any, tmp_path: Path) -> None:
    some_chats(stack)
    page = new_page(width=1280, height=1100)
    sign_in(page, stack, ADA)

    # Keyboard only: the tab is a button in the tab list
    tab = page.get_by_role("tab", name="Performance")
    expect(tab).to_be_visible()
    tab.focus()
    page.keyboard.press("Enter")
    expect(tab).to_have_attribute("aria-selected", "true")
    expect(page.locator("#perf-status")).to_contain_text("Showing")

    cards = page.locator("#perf-cards")
    expect(cards).to_contain_text("Chats requested4")
    expect(cards).to_contain_text("Connected2")
    expect(cards).to_contain_text("Missed2")
    reasons = "Missed chats by reason: Not accepted 1, No agent 1, No rule matched 0, Quota reached 0"
    expect(page.get_by_role("img", name=reasons)).to_be_visible()
    expect(page.locator("svg.chart rect.bar-connected")).to_have_count(1)  # one day with chats
    agents = page.get_by_role("region", name="Per agent")
    expect(agents).to_contain_text("Alice Adams (alice@example.com)")
    alice_row = agents.locator("tbody tr", has_text="Alice Adams")
    expect(alice_row.locator("td").nth(0)).to_have_text("3")  # offered
    expect(alice_row.locator("td").nth(1)).to_have_text("2")  # accepted
    expect(alice_row.locator("td").nth(3)).to_have_text("1")  # declined
    teams = page.get_by_role("region", name="Per team (the team a chat's routing names)")
    expect(teams.locator("tbody tr", has_text="emea").locator("td").nth(0)).to_have_text("4")
    screenshot(page, "dashboard-admin")

    # The CSV: a header, the totals, each day, agent and team
    with page.expect_download() as download_info:
        page.get_by_role("button", name="Download CSV").click()
    download = download_info.value
    assert download.suggested_filename.startswith("livechat-performance-")
    saved = tmp_path / "stats.csv"
    download.save_as(saved)
    lines = saved.read_text(encoding="utf-8").splitlines()
    assert lines[0].startswith("scope,key,name,requested,connected,missed,missed_not_accepted")
    assert lines[1].startswith("total,") and ",4,2,2,1,1," in lines[1]
    assert any(line.startswith("agent,alice@example.com,Alice Adams,") for line in lines)
    assert any(line.startswith("team,emea,") for line in lines)

    # Another range: the form, by keyboard
    page.locator("#perf-from").fill("2020-01-01")
    page.locator("#perf-to").fill("2020-01-03")
    page.locator("#perf-to").press("Enter")
    expect(page.locator("#perf-status")).to_have_text("Showing 2020-01-01 to 2020-01-03 (UTC).")
    expect(cards).to_contain_text("Chats requested0")
    page.locator("#perf-to").fill("2020-12-31")
    page.locator("#perf-to").press("Enter")
    expect(page.locator("#perf-status")).to_contain_text("at most 92 days")


def test_an_agent_who_is_not_admin_has_no_performance_tab(stack: Stack, new_page: Any) -> None:
    page = new_page()
    sign_in(page, stack, BOB)
    expect(page.get_by_role("tab", name="Conversations")).to_be_visible()
    expect(page.locator("#tab-performance")).to_be_hidden()
