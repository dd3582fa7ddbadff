/* livechat.widget.connection(w) — the visitor's connection: the visitor token (POST
 * /visitor/session, kept in localStorage), /config.json, and the socket (w.socket) with
 * ?visitorToken=…; frames that arrive before a reload's replay are held until it is done. */
livechat.widget.connection = function (w) {
  const s = w.state, v = w.view;
  const HTTP = w.settings.HTTP;
  let token = null;
  let failedOpens = 0; // after two refused opens in a row, ask for a new visitor token

  async function session() {
    const old = w.store.get("visitorToken");
    for (const body of old ? [{ visitorToken: old }, {}] : [{}]) {
      try {
        const r = await fetch(HTTP + "visitor/session", { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
        if (!r.ok) continue;
        const data = await r.json();
        if (old && data.visitorToken && body.visitorToken === undefined) { s.conv = null; w.saveConv(); } // a new identity
        w.store.set("visitorToken", data.visitorToken);
        return data.visitorToken;
      } catch (e) { /* retried by the socket's backoff */ }
    }
    return null;
  }

  // /config.json, read once per page (null when it cannot be read; asked again next time).
  let configLoad = null;
  function clientConfig() {
    if (!configLoad) {
      configLoad = fetch(HTTP + "config.json")
        .then((r) => (r.ok ? r.json() : null))
        .catch(() => null)
        .then((c) => { if (!c) configLoad = null; return c; });
    }
    return configLoad;
  }

  // data-websocket on the script tag, else /config.json's, else {http}ws.
  let wsUrl = null;
  async function websocketUrl() {
    if (wsUrl) return wsUrl;
    if (w.settings.script.dataset.websocket) return (wsUrl = w.settings.script.dataset.websocket);
    const c = await clientConfig();
    if (c && c.websocket) return (wsUrl = c.websocket);
    return (wsUrl = HTTP.replace(/^http/, "ws") + "ws");
  }

  w.socket = livechat.socket.create({
    async url() {
      if (!token || failedOpens >= 2) { token = await session(); failedOpens = 0; }
      return token ? (await websocketUrl()) + "?visitorToken=" + encodeURIComponent(token) : null;
    },
    onOpen() {
      failedOpens = 0;
      v.connBar.hidden = true;
      w.onConnected();
    },
    onAnswer(frame) {
      if (frame.type === "message" || frame.type === "routing" || frame.type === "fallback" || frame.type === "chatEnded") w.apply(frame);
    },
    onFrame(frame) {
      if (frame.type === "error") {
        w.refused(frame);
        // A message or typing refused as CONFLICT while this page shows a live chat: the chat
        // moved on without the page hearing it (its end lost on the way). A resume tells.
        if (frame.code === "CONFLICT" && s.phase === "live" && s.viewRestored && !s.replaying) w.fillGap();
        if (frame.code !== "BAD_REQUEST") console.warn("livechat:", frame.code, frame.message);
        return;
      }
      if (!s.viewRestored && typeof frame.seq === "number") { s.held.push(frame); return; } // applied in order after the replay
      w.apply(frame);
    },
    onClose(opened) {
      if (!opened) failedOpens++;
      if (w.panelOpen() || s.conv) v.connBar.hidden = false;
    },
  });

  Object.assign(w, { clientConfig });
};
