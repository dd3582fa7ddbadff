"""DynamoDB round trips and writes per routed-and-accepted chat, counted from botocore events.

Drives the real handlers through the test world (moto, a Cognito-signed agent, the gateway
recorder); prints figures per phase and per chat, never pass/fail. Run: `make bench`, or
`.venv/bin/python -m bench.route_cost [--chats N] [--agents N] [--json]` from the repository root.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from typing import Any

# The environment first: Powertools reads it when a handler is imported.
from tests.support import metering

metering.environment()

from livechat import runtime  # noqa: E402

from tests.support.metering import HOW, Meter, count_calls, embedded_aws  # noqa: E402
from tests.support.world import Client, World  # noqa: E402

# "session" is the widget's POST /visitor/session (its per-address counter), "connect" the
# WebSocket $connect with its authorizer: the "connect <= 2" is the latter.
PHASES = ("session", "connect", "walk", "requestChat", "accept", "message", "endChat")
HOT = ("requestChat", "accept", "endChat")
FLOOR = {"writes": 3, "reads": 1}
CONFIG_READS = ("GetItem settings", "GetItem dialog")  # acquire, bind at accept, release at end; <= 1 read


def one_chat(world: World, agents: list[Client], meter: Meter, n: int) -> None:
    with meter.during("session"):
        token = world.visitor_token()["visitorToken"]
    with meter.during("connect"):
        visitor = world.visitor_client(token)
    with meter.during("walk"):
        conversation_id = world.walk_to_live_card(visitor, "sales")
    with meter.during("requestChat"):
        assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    offered = [(agent, offer) for agent in agents for offer in agent.of_type("chatOffered")]
    assert len(offered) == 1, offered
    agent, offer = offered[0]
    with meter.during("accept"):
        assert agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])["type"] == "chatAccepted"
    with meter.during("message"):
        visitor.ask("sendMessage", conversationId=conversation_id, text="Hi!", clientMessageId=f"v{n}")
        agent.ask("sendMessage", conversationId=conversation_id, text="Hello", clientMessageId=f"a{n}")
    with meter.during("endChat"):
        assert agent.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"


def measure(chats: int, agent_count: int) -> dict[str, Any]:
    meter = Meter()
    with count_calls(meter), embedded_aws() as gateway:
        world = World(gateway)
        emails = [f"agent{i}@example.com" for i in range(agent_count)]
        for email in emails:
            world.agent(email)
        world.live_dialog("sales", {"mode": "round_robin"})
        if os.environ.get("LIVECHAT_DEFAULT_RATE_LIMITS") != "0":
            # The defaults, except that every visitor of the bench comes from one address.
            world.settings(rate_limits={"sessions_per_address_per_minute": 10_000})
        agents = [world.agent_client(email) for email in emails]
        one_chat(world, agents, meter, 0)  # warm-up: caches, the cursor item, first clients
        meter.clear()
        started = time.monotonic()
        for n in range(1, chats + 1):
            one_chat(world, agents, meter, n)
        seconds = time.monotonic() - started
        cache = runtime.get_settings().config_cache_seconds
    phases = {phase: meter.figures(phase, chats) for phase in PHASES}
    hot = {key: sum(phases[p][key] for p in HOT) for key in ("round_trips", "reads", "writes", "items_written")}
    config_reads = round(chats * sum(n for f in phases.values() for label, n in f["operations"].items()
                                     if label in CONFIG_READS))
    return {"chats": chats, "agents": agent_count, "counted_by": HOW, "phases": phases,
            "hot_path": hot, "floor": FLOOR,
            "config_cache": {"seconds": cache, "run_seconds": round(seconds, 1), "reads": config_reads}}


WHY = """Why (read off the operations above):
  - a frame knows its caller from the $connect authorizer's context (requestContext.authorizer):
    no connection item is read (the authorizer itself makes no table call; connect counts it);
  - a frame on a conversation reads it with its parties' connections in one BatchGetItem: the
    conversation id starts with the visitor's id (the visitor item is addressed before the read),
    an agent brings their own e-mail, and the chat's agent's connections are mirrored on the
    conversation (livechat.store.mirror);
  - routing reads every agent and the round-robin cursors in one Query (the agents' partition);
    requestChat commits the request, its first offer, the agent's slot and the cursor's move in
    one transaction ("acquire"); a router that read a cursor another one moved reads again;
  - accept reads the conversation and its events in one Query (the transcript), takes the
    agent's name from the offer, and reads the visitor item for the agentJoined;
  - event appends (and the dashboard's counters) ride in the transaction of the state change:
    they cost items, not round trips;"""


def render(r: dict[str, Any]) -> str:
    h, floor = r["hot_path"], r["floor"]
    out = [f"route cost: {r['chats']} chats after one warm-up, {r['agents']} agent(s), round robin, moto, "
           f"{'no rate limits' if os.environ.get('LIVECHAT_DEFAULT_RATE_LIMITS') == '0' else 'the default rate limits'}",
           f"counted by: {r['counted_by']}", "",
           f"per chat       {'round trips':>11} {'reads':>6} {'writes':>6} {'items written':>13} {'posts':>6}"]
    for phase, f in r["phases"].items():
        out.append(f"{phase:<14} {f['round_trips']:>11.2f} {f['reads']:>6.2f} {f['writes']:>6.2f} "
                   f"{f['items_written']:>13.2f} {f['posts']:>6.2f}{'' if phase in HOT else '  (not hot path)'}")
    out += ["", f"hot path ({' + '.join(HOT)}): {h['round_trips']:.2f} round trips, {h['reads']:.2f} reads, "
            f"{h['writes']:.2f} writes ({h['items_written']:.2f} items)",
            f"floor: {floor['writes']} writes, at most {floor['reads']} read (acquire, bind at accept, release at end)"
            f" -> above it by {h['writes'] - floor['writes']:.2f} writes, {max(0.0, h['reads'] - floor['reads']):.2f} reads",
            "", "operations per chat, by phase:"]
    for phase, f in r["phases"].items():
        out += [f"  {phase}", *(f"    {n:>5.2f}  {label}" for label, n in f["operations"].items())]
    repeats = [f"{phase}: {label.split(' ', 1)[1]} x{n:g}" for phase in HOT
               for label, n in r["phases"][phase]["operations"].items() if label.startswith("GetItem ") and n > 1]
    cache = r["config_cache"]
    kept = (f"kept {cache['seconds']:g} s per container (livechat.store.catalog; LIVECHAT_CONFIG_CACHE_SECONDS=0"
            " reads them on every request)" if cache["seconds"] else "read on every request (cache off)")
    return "\n".join([*out, "", WHY, f"  - the same item read more than once per call: {'; '.join(repeats) or 'none'};",
                      f"  - the settings and each dialog are {kept}: the {r['chats']} measured chats took"
                      f" {cache['run_seconds']:g} s and read them {cache['reads']} time(s) in all."])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chats", type=int, default=20, help="measured chats (default 20)")
    parser.add_argument("--agents", type=int, default=1, help="connected agents (default 1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    parser.add_argument("--no-limits", action="store_true",
                        help="without the rate limits a deployment applies by default (what they cost)")
    args = parser.parse_args(argv)
    if args.no_limits:
        os.environ["LIVECHAT_DEFAULT_RATE_LIMITS"] = "0"
    result = measure(max(1, args.chats), max(1, args.agents))
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
