/* livechat.inbox.offers(app) — chat offers: the blue banners at the top, with the visitor's
 * details and a countdown, Accept and Decline. Kept in sessionStorage so that a reload shows
 * them at once; on every (re)connection the server's `listOffers` answer decides which are
 * still pending (syncOffers), and its serverTime corrects the countdown for a skewed clock.
 * One offer can be asked for (openOffer: inbox.html#offer=<offerId>, or a notification clicked
 * while this tab is open): after the next listOffers its banner gets the focus, or a short
 * line says that the chat was taken or has expired. Every change of the list goes to
 * app.offersChanged (the alerts that last while an offer is pending). */
livechat.inbox.offers = function (app) {
  const { el, byId: $ } = livechat.dom;
  const { visitorName } = livechat.inbox.texts;
  const session = app.session, s = app.state;
  const offers = new Map(); // offerId -> {frame, node, countdown, addedAt}
  const gone = new Set(); // offers taken down here: a list read before they ended does not bring them back
  // The server's clock minus ours (ms), from the last listOffers: expiresAt - skew is the
  // deadline by our clock.
  let skew = Number(session.get("clockSkew")) || 0;

  let wanted = null; // the offerId asked for, shown after the next listOffers

  function saveOffers() {
    const frames = Array.from(offers.values()).map((o) => o.frame);
    session.set("offers", frames);
    app.offersChanged(frames);
  }
  function showOffer(frame, restored) {
    if (offers.has(frame.offerId)) return;
    const v = frame.visitor || {};
    const page = frame.page || {};
    const countdown = el("span", { class: "countdown", "data-role": "countdown", "aria-label": "time left to accept" });
    const details = [v.email, v.company, v.jobTitle, v.country].filter(Boolean).join(" · ");
    const where = page.title || page.url || "";
    const node = el("div", { class: "offer", role: "alert", "data-offer": frame.offerId, "data-conversation": frame.conversationId },
      el("div", { class: "what" },
        el("strong", { text: "New live chat: " + visitorName(v) }),
        el("div", { text: [details, where ? "on " + where : ""].filter(Boolean).join(" — ") })),
      countdown,
      el("button", { type: "button", class: "accept", text: "Accept", onclick: () => accept(frame) }),
      el("button", { type: "button", class: "decline", text: "Decline", onclick: () => decline(frame) }));
    const offer = { frame, node, countdown, addedAt: Date.now() };
    offers.set(frame.offerId, offer);
    $("offers").append(node);
    tick();
    saveOffers();
    if (!restored) app.beep();
  }
  function removeOffer(offerId) {
    const o = offers.get(offerId);
    if (!o) return;
    o.node.remove(); offers.delete(offerId); gone.add(offerId); saveOffers();
  }
  // The answer to listOffers, requested at `sentAt` (our clock): show exactly the offers it
  // lists. A banner that came after the request (a chatOffered the list may predate) stays;
  // an offer taken down meanwhile (withdrawn, accepted) is not shown again.
  function syncOffers(answer, sentAt) {
    const receivedAt = Date.now();
    const serverTime = Date.parse(answer.serverTime);
    // The server read its clock between our request and its answer: assume half way.
    if (!Number.isNaN(serverTime)) { skew = serverTime - (sentAt + receivedAt) / 2; session.set("clockSkew", skew); }
    const items = Array.isArray(answer.items) ? answer.items : [];
    const listed = new Set(items.map((frame) => frame.offerId));
    for (const [id, o] of Array.from(offers)) if (!listed.has(id) && o.addedAt <= sentAt) removeOffer(id);
    for (const frame of items) if (!gone.has(frame.offerId)) showOffer(frame, false);
    tick();
  }
  // Removes the banners, keeps what sessionStorage holds (sign-out clears that).
  function clearOffers() {
    offers.forEach((o) => o.node.remove()); offers.clear(); wanted = null;
    document.querySelectorAll("[data-role=offer-gone]").forEach((n) => n.remove());
    app.offersChanged([]);
  }

  // --- one offer asked for ------------------------------------------------------------------
  function openOffer(offerId) {
    wanted = offerId;
    if (app.socket.isOpen()) listAndShow(); // otherwise the next connection's listOffers
  }
  async function listAndShow() {
    const sentAt = Date.now();
    try {
      const answer = await app.socket.request({ action: "listOffers" });
      if (answer.type === "offers") { syncOffers(answer, sentAt); showWanted(); }
    } catch (e) { /* disconnected: the next connection lists them */ }
  }
  // After a listOffers answer (connection.js, listAndShow): the offer asked for, if any.
  function showWanted() {
    if (!wanted) return;
    const id = wanted;
    wanted = null;
    if (/^#offer=/.test(location.hash)) history.replaceState(null, "", location.pathname + location.search);
    const o = offers.get(id);
    if (o) {
      o.node.scrollIntoView({ block: "nearest" });
      const button = o.node.querySelector(".accept");
      if (button && !button.disabled) button.focus();
      return;
    }
    document.querySelectorAll("[data-role=offer-gone]").forEach((n) => n.remove());
    const line = el("div", { class: "notify-banner", role: "status", "data-role": "offer-gone" },
      el("span", { text: "This chat was taken or has expired." }),
      el("button", { type: "button", "aria-label": "Dismiss", text: "✕", onclick: () => line.remove() }));
    $("offers").append(line);
    setTimeout(() => line.remove(), 15000);
  }
  function offerFromHash() {
    const m = /^#offer=([^&]+)/.exec(location.hash);
    if (m) { try { openOffer(decodeURIComponent(m[1])); } catch (e) { /* not an id */ } }
  }
  window.addEventListener("hashchange", offerFromHash);
  offerFromHash();
  function tick() {
    for (const [id, o] of offers) {
      const byClock = Date.parse(o.frame.expiresAt) - skew - Date.now();
      const left = Math.ceil(byClock / 1000);
      o.countdown.textContent = Math.max(0, left) + " s";
      if (byClock < -5000) removeOffer(id); // the withdrawal should have come: never leave a dead banner
    }
  }
  setInterval(tick, 250);

  async function accept(frame) {
    const o = offers.get(frame.offerId);
    if (o) o.node.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      const answer = await app.socket.request({ action: "accept", conversationId: frame.conversationId, offerId: frame.offerId });
      removeOffer(frame.offerId);
      if (answer.type === "chatAccepted") {
        s.chats.set(frame.conversationId, { conversationId: frame.conversationId, visitor: answer.visitor, page: answer.page,
          acceptedAt: new Date().toISOString(), lastActivityAt: new Date().toISOString(), lastSeq: 0, items: null });
        const chat = s.chats.get(frame.conversationId);
        app.setTranscript(chat, answer.transcript || []);
        app.renderInbox();
        app.showTab("inbox");
        app.openChat(frame.conversationId, false);
      } else if (answer.type === "error" && answer.code === "OFFER_EXPIRED") {
        app.toast("That chat offer has expired.");
      } else if (answer.type === "error") {
        app.toast("Could not accept: " + answer.message);
      }
    } catch (e) {
      if (o) o.node.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  }
  async function decline(frame) {
    removeOffer(frame.offerId);
    try { await app.socket.request({ action: "decline", conversationId: frame.conversationId, offerId: frame.offerId }); } catch (e) { /* expires anyway */ }
  }

  Object.assign(app, { showOffer, removeOffer, clearOffers, syncOffers, openOffer, showWanted, offerCount: () => offers.size });
};
