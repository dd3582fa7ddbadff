/* livechat.inbox.conversations(app) — the Conversations tab: every conversation, newest
 * activity first, refreshed every 5 s while the tab shows, and one's transcript; and
 * switching between the two tabs. */
livechat.inbox.conversations = function (app) {
  const { el, byId: $ } = livechat.dom;
  const { visitorName, fmtTime } = livechat.inbox.texts;
  const allConversations = new Map();
  let cursor = null, refreshSoonTimer = null, selectedTranscript = null;

  function refreshConversationsSoon() { clearTimeout(refreshSoonTimer); refreshSoonTimer = setTimeout(refreshConversations, 300); }
  async function refreshConversations(more) {
    try {
      const answer = await app.socket.request(more && cursor ? { action: "listConversations", cursor } : { action: "listConversations" });
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
      const t = await app.socket.request({ action: "getTranscript", conversationId: id });
      if (t.type !== "transcript" || selectedTranscript !== id) return;
      $("transcript-empty").hidden = true; $("transcript-pane").hidden = false;
      $("transcript-title").textContent = visitorName(t.visitor);
      $("transcript-sub").textContent = "Status: " + t.status + (t.agent ? " — agent: " + t.agent.name : "");
      app.renderLog($("transcript-log"), t.visitor, t.page, t.events || [], t.agent && t.agent.name);
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

  Object.assign(app, { refreshConversations, refreshConversationsSoon, showTab, selectedTranscript: () => selectedTranscript });
};
