/* livechat.widget.dialog(w) — walking the dialog: a cursor into the card tree, and the
 * cards shown from it (messages, questions, availability checks, the live chat request;
 * the capture form is widget/capture.js). Docs: workspace.md. */
livechat.widget.dialog = function (w) {
  const { el, cssEscape } = livechat.dom;
  const s = w.state, v = w.view;

  // --- the cursor: s.stack, a path of [{cards, i}] ----------------------------------------
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
    while (s.stack.length) {
      const top = s.stack[s.stack.length - 1];
      if (top.i < top.cards.length) return top.cards[top.i];
      s.stack.pop();
      if (s.stack.length) s.stack[s.stack.length - 1].i++;
    }
    return null;
  }
  function enterBranch(cards) {
    s.stack.push({ cards, i: 0 });
  }
  function clearInteractive() { if (s.interactive) { s.interactive.remove(); s.interactive = null; } }

  // Render cards from the cursor on, up to the next one that needs the visitor or the server.
  function run() {
    if (!s.dialog || s.phase !== "dialog") return;
    for (;;) {
      const card = current();
      if (!card) return;
      if (card.kind === "message") {
        w.bubble("bot", card.text);
        w.announce(card.text);
        s.stack[s.stack.length - 1].i++;
        continue;
      }
      if (s.interactive && s.interactive.dataset.card === card.id) return; // already shown
      clearInteractive();
      if (card.kind === "question") return showQuestion(card);
      if (card.kind === "capture") return w.showCapture(card);
      if (card.kind === "availability") return checkAvailability(card);
      if (card.kind === "live_chat") return showLiveChat(card);
      s.stack[s.stack.length - 1].i++; // unknown kind: skip
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
    s.interactive = box;
    v.log.append(box); w.scrollDown();
    w.announce(card.text);
    if (!s.replaying && w.panelOpen()) choices.querySelector("button").focus();
  }

  // A visitor may answer before the conversation exists (the socket is still opening).
  const startWaiters = [];
  function whenStarted() {
    if (s.conv) return Promise.resolve(s.conv);
    return new Promise((resolve, reject) => {
      startWaiters.push(resolve);
      setTimeout(() => reject(new Error(livechat.widget.texts.t("dialog.notConnected"))), 15000);
    });
  }
  function started() { while (startWaiters.length) startWaiters.shift()(s.conv); }

  async function choose(card, label, choices) {
    choices.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      await whenStarted();
      const ack = await w.socket.request({ action: "answer", conversationId: s.conv.id, cardId: card.id, value: label });
      if (ack.type === "error") throw new Error(ack.message);
      w.apply({ type: "answerRecorded", conversationId: s.conv.id, seq: ack.seq, cardId: card.id, value: label });
    } catch (e) {
      choices.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      if (e && e.message !== "disconnected") w.note(livechat.widget.texts.t("dialog.failed", { why: e.message }));
    }
  }

  async function checkAvailability(card) {
    if (s.replaying || !s.conv) return; // events to come decide the branch; asked after the replay
    const marker = el("div", { "data-card": card.id, hidden: true });
    s.interactive = marker; v.log.append(marker);
    try {
      const answer = await w.socket.request({ action: "availability", dialogId: w.settings.DIALOG, cardId: card.live_chat_card });
      if (s.interactive !== marker) return;
      clearInteractive();
      enterBranch(answer.type === "availability" && answer.available ? card.available || [] : card.unavailable || []);
      run();
    } catch (e) { if (s.interactive === marker) clearInteractive(); }
  }

  function showLiveChat(card) {
    if (!v.log.querySelector('[data-said="' + cssEscape(card.id) + '"]')) {
      w.bubble("bot", card.text || livechat.widget.texts.t("live.intro"), null, { "data-said": card.id });
    }
    const marker = el("div", { "data-card": card.id, hidden: true });
    s.interactive = marker;
    v.log.append(marker);
    if (!s.replaying && s.conv) requestChat(card);
  }

  async function requestChat(card) {
    try {
      const answer = await w.socket.request({ action: "requestChat", conversationId: s.conv.id, cardId: card.id });
      if (answer.type === "error") w.note(livechat.widget.texts.t("live.requestFailed", { why: answer.message }));
      else w.apply(answer);
    } catch (e) { /* retried after the reconnect (run() sees the same card) */ }
  }

  Object.assign(w, { pathTo, current, enterBranch, clearInteractive, run, whenStarted, started, requestChat });
};
