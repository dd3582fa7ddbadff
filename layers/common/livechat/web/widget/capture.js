/* livechat.widget.capture(w) — the capture card: a form for the visitor's details, checked
 * in the browser with the server's own rules (/config.json's `capture`) before it is sent. */
livechat.widget.capture = function (w) {
  const { el } = livechat.dom;
  const { t, label, hint } = livechat.widget.texts;
  const s = w.state, v = w.view;
  const AUTOCOMPLETE = { firstName: "given-name", lastName: "family-name", email: "email", company: "organization",
    jobTitle: "organization-title", phone: "tel", country: "country" };

  // rules: /config.json's `capture` {maxLength, fields: {name: {pattern, message}}}, or null
  // when it could not be read (the server checks again either way).
  function validateField(rules, name, value, required) {
    if (!value) return required ? t("capture.required") : "";
    if (rules && value.length > rules.maxLength) return t("capture.maxLength", { max: rules.maxLength });
    const rule = rules && rules.fields[name];
    if (rule && !new RegExp(rule.pattern).test(value)) {
      return hint(name) || rule.message.charAt(0).toUpperCase() + rule.message.slice(1) + ".";
    }
    return "";
  }

  function showCapture(card) {
    const required = card.required || []; // workspace.md: listed fields are optional by default
    const form = el("form", { class: "capture", "data-card": card.id, novalidate: true, "aria-label": t("capture.label") });
    const inputs = {};
    for (const name of card.fields) {
      const id = "lc-" + card.id + "-" + name;
      const err = el("span", { class: "field-error", id: id + "-error", "data-error-for": name });
      const input = el("input", {
        id, name, "data-field": name, required: required.includes(name),
        type: name === "email" ? "email" : name === "phone" ? "tel" : "text",
        autocomplete: AUTOCOMPLETE[name] || "off",
        "aria-describedby": id + "-error",
      });
      inputs[name] = { input, err };
      form.append(el("label", { for: id }, document.createTextNode(
        label(name) + (required.includes(name) ? " *" : "")), input, err));
    }
    const formError = el("div", { class: "form-error", role: "alert" });
    const submit = el("button", { type: "submit", class: "primary", text: t("capture.submit") });
    form.append(formError, submit);
    function setError(name, message) {
      const f = inputs[name];
      if (!f) return false;
      f.err.textContent = message;
      f.input.setAttribute("aria-invalid", message ? "true" : "false");
      return true;
    }
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      formError.textContent = "";
      const fields = {};
      let firstBad = null;
      const rules = ((await w.clientConfig()) || {}).capture || null;
      for (const name of card.fields) {
        const value = inputs[name].input.value.trim();
        const problem = validateField(rules, name, value, required.includes(name));
        setError(name, problem);
        if (problem && !firstBad) firstBad = inputs[name].input;
        if (value) fields[name] = value;
      }
      if (firstBad) { firstBad.focus(); return; }
      submit.disabled = true;
      try {
        await w.whenStarted();
        const ack = await w.socket.request({ action: "capture", conversationId: s.conv.id, cardId: card.id, fields });
        if (ack.type === "error") {
          const m = /^fields\.([A-Za-z0-9_]+):\s*(.*)$/.exec(ack.message || "");
          if (m && setError(m[1], m[2].charAt(0).toUpperCase() + m[2].slice(1) + ".")) inputs[m[1]].input.focus();
          else formError.textContent = ack.message || t("capture.failed");
          submit.disabled = false;
          return;
        }
        w.apply({ type: "captureRecorded", conversationId: s.conv.id, seq: ack.seq, cardId: card.id, fields });
      } catch (e) {
        submit.disabled = false;
        formError.textContent = t("capture.dropped");
      }
    });
    s.interactive = form;
    v.log.append(form); w.scrollDown();
    if (!s.replaying && w.panelOpen()) inputs[card.fields[0]].input.focus();
  }

  Object.assign(w, { showCapture });
};
