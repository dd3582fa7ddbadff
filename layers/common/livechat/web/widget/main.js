/* livechat visitor widget — embed with
 *   <script src="{http}/widget.js" data-dialog="sales" async></script>
 * Optional: data-websocket="wss://…" (else read from {http}/config.json, else {http}ws).
 * No build step, no dependencies: widget.js is served as shared/*.js and widget/*.js put
 * together (the list: livechat/api/pages.py). This part, the last, assembles the others
 * around one context `w` (settings, store, state, view, socket and the parts' functions),
 * opens and closes the panel, and starts.
 * Protocol: ../shared/spec/protocol.md and docs/protocol.md. */
const script = document.currentScript ||
  Array.from(document.querySelectorAll("script[src]")).find((el) => /\/widget\.js(\?|$)/.test(el.src));
if (script && !window.__livechatWidgetLoaded) {
  window.__livechatWidgetLoaded = true;
  start(script);
}

function start(script) {
  const HTTP = new URL("./", new URL(script.src, location.href)).href; // ends with "/"
  const DIALOG = script.dataset.dialog || "sales";
  const parts = livechat.widget;
  const w = {
    settings: { script, HTTP, DIALOG },
    store: livechat.store.open(() => localStorage, "livechat:" + HTTP + ":"),
  };
  parts.state(w);        // w.state
  parts.view(w);         // w.view
  parts.dialog(w);
  parts.capture(w);
  parts.events(w);
  parts.connection(w);   // w.socket
  parts.conversation(w);
  parts.composer(w);
  const s = w.state, v = w.view;

  // --- open / close -------------------------------------------------------------------------
  function setOpen(open) {
    v.panel.hidden = !open;
    v.launcher.setAttribute("aria-expanded", String(open));
    v.launcher.textContent = livechat.widget.texts.t(open ? "launcher.close" : "launcher.open");
    w.store.set("open:" + DIALOG, open);
    if (open) {
      if (!s.conv && w.socket.isOpen()) w.startConversation();
      if (!w.socket.hasSocket()) w.socket.start();
      const focusable = s.interactive && s.interactive.querySelector("button, input");
      (focusable || (s.phase === "live" ? v.textarea : v.log)).focus();
    }
  }
  v.launcher.addEventListener("click", () => setOpen(!w.panelOpen()));
  v.closeButton.addEventListener("click", () => { setOpen(false); v.launcher.focus(); });
  v.panel.addEventListener("keydown", (ev) => { if (ev.key === "Escape") { setOpen(false); v.launcher.focus(); } });

  // --- start ----------------------------------------------------------------------------------
  async function boot() {
    (document.body || document.documentElement).append(v.host);
    try {
      const r = await fetch(HTTP + "dialogs/" + encodeURIComponent(DIALOG));
      if (!r.ok) throw new Error("dialog " + DIALOG + ": HTTP " + r.status);
      s.dialog = await r.json();
      livechat.widget.texts.use(s.dialog.language, s.dialog.texts);
      v.relabel();
    } catch (e) {
      console.warn("livechat: the dialog could not be loaded", e);
      v.launcher.hidden = true;
      return;
    }
    w.resetView();
    if (s.conv) { s.replaying = true; } // the resume after connecting rebuilds the view
    else w.run();
    if (w.store.get("open:" + DIALOG) || s.conv) setOpen(!!w.store.get("open:" + DIALOG));
    w.socket.start();
  }
  window.livechatWidget = { host: v.host, shadow: v.shadow, state: () => ({ conversation: s.conv, phase: s.phase, connected: w.socket.isOpen() }) };
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", boot);
  else boot();
}
