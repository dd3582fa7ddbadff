/* livechat.inbox.push(app) — chat requests while the inbox is closed (protocol.md, second
 * round: Web Push). Once the agent allowed notifications (the banner's Enable, or a
 * permission given before): the service worker sw.js registered next to inbox.html,
 * PushManager.subscribe({userVisibleOnly, applicationServerKey: vapidPublicKey of
 * /config.json}), and `subscribePush` sent on every connection (the server keeps one copy; a
 * server that lost it, or a new key, is covered). Sign-out sends `unsubscribePush` and drops
 * the subscription. What keeps it from working here (no Push API, no key, the server's
 * refusal) is said in the banner. The worker's {type: "openOffer"} messages (a notification
 * clicked while this tab is open) show that offer, as inbox.html#offer=<id> does. */
livechat.inbox.push = function (app) {
  const READY_TIMEOUT_MS = 10000;
  const ANSWER_TIMEOUT_MS = 5000;
  let registration = null; // sw.js's registration, once registered
  let subscription = null; // this browser's PushSubscription, once known
  let state = { status: "off", endpoint: null, error: "" }; // for the banner and the tests
  let queue = Promise.resolve(); // setUp runs one at a time
  let ackedEndpoint = null; // the endpoint the server acknowledged on this connection

  function keyBytes(text) {
    const b64 = String(text).replace(/-/g, "+").replace(/_/g, "/");
    const raw = atob(b64 + "=".repeat((4 - (b64.length % 4)) % 4));
    const bytes = Uint8Array.from(raw, (c) => c.charCodeAt(0));
    if (bytes.length !== 65 || bytes[0] !== 4) throw new Error("not a P-256 public key");
    return bytes;
  }
  function sameKey(sub, bytes) {
    const key = sub.options && sub.options.applicationServerKey;
    if (!key) return true; // the browser does not tell: keep it (the server refuses a wrong one)
    const have = new Uint8Array(key);
    return have.length === bytes.length && have.every((b, i) => b === bytes[i]);
  }
  function within(ms, promise, what) {
    return Promise.race([promise, new Promise((resolve, reject) => setTimeout(() => reject(new Error(what)), ms))]);
  }

  async function workerRegistration() {
    if (registration) return registration;
    if (!("serviceWorker" in navigator)) return null;
    try { return (await navigator.serviceWorker.getRegistration()) || null; } catch (e) { return null; }
  }
  async function register() {
    await navigator.serviceWorker.register("sw.js");
    // subscribe() needs an active worker: ready gives the registration once it has one.
    registration = await within(READY_TIMEOUT_MS, navigator.serviceWorker.ready, "the service worker did not start");
    return registration;
  }

  function setState(next) {
    state = next;
    app.showReach(); // the line next to the status toggle (status.js)
  }
  function trouble(status, text, action) {
    setState({ status, endpoint: subscription ? subscription.endpoint : null, error: text });
    app.notifyBanner(text, action);
  }
  function closedInboxOnly(why) {
    trouble("unsupported", "Chat requests reach you only while this inbox is open: " + why + ".", null);
  }

  async function setUpNow() {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    if (!("serviceWorker" in navigator)) { closedInboxOnly("this browser cannot run the inbox's service worker here"); return; }
    let reg;
    try { reg = await register(); } catch (e) { closedInboxOnly("the service worker could not start (" + e.message + ")"); return; }
    if (!("PushManager" in window) || !reg.pushManager) { closedInboxOnly("this browser does not support Web Push"); return; }
    if (!app.config.vapidPublicKey) { closedInboxOnly("the server sent no push key (vapidPublicKey in config.json)"); return; }
    let key;
    try { key = keyBytes(app.config.vapidPublicKey); } catch (e) { closedInboxOnly("the server's push key is not valid"); return; }
    try {
      let sub = await reg.pushManager.getSubscription();
      if (sub && !sameKey(sub, key)) { // the deployment's key changed: the old subscription is useless
        const old = sub.endpoint;
        try { await sub.unsubscribe(); } catch (e) { /* gone already */ }
        if (app.socket.isOpen()) app.socket.request({ action: "unsubscribePush", endpoint: old }).then(() => app.refreshReach(), () => {});
        sub = null;
      }
      subscription = sub || await reg.pushManager.subscribe({ userVisibleOnly: true, applicationServerKey: key });
    } catch (e) {
      closedInboxOnly("this browser refused a push subscription (" + (e.message || e.name) + ")");
      return;
    }
    await sendSubscription();
  }

  // subscribePush over the socket, waiting for its answer; without a socket, the next
  // connection sends it.
  async function sendSubscription() {
    if (!subscription) return;
    const json = subscription.toJSON ? subscription.toJSON() : {};
    const keys = json.keys || {};
    const endpoint = json.endpoint || subscription.endpoint;
    if (ackedEndpoint === endpoint && app.socket.isOpen()) return;
    setState({ status: "waiting", endpoint, error: "" });
    if (!app.socket.isOpen()) return;
    let answer;
    try {
      answer = await app.socket.request({ action: "subscribePush",
        subscription: { endpoint: state.endpoint, keys: { p256dh: keys.p256dh, auth: keys.auth } } });
    } catch (e) { return; } // disconnected: sent again on the next connection
    if (answer.type === "ack") {
      ackedEndpoint = endpoint;
      setState({ status: "on", endpoint, error: "" });
      app.hideNotifyBanner();
      app.refreshReach(); // how many subscriptions the agent holds now
    } else {
      trouble("error", "This browser could not be registered for chat requests: " + (answer.message || answer.code) + ".", "Try again");
    }
  }

  // A new connection: the server is told again.
  function connected() {
    ackedEndpoint = null;
    return setUp();
  }

  function setUp() {
    queue = queue.then(setUpNow).catch((e) => trouble("error", "Chat requests could not be set up: " + e.message + ".", "Try again"));
    return queue;
  }

  // The banner's Enable (a click: the permission may be asked only now).
  async function enableNotifications() {
    if (!("Notification" in window)) { app.notifyBanner("This browser does not support notifications.", null); return; }
    const permission = Notification.permission === "granted" ? "granted" : await Notification.requestPermission();
    if (permission !== "granted") {
      trouble("blocked", "Notifications are blocked: allow them in the browser's site settings, then press Enable.", "Enable");
      return;
    }
    app.hideNotifyBanner();
    app.toast("Browser notifications are on.");
    await setUp();
  }

  // Sign-out: the server forgets this browser, and the browser its subscription.
  async function signOutPush() {
    await queue;
    const reg = await workerRegistration();
    let sub = subscription;
    if (!sub && reg && reg.pushManager) { try { sub = await reg.pushManager.getSubscription(); } catch (e) { sub = null; } }
    subscription = null; ackedEndpoint = null;
    setState({ status: "off", endpoint: null, error: "" });
    if (!sub) return;
    if (app.socket.isOpen()) {
      try { await within(ANSWER_TIMEOUT_MS, app.socket.request({ action: "unsubscribePush", endpoint: sub.endpoint }), "no answer"); } catch (e) { /* a push to it will find it gone */ }
    }
    try { await sub.unsubscribe(); } catch (e) { /* gone already */ }
  }

  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.addEventListener("message", (ev) => {
      const m = ev.data || {};
      if (m.type === "openOffer" && m.offerId) app.openOffer(String(m.offerId));
    });
    navigator.serviceWorker.startMessages();
  }

  Object.assign(app, { enableNotifications, pushConnected: connected, signOutPush, workerRegistration, pushState: () => Object.assign({}, state) });
};
