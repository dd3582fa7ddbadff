"""DynamoDB round trips and writes per routed-and-accepted chat, counted from botocore events.

Drives the real handlers through the test world (moto, a Cognito-signed agent, the gateway
recorder); prints figures per phase and per chat, never pass/fail. Run: `make bench`, or
`.venv/bin/python bench/route_cost.py [--chats N] [--agents N] [--json]`.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from unittest.mock import patch
from urllib.parse import unquote

# Bench scripts only: run as a plain script, so the repository root (tests.support,
# functions) and the layer (livechat) go on the path here; the test fixtures' environment
# is set before the handlers are imported (Powertools reads it at import).
ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "layers" / "common")]
os.environ.update({
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "LIVECHAT_TABLE_NAME": "livechat-test",
    "LIVECHAT_WS_MANAGEMENT_ENDPOINT": "https://abc123.execute-api.us-east-1.amazonaws.com/test",
    "LIVECHAT_VISITOR_SECRET": "test-secret-0123456789abcdef0123456789abcdef",
    "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": "livechat",
    "POWERTOOLS_SERVICE_NAME": "livechat", "POWERTOOLS_LOG_LEVEL": "ERROR",
})

import boto3  # noqa: E402
import botocore.session  # noqa: E402
from livechat import auth, config, store  # noqa: E402
from moto import mock_aws  # noqa: E402
from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend  # noqa: E402

from tests.support.aws import REGION, TABLE, Gateway  # noqa: E402
from tests.support.template import load_template, table_create_kwargs  # noqa: E402
from tests.support.world import Client, World  # noqa: E402

# Powertools warns on every invocation that no metric was added: noise for a benchmark.
warnings.filterwarnings("ignore", message="No application metrics to publish")

READS = {"GetItem", "Query", "BatchGetItem", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
PHASES = ("connect", "walk", "requestChat", "accept", "message", "endChat")
HOT = ("requestChat", "accept", "endChat")
FLOOR = {"writes": 3, "reads": 1}  # acquire, bind at accept, release at end; <= 1 read
NAMES = {"CONN": "connection", "CONV": "conversation", "EVT": "event", "CMID": "message-id",
         "AGENT": "agent", "VISITOR": "visitor", "DIALOG": "dialog", "CONFIG": "settings",
         "COUNTER": "counter", "TEAM": "team"}
HOW = ("botocore 'before-parameter-build' handler registered on every client at creation "
       "(botocore.session.Session.create_client wrapped): boto3 and PynamoDB clients alike; "
       "one per API call, botocore retries would not show")


def _kind(key: dict[str, Any]) -> str:
    """The item type an addressed key belongs to (models.py's pk/sk layout)."""
    pk, sk = str(key.get("pk", {}).get("S", "?")), str(key.get("sk", {}).get("S", ""))
    head = pk.split("#", maxsplit=1)[0]
    if head == "CONV" and sk != "META":  # the conversation's partition: event, message id
        head = sk.split("#", maxsplit=1)[0]
    if head == "COUNTER":  # RR#<pool> is a round-robin cursor, ENGAGEMENTS the quota
        return "rr-cursor" if sk.startswith("RR#") else "engagements"
    return NAMES.get(head, head)


def _label(op: str, params: dict[str, Any]) -> str:
    if op == "TransactWriteItems":
        parts = [f"{verb} {_kind(body.get('Key') or body.get('Item') or {})}"
                 for entry in params["TransactItems"] for verb, body in entry.items()]
        return f"{op} [{', '.join(parts)}]"
    if op == "Query":
        token = re.search(r":\w+", params.get("KeyConditionExpression", ""))
        value = params.get("ExpressionAttributeValues", {}).get(token.group(0) if token else "", {})
        pk = str(value.get("S", "?")).split("#")[0]
        where = f" via {params['IndexName']}" if "IndexName" in params else ""
        return f"{op} {NAMES.get(pk, pk)} partition{where}"
    return f"{op} {_kind(params.get('Key') or params.get('Item') or {})}"


class Meter:
    """Every AWS API call, by phase: (service, operation, label) counts and items written."""

    def __init__(self) -> None:
        self.phase = "setup"
        self.calls: dict[str, Counter[tuple[str, str, str]]] = defaultdict(Counter)
        self.items: Counter[str] = Counter()

    def on_call(self, params: dict[str, Any], model: Any, **_: Any) -> None:
        service, op = model.service_model.service_name, model.name
        label = _label(op, params) if service == "dynamodb" else f"{service} {op}"
        self.calls[self.phase][(service, op, label)] += 1
        if op == "TransactWriteItems":
            self.items[self.phase] += len(params["TransactItems"])
        elif op == "BatchWriteItem":
            self.items[self.phase] += sum(len(requests) for requests in params["RequestItems"].values())
        elif service == "dynamodb" and op in WRITES:
            self.items[self.phase] += 1

    @contextmanager
    def during(self, phase: str) -> Iterator[None]:
        self.phase = phase
        yield
        self.phase = "between"

    def figures(self, phase: str, chats: int) -> dict[str, Any]:
        calls = self.calls[phase]
        ddb = {k: n for k, n in calls.items() if k[0] == "dynamodb"}
        return {
            "round_trips": sum(ddb.values()) / chats,
            "reads": sum(n for k, n in ddb.items() if k[1] in READS) / chats,
            "writes": sum(n for k, n in ddb.items() if k[1] in WRITES) / chats,
            "items_written": self.items[phase] / chats,
            "posts": sum(n for k, n in calls.items() if k[1] == "PostToConnection") / chats,
            "operations": {k[2]: n / chats for k, n in sorted(calls.items(), key=lambda kv: kv[0][2])},
        }


def one_chat(world: World, agents: list[Client], meter: Meter, n: int) -> None:
    with meter.during("connect"):
        visitor = world.visitor_client()
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
    meter, recorder = Meter(), Gateway()
    create_client = botocore.session.Session.create_client

    def counted_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build", meter.on_call)
        return client

    def post_to_connection(self: Any, data: bytes, connection_id: str) -> None:
        # As tests/support/aws.py: moto hands over the id still URL-encoded.
        with recorder.lock:
            recorder.frames[unquote(connection_id)].append(json.loads(data))

    # The tests also serialize moto's DynamoHandler for their threads; one thread here.
    with (patch.object(botocore.session.Session, "create_client", counted_client),
          patch.object(ApiGatewayManagementApiBackend, "post_to_connection", post_to_connection),
          mock_aws()):
        for module in (config, store, auth):
            module.reset()
        kwargs = table_create_kwargs(load_template())
        kwargs["TableName"] = TABLE
        boto3.client("dynamodb", region_name=REGION).create_table(**kwargs)
        world = World(recorder)
        emails = [f"agent{i}@example.com" for i in range(agent_count)]
        for email in emails:
            world.agent(email)
        world.live_dialog("sales", {"mode": "round_robin"})
        agents = [world.agent_client(email) for email in emails]
        one_chat(world, agents, meter, 0)  # warm-up: caches, the cursor item, first clients
        meter.calls.clear()
        meter.items.clear()
        for n in range(1, chats + 1):
            one_chat(world, agents, meter, n)
    phases = {phase: meter.figures(phase, chats) for phase in PHASES}
    hot = {key: sum(phases[p][key] for p in HOT) for key in ("round_trips", "reads", "writes", "items_written")}
    return {"chats": chats, "agents": agent_count, "counted_by": HOW, "phases": phases,
            "hot_path": hot, "floor": FLOOR}


WHY = """Why (read off the operations above):
  - every frame first resolves its connection (GetItem connection) before any action;
  - routing reads every agent in one Query (the one read the floor allows); the move to
    routing is its own transaction; the round-robin cursor is its own UpdateItem ADD (the
    ticket); the offer binds conversation + agent slot in one transaction ("acquire");
  - event appends ride in the same transaction as the state change (Put event inside the
    TransactWriteItems): they cost items, not round trips;
  - each broadcast reads the visitor item for its connections, and the agent item unless its
    connections are at hand; accept also queries the events for the transcript;"""


def render(r: dict[str, Any]) -> str:
    h, floor = r["hot_path"], r["floor"]
    out = [f"route cost: {r['chats']} chats after one warm-up, {r['agents']} agent(s), round robin, moto",
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
    return "\n".join([*out, "", WHY, f"  - the same item read more than once per call: {'; '.join(repeats) or 'none'}."])


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chats", type=int, default=20, help="measured chats (default 20)")
    parser.add_argument("--agents", type=int, default=1, help="connected agents (default 1)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    result = measure(max(1, args.chats), max(1, args.agents))
    print(json.dumps(result, indent=2) if args.json else render(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
