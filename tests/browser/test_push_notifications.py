"""Chat requests that reach an agent whose inbox is closed, and alerts that last while an
offer is pending (issue 13, protocol.md second round: Web Push, pending offers), in headless
chromium against `livechat dev`: the real sw.js registered by the inbox, pushes delivered to
it through the DevTools protocol, the inbox's opt-in, inbox.html#offer=<offerId>.

Offline, `PushManager.subscribe` fails (no push service: ../shared/NOTES-aws-offline.md,
"Second round"), so an init script stands in for it with a subscription of the test's own
push service (tests/pushservice.py). These tests never need the server to send a push: they
deliver the chatOffered / offerWithdrawn JSON themselves. A script-dispatched
`notificationclick` has no user activation (`clients.openWindow` would refuse), so the click
handler runs with a fake `clients`, in a page."""

from __future__ import annotations

import json
import re
import time
import urllib.request
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.browser.conftest import AGENTS, Stack, running_stack, screenshot, workspace_yaml
from tests.pushservice import PushService, Subscription

sync_api = pytest.importorskip("playwright.sync_api", reason="browser tests need Playwright for Python")
expect = sync_api.expect

pytestmark = pytest.mark.browser

# An offer stands this long here: long enough to hear its sound repeat and to sign in on it.
ACCEPT_TIMEOUT = 60
TITLE = "livechat — agent inbox"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    text = workspace_yaml()
    assert "accept_timeout_seconds: 4\n" in text
    text = text.replace("accept_timeout_seconds: 4\n", f"accept_timeout_seconds: {ACCEPT_TIMEOUT}\n")
    with running_stack(tmp_path_factory.mktemp("livechat-push"), text) as running:
        yield running


@pytest.fixture(scope="module")
def push_service() -> Iterator[PushService]:
    # The subscriptions' endpoints: whatever the server sends them is answered 201.
    with PushService() as service:
        yield service


def origin(stack: Stack) -> str:
    parts = urlsplit(stack.http)
    return f"{parts.scheme}://{parts.netloc}"


def vapid_public_key(stack: Stack) -> str:
    with urllib.request.urlopen(stack.http + "config.json") as response:
        key: str = json.load(response)["vapidPublicKey"]
    return key


# --- the page's stand-ins -------------------------------------------------------------------

# PushManager.subscribe / getSubscription answering the test's subscription; what subscribe
# was asked is kept in window.__push, the subscription itself in localStorage (it outlives a
# reload, like a browser's).
PUSH_STUB = """(() => {
  if (!window.PushManager) return;
  const SUB = %s;
  const SAVED = "test-push-subscription";
  const b64url = (bytes) => btoa(String.fromCharCode(...bytes)).replace(/\\+/g, "-").replace(/\\//g, "_").replace(/=+$/, "");
  const bytes = (text) => Uint8Array.from(
    atob(text.replace(/-/g, "+").replace(/_/g, "/") + "==".slice(0, (4 - text.length %% 4) %% 4)), (c) => c.charCodeAt(0));
  window.__push = { subscribed: [], unsubscribed: 0 };
  function subscription(key) {
    return {
      endpoint: SUB.endpoint, expirationTime: null,
      options: { userVisibleOnly: true, applicationServerKey: bytes(key).buffer },
      getKey(name) { return bytes(SUB.keys[name]).buffer; },
      toJSON() { return { endpoint: SUB.endpoint, expirationTime: null, keys: Object.assign({}, SUB.keys) }; },
      async unsubscribe() { localStorage.removeItem(SAVED); window.__push.unsubscribed++; return true; },
    };
  }
  PushManager.prototype.subscribe = async function (options) {
    const raw = options.applicationServerKey;
    const key = b64url(raw instanceof ArrayBuffer ? new Uint8Array(raw)
      : new Uint8Array(raw.buffer, raw.byteOffset, raw.byteLength));
    window.__push.subscribed.push({ userVisibleOnly: options.userVisibleOnly, applicationServerKey: key });
    localStorage.setItem(SAVED, key);
    return subscription(key);
  };
  PushManager.prototype.getSubscription = async function () {
    const key = localStorage.getItem(SAVED);
    return key ? subscription(key) : null;
  };
})();"""

