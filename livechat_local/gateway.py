"""A WebSocket API and HTTP API emulator, faithful to API Gateway where the product
depends on it: the v2 event shape, route selection on `$request.body.action` with
`$default`, a Lambda REQUEST authorizer on `$connect` when the template gives it one (invoked
first; its refusal answered at the handshake with 401/403, its context put on every later
event of the connection as `requestContext.authorizer`: livechat_local.authorizer), a
`$connect` refusal answered at the handshake (401/403/429), the request's
headers (Origin among them) passed as sent and `sourceIp` the peer's real address, the `@connections`
management API (POST/GET/DELETE, 410 Gone for an unknown id), the 10-minute idle timeout
and the 2-hour maximum, the 128 KB message limit (close code 1009 beyond), and the HTTP
API's routes: the template's HttpApi events, each request sent to its function as a
payload v2 event and the function's answer returned, as in the deployment (the hosted
pages too: functions/web serves them in both places)."""

from __future__ import annotations

import asyncio
import base64
import contextlib
import html
import json
import logging
import os
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from aiohttp import ClientSession, ClientTimeout, WSMsgType, web
from multidict import CIMultiDict

from livechat_local import authorizer, events
from livechat_local.lambdas import Dispatcher

log = logging.getLogger("livechat_local.gateway")

MAX_MESSAGE_BYTES = 128 * 1024
# (method, path as the template declares it, e.g. /dialogs/{dialogId}) -> function name.
HttpRoutes = dict[tuple[str, str], str]


@dataclass
class Limits:
    idle_seconds: float = 600.0
    max_seconds: float = 7200.0

# How long a post waits for a connection still inside its $connect.
OPENING_WAIT_SECONDS = 5.0


@dataclass
class Connection:
    connection_id: str
    ws: web.WebSocketResponse
    connected_at: float
    source_ip: str
    last_active: float = field(default_factory=time.monotonic)
    opened: float = field(default_factory=time.monotonic)


