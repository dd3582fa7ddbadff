"""What the in-process benches share (route_cost, contention, cost): the environment the
handlers expect, the embedded AWS they run against, and a count of every AWS API call.

Part of the test kit so that the benches share it without path edits: they run as modules
from the repository root (`python -m bench.cost`: the working directory is on sys.path, the
layer is installed), and each calls `environment()` before importing a handler (Powertools
reads its settings at import). Then:

    with count_calls(meter), embedded_aws() as gateway:
        world = World(gateway)
        ...

`embedded_aws` is moto in-process with the local stack's patches (livechat_local.moto_patches:
one lock around moto's DynamoDB request handler, as real DynamoDB is linearizable per item),
the table created from template.yaml, and a recorder in place of API Gateway's @connections
endpoint that also keeps each frame's size (API Gateway bills WebSocket messages by size).
`count_calls` registers botocore handlers on every client created while it is active, boto3
and PynamoDB alike: one `before-parameter-build` per API call (botocore retries would not
show), and an `after-call` with the parsed response.
"""

from __future__ import annotations

import json
import os
import re
import threading
import warnings
from collections import Counter, defaultdict
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol
from unittest.mock import patch
from urllib.parse import unquote

ROOT = Path(__file__).resolve().parents[2]

ENVIRONMENT = {
    "AWS_ACCESS_KEY_ID": "testing", "AWS_SECRET_ACCESS_KEY": "testing", "AWS_SESSION_TOKEN": "testing",
    "AWS_DEFAULT_REGION": "us-east-1", "AWS_REGION": "us-east-1", "LIVECHAT_TABLE_NAME": "livechat-test",
    "LIVECHAT_WS_MANAGEMENT_ENDPOINT": "https://abc123.execute-api.us-east-1.amazonaws.com/test",
    "LIVECHAT_VISITOR_SECRET": "test-secret-0123456789abcdef0123456789abcdef",
    "POWERTOOLS_TRACE_DISABLED": "1", "POWERTOOLS_METRICS_NAMESPACE": "livechat",
    "POWERTOOLS_SERVICE_NAME": "livechat",
    # The benches' scripted clients send as fast as the handlers answer, faster than people
    # type: the per-container frame budget (memory only, no AWS call, nothing billed) would
    # refuse them, depending on how fast this machine is.
    "LIVECHAT_FRAMES_PER_SECOND": "0",
}


def environment(log_level: str = "ERROR") -> None:
    """The test fixtures' environment (tests/support/aws.py), set before any handler import.
    `log_level` is POWERTOOLS_LOG_LEVEL: ERROR keeps a bench quiet; the cost bench uses the
    template's INFO to weigh what the functions would log."""
    os.environ.update(ENVIRONMENT)
    os.environ["POWERTOOLS_LOG_LEVEL"] = log_level
    # Powertools warns on every invocation that no metric was added: noise for a benchmark.
    warnings.filterwarnings("ignore", message="No application metrics to publish")


# --- what an AWS call is -----------------------------------------------------------------------

READS = {"GetItem", "Query", "BatchGetItem", "Scan", "TransactGetItems"}
WRITES = {"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems", "BatchWriteItem"}
NAMES = {"CONN": "connection", "CONV": "conversation", "EVT": "event", "CMID": "message",
         "AGENT": "agent", "VISITOR": "visitor", "DIALOG": "dialog", "CONFIG": "settings",
         "COUNTER": "counter", "TEAM": "team", "RATE": "rate-limit counter"}
HOW = ("botocore 'before-parameter-build' handler registered on every client at creation "
       "(botocore.session.Session.create_client wrapped): boto3 and PynamoDB clients alike; "
       "one per API call, botocore retries would not show")


def kind(key: dict[str, Any]) -> str:
    """The item type an addressed key belongs to (models.py's pk/sk layout)."""
    pk, sk = str(key.get("pk", {}).get("S", "?")), str(key.get("sk", {}).get("S", ""))
    head = pk.split("#", maxsplit=1)[0]
    if head == "CONV" and sk == "META#CLOCK":
        return "clock"
    if head == "CONV" and sk != "META":  # the conversation's partition: event, message id
        head = sk.split("#", maxsplit=1)[0]
    if head == "COUNTER":  # RR#<pool>: a cursor of an earlier release; ENGAGEMENTS the quota
        return "rr-cursor (old)" if sk.startswith("RR#") else "engagements"
    if head == "AGENT" and sk.startswith("#RR#"):  # a round-robin cursor, in the agents' partition
        return "rr-cursor"
    return NAMES.get(head, head)


def label(service: str, op: str, params: dict[str, Any]) -> str:
    """One line per kind of call: `TransactWriteItems [Put event, Update conversation]`."""
    if service != "dynamodb":
        return f"{service} {op}"
    if op == "TransactWriteItems":
        parts = [f"{verb} {kind(body.get('Key') or body.get('Item') or {})}"
                 for entry in params["TransactItems"] for verb, body in entry.items()]
        return f"{op} [{', '.join(parts)}]"
    if op == "Query":
        token = re.search(r":\w+", params.get("KeyConditionExpression", ""))
        value = params.get("ExpressionAttributeValues", {}).get(token.group(0) if token else "", {})
        pk = str(value.get("S", "?")).split("#")[0]
        where = f" via {params['IndexName']}" if "IndexName" in params else ""
        return f"{op} {NAMES.get(pk, pk)} partition{where}"
    if op == "BatchGetItem":
        keys = [key for request in params["RequestItems"].values() for key in request["Keys"]]
        return f"{op} [{', '.join(kind(key) for key in keys)}]"
    return f"{op} {kind(params.get('Key') or params.get('Item') or {})}"


