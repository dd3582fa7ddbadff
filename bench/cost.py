"""The AWS bill per 1,000 chats, from the calls one scripted chat really makes, times unit prices.

One chat, as the widget and the inbox drive it (layers/common/livechat/web/): the visitor's page
loads the widget (GET /widget.js, GET /dialogs/{id}, POST /visitor/session, GET /config.json),
connects, walks the dialog (startConversation, answer, capture), asks for a chat; an agent
accepts; 20 messages (10 each side, each between typing on and typing off, as both clients
send them); the visitor's two keep-alive pings of a 10-minute connection (one per 4.5 min); the
agent ends the chat; the visitor disconnects. And the chat nobody answers: the same visitor up to
requestChat, the offer expires, the visitor gets the fallback, the team gets the failure e-mail.

Everything runs in-process on moto with the real handlers (tests/support/world.py) and the real
offer workflow (statemachine/offer.asl.json executed by moto, its Lambda task dispatched to
functions/route_chat, as tests/support/workflow.py does), and is counted:
- every AWS API call, per Lambda function (botocore hooks on every client; bench/metering.py);
- DynamoDB request units computed per DynamoDB's item-size rules from the items' sizes before
  and after each write and from the items each read returned (on-demand: a write 1 WRU per KB
  of the larger of the before/after item, transactional 2x; a read 1 RRU per 4 KB strongly
  consistent, 0.5 eventually, transactional 2x; a Query on the summed size of the items it
  read), plus the global secondary index writes (4 indexes, all projecting ALL: 1 write when an
  item enters, leaves or changes in an index, 2 when its index key changes);
- WebSocket frames in (each ws_message event) and out (each post to a connection), with sizes:
  API Gateway bills a message per 32 KB or part of it; HTTP API requests per 512 KB;
- Lambda invocations per function, and each invocation's in-process time as a PROXY for its
  billed duration (moto answers in-process instead of a network round trip, and this machine's
  CPU is not a Lambda arm64 share of 512 MB: read it as an order of magnitude), rounded up to
  Lambda's 1 ms; time spent in a nested invocation (the async failure notifier runs inline
  here) is charged to the nested function only;
- Step Functions state transitions from each execution's history in moto;
- SES recipients of the failure e-mails; CloudWatch Logs bytes: what the functions print at the
  template's POWERTOOLS_LOG_LEVEL=INFO (Powertools JSON lines and metrics), plus Lambda's
  START/END/REPORT lines per invocation (estimated from their documented format).
Prices: us-east-1, on-demand, free tiers ignored; each line printed with its source. Prints
figures, never pass/fail.

    .venv/bin/python bench/cost.py [--chats N] [--json]
"""

from __future__ import annotations

import argparse
import io
import json
import logging
import math
import sys
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

# Run as a plain script: the repository root goes on the path here (bench, tests.support,
# functions); metering.environment() adds the layer and sets the environment before any
# handler is imported (Powertools reads it at import). INFO is the template's log level.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from bench import metering

metering.environment(log_level="INFO")

import boto3  # noqa: E402
from livechat import runtime  # noqa: E402
from moto.core.models import DEFAULT_ACCOUNT_ID  # noqa: E402

from bench.metering import count_calls, embedded_aws, quiet  # noqa: E402
from livechat_local import events  # noqa: E402
from livechat_local.lambdas import FUNCTIONS, Dispatcher  # noqa: E402
from tests.support.aws import REGION, TABLE  # noqa: E402
from tests.support.template import load_template  # noqa: E402
from tests.support.world import Client, LambdaContext, World  # noqa: E402

ROOT = metering.ROOT
SENDER, TEAM = "chat-alerts@example.com", "sales-ops@example.com"  # as tests/support/workflow.py
PRICES_CHECKED = "2026-11-21"  # when the sources below were looked up (stored copies; their own age varies)


@dataclass(frozen=True)
class Price:
    usd: float  # for `per` units
    per: float
    unit: str
    source: str
    status: str  # how far the figure could be confirmed offline

    @property
    def each(self) -> float:
        return self.usd / self.per


