"""API Gateway's side of a Lambda REQUEST authorizer on a WebSocket API's `$connect`, for
the gateway emulator and the tests' world alike.

What API Gateway does with the authorizer's answer (its WebSocket and Lambda authorizer
docs): the error "Unauthorized" refuses the handshake with 401; any other failure, or an
answer without a principal and a policy, with 500; a policy that denies, or does not allow,
`execute-api:Invoke` on the request's `methodArn` with 403. Allowed, the answer's `context`
(scalars only: an object or array in it is a 500) appears as `requestContext.authorizer`
on `$connect` and on every later event of the connection, next to `principalId` and
`integrationLatency` (milliseconds). Context values reach the integration as strings, as
`$context.authorizer.<key>` shows them; the product's authorizer returns only strings.
"""

from __future__ import annotations

import fnmatch
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

log = logging.getLogger("livechat_local.authorizer")

UNAUTHORIZED = "Unauthorized"
# What API Gateway answers a refused handshake with.
BODIES = {401: '{"message":"Unauthorized"}', 403: '{"message":"Forbidden"}',
          500: '{"message":"Internal server error"}'}


@dataclass(frozen=True)
class Decision:
    status: int  # 200: allowed; else the handshake's HTTP status
    context: dict[str, Any] | None = None  # requestContext.authorizer of every later event


def decide(invoke: Callable[[dict[str, Any]], Any], event: dict[str, Any]) -> Decision:
    """Invoke the authorizer with its REQUEST event and read its answer."""
    started = time.monotonic()
    try:
        answer = invoke(event)
    except Exception as exc:
        if str(exc) == UNAUTHORIZED:
            return Decision(401)
        log.warning("authorizer failed: %s: %s", type(exc).__name__, exc)
        return Decision(500)
    return decision_of(answer, event["methodArn"], latency_ms=int((time.monotonic() - started) * 1000))


def decision_of(answer: Any, method_arn: str, *, latency_ms: int = 0) -> Decision:
    if not isinstance(answer, dict) or not isinstance(answer.get("principalId"), str):
        log.warning("authorizer answered without a principalId: %r", answer)
        return Decision(500)
    statements = (answer.get("policyDocument") or {}).get("Statement")
    if statements is None:
        log.warning("authorizer answered without a policy: %r", answer)
        return Decision(500)
    effects = {s.get("Effect") for s in _as_list(statements) if _covers(s, method_arn)}
    if "Deny" in effects or "Allow" not in effects:
        return Decision(403)
    context = answer.get("context") or {}
    if not isinstance(context, dict) or not all(
            isinstance(v, (str, int, float, bool)) for v in context.values()):
        log.warning("authorizer context holds more than strings, numbers and booleans: %r", context)
        return Decision(500)
    return Decision(200, {**{k: _as_string(v) for k, v in context.items()},
                          "principalId": answer["principalId"], "integrationLatency": latency_ms})


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def _covers(statement: Any, method_arn: str) -> bool:
    if not isinstance(statement, dict):
        return False
    actions = _as_list(statement.get("Action", []))
    resources = _as_list(statement.get("Resource", []))
    return (any(fnmatch.fnmatchcase("execute-api:Invoke", str(a)) for a in actions)
            and any(fnmatch.fnmatchcase(method_arn, str(r)) for r in resources))


def _as_string(value: str | float | bool) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