class Gateway:
    def __init__(self, dispatcher: Dispatcher, route_keys: set[str], *,
                 limits: Limits | None = None,
                 http_routes: HttpRoutes | None = None,
                 mailbox: Callable[[], list[dict[str, Any]]] | None = None,
                 connect_authorizer: str | None = None) -> None:
        self.dispatcher = dispatcher
        self.connect_authorizer = connect_authorizer  # the function, as the dispatcher names it
        self.route_keys = route_keys
        self.http_routes = http_routes or {}
        self.limits = limits or Limits()
        self.mailbox = mailbox or (lambda: [])
        self.connections: dict[str, Connection] = {}
        self.opening: dict[str, asyncio.Event] = {}  # connections inside their $connect
        self.pool = ThreadPoolExecutor(max_workers=int(os.environ.get("LIVECHAT_LOCAL_WORKERS", "32")),
                                       thread_name_prefix="lambda")
        self.app = web.Application(client_max_size=1024 * 1024)
        self.app.add_routes([
            web.get("/ws", self.websocket),
            web.post("/@connections/{connection_id}", self.post_to_connection),
            web.get("/@connections/{connection_id}", self.get_connection),
            web.delete("/@connections/{connection_id}", self.delete_connection),
            web.post("/dev/cognito", self.cognito_proxy),
            web.get("/dev/mailbox", self.mailbox_page),
            web.get("/dev/mailbox.json", self.mailbox_json),
            web.get("/healthz", self.health),
        ])
        # The template's paths use aiohttp's own {name} syntax for path parameters.
        # OPTIONS too only where the template routes it (POST /visitor/session's preflight):
        # the HttpApi has no CorsConfiguration, so API Gateway answers no preflight itself.
        for (method, path), function in self.http_routes.items():
            self.app.router.add_route(method, path, self._http_handler(function, path))
        self.app.on_startup.append(self._start_reaper)
        self.app.on_shutdown.append(self._close_all)

    async def _run(self, function: str, event: dict[str, Any]) -> Any:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.dispatcher.call, function, event)

    # --- WebSocket API ----------------------------------------------------------------
    def select_route(self, body: str) -> str:
        try:
            data = json.loads(body)
        except ValueError:
            return "$default"
        action = data.get("action") if isinstance(data, dict) else None
        return action if isinstance(action, str) and action in self.route_keys else "$default"

    async def websocket(self, request: web.Request) -> web.StreamResponse:
        # API Gateway ids are 12 random bytes, base64: they often end in '='.
        connection_id = base64.b64encode(secrets.token_bytes(12)).decode()
        source_ip = request.remote or "127.0.0.1"
        connected_ms = int(time.time() * 1000)
        ctx: dict[str, Any] = {"domain": request.host, "stage": "local", "connected_at_ms": connected_ms,
               "source_ip": source_ip}
        # $connect registers the connection before the handshake completes: a frame posted
        # to it meanwhile (another tab's broadcast) waits for the handshake here instead of
        # answering 410, which would make the sender forget the connection being opened.
        opened = self.opening[connection_id] = asyncio.Event()
        try:
            if self.connect_authorizer is not None:
                decision = await self._authorize(self.connect_authorizer, events.ws_authorizer(
                    connection_id, dict(request.query), headers=dict(request.headers), **ctx))
                if decision.status != 200:
                    return web.Response(status=decision.status, text=authorizer.BODIES[decision.status],
                                        content_type="application/json")
                ctx["authorizer"] = decision.context
            response = await self._run("ws_connect", events.ws_connect(
                connection_id, dict(request.query), headers=dict(request.headers), **ctx))
            status = int(response.get("statusCode", 500)) if isinstance(response, dict) else 500
            if status != 200:
                return web.Response(status=status, text=str(response.get("body") or "Forbidden"))
            ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True)
            await ws.prepare(request)
            conn = Connection(connection_id, ws, time.time(), source_ip)
            self.connections[connection_id] = conn
        finally:
            del self.opening[connection_id]
            opened.set()
        pending: set[asyncio.Task[Any]] = set()
        close_code = 1000
        try:
            async for msg in ws:
                conn.last_active = time.monotonic()
                if msg.type in (WSMsgType.TEXT, WSMsgType.BINARY):
                    body = msg.data if msg.type == WSMsgType.TEXT else msg.data.decode(
                        "utf-8", errors="replace")
                    event = events.ws_message(connection_id, body, self.select_route(body), **ctx)
                    # API Gateway may run two frames of one connection at once.
                    task = asyncio.create_task(self._run("ws_message", event))
                    pending.add(task)
                    task.add_done_callback(pending.discard)
                elif msg.type == WSMsgType.ERROR:
                    close_code = 1009 if ws.close_code == 1009 else 1011
                    break
        finally:
            self.connections.pop(connection_id, None)
            if pending:
                await asyncio.gather(*pending, return_exceptions=True)
            await self._run("ws_connect", events.ws_disconnect(
                connection_id, status=ws.close_code or close_code, **ctx))
        return ws

    async def _authorize(self, function: str, event: dict[str, Any]) -> authorizer.Decision:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(
            self.pool, authorizer.decide, lambda e: self.dispatcher.call(function, e), event)

    async def post_to_connection(self, request: web.Request) -> web.Response:
        opening = self.opening.get(request.match_info["connection_id"])
        if opening is not None:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(opening.wait(), OPENING_WAIT_SECONDS)
        conn = self.connections.get(request.match_info["connection_id"])
        if conn is None or conn.ws.closed:
            return self._gone()
        data = await request.read()
        conn.last_active = time.monotonic()  # outbound messages count as activity
        await conn.ws.send_str(data.decode("utf-8"))
        return web.Response(status=200)

    async def get_connection(self, request: web.Request) -> web.Response:
        conn = self.connections.get(request.match_info["connection_id"])
        if conn is None:
            return self._gone()
        return web.json_response({
            "connectedAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(conn.connected_at)),
            "lastActiveAt": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
            "identity": {"sourceIp": conn.source_ip, "userAgent": "livechat-local"},
        })

    async def delete_connection(self, request: web.Request) -> web.Response:
        conn = self.connections.get(request.match_info["connection_id"])
        if conn is None:
            return self._gone()
        await conn.ws.close(code=1000, message=b"closed by the server")
        return web.Response(status=204)

    @staticmethod
    def _gone() -> web.Response:
        return web.json_response({"message": "Gone"}, status=410,
                                 headers={"x-amzn-ErrorType": "GoneException"})

    async def _start_reaper(self, app: web.Application) -> None:
        app["reaper"] = asyncio.create_task(self._reap())

    async def _reap(self) -> None:
        while True:
            await asyncio.sleep(min(5.0, self.limits.idle_seconds / 4))
            now = time.monotonic()
            for conn in list(self.connections.values()):
                idle = now - conn.last_active > self.limits.idle_seconds
                too_old = now - conn.opened > self.limits.max_seconds
                if idle or too_old:
                    log.info("closing %s connection %s", "idle" if idle else "expired",
                             conn.connection_id)
                    await conn.ws.close(code=1001, message=b"Going away")

    async def _close_all(self, app: web.Application) -> None:
        app["reaper"].cancel()
        for conn in list(self.connections.values()):
            await conn.ws.close(code=1001, message=b"Server shutting down")

    # --- HTTP API ---------------------------------------------------------------------
    # CORS: the template's HttpApi has no CorsConfiguration (the functions answer CORS by
    # the workspace's allowed_origins, livechat.api.cors), so API Gateway adds no CORS
    # header and answers no preflight of its own; neither does this emulator. The request's
    # headers (Origin among them) reach the function as sent, and `sourceIp` is the peer's
    # real address (a test client bound to 127.0.0.2 is another address).

    def _http_handler(self, function: str, route: str) -> Handler:
        async def handle(request: web.Request) -> web.Response:
            return await self.http_route(request, function, route)
        return handle

    async def http_route(self, request: web.Request, function: str, route: str) -> web.Response:
        """One HTTP API request: the payload v2 event to the route's function, and its
        answer (statusCode, headers, cookies, body, isBase64Encoded) back."""
        body = await request.text() if request.can_read_body else ""
        headers = dict(request.headers)
        # API Gateway tells the function how the client reached it.
        headers.update({"X-Forwarded-Proto": request.scheme,
                        "X-Forwarded-For": request.remote or "127.0.0.1"})
        event = events.http_v2(
            request.method, request.rel_url.raw_path, body, headers=headers,
            source_ip=request.remote or "127.0.0.1", query=request.rel_url.raw_query_string,
            domain=request.host, route=route, path_parameters=dict(request.match_info))
        try:
            result = await self._run(function, event)
        except Exception:  # a failed invocation: API Gateway answers 500
            log.exception("%s failed on %s %s", function, request.method, request.path)
            result = None
        if not isinstance(result, dict) or "statusCode" not in result:
            return web.json_response({"message": "Internal Server Error"}, status=500)
        answer: CIMultiDict[str] = CIMultiDict((k, str(v)) for k, v in (result.get("headers") or {}).items())
        for cookie in result.get("cookies") or []:
            answer.add("Set-Cookie", cookie)
        raw = result.get("body") or ""
        data = base64.b64decode(raw) if result.get("isBase64Encoded") else str(raw).encode("utf-8")
        return web.Response(status=int(result["statusCode"]), body=data, headers=answer)

    async def cognito_proxy(self, request: web.Request) -> web.Response:
        """Dev only: the inbox page's Cognito calls, forwarded to the embedded AWS (moto
        answers without CORS headers, on another port)."""
        headers = {k: v for k, v in request.headers.items() if k.lower() in ("x-amz-target", "content-type")}
        body = await request.read()
        async with ClientSession(timeout=ClientTimeout(total=30)) as session, session.post(
                os.environ["AWS_ENDPOINT_URL"].rstrip("/") + "/", data=body, headers=headers) as upstream:
            answer = await upstream.read()
            content_type = upstream.headers.get("Content-Type", "application/x-amz-json-1.1")
            return web.Response(status=upstream.status, body=answer, headers={"Content-Type": content_type})

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"ok": True, "connections": len(self.connections)})

    # --- dev-only mailbox ---------------------------------------------------------------
    async def _mails(self) -> list[dict[str, Any]]:
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self.pool, self.mailbox)

    async def mailbox_json(self, request: web.Request) -> web.Response:
        return web.json_response(await self._mails())

    async def mailbox_page(self, request: web.Request) -> web.Response:
        mails = await self._mails()
        rows = "".join(
            "<article><h2>{}</h2><p>To: {} — from {}</p><div class=body>{}</div></article>".format(
                html.escape(str(m.get("subject", ""))),
                html.escape(", ".join(m.get("destinations", {}).get("ToAddresses", []))),
                html.escape(str(m.get("source", ""))),
                # The body is the mail's HTML as SES would send it; sandbox it in an iframe.
                f'<iframe sandbox srcdoc="{html.escape(str(m.get("body", "")))}"></iframe>',
            )
            for m in reversed(mails)
        ) or "<p>No e-mails yet.</p>"
        page = ("<!doctype html><meta charset=utf-8><title>livechat — mailbox (dev)</title>"
                "<style>body{font:14px system-ui;margin:2em}article{border-bottom:1px solid #ccc}"
                "iframe{width:100%;height:20em;border:1px solid #eee}</style>"
                f"<h1>Captured e-mails ({len(mails)})</h1>{rows}")
        return web.Response(text=page, content_type="text/html")


Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
