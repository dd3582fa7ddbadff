/* livechat.inbox.performance(app) — the "Performance" tab (issue 16), for admins only: the
 * agent's ID token carries the LiveChatAdmin group (the server checks it again: getStats is
 * refused FORBIDDEN otherwise). A UTC date range → `getStats` {from, to} → `stats`: totals,
 * two charts (per day: connected and missed; missed by reason), tables per day, agent and
 * team, and a CSV of all of it made in the browser (a Blob). Charts are inline SVG, each with
 * a text alternative; every number is also in a table. */
livechat.inbox.performance = function (app) {
  const { byId: $, el } = livechat.dom;
  const SVG = "http://www.w3.org/2000/svg";
  const REASONS = [["not_accepted", "Not accepted"], ["no_agent", "No agent"],
    ["no_rule_matched", "No rule matched"], ["quota_reached", "Quota reached"]];
  let last = null; // the last `stats` shown (what the CSV holds)

  function groups(token) {
    try {
      const claims = JSON.parse(atob(token.split(".")[1].replace(/-/g, "+").replace(/_/g, "/")));
      return Array.isArray(claims["cognito:groups"]) ? claims["cognito:groups"] : [];
    } catch (e) { return []; }
  }
  function isAdmin() {
    const tokens = app.session.get("tokens");
    return !!(tokens && tokens.idToken && groups(tokens.idToken).includes("LiveChatAdmin"));
  }

  const utcDay = (d) => d.toISOString().slice(0, 10);
  function lastDays(n) {
    const to = new Date();
    const from = new Date(to.getTime() - (n - 1) * 86400000);
    $("perf-from").value = utcDay(from); $("perf-to").value = utcDay(to);
  }
  function seconds(v) {
    if (v === null || v === undefined) return "—";
    if (v < 60) return (Math.round(v * 10) / 10) + " s";
    const m = Math.floor(v / 60), s = Math.round(v % 60);
    if (m < 60) return m + " min " + s + " s";
    return Math.floor(m / 60) + " h " + (m % 60) + " min";
  }
  const pct = (part, whole) => whole ? Math.round(100 * part / whole) + " %" : "—";

  // --- charts ------------------------------------------------------------------------------
  function svg(tag, attrs, ...children) {
    const node = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) node.setAttribute(k, String(v));
    for (const c of children) if (c) node.append(c);
    return node;
  }
  function titled(node, text) { node.append(svg("title", {}, text)); return node; }

  function dayChart(days) {
    const w = 640, h = 200, left = 34, bottom = 22, top = 8;
    const max = Math.max(1, ...days.map((d) => d.connected + d.missed + d.abandoned));
    const slot = (w - left) / Math.max(1, days.length), bar = Math.max(2, Math.min(28, slot * 0.7));
    const y = (v) => top + (h - top - bottom) * (1 - v / max);
    const chart = svg("svg", { viewBox: `0 0 ${w} ${h}`, class: "chart", role: "img",
      "aria-label": "Chats per day: connected, missed and abandoned (the same numbers are in the table Per day)" });
    for (const tick of [0, Math.ceil(max / 2), max]) {
      chart.append(svg("line", { x1: left, x2: w, y1: y(tick), y2: y(tick), class: "grid" }));
      chart.append(svg("text", { x: left - 6, y: y(tick) + 4, "text-anchor": "end", class: "axis" }, String(tick)));
    }
    days.forEach((d, i) => {
      const x = left + i * slot + (slot - bar) / 2;
      let base = 0;
      for (const [key, cls] of [["connected", "bar-connected"], ["missed", "bar-missed"], ["abandoned", "bar-abandoned"]]) {
        if (!d[key]) continue;
        chart.append(titled(svg("rect", { x, width: bar, y: y(base + d[key]), height: y(base) - y(base + d[key]), class: cls }),
          `${d.day}: ${d[key]} ${key}`));
        base += d[key];
      }
      if (days.length <= 16 || i % Math.ceil(days.length / 16) === 0) {
        chart.append(svg("text", { x: x + bar / 2, y: h - 6, "text-anchor": "middle", class: "axis" }, d.day.slice(5)));
      }
    });
    return chart;
  }

  function reasonChart(totals) {
    const w = 640, rowH = 26, left = 130;
    const max = Math.max(1, ...REASONS.map(([k]) => totals.missedByReason[k] || 0));
    const chart = svg("svg", { viewBox: `0 0 ${w} ${REASONS.length * rowH + 4}`, class: "chart", role: "img",
      "aria-label": "Missed chats by reason: " + REASONS.map(([k, label]) => label + " " + (totals.missedByReason[k] || 0)).join(", ") });
    REASONS.forEach(([key, label], i) => {
      const n = totals.missedByReason[key] || 0, yy = i * rowH + 4;
      chart.append(svg("text", { x: left - 8, y: yy + 15, "text-anchor": "end", class: "axis" }, label));
      chart.append(titled(svg("rect", { x: left, y: yy, height: rowH - 8, width: Math.max(n ? 2 : 0, (w - left - 40) * n / max), class: "bar-missed" }),
        `${label}: ${n}`));
      chart.append(svg("text", { x: left + (w - left - 40) * n / max + 6, y: yy + 15, class: "axis" }, String(n)));
    });
    return chart;
  }

  // --- tables ------------------------------------------------------------------------------
  const COLUMNS = [
    ["Requested", (r) => r.requested], ["Connected", (r) => r.connected], ["Missed", (r) => r.missed],
    ["Missed %", (r) => pct(r.missed, r.requested)], ["Offers expired", (r) => r.offersExpired],
    ["Offers declined", (r) => r.offersDeclined], ["Avg. time to accept", (r) => seconds(r.avgTimeToAcceptSeconds)],
    ["Avg. first response", (r) => seconds(r.avgFirstResponseSeconds)], ["Avg. chat length", (r) => seconds(r.avgChatLengthSeconds)],
  ];
  const AGENT_COLUMNS = [["Offered", (r) => r.offered], ["Accepted", (r) => r.connected],
    ["Expired", (r) => r.offersExpired], ["Declined", (r) => r.offersDeclined],
    ["Avg. time to accept", (r) => seconds(r.avgTimeToAcceptSeconds)],
    ["Avg. first response", (r) => seconds(r.avgFirstResponseSeconds)], ["Avg. chat length", (r) => seconds(r.avgChatLengthSeconds)]];

  function table(caption, firstHead, rows, first, columns) {
    const head = el("tr", {}, el("th", { scope: "col", text: firstHead }), ...columns.map(([name]) => el("th", { scope: "col", text: name })));
    const body = rows.map((r) => el("tr", {}, el("th", { scope: "row", text: first(r) }),
      ...columns.map(([, value]) => el("td", { text: String(value(r)) }))));
    return el("div", { class: "table-wrap", tabindex: "0", role: "region", "aria-label": caption },
      el("table", { class: "stats" }, el("caption", { text: caption }), el("thead", {}, head),
        el("tbody", {}, ...(body.length ? body : [el("tr", {}, el("td", { colspan: columns.length + 1, class: "empty", text: "Nothing in this range." }))]))));
  }

  function card(label, value, sub) {
    return el("div", { class: "kpi" }, el("span", { class: "kpi-label", text: label }), el("strong", { text: value }),
      sub ? el("span", { class: "muted", text: sub }) : null);
  }

  function render(st) {
    last = st;
    const t = st.totals;
    $("perf-cards").replaceChildren(
      card("Chats requested", String(t.requested)),
      card("Connected", String(t.connected), pct(t.connected, t.requested) + " of requests"),
      card("Missed", String(t.missed), pct(t.missed, t.requested) + " of requests"),
      card("Avg. time to accept", seconds(t.avgTimeToAcceptSeconds)),
      card("Avg. first response", seconds(t.avgFirstResponseSeconds)),
      card("Avg. chat length", seconds(t.avgChatLengthSeconds)));
    $("perf-charts").replaceChildren(
      el("figure", {}, el("figcaption", { text: "Chats per day (UTC)" }), dayChart(st.days),
        el("p", { class: "legend" }, el("span", { class: "key key-connected", text: "connected" }),
          el("span", { class: "key key-missed", text: "missed" }), el("span", { class: "key key-abandoned", text: "abandoned" }))),
      el("figure", {}, el("figcaption", { text: "Missed chats by reason" }), reasonChart(t)));
    $("perf-tables").replaceChildren(
      table("Per day (UTC)", "Day", st.days, (r) => r.day, COLUMNS),
      table("Per agent", "Agent", st.agents, (r) => r.name + " (" + r.agent + ")", AGENT_COLUMNS),
      table("Per team (the team a chat's routing names)", "Team", st.teams, (r) => r.team, COLUMNS));
    $("perf-csv").disabled = false;
  }

  async function load() {
    const from = $("perf-from").value, to = $("perf-to").value;
    $("perf-status").textContent = "Loading…";
    try {
      const st = await app.socket.request({ action: "getStats", from, to });
      if (st.type !== "stats") throw new Error(st.message || st.type);
      render(st);
      $("perf-status").textContent = `Showing ${st.from} to ${st.to} (UTC).`;
    } catch (e) {
      $("perf-status").textContent = "The figures could not be loaded: " + ((e && e.message) || "not connected") + ".";
    }
  }

  // --- CSV: one row per day, agent and team, and the totals ---------------------------------
  const FIELDS = ["requested", "connected", "missed", ...REASONS.map(([k]) => "missed_" + k), "abandoned", "offered",
    "offersExpired", "offersDeclined", "offersUnreachable", "avgTimeToAcceptSeconds", "firstResponses",
    "avgFirstResponseSeconds", "chatsEnded", "avgChatLengthSeconds"];
  function cell(v) {
    let s = v === null || v === undefined ? "" : String(v);
    if (/^[=+\-@\t\r]/.test(s)) s = "'" + s; // a spreadsheet must not read a name as a formula
    return /[",\n\r]/.test(s) ? '"' + s.replace(/"/g, '""') + '"' : s;
  }
  function csv(st) {
    const value = (r, f) => f.startsWith("missed_") ? r.missedByReason[f.slice(7)] : r[f];
    const lines = [["scope", "key", "name", ...FIELDS]];
    lines.push(["total", st.from + ".." + st.to, "", ...FIELDS.map((f) => value(st.totals, f))]);
    for (const r of st.days) lines.push(["day", r.day, "", ...FIELDS.map((f) => value(r, f))]);
    for (const r of st.agents) lines.push(["agent", r.agent, r.name, ...FIELDS.map((f) => value(r, f))]);
    for (const r of st.teams) lines.push(["team", r.team, "", ...FIELDS.map((f) => value(r, f))]);
    return lines.map((l) => l.map(cell).join(",")).join("\r\n") + "\r\n";
  }
  function downloadCsv() {
    if (!last) return;
    const url = URL.createObjectURL(new Blob([csv(last)], { type: "text/csv;charset=utf-8" }));
    const a = document.createElement("a");
    a.href = url; a.download = `livechat-performance-${last.from}-${last.to}.csv`; a.hidden = true;
    document.body.append(a); a.click(); a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 10000);
  }

  // --- the tab -----------------------------------------------------------------------------
  function showPerformance() {
    app.showTab("inbox"); // stops the conversations' refresh; then this view instead
    $("tab-inbox").setAttribute("aria-selected", "false");
    $("tab-performance").setAttribute("aria-selected", "true");
    $("view-inbox").hidden = true; $("view-performance").hidden = false;
    if (!last) load();
  }
  function leavePerformance() {
    $("tab-performance").setAttribute("aria-selected", "false");
    $("view-performance").hidden = true;
  }
  $("tab-inbox").addEventListener("click", leavePerformance);
  $("tab-conversations").addEventListener("click", leavePerformance);
  $("tab-performance").addEventListener("click", showPerformance);
  $("perf-form").addEventListener("submit", (e) => { e.preventDefault(); load(); });
  $("perf-7").addEventListener("click", () => { lastDays(7); load(); });
  $("perf-30").addEventListener("click", () => { lastDays(30); load(); });
  $("perf-csv").addEventListener("click", downloadCsv);
  lastDays(7);

  function showAdminTab() { $("tab-performance").hidden = !isAdmin(); }
  Object.assign(app, { showAdminTab, statsCsv: () => (last ? csv(last) : null) });
};
