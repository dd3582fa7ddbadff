"""End-to-end routing latency on the local stack: `requestChat` → `chatOffered`, next to `ping` → `pong`.

Starts `livechat dev` as a subprocess with its own workspace (or uses a running stack given
`--endpoints FILE`), signs in and connects the agents, then connects N visitors (default
200) that each walk the `bench` dialog (a capture card, then a round-robin live chat
card). Once every visitor is ready, all N send `requestChat` at once (the burst; spread it
over a window with `--spread-ms`). t0 is taken just before a visitor sends `requestChat`,
t1 when the `chatOffered` for that conversation reaches any agent socket. In the same run,
on the same stack, `ping` → `pong` is measured over the visitors' sockets: idle (one ping
in flight at a time, before the burst) and during the burst (open loop: one every 250 ms,
answered or not, until the last offer arrives). Also shown: requestChat → its `routing`
answer and routing → chatOffered (the offer workflow's part; negative when the offer
overtakes the answer), and the stack's CPU seconds during the burst. Everything is timed
on the client, over real sockets, as clients see it; the client runs on the same machine
as the stack and shares its cores.

Prints figures, never pass/fail. Run from the repository root: `.venv/bin/python -m
bench.e2e_latency [--visitors N] [--json]`. Against a running stack: `python -m
bench.e2e_latency --print-workspace > ws.yaml`, `livechat dev --workspace ws.yaml --port 0
--endpoints-file ep.json`, then `python -m bench.e2e_latency --endpoints ep.json` (its chats
are ended afterwards, freeing the agents' slots for the next run).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import itertools
import json
import math
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
import boto3
import websockets
import yaml
from websockets.asyncio.client import ClientConnection, connect

DIALOG = "bench"
CAPTURE_CARD = "who"
LIVE_CARD = "live"
PASSWORD = "Bench-agent-1"  # local stack only
REQUEST_TIMEOUT = 30.0  # seconds for any one request's answer
ERROR_SAMPLES = 10
STOP_TIMEOUT = 60.0  # seconds from SIGTERM to the stack's exit before it is killed


# --- the workspace -------------------------------------------------------------------------

def agent_email(i: int) -> str:
    return f"bench-agent-{i:03d}@example.com"


def workspace(agents: int, max_chats: int, accept_timeout: int) -> dict[str, Any]:
    """Enough agents for every chat at once; offers outlive the run (nothing expires)."""
    return {
        "settings": {
            "plan": "prime",
            "engagement_limit": None,
            "accept_timeout_seconds": accept_timeout,
            "team_retry_agents": 1,
            "inactivity_timeout_seconds": 3600,
            "default_max_chats": max_chats,
            "fallback_message": "Bench: nobody could take the chat.",
            "global_fallback_message": "Bench: live chat is not available.",
            "failure_emails": {"from": "bench-alerts@example.com", "to": ["bench-ops@example.com"]},
        },
        "agents": [{"email": agent_email(i), "name": f"Bench Agent {i}", "avatar_url": "",
                    "max_chats": max_chats, "teams": [], "password": PASSWORD}
                   for i in range(agents)],
        "teams": [],
        "dialogs": [{"id": DIALOG, "cards": [
            {"id": CAPTURE_CARD, "kind": "capture", "fields": ["firstName", "email"]},
            {"id": LIVE_CARD, "kind": "live_chat", "routing": {"mode": "round_robin"}},
        ]}],
    }


# --- statistics ----------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, math.ceil(p / 100 * len(ordered)))
    return ordered[rank - 1]


def summary(seconds: Sequence[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    figures: dict[str, Any] = {"n": len(ms)}
    for name, p in (("p50", 50), ("p90", 90), ("p99", 99), ("max", 100)):
        value = percentile(ms, p)
        figures[name] = None if value is None else round(value, 2)
    return figures


def ratio(a: float | None, b: float | None) -> float | None:
    return None if a is None or b is None or b <= 0 else round(a / b, 1)


# --- sockets -------------------------------------------------------------------------------

OnEvent = Callable[[float, dict[str, Any]], None]
Answer = asyncio.Future[tuple[float, dict[str, Any]]]  # (arrived at, frame)


class Socket:
    """One client WebSocket with a reader task: answers are matched to their request by
    `requestId`; every other frame goes to `on_event` with its arrival time."""

    _ids = itertools.count(1)

    def __init__(self, ws: ClientConnection, on_event: OnEvent) -> None:
        self.ws = ws
        self.on_event = on_event
        self.pending: dict[str, Answer] = {}
        self.reader = asyncio.create_task(self._read())

    async def _read(self) -> None:
        try:
            async for raw in self.ws:
                arrived = time.perf_counter()
                frame = json.loads(raw)
                request_id = frame.get("requestId")
                waiter = self.pending.pop(request_id, None) if isinstance(request_id, str) else None
                if waiter is not None and not waiter.done():  # not timed out
                    waiter.set_result((arrived, frame))
                else:
                    self.on_event(arrived, frame)
        except websockets.ConnectionClosed:
            pass
        finally:
            for waiter in self.pending.values():
                if not waiter.done():
                    waiter.set_exception(ConnectionError("socket closed before the answer"))
            self.pending.clear()

    async def send(self, action: str, **fields: Any) -> tuple[float, Answer]:
        """Send one request; (sent at, the future of its answer). The time is taken just
        before sending."""
        request_id = f"r{next(self._ids)}"
        waiter: Answer = asyncio.get_running_loop().create_future()
        self.pending[request_id] = waiter
        body = json.dumps({"action": action, "requestId": request_id, **fields})
        sent = time.perf_counter()
        try:
            await self.ws.send(body)
        except BaseException:
            self.pending.pop(request_id, None)
            raise
        return sent, waiter

    async def request(self, action: str, timeout: float = REQUEST_TIMEOUT,
                      **fields: Any) -> tuple[float, float, dict[str, Any]]:
        """Send one request and wait for its answer: (sent at, answered at, answer)."""
        sent, waiter = await self.send(action, **fields)
        answered, frame = await asyncio.wait_for(waiter, timeout)
        return sent, answered, frame

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()
        self.reader.cancel()
        with contextlib.suppress(BaseException):
            await self.reader


async def open_socket(url: str, on_event: OnEvent) -> Socket:
    ws = await connect(url, open_timeout=REQUEST_TIMEOUT, ping_interval=None, close_timeout=2,
                       max_size=1024 * 1024)
    return Socket(ws, on_event)


def expect(frame: dict[str, Any], kind: str, what: str) -> None:
    if frame.get("type") != kind:
        detail = frame.get("code") or frame.get("reason") or ""
        raise RuntimeError(f"{what}: expected {kind}, got {frame.get('type')} {detail}".rstrip())


# --- the run -------------------------------------------------------------------------------

@dataclass
class Tally:
    """What the agents' sockets saw, and what the run is waiting for."""

    offers: dict[str, float] = field(default_factory=dict)  # conversationId -> first chatOffered
    offered_to: Counter[str] = field(default_factory=Counter)  # agent -> offers
    duplicates: int = 0
    strays: int = 0  # offers for conversations this run did not request
    withdrawn: Counter[str] = field(default_factory=Counter)
    visitor_events: Counter[str] = field(default_factory=Counter)
    requested: set[str] = field(default_factory=set)
    sends_left: int = -1  # requestChat frames still to send; -1: the burst has not begun
    done: asyncio.Event = field(default_factory=asyncio.Event)
    errors: Counter[str] = field(default_factory=Counter)
    error_samples: list[str] = field(default_factory=list)

    def error(self, phase: str, exc: BaseException | str) -> None:
        text = exc if isinstance(exc, str) else f"{type(exc).__name__}: {exc}".removesuffix(": ")
        self.errors[phase] += 1
        if len(self.error_samples) < ERROR_SAMPLES:
            self.error_samples.append(f"{phase}: {text}")

    def check(self) -> None:
        if self.sends_left == 0 and self.requested <= self.offers.keys():
            self.done.set()

    def agent_handler(self, agent: str) -> OnEvent:
        def on_event(arrived: float, frame: dict[str, Any]) -> None:
            kind = frame.get("type")
            if kind == "chatOffered":
                conversation_id = str(frame.get("conversationId"))
                if conversation_id not in self.requested:
                    self.strays += 1
                    return
                if conversation_id in self.offers:
                    self.duplicates += 1
                    return
                self.offers[conversation_id] = arrived
                self.offered_to[agent] += 1
                self.check()
            elif kind == "offerWithdrawn":
                self.withdrawn[str(frame.get("reason"))] += 1
        return on_event

    def visitor_event(self, arrived: float, frame: dict[str, Any]) -> None:
        kind = str(frame.get("type"))
        self.visitor_events[kind] += 1
        if kind in ("fallback", "error"):
            self.error("visitor event", f"{kind} {frame.get('reason') or frame.get('code') or ''}".strip())
        if kind == "fallback":  # routing gave up on this conversation: no offer will come
            self.requested.discard(str(frame.get("conversationId")))
            self.check()


