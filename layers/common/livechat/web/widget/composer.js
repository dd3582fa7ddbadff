/* livechat.widget.composer(w) — the visitor's side of the live chat: the message box and
 * "End chat". A message shows at once, greyed until the server's copy replaces it; one not
 * confirmed before a drop is sent again after the resume (same clientMessageId: stored once). */
livechat.widget.composer = function (w) {
  const { newId } = livechat.ids;
  const s = w.state, v = w.view;
  const typing = livechat.composer.wire({
    textarea: v.textarea, form: v.composer, socket: w.socket,
    conversation: () => (s.conv && s.phase === "live" ? s.conv.id : null),
  });

  v.composer.addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = v.textarea.value.trim();
    if (!text || !s.conv || s.phase !== "live") return;
    v.textarea.value = "";
    typing.messageSent(); // no "off": the message clears the other side's line
    const cmid = newId("m");
    const node = w.bubble("visitor pending", text, null, { "data-pending": cmid });
    const requestId = newId("r");
    s.unconfirmed.set(cmid, { text, node, requestId });
    w.socket.send({ action: "sendMessage", conversationId: s.conv.id, text, clientMessageId: cmid, requestId });
  });

  v.endButton.addEventListener("click", async () => {
    if (!s.conv) return;
    v.endButton.disabled = true;
    try {
      const answer = await w.socket.request({ action: "endChat", conversationId: s.conv.id });
      if (answer.type === "ack" && s.phase === "routing") w.apply({ type: "chatEnded", conversationId: s.conv.id, reason: "visitor" });
    } catch (e) { /* the reconnect replays what happened */ } finally { v.endButton.disabled = false; }
  });
};
