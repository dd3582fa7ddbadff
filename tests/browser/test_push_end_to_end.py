"""The notification path end to end (issue 13, protocol.md second round: Web Push and
reachability), in headless chromium against `livechat dev`, nothing stubbed on the server's
side: an agent enables notifications in the inbox (the real sw.js registered, subscribePush
acknowledged), closes the inbox and so becomes push-only; a visitor's chat request makes the
server POST a real push (RFC 8291 aes128gcm, VAPID) to the test's push service
(tests/pushservice.py), which decrypts it; its plaintext is handed to the worker through the
DevTools protocol (`ServiceWorker.deliverPushMessage`, what a browser's push service would
do) and the worker's notification is read back with `registration.getNotifications()`. Then
the inbox opened on the offer (inbox.html#offer=<offerId>, what a click opens) accepts it;
or the offer expires and the pushed offerWithdrawn replaces the notification.

Offline there is no push service for chromium to subscribe with
(../shared/NOTES-aws-offline.md, "Second round"): `PushManager.subscribe` is stubbed by an init
script that answers the push service's subscription (real ECDH keys and auth secret; the local
stack accepts its http://127.0.0.1 endpoint). A script cannot click a notification with user
activation, so the inbox is opened at the address the click would open.

Also the inbox's line next to the status toggle: whether offers reach the agent with the tab
closed (the `inbox` answer's pushSubscriptions)."""

from __future__ import annotations

import base64
import hashlib
import json
import re
import subprocess
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import AGENTS, LIVECHAT, ROOT, Stack, running_stack, screenshot, workspace_yaml
from tests.browser.test_push_notifications import (
    NOTIFICATIONS,
    PUSH_STUB,
    Frames,
    origin,
    push_state,
    vapid_public_key,
    wait_until,
)
from tests.pushservice import Push, PushService, Subscription

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")
expect = sync_api.expect

pytestmark = pytest.mark.browser

# The offer to accept stands this long: time enough for the push, a new page and a sign-in on
# a slow machine. The one left to expire, on a stack of its own, this long.
ACCEPT_TIMEOUT = 120
EXPIRY_TIMEOUT = 15
# offerWithdrawn pushes stand this long at the push service (docs/protocol.md: a device that
# wakes within a quarter of an hour still clears its ringing notification)
WITHDRAWN_TTL = 900
WAIT_MS = 30_000  # Playwright waits (expect, actions): generous, for a 2-core machine
WAIT_S = WAIT_MS / 1000
REACH_HERE = "Offers reach you even with this tab closed"
REACH_ELSEWHERE = "With this tab closed, offers reach only your other browsers"
REACH_NOWHERE = "Close this tab and you get no chats — enable notifications to get offers with the inbox closed"


@dataclass(frozen=True)
class Local:
    """A running `livechat dev` and the folder of its workspace.yaml and endpoints.json."""

    stack: Stack
    directory: Path


WATCH_NOTIFICATIONS = """async (tag) => {
  const registration = await navigator.serviceWorker.getRegistration();
  const noted = window.__notifications = { seen: [], most: 0 };
  const keys = new Set();
  const look = async () => {
    const list = await registration.getNotifications({ tag });
    noted.most = Math.max(noted.most, list.length);
    for (const n of list) {
      const item = { title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction, data: n.data };
      const key = JSON.stringify(item);
      if (!keys.has(key)) { keys.add(key); noted.seen.push(item); }
    }
  };
  await look();
  setInterval(look, 50);
}"""


def workspace_with(accept_timeout: int) -> str:
    text = workspace_yaml()
    assert "accept_timeout_seconds: 4\n" in text
    return text.replace("accept_timeout_seconds: 4\n", f"accept_timeout_seconds: {accept_timeout}\n")


@pytest.fixture(scope="module")
def local(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Local]:
    directory = tmp_path_factory.mktemp("livechat-push-e2e")
    with running_stack(directory, workspace_with(ACCEPT_TIMEOUT)) as stack:
        yield Local(stack, directory)


@pytest.fixture
def contexts(browser: Any) -> Iterator[Callable[[], Any]]:
    """Browser contexts (one per browser an agent or a visitor uses: its pages share the
    service worker registration and localStorage), closed afterwards; an uncaught exception
    in any of their pages fails the test."""
    made: list[Any] = []
    errors: list[str] = []

    def make() -> Any:
        context = browser.new_context(viewport={"width": 1100, "height": 720})
        context.set_default_timeout(WAIT_MS)
        context.on("page", lambda page: page.on("pageerror", lambda exc: errors.append(f"{page.url}: {exc}")))
        made.append(context)
        return context

    yield make
    for context in made:
        context.close()
    assert not errors, f"uncaught errors in the pages: {errors}"


