/* livechat.inbox.status(app) — the agent's Available/Away toggle. The status lives on the
 * server; a change made while disconnected is sent on the next connection.
 * Next to it, while available, a short line says whether offers reach the agent with this
 * tab closed: the `inbox` answer's pushSubscriptions (how many Web Push subscriptions the
 * agent holds) and whether this browser's is acknowledged (push.js). It is asked again
 * (listInbox) after each subscribePush/unsubscribePush ack; the answer to the latest
 * request wins.
 * Under the toggle, for an agent with a schedule, a line says where it stands: "On schedule
 * until 18:00", "Off schedule — available anyway until midnight" (the `status` frame's and
 * the inbox answer's onSchedule and until, in this browser's time). The server runs nothing
 * at a boundary, so the inbox asks again (listInbox) once `until` has passed; the toggle's
 * own tab gets no `status` frame, so it asks after its setStatus ack too. */
livechat.inbox.status = function (app) {
  const { el, byId: $ } = livechat.dom;
  const session = app.session;

  const REACH = {
    here: "Offers reach you even with this tab closed",
    elsewhere: "With this tab closed, offers reach only your other browsers",
    nowhere: "Close this tab and you get no chats — enable notifications to get offers with the inbox closed",
  };
  let available = true;
  let schedule = { onSchedule: true, until: null }; // as the server last said
  let scheduleTimer = null;
  let subscriptions = null; // the inbox answer's pushSubscriptions; null until known
  let asked = 0, applied = 0; // listInbox requests sent / the one whose answer is shown
  // Small print between the toggle and the buttons, the schedule above the reach: it takes
  // only the top bar's free room (flex-basis 0) and wraps there, never squeezing the buttons.
  const reachLine = el("span", { class: "muted", role: "status", "data-role": "reach", hidden: true,
    style: "line-height: 1.3" });
  const scheduleLine = el("span", { class: "muted", role: "status", "data-role": "schedule", hidden: true,
    style: "line-height: 1.3" });
  const smallPrint = el("span", {
    style: "flex: 8 1 0; min-width: 0; max-width: 26em; display: flex; flex-direction: column; gap: 2px" });
  smallPrint.append(scheduleLine, reachLine);
  $("status-toggle").closest("label").after(smallPrint);

  const pad = (n) => String(n).padStart(2, "0");
  // "18:00"; "midnight" for the coming one; a weekday first beyond today ("Tue 09:00").
  function when(iso) {
    const at = new Date(iso), now = new Date();
    const hhmm = `${pad(at.getHours())}:${pad(at.getMinutes())}`;
    if (hhmm === "00:00" && at - now <= 24 * 3600 * 1000) return "midnight";
    const sameDay = at.toDateString() === now.toDateString();
    return sameDay ? hhmm : `${at.toLocaleDateString("en", { weekday: "short" })} ${hhmm}`;
  }
  function scheduleText() {
    const until = schedule.until ? ` until ${when(schedule.until)}` : "";
    if (schedule.onSchedule) {
      if (!schedule.until) return ""; // no schedule (or one always on): nothing to say
      return available ? `On schedule${until}` : `On schedule — away${until}`;
    }
    return available ? `Off schedule — available anyway${until}` : `Off schedule${until}`;
  }
  function showSchedule() {
    const text = scheduleText();
    scheduleLine.hidden = !text;
    scheduleLine.textContent = text;
    clearTimeout(scheduleTimer);
    if (schedule.until) {
      // A little after the change, never sooner than 5 s (a clock ahead of the server's).
      const wait = Math.max(5000, new Date(schedule.until) - Date.now() + 1000);
      scheduleTimer = setTimeout(refreshReach, Math.min(wait, 2 ** 31 - 1));
    }
  }
  // From a `status` frame or the inbox answer.
  function scheduleFrom(frame) {
    if (typeof frame.onSchedule !== "boolean") return;
    schedule = { onSchedule: frame.onSchedule, until: frame.until || null };
    if (frame.status) showStatus(frame.status); else showSchedule();
  }

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
    if (answer.status) session.set("status", answer.status);
    scheduleFrom(answer); // the effective status with it: it may have changed by the schedule
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
    showSchedule();
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
      else refreshReach(); // how long it holds (until) comes with the inbox answer
    } catch (e) {
      session.set("statusPending", status); // sent on reconnect
    }
  });

  Object.assign(app, { showStatus, showReach, inboxAsked, inboxAnswered, refreshReach, forgetReach, scheduleFrom,
    scheduleState: () => ({ ...schedule, line: scheduleLine.hidden ? null : scheduleLine.textContent }),
    reachState: () => ({ available, subscriptions, line: reachLine.hidden ? null : reachLine.textContent }) });
};
