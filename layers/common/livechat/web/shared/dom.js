/* livechat.dom — building the pages' elements. Every text that came from anyone (dialog,
 * agent, visitor, server) goes in with textContent, never as HTML. */
livechat.dom = {
  // el("button", {class: "x", text: "Send", onclick: fn, "data-role": "send"}, ...children)
  el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "class") node.className = v;
      else if (k === "text") node.textContent = v;
      else if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
      else node.setAttribute(k, v === true ? "" : String(v));
    }
    for (const c of children) if (c) node.append(c);
    return node;
  },

  byId(id) { return document.getElementById(id); },

  // A value inside an attribute selector: '[data-seq="' + cssEscape(x) + '"]'.
  cssEscape(s) { return window.CSS && CSS.escape ? CSS.escape(s) : String(s).replace(/["\\]/g, "\\$&"); },
};
