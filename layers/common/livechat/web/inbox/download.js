/* livechat.inbox.download(app) — "Download transcript": a conversation as a plain-text file
 * (getTranscript's `text`, the same lines the e-mails show: answers, captured fields,
 * messages with names and UTC times) or as its JSON. Made in the browser from what the agent
 * may read anyway (getTranscript): nothing new is exposed. */
livechat.inbox.download = function (app) {
  const { byId: $ } = livechat.dom;
  const { visitorName } = livechat.inbox.texts;

  function fileName(t, ext) {
    const who = visitorName(t.visitor).replace(/[^\p{L}\p{N}@._-]+/gu, "-").replace(/^-+|-+$/g, "") || "visitor";
    return "transcript-" + who + "-" + t.conversationId + "." + ext;
  }
  function save(name, type, content) {
    const url = URL.createObjectURL(new Blob([content], { type: type + ";charset=utf-8" }));
    const a = document.createElement("a");
    a.href = url; a.download = name; a.hidden = true;
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }
  function header(t) {
    const page = t.page || {};
    return ["Conversation " + t.conversationId, "Status: " + t.status + (t.agent ? " — agent: " + t.agent.name : ""),
      "Page: " + (page.url || "(unknown)"), "", ""].join("\n");
  }
  // conversationId: () => the id on screen; statusLine: the element that says what went wrong.
  async function download(conversationId, format, statusLine) {
    statusLine.textContent = "";
    try {
      const t = await app.socket.request({ action: "getTranscript", conversationId, includeText: format === "txt" });
      if (t.type !== "transcript") throw new Error(t.message || t.type);
      if (format === "txt") save(fileName(t, "txt"), "text/plain", header(t) + t.text);
      else { const { type, requestId, ...rest } = t; save(fileName(t, "json"), "application/json", JSON.stringify(rest, null, 2) + "\n"); }
    } catch (e) {
      statusLine.textContent = "The transcript could not be downloaded: " + ((e && e.message) || "not connected") + ".";
    }
  }
  function wire(prefix, current) {
    $(prefix + "-download-txt").addEventListener("click", () => { const id = current(); if (id) download(id, "txt", $(prefix + "-download-error")); });
    $(prefix + "-download-json").addEventListener("click", () => { const id = current(); if (id) download(id, "json", $(prefix + "-download-error")); });
  }
  wire("chat", () => app.state.selected);
  wire("transcript", () => app.selectedTranscript());

  Object.assign(app, { downloadTranscript: download });
};