# us-east-1, on-demand, first tier; free tiers ignored. One table, each price with where it was read.
PRICES: dict[str, Price] = {
    "ws_message": Price(1.00, 1e6, "WebSocket message (per 32 KB)",
                        "awsforengineers.com/blog/aws-api-gateway-pricing-explained (2025-05-19); "
                        "stormit.cloud/blog/amazon-api-gateway-pricing (32 KB metering)",
                        "third-party pages; aws.amazon.com/api-gateway/pricing not in the stored copies"),
    "ws_minute": Price(0.25, 1e6, "WebSocket connection-minute",
                       "apigatewaycost.com/aws; stormit.cloud/blog/amazon-api-gateway-pricing",
                       "third-party pages; aws.amazon.com/api-gateway/pricing not in the stored copies"),
    "http_request": Price(1.00, 1e6, "HTTP API request (per 512 KB)",
                          "awsforengineers.com (first 300M); AWS whitepaper best-practices-api-gateway-private-apis-"
                          "integration/cost-optimization (512 KB metering)",
                          "third-party page for the price; AWS whitepaper for the metering"),
    "lambda_request": Price(0.20, 1e6, "Lambda request",
                            "git.mcrn.ar lambda-13-cost.md table (arm64 = x86 request price); kodekloud notes",
                            "third-party pages; aws.amazon.com/lambda/pricing renders its rates client-side"),
    "lambda_gb_s": Price(0.0000133334, 1, "Lambda arm64 GB-second",
                         "cloudchipr.com/blog/aws-lambda-pricing (ARM first 7.5B GB-s); artillery "
                         "lib/platform/aws-lambda/prices.js (arm64 base 1333340e-11)",
                         "third-party pages and code; not read off aws.amazon.com"),
    "wru": Price(0.625, 1e6, "DynamoDB write request unit",
                 "airbyte.com/data-engineering-resources/dynamodb-pricing (US East); AWS News Blog on-demand post "
                 "(updated 2025-01-31: reduced on-demand prices)",
                 "third-party page for the figure; unit rules from docs.aws.amazon.com read-write-operations"),
    "rru": Price(0.125, 1e6, "DynamoDB read request unit",
                 "airbyte.com/data-engineering-resources/dynamodb-pricing (US East)",
                 "third-party page for the figure; unit rules from docs.aws.amazon.com read-write-operations"),
    "sfn_transition": Price(0.025, 1e3, "Step Functions Standard state transition",
                            "aws.amazon.com/step-functions/pricing (US East (N. Virginia) $0.0250 per 1,000)",
                            "AWS pricing page (stored copy)"),
    "ses_recipient": Price(0.10, 1e3, "SES outbound e-mail recipient",
                           "api-evangelist/amazon-ses plans/amazon-ses-plans-pricing.yml, read from the AWS Price List "
                           "API 2026-07-22: a la carte $0.0001 per recipient; the Essentials plan, default for new "
                           "accounts since 2026-07-21, is $0.00016 per e-mail",
                           "third-party transcription of AWS's price list; aws.amazon.com/ses/pricing not stored"),
    "logs_gb": Price(0.50, 1, "CloudWatch Logs GB ingested (standard)",
                     "c3x.dev CloudWatch Logs cost post (us-east-1, June 2026); hykell.com knowledge base",
                     "third-party pages; aws.amazon.com/cloudwatch/pricing not in the stored copies"),
}
SERVICE = {"ws_message": "API Gateway (WebSocket)", "ws_minute": "API Gateway (WebSocket)",
           "http_request": "API Gateway (HTTP API)", "lambda_request": "Lambda", "lambda_gb_s": "Lambda",
           "wru": "DynamoDB", "rru": "DynamoDB", "sfn_transition": "Step Functions", "ses_recipient": "SES",
           "logs_gb": "CloudWatch Logs"}
LAMBDA_MS_GRANULARITY = 1  # Lambda bills duration in 1 ms increments (since December 2020)
WS_UNIT = 32 * 1024  # a WebSocket message is metered per 32 KB
HTTP_UNIT = 512 * 1024  # an HTTP API request is metered per 512 KB
WCU_BYTES, RCU_BYTES = 1024, 4096