def topic_of(conversation_id: str) -> str:
    """protocol.md: `Topic` = the first 32 characters of base64url(SHA-256(conversationId))."""
    digest = hashlib.sha256(conversation_id.encode()).digest()
    return base64.urlsafe_b64encode(digest).decode().rstrip("=")[:32]


def sign_in(page: Any, stack: Stack, email: str, path: str = "inbox.html") -> None:
    page.goto(stack.http + path)
    page.fill("#signin-email", email)
    page.fill("#signin-password", AGENTS[email][1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn")).to_have_text("Connected", timeout=WAIT_MS)


WIDGET = "() => ({ state: window.livechatWidget.state(), text: window.livechatWidget.shadow.textContent })"


def request_chat(page: Any, stack: Stack, dialog: str, first_name: str, email: str) -> None:
    """The widget's visitor asks for a chat (the dialog's live chat card routes to one agent)."""
    page.goto(f"{stack.http}demo.html?dialog={dialog}")
    page.get_by_role("button", name="Chat with us").click()
    # The widget waits at most 15 s for its conversation to start before it refuses an
    # answer ("not connected yet"); a busy machine's cold functions can take about that long.
    wait_until(page, lambda: page.evaluate(WIDGET)["state"]["conversation"], timeout=2 * WAIT_S,
               what="the widget's conversation to start")
    page.get_by_role("button", name="Yes").click()
    try:
        page.locator("[data-field=firstName]").fill(first_name)
    except sync_api.TimeoutError:
        pytest.fail(f"the widget showed no capture form after Yes: {page.evaluate(WIDGET)}")
    page.locator("[data-field=email]").fill(email)
    page.locator("[data-field=email]").press("Enter")
    expect(page.locator("[data-role=connecting]")).to_have_text("Connecting you to someone…", timeout=WAIT_MS)


def dry_run(local: Local, dialog: str) -> str:
    """`livechat route --dry-run` against the running stack: who would get the dialog's chat
    now, and how (it reads the stored connections and subscriptions)."""
    done = subprocess.run(
        [str(LIVECHAT), "route", "--dry-run", "--workspace", str(local.directory / "workspace.yaml"),
         "--dialog", dialog, "--card", "live", "--visitor", "{}", "--local", str(local.directory / "endpoints.json")],
        cwd=ROOT, capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout


def gets_the_chat(email: str, by_push: bool) -> re.Pattern[str]:
    return re.compile(rf"\s{re.escape(email)}: gets the chat" + (r" \(by Web Push" if by_push else r"$"), re.M)


def wait_for_dry_run(local: Local, dialog: str, pattern: re.Pattern[str], timeout: float = WAIT_S) -> None:
    deadline = time.monotonic() + timeout
    while not pattern.search(said := dry_run(local, dialog)):
        if time.monotonic() > deadline:
            pytest.fail(f"after {timeout} s the dry-run still says:\n{said}")
        time.sleep(0.3)


def arrival(service: PushService, target: Subscription, kind: str, timeout: float) -> Push:
    """The first push of this event type to `target`."""
    (push, *_) = service.wait_for(lambda p: p.type == kind, timeout=timeout, target=target)
    return push


# --- the agent's browser --------------------------------------------------------------------


@dataclass
class AgentBrowser:
    """An agent's browser (a context): its inbox page, a page of the site that stays open
    after the inbox closed (to read the worker's notifications), and a DevTools session that
    delivers pushes to the worker."""

    local: Local
    email: str
    context: Any
    inbox: Any
    frames: Frames
    probe: Any = None
    cdp: Any = None
    registration_id: str | None = None

    def enable_notifications(self) -> None:
        """The banner's Enable with the permission given: the worker registered, the browser
        subscribed, subscribePush acknowledged."""
        self.context.grant_permissions(["notifications"], origin=origin(self.local.stack))
        self.inbox.get_by_role("button", name="Enable", exact=True).click()
        wait_until(self.inbox, lambda: push_state(self.inbox)["status"] == "on", timeout=WAIT_S,
                   what="the subscription acknowledged")
        (_, answer), *_ = self.frames.answered("subscribePush")
        assert answer["type"] == "ack", answer

    def watch_the_worker(self) -> None:
        """The probe page (index.html: no socket of its own) and the worker's registration id."""
        stack = self.local.stack
        self.probe = self.context.new_page()
        self.probe.goto(stack.http + "index.html")
        self.cdp = self.context.new_cdp_session(self.probe)
        registrations: dict[str, dict[str, Any]] = {}
        self.cdp.on("ServiceWorker.workerRegistrationUpdated",
                    lambda event: registrations.update({r["registrationId"]: r for r in event["registrations"]}))
        self.cdp.send("ServiceWorker.enable")
        self.registration_id = wait_until(self.probe, lambda: next(
            (rid for rid, r in registrations.items() if r["scopeURL"] == stack.http and not r["isDeleted"]), None),
            timeout=WAIT_S, what="the worker's registration")

    def close_inbox(self, dialog: str) -> None:
        """The inbox tab closed: once the server handled its $disconnect, the agent is
        reachable by Web Push only (the dry-run reads the stored connections)."""
        wait_for_dry_run(self.local, dialog, gets_the_chat(self.email, by_push=False))
        self.inbox.close()
        wait_for_dry_run(self.local, dialog, gets_the_chat(self.email, by_push=True))

    def deliver(self, push: Push) -> None:
        """What the browser's push service does with a push: the worker's `push` event."""
        assert push.plaintext is not None
        self.cdp.send("ServiceWorker.deliverPushMessage", {
            "origin": origin(self.local.stack), "registrationId": self.registration_id,
            "data": push.plaintext.decode("utf-8")})

    def notifications(self, tag: str) -> list[dict[str, Any]]:
        shown: list[dict[str, Any]] = self.probe.evaluate(NOTIFICATIONS, tag)
        return shown

    def watch_notifications(self, tag: str) -> None:
        """From now on the probe page notes every notification with this tag (polling in the
        page: one that closes itself after a few seconds is seen however slow the test is)."""
        self.probe.evaluate(WATCH_NOTIFICATIONS, tag)

    def seen_notifications(self) -> dict[str, Any]:
        """{seen: each notification noted once, most: the most shown at once with the tag}."""
        seen: dict[str, Any] = self.probe.evaluate("() => window.__notifications")
        return seen


def push_only_agent(local: Local, contexts: Callable[[], Any], email: str, dialog: str,
                    subscription: Subscription) -> AgentBrowser:
    """`email` signed in, notifications enabled (this subscription), the inbox closed."""
    context = contexts()
    context.add_init_script(PUSH_STUB % json.dumps(subscription))
    inbox = context.new_page()
    frames = Frames(inbox)
    agent = AgentBrowser(local, email, context, inbox, frames)
    sign_in(inbox, local.stack, email)
    agent.enable_notifications()
    expect(inbox.locator("[data-role=reach]")).to_have_text(REACH_HERE, timeout=WAIT_MS)
    agent.watch_the_worker()
    return agent


def check_push(push: Push, service: PushService, conversation_id: str) -> None:
    """What protocol.md fixes for every push of an offer (the push service checked the rest:
    aes128gcm, the VAPID JWT against vapidPublicKey, the headers' syntax)."""
    assert push.problems == [], push.problems
    assert push.status == 201
    assert push.headers["Topic"] == topic_of(conversation_id), push.headers
    assert push.headers["Urgency"] == "high", push.headers
    assert push.claims is not None and push.claims["aud"] == service.origin, push.claims


# --- the scenarios --------------------------------------------------------------------------


def test_a_push_only_agent_gets_the_offer_as_a_notification_and_accepts_it_in_the_inbox_opened_on_it(
    local: Local, contexts: Callable[[], Any]
) -> None:
    stack = local.stack
    with PushService(expected_vapid_key=vapid_public_key(stack)) as service:
        # Given Alice enabled notifications in her inbox, then closed it (the browser runs on)
        subscription = service.subscribe("alice-laptop")
        alice = push_only_agent(local, contexts, "alice@example.com", "alice", subscription)
        screenshot(alice.inbox, "push-e2e-inbox-notifications-on")
        alice.close_inbox("alice")
        assert service.pushes(subscription) == []

        # When a visitor asks for a chat
        visitor = contexts().new_page()
        visitor_frames = Frames(visitor)
        request_chat(visitor, stack, "alice", "Olga", "olga@shop.example")

        # Then her push service gets the offer: signed, encrypted, headers as protocol.md says
        offered = arrival(service, subscription, "chatOffered", timeout=WAIT_S)
        payload = offered.payload
        conversation_id, offer_id = payload["conversationId"], payload["offerId"]
        check_push(offered, service, conversation_id)
        # TTL: the seconds the offer has left when it is sent
        assert offered.ttl is not None and ACCEPT_TIMEOUT - 30 <= offered.ttl <= ACCEPT_TIMEOUT, offered.headers
        assert payload["visitor"]["firstName"] == "Olga"
        assert payload["acceptTimeoutSeconds"] == ACCEPT_TIMEOUT

        # When it reaches the worker
        alice.deliver(offered)

        # Then the notification names the visitor, tagged with the conversation
        (notification,) = wait_until(alice.probe, lambda: alice.notifications(conversation_id), timeout=WAIT_S,
                                     what="the offer's notification")
        assert notification["title"] == "Chat request from Olga"
        assert notification["tag"] == conversation_id
        assert re.search(r"\d+ s left to accept", notification["body"]), notification["body"]
        assert notification["requireInteraction"] is True
        assert notification["data"] == {"conversationId": conversation_id, "offerId": offer_id}

        # When she opens the inbox on that offer (what a click on it opens) and signs in
        inbox = alice.context.new_page()
        sign_in(inbox, stack, "alice@example.com", path=f"inbox.html#offer={offer_id}")

        # Then the offer's blue banner is up with Accept
        banner = inbox.locator(f'.offer[data-offer="{offer_id}"]')
        expect(banner).to_contain_text("Olga", timeout=WAIT_MS)
        accept = banner.get_by_role("button", name="Accept")
        expect(accept).to_be_focused(timeout=WAIT_MS)
        screenshot(inbox, "push-e2e-inbox-opened-on-pushed-offer")

        # When she accepts
        accept.click()

        # Then the visitor gets agentJoined
        expect(visitor.locator("[data-role=joined]")).to_have_text("Alice Adams joined the chat", timeout=WAIT_MS)
        joined = [f for way, f in visitor_frames.items if way == "received" and f.get("type") == "agentJoined"]
        assert {f["conversationId"] for f in joined} == {conversation_id}, joined
        expect(inbox.locator("[data-role=visitor-details]")).to_contain_text("olga@shop.example", timeout=WAIT_MS)
        screenshot(visitor, "push-e2e-visitor-joined")
        # and nothing else was pushed (an accepted offer is not withdrawn)
        assert [p.type for p in service.pushes(subscription)] == ["chatOffered"]


def test_a_pushed_offer_that_expires_is_withdrawn_by_push_and_its_notification_replaced(
    tmp_path: Path, contexts: Callable[[], Any]
) -> None:
    with running_stack(tmp_path, workspace_with(EXPIRY_TIMEOUT)) as stack:
        local = Local(stack, tmp_path)
        with PushService(expected_vapid_key=vapid_public_key(stack)) as service:
            # Given Carol enabled notifications, then closed her inbox
            subscription = service.subscribe("carol-laptop")
            carol = push_only_agent(local, contexts, "carol@example.com", "carol", subscription)
            carol.close_inbox("carol")

            # And a visitor's chat request pushed to her and shown by the worker
            visitor = contexts().new_page()
            request_chat(visitor, stack, "carol", "Pia", "pia@shop.example")
            offered = arrival(service, subscription, "chatOffered", timeout=WAIT_S)
            conversation_id, offer_id = offered.payload["conversationId"], offered.payload["offerId"]
            check_push(offered, service, conversation_id)
            assert offered.ttl is not None and 0 < offered.ttl <= EXPIRY_TIMEOUT, offered.headers
            carol.deliver(offered)
            (notification,) = wait_until(carol.probe, lambda: carol.notifications(conversation_id), timeout=WAIT_S,
                                         what="the offer's notification")
            assert notification["title"] == "Chat request from Pia"

            # When nobody accepts it in time
            # Then her push service gets offerWithdrawn under the same Topic
            withdrawn = arrival(service, subscription, "offerWithdrawn", timeout=EXPIRY_TIMEOUT + WAIT_S)
            check_push(withdrawn, service, conversation_id)
            assert withdrawn.headers["Topic"] == offered.headers["Topic"]
            assert withdrawn.ttl == WITHDRAWN_TTL, withdrawn.headers
            assert withdrawn.payload == {"type": "offerWithdrawn", "conversationId": conversation_id,
                                         "offerId": offer_id, "reason": "expired"}

            # When it reaches the worker
            carol.watch_notifications(conversation_id)  # the replacement closes itself in seconds
            carol.deliver(withdrawn)

            # Then the offer's notification is replaced (same tag) by the "taken or expired" one
            def replacements() -> list[dict[str, Any]]:
                return [n for n in carol.seen_notifications()["seen"] if n["title"] != notification["title"]]

            (replaced,) = wait_until(carol.probe, replacements, timeout=WAIT_S, what="the replacement")
            assert carol.seen_notifications()["most"] == 1  # never two for the conversation: replaced
            assert replaced["title"] == "Chat taken or expired"
            assert replaced["body"] == "The request was not accepted in time."
            assert replaced["tag"] == conversation_id
            assert replaced["requireInteraction"] is False
            # And the visitor got the fallback (nobody else can take it)
            expect(visitor.locator("[data-role=fallback]")).to_be_visible(timeout=WAIT_MS)
            screenshot(visitor, "push-e2e-visitor-fallback-after-pushed-offer-expired")


# --- the inbox says whether offers reach the agent with the tab closed ----------------------


def test_the_inbox_says_whether_offers_reach_the_agent_with_the_tab_closed(
    local: Local, contexts: Callable[[], Any]
) -> None:
    stack = local.stack
    with PushService() as service:
        # Given Bob signed in, notifications not enabled (he holds no push subscription)
        subscription = service.subscribe("bob-laptop")
        laptop = contexts()
        laptop.add_init_script(PUSH_STUB % json.dumps(subscription))
        page = laptop.new_page()
        frames = Frames(page)
        sign_in(page, stack, "bob@example.com")
        reach = page.locator("[data-role=reach]")

        # Then the line next to his status says that closing the tab means no chats
        expect(reach).to_have_text(REACH_NOWHERE, timeout=WAIT_MS)
        screenshot(page, "push-reach-nowhere")

        # When he enables notifications
        laptop.grant_permissions(["notifications"], origin=origin(stack))
        page.get_by_role("button", name="Enable", exact=True).click()

        # Then, once subscribePush is acknowledged, the inbox asks again and says offers reach him
        expect(reach).to_have_text(REACH_HERE, timeout=WAIT_MS)
        (_, ack), *_ = frames.answered("subscribePush")
        assert ack["type"] == "ack"
        later = [answer for sent, answer in frames.answered("listInbox")
                 if frames.items.index(("sent", sent)) > frames.items.index(("received", ack))]
        assert [answer.get("pushSubscriptions") for answer in later] == [1]
        screenshot(page, "push-reach-here")

        # When he opens the inbox in another browser, where notifications are not enabled
        other = contexts().new_page()
        sign_in(other, stack, "bob@example.com")
        other_reach = other.locator("[data-role=reach]")

        # Then that inbox says the offers go to his other browser
        expect(other_reach).to_have_text(REACH_ELSEWHERE, timeout=WAIT_MS)

        # When he goes away there, Then no line shows (no offers come); back, it is back
        other.locator("#status-toggle").uncheck()
        expect(other_reach).to_be_hidden(timeout=WAIT_MS)
        expect(reach).to_be_hidden(timeout=WAIT_MS)  # the first inbox got the `status` frame
        other.locator("#status-toggle").check()
        expect(other_reach).to_have_text(REACH_ELSEWHERE, timeout=WAIT_MS)
        expect(reach).to_have_text(REACH_HERE, timeout=WAIT_MS)

        # When he signs out of the first browser (unsubscribePush)
        page.get_by_role("button", name="Sign out").click()
        expect(page.locator("#signin-form")).to_be_visible(timeout=WAIT_MS)
        ((_, unsubscribed),) = frames.answered("unsubscribePush")
        assert unsubscribed["type"] == "ack"

        # Then the other inbox, once it asks again (a reload), says closing it means no chats
        other.reload()
        expect(other.locator("#conn")).to_have_text("Connected", timeout=WAIT_MS)
        expect(other_reach).to_have_text(REACH_NOWHERE, timeout=WAIT_MS)
