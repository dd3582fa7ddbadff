/* livechat.inbox.transcript(app) — how a conversation reads, in the chat view and in the
 * Conversations tab: the visitor's details, then the dialog's answers and captured fields,
 * then the chat. Items are a transcript's events (getTranscript) or frames made into items. */
livechat.inbox.transcript = function (app) {
  const { el } = livechat.dom;
  const { FIELD_LABELS, END_WORDS, fmtTime } = livechat.inbox.texts;

  function detailsBox(visitor, page) {
    const dl = el("dl");
    for (const [k, v] of Object.entries(visitor || {})) {
      if (v === "" || v === null || v === undefined) continue;
      dl.append(el("dt", { text: FIELD_LABELS[k] || k }), el("dd", { text: String(v) }));
    }
    if (page && page.url) dl.append(el("dt", { text: "Page" }), el("dd", { text: (page.title ? page.title + " — " : "") + page.url }));
    if (page && page.referrer) dl.append(el("dt", { text: "Referrer" }), el("dd", { text: page.referrer }));
    const utm = page && page.utm;
    if (utm && (utm.source || utm.medium || utm.campaign)) {
      dl.append(el("dt", { text: "UTM" }), el("dd", { text: [utm.source, utm.medium, utm.campaign].filter(Boolean).join(" / ") }));
    }
    return el("div", { class: "details", "data-role": "visitor-details" }, el("h3", { text: "Visitor" }), dl);
  }
  function itemNode(item, agentName) {
    if (item.kind === "message") {
      const who = item.from === "agent" ? (agentName || "Agent") : item.from === "visitor" ? "Visitor" : "System";
      return el("div", { class: "msg " + (item.from === "agent" ? "agent" : "visitor"), "data-seq": item.seq, "data-from": item.from },
        el("span", { class: "who", text: who + " · " + fmtTime(item.at) }), document.createTextNode(item.text || ""));
    }
    if (item.kind === "answer") return el("div", { class: "dialog-item", "data-seq": item.seq, text: "Answered “" + (item.value || "") + "” (" + (item.cardId || "") + ")" });
    if (item.kind === "capture") {
      const fields = Object.entries(item.fields || {}).map(([k, v]) => (FIELD_LABELS[k] || k) + ": " + v).join(", ");
      return el("div", { class: "dialog-item", "data-seq": item.seq, text: "Shared details — " + fields });
    }
    return el("div", { class: "note", "data-seq": item.seq, text: (item.text || item.event || "") + (item.at ? " · " + fmtTime(item.at) : "") });
  }
  function renderLog(log, visitor, page, items, agentName) {
    log.replaceChildren(detailsBox(visitor, page));
    // Dialog answers and captured fields first, then the chat itself.
    const dialogItems = items.filter((i) => i.kind === "answer" || i.kind === "capture");
    const rest = items.filter((i) => i.kind !== "answer" && i.kind !== "capture");
    for (const i of dialogItems.concat(rest)) log.append(itemNode(i, agentName));
    log.scrollTop = log.scrollHeight;
  }
  function frameToItem(frame) {
    if (frame.type === "message") return { seq: frame.seq, kind: "message", from: frame.from, at: frame.at, text: frame.text, clientMessageId: frame.clientMessageId };
    if (frame.type === "chatEnded") return { seq: frame.seq, kind: "system", from: "system", at: frame.at, text: END_WORDS[frame.reason] || "The chat ended." };
    if (frame.type === "answerRecorded") return { seq: frame.seq, kind: "answer", from: "visitor", at: frame.at, cardId: frame.cardId, value: frame.value };
    if (frame.type === "captureRecorded") return { seq: frame.seq, kind: "capture", from: "visitor", at: frame.at, cardId: frame.cardId, fields: frame.fields };
    return { seq: frame.seq, kind: "system", from: "system", at: frame.at, text: frame.type };
  }

  Object.assign(app, { itemNode, renderLog, frameToItem });
};
