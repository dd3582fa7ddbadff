/* livechat.inbox.connection(app) — the agent's socket (app.socket, ?token=<IdToken>): what
 * the inbox catches up on after each (re)connection (inbox, offers, the offer asked for, the
 * chats' missed events, the push subscription), and where each frame the server pushes
 * goes. */
livechat.inbox.connection = function (app) {
  const $ = livechat.dom.byId;
  const session = app.session, s = app.state;
  let tokensUsed = null; // the tokens of the last socket opened

  function setConn(text, ok) { $("conn").textContent = text; $("conn").classList.toggle("ok", !!ok); }

  app.socket = livechat.socket.create({
    url() {
      tokensUsed = session.get("tokens");
      return tokensUsed ? app.config.websocket + "?token=" + encodeURIComponent(tokensUsed.idToken) : null;
    },
    onOpen() {
      setConn("Connected", true);
      onConnected();
    },
    onAnswer(frame) { if (frame.type === "message" || frame.type === "chatEnded") onEvent(frame); },
    onFrame: onEvent,
    async onClose(opened) {
      setConn("Reconnecting…");
      if (!opened && Date.now() > (tokensUsed.expiresAt || 0) - 60000) await app.refresh(); // refused: maybe an expired token
    },
  });

  async function onConnected() {
    const request = app.socket.request;
    app.pushConnected(); // this browser's push subscription, sent again on every connection (push.js)
    try {
      // The status lives on the server and persists across connections: only a change the
      // agent made while disconnected is sent; otherwise the inbox answer tells us.
      const pending = session.get("statusPending");
      if (pending) {
        await request({ action: "setStatus", status: pending });
        session.set("statusPending", null);
      }
      const asked = app.inboxAsked();
      const inbox = await request({ action: "listInbox" });
      if (inbox.type === "inbox") {
        app.inboxAnswered(asked, inbox); // pushSubscriptions: the line next to the status toggle
        if (inbox.status) { session.set("status", inbox.status); app.showStatus(inbox.status); }
        if (inbox.name) { session.set("name", inbox.name); app.showMe(); }
        const open = new Set(inbox.chats.map((c) => c.conversationId));
        for (const c of inbox.chats) {
          const known = s.chats.get(c.conversationId);
          s.chats.set(c.conversationId, Object.assign(known || { lastSeq: 0, items: null }, c));
        }
        for (const id of Array.from(s.chats.keys())) if (!open.has(id) && id !== s.selected) s.chats.delete(id);
        app.renderInbox();
      }
      // The offers still pending for this agent (going away or a lost connection ends none):
      // exactly those are shown, whatever this tab restored or missed.
      const sentAt = Date.now();
      const pendingOffers = await request({ action: "listOffers" });
      if (pendingOffers.type === "offers") { app.syncOffers(pendingOffers, sentAt); app.showWanted(); }
      // What happened while we were away: the open chat from its transcript, the others by resume.
      const want = s.selected || session.get("selected");
      if (want && s.chats.has(want)) await app.openChat(want, true);
      for (const [id, chat] of s.chats) {
        if (id !== s.selected && chat.items) await request({ action: "resume", conversationId: id, afterSeq: chat.lastSeq });
      }
      if (!$("view-conversations").hidden) app.refreshConversations();
    } catch (e) { /* reconnecting */ }
  }

  const showTyping = livechat.composer.typingLine($("chat-typing"));
  function onEvent(frame) {
    switch (frame.type) {
      case "chatOffered": app.showOffer(frame, false); break;
      case "offerWithdrawn":
        app.removeOffer(frame.offerId);
        if (frame.reason === "expired") app.toast("A chat offer expired.");
        else if (frame.reason === "visitor_left") app.toast("The visitor left before the chat started.");
        break;
      case "status": app.showStatus(frame.status); session.set("status", frame.status); app.scheduleFrom(frame); break;
      case "message": app.addToChat(frame); break;
      case "chatEnded":
        app.addToChat(frame);
        app.chatClosed(frame.conversationId);
        break;
      case "typing":
        if (frame.conversationId === s.selected && frame.from === "visitor") {
          showTyping(frame.isTyping ? "The visitor is typing…" : "");
        }
        break;
      case "error": if (frame.code !== "BAD_REQUEST") app.toast(frame.message || frame.code); break;
      default:
        if (typeof frame.seq === "number" && frame.conversationId) app.addToChat(frame);
    }
    if (["chatOffered", "offerWithdrawn", "chatEnded", "message"].includes(frame.type) && !$("view-conversations").hidden) {
      app.refreshConversationsSoon();
    }
  }

  Object.assign(app, { setConn });
};
