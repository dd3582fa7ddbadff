"""Routing under contention: requestChat from 16 threads against the serialized embedded DynamoDB.

The real handlers run in-process on moto (as the tests do: tests/support/world.py), with the
local stack's lock around moto's DynamoDB (livechat_local.moto_patches: real DynamoDB is
linearizable per item, moto is not). Every visitor first walks the dialog to its live chat card
(set-up, not timed); then all requests go at once from a pool of threads, with Python switching
threads every 0.1 ms (as tests/integration/test_concurrency.py does) so that reads and
conditional writes really interleave. Two workspaces:

- room:           20 agents x max_chats 10 = 200 slots for 200 requests: every request is offered,
                  and round robin should give every agent exactly 10;
- capacity-bound: 20 agents x max_chats 3 = 60 slots for 200 requests: exactly 60 offers,
                  140 fallbacks, nobody above 3.

Throughput is read as a ratio to the same machine's raw conditional UpdateItem rate (ADD with a
condition, the capacity semaphore's shape), measured from the same number of threads against
the same embedded table just before and just after each routing run: the embedded DynamoDB is
one lock, so its call rate is the ceiling, and the machine's load moves both figures alike.
Prints figures, never pass/fail on time; over-assignment is checked from the agents' items.

    .venv/bin/python -m bench.contention [--requests N] [--threads N] [--agents N] [--json]
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from collections import Counter
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from typing import Any

# The environment first: Powertools reads it when a handler is imported.
from tests.support import metering

metering.environment()

import boto3  # noqa: E402
from livechat.store import agents as agents_module  # noqa: E402

from tests.support.aws import REGION, TABLE  # noqa: E402
from tests.support.metering import Meter, count_calls, embedded_aws  # noqa: E402
from tests.support.world import Client, World  # noqa: E402

SWITCH_INTERVAL = 1e-4  # seconds; Python's default is 5 ms


@contextmanager
def frequent_thread_switches() -> Iterator[None]:
    before = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(before)


def timed_pool(work: Callable[[int], Any], count: int, threads: int) -> tuple[list[Any], float]:
    """Run work(0..count-1) on `threads` threads; (results, wall seconds from the first
    submission to the last result)."""
    with frequent_thread_switches(), ThreadPoolExecutor(max_workers=threads) as pool:
        started = time.perf_counter()
        results = list(pool.map(work, range(count)))
        seconds = time.perf_counter() - started
    return results, seconds


def raw_updates(calls: int, threads: int, items: int) -> float:
    """Conditional UpdateItem calls per second: `ADD v :one` if `v < :cap` (never false
    here), spread over `items` items, from `threads` threads with one client each."""
    clients = [boto3.client("dynamodb", region_name=REGION) for _ in range(threads)]

    def one(n: int) -> None:
        clients[n % threads].update_item(
            TableName=TABLE, Key={"pk": {"S": "BENCH"}, "sk": {"S": f"ITEM#{n % items}"}},
            UpdateExpression="ADD #v :one", ConditionExpression="attribute_not_exists(#v) OR #v < :cap",
            ExpressionAttributeNames={"#v": "v"},
            ExpressionAttributeValues={":one": {"N": "1"}, ":cap": {"N": str(10**9)}})

    _, seconds = timed_pool(one, calls, threads)
    return calls / seconds


def slot_count(row: Any) -> int:
    """Slot markers on an agent (the store's snapshot: a plain mapping)."""
    return len(row.slots)


def run(name: str, *, agents: int, max_chats: int, requests: int, threads: int, raw_calls: int) -> dict[str, Any]:
    meter = Meter()
    with count_calls(meter), embedded_aws() as gateway:
        world = World(gateway)
        # Offers must outlive the run: nothing may expire while the threads are still routing.
        # The default rate limits, as a deployment applies them (their counters ride in the
        # writes that race here), except that every visitor of the bench comes from one address.
        world.settings(accept_timeout_seconds=3600, rate_limits={"sessions_per_address_per_minute": 10_000})
        world.live_dialog("sales", {"mode": "round_robin"})
        emails = [f"agent{i:02d}@example.com" for i in range(agents)]
        for email in emails:
            world.agent(email, max_chats=max_chats)
        team = {email: world.agent_client(email) for email in emails}
        pairs: list[tuple[Client, str]] = []
        for _ in range(requests):
            visitor = world.visitor_client()
            pairs.append((visitor, world.walk_to_live_card(visitor, "sales")))
        raw_before = raw_updates(raw_calls, threads, agents)

        def request(n: int) -> str:
            visitor, conversation_id = pairs[n]
            return str(visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"])

        meter.clear()
        with meter.during("route"):
            answers, seconds = timed_pool(request, requests, threads)
        raw_after = raw_updates(raw_calls, threads, agents)

        offers = {email: len(client.of_type("chatOffered")) for email, client in team.items()}
        fallbacks = sum(1 for visitor, _ in pairs for f in visitor.frames() if f["type"] == "fallback")
        fallbacks += sum(1 for a in answers if a == "fallback")
        rows = {row.email: row for row in agents_module.list_agents()}

    raw = (raw_before + raw_after) / 2
    per_agent = list(offers.values())
    active = [int(row.active) for row in rows.values()]
    answered = Counter(answers)
    figures = meter.figures("route", requests)
    routed_per_s = answered.get("routing", 0) / seconds
    return {
        "variant": name,
        "agents": agents, "max_chats": max_chats, "capacity": agents * max_chats,
        "requests": requests, "threads": threads,
        "seconds": round(seconds, 3),
        "answers": dict(answered),
        "routed_per_s": round(routed_per_s, 1),
        "answered_per_s": round(requests / seconds, 1),
        "raw_update_per_s": {"before": round(raw_before, 1), "after": round(raw_after, 1), "mean": round(raw, 1)},
        "ratio_routed_to_raw": round(routed_per_s / raw, 4),
        "ratio_answered_to_raw": round(requests / seconds / raw, 4),
        "round_trips_per_request": round(figures["round_trips"], 2),
        "dynamodb_calls_per_s_while_routing": round(figures["round_trips"] * requests / seconds, 1),
        "errors_per_request": {code: round(n, 3) for code, n in figures["errors"].items()},
        "offers": sum(per_agent),
        "fallbacks": fallbacks,
        "offers_per_agent": {"min": min(per_agent), "max": max(per_agent),
                             "stddev": round(statistics.pstdev(per_agent), 3)},
        "over_assignment": {
            "max_active": max(active),
            "agents_above_max_chats": sum(1 for a in active if a > max_chats),
            "offers_above_max_chats": sum(max(0, n - max_chats) for n in per_agent),
            "offers_above_capacity": max(0, sum(per_agent) - agents * max_chats),
            "slot_markers_not_matching_active": sum(1 for row in rows.values() if slot_count(row) != int(row.active)),
        },
    }


def render(results: list[dict[str, Any]]) -> str:
    out = [f"contention: requestChat from {results[0]['threads']} threads, switch interval "
           f"{SWITCH_INTERVAL * 1000:g} ms, moto in-process behind one lock (livechat_local.moto_patches)", ""]
    for r in results:
        over, spread, raw = r["over_assignment"], r["offers_per_agent"], r["raw_update_per_s"]
        out += [
            f"{r['variant']}: {r['agents']} agents x max_chats {r['max_chats']} = {r['capacity']} slots, "
            f"{r['requests']} requests",
            f"  answers              {', '.join(f'{k} {v}' for k, v in sorted(r['answers'].items()))} "
            f"in {r['seconds']:.2f} s",
            f"  routed requests/s    {r['routed_per_s']:.1f}   (all answers/s {r['answered_per_s']:.1f})",
            f"  raw conditional UpdateItem/s, {r['threads']} threads: {raw['mean']:.1f} "
            f"(before {raw['before']:.1f}, after {raw['after']:.1f})",
            f"  ratio routed/raw     {r['ratio_routed_to_raw']:.4f}   (answered/raw {r['ratio_answered_to_raw']:.4f}: "
            f"one request answered takes the time of {1 / r['ratio_answered_to_raw']:.1f} conditional updates)",
            f"  DynamoDB calls       {r['round_trips_per_request']:.2f} per request, "
            f"{r['dynamodb_calls_per_s_while_routing']:.1f}/s while routing "
            f"({r['dynamodb_calls_per_s_while_routing'] / raw['mean']:.0%} of the raw rate)",
            f"  failed conditions    {', '.join(f'{k} {v:g}' for k, v in r['errors_per_request'].items()) or 'none'}"
            f" (per request: the races lost and retried)",
            f"  offers               {r['offers']} (fallbacks {r['fallbacks']}); per agent min {spread['min']} "
            f"max {spread['max']} stddev {spread['stddev']:.3f}",
            f"  over-assignment      max active {over['max_active']} vs max_chats {r['max_chats']}; agents above "
            f"{over['agents_above_max_chats']}, offers above max_chats {over['offers_above_max_chats']}, "
            f"offers above capacity {over['offers_above_capacity']}, slot markers != active "
            f"{over['slot_markers_not_matching_active']}",
            "",
        ]
    out.append("Read the ratios, not the rates: the machine is shared and the embedded DynamoDB is one lock.")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--requests", type=int, default=200, help="chat requests per variant (default 200)")
    parser.add_argument("--threads", type=int, default=16, help="threads (default 16)")
    parser.add_argument("--agents", type=int, default=20, help="agents (default 20)")
    parser.add_argument("--max-chats", type=int, default=10, help="max_chats in the room variant (default 10)")
    parser.add_argument("--bound-max-chats", type=int, default=3,
                        help="max_chats in the capacity-bound variant (default 3)")
    parser.add_argument("--raw-calls", type=int, default=1000,
                        help="conditional UpdateItem calls per raw measurement (default 1000)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    common = {"agents": args.agents, "requests": args.requests, "threads": args.threads, "raw_calls": args.raw_calls}
    results = [run("room", max_chats=args.max_chats, **common),
               run("capacity-bound", max_chats=args.bound_max_chats, **common)]
    print(json.dumps(results, indent=2) if args.json else render(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