# Assumptions of the scripted chat; every one is printed.
VISITOR_MINUTES = {"accepted": 10.0, "unanswered": 3.0}  # unanswered: the 100 s offer, the fallback read
PING_EVERY_MIN = 4.5  # widget.js / inbox.js PING_MS: API Gateway closes sockets idle for 10 minutes
AGENTS, AGENT_HOURS = 20, 8.0  # the agents' shared connections: 20 agents online 8 h per 1,000 chats
SWEEPS_PER_MONTH = 60 * 24 * 30  # timeout_sweeper: rate(1 minute)
PINGS_MEASURED = 10  # an agent's pings, measured on their own for the agents' share
# Lambda's own lines per invocation (text log format, X-Ray active): the shape of the real ones.
PLATFORM_LINES = (
    "START RequestId: 3f0e8a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b Version: $LATEST\n"
    "END RequestId: 3f0e8a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b\n"
    "REPORT RequestId: 3f0e8a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
    "Memory Size: 512 MB\tMax Memory Used: 98 MB\t\n"
    "XRAY TraceId: 1-6740a1b2-0c1d2e3f4a5b6c7d8e9f0a1b\tSegmentId: 1a2b3c4d5e6f7a8b\tSampled: true\t\n"
)


# --- DynamoDB item sizes -----------------------------------------------------------------------

def number_size(text: str) -> int:
    """DynamoDB: about 1 byte per two significant digits, plus 1."""
    mantissa = text.lstrip("+-").lower().split("e", maxsplit=1)[0].replace(".", "").strip("0")
    return (len(mantissa) + 1) // 2 + 1


def value_size(value: dict[str, Any]) -> int:
    """Bytes of one attribute value in DynamoDB's sizing (docs: item sizes and formats)."""
    ((tag, raw),) = value.items()
    if tag == "S":
        return len(str(raw).encode())
    if tag == "N":
        return number_size(str(raw))
    if tag == "B":
        return len(raw)
    if tag in ("BOOL", "NULL"):
        return 1
    if tag == "SS":
        return sum(len(str(s).encode()) for s in raw)
    if tag == "NS":
        return sum(number_size(str(n)) for n in raw)
    if tag == "BS":
        return sum(len(b) for b in raw)
    if tag == "L":  # 3 bytes for the document, 1 per element
        return 3 + sum(value_size(v) + 1 for v in raw)
    if tag == "M":
        return 3 + sum(len(k.encode()) + value_size(v) + 1 for k, v in raw.items())
    raise ValueError(f"unknown DynamoDB type {tag}")


def item_size(item: dict[str, Any] | None) -> int:
    return sum(len(name.encode()) + value_size(value) for name, value in (item or {}).items())


def write_units(size: int) -> int:
    return max(1, math.ceil(size / WCU_BYTES))


def read_units(size: int) -> int:
    return max(1, math.ceil(size / RCU_BYTES))


@dataclass
class Index:
    name: str
    keys: tuple[str, ...]


def table_indexes() -> list[Index]:
    props = next(r for r in load_template()["Resources"].values()
                 if r["Type"] == "AWS::DynamoDB::Table")["Properties"]
    for gsi in props.get("GlobalSecondaryIndexes", []):
        if gsi["Projection"]["ProjectionType"] != "ALL":
            raise SystemExit(f"cost: index {gsi['IndexName']} does not project ALL: size its entries first")
    return [Index(g["IndexName"], tuple(k["AttributeName"] for k in g["KeySchema"]))
            for g in props.get("GlobalSecondaryIndexes", [])]


def index_writes(indexes: list[Index], before: dict[str, Any] | None, after: dict[str, Any] | None) -> int:
    """Write units the indexes take for one item changing from `before` to `after`."""
    units = 0
    for index in indexes:
        was = before is not None and all(k in before for k in index.keys)
        now = after is not None and all(k in after for k in index.keys)
        if was and now:
            assert before is not None and after is not None
            if any(before[k] != after[k] for k in index.keys):  # delete the old entry, put the new
                units += write_units(item_size(before)) + write_units(item_size(after))
            elif before != after:
                units += write_units(max(item_size(before), item_size(after)))
        elif was:
            units += write_units(item_size(before))
        elif now:
            units += write_units(item_size(after))
    return units


