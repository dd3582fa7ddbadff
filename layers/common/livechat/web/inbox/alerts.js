/* livechat.inbox.alerts(app) — getting the agent's attention: the toast, the sound (a
 * two-tone beep, once the agent turned it on), the notifications banner (it asks for the
 * permission; push.js does the rest) and, while an offer is pending, alerts that last: the
 * sound every few seconds, the count in the tab's title, a system notification while the tab
 * is hidden. */
livechat.inbox.alerts = function (app) {
  const $ = livechat.dom.byId;

  function toast(text) {
    const t = $("toast");
    t.textContent = text; t.classList.add("show");
    clearTimeout(toast.timer); toast.timer = setTimeout(() => t.classList.remove("show"), 4000);
  }

  let audio = null;
  function beep() {
    if (!audio) return;
    const now = audio.currentTime;
    for (const [at, freq] of [[0, 880], [0.22, 1175]]) {
      const osc = audio.createOscillator(), gain = audio.createGain();
      osc.frequency.value = freq; osc.type = "sine";
      gain.gain.setValueAtTime(0.0001, now + at);
      gain.gain.exponentialRampToValueAtTime(0.25, now + at + 0.02);
      gain.gain.exponentialRampToValueAtTime(0.0001, now + at + 0.18);
      osc.connect(gain).connect(audio.destination);
      osc.start(now + at); osc.stop(now + at + 0.2);
    }
  }
  $("sound-toggle").addEventListener("click", () => {
    const on = $("sound-toggle").getAttribute("aria-pressed") !== "true";
    if (on) {
      try { audio = audio || new (window.AudioContext || window.webkitAudioContext)(); audio.resume(); beep(); } catch (e) { toast("Sound is not available in this browser."); return; }
    }
    $("sound-toggle").setAttribute("aria-pressed", String(on));
    $("sound-toggle").textContent = on ? "Sound on" : "Enable sound";
    if (!on) audio = null;
  });

  // --- the notifications banner -------------------------------------------------------------
  // It asks for the permission (its words as inbox.html has them), or, once asked, says what
  // keeps chat requests from reaching this browser (push.js tells it).
  const banner = $("notify-banner"), bannerText = banner.querySelector("span"), enable = $("notify-enable");
  const ASK = bannerText.textContent;
  function notifyBanner(text, action) { // action: the Enable button's label, or null for none
    bannerText.textContent = text || ASK;
    enable.hidden = !action; enable.textContent = action || "Enable";
    banner.hidden = false;
  }
  function hideNotifyBanner() {
    banner.hidden = true;
    bannerText.textContent = ASK; enable.hidden = false; enable.textContent = "Enable";
  }
  function showNotifyBanner() {
    if ("Notification" in window && Notification.permission === "granted") hideNotifyBanner();
    else notifyBanner("", "Enable");
  }
  enable.addEventListener("click", () => app.enableNotifications());
  $("notify-dismiss").addEventListener("click", () => { banner.hidden = true; });
  function notify(title, body) {
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
    try {
      const n = new Notification(title, { body, tag: "livechat-message" });
      n.onclick = () => { window.focus(); n.close(); };
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  }

  // --- alerts that last while an offer is pending ---------------------------------------------
  // The sound again every REPEAT_MS, the count in the tab's title, and (while the tab is
  // hidden) a system notification per offer, tagged with its conversation like the service
  // worker's (sw.js), so that a click on it goes through the worker and back to this tab.
  const REPEAT_MS = 4000;
  const baseTitle = document.title;
  let pending = []; // the chatOffered frames of the offers shown
  let repeat = null;
  const shownSystem = new Map(); // offerId -> {conversationId, fallback: Notification | null}

  function offerNotice(frame) {
    const v = frame.visitor || {}, page = frame.page || {};
    const name = [v.firstName, v.lastName].filter(Boolean).join(" ") || v.email || "a visitor";
    const where = page.title || page.url || "";
    return { title: "Chat request from " + name, body: [where ? "On " + where : "", "Accept it in the inbox."].filter(Boolean).join("\n") };
  }
  async function showSystem(frame) {
    if (!("Notification" in window) || Notification.permission !== "granted") return;
    const entry = { conversationId: frame.conversationId, fallback: null };
    shownSystem.set(frame.offerId, entry);
    const { title, body } = offerNotice(frame);
    const options = { body, tag: frame.conversationId, requireInteraction: true, renotify: true,
      data: { conversationId: frame.conversationId, offerId: frame.offerId } };
    const registration = await app.workerRegistration();
    if (registration) {
      try {
        await registration.showNotification(title, options);
        if (shownSystem.get(frame.offerId) !== entry) closeTagged(registration, frame.conversationId, frame.offerId); // ended meanwhile
        return;
      } catch (e) { /* no worker after all: a page notification */ }
    }
    if (shownSystem.get(frame.offerId) !== entry) return;
    try {
      const n = new Notification(title, options);
      n.onclick = () => { window.focus(); n.close(); app.openOffer(frame.offerId); };
      entry.fallback = n;
    } catch (e) { /* only a service worker may show notifications here */ }
  }
  async function closeTagged(registration, tag, offerId) {
    try {
      const list = await registration.getNotifications({ tag });
      for (const n of list) if ((n.data || {}).offerId === offerId && !(n.data || {}).closesItself) n.close();
    } catch (e) { /* nothing to close */ }
  }
  async function closeSystem(offerId) {
    const entry = shownSystem.get(offerId);
    if (!entry) return;
    shownSystem.delete(offerId);
    if (entry.fallback) entry.fallback.close();
    const registration = await app.workerRegistration();
    if (registration) await closeTagged(registration, entry.conversationId, offerId);
  }
  // offers.js calls this whenever its list changes (frames: the offers pending now).
  function offersChanged(frames) {
    pending = frames.slice();
    document.title = pending.length ? "(" + pending.length + ") " + baseTitle : baseTitle;
    if (pending.length && !repeat) repeat = setInterval(beep, REPEAT_MS);
    if (!pending.length && repeat) { clearInterval(repeat); repeat = null; }
    const open = new Set(pending.map((f) => f.offerId));
    for (const id of Array.from(shownSystem.keys())) if (!open.has(id)) closeSystem(id);
    if (document.hidden) for (const f of pending) if (!shownSystem.has(f.offerId)) showSystem(f);
  }
  document.addEventListener("visibilitychange", () => {
    if (document.hidden) offersChanged(pending);
    else for (const id of Array.from(shownSystem.keys())) closeSystem(id); // the banner is in front of the agent
  });

  Object.assign(app, { toast, beep, notify, showNotifyBanner, notifyBanner, hideNotifyBanner, offersChanged,
    alertState: () => ({ title: document.title, repeating: !!repeat, systemNotifications: shownSystem.size }) });
};
