/* livechat.inbox.alerts(app) — getting the agent's attention: the toast, the sound (a
 * two-tone beep, once the agent turned it on) and browser notifications while the tab is
 * hidden (the banner asks for the permission). */
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

  function showNotifyBanner() {
    const supported = "Notification" in window;
    $("notify-banner").hidden = supported && Notification.permission === "granted";
  }
  $("notify-enable").addEventListener("click", async () => {
    if (!("Notification" in window)) { toast("This browser does not support notifications."); return; }
    const result = await Notification.requestPermission();
    if (result === "granted") { $("notify-banner").hidden = true; toast("Browser notifications are on."); }
    else toast("Notifications are blocked: allow them in the browser's site settings.");
  });
  $("notify-dismiss").addEventListener("click", () => { $("notify-banner").hidden = true; });
  function notify(title, body) {
    if (!document.hidden || !("Notification" in window) || Notification.permission !== "granted") return;
    try {
      const n = new Notification(title, { body, tag: "livechat-offer" });
      n.onclick = () => { window.focus(); n.close(); };
    } catch (e) { /* some browsers only allow notifications from a service worker */ }
  }

  Object.assign(app, { toast, beep, showNotifyBanner, notify });
};
