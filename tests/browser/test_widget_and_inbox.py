"""The visitor widget (widget.js on demo.html) and the agent inbox (inbox.html), from
layers/common/livechat/web/, in a real browser against `livechat dev` (issue 5)."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from livechat.domain.capture import clean_fields
from livechat.domain.errors import BadRequest

from tests.browser.conftest import ACCEPT_TIMEOUT, AGENTS, Stack, screenshot

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")
expect = sync_api.expect

pytestmark = pytest.mark.browser

XSS = '<img src=x onerror="window.__xss=1">'


def sign_in(page: Any, stack: Stack, email: str) -> None:
    page.goto(stack.http + "inbox.html")
    page.fill("#signin-email", email)
    page.fill("#signin-password", AGENTS[email][1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#notify-banner")).to_contain_text(
        "Please enable browser notifications to receive live chat notifications")
    expect(page.get_by_role("button", name="Enable", exact=True)).to_be_visible()
    expect(page.locator("#conn")).to_have_text("Connected")


def visitor_requests_chat(page: Any, stack: Stack, dialog: str, first_name: str, email: str) -> None:
    page.goto(f"{stack.http}demo.html?dialog={dialog}")
    page.get_by_role("button", name="Chat with us").click()
    expect(page.locator("#livechat-widget .msg.bot").first).to_have_text("Would you like to talk to someone from sales?")
    page.get_by_role("button", name="Yes").click()
    # client-side validation names the field
    page.locator("[data-field=email]").fill("not-an-email")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("[data-error-for=firstName]")).to_have_text("This field is required.")
    expect(page.locator("[data-error-for=email]")).to_contain_text("valid e-mail")
    # the server's own rule (served by /config.json): a one-letter top-level domain is refused
    page.locator("[data-field=email]").fill("a@b.c")
    page.get_by_role("button", name="Continue").click()
    expect(page.locator("[data-error-for=email]")).to_contain_text("valid e-mail")
    # listed but not required: no error for the empty company
    expect(page.locator("[data-error-for=company]")).to_have_text("")
    expect(page.locator("label[for$=-company]")).not_to_contain_text("*")
    page.locator("[data-field=firstName]").fill(first_name)
    page.locator("[data-field=email]").fill(email)
    page.locator("[data-field=email]").press("Enter")
    expect(page.locator("[data-role=connecting]")).to_have_text("Connecting you to someone…")


def accept_offer(agent: Any, visitor_name: str) -> None:
    banner = agent.locator(".offer")
    expect(banner).to_be_visible()
    expect(banner).to_contain_text(visitor_name)
    agent.get_by_role("button", name="Accept").click()
    expect(banner).to_have_count(0)


def send_from_visitor(visitor: Any, text: str) -> None:
    box = visitor.locator("#livechat-widget textarea")
    box.fill(text)
    box.press("Enter")


def send_from_agent(agent: Any, text: str) -> None:
    agent.fill("#composer-text", text)
    agent.press("#composer-text", "Enter")


def typing_frames_sent(page: Any) -> list[dict[str, Any]]:
    """The `typing` frames the page sends on its WebSockets from now on (call it before the
    page connects), appended as they go."""
    frames: list[dict[str, Any]] = []

    def on_frame(payload: str | bytes) -> None:
        frame = json.loads(payload)
        if frame.get("action") == "typing":
            frames.append(frame)

    page.on("websocket", lambda ws: ws.on("framesent", on_frame))
    return frames


def test_visitor_walks_the_dialog_agent_accepts_they_chat_and_the_agent_ends_it(stack: Stack, new_page: Any) -> None:
    agent, visitor = new_page(), new_page()
    visitor_typing = typing_frames_sent(visitor)
    sign_in(agent, stack, "alice@example.com")
    visitor_requests_chat(visitor, stack, "alice", "Zoe", "zoe@shop.example")

    # the blue banner at the top with the visitor's details and a live countdown
    banner = agent.locator(".offer")
    expect(banner).to_contain_text("Zoe")
    expect(banner).to_contain_text("zoe@shop.example")
    assert agent.evaluate("getComputedStyle(document.querySelector('.offer')).backgroundColor") == "rgb(29, 78, 216)"
    assert agent.locator(".offer").bounding_box()["y"] == 0  # at the very top
    countdown = agent.locator("[data-role=countdown]")
    expect(countdown).to_have_text(re.compile(r"^[1-4] s$"))
    first = countdown.inner_text()
    expect(countdown).not_to_have_text(first, timeout=2500)  # it counts down
    screenshot(agent, "offer-banner-agent")
    accept_offer(agent, "Zoe")

    expect(visitor.locator("[data-role=joined]")).to_have_text("Alice Adams joined the chat")
    expect(visitor.locator("#livechat-widget header .title")).to_contain_text("Alice Adams")
    # the agent's chat view: captured fields and dialog answers first
    expect(agent.locator("[data-role=visitor-details]")).to_contain_text("zoe@shop.example")
    expect(agent.locator("#chat-log .dialog-item").first).to_contain_text("Yes")

    send_from_visitor(visitor, "Hi, I need a quote")
    expect(agent.locator("#chat-log [data-from=visitor]")).to_have_text(re.compile("Hi, I need a quote"))
    # Typing is throttled (shared/composer.js): one "on" for a sentence typed key by key...
    box = visitor.locator("#livechat-widget textarea")
    before = len(visitor_typing)
    box.type("For ten seats")
    assert [f["isTyping"] for f in visitor_typing[before:]] == [True]
    expect(agent.locator("#chat-typing")).to_have_text("The visitor is typing…")
    # ... and no "off" for the message: the message itself clears the agent's line.
    before = len(visitor_typing)
    box.press("Enter")
    expect(agent.locator("#chat-log [data-from=visitor]").last).to_contain_text("For ten seats")
    expect(agent.locator("#chat-typing")).to_have_text("")
    assert visitor_typing[before:] == []
    send_from_agent(agent, "Sure, for how many seats?")
    expect(visitor.locator("[data-from=agent]")).to_contain_text("Sure, for how many seats?")
    expect(visitor.locator("[data-role=announcer]")).to_contain_text("Sure, for how many seats?")  # aria-live
    screenshot(visitor, "chat-visitor")
    screenshot(agent, "chat-agent")

    agent.get_by_role("button", name="End chat").click()
    expect(visitor.locator("[data-role=ended]")).to_have_text("The agent ended the chat.")
    expect(agent.locator("#inbox-list li")).to_have_count(0)
    expect(visitor.locator("#livechat-widget textarea")).to_be_hidden()
    screenshot(visitor, "chat-ended-visitor")


CAPTURE_SAMPLES = {
    "email": ["vera@acme.io", "a@b.c", "a@b.co", "x" * 64 + "@example.com", "x" * 65 + "@example.com",
              "two@@example.com", "sp ace@example.com", "vera@acme.io\n"],
    "phone": ["+33 1 23 45 67 89", "1234", "12345", "1" * 25, "1" * 26, "(555) 010-9999", "call me"],
    "country": ["FR", "fr", "FRA", "F1", "é1"],
}


def test_the_widget_checks_captures_with_the_servers_own_rules(stack: Stack, new_page: Any) -> None:
    # Given the rules /config.json serves, run by chromium's RegExp
    page = new_page()
    page.goto(f"{stack.http}demo.html?dialog=bob")
    verdicts = page.evaluate("""async (samples) => {
        const rules = (await (await fetch("config.json")).json()).capture;
        const out = {};
        for (const [name, values] of Object.entries(samples)) {
          out[name] = values.map((v) => new RegExp(rules.fields[name].pattern).test(v.trim()));
        }
        return out;
    }""", CAPTURE_SAMPLES)
    # Then they accept and refuse exactly what the server does (both trim first)

    def server_accepts(name: str, value: str) -> bool:
        try:
            clean_fields({name: value}, [name], [], "who")
        except BadRequest:
            return False
        return True

    expected = {name: [server_accepts(name, v.strip()) for v in values] for name, values in CAPTURE_SAMPLES.items()}
    assert verdicts == expected


def test_unanswered_offer_disappears_from_the_agent_and_the_visitor_gets_the_fallback(
        stack: Stack, new_page: Any) -> None:
    agent, visitor = new_page(), new_page()
    sign_in(agent, stack, "bob@example.com")
    visitor_requests_chat(visitor, stack, "bob", "Yann", "yann@shop.example")
    expect(agent.locator(".offer")).to_be_visible()
    screenshot(agent, "offer-pending-agent")
    # nobody accepts: the banner goes (offerWithdrawn) and the visitor gets the fallback
    expect(agent.locator(".offer")).to_have_count(0, timeout=(ACCEPT_TIMEOUT + 6) * 1000)
    expect(visitor.locator("[data-role=fallback]")).to_have_text("Our team is busy right now - we'll e-mail you shortly.")
    expect(agent.locator("#inbox-list li")).to_have_count(0)
    screenshot(visitor, "fallback-visitor")
    screenshot(agent, "offer-gone-agent")


def chat_with_carol(stack: Stack, agent: Any, visitor: Any, name: str) -> None:
    """Carol signed in on `agent`; the visitor `name` routed to her, who accepts."""
    sign_in(agent, stack, "carol@example.com")
    visitor_requests_chat(visitor, stack, "carol", name, f"{name.lower()}@shop.example")
    accept_offer(agent, name)
    expect(visitor.locator("[data-role=joined]")).to_be_visible()


def test_a_reload_on_either_side_resumes_the_chat_with_nothing_missing(stack: Stack, new_page: Any) -> None:
    agent, visitor = new_page(), new_page()
    chat_with_carol(stack, agent, visitor, "Ines")
    send_from_visitor(visitor, "message one")
    expect(agent.locator("#chat-log [data-from=visitor]")).to_have_count(1)

    # the visitor reloads; meanwhile the agent writes
    visitor.reload()
    send_from_agent(agent, "sent while you reloaded")
    widget_messages = visitor.locator("#livechat-widget .msg[data-from]")
    expect(widget_messages).to_have_count(2)
    expect(widget_messages.nth(0)).to_contain_text("message one")
    expect(widget_messages.nth(1)).to_contain_text("sent while you reloaded")
    expect(visitor.locator("#livechat-widget header .title")).to_contain_text("Carol Clark")
    expect(visitor.locator("#livechat-widget textarea")).to_be_visible()
    send_from_visitor(visitor, "message three")

    # the agent reloads; the visitor writes meanwhile
    agent.reload()
    send_from_visitor(visitor, "message four")
    expect(agent.locator("#conn")).to_have_text("Connected")
    log = agent.locator("#chat-log .msg[data-from]")
    expect(log).to_have_count(4)
    for i, text in enumerate(["message one", "sent while you reloaded", "message three", "message four"]):
        expect(log.nth(i)).to_contain_text(text)
    send_from_agent(agent, "still here")
    expect(visitor.locator("#livechat-widget .msg[data-from]")).to_have_count(5)
    screenshot(visitor, "after-reload-visitor")
    screenshot(agent, "after-reload-agent")
    agent.get_by_role("button", name="End chat").click()
    expect(visitor.locator("[data-role=ended]")).to_be_visible()


def drop_one_message(page: Any, text: str) -> tuple[list[str], list[str]]:
    """Route the page's WebSockets through the test and drop the first `message` frame the
    server sends it with `text` (as a post lost on the way, or a tab that connected while
    the message was being stored). Returns the dropped frames and the actions the page sends,
    as they go. Call before the page connects."""
    return drop_one(page, lambda frame: frame.get("type") == "message" and frame.get("text") == text)


def drop_one(page: Any, lost: Any) -> tuple[list[str], list[str]]:
    """drop_one_message for the first frame `lost(frame)` is true of."""
    dropped: list[str] = []
    sent: list[str] = []

    def route(ws: Any) -> None:
        server = ws.connect_to_server()

        def from_page(message: str | bytes) -> None:
            if isinstance(message, str):
                sent.append(str(json.loads(message).get("action")))
            server.send(message)

        def from_server(message: str | bytes) -> None:
            frame = json.loads(message) if isinstance(message, str) else {}
            if not dropped and lost(frame):
                dropped.append(str(message))
                return
            ws.send(message)

        ws.on_message(from_page)
        server.on_message(from_server)

    page.route_web_socket(re.compile(r"^wss?://"), route)
    return dropped, sent


def lose_then_fill(send: Any, own: Any, theirs: Any, *, texts: tuple[str, str], lost: list[str],
                   sent: list[str]) -> None:
    """`send` two texts, the first of which the other page never gets (drop_one_message):
    the sender's page shows both at once (`own`), the other page both in order once the
    second revealed the gap (`theirs`), after exactly one resume of its own (`sent`)."""
    first, second = texts
    had_own, had_theirs = own.count(), theirs.count()
    send(first)
    expect(own).to_have_count(had_own + 1)
    send(second)
    expect(theirs).to_have_count(had_theirs + 2)
    expect(theirs.nth(had_theirs)).to_contain_text(first)
    expect(theirs.nth(had_theirs + 1)).to_contain_text(second)
    assert len(lost) == 1 and sent.count("resume") == 1, (lost, sent)


def test_a_message_lost_on_the_way_is_filled_in_when_the_next_one_comes(stack: Stack, new_page: Any) -> None:
    agent, visitor = new_page(), new_page()
    lost_by_widget, widget_sent = drop_one_message(visitor, "lost on the way to you")
    lost_by_inbox, inbox_sent = drop_one_message(agent, "lost on the way to me")
    chat_with_carol(stack, agent, visitor, "Gina")
    # Nothing lost yet: a message each way, and neither page asks for a resume
    send_from_visitor(visitor, "hello")
    expect(agent.locator("#chat-log [data-from=visitor]")).to_have_count(1)
    send_from_agent(agent, "hi Gina")
    expect(visitor.locator("#livechat-widget .msg[data-from=agent]")).to_have_count(1)
    send_from_visitor(visitor, "a question")
    expect(agent.locator("#chat-log [data-from=visitor]")).to_have_count(2)
    assert "resume" not in widget_sent and "resume" not in inbox_sent, (widget_sent, inbox_sent)

    # The agent's message never reaches the widget; the next one shows the gap, and a resume
    # fills it in, in order
    lose_then_fill(lambda text: send_from_agent(agent, text), agent.locator("#chat-log [data-from=agent]"),
                   visitor.locator("#livechat-widget .msg[data-from=agent]"),
                   texts=("lost on the way to you", "and this one arrives"), lost=lost_by_widget, sent=widget_sent)
    # And the same for the inbox, the visitor writing
    lose_then_fill(lambda text: send_from_visitor(visitor, text),
                   visitor.locator("#livechat-widget .msg[data-from=visitor]"),
                   agent.locator("#chat-log .msg[data-from=visitor]"),
                   texts=("lost on the way to me", "second from me"), lost=lost_by_inbox, sent=inbox_sent)
    agent.get_by_role("button", name="End chat").click()
    expect(visitor.locator("[data-role=ended]")).to_be_visible()


def test_a_lost_end_is_learnt_when_the_page_next_writes(stack: Stack, new_page: Any) -> None:
    agent, visitor = new_page(), new_page()
    lost_by_widget, widget_sent = drop_one(visitor, lambda frame: frame.get("type") == "chatEnded")
    chat_with_carol(stack, agent, visitor, "Hana")

    # The agent ends the chat; the widget never hears it and still shows the chat as live
    agent.get_by_role("button", name="End chat").click()
    expect(agent.locator("#composer")).to_be_hidden()
    expect(visitor.locator("#livechat-widget textarea")).to_be_visible()

    # When the visitor writes, the refusal (CONFLICT) makes the widget ask, and it shows the end
    send_from_visitor(visitor, "are you still there?")
    expect(visitor.locator("[data-role=ended]")).to_be_visible()
    expect(visitor.locator("#livechat-widget textarea")).to_be_hidden()
    # And the refused message says it was not sent (not greyed as if on its way)
    refused = visitor.locator("#livechat-widget [data-role=not-sent]")
    expect(refused).to_contain_text("are you still there?")
    expect(refused).to_contain_text("Not sent.")
    expect(visitor.locator("#livechat-widget .msg.pending")).to_have_count(0)
    assert len(lost_by_widget) == 1 and widget_sent.count("resume") == 1


def test_a_lost_end_is_learnt_when_the_agent_next_writes(stack: Stack, new_page: Any) -> None:
    agent, visitor = new_page(), new_page()
    lost_by_inbox, inbox_sent = drop_one(agent, lambda frame: frame.get("type") == "chatEnded")
    chat_with_carol(stack, agent, visitor, "Iris")

    # The visitor ends the chat; the inbox never hears it and still offers the reply box
    visitor.locator("#livechat-widget [data-role=end-chat]").click()
    expect(visitor.locator("[data-role=ended]")).to_be_visible()
    expect(agent.locator("#composer")).to_be_visible()

    # When the agent writes, the refusal (CONFLICT) makes the inbox ask, and it closes the chat
    send_from_agent(agent, "anything else?")
    expect(agent.locator("#composer")).to_be_hidden()
    assert len(lost_by_inbox) == 1 and inbox_sent.count("resume") == 1


def test_a_visitor_message_with_html_renders_as_text_on_both_sides_and_runs_nothing(stack: Stack, new_page: Any) -> None:
    agent, visitor = new_page(), new_page()
    sign_in(agent, stack, "dave@example.com")
    visitor_requests_chat(visitor, stack, "dave", XSS, "x@shop.example")
    accept_offer(agent, "img")
    expect(visitor.locator("[data-role=joined]")).to_be_visible()
    send_from_visitor(visitor, XSS)
    expect(agent.locator("#chat-log [data-from=visitor]")).to_contain_text(XSS)
    expect(visitor.locator("[data-from=visitor]")).to_contain_text(XSS)
    expect(agent.locator("[data-role=visitor-details]")).to_contain_text(XSS)  # a captured field, too
    agent.locator("#tab-conversations").click()
    agent.locator("#conversation-list button").first.click()
    expect(agent.locator("#transcript-log")).to_contain_text(XSS)
    visitor.wait_for_timeout(300)
    assert agent.evaluate("window.__xss") is None
    assert visitor.evaluate("window.__xss") is None
    assert agent.locator("#chat-log img, #transcript-log img").count() == 0
    assert visitor.evaluate("window.livechatWidget.shadow.querySelectorAll('.log img').length") == 0
    screenshot(agent, "xss-agent-transcript")
    screenshot(visitor, "xss-visitor")
    agent.locator("#tab-inbox").click()
    agent.get_by_role("button", name="End chat").click()
    expect(visitor.locator("[data-role=ended]")).to_be_visible()


def test_the_widget_pings_only_after_four_and_a_half_minutes_without_a_frame_of_its_own(
        stack: Stack, new_page: Any) -> None:
    """A ping is a billed frame each way and an invocation: while the page sends frames of
    its own, API Gateway's 10-minute idle timeout is never near, so none is sent."""
    visitor = new_page()
    sent: list[str] = []
    visitor.on("websocket", lambda ws: ws.on("framesent", lambda p: sent.append(json.loads(p)["action"])))
    visitor.clock.install()
    visitor.goto(f"{stack.http}demo.html?dialog=alice")
    visitor.get_by_role("button", name="Chat with us").click()
    expect(visitor.locator("#livechat-widget .msg.bot").first).to_have_text(
        "Would you like to talk to someone from sales?")
    wait_until(visitor, lambda: "startConversation" in sent)  # the socket is open
    visitor.clock.fast_forward("04:00")
    visitor.get_by_role("button", name="No thanks").click()  # a frame of its own
    expect(visitor.locator("#livechat-widget .msg.bot").last).to_have_text("Happy browsing!")
    visitor.clock.fast_forward("04:00")  # 8 minutes since it connected, 4 since its last frame
    visitor.wait_for_timeout(300)
    assert sent == ["startConversation", "answer"]  # no ping  # it did send frames, none of them a ping
    visitor.clock.fast_forward("00:40")  # 4 min 40 s since its last frame
    wait_until(visitor, lambda: "ping" in sent)
    assert sent == ["startConversation", "answer", "ping"]


def wait_until(page: Any, probe: Any) -> None:
    """Until `probe()` holds: a frame leaves on the page's own event loop."""
    for _ in range(100):
        if probe():
            return
        page.wait_for_timeout(50)
    raise AssertionError("the page never got there")
