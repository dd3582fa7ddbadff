"""Fault injection at the botocore level, for every client the code builds (boto3's and
PynamoDB's own alike): throttling and 5xx before a request reaches moto, a response lost
after the request was applied, and a failed condition at one chosen write site.

Each client's `before-send` goes through one handler that stands in front of moto's own
stubber: botocore calls every `before-send` handler (and keeps the first answer), so
moto is taken off the client and called by us only when the request should reach it.
An injected answer is what botocore sees: its retry logic, PynamoDB's error mapping and
our code run exactly as they would against AWS. A rule matches per API call (the
`amz-sdk-invocation-id` header) and counts that call's attempts (`amz-sdk-request`), so
"the first N attempts fail" means botocore's retries of one call, not later calls.
"""

from __future__ import annotations

import json
import re
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import botocore.retries.standard
import botocore.session
import pytest
from botocore.awsrequest import AWSPreparedRequest, AWSResponse
from livechat import runtime
from moto.core.models import botocore_stubber

LAYER = Path(__file__).parents[2] / "layers" / "common" / "livechat"
DYNAMO_PREFIX = "com.amazonaws.dynamodb.v20120810#"
WRITES = frozenset({"PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"})

# before: the request never reaches the table (throttled, or a 5xx in front of it).
# after: the request is applied, then its response is lost (a 5xx on the way back).
# condition: the request is refused as if its condition had failed (nothing applied).
Mode = Literal["before", "after", "condition"]


@dataclass(frozen=True)
class Call:
    service: str  # as botocore names it in events: dynamodb, sfn, sesv2, ...
    operation: str
    attempt: int
    body: dict[str, Any]
    site: str  # the innermost livechat function making the call (module.function)


@dataclass
class Rule:
    service: str
    operations: frozenset[str] | None
    mode: Mode
    error: str = "InternalServerError"
    status: int = 500
    attempts: int = 1  # how many attempts of each matching call fail
    calls: int | None = None  # how many calls are affected (None: all of them)
    site: str | None = None  # only calls made from this livechat function
    item: str | None = None  # condition mode, transactions: the item whose condition fails
    nth: frozenset[int] | None = None  # only these matching calls (0: the first one seen)
    hit: list[Call] = field(default_factory=list)  # the attempts that were failed
    _affected: set[str] = field(default_factory=set)
    _seen: int = 0

    def matches(self, call: Call, invocation: str) -> bool:
        if call.service != self.service:
            return False
        if self.operations is not None and call.operation not in self.operations:
            return False
        if self.site is not None and call.site != self.site:
            return False
        if invocation not in self._affected:
            if call.attempt != 1:
                return False
            index, self._seen = self._seen, self._seen + 1
            if self.nth is not None and index not in self.nth:
                return False
            if self.calls is not None and len(self._affected) >= self.calls:
                return False
            if self.item is not None and call.operation == "TransactWriteItems" and (
                self.item not in item_kinds(call.body)
            ):
                return False
            self._affected.add(invocation)
        return call.attempt <= self.attempts


class _Raw:
    """What AWSResponse reads its body from."""

    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any) -> Iterator[bytes]:
        yield self._body


def _response(request: AWSPreparedRequest, status: int, body: dict[str, Any]) -> AWSResponse:
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected-fault"}
    return AWSResponse(request.url, status, headers, _Raw(json.dumps(body).encode()))  # type: ignore[arg-type]


def item_kind(key: dict[str, Any]) -> str:
    """conversation, clock, event, message (an event under its clientMessageId), agent, counter,
    ... for a transaction item's key."""
    pk, sk = str(key.get("pk", {}).get("S", "")), str(key.get("sk", {}).get("S", ""))
    if pk.startswith("CONV#"):
        if sk == "META#CLOCK":
            return "clock"
        return {"EVT": "event", "CMID": "message"}.get(sk.split("#", 1)[0], "conversation")
    if pk == "AGENT" and sk.startswith("#RR#"):  # a round-robin cursor, in the agents' partition
        return "rr-cursor"
    return pk.split("#", 1)[0].lower()


def item_kinds(body: dict[str, Any]) -> list[str]:
    kinds = []
    for entry in body.get("TransactItems", []):
        (op,) = entry.values()
        kinds.append(item_kind(op.get("Key") or op.get("Item") or {}))
    return kinds


def current_site() -> str:
    """The innermost function of the livechat package on the stack, skipping store/transaction.py
    (the transaction helper every conversation change goes through), tables.committed (the
    one every other conditional write goes through) and the lambdas handed to it."""
    frame = sys._getframe(1)
    layer = str(LAYER)
    while frame is not None:
        path, name = frame.f_code.co_filename, frame.f_code.co_name
        helper = name == "<lambda>" or (path.endswith("tables.py") and name == "committed")
        if path.startswith(layer) and not path.endswith("transaction.py") and not helper:
            return f"{Path(path).stem}.{name}"
        frame = frame.f_back  # type: ignore[assignment]
    return ""


