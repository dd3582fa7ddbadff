/* livechat visitor widget — embed with
 *   <script src="{http}/widget.js" data-dialog="sales" async></script>
 * Optional: data-websocket="wss://…" (else read from {http}/config.json, else {http}ws).
 * No build step, no dependencies. Renders in a shadow root so the host page's styles do
 * not leak in and ours do not leak out. Every text that came from anyone (dialog, agent,
 * visitor, server) is inserted with textContent, never as HTML.
 * Protocol: ../shared/spec/protocol.md and docs/protocol.md. */
(function () {
  "use strict";
  const script = document.currentScript ||
    Array.from(document.querySelectorAll("script[src]")).find((s) => /\/widget\.js(\?|$)/.test(s.src));
  if (!script || window.__livechatWidgetLoaded) return;
  window.__livechatWidgetLoaded = true;

  const HTTP = new URL("./", new URL(script.src, location.href)).href; // ends with "/"
  const DIALOG = script.dataset.dialog || "sales";
  const KEY = "livechat:" + HTTP + ":";
  const PING_MS = 4.5 * 60 * 1000; // API Gateway closes sockets idle for 10 minutes
  const MAX_BACKOFF_MS = 30000;
  const FIELD_LABELS = {
    firstName: "First name", lastName: "Last name", email: "E-mail", company: "Company",
    jobTitle: "Job title", phone: "Phone", country: "Country (2-letter code)",
  };
  const END_REASONS = {
    agent: "The agent ended the chat.",
    visitor: "You ended the chat.",
    inactivity: "The chat ended after 10 minutes without messages.",
  };
  // Friendlier words for the server's capture rules; the rules themselves come from
  // /config.json (`capture`), so the form refuses exactly what the server would.
  const FIELD_HINTS = {
    email: "Enter a valid e-mail address, like name@example.com.",
    phone: "Enter a valid phone number.",
    country: "Use a two-letter country code, like FR.",
  };

  // --- storage ------------------------------------------------------------------------
  const store = {
    get(name) { try { return JSON.parse(localStorage.getItem(KEY + name) || "null"); } catch (e) { return null; } },
    set(name, value) { try { localStorage.setItem(KEY + name, JSON.stringify(value)); } catch (e) { /* private mode */ } },
    del(name) { try { localStorage.removeItem(KEY + name); } catch (e) { /* ignore */ } },
  };
  const convKey = "conversation:" + DIALOG;

  // --- DOM helpers (textContent only) ---------------------------------------------------
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

  const STYLE = `
  :host { all: initial; }
  * { box-sizing: border-box; }
  [hidden] { display: none !important; }
  .root { font: 14px/1.4 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1f2330; }
  .launcher { position: fixed; right: 20px; bottom: 20px; z-index: 2147483000; border: 0; border-radius: 28px;
    background: #1d4ed8; color: #fff; font: 600 15px system-ui, sans-serif; padding: 14px 20px; cursor: pointer;
    box-shadow: 0 6px 20px rgba(0,0,0,.25); }
  .launcher:focus-visible, button:focus-visible, input:focus-visible, textarea:focus-visible { outline: 3px solid #f59e0b; outline-offset: 2px; }
  .panel { position: fixed; right: 20px; bottom: 84px; z-index: 2147483000; width: 360px; max-width: calc(100vw - 40px);
    height: 540px; max-height: calc(100vh - 110px); background: #fff; border-radius: 14px; display: flex; flex-direction: column;
    box-shadow: 0 12px 40px rgba(0,0,0,.28); overflow: hidden; }
  .panel[hidden] { display: none; }
  header { background: #1d4ed8; color: #fff; padding: 12px 14px; display: flex; align-items: center; gap: 10px; }
  header .title { flex: 1; font-weight: 600; font-size: 15px; }
  header .sub { display: block; font-weight: 400; font-size: 12px; opacity: .9; }
  header button { background: rgba(255,255,255,.18); color: #fff; border: 0; border-radius: 6px; padding: 6px 9px; cursor: pointer; font: inherit; font-size: 12px; }
  .avatar { width: 34px; height: 34px; border-radius: 50%; background: #93c5fd; color: #1e3a8a; display: inline-flex;
    align-items: center; justify-content: center; font-weight: 700; overflow: hidden; flex: none; }
  .avatar img { width: 100%; height: 100%; object-fit: cover; }
  .log { flex: 1; overflow-y: auto; padding: 12px; display: flex; flex-direction: column; gap: 8px; background: #f6f7fb; }
  .msg { max-width: 85%; padding: 8px 11px; border-radius: 12px; white-space: pre-wrap; word-wrap: break-word; overflow-wrap: anywhere; }
  .msg.bot, .msg.agent { background: #fff; border: 1px solid #e3e6ef; align-self: flex-start; }
  .msg.visitor { background: #1d4ed8; color: #fff; align-self: flex-end; }
  .msg.pending { opacity: .6; }
  .msg .who { display: block; font-size: 11px; font-weight: 600; opacity: .75; margin-bottom: 2px; }
  .note { align-self: center; font-size: 12px; color: #4b5563; text-align: center; padding: 2px 8px; }
  .note.status { color: #1d4ed8; font-weight: 600; }
  .choices { display: flex; flex-wrap: wrap; gap: 6px; }
  .choices button, .primary { border: 1px solid #1d4ed8; background: #fff; color: #1d4ed8; border-radius: 16px; padding: 6px 12px; cursor: pointer; font: inherit; }
  .choices button:hover, .primary:hover { background: #eff4ff; }
  button[disabled] { opacity: .5; cursor: default; }
  form.capture { background: #fff; border: 1px solid #e3e6ef; border-radius: 12px; padding: 10px; display: flex; flex-direction: column; gap: 8px; }
  form.capture label { font-size: 12px; font-weight: 600; display: flex; flex-direction: column; gap: 3px; }
  form.capture input { font: inherit; padding: 6px 8px; border: 1px solid #c7cbd6; border-radius: 6px; }
  form.capture input[aria-invalid="true"] { border-color: #b91c1c; background: #fff5f5; }
  .field-error { color: #b91c1c; font-size: 12px; font-weight: 400; }
  .form-error { color: #b91c1c; font-size: 12px; }
  .typing { font-size: 12px; color: #6b7280; padding: 0 14px 4px; min-height: 18px; background: #f6f7fb; }
  .composer { display: flex; gap: 6px; padding: 10px; border-top: 1px solid #e3e6ef; background: #fff; }
  .composer[hidden] { display: none; }
  .composer textarea { flex: 1; resize: none; font: inherit; padding: 7px 9px; border: 1px solid #c7cbd6; border-radius: 8px; height: 38px; }
  .composer button { background: #1d4ed8; color: #fff; border: 0; border-radius: 8px; padding: 0 14px; cursor: pointer; font: inherit; font-weight: 600; }
  .conn { font-size: 11px; text-align: center; background: #fef3c7; color: #92400e; padding: 3px; }
  .conn[hidden] { display: none; }
  .sr-only { position: absolute; width: 1px; height: 1px; margin: -1px; overflow: hidden; clip: rect(0 0 0 0); white-space: nowrap; border: 0; }
  `;

  // --- the view -------------------------------------------------------------------------
  const host = el("div", { id: "livechat-widget", "data-livechat": "widget" });
  const shadow = host.attachShadow({ mode: "open" });
  const announcer = el("div", { class: "sr-only", "aria-live": "polite", "aria-atomic": "true", "data-role": "announcer" });
  const launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "lc-panel", text: "Chat with us" });
  const title = el("span", { class: "title", text: "Chat with us" });
  const subtitle = el("span", { class: "sub", text: "We usually answer in a few minutes" });
  title.append(subtitle);
  const avatar = el("span", { class: "avatar", hidden: true, "aria-hidden": "true" });
  const endButton = el("button", { type: "button", hidden: true, "data-role": "end-chat", text: "End chat" });
  const closeButton = el("button", { type: "button", "aria-label": "Close chat window", text: "✕" });
  const connBar = el("div", { class: "conn", hidden: true, role: "status", text: "Reconnecting…" });
  const log = el("div", { class: "log", role: "log", "aria-live": "off", "aria-label": "Conversation", tabindex: "0" });
  const typingLine = el("div", { class: "typing", "data-role": "typing" });
  const textarea = el("textarea", { rows: "1", "aria-label": "Type your message", placeholder: "Type your message…", maxlength: "4000" });
  const sendButton = el("button", { type: "submit", text: "Send" });
  const composer = el("form", { class: "composer", hidden: true, "data-role": "composer" }, textarea, sendButton);
  const panel = el("section", { class: "panel", id: "lc-panel", role: "dialog", "aria-label": "Live chat", hidden: true },
    el("header", {}, avatar, title, endButton, closeButton), connBar, log, typingLine, composer);
  shadow.append(el("style", { text: STYLE }), el("div", { class: "root" }, launcher, panel, announcer));

  function scrollDown() { log.scrollTop = log.scrollHeight; }
  function announce(text) { if (!replaying) { announcer.textContent = ""; setTimeout(() => { announcer.textContent = text; }, 50); } }
  function note(text, cls) { const n = el("div", { class: "note " + (cls || ""), text }); log.append(n); scrollDown(); return n; }
  function bubble(kind, text, who, attrs) {
    const b = el("div", Object.assign({ class: "msg " + kind }, attrs || {}), who ? el("span", { class: "who", text: who }) : null);
    b.append(document.createTextNode(text));
    log.append(b); scrollDown();
    return b;
  }

  // --- state ----------------------------------------------------------------------------
  let dialog = null;        // public dialog tree
  let conv = store.get(convKey); // {id, lastSeq}
  let stack = [];           // dialog cursor: [{cards, i}]
  let phase = "dialog";     // dialog | routing | live | fallback | ended
  let seen = new Set();     // seqs applied to the view
  let replaying = false;    // between a resume and its ack: render, never act
  let interactive = null;   // the current question/capture element
  let agent = null;
  let ws = null, wsOpen = false, attempts = 0, pingTimer = null, reconnectTimer = null, failedOpens = 0;
  let token = null;
  const pending = new Map();   // requestId -> {resolve, reject}
  const unconfirmed = new Map(); // clientMessageId -> {text, node}
  let starting = false;
  let startId = null;        // clientConversationId of the start in flight
  let viewRestored = !conv; // false until the first resume after a page load has rebuilt the view
  const held = [];          // stored events that arrived before that

  function saveConv() { if (conv) store.set(convKey, conv); else store.del(convKey); }
  function noteSeq(seq) {
    if (typeof seq !== "number") return;
    seen.add(seq);
    while (seen.has((conv.lastSeq || 0) + 1)) conv.lastSeq = (conv.lastSeq || 0) + 1;
    saveConv();
  }

  // --- the dialog cursor ----------------------------------------------------------------
  function branchesOf(card) {
    if (card.kind === "question") return card.answers.map((a) => a.next || []);
    if (card.kind === "availability") return [card.available || [], card.unavailable || []];
    return [];
  }
  function pathTo(cards, id) {
    for (let i = 0; i < cards.length; i++) {
      if (cards[i].id === id) return [{ cards, i }];
      for (const branch of branchesOf(cards[i])) {
        const sub = pathTo(branch, id);
        if (sub) return [{ cards, i }].concat(sub);
      }
    }
    return null;
  }
  function current() {
    while (stack.length) {
      const top = stack[stack.length - 1];
      if (top.i < top.cards.length) return top.cards[top.i];
      stack.pop();
      if (stack.length) stack[stack.length - 1].i++;
    }
    return null;
  }
  function enterBranch(cards) {
    stack.push({ cards, i: 0 });
  }
  function clearInteractive() { if (interactive) { interactive.remove(); interactive = null; } }

  // Render cards from the cursor on, up to the next one that needs the visitor or the server.
  function run() {
    if (!dialog || phase !== "dialog") return;
    for (;;) {
      const card = current();
      if (!card) return;
      if (card.kind === "message") {
        bubble("bot", card.text);
        announce(card.text);
        stack[stack.length - 1].i++;
        continue;
      }
      if (interactive && interactive.dataset.card === card.id) return; // already shown
      clearInteractive();
      if (card.kind === "question") return showQuestion(card);
      if (card.kind === "capture") return showCapture(card);
      if (card.kind === "availability") return checkAvailability(card);
      if (card.kind === "live_chat") return showLiveChat(card);
      stack[stack.length - 1].i++; // unknown kind: skip
    }
  }

  function showQuestion(card) {
    const box = el("div", { "data-card": card.id });
    box.append(el("div", { class: "msg bot", text: card.text }));
    const choices = el("div", { class: "choices", role: "group", "aria-label": card.text });
    for (const a of card.answers) {
      choices.append(el("button", {
        type: "button", text: a.label,
        onclick: (ev) => { choose(card, a.label, choices); ev.preventDefault(); },
      }));
    }
    box.append(choices);
    interactive = box;
    log.append(box); scrollDown();
    announce(card.text);
    if (!replaying && panelOpen()) choices.querySelector("button").focus();
  }

  // A visitor may answer before the conversation exists (the socket is still opening).
  const startWaiters = [];
  function whenStarted() {
    if (conv) return Promise.resolve(conv);
    return new Promise((resolve, reject) => {
      startWaiters.push(resolve);
      setTimeout(() => reject(new Error("not connected yet: try again in a moment")), 15000);
    });
  }
  function started() { while (startWaiters.length) startWaiters.shift()(conv); }

  async function choose(card, label, choices) {
    choices.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      await whenStarted();
      const ack = await request({ action: "answer", conversationId: conv.id, cardId: card.id, value: label });
      if (ack.type === "error") throw new Error(ack.message);
      apply({ type: "answerRecorded", conversationId: conv.id, seq: ack.seq, cardId: card.id, value: label });
    } catch (e) {
      choices.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      if (e && e.message !== "disconnected") note("Sorry, that did not work: " + e.message);
    }
  }

  // rules: /config.json's `capture` {maxLength, fields: {name: {pattern, message}}}, or null
  // when it could not be read (the server checks again either way).
  function validateField(rules, name, value, required) {
    if (!value) return required ? "This field is required." : "";
    if (rules && value.length > rules.maxLength) return "At most " + rules.maxLength + " characters.";
    const rule = rules && rules.fields[name];
    if (rule && !new RegExp(rule.pattern).test(value)) {
      return FIELD_HINTS[name] || rule.message.charAt(0).toUpperCase() + rule.message.slice(1) + ".";
    }
    return "";
  }

  function showCapture(card) {
    const required = card.required || []; // workspace.md: listed fields are optional by default
    const form = el("form", { class: "capture", "data-card": card.id, novalidate: true, "aria-label": "Your details" });
    const inputs = {};
    for (const name of card.fields) {
      const id = "lc-" + card.id + "-" + name;
      const err = el("span", { class: "field-error", id: id + "-error", "data-error-for": name });
      const input = el("input", {
        id, name, "data-field": name, required: required.includes(name),
        type: name === "email" ? "email" : name === "phone" ? "tel" : "text",
        autocomplete: { firstName: "given-name", lastName: "family-name", email: "email", company: "organization",
          jobTitle: "organization-title", phone: "tel", country: "country" }[name] || "off",
        "aria-describedby": id + "-error",
      });
      inputs[name] = { input, err };
      form.append(el("label", { for: id }, document.createTextNode(
        (FIELD_LABELS[name] || name) + (required.includes(name) ? " *" : "")), input, err));
    }
    const formError = el("div", { class: "form-error", role: "alert" });
    const submit = el("button", { type: "submit", class: "primary", text: "Continue" });
    form.append(formError, submit);
    function setError(name, message) {
      const f = inputs[name];
      if (!f) return false;
      f.err.textContent = message;
      f.input.setAttribute("aria-invalid", message ? "true" : "false");
      return true;
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      formError.textContent = "";
      const fields = {};
      let firstBad = null;
      const rules = ((await clientConfig()) || {}).capture || null;
      for (const name of card.fields) {
        const value = inputs[name].input.value.trim();
        const problem = validateField(rules, name, value, required.includes(name));
        setError(name, problem);
        if (problem && !firstBad) firstBad = inputs[name].input;
        if (value) fields[name] = value;
      }
      if (firstBad) { firstBad.focus(); return; }
      submit.disabled = true;
      try {
        await whenStarted();
        const ack = await request({ action: "capture", conversationId: conv.id, cardId: card.id, fields });
        if (ack.type === "error") {
          const m = /^fields\.([A-Za-z0-9_]+):\s*(.*)$/.exec(ack.message || "");
          if (m && setError(m[1], m[2].charAt(0).toUpperCase() + m[2].slice(1) + ".")) inputs[m[1]].input.focus();
          else formError.textContent = ack.message || "Something went wrong.";
          submit.disabled = false;
          return;
        }
        apply({ type: "captureRecorded", conversationId: conv.id, seq: ack.seq, cardId: card.id, fields });
      } catch (e) {
        submit.disabled = false;
        formError.textContent = "Not sent: the connection dropped. Try again in a moment.";
      }
    });
    interactive = form;
    log.append(form); scrollDown();
    if (!replaying && panelOpen()) inputs[card.fields[0]].input.focus();
  }

  async function checkAvailability(card) {
    if (replaying || !conv) return; // events to come decide the branch; asked after the replay
    const marker = el("div", { "data-card": card.id, hidden: true });
    interactive = marker; log.append(marker);
    try {
      const answer = await request({ action: "availability", dialogId: DIALOG, cardId: card.live_chat_card });
      if (interactive !== marker) return;
      clearInteractive();
      enterBranch(answer.type === "availability" && answer.available ? card.available || [] : card.unavailable || []);
      run();
    } catch (e) { if (interactive === marker) clearInteractive(); }
  }

  function showLiveChat(card) {
    if (!log.querySelector('[data-said="' + CSS_escape(card.id) + '"]')) {
      bubble("bot", card.text || "Let me connect you with someone from our team.", null, { "data-said": card.id });
    }
    const marker = el("div", { "data-card": card.id, hidden: true });
    interactive = marker;
    log.append(marker);
    if (!replaying && conv) requestChat(card);
  }

  async function requestChat(card) {
    try {
      const answer = await request({ action: "requestChat", conversationId: conv.id, cardId: card.id });
      if (answer.type === "error") note("Live chat could not be requested: " + answer.message);
      else apply(answer);
    } catch (e) { /* retried after the reconnect (run() sees the same card) */ }
  }

  // --- events ---------------------------------------------------------------------------
  function setPhase(next) {
    phase = next;
    composer.hidden = next !== "live";
    endButton.hidden = !(next === "live" || next === "routing");
    if (next !== "live") typingLine.textContent = "";
  }

  function showAgent(a) {
    agent = a || { name: "Agent", avatarUrl: "" };
    avatar.replaceChildren();
    avatar.hidden = false;
    const initials = (agent.name || "?").split(/\s+/).map((w) => w.charAt(0)).join("").slice(0, 2).toUpperCase();
    const url = agent.avatarUrl || "";
    if (/^https?:\/\//i.test(url)) {
      const img = el("img", { alt: "", src: url });
      img.addEventListener("error", () => { avatar.textContent = initials; });
      avatar.append(img);
    } else {
      avatar.textContent = initials;
    }
    title.firstChild.textContent = agent.name || "Agent";
    subtitle.textContent = "is chatting with you";
  }

  function offerRestart() {
    const b = el("button", { type: "button", class: "primary", "data-role": "restart", text: "Start a new conversation",
      onclick: () => { b.remove(); restart(); } });
    log.append(b); scrollDown();
  }

  function apply(frame) {
    if (!conv || frame.conversationId !== conv.id) return;
    if (typeof frame.seq === "number") {
      if (seen.has(frame.seq)) return;
      noteSeq(frame.seq);
    }
    switch (frame.type) {
      case "answerRecorded": {
        const path = dialog && pathTo(dialog.cards, frame.cardId);
        if (!path) return;
        clearInteractive();
        const card = path[path.length - 1].cards[path[path.length - 1].i];
        // the question as it was asked, then the answer
        if (!log.querySelector('[data-asked="' + CSS_escape(card.id) + '"]')) {
          log.append(el("div", { class: "msg bot", "data-asked": card.id, text: card.text }));
        }
        bubble("visitor", frame.value);
        stack = path;
        const answer = (card.answers || []).find((a) => a.label === frame.value);
        if (answer) enterBranch(answer.next || []); else stack[stack.length - 1].i++;
        run();
        return;
      }
      case "captureRecorded": {
        const path = dialog && pathTo(dialog.cards, frame.cardId);
        if (!path) return;
        clearInteractive();
        const summary = Object.entries(frame.fields || {}).map(([k, v]) => (FIELD_LABELS[k] || k) + ": " + v).join("\n");
        bubble("visitor", summary || "(no details)");
        stack = path;
        stack[stack.length - 1].i++;
        run();
        return;
      }
      case "routing":
        clearInteractive();
        if (phase === "dialog") {
          setPhase("routing");
          note("Connecting you to someone…", "status").setAttribute("data-role", "connecting");
          announce("Connecting you to someone…");
        }
        return;
      case "agentJoined":
        clearInteractive();
        setPhase("live");
        showAgent(frame.agent);
        note((frame.agent && frame.agent.name || "An agent") + " joined the chat", "status").setAttribute("data-role", "joined");
        announce((frame.agent && frame.agent.name || "An agent") + " joined the chat");
        if (!replaying && panelOpen()) textarea.focus();
        return;
      case "fallback":
        clearInteractive();
        setPhase("fallback");
        bubble("bot", frame.message || "Nobody is available right now.", null, { "data-role": "fallback" });
        announce(frame.message || "Nobody is available right now.");
        offerRestart();
        return;
      case "message": {
        const mine = frame.from === "visitor";
        const waiting = frame.clientMessageId && unconfirmed.get(frame.clientMessageId);
        if (waiting) { unconfirmed.delete(frame.clientMessageId); waiting.node.remove(); }
        const who = mine ? null : frame.from === "agent" ? (agent && agent.name) || "Agent" : "";
        bubble(mine ? "visitor" : "agent", frame.text, who, { "data-from": frame.from, "data-seq": frame.seq });
        if (!mine) { announce((who || "Message") + ": " + frame.text); typingLine.textContent = ""; }
        return;
      }
      case "chatEnded": {
        clearInteractive();
        setPhase("ended");
        const words = END_REASONS[frame.reason] || "The chat has ended.";
        note(words, "status").setAttribute("data-role", "ended");
        announce(words);
        offerRestart();
        return;
      }
      case "typing":
        if (frame.from !== "visitor") {
          typingLine.textContent = frame.isTyping ? ((agent && agent.name) || "The agent") + " is typing…" : "";
          clearTimeout(apply.typingTimer);
          if (frame.isTyping) apply.typingTimer = setTimeout(() => { typingLine.textContent = ""; }, 8000);
        }
        return;
      default:
    }
  }
  function CSS_escape(s) { return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, "\\$&"); }

  // --- the socket -----------------------------------------------------------------------
  let counter = 0;
  function newId(prefix) {
    counter++;
    const rnd = (crypto.randomUUID ? crypto.randomUUID() : Math.random().toString(36).slice(2)).replace(/-/g, "");
    return prefix + "-" + rnd.slice(0, 16) + "-" + counter;
  }
  function send(frame) {
    if (ws && wsOpen) { ws.send(JSON.stringify(frame)); return true; }
    return false;
  }
  function request(frame) {
    return new Promise((resolve, reject) => {
      const requestId = newId("r");
      pending.set(requestId, { resolve, reject });
      if (!send(Object.assign({}, frame, { requestId }))) { pending.delete(requestId); reject(new Error("disconnected")); }
    });
  }

  async function session() {
    const old = store.get("visitorToken");
    for (const body of old ? [{ visitorToken: old }, {}] : [{}]) {
      try {
        const r = await fetch(HTTP + "visitor/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        if (!r.ok) continue;
        const data = await r.json();
        if (old && data.visitorToken && body.visitorToken === undefined) { conv = null; saveConv(); } // a new identity
        store.set("visitorToken", data.visitorToken);
        return data.visitorToken;
      } catch (e) { /* retried by connect's backoff */ }
    }
    return null;
  }

  // /config.json, read once per page (null when it cannot be read; asked again next time).
  let configLoad = null;
  function clientConfig() {
    if (!configLoad) {
      configLoad = fetch(HTTP + "config.json")
        .then((r) => (r.ok ? r.json() : null))
        .catch(() => null)
        .then((c) => { if (!c) configLoad = null; return c; });
    }
    return configLoad;
  }

  let wsUrl = null;
  async function websocketUrl() {
    if (wsUrl) return wsUrl;
    if (script.dataset.websocket) return (wsUrl = script.dataset.websocket);
    const c = await clientConfig();
    if (c && c.websocket) return (wsUrl = c.websocket);
    return (wsUrl = HTTP.replace(/^http/, "ws") + "ws");
  }

  let connecting = false;
  async function connect() {
    clearTimeout(reconnectTimer);
    if (ws || connecting) return;
    connecting = true;
    let url;
    try {
      if (!token || failedOpens >= 2) { token = await session(); failedOpens = 0; }
      if (token) url = (await websocketUrl()) + "?visitorToken=" + encodeURIComponent(token);
    } finally { connecting = false; }
    if (!url) return scheduleReconnect();
    if (ws) return;
    const socket = new WebSocket(url);
    ws = socket;
    let opened = false;
    socket.onopen = () => {
      opened = true; wsOpen = true; attempts = 0; failedOpens = 0;
      connBar.hidden = true;
      clearInterval(pingTimer);
      pingTimer = setInterval(() => send({ action: "ping", requestId: newId("ping") }), PING_MS);
      onConnected();
    };
    socket.onmessage = (ev) => {
      let frame;
      try { frame = JSON.parse(ev.data); } catch (e) { return; }
      const waiter = frame.requestId && pending.get(frame.requestId);
      if (waiter) {
        pending.delete(frame.requestId);
        if (frame.type === "message" || frame.type === "routing" || frame.type === "fallback" || frame.type === "chatEnded") apply(frame);
        waiter.resolve(frame);
        return;
      }
      if (frame.type === "error") { if (frame.code !== "BAD_REQUEST") console.warn("livechat:", frame.code, frame.message); return; }
      if (!viewRestored && typeof frame.seq === "number") { held.push(frame); return; } // applied in order after the replay
      apply(frame);
    };
    socket.onclose = () => {
      if (ws !== socket) return;
      ws = null; wsOpen = false;
      clearInterval(pingTimer);
      if (!opened) failedOpens++;
      for (const [, w] of pending) w.reject(new Error("disconnected"));
      pending.clear();
      if (panelOpen() || conv) connBar.hidden = false;
      scheduleReconnect();
    };
  }
  function scheduleReconnect() {
    clearTimeout(reconnectTimer);
    const delay = Math.min(MAX_BACKOFF_MS, 500 * Math.pow(2, attempts)) * (0.75 + Math.random() * 0.5);
    attempts++;
    reconnectTimer = setTimeout(connect, delay);
  }
  window.addEventListener("online", () => { if (!ws) { attempts = 0; connect(); } });

  async function onConnected() {
    if (conv && conv.id) {
      replaying = true;
      try {
        // After a page load the view is empty: replay everything; after a drop, the gap.
        const ack = await request({ action: "resume", conversationId: conv.id, afterSeq: viewRestored ? conv.lastSeq : 0 });
        if (ack.type === "error") {
          if (ack.code === "NOT_FOUND") { replaying = false; viewRestored = true; held.length = 0; return restart(); }
        }
      } catch (e) { replaying = false; return; } // reconnecting
      for (const f of held.splice(0).sort((a, b) => a.seq - b.seq)) apply(f);
      viewRestored = true;
      replaying = false;
      for (const [cmid, m] of unconfirmed) {
        send({ action: "sendMessage", conversationId: conv.id, text: m.text, clientMessageId: cmid, requestId: newId("r") });
      }
      settle();
    } else if (panelOpen()) {
      startConversation();
    }
  }

  // After a replay: act on the card the cursor rests on (ask availability, request chat).
  function settle() {
    if (phase !== "dialog") return;
    if (interactive && interactive.dataset.card) {
      const card = current();
      if (card && card.kind === "live_chat") requestChat(card);
      if (card && card.kind === "availability") { clearInteractive(); run(); }
    } else {
      run();
    }
  }

  async function startConversation() {
    if (conv || starting || !dialog) return;
    starting = true;
    // Kept until the answer comes: a start re-sent after a dropped connection names the
    // same conversation, so the server creates it once.
    startId = startId || newId("c");
    try {
      const page = { url: location.href, title: document.title, referrer: document.referrer };
      const answer = await request({ action: "startConversation", dialogId: DIALOG, page, clientConversationId: startId });
      if (answer.type === "conversationStarted") {
        startId = null;
        conv = { id: answer.conversationId, lastSeq: 0 };
        saveConv();
        started();
        settle();
      } else {
        note("The chat could not start: " + (answer.message || answer.type));
      }
    } catch (e) { /* started after the reconnect */ } finally { starting = false; }
  }

  function resetView() {
    log.replaceChildren();
    interactive = null; stack = dialog ? [{ cards: dialog.cards, i: 0 }] : [];
    seen = new Set(); agent = null; unconfirmed.clear();
    avatar.hidden = true; title.firstChild.textContent = "Chat with us"; subtitle.textContent = "We usually answer in a few minutes";
    setPhase("dialog");
  }

  function restart() {
    conv = null; saveConv(); viewRestored = true;
    resetView();
    run();
    if (wsOpen) startConversation();
  }

  // --- composer ---------------------------------------------------------------------------
  let typingSent = false, typingTimer = null;
  function sendTyping(on) {
    if (!conv || phase !== "live" || typingSent === on) return;
    typingSent = on;
    send({ action: "typing", conversationId: conv.id, isTyping: on, requestId: newId("t") });
  }
  textarea.addEventListener("input", () => {
    sendTyping(textarea.value.trim().length > 0);
    clearTimeout(typingTimer);
    typingTimer = setTimeout(() => sendTyping(false), 4000);
  });
  textarea.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); composer.requestSubmit(); }
  });
  composer.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = textarea.value.trim();
    if (!text || !conv || phase !== "live") return;
    textarea.value = "";
    clearTimeout(typingTimer); sendTyping(false);
    const cmid = newId("m");
    const node = bubble("visitor pending", text, null, { "data-pending": cmid });
    unconfirmed.set(cmid, { text, node });
    send({ action: "sendMessage", conversationId: conv.id, text, clientMessageId: cmid, requestId: newId("r") });
  });
  endButton.addEventListener("click", async () => {
    if (!conv) return;
    endButton.disabled = true;
    try {
      const answer = await request({ action: "endChat", conversationId: conv.id });
      if (answer.type === "ack" && phase === "routing") apply({ type: "chatEnded", conversationId: conv.id, reason: "visitor" });
    } catch (e) { /* the reconnect replays what happened */ } finally { endButton.disabled = false; }
  });

  // --- open / close -------------------------------------------------------------------------
  function panelOpen() { return !panel.hidden; }
  function setOpen(open) {
    panel.hidden = !open;
    launcher.setAttribute("aria-expanded", String(open));
    launcher.textContent = open ? "Close chat" : "Chat with us";
    store.set("open:" + DIALOG, open);
    if (open) {
      if (!conv && wsOpen) startConversation();
      if (!ws) connect();
      const focusable = interactive && interactive.querySelector("button, input");
      (focusable || (phase === "live" ? textarea : log)).focus();
    }
  }
  launcher.addEventListener("click", () => setOpen(!panelOpen()));
  closeButton.addEventListener("click", () => { setOpen(false); launcher.focus(); });
  panel.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { setOpen(false); launcher.focus(); } });

  // --- start ----------------------------------------------------------------------------------
  async function boot() {
    (document.body || document.documentElement).append(host);
    try {
      const r = await fetch(HTTP + "dialogs/" + encodeURIComponent(DIALOG));
      if (!r.ok) throw new Error("dialog " + DIALOG + ": HTTP " + r.status);
      dialog = await r.json();
    } catch (e) {
      console.warn("livechat: the dialog could not be loaded", e);
      launcher.hidden = true;
      return;
    }
    resetView();
    if (conv) { replaying = true; } // the resume after connecting rebuilds the view
    else run();
    if (store.get("open:" + DIALOG) || conv) setOpen(!!store.get("open:" + DIALOG));
    connect();
  }
  window.livechatWidget = { host, shadow, state: () => ({ conversation: conv, phase, connected: wsOpen }) };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
})();
