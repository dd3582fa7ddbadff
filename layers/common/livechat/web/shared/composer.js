/* livechat.composer — the message box of either side and the typing indicators: Enter sends
 * (Shift+Enter: a new line).
 * Typing is throttled, because each `typing` frame is billed three times over (the frame in,
 * its `ack` and the relay out: WebSocket messages, plus a Lambda invocation; docs/performance.md,
 * "Cost"): "on" when the box starts holding text, again only every TYPING_RENEW_MS while the
 * person keeps typing; "off" only when they stop without sending (no keystroke for
 * TYPING_IDLE_MS, or the box emptied). Never "off" for a message: the message itself clears
 * the line on the other side (both clients do). The other side's "… is typing" goes on its
 * own TYPING_SHOWN_MS after the last "on" (a closed tab sends no "off"). */
livechat.composer = {
  TYPING_RENEW_MS: 15000,
  TYPING_IDLE_MS: 5000,
  TYPING_SHOWN_MS: 20000, // > TYPING_RENEW_MS: a renewal arrives before the line goes

  /* wire({textarea, form, socket, conversation}) → {messageSent()}
   *   conversation(): the id the typing signals are for, or null (no chat to type into)
   *   messageSent():  the box was sent (call it when the form sends): nothing goes on the
   *                   wire, the next keystroke starts a new "on" */
  wire({ textarea, form, socket, conversation }) {
    const { newId } = livechat.ids;
    const self = livechat.composer;
    let onFor = null, onAt = 0, idleTimer = null; // the conversation "on" was last sent for, and when
    function send(conversationId, on) {
      socket.send({ action: "typing", conversationId, isTyping: on, requestId: newId("t") });
    }
    function forget() { clearTimeout(idleTimer); onFor = null; }
    function stopped() { // typed, then stopped without sending
      if (onFor) send(onFor, false);
      forget();
    }
    textarea.addEventListener("input", () => {
      const conversationId = conversation();
      if (!conversationId) { forget(); return; } // the chat is over: nothing to tell
      if (!textarea.value.trim()) { stopped(); return; }
      if (onFor && onFor !== conversationId) stopped(); // the inbox switched chats mid-sentence
      if (onFor !== conversationId || Date.now() - onAt >= self.TYPING_RENEW_MS) {
        send(conversationId, true);
        onFor = conversationId; onAt = Date.now();
      }
      clearTimeout(idleTimer);
      idleTimer = setTimeout(stopped, self.TYPING_IDLE_MS);
    });
    textarea.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); form.requestSubmit(); }
    });
    return { messageSent: forget };
  },

  // The other side's typing line in `node`: show(text) shows it for TYPING_SHOWN_MS at most
  // (each "on" starts it again), show("") clears it.
  typingLine(node) {
    let timer = null;
    return function show(text) {
      node.textContent = text;
      clearTimeout(timer);
      if (text) timer = setTimeout(() => { node.textContent = ""; }, livechat.composer.TYPING_SHOWN_MS);
    };
  },
};
