/* livechat.widget.view(w) — the widget's elements (w.view), in a shadow root so that the host
 * page's styles do not leak in and ours do not leak out, and the ways to add to the log. */
livechat.widget.view = function (w) {
  const { el } = livechat.dom;
  const { t } = livechat.widget.texts;
  const s = w.state;

  const host = el("div", { id: "livechat-widget", "data-livechat": "widget" });
  const shadow = host.attachShadow({ mode: "open" });
  const announcer = el("div", { class: "sr-only", "aria-live": "polite", "aria-atomic": "true", "data-role": "announcer" });
  const launcher = el("button", { class: "launcher", type: "button", "aria-expanded": "false", "aria-controls": "lc-panel" });
  const title = el("span", { class: "title" }, document.createTextNode(""));
  const subtitle = el("span", { class: "sub" });
  title.append(subtitle);
  const avatar = el("span", { class: "avatar", hidden: true, "aria-hidden": "true" });
  const endButton = el("button", { type: "button", hidden: true, "data-role": "end-chat" });
  const closeButton = el("button", { type: "button", text: "✕" });
  const connBar = el("div", { class: "conn", hidden: true, role: "status" });
  const log = el("div", { class: "log", role: "log", "aria-live": "off", tabindex: "0" });
  const typingLine = el("div", { class: "typing", "data-role": "typing" });
  const textarea = el("textarea", { rows: "1", maxlength: "4000" });
  const sendButton = el("button", { type: "submit" });
  const composer = el("form", { class: "composer", hidden: true, "data-role": "composer" }, textarea, sendButton);
  const panel = el("section", { class: "panel", id: "lc-panel", role: "dialog", hidden: true },
    el("header", {}, avatar, title, endButton, closeButton), connBar, log, typingLine, composer);
  const root = el("div", { class: "root" }, launcher, panel, announcer);
  shadow.append(el("style", { text: livechat.widget.STYLE }), root);

  // The words of the fixed parts, in the current language (again once the dialog says which):
  // a screen reader reads `lang` to pick its voice.
  function relabel() {
    root.setAttribute("lang", livechat.widget.texts.language());
    launcher.textContent = t(panel.hidden ? "launcher.open" : "launcher.close");
    if (avatar.hidden) { title.firstChild.textContent = t("header.title"); subtitle.textContent = t("header.subtitle"); }
    endButton.textContent = t("button.endChat");
    closeButton.setAttribute("aria-label", t("button.closeWindow"));
    connBar.textContent = t("connection.reconnecting");
    log.setAttribute("aria-label", t("log.label"));
    textarea.setAttribute("aria-label", t("composer.label"));
    textarea.setAttribute("placeholder", t("composer.placeholder"));
    sendButton.textContent = t("composer.send");
    panel.setAttribute("aria-label", t("panel.label"));
  }
  relabel();

  w.view = { host, shadow, launcher, title, subtitle, avatar, endButton, closeButton, connBar, log, typingLine,
    textarea, composer, panel, relabel, showTyping: livechat.composer.typingLine(typingLine) };

  function scrollDown() { log.scrollTop = log.scrollHeight; }
  // For screen readers (aria-live); quiet while a resume replays what they heard before.
  function announce(text) { if (!s.replaying) { announcer.textContent = ""; setTimeout(() => { announcer.textContent = text; }, 50); } }
  function note(text, cls) { const n = el("div", { class: "note " + (cls || ""), text }); log.append(n); scrollDown(); return n; }
  function bubble(kind, text, who, attrs) {
    const b = el("div", Object.assign({ class: "msg " + kind }, attrs || {}), who ? el("span", { class: "who", text: who }) : null);
    b.append(document.createTextNode(text));
    log.append(b); scrollDown();
    return b;
  }
  function panelOpen() { return !panel.hidden; }

  Object.assign(w, { scrollDown, announce, note, bubble, panelOpen });
};
