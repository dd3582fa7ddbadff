/* livechat.inbox.status(app) — the agent's Available/Away toggle. The status lives on the
 * server; a change made while disconnected is sent on the next connection. */
livechat.inbox.status = function (app) {
  const $ = livechat.dom.byId;
  const session = app.session;

  function showStatus(status) {
    $("status-toggle").checked = status === "available";
    $("status-label").textContent = status === "available" ? "Available" : "Away";
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

  Object.assign(app, { showStatus });
};