# An AudioContext that makes no sound and counts the beeps (two tones each) in window.__tones.
AUDIO_STUB = """(() => {
  window.__tones = 0;
  const param = { value: 0, setValueAtTime() {}, exponentialRampToValueAtTime() {} };
  class FakeAudioContext {
    constructor() { this.currentTime = 0; this.destination = {}; }
    resume() { return Promise.resolve(); }
    createGain() { return { gain: param, connect: (next) => next }; }
    createOscillator() {
      return { frequency: { value: 0 }, type: "sine", connect: (next) => next,
               start() { window.__tones++; }, stop() {} };
    }
  }
  window.AudioContext = FakeAudioContext;
  window.webkitAudioContext = FakeAudioContext;
})();"""

# document.hidden as the test says (window.__setHidden(true) hides the tab).
VISIBILITY_STUB = """(() => {
  let hidden = false;
  Object.defineProperty(Document.prototype, "hidden", { configurable: true, get: () => hidden });
  Object.defineProperty(Document.prototype, "visibilityState",
    { configurable: true, get: () => hidden ? "hidden" : "visible" });
  window.__setHidden = (value) => { hidden = value; document.dispatchEvent(new Event("visibilitychange")); };
})();"""

NOTIFICATIONS = """async (tag) => {
  const registration = await navigator.serviceWorker.getRegistration();
  if (!registration) return [];
  const list = await registration.getNotifications(tag ? { tag } : {});
  return list.map((n) => ({ title: n.title, body: n.body, tag: n.tag, requireInteraction: n.requireInteraction,
                            data: n.data }));
}"""


def with_push(page: Any, subscription: Subscription) -> None:
    page.add_init_script(PUSH_STUB % json.dumps(subscription))


def grant_notifications(page: Any, stack: Stack) -> None:
    page.context.grant_permissions(["notifications"], origin=origin(stack))


class Frames:
    """The frames of the page's WebSockets, as Playwright sees them on the wire."""

    def __init__(self, page: Any) -> None:
        self.items: list[tuple[str, dict[str, Any]]] = []
        page.on("websocket", self._socket)

    def _socket(self, ws: Any) -> None:
        ws.on("framesent", lambda payload: self._add("sent", payload))
        ws.on("framereceived", lambda payload: self._add("received", payload))

    def _add(self, way: str, payload: str | bytes) -> None:
        try:
            frame = json.loads(payload)
        except ValueError:
            return
        if isinstance(frame, dict):
            self.items.append((way, frame))

    def answered(self, action: str) -> list[tuple[dict[str, Any], dict[str, Any]]]:
        """(request, answer) for each `action` sent that got an answer."""
        answers = {f.get("requestId"): f for way, f in self.items if way == "received" and f.get("requestId")}
        return [(f, answers[f["requestId"]]) for way, f in self.items
                if way == "sent" and f.get("action") == action and f.get("requestId") in answers]


