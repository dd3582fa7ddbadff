/* livechat service worker (sw.js) — chat offers as system notifications while the inbox is
 * closed (protocol.md, second round: Web Push). Served next to inbox.html, so its default
 * scope covers the inbox; the inbox registers it once the agent allowed notifications.
 *
 * push: the body is the JSON of a server event.
 *   chatOffered    → "Chat request from <visitor>", the page and the seconds left to accept;
 *                    tag = conversationId, requireInteraction, data {conversationId, offerId}.
 *   offerWithdrawn → the notification with that tag is replaced by "Chat taken or expired",
 *                    which closes itself a few seconds later.
 *   Every push shows a notification (subscriptions are userVisibleOnly: a push that shows
 *   nothing makes Chrome show its own "updated in the background" notice).
 * notificationclick: focuses an open inbox and posts it {type: "openOffer", offerId,
 *   conversationId}, or opens inbox.html#offer=<offerId>. Nothing is accepted from the
 *   notification itself: accepting needs the signed-in inbox.
 *
 * The handlers are made by livechatWorker(scope) from the globals they use (scope.registration,
 * scope.clients), and wired to the events only inside a service worker: a test loads this
 * file in a page and calls them with fakes. */
function livechatWorker(scope) {
  // How long "Chat taken or expired" stays before it closes itself.
  const WITHDRAWN_CLOSE_MS = 4000;
  const WITHDRAWN_TITLE = "Chat taken or expired";
  const WITHDRAWN_WORDS = {
    expired: "The request was not accepted in time.",
    declined: "The request was declined.",
    visitor_left: "The visitor left before the chat started.",
  };
  const INBOX = "inbox.html";

  function visitorName(visitor) {
    const v = visitor || {};
    const name = [v.firstName, v.lastName].filter(Boolean).join(" ");
    return name || v.email || "a visitor";
  }
  function secondsLeft(expiresAt, now) {
    const at = Date.parse(expiresAt);
    return Number.isNaN(at) ? null : Math.ceil((at - now) / 1000);
  }
  function withTag(tag) {
    return scope.registration.getNotifications({ tag }).catch(() => []);
  }

  // The notification of a chatOffered event: {title, options}.
  function offered(event, now) {
    const page = event.page || {};
    const where = page.title || page.url || "";
    const left = secondsLeft(event.expiresAt, now);
    const data = { conversationId: event.conversationId, offerId: event.offerId };
    const title = "Chat request from " + visitorName(event.visitor);
    if (left !== null && left <= 0) {
      // Delivered late (push services may delay): say so, and do not ask for a click.
      return { title, options: { body: [where ? "On " + where : "", "This request has expired."].filter(Boolean).join("\n"),
        tag: event.conversationId, requireInteraction: false, renotify: false, data: Object.assign(data, { expired: true, closesItself: true }) } };
    }
    const lines = [where ? "On " + where : "", left === null ? "Open the inbox to accept." : left + " s left to accept — open the inbox."];
    return { title, options: { body: lines.filter(Boolean).join("\n"), tag: event.conversationId,
      requireInteraction: true, renotify: true, data } };
  }

  function closeLater(tag, offerId) {
    // Not inside the push event's waitUntil: the browser checks that the push showed a
    // notification when the event ends, so the replacement must still be up then. The
    // worker stays alive for far longer than this after an event.
    setTimeout(() => {
      withTag(tag).then((list) => list.forEach((n) => {
        const d = n.data || {};
        if (d.closesItself && d.offerId === offerId) n.close();
      }));
    }, WITHDRAWN_CLOSE_MS);
  }

  async function withdrawn(event) {
    const tag = event.conversationId;
    const current = await withTag(tag);
    const other = current.find((n) => (n.data || {}).offerId && n.data.offerId !== event.offerId && !n.data.closesItself);
    if (other) {
      // A newer offer of the same conversation is on screen: it stands. Shown again
      // unchanged (quietly), so that this push too showed something.
      await scope.registration.showNotification(other.title, { body: other.body, tag, requireInteraction: other.requireInteraction,
        renotify: false, silent: true, data: other.data });
      return;
    }
    await scope.registration.showNotification(WITHDRAWN_TITLE, {
      body: WITHDRAWN_WORDS[event.reason] || "This chat request is no longer open.",
      tag, requireInteraction: false, renotify: false, silent: true,
      data: { conversationId: event.conversationId, offerId: event.offerId, withdrawn: true, closesItself: true },
    });
    closeLater(tag, event.offerId);
  }

  /* pushed(data): the push event's PushMessageData (or null); resolves once the
   * notification is shown. */
  async function pushed(data) {
    let event = null;
    try { event = data ? data.json() : null; } catch (e) { event = null; }
    if (event && event.type === "chatOffered" && event.conversationId && event.offerId) {
      const { title, options } = offered(event, Date.now());
      await scope.registration.showNotification(title, options);
      if (options.data.expired) closeLater(options.tag, event.offerId);
      return;
    }
    if (event && event.type === "offerWithdrawn" && event.conversationId) {
      await withdrawn(event);
      return;
    }
    // Something this worker does not know (a newer server?): still a visible notification.
    await scope.registration.showNotification("livechat", { body: "There is news in your live chat inbox.", tag: "livechat" });
  }

  function isInbox(client) {
    try { return new URL(client.url).pathname.endsWith("/" + INBOX); } catch (e) { return false; }
  }

  /* notificationClicked(notification): resolves once an inbox is focused or opened. */
  async function notificationClicked(notification) {
    notification.close();
    const data = notification.data || {};
    const found = await scope.clients.matchAll({ type: "window", includeUncontrolled: true });
    const inboxes = found.filter(isInbox);
    const inbox = inboxes.find((c) => c.focused) || inboxes.find((c) => c.visibilityState === "visible") || inboxes[0];
    if (inbox) {
      try { await inbox.focus(); } catch (e) { /* focus may be refused; the message still goes */ }
      if (data.offerId) inbox.postMessage({ type: "openOffer", offerId: data.offerId, conversationId: data.conversationId });
      return;
    }
    await scope.clients.openWindow(data.offerId ? INBOX + "#offer=" + encodeURIComponent(data.offerId) : INBOX);
  }

  return { pushed, notificationClicked, offered, WITHDRAWN_TITLE, WITHDRAWN_CLOSE_MS };
}

if (typeof ServiceWorkerGlobalScope !== "undefined" && self instanceof ServiceWorkerGlobalScope) {
  const worker = livechatWorker(self);
  // A new version takes over at once: the notifications are its only work.
  self.addEventListener("install", () => self.skipWaiting());
  self.addEventListener("push", (event) => event.waitUntil(worker.pushed(event.data)));
  self.addEventListener("notificationclick", (event) => event.waitUntil(worker.notificationClicked(event.notification)));
}
