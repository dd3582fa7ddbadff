"""The bill: each scenario's use times the unit prices, per chat and per 1,000 chats, the
totals, and the printed table (or its figures as JSON)."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from bench.cost.ledger import Ledger, Scenario, Usage
from bench.cost.prices import HTTP_UNIT, LAMBDA_MS_GRANULARITY, PRICES, PRICES_CHECKED, SERVICE, WS_UNIT, Price
from bench.cost.scenario import (
    AGENT_HOURS,
    AGENTS,
    PING_EVERY_MIN,
    PINGS_MEASURED,
    SWEEPS_PER_MONTH,
    TYPING_RENEW_SECONDS,
    TYPING_SECONDS,
    VISITOR_MINUTES,
    message_gap,
    typing_frames,
)
from tests.support import metering
from tests.support.template import load_template


@dataclass
class Line:
    what: str
    per_chat: float
    price: str
    note: str = ""

    @property
    def per_1000(self) -> float:
        return self.per_chat * 1000

    @property
    def cost(self) -> float:  # USD per 1,000 chats
        return self.per_1000 * PRICES[self.price].each


def lambda_figures(usage: dict[str, Usage], per: int) -> dict[str, dict[str, float]]:
    out = {}
    for name, u in sorted(usage.items()):
        billed = sum(math.ceil(ms / LAMBDA_MS_GRANULARITY) * LAMBDA_MS_GRANULARITY for ms in u.ms)
        out[name] = {
            "invocations": u.invocations / per, "ms": sum(u.ms) / per, "billed_ms": billed / per,
            "mean_ms": sum(u.ms) / len(u.ms) if u.ms else 0.0, "rru": u.rru / per, "wru": u.wru / per,
            "wru_index": u.wru_index / per, "log_bytes": u.log_bytes / per,
            "calls": sum(u.calls.values()) / per, "failed_writes": u.failed_writes / per,
        }
    return out


def scenario_lines(s: Scenario, per: int, minutes: float, memory_gb: float) -> list[Line]:
    functions = {k: v for k, v in s.usage.items() if k != "outside"}
    figures = lambda_figures(s.usage, per)
    invocations = sum(u.invocations for u in functions.values()) / per
    ms = sum(sum(u.ms) for u in functions.values()) / per
    billed_ms = sum(figures[k]["billed_ms"] for k in functions)
    messages_in = sum(math.ceil(max(1, b) / WS_UNIT) for b in s.frames_in) / per
    messages_out = sum(math.ceil(max(1, b) / WS_UNIT) for b in s.frames_out) / per
    log_gb = sum(u.log_bytes for u in s.usage.values()) / per / 1e9
    return [
        Line("WebSocket messages in (client frames)", messages_in, "ws_message",
             f"{len(s.frames_in) / per:.1f} frames, {sum(s.frames_in) / max(1, len(s.frames_in)):.0f} B mean"),
        Line("WebSocket messages out (posts to connections)", messages_out, "ws_message",
             f"{len(s.frames_out) / per:.1f} frames, {sum(s.frames_out) / max(1, len(s.frames_out)):.0f} B mean"),
        Line("WebSocket connection-minutes (the visitor)", minutes, "ws_minute", "assumed, see below"),
        Line("HTTP API requests (widget page load)", sum(math.ceil(max(1, b) / HTTP_UNIT) for _, b in s.http) / per,
             "http_request", ", ".join(sorted({r for r, _ in s.http}))),
        Line("Lambda requests", invocations, "lambda_request", "per function below"),
        Line("Lambda GB-seconds (billed ms, 1 ms steps, x 0.5 GB)", billed_ms / 1000 * memory_gb, "lambda_gb_s",
             f"in-process time {ms:.0f} ms -> billed {billed_ms:.0f} ms: a proxy, see below"),
        Line("DynamoDB write request units (table)", sum(u.wru for u in s.usage.values()) / per, "wru",
             "transactional items x2"),
        Line("DynamoDB write request units (4 GSIs, ALL)", sum(u.wru_index for u in s.usage.values()) / per, "wru",
             "index entries put/changed/deleted"),
        Line("DynamoDB read request units", sum(u.rru for u in s.usage.values()) / per, "rru",
             "strongly consistent 1 per 4 KB, eventually 0.5"),
        Line("Step Functions state transitions", s.transitions / per, "sfn_transition",
             f"{len(s.executions) / per:g} execution(s) per chat"),
        Line("SES e-mail recipients (failure e-mails)", s.recipients / per, "ses_recipient",
             "one team address here"),
        Line("CloudWatch Logs GB ingested", log_gb, "logs_gb",
             f"{log_gb * 1e9:.0f} B per chat: INFO JSON lines + metrics + Lambda's own records"),
    ]


def units_by_operation(s: Scenario, per: int) -> dict[str, dict[str, float]]:
    """Per chat, by kind of DynamoDB call (all functions): calls, RRU, WRU, index WRU."""
    out: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))
    for usage in s.usage.values():
        for name, n in usage.calls.items():
            if name.split(" ", 1)[0] in metering.READS | metering.WRITES:
                out[name]["calls"] += n / per
        for name, units in usage.units.items():
            for unit, value in units.items():
                out[name][unit] += value / per
    return {k: dict(v) for k, v in sorted(out.items(), key=lambda kv: -(kv[1].get("wru", 0) + kv[1].get("gsi", 0)
                                                                         + kv[1].get("rru", 0)))}


def price_text(price: Price) -> str:
    per = {1e6: "/M", 1e3: "/1k"}.get(price.per, "")
    return f"${price.usd:.10f}".rstrip("0").rstrip(".") + per


def memory_gb() -> float:
    template = load_template()
    memory = {name: r.get("Properties", {}).get("MemorySize", template["Globals"]["Function"]["MemorySize"])
              for name, r in template["Resources"].items() if r["Type"] == "AWS::Serverless::Function"}
    sizes = set(memory.values())
    if len(sizes) != 1:
        raise SystemExit(f"cost: functions have different memory sizes {memory}: weigh them one by one")
    return float(sizes.pop()) / 1024


def shared_agent_lines(ping: dict[str, float], memory: float) -> list[Line]:
    """The agents' connections serve every chat: 20 agents x 8 h per 1,000 chats, each
    pinging every 4.5 minutes as if it sent nothing else (web/shared/socket.js pings only after
    4.5 minutes without a frame of its own: an upper bound); `ping` is one ping's measured figures."""
    minutes = AGENTS * AGENT_HOURS * 60 / 1000
    agent_pings = AGENTS * int(AGENT_HOURS * 60 // PING_EVERY_MIN) / 1000
    return [
        Line(f"agents' connection-minutes ({AGENTS} x {AGENT_HOURS:g} h per 1,000 chats)", minutes, "ws_minute",
             "assumption"),
        Line("agents' pings: messages in + out", agent_pings * 2, "ws_message", "one ping per 4.5 min"),
        Line("agents' pings: Lambda requests", agent_pings, "lambda_request", "ws_message"),
        Line("agents' pings: Lambda GB-seconds", agent_pings * ping["billed_ms"] / 1000 * memory, "lambda_gb_s",
             f"{ping['billed_ms']:.0f} ms billed per ping (measured)"),
        Line("agents' pings: DynamoDB read units", agent_pings * ping["rru"], "rru", "the connection lookup"),
        Line("agents' pings: CloudWatch Logs GB", agent_pings * ping["log_bytes"] / 1e9, "logs_gb",
             f"{ping['log_bytes']:.0f} B per ping"),
    ]


def render_lines(title: str, lines: list[Line]) -> list[str]:
    out = [title, f"  {'':<54}{'per chat':>12}{'per 1,000':>13}{'unit price':>16}{'$ / 1,000 chats':>17}"]
    for line in lines:
        price = PRICES[line.price]
        out.append(f"  {line.what:<54}{line.per_chat:>12.4g}{line.per_1000:>13,.1f}"
                   f"{price_text(price):>16}"
                   f"{line.cost:>17.5f}" + (f"   {line.note}" if line.note else ""))
    out.append(f"  {'total':<54}{'':>12}{'':>13}{'':>16}{sum(x.cost for x in lines):>17.5f}")
    return out


def report(ledger: Ledger, chats: int, unanswered: int, messages: int, accept_timeout: int) -> dict[str, Any]:
    memory = memory_gb()
    accepted, missed = ledger.scenarios["accepted"], ledger.scenarios["unanswered"]
    ping = lambda_figures(ledger.scenarios["agent-ping"].usage, PINGS_MEASURED)["ws_message"]
    lines = {"accepted": scenario_lines(accepted, chats, VISITOR_MINUTES["accepted"], memory),
             "unanswered": scenario_lines(missed, unanswered, VISITOR_MINUTES["unanswered"], memory),
             "agents": shared_agent_lines(ping, memory)}
    sweep = ledger.scenarios["sweep"]
    sweep_lines = [line for line in scenario_lines(sweep, 1, 0.0, memory)
                   if line.price in ("lambda_request", "lambda_gb_s", "wru", "rru", "logs_gb")]
    by_service: dict[str, float] = defaultdict(float)
    for line in (*lines["accepted"], *lines["agents"]):
        by_service[SERVICE[line.price]] += line.cost
    totals = {}
    for share in (0.0, 0.10):
        totals[f"{share:.0%}"] = ((1 - share) * sum(x.cost for x in lines["accepted"])
                                  + share * sum(x.cost for x in lines["unanswered"])
                                  + sum(x.cost for x in lines["agents"]))
    return {
        "scenario": {"accepted_chats": chats, "unanswered_chats": unanswered, "messages": messages,
                     "accept_timeout_seconds_in_bench": accept_timeout, "memory_gb": memory,
                     "visitor_minutes": VISITOR_MINUTES, "ping_every_min": PING_EVERY_MIN,
                     "agents": AGENTS, "agent_hours_per_1000_chats": AGENT_HOURS},
        "lines": {k: [{"what": x.what, "per_chat": x.per_chat, "per_1000": x.per_1000,
                       "unit_price_usd": PRICES[x.price].usd, "per_units": PRICES[x.price].per,
                       "usd_per_1000_chats": x.cost, "note": x.note} for x in v] for k, v in lines.items()},
        "per_1000_chats_usd": totals,
        "by_service_at_0_percent_usd": dict(sorted(by_service.items(), key=lambda kv: -kv[1])),
        "sweeper_per_month_usd": SWEEPS_PER_MONTH * sum(x.cost for x in sweep_lines) / 1000,
        "functions": {k: lambda_figures(s.usage, n) for k, s, n in
                      (("accepted", accepted, chats), ("unanswered", missed, unanswered), ("sweep", sweep, 1))},
        "transitions": {"accepted": dict(accepted.execution_states), "unanswered": dict(missed.execution_states)},
        "dynamodb_by_operation": {k: units_by_operation(sc, n) for k, sc, n in
                                  (("accepted", accepted, chats), ("unanswered", missed, unanswered))},
        "calls": {k: {f: dict(u.calls) for f, u in s.usage.items()} for k, s in
                  (("accepted", accepted), ("unanswered", missed))},
        "prices": {k: {"usd": p.usd, "per": p.per, "unit": p.unit, "source": p.source, "status": p.status}
                   for k, p in PRICES.items()},
        "prices_checked": PRICES_CHECKED,
        "_lines": lines, "_sweep": sweep_lines,
    }


def render(r: dict[str, Any]) -> str:
    s = r["scenario"]
    lines: dict[str, list[Line]] = r["_lines"]
    typing = "typing as the clients throttle it" if s.get("typing", True) else "no typing indicators"
    out = [f"cost per 1,000 chats, us-east-1 on-demand, free tiers ignored (prices looked up {r['prices_checked']})",
           f"measured: {s['accepted_chats']} accepted chats ({s['messages']} messages each, {typing}) "
           f"and {s['unanswered_chats']} unanswered, after a warm-up of one each; all functions "
           f"{s['memory_gb'] * 1024:.0f} MB arm64 (template.yaml)", ""]
    out += render_lines("accepted chat (page load, dialog, requestChat, accept, messages, end)",
                        lines["accepted"])
    out += ["", *render_lines("unanswered chat (page load, dialog, requestChat, offer expires, fallback, e-mail)",
                              lines["unanswered"])]
    out += ["", *render_lines("shared by all chats: the agents' connections", lines["agents"])]
    out += ["", "total per 1,000 chats (accepted and unanswered mixed, plus the agents' share):"]
    out += [f"  {share} fallbacks: ${usd:.4f}" for share, usd in r["per_1000_chats_usd"].items()]
    out += ["  (an unanswered chat costs less than an accepted one: no messages; it adds the e-mail)",
            "  by service at 0% fallbacks: " + ", ".join(
                f"{name} ${usd:.4f} ({usd / r['per_1000_chats_usd']['0%']:.0%})"
                for name, usd in r["by_service_at_0_percent_usd"].items() if usd > 0)]
    out += [f"  fixed, not per chat: the timeout sweeper every minute, ${r['sweeper_per_month_usd']:.4f} per month "
            f"({SWEEPS_PER_MONTH:,} runs; one idle sweep measured)"]
    out += ["", "Lambda, per chat (in-process time is the duration PROXY; billed = each invocation rounded up to 1 ms;",
            "`outside`: calls no function made, i.e. Step Functions invoking its Lambda task, billed as the task):",
            f"  {'':<26}{'function':<18}{'calls':>7}{'ms':>9}{'billed ms':>11}{'mean ms':>9}{'RRU':>7}{'WRU':>7}"
            f"{'WRU gsi':>9}{'log B':>8}{'AWS calls':>10}"]
    for scenario, functions in r["functions"].items():
        for name, f in functions.items():
            if not f["invocations"] and name != "outside":
                continue
            out.append(f"  {scenario:<26}{name:<18}{f['invocations']:>7.2f}{f['ms']:>9.1f}{f['billed_ms']:>11.1f}"
                       f"{f['mean_ms']:>9.1f}{f['rru']:>7.1f}{f['wru']:>7.1f}{f['wru_index']:>9.1f}"
                       f"{f['log_bytes']:>8.0f}{f['calls']:>10.1f}")
    out += ["", "DynamoDB per chat by kind of call (units computed from item sizes; gsi = index write units):",
            f"  {'':<11}{'calls':>7}{'RRU':>8}{'WRU':>8}{'gsi':>8}  call"]
    for scenario, operations in r["dynamodb_by_operation"].items():
        for name, f in operations.items():
            out.append(f"  {scenario:<11}{f.get('calls', 0):>7.2f}{f.get('rru', 0):>8.2f}{f.get('wru', 0):>8.2f}"
                       f"{f.get('gsi', 0):>8.2f}  {name}")
    out += ["", "Step Functions states entered per chat (each is a billed transition):"]
    for scenario, states in r["transitions"].items():
        n = s["accepted_chats"] if scenario == "accepted" else s["unanswered_chats"]
        out.append(f"  {scenario}: " + ", ".join(f"{k} {v / n:g}" for k, v in sorted(states.items())))
    out += ["", "Assumptions:",
            f"  - the visitor's connection lasts {s['visitor_minutes']['accepted']:g} min for an accepted chat, "
            f"{s['visitor_minutes']['unanswered']:g} min for an unanswered one (the 100 s offer, then the fallback);",
            f"  - widget and inbox ping {s['ping_every_min']:g} min after their last frame (the visitor: none during "
            "its chat; the agents: counted as if idle, every 4.5 min); the agents' connections are shared: "
            f"{s['agents']} agents online {s['agent_hours_per_1000_chats']:g} h per 1,000 chats;",
            "  - Lambda duration: the handler's in-process time here (moto in-process instead of network round "
            "trips, this machine's CPU instead of a 512 MB arm64 share); cold starts (INIT) not included;",
            "  - DynamoDB units computed from item sizes (the rules above), not read from a bill; a transaction that "
            "failed its condition is charged as if written, a failed single write as the existing item;",
            "  - index writes are charged as standard writes (1 per KB), also inside a transaction;",
            f"  - the messages are spread over the chat, one every {message_gap(s['messages']):g} s (the handlers' "
            "clock is moved on between them; what a message writes depends on the time since the last one);",
            "  - typing (the bench models the clients, web/shared/composer.js): each message typed in one go in "
            f"{TYPING_SECONDS:g} s, so {typing_frames(TYPING_SECONDS)} `typing` on per message (one every "
            f"{TYPING_RENEW_SECONDS:g} s while typing), no off (the message clears the line; an off goes only after "
            "a pause without sending);",
            f"  - the bench's accept timeout is {s['accept_timeout_seconds_in_bench']} s instead of 100 s: the same "
            "states run, only sooner;",
            "  - not counted: data transfer out, X-Ray traces (tracing is active: sampled traces are billed), "
            "CloudWatch custom metrics (EMF), Cognito, Secrets Manager, storage and PITR, the agents' reconnects "
            "every 2 h;",
            "", "Prices (unit, source, how far confirmed offline):"]
    for p in r["prices"].values():
        out.append(f"  ${p['usd']:g} per {p['per']:,.0f} {p['unit']}: {p['source']} [{p['status']}]")
    return "\n".join(out)

