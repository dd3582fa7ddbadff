/* livechat agent inbox (inbox.html) — no build step, no dependencies: inbox.js is served as
 * shared/*.js and inbox/*.js put together (the list: livechat/api/pages.py). This part, the
 * last, assembles the others around one context `app` (session store, state, socket and the
 * parts' functions) and starts: signed in already, or the sign-in form.
 * Sign-in: Cognito, tokens in sessionStorage; WebSocket with ?token=<IdToken>. Protocol:
 * docs/protocol.md. */
const $ = livechat.dom.byId;
const parts = livechat.inbox;
const app = {
  session: livechat.store.open(() => sessionStorage, "livechat-inbox:"),
  config: null, // /config.json
  state: {
    chats: new Map(), // conversationId -> {visitor, page, lastActivityAt, lastSeq, items: [transcript items] | null}
    selected: null,   // the conversationId of the chat on screen
  },
};
parts.alerts(app);
parts.auth(app);
parts.connection(app); // app.socket
parts.status(app);
parts.offers(app);
parts.push(app);
parts.transcript(app);
parts.chats(app);
parts.composer(app);
parts.conversations(app);
parts.download(app);
parts.performance(app);
const session = app.session, s = app.state;

// The header names the agent as visitors see them (their name, once the inbox said it);
// the e-mail they signed in with stays on hover.
app.showMe = function () {
  const tokens = session.get("tokens") || {};
  $("me").textContent = session.get("name") || tokens.email || "";
  $("me").title = tokens.email ? "Signed in as " + tokens.email : "";
};

function startApp() {
  const tokens = session.get("tokens");
  $("signin").hidden = true; $("app").hidden = false;
  app.showMe();
  app.showAdminTab();
  app.showStatus(session.get("status") || "available");
  app.showNotifyBanner();
  for (const frame of session.get("offers") || []) if (Date.parse(frame.expiresAt) > Date.now()) app.showOffer(frame, true);
  app.scheduleRefresh(tokens);
  app.setConn("Connecting…");
  app.socket.start();
}
app.startApp = startApp;

async function boot() {
  try { await app.loadConfig(); } catch (e) { $("signin").hidden = false; $("signin-error").textContent = "The inbox could not load its configuration."; return; }
  const tokens = session.get("tokens");
  if (tokens && tokens.expiresAt > Date.now() + 30000) startApp();
  else if (tokens && tokens.refreshToken) { await app.refresh(); if (session.get("tokens") && session.get("tokens").expiresAt > Date.now()) startApp(); else app.signOut(""); }
  else { $("signin").hidden = false; $("signin-email").focus(); }
}
window.livechatInbox = { state: () => ({ connected: app.socket.isOpen(), offers: app.offerCount(), chats: s.chats.size, selected: s.selected,
  push: app.pushState(), alerts: app.alertState(), reach: app.reachState() }) };
boot();