def items_written(op: str, params: dict[str, Any]) -> int:
    if op == "TransactWriteItems":
        return len(params["TransactItems"])
    if op == "BatchWriteItem":
        return sum(len(requests) for requests in params["RequestItems"].values())
    return 1 if op in WRITES else 0


# --- counting calls ----------------------------------------------------------------------------

class Listener(Protocol):
    def on_call(self, service: str, op: str, params: dict[str, Any], context: dict[str, Any]) -> None: ...

    def on_result(self, service: str, op: str, parsed: dict[str, Any], context: dict[str, Any]) -> None: ...


_quiet = threading.local()


@contextmanager
def quiet() -> Iterator[None]:
    """Calls made inside are not counted (a bench's own look-ups, e.g. an item's size)."""
    before = getattr(_quiet, "on", False)
    _quiet.on = True
    try:
        yield
    finally:
        _quiet.on = before


@contextmanager
def count_calls(*listeners: Listener) -> Iterator[None]:
    """Every AWS API call made by a client created inside goes to each listener."""
    import botocore.session

    create_client = botocore.session.Session.create_client

    def before(params: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if getattr(_quiet, "on", False):
            return
        context["bench_counted"] = True
        for listener in listeners:
            listener.on_call(model.service_model.service_name, model.name, params, context)

    def after(parsed: dict[str, Any], model: Any, context: dict[str, Any], **_: Any) -> None:
        if not context.get("bench_counted"):
            return
        for listener in listeners:
            listener.on_result(model.service_model.service_name, model.name, parsed, context)

    def counted_client(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        client = create_client(self, *args, **kwargs)
        client.meta.events.register("before-parameter-build", before)
        client.meta.events.register("after-call", after)
        return client

    with patch.object(botocore.session.Session, "create_client", counted_client):
        yield


class Meter:
    """Every AWS API call, by phase: (service, operation, label) counts, items written, and
    the error codes DynamoDB answered (a failed condition, a cancelled transaction)."""

    def __init__(self) -> None:
        self.phase = "setup"
        self.calls: dict[str, Counter[tuple[str, str, str]]] = defaultdict(Counter)
        self.items: Counter[str] = Counter()
        self.errors: dict[str, Counter[str]] = defaultdict(Counter)
        self.lock = threading.Lock()

    def on_call(self, service: str, op: str, params: dict[str, Any], context: dict[str, Any]) -> None:
        with self.lock:
            self.calls[self.phase][(service, op, label(service, op, params))] += 1
            if service == "dynamodb":
                self.items[self.phase] += items_written(op, params)
        context["bench_phase"] = self.phase

    def on_result(self, service: str, op: str, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        code = parsed.get("Error", {}).get("Code")
        if code:
            with self.lock:
                self.errors[context.get("bench_phase", self.phase)][f"{op}: {code}"] += 1

    def clear(self) -> None:
        with self.lock:
            self.calls.clear()
            self.items.clear()
            self.errors.clear()

    @contextmanager
    def during(self, phase: str) -> Iterator[None]:
        self.phase = phase
        try:
            yield
        finally:
            self.phase = "between"

    def figures(self, phase: str, per: int) -> dict[str, Any]:
        """Counts for one phase, divided by `per` (chats, requests)."""
        calls = self.calls[phase]
        ddb = {k: n for k, n in calls.items() if k[0] == "dynamodb"}
        return {
            "round_trips": sum(ddb.values()) / per,
            "reads": sum(n for k, n in ddb.items() if k[1] in READS) / per,
            "writes": sum(n for k, n in ddb.items() if k[1] in WRITES) / per,
            "items_written": self.items[phase] / per,
            "posts": sum(n for k, n in calls.items() if k[1] == "PostToConnection") / per,
            "operations": {k[2]: n / per for k, n in sorted(calls.items(), key=lambda kv: kv[0][2])},
            "errors": {code: n / per for code, n in sorted(self.errors[phase].items())},
        }


# --- the embedded AWS --------------------------------------------------------------------------

@dataclass
class Post:
    connection_id: str
    size: int  # bytes of the frame as posted
    thread: int = field(default_factory=threading.get_ident)


@contextmanager
def embedded_aws(*, stepfunctions: bool = False) -> Iterator[Any]:
    """moto with the local stack's patches, the table from template.yaml, and a
    tests.support.aws.Gateway recorder whose `posts` list keeps every frame's size.
    `stepfunctions`: executions run the state machine for real (tests/support/workflow.py)."""
    import boto3
    from livechat import runtime
    from moto import mock_aws
    from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend

    from livechat_local import moto_patches
    from tests.support.aws import REGION, TABLE, Gateway
    from tests.support.template import load_template, table_create_kwargs

    recorder = Gateway()
    posts: list[Post] = []
    recorder.posts = posts  # type: ignore[attr-defined]

    def post_to_connection(self: Any, data: bytes, connection_id: str) -> None:
        # As tests/support/aws.py: moto hands over the id still URL-encoded.
        connection_id = unquote(connection_id)
        with recorder.lock:
            recorder.frames[connection_id].append(json.loads(data))
            posts.append(Post(connection_id, len(data)))

    moto_patches.apply()
    with ExitStack() as stack:
        stack.enter_context(patch.object(ApiGatewayManagementApiBackend, "post_to_connection", post_to_connection))
        stack.enter_context(mock_aws(config={"stepfunctions": {"execute_state_machine": stepfunctions},
                                             "lambda": {"use_docker": False}}))
        runtime.reset()
        kwargs = table_create_kwargs(load_template())
        kwargs["TableName"] = TABLE
        boto3.client("dynamodb", region_name=REGION).create_table(**kwargs)
        try:
            yield recorder
        finally:
            runtime.reset()
