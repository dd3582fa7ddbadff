"""How long an offer takes to reach an agent by Web Push, next to a WebSocket offer (issue 13).

Starts `livechat dev` on a workspace of its own (one agent, one round-robin live chat card,
offers that outlive the run) and a push service of the test's own (tests/pushservice.py), then
times, from just before a visitor sends `requestChat`:

  (a) the `chatOffered` frame reaching the agent's open inbox WebSocket;
  (b) the push POST reaching the push service, for the same agent with the inbox closed and a
      push subscription (the service answers 201 at once, so this is the sender's side alone:
      encryption, VAPID signing, the HTTP round trip);

and, in both runs, `requestChat` → its `routing` answer (whether pushing holds up the answer).
Each run starts with one warm-up chat, shown apart: the first push of the stack's process also
pays for importing pywebpush, which the sender does lazily; that import is also timed on its own,
in fresh interpreters. Chats are one at a time; each is ended by its visitor once timed (which
withdraws the offer and frees the agent's slot). Everything is timed on this machine's clock, the
stack and the clients sharing its cores. Prints figures, never pass/fail on time.

    .venv/bin/python -m bench.push_delay [--chats N] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from tests.blackbox import Client, Stack, Visitor, closing, running_stack
from tests.pushservice import Push, PushService

AGENT = "bench-push-agent@example.com"
PASSWORD = "Bench-push-agent-1"  # local stack only
DIALOG = "bench"
LIVE_CARD = "live"
CHATS_PER_VISITOR = 15  # stays under the visitors' hourly conversation limit (protocol.md)
IMPORT_RUNS = 5
WAIT = 30.0  # seconds for any one offer to arrive


def workspace() -> dict[str, Any]:
    return {
        "settings": {
            "plan": "prime",
            "engagement_limit": None,
            "accept_timeout_seconds": 600,  # nothing expires during the run
            "team_retry_agents": 0,
            "inactivity_timeout_seconds": 3600,
            "default_max_chats": 10,
            "fallback_message": "Bench: nobody could take the chat.",
            "global_fallback_message": "Bench: live chat is not available.",
            "failure_emails": {"from": "bench-alerts@example.com", "to": ["bench-ops@example.com"]},
        },
        "agents": [{"email": AGENT, "name": "Bench Push Agent", "avatar_url": "", "max_chats": 10,
                    "password": PASSWORD}],
        "dialogs": [{"id": DIALOG, "cards": [
            {"id": LIVE_CARD, "kind": "live_chat", "routing": {"mode": "round_robin"}}]}],
    }


# --- figures -------------------------------------------------------------------------------

def percentile(values: Sequence[float], p: float) -> float | None:
    """Nearest-rank percentile; None for no samples."""
    if not values:
        return None
    ordered = sorted(values)
    return ordered[max(1, math.ceil(p / 100 * len(ordered))) - 1]


def summary(seconds: Sequence[float]) -> dict[str, Any]:
    ms = [s * 1000 for s in seconds]
    figures: dict[str, Any] = {"n": len(ms)}
    for name, p in (("p50", 50), ("p99", 99), ("max", 100)):
        value = percentile(ms, p)
        figures[name] = None if value is None else round(value, 1)
    return figures


@dataclass
class Run:
    """One way of reaching the agent: seconds from requestChat sent to the offer's arrival,
    and to the `routing` answer; the warm-up chat's apart."""

    offered: list[float] = field(default_factory=list)
    answered: list[float] = field(default_factory=list)
    warm_up: tuple[float, float] | None = None

    def add(self, offered: float, answered: float) -> None:
        if self.warm_up is None:
            self.warm_up = (offered, answered)
        else:
            self.offered.append(offered)
            self.answered.append(answered)

    def figures(self) -> dict[str, Any]:
        first = None if self.warm_up is None else {
            "offered_ms": round(self.warm_up[0] * 1000, 1),
            "answered_ms": round(self.warm_up[1] * 1000, 1)}
        return {"offered": summary(self.offered), "routing_answer": summary(self.answered),
                "first_chat": first}


# --- one chat -------------------------------------------------------------------------------

class Visitors:
    """A visitor for each chat, a new one every CHATS_PER_VISITOR chats."""

    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.current: Visitor | None = None
        self.used = 0

    async def next(self) -> Visitor:
        if self.current is None or self.used >= CHATS_PER_VISITOR:
            if self.current is not None:
                await closing(self.current)
            self.current, self.used = await self.stack.visitor(), 0
        self.used += 1
        return self.current

    async def close(self) -> None:
        if self.current is not None:
            await closing(self.current)


async def request(visitor: Visitor) -> tuple[str, float, asyncio.Task[float]]:
    """A new conversation whose visitor sends requestChat: its id, when requestChat was sent
    (time.monotonic), and the task that ends when its answer (`routing`) arrives."""
    conversation_id = await visitor.start(DIALOG)

    async def answered() -> float:
        answer = await visitor.ask("requestChat", WAIT, conversationId=conversation_id,
                                   cardId=LIVE_CARD)
        if answer.get("type") != "routing":
            raise RuntimeError(f"requestChat answered {answer}")
        return time.monotonic()

    sent = time.monotonic()
    return conversation_id, sent, asyncio.create_task(answered())


