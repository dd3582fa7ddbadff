/* livechat.inbox.texts — the inbox's words for the server's names, and how it writes a
 * visitor and a time. */
livechat.inbox.texts = {
  FIELD_LABELS: { firstName: "First name", lastName: "Last name", email: "E-mail", company: "Company",
    jobTitle: "Job title", phone: "Phone", country: "Country" },
  END_WORDS: { agent: "You ended the chat.", visitor: "The visitor ended the chat.",
    inactivity: "The chat ended after 10 minutes without messages." },
  visitorName(v) {
    v = v || {};
    const name = [v.firstName, v.lastName].filter(Boolean).join(" ");
    return name || v.email || "Visitor";
  },
  fmtTime(iso) { try { return new Date(iso).toLocaleTimeString([], { hour: "2-digit", minute: "2-digit" }); } catch (e) { return ""; } },
};
