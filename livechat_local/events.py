"""API Gateway event shapes, as the real service sends them to Lambda (WebSocket API and
HTTP API payload v2), for the gateway emulator and the tests."""

from __future__ import annotations

import itertools
import time
import uuid
from typing import Any

_counter = itertools.count(1)


def _ws_context(connection_id: str, route_key: str, event_type: str, *, domain: str,
                stage: str, connected_at_ms: int, source_ip: str) -> dict[str, Any]:
    now_ms = int(time.time() * 1000)
    return {
        "routeKey": route_key,
        "eventType": event_type,
        "messageDirection": "IN",
        "messageId": f"m{next(_counter)}",
        "extendedRequestId": uuid.uuid4().hex,
        "requestTime": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
        "stage": stage,
        "connectedAt": connected_at_ms,
        "requestTimeEpoch": now_ms,
        "identity": {"sourceIp": source_ip, "userAgent": "livechat-local"},
        "requestId": uuid.uuid4().hex,
        "domainName": domain,
        "connectionId": connection_id,
        "apiId": domain.split(".", maxsplit=1)[0],
    }


def ws_authorizer(connection_id: str, query: dict[str, str], *, domain: str = "local",
                  stage: str = "local", connected_at_ms: int | None = None,
                  source_ip: str = "127.0.0.1", headers: dict[str, str] | None = None
                  ) -> dict[str, Any]:
    """The input of a Lambda REQUEST authorizer on `$connect` (API Gateway's WebSocket
    authorizer docs): the handshake's headers and query string, and a `methodArn` that ends
    with the stage and `$connect`."""
    hdrs = headers or {"Host": domain}
    ctx = _ws_context(connection_id, "$connect", "CONNECT", domain=domain, stage=stage,
                      source_ip=source_ip, connected_at_ms=connected_at_ms or int(time.time() * 1000))
    return {
        "type": "REQUEST",
        "methodArn": f"arn:aws:execute-api:us-east-1:123456789012:{ctx['apiId']}/{stage}/$connect",
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": query or {},
        "multiValueQueryStringParameters": {k: [v] for k, v in query.items()},
        "stageVariables": {},
        "requestContext": ctx,
    }


def ws_connect(connection_id: str, query: dict[str, str], *, domain: str = "local",
               stage: str = "local", connected_at_ms: int | None = None,
               source_ip: str = "127.0.0.1", headers: dict[str, str] | None = None,
               authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    """`authorizer`: what an authorizer on `$connect` allowed the connection with (see
    authorizer_context), as API Gateway adds it to this and every later event."""
    hdrs = headers or {"Host": domain}
    ctx = _ws_context(connection_id, "$connect", "CONNECT", domain=domain, stage=stage,
                      source_ip=source_ip, connected_at_ms=connected_at_ms or int(time.time() * 1000))
    if authorizer is not None:
        ctx["authorizer"] = dict(authorizer)
    return {
        "headers": hdrs,
        "multiValueHeaders": {k: [v] for k, v in hdrs.items()},
        "queryStringParameters": query or None,
        "requestContext": ctx,
        "isBase64Encoded": False,
    }


def ws_message(connection_id: str, body: str, route_key: str = "$default", *,
               domain: str = "local", stage: str = "local", connected_at_ms: int | None = None,
               source_ip: str = "127.0.0.1", authorizer: dict[str, Any] | None = None
               ) -> dict[str, Any]:
    ctx = _ws_context(connection_id, route_key, "MESSAGE", domain=domain, stage=stage,
                      source_ip=source_ip, connected_at_ms=connected_at_ms or int(time.time() * 1000))
    if authorizer is not None:
        ctx["authorizer"] = dict(authorizer)
    return {"requestContext": ctx, "body": body, "isBase64Encoded": False}


def ws_disconnect(connection_id: str, *, status: int = 1001, reason: str = "Going away",
                  domain: str = "local", stage: str = "local",
                  connected_at_ms: int | None = None, source_ip: str = "127.0.0.1",
                  authorizer: dict[str, Any] | None = None) -> dict[str, Any]:
    ctx = _ws_context(connection_id, "$disconnect", "DISCONNECT", domain=domain, stage=stage,
                      source_ip=source_ip,
                      connected_at_ms=connected_at_ms or int(time.time() * 1000))
    ctx.update({"disconnectStatusCode": status, "disconnectReason": reason})
    if authorizer is not None:
        ctx["authorizer"] = dict(authorizer)
    return {"headers": {}, "multiValueHeaders": {}, "requestContext": ctx,
            "isBase64Encoded": False}


def http_v2(method: str, path: str, body: str, *, headers: dict[str, str] | None = None,
            source_ip: str = "127.0.0.1", query: str = "", domain: str = "local",
            stage: str = "$default", route: str | None = None,
            path_parameters: dict[str, str] | None = None) -> dict[str, Any]:
    """`route` is the route's path as declared (`/dialogs/{dialogId}`); default `path`."""
    route_key = f"{method} {route or path}"
    event: dict[str, Any] = {
        "version": "2.0",
        "routeKey": route_key,
        "rawPath": path,
        "rawQueryString": query,
        "headers": {k.lower(): v for k, v in (headers or {}).items()},
        "requestContext": {
            "accountId": "123456789012", "apiId": "local", "domainName": domain,
            "domainPrefix": domain.split(".", maxsplit=1)[0], "requestId": uuid.uuid4().hex,
            "routeKey": route_key, "stage": stage,
            "time": time.strftime("%d/%b/%Y:%H:%M:%S +0000", time.gmtime()),
            "timeEpoch": int(time.time() * 1000),
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": source_ip, "userAgent": "livechat-local"},
        },
        "body": body,
        "isBase64Encoded": False,
    }
    if path_parameters:
        event["pathParameters"] = path_parameters
    return event
