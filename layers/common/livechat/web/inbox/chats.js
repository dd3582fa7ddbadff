/* livechat.inbox.chats(app) — the agent's open chats: the Inbox list (app.state.chats) and
 * the chat on screen (app.state.selected), kept current by the frames that arrive. */
livechat.inbox.chats = function (app) {
  const { el, byId: $, cssEscape } = livechat.dom;
  const { visitorName, fmtTime } = livechat.inbox.texts;
  const session = app.session, s = app.state;

  function setTranscript(chat, items) {
    chat.items = items.slice().sort((a, b) => a.seq - b.seq);
    chat.lastSeq = chat.items.length ? chat.items[chat.items.length - 1].seq : 0;
  }
  function renderInbox() {
    const list = $("inbox-list");
    list.replaceChildren();
    const sorted = Array.from(s.chats.values()).sort((a, b) => String(b.lastActivityAt || "").localeCompare(String(a.lastActivityAt || "")));
    for (const c of sorted) {
      const b = el("button", { type: "button", "data-conversation": c.conversationId, "aria-current": c.conversationId === s.selected ? "true" : "false",
        onclick: () => openChat(c.conversationId, false) },
        el("span", { class: "line1", text: visitorName(c.visitor) + (c.unread ? " •" : "") }),
        el("span", { class: "line2", text: [(c.visitor || {}).email, c.lastActivityAt ? "last activity " + fmtTime(c.lastActivityAt) : ""].filter(Boolean).join(" — ") }));
      list.append(el("li", {}, b));
    }
    $("inbox-empty").hidden = s.chats.size > 0;
    $("inbox-count").textContent = String(s.chats.size);
  }
  function closeChatView() { s.selected = null; $("chat-pane").hidden = true; $("chat-empty").hidden = false; }

  async function openChat(id, force) {
    const chat = s.chats.get(id);
    if (!chat) return;
    s.selected = id; session.set("selected", id);
    chat.unread = false;
    renderInbox();
    $("chat-empty").hidden = true; $("chat-pane").hidden = false;
    $("chat-title").textContent = visitorName(chat.visitor);
    $("chat-sub").textContent = [(chat.visitor || {}).email, (chat.page || {}).url].filter(Boolean).join(" — ");
    $("chat-typing").textContent = "";
    $("composer").hidden = false; $("end-chat").hidden = false;
    if (!chat.items || force) {
      try {
        const t = await app.socket.request({ action: "getTranscript", conversationId: id });
        if (t.type === "transcript") {
          chat.visitor = t.visitor; chat.page = t.page;
          setTranscript(chat, t.events || []);
          if (t.status !== "active") { chatClosed(id); }
        }
      } catch (e) { return; }
    }
    if (s.selected === id) app.renderLog($("chat-log"), chat.visitor, chat.page, chat.items || [], myName());
    if (s.selected === id) $("composer-text").focus();
  }
  // The agent's own messages: their name from the inbox answer (they sign in by e-mail).
  function myName() { const t = session.get("tokens"); return session.get("name") || (t && t.email) || "You"; }
  function chatClosed(id) {
    if (s.selected === id) { $("composer").hidden = true; $("end-chat").hidden = true; }
    s.chats.delete(id);
    renderInbox();
  }
  const filling = new Set();
  async function fillGap(id, afterSeq) {
    if (filling.has(id)) return;
    filling.add(id);
    try { await app.socket.request({ action: "resume", conversationId: id, afterSeq }); } catch (e) { /* the reconnect resumes */ }
    finally { filling.delete(id); }
  }
  function addToChat(frame) {
    const chat = s.chats.get(frame.conversationId);
    if (!chat) return;
    let late = false;
    if (typeof frame.seq === "number") {
      if (chat.items && chat.items.some((i) => i.seq === frame.seq)) return;
      const last = chat.lastSeq || 0;
      late = frame.seq < last;
      if (chat.items) { chat.items.push(app.frameToItem(frame)); chat.items.sort((a, b) => a.seq - b.seq); }
      chat.lastSeq = Math.max(last, frame.seq);
      // An event beyond the next one: the one between went missing on the way (this tab
      // connected while it was being stored, a post failed). A resume fills it.
      if (chat.items && frame.seq > last + 1) fillGap(frame.conversationId, last);
    }
    chat.lastActivityAt = frame.at || new Date().toISOString();
    if (frame.type === "message" && frame.clientMessageId) {
      const p = document.querySelector('[data-pending="' + cssEscape(frame.clientMessageId) + '"]');
      if (p) p.remove();
    }
    if (s.selected === frame.conversationId) {
      const log = $("chat-log");
      if (late) app.renderLog(log, chat.visitor, chat.page, chat.items || [], myName()); // a gap filled: in seq order
      else if (!log.querySelector('[data-seq="' + frame.seq + '"]')) { log.append(app.itemNode(app.frameToItem(frame), myName())); log.scrollTop = log.scrollHeight; }
      if (frame.from === "visitor") $("chat-typing").textContent = "";
    } else if (frame.type === "message" && frame.from === "visitor") {
      chat.unread = true;
      app.beep();
      app.notify("New message from " + visitorName(chat.visitor), frame.text);
    }
    renderInbox();
  }

  // An action on a chat refused as CONFLICT: the chat moved on without this tab hearing it
  // (its end lost on the way). A resume after what the tab holds tells.
  function refusedAsConflict(id) {
    const chat = s.chats.get(id);
    if (chat && chat.items) fillGap(id, chat.lastSeq || 0);
  }
  Object.assign(app, { setTranscript, renderInbox, closeChatView, openChat, chatClosed, addToChat, refusedAsConflict });
};
