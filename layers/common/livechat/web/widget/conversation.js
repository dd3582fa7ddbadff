/* livechat.widget.conversation(w) — the conversation's life: started when the panel first
 * opens (once, even across a dropped connection), resumed after each (re)connection by
 * replaying what the view misses, restarted from the first card. */
livechat.widget.conversation = function (w) {
  const { newId } = livechat.ids;
  const s = w.state, v = w.view;

  async function onConnected() {
    if (s.conv && s.conv.id) {
      s.replaying = true;
      try {
        // After a page load the view is empty: replay everything; after a drop, the gap.
        const ack = await w.socket.request({ action: "resume", conversationId: s.conv.id, afterSeq: s.viewRestored ? s.conv.lastSeq : 0 });
        if (ack.type === "error") {
          if (ack.code === "NOT_FOUND") { s.replaying = false; s.viewRestored = true; s.held.length = 0; return restart(); }
        }
      } catch (e) { s.replaying = false; return; } // reconnecting
      for (const f of s.held.splice(0).sort((a, b) => a.seq - b.seq)) w.apply(f);
      s.viewRestored = true;
      s.replaying = false;
      for (const [cmid, m] of s.unconfirmed) {
        m.requestId = newId("r");
        w.socket.send({ action: "sendMessage", conversationId: s.conv.id, text: m.text, clientMessageId: cmid, requestId: m.requestId });
      }
      settle();
    } else if (w.panelOpen()) {
      startConversation();
    }
  }

  // A resume after the last event seen in order, one at a time: what it re-sends goes through
  // w.apply like any event (the ones already shown are skipped by seq).
  let filling = false;
  async function fillGap() {
    if (filling || !s.conv || !s.conv.id) return;
    filling = true;
    try {
      await w.socket.request({ action: "resume", conversationId: s.conv.id, afterSeq: s.conv.lastSeq || 0 });
    } catch (e) { /* the reconnect's own resume fills it */ } finally { filling = false; }
  }

  // After a replay: act on the card the cursor rests on (ask availability, request chat).
  function settle() {
    if (s.phase !== "dialog") return;
    if (s.interactive && s.interactive.dataset.card) {
      const card = w.current();
      if (card && card.kind === "live_chat") w.requestChat(card);
      if (card && card.kind === "availability") { w.clearInteractive(); w.run(); }
    } else {
      w.run();
    }
  }

  async function startConversation() {
    if (s.conv || s.starting || !s.dialog) return;
    s.starting = true;
    // Kept until the answer comes: a start re-sent after a dropped connection names the
    // same conversation, so the server creates it once.
    s.startId = s.startId || newId("c");
    try {
      const page = { url: location.href, title: document.title, referrer: document.referrer };
      const answer = await w.socket.request({ action: "startConversation", dialogId: w.settings.DIALOG, page, clientConversationId: s.startId });
      if (answer.type === "conversationStarted") {
        s.startId = null;
        s.conv = { id: answer.conversationId, lastSeq: 0 };
        w.saveConv();
        w.started();
        settle();
      } else {
        w.note(livechat.widget.texts.t("chat.couldNotStart", { why: answer.message || answer.type }));
      }
    } catch (e) { /* started after the reconnect */ } finally { s.starting = false; }
  }

  function resetView() {
    v.log.replaceChildren();
    s.interactive = null; s.stack = s.dialog ? [{ cards: s.dialog.cards, i: 0 }] : [];
    s.seen = new Set(); s.agent = null; s.email = null; s.unconfirmed.clear();
    v.avatar.hidden = true; v.relabel();
    w.setPhase("dialog");
  }

  function restart() {
    s.conv = null; w.saveConv(); s.viewRestored = true;
    resetView();
    w.run();
    if (w.socket.isOpen()) startConversation();
  }

  Object.assign(w, { onConnected, startConversation, resetView, restart, fillGap });
};