def wait_until(page: Any, check: Callable[[], Any], timeout: float = 10.0, what: str = "") -> Any:
    """Polls `check` (letting Playwright deliver its events meanwhile) until it is truthy."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what or check}")
        page.wait_for_timeout(100)


def sign_in(page: Any, stack: Stack, email: str, path: str = "inbox.html") -> None:
    page.goto(stack.http + path)
    page.fill("#signin-email", email)
    page.fill("#signin-password", AGENTS[email][1])
    page.get_by_role("button", name="Sign in").click()
    expect(page.locator("#conn")).to_have_text("Connected")


def push_state(page: Any) -> dict[str, Any]:
    state: dict[str, Any] = page.evaluate("window.livechatInbox.state().push")
    return state


def request_chat(page: Any, stack: Stack, dialog: str, first_name: str, email: str) -> None:
    page.goto(f"{stack.http}demo.html?dialog={dialog}")
    page.get_by_role("button", name="Chat with us").click()
    page.get_by_role("button", name="Yes").click()
    page.locator("[data-field=firstName]").fill(first_name)
    page.locator("[data-field=email]").fill(email)
    page.locator("[data-field=email]").press("Enter")
    expect(page.locator("[data-role=connecting]")).to_have_text("Connecting you to someone…")


def offered(conversation_id: str, offer_id: str, seconds: int = ACCEPT_TIMEOUT) -> dict[str, Any]:
    """A chatOffered event as protocol.md fixes it (and the push body carries it)."""
    expires = datetime.now(UTC) + timedelta(seconds=seconds)
    return {"type": "chatOffered", "conversationId": conversation_id, "offerId": offer_id,
            "visitor": {"firstName": "Nina", "lastName": "North", "email": "nina@north.example"},
            "page": {"url": "https://shop.example/pricing", "title": "Pricing", "referrer": ""},
            "expiresAt": expires.isoformat(timespec="milliseconds").replace("+00:00", "Z"),
            "acceptTimeoutSeconds": ACCEPT_TIMEOUT}


# --- the opt-in ---------------------------------------------------------------------------


def test_enabling_notifications_registers_the_worker_and_the_server_acks_the_subscription_on_every_connection(
    stack: Stack, new_page: Any, push_service: PushService
) -> None:
    # Given an agent signed in, notifications not allowed yet: the seed's banner asks
    page = new_page()
    subscription = push_service.subscribe("alice-browser")
    with_push(page, subscription)
    frames = Frames(page)
    sign_in(page, stack, "alice@example.com")
    expect(page.locator("#notify-banner")).to_contain_text(
        "Please enable browser notifications to receive live chat notifications")
    screenshot(page, "push-enable-banner")

    # When they allow notifications with its Enable button
    grant_notifications(page, stack)
    page.get_by_role("button", name="Enable", exact=True).click()

    # Then the worker is registered next to the inbox, the browser subscribed with the
    # deployment's key, and the server acknowledged subscribePush with that subscription
    wait_until(page, lambda: push_state(page)["status"] == "on", what="the subscription acknowledged")
    expect(page.locator("#notify-banner")).to_be_hidden()
    worker = page.evaluate("""async () => {
        const r = await navigator.serviceWorker.getRegistration();
        return r && r.active ? { script: r.active.scriptURL, scope: r.scope } : null;
    }""")
    assert worker == {"script": stack.http + "sw.js", "scope": stack.http}
    assert page.evaluate("window.__push.subscribed") == [
        {"userVisibleOnly": True, "applicationServerKey": vapid_public_key(stack)}]
    ((sent, answer),) = frames.answered("subscribePush")
    assert sent["subscription"] == subscription
    assert answer == {"type": "ack", "action": "subscribePush", "requestId": sent["requestId"]}

    # When the inbox connects again (a reload)
    page.reload()
    expect(page.locator("#conn")).to_have_text("Connected")

    # Then the same subscription is sent again (no new one) and acknowledged
    wait_until(page, lambda: len(frames.answered("subscribePush")) == 2, what="a second subscribePush")
    assert [a["type"] for _, a in frames.answered("subscribePush")] == ["ack", "ack"]
    assert frames.answered("subscribePush")[1][0]["subscription"] == subscription
    assert page.evaluate("window.__push.subscribed") == []  # this document never had to subscribe

    # When they sign out
    page.get_by_role("button", name="Sign out").click()
    expect(page.locator("#signin-form")).to_be_visible()

    # Then the server is told to forget the endpoint, and the browser drops its subscription
    ((sent, answer),) = frames.answered("unsubscribePush")
    assert sent["endpoint"] == subscription["endpoint"]
    assert answer["type"] == "ack"
    assert page.evaluate("window.__push.unsubscribed") == 1
    assert page.evaluate(
        "async () => (await navigator.serviceWorker.getRegistration()).pushManager.getSubscription()") is None


def test_a_subscription_the_server_refuses_is_said_in_the_banner(
    stack: Stack, new_page: Any, push_service: PushService
) -> None:
    # Given a browser whose push endpoint is on no push service the deployment allows
    page = new_page()
    grant_notifications(page, stack)
    subscription = push_service.subscribe("bob-elsewhere")
    subscription["endpoint"] = "https://push.elsewhere.example/x"
    with_push(page, subscription)

    # When the agent signs in (notifications allowed before: the inbox subscribes by itself)
    sign_in(page, stack, "bob@example.com")

    # Then the banner says why this browser gets no chat requests, and offers to try again
    banner = page.locator("#notify-banner")
    expect(banner).to_contain_text("This browser could not be registered for chat requests:")
    expect(banner).to_contain_text("subscription.endpoint")
    expect(page.get_by_role("button", name="Try again")).to_be_visible()
    assert push_state(page)["status"] == "error"
    screenshot(page, "push-refused-banner")


def test_without_a_push_key_the_banner_says_chat_requests_need_the_open_inbox(stack: Stack, new_page: Any) -> None:
    # Given a /config.json without vapidPublicKey (a server from before Web Push)
    page = new_page()
    grant_notifications(page, stack)

    def without_key(route: Any) -> None:
        response = route.fetch()
        body = response.json()
        body.pop("vapidPublicKey", None)
        route.fulfill(response=response, json=body)

    page.route("**/config.json", without_key)

    # When the agent signs in
    sign_in(page, stack, "bob@example.com")

    # Then the banner says so instead of failing silently
    expect(page.locator("#notify-banner")).to_contain_text(
        "Chat requests reach you only while this inbox is open: the server sent no push key")
    expect(page.get_by_role("button", name="Enable", exact=True)).to_be_hidden()
    assert push_state(page)["status"] == "unsupported"


# --- the worker ---------------------------------------------------------------------------


def test_a_pushed_offer_shows_a_notification_and_its_withdrawal_replaces_it_then_closes_itself(
    stack: Stack, new_page: Any, push_service: PushService
) -> None:
    # Given an inbox that set up push by itself (notifications allowed before sign-in)
    page = new_page()
    grant_notifications(page, stack)
    with_push(page, push_service.subscribe("bob-browser"))
    sign_in(page, stack, "bob@example.com")
    wait_until(page, lambda: push_state(page)["status"] == "on", what="the subscription acknowledged")
    cdp = page.context.new_cdp_session(page)
    registrations: dict[str, dict[str, Any]] = {}
    cdp.on("ServiceWorker.workerRegistrationUpdated",
           lambda event: registrations.update({r["registrationId"]: r for r in event["registrations"]}))
    cdp.send("ServiceWorker.enable")
    registration_id = wait_until(page, lambda: next(
        (rid for rid, r in registrations.items() if r["scopeURL"] == stack.http and not r["isDeleted"]), None),
        what="the worker's registration")

    def deliver(event: dict[str, Any]) -> None:
        cdp.send("ServiceWorker.deliverPushMessage",
                 {"origin": origin(stack), "registrationId": registration_id, "data": json.dumps(event)})

    def shown(tag: str) -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = page.evaluate(NOTIFICATIONS, tag)
        return found

    # When a chatOffered push arrives
    deliver(offered("conv-push-1", "offer-push-1"))

    # Then the worker shows it: who, where, the seconds left; tagged with the conversation
    (notification,) = wait_until(page, lambda: shown("conv-push-1"), what="the offer's notification")
    assert notification["title"] == "Chat request from Nina North"
    assert notification["body"].startswith("On Pricing\n")
    left = re.search(r"(\d+) s left to accept", notification["body"])
    assert left is not None, notification["body"]
    assert ACCEPT_TIMEOUT - 5 <= int(left.group(1)) <= ACCEPT_TIMEOUT
    assert notification["requireInteraction"] is True
    assert notification["data"] == {"conversationId": "conv-push-1", "offerId": "offer-push-1"}

    # When offerWithdrawn follows for that offer
    deliver({"type": "offerWithdrawn", "conversationId": "conv-push-1", "offerId": "offer-push-1", "reason": "expired"})

    # Then it replaces the notification (same tag, a visible "taken or expired")...
    (replaced,) = wait_until(page, lambda: [n for n in shown("conv-push-1") if n["title"] != notification["title"]],
                             what="the replacement")
    assert replaced["title"] == "Chat taken or expired"
    assert replaced["body"] == "The request was not accepted in time."
    assert replaced["requireInteraction"] is False
    assert len(shown("conv-push-1")) == 1
    # ...which closes itself a few seconds later
    wait_until(page, lambda: shown("conv-push-1") == [], timeout=10, what="the replacement to close")


WORKER = """async ([script, origin, scenario]) => {
    const livechatWorker = new Function(script + "\\n;return livechatWorker;")();
    const calls = [];
    const client = (path) => ({
        url: origin + path, focused: false, visibilityState: "hidden",
        focus() { calls.push(["focus", path]); return Promise.resolve(this); },
        postMessage(message) { calls.push(["postMessage", path, message]); },
    });
    const windows = scenario === "open inbox" ? [client("/demo.html?dialog=x"), client("/inbox.html")]
        : [client("/demo.html")];
    const fake = {
        clients: {
            matchAll: async (options) => { calls.push(["matchAll", options]); return windows; },
            openWindow: async (url) => { calls.push(["openWindow", url]); return null; },
        },
        registration: {},
    };
    const notification = { data: { conversationId: "conv-1", offerId: "offer-1" }, close() { calls.push(["close"]); } };
    await livechatWorker(fake).notificationClicked(notification);
    return calls;
}"""


@pytest.mark.parametrize(("scenario", "expected"), [
    ("open inbox", [
        ["close"],
        ["matchAll", {"type": "window", "includeUncontrolled": True}],
        ["focus", "/inbox.html"],
        ["postMessage", "/inbox.html", {"type": "openOffer", "offerId": "offer-1", "conversationId": "conv-1"}],
    ]),
    ("no inbox", [
        ["close"],
        ["matchAll", {"type": "window", "includeUncontrolled": True}],
        ["openWindow", "inbox.html#offer=offer-1"],
    ]),
])
def test_a_click_on_the_notification_focuses_an_open_inbox_or_opens_one_on_the_offer(
    stack: Stack, new_page: Any, scenario: str, expected: list[Any]
) -> None:
    # Given the worker's handlers, loaded in a page with a fake `clients` (a click made by a
    # script has no user activation: the real clients.openWindow would refuse it)
    page = new_page()
    page.goto(stack.http + "index.html")
    script = page.evaluate("async () => (await fetch('sw.js')).text()")

    # When the offer's notification is clicked
    calls = page.evaluate(WORKER, [script, origin(stack), scenario])

    # Then it closes; an open inbox (never another page of the site) is focused and told
    # which offer, or a new inbox opens on it
    assert calls == expected


PUSHED = """async ([script, payloads]) => {
    const livechatWorker = new Function(script + "\\n;return livechatWorker;")();
    const shown = [];
    const fake = {
        clients: {},
        registration: {
            showNotification: async (title, options) => { shown.push({ title, body: options.body, tag: options.tag || null,
                requireInteraction: !!options.requireInteraction }); },
            getNotifications: async () => [],
        },
    };
    const worker = livechatWorker(fake);
    for (const payload of payloads) {
        await worker.pushed(payload === null ? null : { json: () => JSON.parse(payload) });
    }
    return shown;
}"""


def test_every_push_shows_a_notification_even_one_late_or_unknown(stack: Stack, new_page: Any) -> None:
    # Given the worker's push handler with a fake registration
    page = new_page()
    page.goto(stack.http + "index.html")
    script = page.evaluate("async () => (await fetch('sw.js')).text()")
    late = offered("conv-late", "offer-late", seconds=-3)
    late["visitor"] = {}
    late["page"] = {"url": "https://shop.example/"}

    # When pushes arrive that are late, of an unknown type, not JSON, or empty
    shown = page.evaluate(PUSHED, [script, [json.dumps(late), json.dumps({"type": "somethingNew"}), "not json", None]])

    # Then each showed something (a push that shows nothing gets Chrome's own notice)
    assert shown == [
        {"title": "Chat request from a visitor", "body": "On https://shop.example/\nThis request has expired.",
         "tag": "conv-late", "requireInteraction": False},
        *[{"title": "livechat", "body": "There is news in your live chat inbox.", "tag": "livechat",
           "requireInteraction": False}] * 3,
    ]


# --- inbox.html#offer=<offerId> and the worker's openOffer ----------------------------------


def test_the_inbox_opened_on_an_offer_shows_its_banner_and_accepting_it_joins_the_visitor(
    stack: Stack, new_page: Any
) -> None:
    # Given a visitor's chat request offered to Carol, whose inbox is open elsewhere
    elsewhere, visitor, inbox = new_page(), new_page(), new_page()
    sign_in(elsewhere, stack, "carol@example.com")
    request_chat(visitor, stack, "carol", "Olga", "olga@shop.example")
    offer_id = elsewhere.locator(".offer").get_attribute("data-offer")
    assert offer_id

    # When she opens inbox.html#offer=<offerId> (what a click on the notification opens) and signs in
    sign_in(inbox, stack, "carol@example.com", path=f"inbox.html#offer={offer_id}")

    # Then that offer's blue banner is up, its Accept button focused, and the address is clean
    banner = inbox.locator(f'.offer[data-offer="{offer_id}"]')
    expect(banner).to_contain_text("Olga")
    expect(banner.get_by_role("button", name="Accept")).to_be_focused()
    assert urlsplit(inbox.url).fragment == ""
    assert inbox.title() == f"(1) {TITLE}"
    screenshot(inbox, "push-inbox-opened-on-offer")

    # When she accepts there
    banner.get_by_role("button", name="Accept").click()

    # Then the visitor sees her join, and the chat is open in that inbox
    expect(visitor.locator("[data-role=joined]")).to_have_text("Carol Clark joined the chat")
    expect(inbox.locator("[data-role=visitor-details]")).to_contain_text("olga@shop.example")
    expect(banner).to_have_count(0)
    assert inbox.title() == TITLE


def test_an_offer_asked_for_that_is_no_longer_open_says_so(stack: Stack, new_page: Any) -> None:
    # Given an agent signed in
    page = new_page()
    sign_in(page, stack, "alice@example.com", path="inbox.html#offer=offer-long-gone")

    # Then an offer that is not pending (taken, expired) gets a short line, no banner
    expect(page.locator("[data-role=offer-gone]")).to_have_text(re.compile("This chat was taken or has expired."))
    expect(page.locator(".offer")).to_have_count(0)
    screenshot(page, "push-offer-gone")

    # And the worker's openOffer message (a notification clicked while the inbox is open) does the same
    page.locator("[data-role=offer-gone] button").click()
    page.evaluate("""() => navigator.serviceWorker.dispatchEvent(new MessageEvent("message",
        { data: { type: "openOffer", offerId: "another-gone-offer", conversationId: "c" } }))""")
    expect(page.locator("[data-role=offer-gone]")).to_have_count(1)


# --- alerts that last while an offer is pending ---------------------------------------------


def test_a_pending_offer_repeats_its_sound_counts_in_the_title_and_notifies_while_hidden_until_accepted(
    stack: Stack, new_page: Any, push_service: PushService
) -> None:
    # Given Dave signed in with sound on and notifications allowed
    agent, visitor = new_page(), new_page()
    for script in (AUDIO_STUB, VISIBILITY_STUB):
        agent.add_init_script(script)
    grant_notifications(agent, stack)
    with_push(agent, push_service.subscribe("dave-browser"))
    sign_in(agent, stack, "dave@example.com")
    wait_until(agent, lambda: push_state(agent)["status"] == "on", what="the subscription acknowledged")
    agent.get_by_role("button", name="Enable sound").click()
    assert agent.evaluate("window.__tones") == 2  # one beep: two tones
    assert agent.title() == TITLE

    # When a chat is offered to him and he does not answer
    request_chat(visitor, stack, "dave", "Pia", "pia@shop.example")
    banner = agent.locator(".offer")
    expect(banner).to_contain_text("Pia")
    conversation_id = banner.get_attribute("data-conversation")

    # Then the tab's title counts it, and the sound comes again every few seconds
    expect(agent).to_have_title(f"(1) {TITLE}")
    screenshot(agent, "push-offer-pending-alerts")
    wait_until(agent, lambda: agent.evaluate("window.__tones") >= 2 * 3, timeout=12, what="the sound to repeat")

    # When he switches to another tab
    agent.evaluate("window.__setHidden(true)")

    # Then a system notification for the offer shows, tagged with its conversation
    (notification,) = wait_until(agent, lambda: agent.evaluate(NOTIFICATIONS, conversation_id), what="the notification")
    assert notification["title"] == "Chat request from Pia"
    assert notification["data"]["offerId"] == banner.get_attribute("data-offer")
    assert notification["requireInteraction"] is True

    # When he accepts the offer
    agent.evaluate("window.__setHidden(false)")
    agent.get_by_role("button", name="Accept").click()
    expect(visitor.locator("[data-role=joined]")).to_have_text("Dave Dunn joined the chat")

    # Then the title is back, the notification gone, and the sound stops
    expect(agent).to_have_title(TITLE)
    wait_until(agent, lambda: agent.evaluate(NOTIFICATIONS, conversation_id) == [], what="the notification closed")
    tones = agent.evaluate("window.__tones")
    agent.wait_for_timeout(5000)
    assert agent.evaluate("window.__tones") == tones
    assert agent.evaluate("window.livechatInbox.state().alerts")["repeating"] is False