async def end(visitor: Visitor, conversation_id: str) -> None:
    """The visitor leaves while the chat is offered: the offer is withdrawn, the slot free."""
    answer = await visitor.ask("endChat", WAIT, conversationId=conversation_id)
    if answer.get("type") == "error":
        raise RuntimeError(f"endChat answered {answer}")


async def websocket_chat(agent: Client, visitor: Visitor, run: Run) -> None:
    conversation_id = await visitor.start(DIALOG)

    async def offered() -> float:
        await agent.next_of("chatOffered", WAIT, conversationId=conversation_id)
        return time.monotonic()

    arrival = asyncio.create_task(offered())  # reading before the request: no frame waits
    sent = time.monotonic()
    answer = await visitor.ask("requestChat", WAIT, conversationId=conversation_id,
                               cardId=LIVE_CARD)
    answered = time.monotonic()
    if answer.get("type") != "routing":
        raise RuntimeError(f"requestChat answered {answer}")
    run.add(await arrival - sent, answered - sent)
    await end(visitor, conversation_id)
    await agent.next_of("offerWithdrawn", WAIT, conversationId=conversation_id)


async def push_chat(service: PushService, visitor: Visitor, run: Run) -> None:
    conversation_id = await visitor.start(DIALOG)

    def about(push: Push) -> bool:
        return push.type == "chatOffered" and push.payload.get("conversationId") == conversation_id

    sent = time.monotonic()
    answer = await visitor.ask("requestChat", WAIT, conversationId=conversation_id,
                               cardId=LIVE_CARD)
    answered = time.monotonic()
    if answer.get("type") != "routing":
        raise RuntimeError(f"requestChat answered {answer}")
    push = await service.arrival(about, WAIT)  # its time is the service's, taken on arrival
    if push.problems:
        raise RuntimeError(f"the push broke the rules: {push.problems}")
    run.add(push.at - sent, answered - sent)
    await end(visitor, conversation_id)


# --- the runs -------------------------------------------------------------------------------

async def measure(stack: Stack, chats: int) -> dict[str, Any]:
    visitors = Visitors(stack)
    websocket, push = Run(), Run()
    try:
        # (a) the inbox open, no subscription
        agent = await stack.agent(AGENT, "available")
        try:
            for _ in range(chats + 1):
                await websocket_chat(agent, await visitors.next(), websocket)
        finally:
            await closing(agent)

        # (b) the inbox closed, one push subscription
        with PushService() as service:
            agent = await stack.agent(AGENT, "available")
            acked = await agent.ask("subscribePush", subscription=dict(service.subscribe("agent")))
            if acked.get("type") != "ack":
                raise RuntimeError(f"subscribePush answered {acked}")
            await closing(agent)
            await asyncio.sleep(0.5)  # its $disconnect handled (a 410 would push anyway)
            for _ in range(chats + 1):
                await push_chat(service, await visitors.next(), push)
    finally:
        await visitors.close()
    return {"websocket": websocket.figures(), "push": push.figures()}


def import_cost(runs: int = IMPORT_RUNS) -> dict[str, Any]:
    """`import pywebpush` in fresh interpreters (what the sender's first push pays): the time
    around the import statement alone, not the interpreter's start. The first run may find a
    cold disk cache; the median is the figure."""
    code = "import time; t = time.perf_counter(); import pywebpush; print(time.perf_counter() - t)"
    seconds = [float(subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                                    text=True).stdout.strip()) for _ in range(runs)]
    return {"runs": runs, "median_ms": round(statistics.median(seconds) * 1000, 1),
            "max_ms": round(max(seconds) * 1000, 1)}


def report(figures: dict[str, Any]) -> None:
    def line(name: str, values: dict[str, Any]) -> str:
        return (f"  {name:<34} n={values['n']:<3} p50 {values['p50']} ms   p99 {values['p99']} ms"
                f"   max {values['max']} ms")

    for key, title in (("websocket", "(a) inbox open: requestChat -> chatOffered on the WebSocket"),
                       ("push", "(b) inbox closed: requestChat -> push POST at the push service")):
        run = figures[key]
        print(title)
        print(line("offer arrived", run["offered"]))
        print(line("requestChat answered (routing)", run["routing_answer"]))
        first = run["first_chat"]
        if first:
            print(f"  {'first chat (warm-up, not counted)':<34} offer {first['offered_ms']} ms"
                  f"   answer {first['answered_ms']} ms")
    a, b = figures["websocket"]["offered"]["p50"], figures["push"]["offered"]["p50"]
    if a is not None and b is not None:
        print(f"push minus WebSocket, p50: {round(b - a, 1)} ms")
    cost = figures["pywebpush_import"]
    print(f"one-time `import pywebpush` (fresh interpreters, {cost['runs']} runs): "
          f"median {cost['median_ms']} ms, max {cost['max_ms']} ms")


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chats", type=int, default=30, help="timed chats per run (default 30)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)

    with tempfile.TemporaryDirectory(prefix="push-delay-") as directory, \
            running_stack(Path(directory), yaml.safe_dump(workspace()), {AGENT: PASSWORD}) as stack:
        figures = asyncio.run(measure(stack, args.chats))
    figures["pywebpush_import"] = import_cost()
    if args.json:
        print(json.dumps(figures, indent=2))
    else:
        report(figures)
    return 0


if __name__ == "__main__":
    sys.exit(main())
