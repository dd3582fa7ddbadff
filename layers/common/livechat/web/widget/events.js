/* livechat.widget.events(w) — the conversation's events (the server's frames, and the
 * answers and captures the widget records itself) applied to the view, once each by seq. */
livechat.widget.events = function (w) {
  const { el, cssEscape } = livechat.dom;
  const { t, label } = livechat.widget.texts;
  const s = w.state, v = w.view;

  function setPhase(next) {
    s.phase = next;
    v.composer.hidden = next !== "live";
    v.endButton.hidden = !(next === "live" || next === "routing");
    if (next !== "live") v.showTyping("");
  }

  function showAgent(a) {
    const agent = s.agent = a || { name: t("agent.defaultName"), avatarUrl: "" };
    v.avatar.replaceChildren();
    v.avatar.hidden = false;
    const initials = (agent.name || "?").split(/\s+/).map((word) => word.charAt(0)).join("").slice(0, 2).toUpperCase();
    const url = agent.avatarUrl || "";
    if (/^https?:\/\//i.test(url)) {
      const img = el("img", { alt: "", src: url });
      img.addEventListener("error", () => { v.avatar.textContent = initials; });
      v.avatar.append(img);
    } else {
      v.avatar.textContent = initials;
    }
    v.title.firstChild.textContent = agent.name || t("agent.defaultName");
    v.subtitle.textContent = t("header.agentSubtitle");
  }

  function offerRestart() {
    const b = el("button", { type: "button", class: "primary", "data-role": "restart", text: t("restart"),
      onclick: () => { b.remove(); w.restart(); } });
    v.log.append(b); w.scrollDown();
  }

  // At the end of a chat, when the visitor gave an address: the server mails the transcript
  // to that address only (emailTranscript names none), once; asking again is harmless.
  function offerTranscript() {
    if (!s.email) return;
    const conversationId = s.conv.id, address = s.email;
    const box = el("div", { class: "transcript-offer", "data-role": "email-transcript" });
    const said = el("div", { class: "note", role: "status" });
    const b = el("button", { type: "button", class: "primary", text: t("transcript.offer"), onclick: async () => {
      b.disabled = true; said.textContent = t("transcript.sending");
      try {
        const answer = await w.socket.request({ action: "emailTranscript", conversationId });
        if (answer.type === "error") throw new Error(answer.message);
        b.remove(); said.textContent = t("transcript.sent", { address });
      } catch (e) {
        b.disabled = false; said.textContent = t("transcript.failed", { why: (e && e.message) || t("transcript.notConnected") });
      }
    } });
    box.append(b, said);
    v.log.append(box); w.scrollDown();
  }

  function apply(frame) {
    if (!s.conv || frame.conversationId !== s.conv.id) return;
    if (typeof frame.seq === "number") {
      if (s.seen.has(frame.seq)) return;
      const next = (s.conv.lastSeq || 0) + 1;
      w.noteSeq(frame.seq);
      // An event beyond the next one: the one between went missing on the way (this tab
      // connected while it was being stored, a post failed). A resume fills it.
      if (frame.seq > next && s.viewRestored && !s.replaying) w.fillGap();
    }
    switch (frame.type) {
      case "answerRecorded": {
        const path = s.dialog && w.pathTo(s.dialog.cards, frame.cardId);
        if (!path) return;
        w.clearInteractive();
        const card = path[path.length - 1].cards[path[path.length - 1].i];
        // the question as it was asked, then the answer
        if (!v.log.querySelector('[data-asked="' + cssEscape(card.id) + '"]')) {
          v.log.append(el("div", { class: "msg bot", "data-asked": card.id, text: card.text }));
        }
        w.bubble("visitor", frame.value);
        s.stack = path;
        const answer = (card.answers || []).find((a) => a.label === frame.value);
        if (answer) w.enterBranch(answer.next || []); else s.stack[s.stack.length - 1].i++;
        w.run();
        return;
      }
      case "captureRecorded": {
        const path = s.dialog && w.pathTo(s.dialog.cards, frame.cardId);
        if (!path) return;
        w.clearInteractive();
        if (frame.fields && frame.fields.email) s.email = frame.fields.email;
        const summary = Object.entries(frame.fields || {}).map(([k, value]) => label(k) + ": " + value).join("\n");
        w.bubble("visitor", summary || t("capture.summaryEmpty"));
        s.stack = path;
        s.stack[s.stack.length - 1].i++;
        w.run();
        return;
      }
      case "routing":
        w.clearInteractive();
        if (s.phase === "dialog") {
          setPhase("routing");
          w.note(t("routing.connecting"), "status").setAttribute("data-role", "connecting");
          w.announce(t("routing.connecting"));
        }
        return;
      case "agentJoined":
        w.clearInteractive();
        setPhase("live");
        showAgent(frame.agent);
        const joined = t("agent.joined", { name: (frame.agent && frame.agent.name) || t("agent.someone") });
        w.note(joined, "status").setAttribute("data-role", "joined");
        w.announce(joined);
        if (!s.replaying && w.panelOpen()) v.textarea.focus();
        return;
      case "fallback":
        w.clearInteractive();
        setPhase("fallback");
        w.bubble("bot", frame.message || t("fallback.default"), null, { "data-role": "fallback" });
        w.announce(frame.message || t("fallback.default"));
        offerTranscript();
        offerRestart();
        return;
      case "message": {
        const mine = frame.from === "visitor";
        const waiting = frame.clientMessageId && s.unconfirmed.get(frame.clientMessageId);
        if (waiting) { s.unconfirmed.delete(frame.clientMessageId); waiting.node.remove(); }
        const who = mine ? null : frame.from === "agent" ? (s.agent && s.agent.name) || t("agent.defaultName") : "";
        const b = w.bubble(mine ? "visitor" : "agent", frame.text, who, { "data-from": frame.from, "data-seq": frame.seq });
        // A message that filled a gap goes where its seq puts it, not after the later ones.
        const later = Array.from(v.log.querySelectorAll(".msg[data-seq]")).find((n) => Number(n.dataset.seq) > frame.seq);
        if (later) v.log.insertBefore(b, later);
        if (!mine) {
          w.announce(who ? t("message.announce", { name: who, text: frame.text }) : t("message.announceUnnamed", { text: frame.text }));
          v.showTyping("");
        }
        return;
      }
      case "chatEnded": {
        w.clearInteractive();
        setPhase("ended");
        const words = ["agent", "visitor", "inactivity"].includes(frame.reason) ? t("end." + frame.reason) : t("end.other");
        w.note(words, "status").setAttribute("data-role", "ended");
        w.announce(words);
        offerTranscript();
        offerRestart();
        return;
      }
      case "typing":
        if (frame.from !== "visitor") {
          const name = s.agent && s.agent.name;
          v.showTyping(frame.isTyping ? (name ? t("agent.typing", { name }) : t("agent.typingUnnamed")) : "");
        }
        return;
      default:
    }
  }

  // A message the server refused (the chat had ended, too many messages): said so on its
  // bubble, and not sent again after a reconnect.
  function refused(frame) {
    for (const [cmid, m] of s.unconfirmed) {
      if (!frame.requestId || m.requestId !== frame.requestId) continue;
      s.unconfirmed.delete(cmid);
      m.node.classList.replace("pending", "unsent");
      m.node.setAttribute("data-role", "not-sent");
      m.node.append(el("span", { class: "unsent-note", text: t("message.notSent") }));
    }
  }

  Object.assign(w, { setPhase, apply, refused });
};
