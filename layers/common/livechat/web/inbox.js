/* livechat agent inbox — no build step, no dependencies.
 * Sign-in: Cognito InitiateAuth (USER_PASSWORD_AUTH, refreshed with REFRESH_TOKEN_AUTH),
 * tokens in sessionStorage. WebSocket with ?token=<IdToken>. Protocol: docs/protocol.md.
 * Every text from anyone is inserted with textContent, never as HTML. */
(function () {
  "use strict";
  const $ = (id) => document.getElementById(id);
  const PING_MS = 4.5 * 60 * 1000;
  const MAX_BACKOFF_MS = 30000;
  const FIELD_LABELS = { firstName: "First name", lastName: "Last name", email: "E-mail", company: "Company",
    jobTitle: "Job title", phone: "Phone", country: "Country" };
  const END_WORDS = { agent: "You ended the chat.", visitor: "The visitor ended the chat.",
    inactivity: "The chat ended after 10 minutes without messages." };

  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c) node.append(c);
    return node;
  }
  const session = {
    get(k) { try { return JSON.parse(sessionStorage.getItem("livechat-inbox:" + k) || "null"); } catch (e) { return null; } },
    set(k, v) { sessionStorage.setItem("livechat-inbox:" + k, JSON.stringify(v)); },
    del(k) { sessionStorage.removeItem("livechat-inbox:" + k); },
  };
  function toast(text) {
    const t = $("toast");
    t.textContent = text; t.classList.add("show");
    clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.remove("show"), 4000);
  }
  function visitorName(v) {
    v = v || {};
    const name = [v.firstName, v.lastName].filter(Boolean).join(" ");
    return name || v.email || "Visitor";
  }
  function fmtTime(iso) { try { return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); } catch (e) { return ""; } }

  // --- config and Cognito ---------------------------------------------------------------
  let config = null;
  async function loadConfig() {
    const r = await fetch("config.json", { cache: "no-store" });
    if (!r.ok) throw new Error("config.json: HTTP " + r.status);
    config = await r.json();
  }
  async function cognito(target, body) {
    const c = config.cognito;
    const endpoint = c.endpoint || ("https://cognito-idp." + c.region + ".amazonaws.com/");
    const r = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService." + target },
      body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error(data.message || data.Message || ("sign-in failed (HTTP " + r.status + ")"));
      err.type = data.__type || "";
      throw err;
    }
    return data;
  }
  function jwtPayload(token) {
    try { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch (e) { return {}; }
  }
  function saveTokens(result, email, refreshToken) {
    const claims = jwtPayload(result.IdToken);
    const expiresAt = claims.exp ? claims.exp * 1000 : Date.now() + (result.ExpiresIn || 3600) * 1000;
    const tokens = { idToken: result.IdToken, refreshToken: result.RefreshToken || refreshToken, expiresAt, email };
    session.set("tokens", tokens);
    scheduleRefresh(tokens);
    return tokens;
  }
  let refreshTimer = null;
  function scheduleRefresh(tokens) {
    clearTimeout(refreshTimer);
    const inMs = Math.max(5000, tokens.expiresAt - Date.now() - 5 * 60 * 1000);
    refreshTimer = setTimeout(refresh, Math.min(inMs, 2 ** 31 - 1));
  }
  async function refresh() {
    const tokens = session.get("tokens");
    if (!tokens || !tokens.refreshToken) return;
    try {
      const data = await cognito("InitiateAuth", { AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: config.cognito.clientId,
        AuthParameters: { REFRESH_TOKEN: tokens.refreshToken } });
      saveTokens(data.AuthenticationResult, tokens.email, tokens.refreshToken);
    } catch (e) {
      if (Date.now() > tokens.expiresAt) { signOut("Your session expired: please sign in again."); return; }
      refreshTimer = setTimeout(refresh, 30000);
    }
  }

  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    // The agent's Cognito user name is their e-mail in lower case (protocol: "Names"). The pool
    // matches user names case-insensitively; lower-casing here makes any spelling work
    // everywhere, also where the pool does not (the local stack's emulator).
    const email = $("signin-email").value.trim().toLowerCase(), password = $("signin-password").value;
    $("signin-error").textContent = "";
    if (!email || !password) { $("signin-error").textContent = "Enter your e-mail and password."; return; }
    const button = ev.target.querySelector("button");
    button.disabled = true;
    try {
      const data = await cognito("InitiateAuth", { AuthFlow: "USER_PASSWORD_AUTH", ClientId: config.cognito.clientId,
        AuthParameters: { USERNAME: email, PASSWORD: password } });
      if (!data.AuthenticationResult) throw new Error("this account needs a step the inbox does not support yet (" + (data.ChallengeName || "challenge") + ")");
      saveTokens(data.AuthenticationResult, email);
      session.set("justSignedIn", true);
      $("signin-password").value = "";
      startApp();
    } catch (e) {
      $("signin-error").textContent = e.type === "NotAuthorizedException" || /password|user/i.test(e.message)
        ? "Wrong e-mail or password." : "Sign-in failed: " + e.message;
    } finally { button.disabled = false; }
  });

  function signOut(message) {
    clearTimeout(refreshTimer);
    for (const k of ["tokens", "status", "selected", "offers", "justSignedIn"]) session.del(k);
    stopSocket();
    offers.forEach((o) => o.node.remove()); offers.clear();
    chats.clear(); renderInbox(); closeChatView();
    $("app").hidden = true; $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    $("signin-email").focus();
  }
  $("signout").addEventListener("click", () => signOut(""));

  // --- notifications and sound ----------------------------------------------------------
  let audio = null;
  function beep() {
    if (!audio) return;
    const now = audio.currentTime;
    for (const [at, freq] of [[0, 880], [0.22, 1175]]) {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = freq; osc.type = "sine";
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.25, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + at); osc.stop(now + at + 0.2);
    }
  }
  $("sound-toggle").addEventListener("click", () => {
    const on = $("sound-toggle").getAttribute("aria-pressed") !== "true";
    if (on) {
      try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); audio.resume(); beep(); } catch (e) { toast("Sound is not available in this browser."); return; }
    }
    $("sound-toggle").setAttribute("aria-pressed", String(on));
    $("sound-toggle").textContent = on ? "Sound on" : "Enable sound";
    if (!on) audio = null;
  });
  function showNotifyBanner() {
    const supported = "Notification" in window;
    $("notify-banner").hidden = supported && Notification.permission === "granted";
  }
  $("notify-enable").addEventListener("click", async () => {
    if (!("Notification" in window)) { toast("This browser does not support notifications."); return; }
    const result = await Notification.requestPermission();
    if (result === "granted") { $("notify-banner").hidden = true; toast("Browser notifications are on."); }
    else toast("Notifications are blocked: allow them in the browser's site settings.");
  });
  $("notify-dismiss").addEventListener("click", () => { $("notify-banner").hidden = true; });
  function notify(title, body) {
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
    try {
      const n = new Notification(title, { body, tag: "livechat-offer" });
      n.onclick = () => { window.focus(); n.close(); };
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  }

  // --- socket ---------------------------------------------------------------------------
  let ws = null, wsOpen = false, attempts = 0, pingTimer = null, reconnectTimer = null, stopped = true, counter = 0;
  const pending = new Map();
  function newId(p) { counter++; return p + "-" + Math.random().toString(36).slice(2, 12) + "-" + counter; }
  function send(frame) { if (ws && wsOpen) { ws.send(JSON.stringify(frame)); return true; } return false; }
  function request(frame) {
    return new Promise((resolve, reject) => {
      const requestId = newId("r");
      pending.set(requestId, { resolve, reject });
      if (!send(Object.assign({}, frame, { requestId }))) { pending.delete(requestId); reject(new Error("disconnected")); }
    });
  }
  function setConn(text, ok) { $("conn").textContent = text; $("conn").classList.toggle("ok", !!ok); }
  function connect() {
    clearTimeout(reconnectTimer);
    const tokens = session.get("tokens");
    if (stopped || ws || !tokens) return;
    const socket = new WebSocket(config.websocket + "?token=" + encodeURIComponent(tokens.idToken));
    ws = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true; wsOpen = true; attempts = 0;
      setConn("Connected", true);
      clearInterval(pingTimer);
      pingTimer = setInterval(() => send({ action: "ping", requestId: newId("ping") }), PING_MS);
      onConnected();
    };
    socket.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      const waiter = frame.requestId && pending.get(frame.requestId);
      if (waiter) { pending.delete(frame.requestId); if (frame.type === "message" || frame.type === "chatEnded") onEvent(frame); waiter.resolve(frame); return; }
      onEvent(frame);
    };
    socket.onclose = async () => {
      if (ws !== socket) return;
      ws = null; wsOpen = false; clearInterval(pingTimer);
      for (const [, w] of pending) w.reject(new Error("disconnected"));
      pending.clear();
      if (stopped) return;
      setConn("Reconnecting…");
      if (!opened && Date.now() > (tokens.expiresAt || 0) - 60000) await refresh(); // refused: maybe an expired token
      const delay = Math.min(MAX_BACKOFF_MS, 500 * 2 ** attempts) * (0.75 + Math.random() * 0.5);
      attempts++;
      reconnectTimer = setTimeout(connect, delay);
    };
  }
  function stopSocket() {
    stopped = true;
    clearTimeout(reconnectTimer); clearInterval(pingTimer);
    if (ws) { const s = ws; ws = null; wsOpen = false; s.close(); }
  }
  window.addEventListener("online", () => { if (!ws && !stopped) { attempts = 0; connect(); } });

  async function onConnected() {
    try {
      // The status lives on the server and persists across connections: only a change the
      // agent made while disconnected is sent; otherwise the inbox answer tells us.
      const pending = session.get("statusPending");
      if (pending) {
        await request({ action: "setStatus", status: pending });
        session.set("statusPending", null);
      }
      const inbox = await request({ action: "listInbox" });
      if (inbox.type === "inbox") {
        if (inbox.status) { session.set("status", inbox.status); showStatus(inbox.status); }
        const open = new Set(inbox.chats.map((c) => c.conversationId));
        for (const c of inbox.chats) {
          const known = chats.get(c.conversationId);
          chats.set(c.conversationId, Object.assign(known || { lastSeq: 0, items: null }, c));
        }
        for (const id of Array.from(chats.keys())) if (!open.has(id) && id !== selected) chats.delete(id);
        renderInbox();
      }
      // What happened while we were away: the open chat from its transcript, the others by resume.
      const want = selected || session.get("selected");
      if (want && chats.has(want)) await openChat(want, true);
      for (const [id, chat] of chats) {
        if (id !== selected && chat.items) await request({ action: "resume", conversationId: id, afterSeq: chat.lastSeq });
      }
      if (!$("view-conversations").hidden) refreshConversations();
    } catch (e) { /* reconnecting */ }
  }

  // --- status -----------------------------------------------------------------------------
  function showStatus(status) {
    $("status-toggle").checked = status === "available";
    $("status-label").textContent = status === "available" ? "Available" : "Away";
  }
  $("status-toggle").addEventListener("change", async () => {
    const status = $("status-toggle").checked ? "available" : "away";
    const before = session.get("status") || "available";
    session.set("status", status); showStatus(status);
    try {
      // Answered by ack once stored (the other tabs get a `status` frame); an error leaves
      // the stored status as it was, so the toggle goes back.
      const answer = await request({ action: "setStatus", status });
      if (answer.type !== "ack") { session.set("status", before); showStatus(before); }
    } catch (e) {
      session.set("statusPending", status); // sent on reconnect
    }
  });

  // --- offers: the blue banner --------------------------------------------------------------
  const offers = new Map(); // offerId -> {frame, node, countdown, receivedAt}
  function saveOffers() { session.set("offers", Array.from(offers.values()).map((o) => o.frame)); }
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
    const offer = { frame, node, countdown, receivedAt: Date.now() };
    offers.set(frame.offerId, offer);
    $("offers").append(node);
    tick();
    saveOffers();
    if (!restored) {
      beep();
      notify("New live chat request", visitorName(v) + (details ? " — " + details : ""));
    }
  }
  function removeOffer(offerId) {
    const o = offers.get(offerId);
    if (!o) return;
    o.node.remove(); offers.delete(offerId); saveOffers();
  }
  function tick() {
    for (const [id, o] of offers) {
      const byClock = Date.parse(o.frame.expiresAt) - Date.now();
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
      const answer = await request({ action: "accept", conversationId: frame.conversationId, offerId: frame.offerId });
      removeOffer(frame.offerId);
      if (answer.type === "chatAccepted") {
        chats.set(frame.conversationId, { conversationId: frame.conversationId, visitor: answer.visitor, page: answer.page,
          acceptedAt: new Date().toISOString(), lastActivityAt: new Date().toISOString(), lastSeq: 0, items: null });
        const chat = chats.get(frame.conversationId);
        setTranscript(chat, answer.transcript || []);
        renderInbox();
        showTab("inbox");
        openChat(frame.conversationId, false);
      } else if (answer.type === "error" && answer.code === "OFFER_EXPIRED") {
        toast("That chat offer has expired.");
      } else if (answer.type === "error") {
        toast("Could not accept: " + answer.message);
      }
    } catch (e) {
      if (o) o.node.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  }
  async function decline(frame) {
    removeOffer(frame.offerId);
    try { await request({ action: "decline", conversationId: frame.conversationId, offerId: frame.offerId }); } catch (e) { /* expires anyway */ }
  }

  // --- inbox and chat view ------------------------------------------------------------------
  const chats = new Map(); // conversationId -> {visitor, page, lastActivityAt, lastSeq, items: [transcript items] | null}
  let selected = null;
  function setTranscript(chat, items) {
    chat.items = items.slice().sort((a, b) => a.seq - b.seq);
    chat.lastSeq = chat.items.length ? chat.items[chat.items.length - 1].seq : 0;
  }
  function renderInbox() {
    const list = $("inbox-list");
    list.replaceChildren();
    const sorted = Array.from(chats.values()).sort((a, b) => String(b.lastActivityAt || "").localeCompare(String(a.lastActivityAt || "")));
    for (const c of sorted) {
      const b = el("button", { type: "button", "data-conversation": c.conversationId, "aria-current": c.conversationId === selected ? "true" : "false",
        onclick: () => openChat(c.conversationId, false) },
        el("span", { class: "line1", text: visitorName(c.visitor) + (c.unread ? " •" : "") }),
        el("span", { class: "line2", text: [(c.visitor || {}).email, c.lastActivityAt ? "last activity " + fmtTime(c.lastActivityAt) : ""].filter(Boolean).join(" — ") }));
      list.append(el("li", {}, b));
    }
    $("inbox-empty").hidden = chats.size > 0;
    $("inbox-count").textContent = String(chats.size);
  }
  function closeChatView() { selected = null; $("chat-pane").hidden = true; $("chat-empty").hidden = false; }

  function detailsBox(visitor, page) {
    const dl = el("dl");
    for (const [k, v] of Object.entries(visitor || {})) {
      if (v === "" || v === null || v === undefined) continue;
      dl.append(el("dt", { text: FIELD_LABELS[k] || k }), el("dd", { text: String(v) }));
    }
    if (page && page.url) dl.append(el("dt", { text: "Page" }), el("dd", { text: (page.title ? page.title + " — " : "") + page.url }));
    if (page && page.referrer) dl.append(el("dt", { text: "Referrer" }), el("dd", { text: page.referrer }));
    const utm = page && page.utm;
    if (utm && (utm.source || utm.medium || utm.campaign)) {
      dl.append(el("dt", { text: "UTM" }), el("dd", { text: [utm.source, utm.medium, utm.campaign].filter(Boolean).join(" / ") }));
    }
    return el("div", { class: "details", "data-role": "visitor-details" }, el("h3", { text: "Visitor" }), dl);
  }
  function itemNode(item, agentName) {
    if (item.kind === "message") {
      const who = item.from === "agent" ? (agentName || "Agent") : item.from === "visitor" ? "Visitor" : "System";
      return el("div", { class: "msg " + (item.from === "agent" ? "agent" : "visitor"), "data-seq": item.seq, "data-from": item.from },
        el("span", { class: "who", text: who + " · " + fmtTime(item.at) }), document.createTextNode(item.text || ""));
    }
    if (item.kind === "answer") return el("div", { class: "dialog-item", "data-seq": item.seq, text: "Answered “" + (item.value || "") + "” (" + (item.cardId || "") + ")" });
    if (item.kind === "capture") {
      const fields = Object.entries(item.fields || {}).map(([k, v]) => (FIELD_LABELS[k] || k) + ": " + v).join(", ");
      return el("div", { class: "dialog-item", "data-seq": item.seq, text: "Shared details — " + fields });
    }
    return el("div", { class: "note", "data-seq": item.seq, text: (item.text || item.event || "") + (item.at ? " · " + fmtTime(item.at) : "") });
  }
  function renderLog(log, visitor, page, items, agentName) {
    log.replaceChildren(detailsBox(visitor, page));
    // Dialog answers and captured fields first, then the chat itself.
    const dialogItems = items.filter((i) => i.kind === "answer" || i.kind === "capture");
    const rest = items.filter((i) => i.kind !== "answer" && i.kind !== "capture");
    for (const i of dialogItems.concat(rest)) log.append(itemNode(i, agentName));
    log.scrollTop = log.scrollHeight;
  }
  async function openChat(id, force) {
    const chat = chats.get(id);
    if (!chat) return;
    selected = id; session.set("selected", id);
    chat.unread = false;
    renderInbox();
    $("chat-empty").hidden = true; $("chat-pane").hidden = false;
    $("chat-title").textContent = visitorName(chat.visitor);
    $("chat-sub").textContent = [(chat.visitor || {}).email, (chat.page || {}).url].filter(Boolean).join(" — ");
    $("chat-typing").textContent = "";
    $("composer").hidden = false; $("end-chat").hidden = false;
    if (!chat.items || force) {
      try {
        const t = await request({ action: "getTranscript", conversationId: id });
        if (t.type === "transcript") {
          chat.visitor = t.visitor; chat.page = t.page;
          setTranscript(chat, t.events || []);
          if (t.status !== "active") { chatClosed(id); }
        }
      } catch (e) { return; }
    }
    if (selected === id) renderLog($("chat-log"), chat.visitor, chat.page, chat.items || [], myName());
    if (selected === id) $("composer-text").focus();
  }
  function myName() { const t = session.get("tokens"); return (t && t.email) || "You"; }
  function chatClosed(id) {
    if (selected === id) { $("composer").hidden = true; $("end-chat").hidden = true; }
    chats.delete(id);
    renderInbox();
  }
  function frameToItem(frame) {
    if (frame.type === "message") return { seq: frame.seq, kind: "message", from: frame.from, at: frame.at, text: frame.text, clientMessageId: frame.clientMessageId };
    if (frame.type === "chatEnded") return { seq: frame.seq, kind: "system", from: "system", at: frame.at, text: END_WORDS[frame.reason] || "The chat ended." };
    if (frame.type === "answerRecorded") return { seq: frame.seq, kind: "answer", from: "visitor", at: frame.at, cardId: frame.cardId, value: frame.value };
    if (frame.type === "captureRecorded") return { seq: frame.seq, kind: "capture", from: "visitor", at: frame.at, cardId: frame.cardId, fields: frame.fields };
    return { seq: frame.seq, kind: "system", from: "system", at: frame.at, text: frame.type };
  }
  function addToChat(frame) {
    const chat = chats.get(frame.conversationId);
    if (!chat) return;
    if (typeof frame.seq === "number") {
      if (chat.items && chat.items.some((i) => i.seq === frame.seq)) return;
      if (chat.items) { chat.items.push(frameToItem(frame)); chat.items.sort((a, b) => a.seq - b.seq); }
      chat.lastSeq = Math.max(chat.lastSeq || 0, frame.seq);
    }
    chat.lastActivityAt = frame.at || new Date().toISOString();
    if (frame.type === "message" && frame.clientMessageId) {
      const p = document.querySelector('[data-pending="' + CSS.escape(frame.clientMessageId) + '"]');
      if (p) p.remove();
    }
    if (selected === frame.conversationId) {
      const log = $("chat-log");
      if (!log.querySelector('[data-seq="' + frame.seq + '"]')) { log.append(itemNode(frameToItem(frame), myName())); log.scrollTop = log.scrollHeight; }
      if (frame.from === "visitor") $("chat-typing").textContent = "";
    } else if (frame.type === "message" && frame.from === "visitor") {
      chat.unread = true;
      beep();
      notify("New message from " + visitorName(chat.visitor), frame.text);
    }
    renderInbox();
  }

  function onEvent(frame) {
    switch (frame.type) {
      case "chatOffered": showOffer(frame, false); break;
      case "offerWithdrawn":
        removeOffer(frame.offerId);
        if (frame.reason === "expired") toast("A chat offer expired.");
        else if (frame.reason === "visitor_left") toast("The visitor left before the chat started.");
        break;
      case "status": showStatus(frame.status); session.set("status", frame.status); break;
      case "message": addToChat(frame); break;
      case "chatEnded":
        addToChat(frame);
        chatClosed(frame.conversationId);
        break;
      case "typing":
        if (frame.conversationId === selected && frame.from === "visitor") {
          $("chat-typing").textContent = frame.isTyping ? "The visitor is typing…" : "";
          clearTimeout(onEvent.typingTimer);
          if (frame.isTyping) onEvent.typingTimer = setTimeout(() => { $("chat-typing").textContent = ""; }, 8000);
        }
        break;
      case "error": if (frame.code !== "BAD_REQUEST") toast(frame.message || frame.code); break;
      default:
        if (typeof frame.seq === "number" && frame.conversationId) addToChat(frame);
    }
    if (["chatOffered", "offerWithdrawn", "chatEnded", "message"].includes(frame.type) && !$("view-conversations").hidden) {
      refreshConversationsSoon();
    }
  }

  // composer
  let typingOn = false, typingTimer = null;
  function sendTyping(on) {
    if (!selected || typingOn === on) return;
    typingOn = on;
    send({ action: "typing", conversationId: selected, isTyping: on, requestId: newId("t") });
  }
  $("composer-text").addEventListener("input", () => {
    sendTyping($("composer-text").value.trim().length > 0);
    clearTimeout(typingTimer); typingTimer = setTimeout(() => sendTyping(false), 4000);
  });
  $("composer-text").addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); $("composer").requestSubmit(); }
  });
  const unsent = new Map(); // clientMessageId -> {conversationId, text}
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("composer-text").value.trim();
    if (!text || !selected) return;
    $("composer-text").value = "";
    clearTimeout(typingTimer); sendTyping(false);
    const cmid = newId("m");
    const node = el("div", { class: "msg agent pending", "data-pending": cmid }, document.createTextNode(text));
    $("chat-log").append(node); $("chat-log").scrollTop = $("chat-log").scrollHeight;
    unsent.set(cmid, { conversationId: selected, text });
    trySend(cmid);
  });
  async function trySend(cmid) {
    const m = unsent.get(cmid);
    if (!m) return;
    try {
      const answer = await request({ action: "sendMessage", conversationId: m.conversationId, text: m.text, clientMessageId: cmid });
      unsent.delete(cmid);
      if (answer.type === "error") { toast("Not sent: " + answer.message); const p = document.querySelector('[data-pending="' + CSS.escape(cmid) + '"]'); if (p) p.remove(); }
    } catch (e) {
      setTimeout(() => trySend(cmid), 1000); // same clientMessageId: stored once
    }
  }
  $("end-chat").addEventListener("click", async () => {
    if (!selected) return;
    const id = selected;
    try {
      const answer = await request({ action: "endChat", conversationId: id });
      if (answer.type === "error") toast("Could not end the chat: " + answer.message);
    } catch (e) { toast("Not connected: try again in a moment."); }
  });

  // --- conversations tab ----------------------------------------------------------------------
  const allConversations = new Map();
  let cursor = null, refreshSoonTimer = null, selectedTranscript = null;
  function refreshConversationsSoon() { clearTimeout(refreshSoonTimer); refreshSoonTimer = setTimeout(refreshConversations, 300); }
  async function refreshConversations(more) {
    try {
      const answer = await request(more && cursor ? { action: "listConversations", cursor } : { action: "listConversations" });
      if (answer.type !== "conversations") return;
      if (more || !allConversations.size) cursor = answer.cursor || null;
      for (const item of answer.items) allConversations.set(item.conversationId, item);
      renderConversations();
      if (selectedTranscript && !more) showTranscript(selectedTranscript, true);
    } catch (e) { /* reconnecting */ }
  }
  function renderConversations() {
    const list = $("conversation-list");
    list.replaceChildren();
    const sorted = Array.from(allConversations.values()).sort((a, b) => String(b.lastActivityAt).localeCompare(String(a.lastActivityAt)));
    for (const c of sorted) {
      list.append(el("li", {}, el("button", { type: "button", "data-conversation": c.conversationId,
        "aria-current": c.conversationId === selectedTranscript ? "true" : "false", onclick: () => showTranscript(c.conversationId, false) },
        el("span", { class: "line1" }, el("span", { class: "badge " + c.kind, text: c.kind }), el("span", { class: "badge " + c.status, text: c.status }),
          document.createTextNode(visitorName(c.visitor))),
        el("span", { class: "line2", text: [c.agent ? "agent: " + (c.agent.name || c.agent.email) : "no agent", "last activity " + fmtTime(c.lastActivityAt)].join(" — ") }))));
    }
    $("more").hidden = !cursor;
  }
  $("more").addEventListener("click", () => refreshConversations(true));
  async function showTranscript(id, quiet) {
    selectedTranscript = id;
    if (!quiet) renderConversations();
    try {
      const t = await request({ action: "getTranscript", conversationId: id });
      if (t.type !== "transcript" || selectedTranscript !== id) return;
      $("transcript-empty").hidden = true; $("transcript-pane").hidden = false;
      $("transcript-title").textContent = visitorName(t.visitor);
      $("transcript-sub").textContent = "Status: " + t.status + (t.agent ? " — agent: " + t.agent.name : "");
      renderLog($("transcript-log"), t.visitor, t.page, t.events || [], t.agent && t.agent.name);
    } catch (e) { /* reconnecting */ }
  }
  let conversationsTimer = null;
  function showTab(name) {
    const inbox = name === "inbox";
    $("tab-inbox").setAttribute("aria-selected", String(inbox));
    $("tab-conversations").setAttribute("aria-selected", String(!inbox));
    $("view-inbox").hidden = !inbox; $("view-conversations").hidden = inbox;
    clearInterval(conversationsTimer);
    if (!inbox) { refreshConversations(); conversationsTimer = setInterval(refreshConversations, 5000); }
  }
  $("tab-inbox").addEventListener("click", () => showTab("inbox"));
  $("tab-conversations").addEventListener("click", () => showTab("conversations"));

  // --- start ------------------------------------------------------------------------------------
  function startApp() {
    const tokens = session.get("tokens");
    $("signin").hidden = true; $("app").hidden = false;
    $("me").textContent = tokens.email;
    showStatus(session.get("status") || "available");
    showNotifyBanner();
    for (const frame of session.get("offers") || []) if (Date.parse(frame.expiresAt) > Date.now()) showOffer(frame, true);
    scheduleRefresh(tokens);
    stopped = false;
    setConn("Connecting…");
    connect();
  }
  async function boot() {
    try { await loadConfig(); } catch (e) { $("signin").hidden = false; $("signin-error").textContent = "The inbox could not load its configuration."; return; }
    const tokens = session.get("tokens");
    if (tokens && tokens.expiresAt > Date.now() + 30000) startApp();
    else if (tokens && tokens.refreshToken) { await refresh(); if (session.get("tokens") && session.get("tokens").expiresAt > Date.now()) startApp(); else signOut(""); }
    else { $("signin").hidden = false; $("signin-email").focus(); }
  }
  window.livechatInbox = { state: () => ({ connected: wsOpen, offers: offers.size, chats: chats.size, selected }) };
  boot();
})();
