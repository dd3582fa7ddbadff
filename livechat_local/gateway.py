"""A WebSocket API and HTTP API emulator, faithful to API Gateway where the product
depends on it: the v2 event shape, route selection on `$request.body.action` with
`$default`, a `$connect` refusal answered at the handshake (401/403), the `@connections`
management API (POST/GET/DELETE, 410 Gone for an unknown id), the 10-minute idle timeout
and the 2-hour maximum, and the 128 KB message limit (close code 1009 beyond)."""

from __future__ import annotations

import asyncio
import base64
import html
import json
import logging
import os
import re
import secrets
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, ClassVar

from aiohttp import ClientSession, ClientTimeout, WSMsgType, web

from livechat_local import events
from livechat_local.lambdas import Dispatcher

log = logging.getLogger("livechat_local.gateway")

MAX_MESSAGE_BYTES = 128 * 1024
_DIALOG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
WEB_ROOT = Path(__file__).resolve().parents[1] / "web"


@dataclass
class Limits:
    idle_seconds: float = 600.0
    max_seconds: float = 7200.0


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
                 mailbox: Callable[[], list[dict[str, Any]]] | None = None,
                 client_config: dict[str, Any] | None = None) -> None:
        self.dispatcher = dispatcher
        # What the hosted pages (web/) read from /config.json: endpoints and Cognito ids.
        self.client_config = client_config or {}
        self.route_keys = route_keys
        self.limits = limits or Limits()
        self.mailbox = mailbox or (lambda: [])
        self.connections: dict[str, Connection] = {}
        self.pool = ThreadPoolExecutor(max_workers=int(os.environ.get("LIVECHAT_LOCAL_WORKERS", "32")),
                                       thread_name_prefix="lambda")
        self.app = web.Application(client_max_size=1024 * 1024)
        self.app.add_routes([
            web.get("/ws", self.websocket),
            web.post("/@connections/{connection_id}", self.post_to_connection),
            web.get("/@connections/{connection_id}", self.get_connection),
            web.delete("/@connections/{connection_id}", self.delete_connection),
            web.post("/visitor/session", self.visitor_session),
            web.options("/visitor/session", self.preflight),
            web.get("/dialogs/{dialog_id}", self.dialog),
            web.get("/config.json", self.config_json),
            web.post("/dev/cognito", self.cognito_proxy),
            web.get("/dev/mailbox", self.mailbox_page),
            web.get("/dev/mailbox.json", self.mailbox_json),
            web.get("/healthz", self.health),
        ])
        if WEB_ROOT.is_dir():
            self.app.router.add_get("/", self.index)
            self.app.router.add_static("/", WEB_ROOT, show_index=False)
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
        response = await self._run("ws_connect", events.ws_connect(
            connection_id, dict(request.query), headers=dict(request.headers), **ctx))
        status = int(response.get("statusCode", 500)) if isinstance(response, dict) else 500
        if status != 200:
            return web.Response(status=status, text=str(response.get("body") or "Forbidden"))
        ws = web.WebSocketResponse(max_msg_size=MAX_MESSAGE_BYTES, autoping=True)
        await ws.prepare(request)
        conn = Connection(connection_id, ws, time.time(), source_ip)
        self.connections[connection_id] = conn
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

    async def post_to_connection(self, request: web.Request) -> web.Response:
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
    _CORS: ClassVar[dict[str, str]] = {"Access-Control-Allow-Origin": "*",
             "Access-Control-Allow-Methods": "POST, OPTIONS",
             "Access-Control-Allow-Headers": "content-type"}

    async def preflight(self, request: web.Request) -> web.Response:
        return web.Response(status=204, headers=self._CORS)

    async def visitor_session(self, request: web.Request) -> web.Response:
        body = await request.text()
        result = await self._run("visitor_session", events.http_v2(
            "POST", "/visitor/session", body, headers=dict(request.headers),
            source_ip=request.remote or "127.0.0.1"))
        return web.Response(status=int(result["statusCode"]), text=result.get("body", ""),
                            content_type="application/json", headers=self._CORS)

    async def dialog(self, request: web.Request) -> web.Response:
        """The public dialog tree the widget renders (no routing configs)."""
        from livechat import dialog_view
        from livechat.errors import NotFound

        dialog_id = request.match_info["dialog_id"]
        headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": "no-cache"}
        if not _DIALOG_ID.match(dialog_id):
            return web.json_response({"message": "dialog not found"}, status=404, headers=headers)
        loop = asyncio.get_running_loop()
        try:
            body = await loop.run_in_executor(self.pool, dialog_view.public_dialog, dialog_id)
        except NotFound:
            return web.json_response({"message": "dialog not found"}, status=404, headers=headers)
        return web.json_response(body, headers=headers)

    async def config_json(self, request: web.Request) -> web.Response:
        return web.json_response(self.client_config, headers={"Cache-Control": "no-cache"})

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

    async def index(self, request: web.Request) -> web.StreamResponse:
        index = WEB_ROOT / "index.html"
        if index.is_file():
            return web.FileResponse(index)
        raise web.HTTPNotFound()

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
