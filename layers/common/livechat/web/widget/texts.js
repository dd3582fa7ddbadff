/* livechat.widget.texts — every word the widget shows, from one table (widget/texts.json:
 * English, French, Chinese; pages.py puts it in the script as livechat.widget.TEXTS), in the
 * dialog's language with the workspace's own wording over it: the dialog answer's `language`
 * and `texts` (workspace.md additions, checked by livechat.domain.widget_texts). A key a
 * language lacks falls back to English; `{name}` placeholders are filled by t(key, values). */
livechat.widget.texts = (function () {
  const TABLE = livechat.widget.TEXTS;
  let language = "en", own = {};

  function use(lang, overrides) {
    language = Object.prototype.hasOwnProperty.call(TABLE, lang) ? lang : "en";
    own = overrides && typeof overrides === "object" ? overrides : {};
  }
  function t(key, values) {
    const pick = (table) => (Object.prototype.hasOwnProperty.call(table, key) ? table[key] : null);
    const template = pick(own) ?? pick(TABLE[language]) ?? pick(TABLE.en) ?? key;
    return String(template).replace(/\{(\w+)\}/g, (whole, name) =>
      values && values[name] != null ? String(values[name]) : whole);
  }
  // The captured fields' labels and hints: the server's field names as keys.
  const label = (field) => (Object.prototype.hasOwnProperty.call(TABLE.en, "field." + field) ? t("field." + field) : field);
  const hint = (field) => (Object.prototype.hasOwnProperty.call(TABLE.en, "hint." + field) ? t("hint." + field) : null);
  return { use, t, label, hint, language: () => language };
})();
