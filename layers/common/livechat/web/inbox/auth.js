/* livechat.inbox.auth(app) — /config.json and signing in: Cognito InitiateAuth
 * (USER_PASSWORD_AUTH, refreshed with REFRESH_TOKEN_AUTH five minutes before the IdToken
 * expires), the tokens in sessionStorage; sign-out. The first sign-in with an invitation's
 * temporary password answers NEW_PASSWORD_REQUIRED: the "Choose a new password" form, then
 * RespondToAuthChallenge, whose tokens continue as a sign-in's. */
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
      err.type = String(data.__type || "").split("#").pop(); // "…#NotAuthorizedException" in some answers
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

  // The pool's password policy (template.yaml, UserPool.Policies.PasswordPolicy; the form
  // states it: inbox.html #newpass-policy). Checked here so that the agent learns at once
  // what is missing; Cognito stays the judge, and its message shows for what it refuses.
  function policyProblem(password) {
    if ([...password].length < 12) return "The new password is too short: it needs at least 12 characters.";
    if (!/[a-z]/.test(password)) return "The new password needs a lower-case letter.";
    if (!/[A-Z]/.test(password)) return "The new password needs an upper-case letter.";
    if (!/[0-9]/.test(password)) return "The new password needs a number.";
    return "";
  }

  function signedIn(result, email) {
    saveTokens(result, email);
    session.set("justSignedIn", true);
    app.startApp();
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
      $("signin-password").value = "";
      if (data.ChallengeName === "NEW_PASSWORD_REQUIRED") { askNewPassword(data, email); return; }
      if (!data.AuthenticationResult) throw new Error("this account needs a step the inbox does not support yet (" + (data.ChallengeName || "challenge") + ")");
      signedIn(data.AuthenticationResult, email);
    } catch (e) {
      // An invitation unused for longer than the pool's TemporaryPasswordValidityDays:
      // Cognito's own words say what to do (the administrator invites again).
      $("signin-error").textContent = /temporary password/i.test(e.message) ? "Sign-in failed: " + e.message
        : e.type === "NotAuthorizedException" || /password|user/i.test(e.message)
          ? "Wrong e-mail or password." : "Sign-in failed: " + e.message;
    } finally { button.disabled = false; }
  });

  // --- the first sign-in: NEW_PASSWORD_REQUIRED -------------------------------------------
  let challenge = null; // {session, username, email} while the "Choose a new password" form is up

  function askNewPassword(data, email) {
    const params = data.ChallengeParameters || {};
    challenge = { session: data.Session, username: params.USER_ID_FOR_SRP || email, email };
    $("newpass-email").textContent = email;
    $("newpass-username").value = email; // for password managers: whose new password this is
    $("newpass-password").value = ""; $("newpass-confirm").value = "";
    $("newpass-error").textContent = "";
    $("signin-form").hidden = true; $("newpass-form").hidden = false;
    $("newpass-password").focus();
  }
  function closeNewPassword(message) {
    challenge = null;
    $("newpass-password").value = ""; $("newpass-confirm").value = "";
    $("newpass-error").textContent = "";
    $("newpass-form").hidden = true; $("signin-form").hidden = false;
    $("signin-error").textContent = message || "";
  }

  $("newpass-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!challenge) return;
    const error = $("newpass-error"), first = $("newpass-password");
    const password = first.value, again = $("newpass-confirm").value;
    error.textContent = "";
    const problem = !password ? "Enter a new password." : policyProblem(password);
    if (problem) { error.textContent = problem; first.focus(); return; }
    if (password !== again) {
      error.textContent = "The two passwords are not the same: type the new password again.";
      $("newpass-confirm").focus();
      return;
    }
    const button = ev.target.querySelector("button[type=submit]");
    button.disabled = true;
    const { session: cognitoSession, username, email } = challenge;
    try {
      const data = await cognito("RespondToAuthChallenge", { ChallengeName: "NEW_PASSWORD_REQUIRED",
        ClientId: app.config.cognito.clientId, Session: cognitoSession,
        ChallengeResponses: { USERNAME: username, NEW_PASSWORD: password } });
      if (!data.AuthenticationResult) {
        closeNewPassword("Your new password is set, but this account needs a step the inbox does not support yet ("
          + (data.ChallengeName || "challenge") + ").");
        $("signin-email").focus();
        return;
      }
      closeNewPassword("");
      signedIn(data.AuthenticationResult, email);
    } catch (e) {
      if (e.type === "InvalidPasswordException") {
        error.textContent = "The new password was refused: " + e.message;
        first.focus();
      } else if (["NotAuthorizedException", "ExpiredCodeException", "ResourceNotFoundException"].includes(e.type)
          || /session/i.test(e.message)) {
        // The challenge's session lasts a few minutes (the app client's AuthSessionValidity).
        const said = e.message && e.message !== cognitoSession ? " (" + e.message + ")" : "";
        closeNewPassword("Your sign-in expired before the new password was set: sign in again with your temporary password."
          + said);
        $("signin-email").value = email;
        $("signin-password").focus();
      } else {
        error.textContent = "The new password could not be set: " + e.message;
      }
    } finally { button.disabled = false; }
  });
  $("newpass-cancel").addEventListener("click", () => { closeNewPassword(""); $("signin-password").focus(); });

  function signOut(message) {
    clearTimeout(refreshTimer);
    for (const k of ["tokens", "status", "name", "selected", "offers", "justSignedIn"]) session.del(k);
    app.socket.stop();
    app.clearOffers();
    app.forgetReach();
    app.state.chats.clear(); app.renderInbox(); app.closeChatView();
    $("app").hidden = true; $("signin").hidden = false;
    closeNewPassword(message);
    $("signin-email").focus();
  }
  // Only this button ends the push subscription (push.js): a session that merely expired
  // keeps it, so that chat requests still reach the agent, who signs in again to accept.
  $("signout").addEventListener("click", async () => {
    const button = $("signout");
    button.disabled = true;
    try { await app.signOutPush(); } finally { button.disabled = false; }
    signOut("");
  });

  Object.assign(app, { loadConfig, scheduleRefresh, refresh, signOut });
};