@dataclass
class Visitor:
    index: int
    socket: Socket
    conversation_id: str
    sent: float = 0.0  # t0: just before requestChat
    answered: float | None = None  # requestChat's answer arrived
    answer: str | None = None  # its type: routing, or fallback / error


@dataclass
class Run:
    args: argparse.Namespace
    endpoints: dict[str, Any]
    tally: Tally = field(default_factory=Tally)
    agents: list[Socket] = field(default_factory=list)
    visitors: list[Visitor] = field(default_factory=list)
    phases: dict[str, float] = field(default_factory=dict)  # seconds
    ping_idle: list[float] = field(default_factory=list)
    ping_burst: list[float] = field(default_factory=list)
    cpu: dict[str, float] = field(default_factory=dict)
    stack_pid: int | None = None

    @contextlib.contextmanager
    def phase(self, name: str) -> Iterator[None]:
        started = time.perf_counter()
        try:
            yield
        finally:
            self.phases[name] = round(time.perf_counter() - started, 3)

    async def sign_in_agents(self) -> None:
        idp = boto3.client("cognito-idp", region_name=self.endpoints.get("region", "us-east-1"),
                           endpoint_url=self.endpoints["aws_endpoint"],
                           aws_access_key_id="bench", aws_secret_access_key="bench")
        client_id = self.endpoints["cognito"]["client_id"]

        def token(email: str) -> str:
            answer = idp.initiate_auth(ClientId=client_id, AuthFlow="USER_PASSWORD_AUTH",
                                       AuthParameters={"USERNAME": email, "PASSWORD": PASSWORD})
            return str(answer["AuthenticationResult"]["IdToken"])

        async def one(i: int) -> None:
            email = agent_email(i)
            try:
                id_token = await asyncio.to_thread(token, email)
                socket = await open_socket(f"{self.endpoints['websocket']}?token={id_token}",
                                           self.tally.agent_handler(email))
                self.agents.append(socket)
            except Exception as exc:
                self.tally.error("agent sign-in/connect", exc)

        await asyncio.gather(*(one(i) for i in range(self.args.agents)))

    async def connect_visitors(self) -> None:
        limit = asyncio.Semaphore(self.args.setup_concurrency)
        http = self.endpoints["http"].rstrip("/")
        timeout = aiohttp.ClientTimeout(total=REQUEST_TIMEOUT)
        async with aiohttp.ClientSession(timeout=timeout) as session:

            async def one(i: int) -> None:
                async with limit:
                    socket: Socket | None = None
                    try:
                        async with session.post(f"{http}/visitor/session", json={}) as response:
                            response.raise_for_status()
                            visitor_token = (await response.json())["visitorToken"]
                        socket = await open_socket(
                            f"{self.endpoints['websocket']}?visitorToken={visitor_token}",
                            self.tally.visitor_event)
                        _, _, started = await socket.request(
                            "startConversation", dialogId=DIALOG,
                            page={"url": "https://example.com/pricing?utm_source=bench",
                                  "title": "Pricing", "referrer": ""})
                        expect(started, "conversationStarted", "startConversation")
                        conversation_id = str(started["conversationId"])
                        _, _, captured = await socket.request(
                            "capture", conversationId=conversation_id, cardId=CAPTURE_CARD,
                            fields={"firstName": f"Visitor{i}", "email": f"visitor{i}@example.com"})
                        expect(captured, "ack", "capture")
                        self.visitors.append(Visitor(i, socket, conversation_id))
                    except Exception as exc:
                        self.tally.error("visitor setup", exc)
                        if socket is not None:
                            await socket.close()

            await asyncio.gather(*(one(i) for i in range(self.args.visitors)))

    async def idle_pings(self) -> None:
        """One ping in flight at a time, over the visitors' sockets in turn."""
        for n in range(self.args.pings if self.visitors else 0):
            try:
                sent, answered, frame = await self.visitors[n % len(self.visitors)].socket.request("ping")
                expect(frame, "pong", "ping")
                self.ping_idle.append(answered - sent)
            except Exception as exc:
                self.tally.error("ping idle", exc)
                return

    async def burst_ping(self, socket: Socket, deadline: float) -> None:
        try:
            sent, answered, frame = await socket.request("ping", timeout=max(1.0, deadline - time.perf_counter()))
            expect(frame, "pong", "ping")
            self.ping_burst.append(answered - sent)
        except Exception as exc:
            self.tally.error("ping during burst", exc)

    async def burst_pings(self, stop: asyncio.Event, deadline: float) -> None:
        """Open loop: a ping every --burst-ping-ms over the visitors' sockets in turn, whether
        or not the last one was answered, from the first requestChat until the last offer
        (or the deadline); the pings sent are then awaited until the deadline."""
        interval = self.args.burst_ping_ms / 1000
        flying: list[asyncio.Task[None]] = []
        for n in itertools.count():
            if stop.is_set() or not self.visitors or time.perf_counter() >= deadline:
                break
            socket = self.visitors[n % len(self.visitors)].socket
            flying.append(asyncio.create_task(self.burst_ping(socket, deadline)))
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)
        await asyncio.gather(*flying)

    async def request_chat(self, visitor: Visitor, delay: float, deadline: float) -> None:
        tally = self.tally
        if delay > 0:
            await asyncio.sleep(delay)
        tally.requested.add(visitor.conversation_id)
        try:
            visitor.sent, waiter = await visitor.socket.send(
                "requestChat", conversationId=visitor.conversation_id, cardId=LIVE_CARD)
        except Exception as exc:
            tally.requested.discard(visitor.conversation_id)  # not sent: no offer will come
            tally.error("requestChat send", exc)
            return
        finally:
            tally.sends_left -= 1
            tally.check()
        try:
            answered, frame = await asyncio.wait_for(waiter, max(0.1, deadline - time.perf_counter()))
        except TimeoutError:
            tally.error("requestChat", "no answer (routing) before the burst deadline")
            return
        except Exception as exc:
            tally.error("requestChat", exc)
            return
        visitor.answered, visitor.answer = answered, str(frame.get("type"))
        if visitor.answer != "routing":  # fallback or error: no offer will come
            tally.requested.discard(visitor.conversation_id)
            tally.error("requestChat", f"answered {frame.get('type')} "
                        f"{frame.get('reason') or frame.get('code') or ''}".rstrip())
            tally.check()

    async def burst(self) -> None:
        tally, visitors = self.tally, self.visitors
        spread = self.args.spread_ms / 1000
        tally.sends_left = len(visitors)
        stop_pings = asyncio.Event()
        cpu_before = self._cpu()
        started = time.perf_counter()
        deadline = started + self.args.burst_timeout
        pinger = asyncio.create_task(self.burst_pings(stop_pings, deadline))
        senders = [asyncio.create_task(self.request_chat(v, spread * i / max(1, len(visitors)), deadline))
                   for i, v in enumerate(visitors)]
        tally.check()
        try:
            # every offer, and every requestChat's own answer
            await asyncio.wait_for(asyncio.gather(tally.done.wait(), *senders), self.args.burst_timeout)
        except TimeoutError:
            missing = len(tally.requested - tally.offers.keys())
            unanswered = sum(1 for v in visitors if v.sent and v.answered is None)
            tally.error("burst", f"timed out after {self.args.burst_timeout:.0f}s: {missing} offers and "
                        f"{unanswered} requestChat answers missing")
        finally:
            self.phases["burst (first requestChat → last answer or offer)"] = round(
                time.perf_counter() - started, 3)
            for key, value in self._cpu().items():
                self.cpu[key] = round(value - cpu_before.get(key, 0.0), 2)
            stop_pings.set()
            for task in senders:
                task.cancel()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(pinger, max(1.0, deadline - time.perf_counter()) + 1)

    def _cpu(self) -> dict[str, float]:
        """CPU seconds so far: this client, and the stack process when this run started it."""
        figures = {"bench client CPU s": time.process_time()}
        if self.stack_pid is not None:
            with contextlib.suppress(OSError, ValueError, IndexError):
                stat = Path(f"/proc/{self.stack_pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks = os.sysconf("SC_CLK_TCK")
                figures["stack CPU s"] = (int(stat[11]) + int(stat[12])) / ticks
        return figures

    async def end_chats(self) -> None:
        """A reused stack: end each requested chat (visitor `endChat` while offered → the
        offer is withdrawn and the agent's slot freed)."""
        async def one(visitor: Visitor) -> None:
            try:
                await visitor.socket.request("endChat", conversationId=visitor.conversation_id)
            except Exception as exc:
                self.tally.error("endChat (clean-up)", exc)

        await asyncio.gather(*(one(v) for v in self.visitors if v.answer == "routing"))

    async def close(self) -> None:
        sockets = [v.socket for v in self.visitors] + self.agents
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(asyncio.gather(*(s.close() for s in sockets)), 20)

    async def execute(self) -> None:
        with self.phase("agents sign in + connect"):
            await self.sign_in_agents()
        with self.phase("visitors session + connect + walk"):
            await self.connect_visitors()
        with self.phase("idle pings"):
            await self.idle_pings()
        await self.burst()
        if self.args.endpoints:
            with self.phase("clean-up endChat"):
                await self.end_chats()

    def result(self) -> dict[str, Any]:
        tally = self.tally
        offer_latency = [tally.offers[v.conversation_id] - v.sent for v in self.visitors
                         if v.conversation_id in tally.offers and v.sent]
        routed = [v for v in self.visitors if v.answered is not None and v.answer == "routing"]
        routing_answer = [v.answered - v.sent for v in routed if v.answered is not None]
        after_answer = [tally.offers[v.conversation_id] - v.answered for v in routed
                        if v.answered is not None and v.conversation_id in tally.offers]
        offer, idle, busy = summary(offer_latency), summary(self.ping_idle), summary(self.ping_burst)
        per_agent = [tally.offered_to.get(agent_email(i), 0) for i in range(self.args.agents)]
        return {
            "visitors": self.args.visitors,
            "agents": {"configured": self.args.agents, "connected": len(self.agents),
                       "max_chats": self.args.max_chats},
            "visitors_ready": len(self.visitors),
            "requested": sum(1 for v in self.visitors if v.sent),
            "routed": len(routing_answer),
            "offers_received": len(tally.offers),
            "fallbacks": tally.visitor_events.get("fallback", 0),
            "offers_missing": len(tally.requested - tally.offers.keys()),  # neither offer nor fallback
            "offers_per_agent": {"min": min(per_agent, default=0), "max": max(per_agent, default=0)},
            "duplicate_offers": tally.duplicates,
            "stray_offers": tally.strays,
            "offers_withdrawn": dict(tally.withdrawn),
            "spread_ms": self.args.spread_ms,
            "ms": {
                "requestChat→chatOffered": offer,
                "requestChat→routing (the answer)": summary(routing_answer),
                "routing→chatOffered": summary(after_answer),
                "ping→pong idle": idle,
                "ping→pong during burst": busy,
            },
            "ratio": {
                "offer/ping idle p50": ratio(offer["p50"], idle["p50"]),
                "offer/ping idle p99": ratio(offer["p99"], idle["p99"]),
                "offer/ping burst p50": ratio(offer["p50"], busy["p50"]),
                "offer/ping burst p99": ratio(offer["p99"], busy["p99"]),
            },
            "phases_s": self.phases,
            "cpu_during_burst_s": self.cpu,
            "visitor_events": dict(tally.visitor_events),
            "errors": dict(tally.errors),
            "error_samples": tally.error_samples,
        }


# --- the stack -----------------------------------------------------------------------------

@dataclass
class Stack:
    process: subprocess.Popen[bytes]
    log: Path
    started_in: float

    def tail(self, lines: int = 20) -> str:
        try:
            return "\n".join(self.log.read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return ""

    def stop(self) -> dict[str, Any]:
        if self.process.poll() is not None:
            return {"exit": self.process.returncode, "stop_s": 0.0, "note": "had already exited"}
        started = time.perf_counter()
        self.process.send_signal(signal.SIGTERM)
        try:
            code = self.process.wait(timeout=STOP_TIMEOUT)
            note = "SIGTERM"
        except subprocess.TimeoutExpired:
            self.process.kill()
            code = self.process.wait(timeout=10)
            note = f"did not stop within {STOP_TIMEOUT:.0f} s of SIGTERM: killed"
        return {"exit": code, "stop_s": round(time.perf_counter() - started, 2), "note": note}


def livechat_command() -> str:
    local = Path(sys.executable).parent / "livechat"
    found = str(local) if local.exists() else shutil.which("livechat")
    if not found:
        raise SystemExit("e2e_latency: no `livechat` command next to this Python or on PATH")
    return found


def start_stack(directory: Path, config: dict[str, Any], timeout: float,
                log: Path | None) -> tuple[Stack, dict[str, Any]]:
    workspace_file = directory / "bench-workspace.yaml"
    workspace_file.write_text(yaml.safe_dump(config, sort_keys=False))
    endpoints_file = directory / "endpoints.json"
    log = log or directory / "stack.log"
    started = time.perf_counter()
    with log.open("wb") as out:
        process = subprocess.Popen(
            [livechat_command(), "dev", "--workspace", str(workspace_file), "--port", "0",
             "--endpoints-file", str(endpoints_file), "--quiet"],
            stdout=out, stderr=subprocess.STDOUT, start_new_session=True)
    stack = Stack(process, log, 0.0)
    deadline = started + timeout
    while not endpoints_file.exists():
        if process.poll() is not None:
            raise RuntimeError(f"livechat dev exited with {process.returncode}:\n{stack.tail()}")
        if time.perf_counter() > deadline:
            stack.stop()
            raise RuntimeError(f"livechat dev did not come up within {timeout:.0f}s:\n{stack.tail()}")
        time.sleep(0.05)
    stack.started_in = round(time.perf_counter() - started, 2)
    return stack, json.loads(endpoints_file.read_text())


# --- output --------------------------------------------------------------------------------

def _fmt(value: Any) -> str:
    return "-" if value is None else f"{value:.1f}" if isinstance(value, float) else str(value)


def render(result: dict[str, Any]) -> str:
    lines = [f"e2e latency on the local stack — {result['visitors']} visitors, "
             f"{result['agents']['connected']}/{result['agents']['configured']} agents "
             f"(max_chats {result['agents']['max_chats']}), requestChat burst spread over "
             f"{result['spread_ms']} ms"]
    if "stack" in result:
        stack = result["stack"]
        lines.append(f"stack: started in {_fmt(stack.get('started_s'))} s; "
                     f"stopped by {stack.get('note')} in {_fmt(stack.get('stop_s'))} s, exit {stack.get('exit')}")
    lines.append("")
    lines.append(f"{'ms':<34}{'n':>6}{'p50':>10}{'p90':>10}{'p99':>10}{'max':>10}")
    for name, figures in result["ms"].items():
        lines.append(f"{name:<34}{figures['n']:>6}" + "".join(
            f"{_fmt(figures[k]):>10}" for k in ("p50", "p90", "p99", "max")))
    r = result["ratio"]
    lines += ["",
              f"ratio requestChat→chatOffered / ping→pong idle:   p50/p50 {_fmt(r['offer/ping idle p50'])}x"
              f"   p99/p99 {_fmt(r['offer/ping idle p99'])}x",
              f"ratio requestChat→chatOffered / ping→pong burst:  p50/p50 {_fmt(r['offer/ping burst p50'])}x"
              f"   p99/p99 {_fmt(r['offer/ping burst p99'])}x",
              "",
              f"visitors ready {result['visitors_ready']}/{result['visitors']}, requestChat sent "
              f"{result['requested']}, answered routing {result['routed']}, offers received "
              f"{result['offers_received']}/{result['requested']} (fallbacks {result['fallbacks']}, "
              f"neither {result['offers_missing']}, duplicates {result['duplicate_offers']}); offers per agent "
              f"{result['offers_per_agent']['min']}..{result['offers_per_agent']['max']}"]
    if result["offers_withdrawn"]:
        lines.append(f"offers withdrawn: {result['offers_withdrawn']}")
    lines.append("phases (s): " + ", ".join(f"{k} {v}" for k, v in result["phases_s"].items()))
    if result["cpu_during_burst_s"]:
        lines.append("CPU during the burst (s): " + ", ".join(
            f"{k.removesuffix(' s')} {v}" for k, v in result["cpu_during_burst_s"].items()))
    lines.append(f"errors: {result['errors'] or 'none'}")
    lines += [f"  {sample}" for sample in result["error_samples"]]
    return "\n".join(lines)


# --- main ----------------------------------------------------------------------------------

async def measure(args: argparse.Namespace, endpoints: dict[str, Any], stack_pid: int | None) -> dict[str, Any]:
    run = Run(args, endpoints, stack_pid=stack_pid)
    try:
        await asyncio.wait_for(run.execute(), args.timeout)
    except TimeoutError:
        run.tally.error("run", f"the whole run timed out after {args.timeout:.0f}s: partial figures")
    finally:
        await run.close()
    return run.result()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--visitors", type=int, default=200, help="concurrent visitors (default 200)")
    parser.add_argument("--agents", type=int, default=None,
                        help="agents (default: enough for every chat at once, at least 20)")
    parser.add_argument("--max-chats", type=int, default=10, help="chats per agent, 1..10 (default 10)")
    parser.add_argument("--pings", type=int, default=200, help="pings on the idle stack before the burst (default 200)")
    parser.add_argument("--burst-ping-ms", type=int, default=250,
                        help="during the burst, a ping every this many ms (default 250)")
    parser.add_argument("--spread-ms", type=int, default=0,
                        help="spread the requestChat sends evenly over this window (default 0: all at once)")
    parser.add_argument("--setup-concurrency", type=int, default=32,
                        help="visitors setting up at once before the burst (default 32)")
    parser.add_argument("--endpoints", type=Path, default=None,
                        help="use the running stack of this endpoints file (started with --print-workspace's workspace)")
    parser.add_argument("--print-workspace", action="store_true", help="print the bench workspace YAML and exit")
    parser.add_argument("--accept-timeout", type=int, default=300, help="the workspace's accept_timeout_seconds")
    parser.add_argument("--start-timeout", type=float, default=90, help="seconds for the stack to come up")
    parser.add_argument("--burst-timeout", type=float, default=180,
                        help="seconds from the first requestChat for every answer and offer (default 180)")
    parser.add_argument("--timeout", type=float, default=300,
                        help="seconds for the whole measured run, set-up to clean-up (default 300)")
    parser.add_argument("--stack-log", type=Path, default=None, help="keep the started stack's output in this file")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    if args.agents is None:
        args.agents = max(20, math.ceil(args.visitors / args.max_chats))
    config = workspace(args.agents, args.max_chats, args.accept_timeout)
    if args.print_workspace:
        print(yaml.safe_dump(config, sort_keys=False), end="")
        return 0

    stack: Stack | None = None
    with tempfile.TemporaryDirectory(prefix="livechat-bench-") as directory:
        try:
            if args.endpoints:
                endpoints = json.loads(args.endpoints.read_text())
            else:
                stack, endpoints = start_stack(Path(directory), config, args.start_timeout, args.stack_log)
            result = asyncio.run(measure(args, endpoints, stack.process.pid if stack else None))
        except (RuntimeError, OSError, ValueError) as exc:
            print(f"e2e_latency: {exc}", file=sys.stderr)
            return 1
        finally:
            stopped = stack.stop() if stack else None
        if stack and stopped:
            result["stack"] = {"started_s": stack.started_in, **stopped}
            if stopped["exit"] != 0 or result["errors"]:
                result["stack_log_tail"] = stack.tail()
    print(json.dumps(result, indent=2, ensure_ascii=False) if args.json else render(result))
    if not args.json and result.get("stack_log_tail"):
        print("stack log (tail):\n" + result["stack_log_tail"])
    return 0


if __name__ == "__main__":
    sys.exit(main())
