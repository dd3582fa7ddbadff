/* livechat.composer — the message box of either side and the typing indicators: Enter sends
 * (Shift+Enter: a new line); "typing" goes on while the box holds text and off after 4 s
 * without a keystroke or when the message is sent; the other side's "… is typing" shows for
 * 8 s at most. */
livechat.composer = {
  /* wire({textarea, form, socket, conversation}) → {stopTyping()}
   *   conversation(): the id the typing signals are for, or null (no chat to type into)
   *   stopTyping():   typing off now (call it when the form sends) */
  wire({ textarea, form, socket, conversation }) {
    const { newId } = livechat.ids;
    let typingOn = false, typingTimer = null;
    function sendTyping(on) {
      const conversationId = conversation();
      if (!conversationId || typingOn === on) return;
      typingOn = on;
      socket.send({ action: "typing", conversationId, isTyping: on, requestId: newId("t") });
    }
    textarea.addEventListener("input", () => {
      sendTyping(textarea.value.trim().length > 0);
      clearTimeout(typingTimer);
      typingTimer = setTimeout(() => sendTyping(false), 4000);
    });
    textarea.addEventListener("keydown", (ev) => {
      if (ev.key === "Enter" && !ev.shiftKey && !ev.isComposing) { ev.preventDefault(); form.requestSubmit(); }
    });
    return { stopTyping() { clearTimeout(typingTimer); sendTyping(false); } };
  },

  // The other side's typing line in `node`: show(text) shows it for 8 s at most, show("") clears it.
  typingLine(node) {
    let timer = null;
    return function show(text) {
      node.textContent = text;
      clearTimeout(timer);
      if (text) timer = setTimeout(() => { node.textContent = ""; }, 8000);
    };
  },
};
