/* livechat.inbox.composer(app) — the agent's reply box and "End chat". A reply shows at
 * once, greyed until the server's copy replaces it, and is sent again every second until the
 * server answers (same clientMessageId: stored once). */
livechat.inbox.composer = function (app) {
  const { el, byId: $, cssEscape } = livechat.dom;
  const { newId } = livechat.ids;
  const s = app.state;
  const typing = livechat.composer.wire({
    textarea: $("composer-text"), form: $("composer"), socket: app.socket, conversation: () => s.selected,
  });

  const unsent = new Map(); // clientMessageId -> {conversationId, text}
  $("composer").addEventListener("submit", (ev) => {
    ev.preventDefault();
    const text = $("composer-text").value.trim();
    if (!text || !s.selected) return;
    $("composer-text").value = "";
    typing.messageSent(); // no "off": the message clears the other side's line
    const cmid = newId("m");
    const node = el("div", { class: "msg agent pending", "data-pending": cmid }, document.createTextNode(text));
    $("chat-log").append(node); $("chat-log").scrollTop = $("chat-log").scrollHeight;
    unsent.set(cmid, { conversationId: s.selected, text });
    trySend(cmid);
  });
  async function trySend(cmid) {
    const m = unsent.get(cmid);
    if (!m) return;
    try {
      const answer = await app.socket.request({ action: "sendMessage", conversationId: m.conversationId, text: m.text, clientMessageId: cmid });
      unsent.delete(cmid);
      if (answer.type === "error") {
        app.toast("Not sent: " + answer.message);
        const p = document.querySelector('[data-pending="' + cssEscape(cmid) + '"]'); if (p) p.remove();
        if (answer.code === "CONFLICT") app.refusedAsConflict(m.conversationId);
      }
    } catch (e) {
      setTimeout(() => trySend(cmid), 1000); // same clientMessageId: stored once
    }
  }

  $("end-chat").addEventListener("click", async () => {
    if (!s.selected) return;
    const id = s.selected;
    try {
      const answer = await app.socket.request({ action: "endChat", conversationId: id });
      if (answer.type === "error") app.toast("Could not end the chat: " + answer.message);
    } catch (e) { app.toast("Not connected: try again in a moment."); }
  });
};
