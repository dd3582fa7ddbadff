/* livechat.inbox.auth(app) — /config.json and signing in: Cognito InitiateAuth
 * (USER_PASSWORD_AUTH, refreshed with REFRESH_TOKEN_AUTH five minutes before the IdToken
 * expires), the tokens in sessionStorage; sign-out. */
livechat.inbox.auth = function (app) {
  const $ = livechat.dom.byId;
  const session = app.session;

  async function loadConfig() {
    const r = await fetch("config.json", { cache: "no-store" });
    if (!r.ok) throw new Error("config.json: HTTP " + r.status);
    app.config = await r.json();
  }
  async function cognito(target, body) {
    const c = app.config.cognito;
    const endpoint = c.endpoint || ("https://cognito-idp." + c.region + ".amazonaws.com/");
    const r = await fetch(endpoint, {
      method: "POST",
      headers: { "Content-Type": "application/x-amz-json-1.1", "X-Amz-Target": "AWSCognitoIdentityProviderService." + target },
      body: JSON.stringify(body),
    });
    const data = await r.json().catch(() => ({}));
    if (!r.ok) {
      const err = new Error(data.message || data.Message || ("sign-in failed (HTTP " + r.status + ")"));
      err.type = data.__type || "";
      throw err;
    }
    return data;
  }
  function jwtPayload(token) {
    try { return JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/"))); } catch (e) { return {}; }
  }
  function saveTokens(result, email, refreshToken) {
    const claims = jwtPayload(result.IdToken);
    const expiresAt = claims.exp ? claims.exp * 1000 : Date.now() + (result.ExpiresIn || 3600) * 1000;
    const tokens = { idToken: result.IdToken, refreshToken: result.RefreshToken || refreshToken, expiresAt, email };
    session.set("tokens", tokens);
    scheduleRefresh(tokens);
    return tokens;
  }
  let refreshTimer = null;
  function scheduleRefresh(tokens) {
    clearTimeout(refreshTimer);
    const inMs = Math.max(5000, tokens.expiresAt - Date.now() - 5 * 60 * 1000);
    refreshTimer = setTimeout(refresh, Math.min(inMs, 2 ** 31 - 1));
  }
  async function refresh() {
    const tokens = session.get("tokens");
    if (!tokens || !tokens.refreshToken) return;
    try {
      const data = await cognito("InitiateAuth", { AuthFlow: "REFRESH_TOKEN_AUTH", ClientId: app.config.cognito.clientId,
        AuthParameters: { REFRESH_TOKEN: tokens.refreshToken } });
      saveTokens(data.AuthenticationResult, tokens.email, tokens.refreshToken);
    } catch (e) {
      if (Date.now() > tokens.expiresAt) { signOut("Your session expired: please sign in again."); return; }
      refreshTimer = setTimeout(refresh, 30000);
    }
  }

  $("signin-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    // The agent's Cognito user name is their e-mail in lower case (protocol: "Names"). The pool
    // matches user names case-insensitively; lower-casing here makes any spelling work
    // everywhere, also where the pool does not (the local stack's emulator).
    const email = $("signin-email").value.trim().toLowerCase(), password = $("signin-password").value;
    $("signin-error").textContent = "";
    if (!email || !password) { $("signin-error").textContent = "Enter your e-mail and password."; return; }
    const button = ev.target.querySelector("button");
    button.disabled = true;
    try {
      const data = await cognito("InitiateAuth", { AuthFlow: "USER_PASSWORD_AUTH", ClientId: app.config.cognito.clientId,
        AuthParameters: { USERNAME: email, PASSWORD: password } });
      if (!data.AuthenticationResult) throw new Error("this account needs a step the inbox does not support yet (" + (data.ChallengeName || "challenge") + ")");
      saveTokens(data.AuthenticationResult, email);
      session.set("justSignedIn", true);
      $("signin-password").value = "";
      app.startApp();
    } catch (e) {
      $("signin-error").textContent = e.type === "NotAuthorizedException" || /password|user/i.test(e.message)
        ? "Wrong e-mail or password." : "Sign-in failed: " + e.message;
    } finally { button.disabled = false; }
  });

  function signOut(message) {
    clearTimeout(refreshTimer);
    for (const k of ["tokens", "status", "selected", "offers", "justSignedIn"]) session.del(k);
    app.socket.stop();
    app.clearOffers();
    app.state.chats.clear(); app.renderInbox(); app.closeChatView();
    $("app").hidden = true; $("signin").hidden = false;
    $("signin-error").textContent = message || "";
    $("signin-email").focus();
  }
  $("signout").addEventListener("click", () => signOut(""));

  Object.assign(app, { loadConfig, scheduleRefresh, refresh, signOut });
};
