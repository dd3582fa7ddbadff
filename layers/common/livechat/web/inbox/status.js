/* livechat.inbox.status(app) — the agent's Available/Away toggle. The status lives on the
 * server; a change made while disconnected is sent on the next connection.
 * Next to it, while available, a short line says whether offers reach the agent with this
 * tab closed: the `inbox` answer's pushSubscriptions (how many Web Push subscriptions the
 * agent holds) and whether this browser's is acknowledged (push.js). It is asked again
 * (listInbox) after each subscribePush/unsubscribePush ack; the answer to the latest
 * request wins. */
livechat.inbox.status = function (app) {
  const { el, byId: $ } = livechat.dom;
  const session = app.session;

  const REACH = {
    here: "Offers reach you even with this tab closed",
    elsewhere: "With this tab closed, offers reach only your other browsers",
    nowhere: "Close this tab and you get no chats — enable notifications to get offers with the inbox closed",
  };
  let available = true;
  let subscriptions = null; // the inbox answer's pushSubscriptions; null until known
  let asked = 0, applied = 0; // listInbox requests sent / the one whose answer is shown
  // Small print between the toggle and the buttons: it takes only the top bar's free room
  // (flex-basis 0) and wraps there, never squeezing the buttons.
  const reachLine = el("span", { class: "muted", role: "status", "data-role": "reach", hidden: true,
    style: "flex: 8 1 0; min-width: 0; max-width: 26em; line-height: 1.3" });
  $("status-toggle").closest("label").after(reachLine);

  function showReach() {
    const push = app.pushState ? app.pushState() : { status: "off" };
    const here = !!push.endpoint && (push.status === "on" || push.status === "waiting");
    const which = !available || subscriptions === null ? null
      : subscriptions > 0 ? (here ? "here" : "elsewhere") : "nowhere";
    reachLine.hidden = !which;
    reachLine.textContent = which ? REACH[which] : "";
    reachLine.setAttribute("data-reach", which || "");
    reachLine.style.color = which === "nowhere" ? "#92400e" : ""; // the amber of "Reconnecting…"
  }
  // A listInbox request about to be sent (its number), then its answer.
  function inboxAsked() { return ++asked; }
  function inboxAnswered(number, answer) {
    if (number < applied) return; // an older request answered late
    applied = number;
    if (typeof answer.pushSubscriptions === "number") subscriptions = answer.pushSubscriptions;
    showReach();
  }
  async function refreshReach() {
    if (!app.socket.isOpen()) return; // the next connection's listInbox tells
    const number = inboxAsked();
    try {
      const answer = await app.socket.request({ action: "listInbox" });
      if (answer.type === "inbox") inboxAnswered(number, answer);
    } catch (e) { /* disconnected: the next connection's listInbox tells */ }
  }
  function forgetReach() { subscriptions = null; showReach(); } // signed out

  function showStatus(status) {
    $("status-toggle").checked = status === "available";
    $("status-label").textContent = status === "available" ? "Available" : "Away";
    available = status === "available";
    showReach();
  }
  $("status-toggle").addEventListener("change", async () => {
    const status = $("status-toggle").checked ? "available" : "away";
    const before = session.get("status") || "available";
    session.set("status", status); showStatus(status);
    try {
      // Answered by ack once stored (the other tabs get a `status` frame); an error leaves
      // the stored status as it was, so the toggle goes back.
      const answer = await app.socket.request({ action: "setStatus", status });
      if (answer.type !== "ack") { session.set("status", before); showStatus(before); }
    } catch (e) {
      session.set("statusPending", status); // sent on reconnect
    }
  });

  Object.assign(app, { showStatus, showReach, inboxAsked, inboxAnswered, refreshReach, forgetReach,
    reachState: () => ({ available, subscriptions, line: reachLine.hidden ? null : reachLine.textContent }) });
};