# --- the ledger --------------------------------------------------------------------------------

@dataclass
class Usage:
    """What one Lambda function (or `outside`: the bench, Step Functions itself) used."""

    invocations: int = 0
    ms: list[float] = field(default_factory=list)  # in-process time of each invocation, nested ones excluded
    log_bytes: int = 0
    rru: float = 0.0
    wru: float = 0.0
    wru_index: float = 0.0
    calls: Counter[str] = field(default_factory=Counter)
    failed_writes: int = 0
    # DynamoDB units by kind of call: label -> {"rru", "wru", "gsi"}
    units: dict[str, dict[str, float]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(float)))


@dataclass
class Scenario:
    usage: dict[str, Usage] = field(default_factory=lambda: defaultdict(Usage))
    frames_in: list[int] = field(default_factory=list)  # bytes of each client frame
    frames_out: list[int] = field(default_factory=list)  # bytes of each frame posted to a connection
    http: list[tuple[str, int]] = field(default_factory=list)  # (request, bytes metered)
    recipients: int = 0
    executions: list[str] = field(default_factory=list)
    transitions: int = 0
    execution_states: Counter[str] = field(default_factory=Counter)


class Ledger:
    """Listener of metering.count_calls and wrapper of every handler: charges each call and
    invocation to the scenario running and to the function running on that thread."""

    def __init__(self, indexes: list[Index], raw: Any) -> None:
        self.indexes = indexes
        self.raw = raw  # a DynamoDB client whose calls are not counted (inside metering.quiet())
        self.scenarios: dict[str, Scenario] = defaultdict(Scenario)
        self.current = "setup"
        self.local = threading.local()
        self.lock = threading.RLock()

    # which function is running on this thread
    def stack(self) -> list[list[Any]]:
        if not hasattr(self.local, "stack"):
            self.local.stack = []
        stack: list[list[Any]] = self.local.stack
        return stack

    def function(self) -> str:
        stack = self.stack()
        return str(stack[-1][0]) if stack else "outside"

    def usage(self) -> Usage:
        return self.scenarios[self.current].usage[self.function()]

    @property
    def scenario(self) -> Scenario:
        return self.scenarios[self.current]

    def wrap(self, name: str, handler: Callable[[dict[str, Any], Any], Any]) -> Callable[[dict[str, Any], Any], Any]:
        def metered(event: dict[str, Any], context: Any) -> Any:
            stack = self.stack()
            stack.append([name, 0.0])
            started = time.perf_counter()
            try:
                return handler(event, context)
            finally:
                elapsed = time.perf_counter() - started
                _, nested = stack.pop()
                with self.lock:
                    usage = self.scenario.usage[name]
                    usage.invocations += 1
                    usage.ms.append((elapsed - nested) * 1000)
                    usage.log_bytes += len(PLATFORM_LINES)
                    if name == "ws_message":
                        self.scenario.frames_in.append(len(str(event.get("body") or "").encode()))
                if stack:
                    stack[-1][1] += elapsed
        return metered

    def log(self, text: str) -> None:
        with self.lock:
            self.usage().log_bytes += len(text.encode())

    # metering.Listener
    def on_call(self, service: str, op: str, params: dict[str, Any], context: dict[str, Any]) -> None:
        name = metering.label(service, op, params)
        with self.lock:
            usage = self.usage()
            usage.calls[name] += 1
            if service == "sesv2" and op == "SendEmail":
                where = params.get("Destination", {})
                self.scenario.recipients += sum(len(where.get(k, [])) for k in ("ToAddresses", "CcAddresses",
                                                                                  "BccAddresses"))
        context["bench_usage"] = usage
        context["bench_params"] = params
        context["bench_label"] = name
        if service == "dynamodb" and op in metering.WRITES:
            context["bench_before"] = [(key, self.fetch(table, key)) for table, key in self.written_keys(op, params)]

    def on_result(self, service: str, op: str, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        usage: Usage = context["bench_usage"]
        if service == "stepfunctions" and op == "StartExecution" and "executionArn" in parsed:
            with self.lock:
                self.scenario.executions.append(parsed["executionArn"])
        if service != "dynamodb":
            return
        failed = "Error" in parsed
        if op in metering.WRITES:
            factor = 2 if op == "TransactWriteItems" else 1
            base = index = 0
            for key, before in context.get("bench_before", []):
                after = before if failed else self.fetch(TABLE, key)
                base += factor * write_units(max(item_size(before), item_size(after)))
                if not failed:  # a write that failed its condition changes no index
                    index += index_writes(self.indexes, before, after)
            with self.lock:
                usage.wru += base
                usage.wru_index += index
                usage.failed_writes += int(failed)
                usage.units[context["bench_label"]]["wru"] += base
                usage.units[context["bench_label"]]["gsi"] += index
        elif op in metering.READS:
            units = self.read_units(op, context.get("bench_params", {}), parsed)
            with self.lock:
                usage.rru += units
                usage.units[context["bench_label"]]["rru"] += units

    def read_units(self, op: str, params: dict[str, Any], parsed: dict[str, Any]) -> float:
        consistency = 1.0 if params.get("ConsistentRead") else 0.5
        if op == "GetItem":
            return consistency * read_units(item_size(parsed.get("Item")))
        if op in ("Query", "Scan"):  # one read over the summed size of the items read
            return consistency * read_units(sum(item_size(i) for i in parsed.get("Items", [])))
        raise SystemExit(f"cost: no read-unit rule for {op} here yet")

    # item images, not counted
    @staticmethod
    def written_keys(op: str, params: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
        def key_of(body: dict[str, Any]) -> dict[str, Any]:
            return body.get("Key") or {k: body["Item"][k] for k in ("pk", "sk")}

        if op == "TransactWriteItems":
            return [(body["TableName"], key_of(body)) for entry in params["TransactItems"] for body in entry.values()]
        if op == "BatchWriteItem":
            return [(table, key_of(next(iter(request.values()))))
                    for table, requests in params["RequestItems"].items() for request in requests]
        return [(params["TableName"], key_of(params))]

    def fetch(self, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
        with quiet():
            item: dict[str, Any] | None = self.raw.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return item


class LogStream(io.TextIOBase):
    """stdout for the handlers: what they print is charged as log bytes, not shown."""

    def __init__(self, ledger: Ledger) -> None:
        self.ledger = ledger

    def write(self, text: str) -> int:
        self.ledger.log(text)
        return len(text)


@contextmanager
def metered_handlers(ledger: Ledger) -> Iterator[None]:
    """Every function's handler wrapped (the world and the dispatcher look `handler` up on
    the module at each call), and what they log counted."""
    import importlib

    with ExitStack() as stack:
        for name, module_name in FUNCTIONS.items():
            module = importlib.import_module(module_name)
            stack.enter_context(patch.object(module, "handler", ledger.wrap(name, module.handler)))
        stream = LogStream(ledger)
        for handler in logging.getLogger("livechat").handlers:
            if isinstance(handler, logging.StreamHandler):
                previous = handler.setStream(stream)
                stack.callback(handler.setStream, previous)
        stack.enter_context(redirect_stdout(stream))  # Powertools Metrics prints its EMF lines
        yield


# --- the scripted chats ------------------------------------------------------------------------

def http(ledger: Ledger, function: str, method: str, path: str, body: str = "", **route: Any) -> dict[str, Any]:
    """One HTTP API request to a function, as API Gateway sends it; metered per 512 KB."""
    import importlib

    module = importlib.import_module(FUNCTIONS[function])
    event = events.http_v2(method, path, body, domain="abc123.execute-api.us-east-1.amazonaws.com",
                           headers={"Host": "abc123.execute-api.us-east-1.amazonaws.com",
                                    "X-Forwarded-Proto": "https", "content-type": "application/json"}, **route)
    response: dict[str, Any] = module.handler(event, LambdaContext(function_name=function))
    size = max(len(body.encode()), len(str(response.get("body") or "").encode()))
    with ledger.lock:
        ledger.scenario.http.append((f"{method} {path}", size))
    assert response["statusCode"] == 200, (path, response["statusCode"])
    return response


def visitor_arrives(world: World, ledger: Ledger) -> tuple[Client, str]:
    """The page loads the widget; the visitor opens it and walks the dialog to the live card."""
    http(ledger, "web", "GET", "/widget.js")
    http(ledger, "web", "GET", "/dialogs/sales", route="/dialogs/{dialogId}", path_parameters={"dialogId": "sales"})
    token = json.loads(http(ledger, "visitor_session", "POST", "/visitor/session", "{}")["body"])["visitorToken"]
    http(ledger, "web", "GET", "/config.json")
    visitor = world.visitor_client(token)
    return visitor, world.walk_to_live_card(visitor, "sales")


def offer_for(agents: list[Client], conversation_id: str) -> tuple[Client, dict[str, Any]]:
    offered = [(a, f) for a in agents for f in a.of_type("chatOffered") if f["conversationId"] == conversation_id]
    assert len(offered) == 1, offered
    return offered[0]


def first_task_done(execution_arn: str, timeout: float = 60.0) -> None:
    sfn = boto3.client("stepfunctions", region_name=REGION)
    deadline = time.monotonic() + timeout
    with quiet():
        while not any(e["type"] in ("WaitStateEntered", "SucceedStateEntered", "FailStateEntered") for e in
                      sfn.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]):
            if time.monotonic() > deadline:
                raise SystemExit(f"cost: the offer workflow {execution_arn} did not run its first task")
            time.sleep(0.05)


def pings(minutes: float) -> int:
    return int(minutes // PING_EVERY_MIN)


def accepted_chat(world: World, ledger: Ledger, agents: list[Client], n: int, messages: int, *,
                  typing: bool = True) -> None:
    visitor, conversation_id = visitor_arrives(world, ledger)
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    agent, offer = offer_for(agents, conversation_id)
    # A person takes seconds to accept; the workflow's first task runs within the first one.
    # Accepting before it ran would skip the wait and understate the transitions.
    first_task_done(ledger.scenario.executions[-1])
    assert agent.ask("accept", conversationId=conversation_id, offerId=offer["offerId"])["type"] == "chatAccepted"
    for i in range(messages):
        who = visitor if i % 2 == 0 else agent
        text = f"{'Hello, I have a question about the pricing' if i % 2 == 0 else 'Sure, happy to help'} ({i})"
        if typing:
            who.ask("typing", conversationId=conversation_id, isTyping=True)
        assert who.ask("sendMessage", conversationId=conversation_id, text=text,
                       clientMessageId=f"m{n}-{i}")["type"] == "message"
        if typing:
            who.ask("typing", conversationId=conversation_id, isTyping=False)
    for _ in range(pings(VISITOR_MINUTES["accepted"])):
        assert visitor.ask("ping")["type"] == "pong"
    assert agent.ask("endChat", conversationId=conversation_id)["type"] == "chatEnded"
    visitor.disconnect()
    for client in (visitor, *agents):
        client.frames()  # drained: the next chat reads only its own frames


def unanswered_chat(world: World, ledger: Ledger, agents: list[Client]) -> Client:
    visitor, conversation_id = visitor_arrives(world, ledger)
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"
    offer_for(agents, conversation_id)  # offered to one agent, who lets it expire
    return visitor


def finish(ledger: Ledger, visitors: list[Client], timeout: float) -> None:
    """Wait for every execution of the scenario to end (the offer's deadline passes), then
    the visitors who were left waiting read the fallback and go."""
    sfn = boto3.client("stepfunctions", region_name=REGION)
    deadline = time.monotonic() + timeout
    with quiet():
        for arn in ledger.scenario.executions:
            while sfn.describe_execution(executionArn=arn)["status"] == "RUNNING":
                if time.monotonic() > deadline:
                    raise SystemExit(f"cost: execution {arn} still running after {timeout:.0f} s")
                time.sleep(0.1)
    for visitor in visitors:
        assert any(f["type"] == "fallback" for f in visitor.frames()), "the unanswered chat got no fallback"
        for _ in range(pings(VISITOR_MINUTES["unanswered"])):
            assert visitor.ask("ping")["type"] == "pong"
        visitor.disconnect()
    with quiet():
        for arn in ledger.scenario.executions:
            history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
            entered = [e["type"] for e in history if e["type"].endswith("StateEntered")]
            ledger.scenario.transitions += len(entered)
            ledger.scenario.execution_states.update(entered)


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:{name}"


@contextmanager
def offer_workflow() -> Iterator[Dispatcher]:
    """tests/support/workflow.py's set-up, outside pytest: the real ASL in moto, its Lambda
    tasks and the async notifier dispatched in-process, SES, the dead-letter queues."""
    import os

    sqs = boto3.client("sqs", region_name=REGION)
    routing_dlq = sqs.create_queue(QueueName="routing-dlq")["QueueUrl"]
    notify_dlq = sqs.create_queue(QueueName="notify-dlq")["QueueUrl"]
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    definition = (ROOT / "statemachine" / "offer.asl.json").read_text()
    definition = definition.replace("${RouteChatFunctionArn}", function_arn("route_chat"))
    definition = definition.replace("${DeadLetterQueueUrl}", routing_dlq)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(name="offer", definition=definition, type="STANDARD",
                                   roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/offer")["stateMachineArn"]
    os.environ.update({"LIVECHAT_STATE_MACHINE_ARN": arn, "LIVECHAT_NOTIFY_FUNCTION": function_arn("notify_failure"),
                       "LIVECHAT_INBOX_URL": "https://chat.example.com/inbox", "MOTO_ACCOUNT_ID": DEFAULT_ACCOUNT_ID})
    runtime.get_settings.cache_clear()
    dispatcher = Dispatcher(REGION, {"notify_failure": notify_dlq})
    dispatcher.install()
    try:
        yield dispatcher
    finally:
        for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            sfn.stop_execution(executionArn=execution["executionArn"])
        dispatcher.uninstall()
        for key in ("LIVECHAT_STATE_MACHINE_ARN", "LIVECHAT_NOTIFY_FUNCTION", "LIVECHAT_INBOX_URL"):
            os.environ.pop(key, None)
        runtime.get_settings.cache_clear()


def measure(chats: int, unanswered: int, messages: int, accept_timeout: int, typing: bool) -> Ledger:
    indexes = table_indexes()
    with embedded_aws(stepfunctions=True) as gateway:
        raw = boto3.client("dynamodb", region_name=REGION)  # before count_calls: never counted
        ledger = Ledger(indexes, raw)
        with count_calls(ledger), offer_workflow() as dispatcher, metered_handlers(ledger):
            world = World(gateway)
            world.settings(accept_timeout_seconds=accept_timeout, inactivity_timeout_seconds=3600,
                           failure_emails={"from": SENDER, "to": [TEAM]})
            world.live_dialog("sales", {"mode": "round_robin"})
            emails = [f"agent{i}@example.com" for i in range(2)]
            for email in emails:
                world.agent(email)
            agents = [world.agent_client(email) for email in emails]

            def scenario(name: str, run: Callable[[], list[Client]]) -> None:
                ledger.current = name
                start = len(gateway.posts)
                visitors = run()
                finish(ledger, visitors, timeout=accept_timeout + 60)
                ledger.scenario.frames_out.extend(p.size for p in gateway.posts[start:])
                ledger.current = "between"

            def warm_up() -> list[Client]:
                accepted_chat(world, ledger, agents, 0, messages, typing=typing)
                return [unanswered_chat(world, ledger, agents)]

            def accepted() -> list[Client]:
                for n in range(1, chats + 1):
                    accepted_chat(world, ledger, agents, n, messages, typing=typing)
                return []

            def agent_pings() -> list[Client]:
                for _ in range(PINGS_MEASURED):
                    assert agents[0].ask("ping")["type"] == "pong"
                return []

            # Warm-up (not counted): caches, the round-robin cursor, the first clients, the
            # engagement counter, the idempotency table's first record.
            scenario("warm-up", warm_up)
            scenario("accepted", accepted)
            scenario("unanswered", lambda: [unanswered_chat(world, ledger, agents) for _ in range(unanswered)])
            scenario("agent-ping", agent_pings)
            ledger.current = "sweep"  # one idle sweep: the fixed cost of rate(1 minute)
            dispatcher.call("timeout_sweeper", {"source": "aws.events", "detail-type": "Scheduled Event"})
            ledger.current = "done"
            if dispatcher.failures:  # a failed function would leave the figures short
                raise SystemExit(f"cost: a function failed for good: {dispatcher.failures}")
    return ledger


# --- the bill ----------------------------------------------------------------------------------

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
             f"{log_gb * 1e9:.0f} B per chat: INFO JSON lines + metrics + START/END/REPORT"),
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
    pinging every 4.5 minutes (inbox.js); `ping` is one ping's measured figures."""
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
    typing = "typing on/off around each" if s.get("typing", True) else "no typing indicators"
    out = [f"cost per 1,000 chats, us-east-1 on-demand, free tiers ignored (prices looked up {r['prices_checked']})",
           f"measured: {s['accepted_chats']} accepted chats ({s['messages']} messages each, {typing}) "
           f"and {s['unanswered_chats']} unanswered, after a warm-up of one each; all functions "
           f"{s['memory_gb'] * 1024:.0f} MB arm64 (template.yaml)", ""]
    out += render_lines("accepted chat (page load, dialog, requestChat, accept, messages, 2 pings, end)",
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
            f"  - widget and inbox ping every {s['ping_every_min']:g} min; the agents' connections are shared: "
            f"{s['agents']} agents online {s['agent_hours_per_1000_chats']:g} h per 1,000 chats;",
            "  - Lambda duration: the handler's in-process time here (moto in-process instead of network round "
            "trips, this machine's CPU instead of a 512 MB arm64 share); cold starts (INIT) not included;",
            "  - DynamoDB units computed from item sizes (the rules above), not read from a bill; a transaction that "
            "failed its condition is charged as if written, a failed single write as the existing item;",
            "  - index writes are charged as standard writes (1 per KB), also inside a transaction;",
            f"  - the bench's accept timeout is {s['accept_timeout_seconds_in_bench']} s instead of 100 s: the same "
            "states run, only sooner;",
            "  - not counted: data transfer out, X-Ray traces (tracing is active: sampled traces are billed), "
            "CloudWatch custom metrics (EMF), Cognito, Secrets Manager, storage and PITR, the agents' reconnects "
            "every 2 h;",
            "", "Prices (unit, source, how far confirmed offline):"]
    for p in r["prices"].values():
        out.append(f"  ${p['usd']:g} per {p['per']:,.0f} {p['unit']}: {p['source']} [{p['status']}]")
    return "\n".join(out)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--chats", type=int, default=3, help="accepted chats measured (default 3)")
    parser.add_argument("--unanswered", type=int, default=2, help="unanswered chats measured (default 2)")
    parser.add_argument("--messages", type=int, default=20, help="messages per accepted chat, both sides (default 20)")
    parser.add_argument("--accept-timeout", type=int, default=4,
                        help="the bench's accept timeout, seconds (default 4; the product's is 100)")
    parser.add_argument("--no-typing", action="store_true",
                        help="no typing indicators around the messages (the clients send them by default)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    ledger = measure(max(1, args.chats), max(1, args.unanswered), args.messages, args.accept_timeout,
                     typing=not args.no_typing)
    r = report(ledger, max(1, args.chats), max(1, args.unanswered), args.messages, args.accept_timeout)
    r["scenario"]["typing"] = not args.no_typing
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, indent=2))
    else:
        print(render(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