class Faults:
    """The rules in force and the handler that applies them."""

    def __init__(self) -> None:
        self.rules: list[Rule] = []
        self.lock = threading.Lock()

    def inject(self, service: str, operations: set[str] | frozenset[str] | None, mode: Mode,
               **options: Any) -> Rule:
        rule = Rule(service, frozenset(operations) if operations is not None else None, mode,
                    **options)
        with self.lock:
            self.rules.append(rule)
        return rule

    def throttle_dynamodb(self, error: str = "ThrottlingException", *, attempts: int = 2,
                          operations: set[str] | frozenset[str] | None = None) -> Rule:
        """Every DynamoDB call is refused `attempts` times before it reaches the table."""
        return self.inject("dynamodb", operations, "before", error=error, status=400,
                           attempts=attempts)

    def lose_dynamodb_responses(self, operations: set[str] | frozenset[str] = WRITES) -> Rule:
        """Every write is applied, then answered 500: botocore sends the same request again."""
        return self.inject("dynamodb", operations, "after", attempts=1)

    def fail_condition(self, site: str, operation: str, *, item: str | None = None) -> Rule:
        """The first `operation` made from `site` is refused as ConditionalCheckFailed (for a
        transaction: on `item`, the others untouched)."""
        return self.inject("dynamodb", {operation}, "condition", site=site, item=item,
                           calls=1, attempts=1)

    def clear(self) -> None:
        with self.lock:
            self.rules.clear()

    def __call__(self, request: AWSPreparedRequest, event_name: str, **kwargs: Any
                 ) -> AWSResponse | None:
        _, service, operation = event_name.split(".", 2)
        headers = request.headers
        attempt_header = headers.get("amz-sdk-request", b"attempt=1")
        attempt_text = attempt_header.decode() if isinstance(attempt_header, bytes) else attempt_header
        match = re.search(r"attempt=(\d+)", attempt_text)
        attempt = int(match.group(1)) if match else 1
        invocation = headers.get("amz-sdk-invocation-id", b"")
        invocation_id = invocation.decode() if isinstance(invocation, bytes) else str(invocation)
        rule = self._rule_for(request, service, operation, attempt, invocation_id)
        # moto is called outside the lock: a Lambda invoke runs our handlers in this same
        # thread, and their own calls come back through here.
        if rule is None:
            return _to_moto(request, event_name)
        call = rule.hit[-1]
        if rule.mode == "after":
            _to_moto(request, event_name)  # applied for real; then its answer is lost
        if rule.mode == "condition":
            return _condition_failed(request, call, rule.item)
        prefix = DYNAMO_PREFIX if service == "dynamodb" else ""
        return _response(request, rule.status, {"__type": prefix + rule.error,
                                                "message": "injected by the test"})


    def _rule_for(self, request: AWSPreparedRequest, service: str, operation: str,
                  attempt: int, invocation_id: str) -> Rule | None:
        with self.lock:
            candidates = [r for r in self.rules
                          if r.service == service
                          and (r.operations is None or operation in r.operations)]
            if not candidates:
                return None
            raw = request.body
            text = bytes(raw).decode() if isinstance(raw, (bytes, bytearray)) else raw
            body = json.loads(text) if isinstance(text, str) and text.startswith("{") else {}
            call = Call(service, operation, attempt, body,
                        current_site() if any(r.site for r in candidates) else "")
            rule = next((r for r in candidates if r.matches(call, invocation_id)), None)
            if rule is not None:
                rule.hit.append(call)
            return rule


def _to_moto(request: AWSPreparedRequest, event_name: str) -> AWSResponse | None:
    response: AWSResponse | None = botocore_stubber(event_name=event_name, request=request)
    return response


def _condition_failed(request: AWSPreparedRequest, call: Call, item: str | None) -> AWSResponse:
    if call.operation != "TransactWriteItems":
        return _response(request, 400, {"__type": DYNAMO_PREFIX + "ConditionalCheckFailedException",
                                        "message": "The conditional request failed"})
    kinds = item_kinds(call.body)
    target = kinds.index(item) if item in kinds else 0
    reasons = [{"Code": "ConditionalCheckFailed", "Message": "The conditional request failed"}
               if i == target else {"Code": "None"} for i in range(len(kinds))]
    codes = ", ".join(r["Code"] for r in reasons)
    return _response(request, 400, {
        "__type": DYNAMO_PREFIX + "TransactionCanceledException",
        "Message": f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
        "CancellationReasons": reasons,
    })


def install(monkeypatch: pytest.MonkeyPatch) -> Faults:
    """Give every botocore client built from now on the fault handler, and drop the
    clients already built (ours, PynamoDB's) so they are built again with it."""
    faults = Faults()
    create_client = botocore.session.Session.create_client
    loader = botocore.session.get_session().get_component("data_loader")

    def create_client_with_faults(self: botocore.session.Session, *args: Any, **kwargs: Any) -> Any:
        # PynamoDB builds a session per model, each parsing botocore's JSON models again
        # (tens of milliseconds per file): one loader, and its cache, for all of them.
        self.register_component("data_loader", loader)
        client = create_client(self, *args, **kwargs)
        client.meta.events.unregister("before-send", botocore_stubber)  # type: ignore[arg-type]
        client.meta.events.register_first("before-send", faults)  # type: ignore[arg-type]
        return client

    monkeypatch.setattr(botocore.session.Session, "create_client", create_client_with_faults)
    # botocore's standard retry mode backs off up to seconds per attempt: the tests check
    # what the retries do, not how long they wait.
    monkeypatch.setattr(botocore.retries.standard.ExponentialBackoff, "delay_amount",
                        lambda self, context: 0)
    runtime.reset()
    return faults

