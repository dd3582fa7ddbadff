/* livechat.widget.texts — the widget's words for the server's names. */
livechat.widget.texts = {
  FIELD_LABELS: {
    firstName: "First name", lastName: "Last name", email: "E-mail", company: "Company",
    jobTitle: "Job title", phone: "Phone", country: "Country (2-letter code)",
  },
  END_REASONS: {
    agent: "The agent ended the chat.",
    visitor: "You ended the chat.",
    inactivity: "The chat ended after 10 minutes without messages.",
  },
  TRANSCRIPT: {
    offer: "E-mail me the transcript",
    sending: "Sending the transcript…",
    sent: (address) => "The transcript is on its way to " + address + ".",
    failed: (why) => "The transcript could not be sent: " + why,
  },
  // Friendlier words for the server's capture rules; the rules themselves come from
  // /config.json (`capture`), so the form refuses exactly what the server would.
  FIELD_HINTS: {
    email: "Enter a valid e-mail address, like name@example.com.",
    phone: "Enter a valid phone number.",
    country: "Use a two-letter country code, like FR.",
  },
};
