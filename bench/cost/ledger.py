"""What each Lambda function used, per scenario: every AWS call (a tests.support.metering
listener) with the DynamoDB request units it cost, every invocation (each handler wrapped) with
its in-process time, what the functions log, and the Step Functions transitions."""

from __future__ import annotations

import io
import logging
import threading
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager, redirect_stdout
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from unittest.mock import patch

from bench.cost.units import Index, index_writes, item_size, read_units, write_units
from livechat_local.lambdas import FUNCTIONS
from tests.support import metering
from tests.support.aws import TABLE
from tests.support.metering import quiet
from tests.support.template import load_template

# Lambda's own lines per invocation (text log format, X-Ray active): the shape of the real ones.
PLATFORM_LINES = (
    "START RequestId: 3f0e8a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b Version: $LATEST\n"
    "END RequestId: 3f0e8a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b\n"
    "REPORT RequestId: 3f0e8a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b\tDuration: 12.34 ms\tBilled Duration: 13 ms\t"
    "Memory Size: 512 MB\tMax Memory Used: 98 MB\t\n"
    "XRAY TraceId: 1-6740a1b2-0c1d2e3f4a5b6c7d8e9f0a1b\tSegmentId: 1a2b3c4d5e6f7a8b\tSampled: true\t\n"
)
# The same records in the JSON log format (Lambda's telemetry shapes), each with its system log
# level as Lambda's "system log level event mapping" gives it: platform.start INFO;
# platform.runtimeDone DEBUG when it succeeded, WARN when not; platform.report INFO when the
# invocation succeeded, WARN when it failed or timed out.
_TRACING = ('"tracing":{"spanId":"1a2b3c4d5e6f7a8b","type":"X-Amzn-Trace-Id",'
            '"value":"Root=1-6740a1b2-0c1d2e3f4a5b6c7d8e9f0a1b;Parent=0a1b2c3d4e5f6a7b;Sampled=1"}')
JSON_RECORDS = {
    "start": ('{"time":"2026-12-06T04:42:00.000Z","type":"platform.start","record":{"requestId":'
              '"3f0e8a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b","version":"$LATEST",' + _TRACING + "}}\n"),
    "runtimeDone": ('{"time":"2026-12-06T04:42:00.013Z","type":"platform.runtimeDone","record":{"requestId":'
                    '"3f0e8a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b","status":"error","errorType":"Runtime.Unknown",'
                    + _TRACING + ',"metrics":{"durationMs":12.34,"producedBytes":0}}}\n'),
    "report": ('{"time":"2026-12-06T04:42:00.014Z","type":"platform.report","record":{"requestId":'
               '"3f0e8a4c-1b2d-4e5f-8a9b-0c1d2e3f4a5b","status":"error","errorType":"Runtime.Unknown",'
               '"metrics":{"durationMs":12.34,"billedDurationMs":13,"memorySizeMB":512,"maxMemoryUsedMB":98},'
               + _TRACING + "}}\n"),
}
_LEVELS = ("DEBUG", "INFO", "WARN")


def platform_bytes(config: dict[str, Any], failed: bool) -> int:
    """What Lambda itself logs for one invocation under a function's LoggingConfig."""
    if config.get("LogFormat", "Text").lower() != "json":
        return len(PLATFORM_LINES)
    floor = _LEVELS.index(str(config.get("SystemLogLevel", "INFO")).upper())
    levels = {"start": "INFO", "runtimeDone": "WARN" if failed else "DEBUG", "report": "WARN" if failed else "INFO"}
    return sum(len(JSON_RECORDS[name]) for name, level in levels.items() if _LEVELS.index(level) >= floor)


def logging_configs() -> dict[str, dict[str, Any]]:
    """Each function's LoggingConfig as template.yaml deploys it (Globals', then its own), by
    the name the dispatcher knows it by (the folder of its CodeUri)."""
    template = load_template()
    shared = template.get("Globals", {}).get("Function", {}).get("LoggingConfig", {})
    return {Path(r["Properties"]["CodeUri"]).name: {**shared, **r["Properties"].get("LoggingConfig", {})}
            for r in template["Resources"].values() if r["Type"] == "AWS::Serverless::Function"}


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
        self.logging = logging_configs()

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
            failed = True
            try:
                result = handler(event, context)
                failed = False
                return result
            finally:
                elapsed = time.perf_counter() - started
                _, nested = stack.pop()
                with self.lock:
                    usage = self.scenario.usage[name]
                    usage.invocations += 1
                    usage.ms.append((elapsed - nested) * 1000)
                    usage.log_bytes += platform_bytes(self.logging.get(name, {}), failed)
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
        if op == "BatchGetItem":
            # Each key as its own GetItem: an item rounded up on its own, a key with no item
            # (a conversation's clock before the accept) at the minimum, as a GetItem of it.
            units = 0.0
            for table, request in params["RequestItems"].items():
                per = 1.0 if request.get("ConsistentRead") else 0.5
                found = parsed.get("Responses", {}).get(table, [])
                units += sum(per * read_units(item_size(i)) for i in found)
                units += per * read_units(0) * (len(request["Keys"]) - len(found))
            return units
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

    # Step Functions bills each state entered
    def count_transitions(self, sfn: Any) -> None:
        """The scenario's executions, ended: each state entered is a billed transition."""
        with quiet():
            for arn in self.scenario.executions:
                history = sfn.get_execution_history(executionArn=arn, maxResults=1000)["events"]
                entered = [e["type"] for e in history if e["type"].endswith("StateEntered")]
                self.scenario.transitions += len(entered)
                self.scenario.execution_states.update(entered)


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

