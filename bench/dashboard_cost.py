"""What the performance dashboard costs (issue 16): the counter items a chat writes, and
what one `getStats` reads. Prints figures, never pass/fail.

Writes: the same live chats (team-routed: requested, offered, accepted, one agent reply,
ended by the visitor) run twice on the embedded DynamoDB, once with the counters switched
off (livechat.store.stats.updates answering nothing) and once as shipped; the DynamoDB calls
are counted (tests/support/metering.py), and the counter items inside the transactions.
Reads: counter items seeded for the worst case — every shard of every scope (the workspace,
each team, each agent) of every day holding every counter — then getStats over 7, 30 and 92
days: Queries, pages, items, bytes and the read units DynamoDB bills for them (eventually
consistent: 0.5 per 4 KB of a Query's items).

    .venv/bin/python -m bench.dashboard_cost [--chats N] [--agents N] [--teams N] [--json]
"""

from __future__ import annotations

import argparse
import json
import time
from collections import Counter
from datetime import date, timedelta
from typing import Any
from unittest.mock import patch

from tests.support import metering

metering.environment()

from livechat.chat import stats as stats_use_case  # noqa: E402
from livechat.domain import stats as domain_stats  # noqa: E402
from livechat.store import stats as stored  # noqa: E402

from tests.support.metering import Meter, count_calls, embedded_aws  # noqa: E402
from tests.support.world import World  # noqa: E402


class StatsItems:
    """How many items of the TransactWriteItems calls are counter items (pk STATS#...)."""

    def __init__(self) -> None:
        self.items: Counter[str] = Counter()

    def on_call(self, service: str, op: str, params: dict[str, Any], context: dict[str, Any]) -> None:
        if op != "TransactWriteItems":
            return
        for item in params["TransactItems"]:
            write: dict[str, Any] = next(iter(item.values()))
            key: dict[str, Any] = write.get("Key") or write.get("Item") or {}
            pk = str(key.get("pk", {}).get("S", ""))
            self.items["stats" if pk.startswith("STATS#") else "other"] += 1

    def on_result(self, service: str, op: str, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        pass


def chats(count: int, counters_on: bool) -> dict[str, Any]:
    meter, items = Meter(), StatsItems()
    off: Any = patch.object(stored, "updates", lambda *a, **k: [])
    with count_calls(meter, items), embedded_aws() as gateway:
        if not counters_on:
            off.start()
        try:
            world = World(gateway)
            world.settings(accept_timeout_seconds=3600, rate_limits={"sessions_per_address_per_minute": 10_000})
            world.live_dialog("sales", {"mode": "team", "team": "emea"})
            world.agent("alice@example.com", teams=("emea",))
            alice = world.agent_client("alice@example.com")
            visitors = []
            for _ in range(count):
                visitor = world.visitor_client()
                visitors.append((visitor, world.walk_to_live_card(visitor, "sales")))
            items.items.clear()
            started = time.perf_counter()
            with meter.during("chats"):
                for n, (visitor, conversation_id) in enumerate(visitors):
                    visitor.ask("requestChat", conversationId=conversation_id, cardId="live")
                    offer = next(f for f in alice.of_type("chatOffered") if f["conversationId"] == conversation_id)
                    alice.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])
                    alice.ask("sendMessage", conversationId=conversation_id, text="Hi", clientMessageId=f"m{n}")
                    visitor.ask("endChat", conversationId=conversation_id)
            seconds = time.perf_counter() - started
        finally:
            if not counters_on:
                off.stop()
    figures = meter.figures("chats", count)
    return {"round_trips": figures["round_trips"], "items_written": figures["items_written"],
            "stats_items": items.items["stats"] / count, "ms_per_chat": round(seconds * 1000 / count, 1)}


def seed(days: int, agents: int, teams: int, end: date) -> int:
    """Every shard of every scope of every day, holding every counter (the worst case)."""
    scopes = [domain_stats.ALL, *(domain_stats.team_scope(f"team-{t}") for t in range(teams)),
              *(domain_stats.agent_scope(f"agent{a:02d}@example.com") for a in range(agents))]
    values: dict[str, Any] = {name: 1234 if name.endswith("_ms") else 12 for name in domain_stats.COUNTS}
    written = 0
    with stored.StatsModel.batch_write() as batch:
        for n in range(days):
            day = (end - timedelta(days=n)).isoformat()
            for scope in scopes:
                for shard in range(stored.SHARDS):
                    batch.save(stored.StatsModel(stored.stats_pk(shard), stored.stats_sk(day, scope), **values))
                    written += 1
    return written


def reads(agents: int, teams: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    meter = Meter()
    with count_calls(meter), embedded_aws() as gateway:
        world = World(gateway)
        for a in range(agents):
            world.agent(f"agent{a:02d}@example.com")
        end = date(2026, 12, 6)
        out["seeded_items"] = seed(92, agents, teams, end)
        for days in (1, 7, 30, 92):
            cost = stored.ReadCost()
            meter.clear()
            with meter.during("read"):
                started = time.perf_counter()
                stats_use_case.get_stats((end - timedelta(days=days - 1)).isoformat(), end.isoformat(), cost)
                ms = (time.perf_counter() - started) * 1000
            calls = meter.figures("read", 1)
            out[f"{days}d"] = {"dynamodb_calls": calls["round_trips"], "queries_counters": cost.queries,
                               "pages": cost.pages, "items": cost.items, "kb": round(cost.bytes / 1024, 1),
                               "read_units": cost.read_units, "ms_embedded": round(ms)}
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--chats", type=int, default=20, help="live chats per variant (default 20)")
    parser.add_argument("--agents", type=int, default=20, help="agents in the read's worst case (default 20)")
    parser.add_argument("--teams", type=int, default=3, help="teams in the read's worst case (default 3)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    result: dict[str, Any] = {
        "writes_without_counters": chats(args.chats, False), "writes_with_counters": chats(args.chats, True),
        "reads": reads(args.agents, args.teams), "shards": stored.SHARDS}
    if args.json:
        print(json.dumps(result, indent=2))
        return 0
    off, on = result["writes_without_counters"], result["writes_with_counters"]
    print(f"per live chat (team-routed, accepted, one reply, ended), {args.chats} chats:")
    print(f"  DynamoDB calls        {off['round_trips']:.2f} without counters, {on['round_trips']:.2f} with")
    print(f"  wall time, one thread {off['ms_per_chat']} ms without, {on['ms_per_chat']} ms with")
    print(f"  items written         {off['items_written']:.2f} without, {on['items_written']:.2f} with "
          f"({on['stats_items']:.2f} counter items, inside the transactions already made)")
    print(f"getStats, worst case ({args.agents} agents, {args.teams} teams, every shard of every scope and day):")
    for span, figures in result["reads"].items():
        if span != "seeded_items":
            print(f"  {span:>4}: {figures}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
