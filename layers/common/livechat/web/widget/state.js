/* livechat.widget.state(w) — what the widget knows (w.state): the dialog, the visitor's
 * conversation (kept in localStorage, so that a reload resumes it), where the dialog stands
 * and what is in flight. */
livechat.widget.state = function (w) {
  const convKey = "conversation:" + w.settings.DIALOG;
  const conv = w.store.get(convKey);
  const s = w.state = {
    dialog: null,           // public dialog tree
    conv,                   // {id, lastSeq}
    stack: [],              // dialog cursor: [{cards, i}]
    phase: "dialog",        // dialog | routing | live | fallback | ended
    seen: new Set(),        // seqs applied to the view
    replaying: false,       // between a resume and its ack: render, never act
    interactive: null,      // the current question/capture element
    agent: null,
    email: null,            // the address captured in this conversation: where its transcript can go
    unconfirmed: new Map(), // clientMessageId -> {text, node, requestId}
    starting: false,
    startId: null,          // clientConversationId of the start in flight
    viewRestored: !conv,    // false until the first resume after a page load has rebuilt the view
    held: [],               // stored events that arrived before that
  };

  function saveConv() { if (s.conv) w.store.set(convKey, s.conv); else w.store.del(convKey); }
  // lastSeq: the highest seq up to which every event has been applied (what a resume asks after).
  function noteSeq(seq) {
    if (typeof seq !== "number") return;
    s.seen.add(seq);
    while (s.seen.has((s.conv.lastSeq || 0) + 1)) s.conv.lastSeq = (s.conv.lastSeq || 0) + 1;
    saveConv();
  }

  Object.assign(w, { saveConv, noteSeq });
};
