"""`livechat dev`: the whole system in one process — embedded AWS (moto), the Lambda
handlers in-process, the WebSocket/HTTP gateway, and the sweeper on a short interval."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import signal
import socket
import sys
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aiohttp import web

from livechat_admin.workspace_file import InvalidWorkspace, read_workspace
from livechat_local import seed
from livechat_local import template as tpl
from livechat_local.embedded_aws import ACCOUNT, REGION, EmbeddedAws, visitor_secret
from livechat_local.gateway import Gateway, Limits
from livechat_local.lambdas import FUNCTIONS, Dispatcher

log = logging.getLogger("livechat_local")

# The lines worth a developer's eye: one per routing outcome, and anything going wrong.
_OUTCOMES = {"chat offered", "chat fallback", "offer expired", "offer unreachable",
             "chat expired", "failure reported", "failure e-mail sent",
             "request recovered by the sweeper", "agent counter repaired"}
_KEYS = ("conversation_id", "agent", "reason", "target", "action", "outcome")


class DevFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        message = record.getMessage()
        extras = " ".join(f"{k}={record.__dict__[k]}" for k in _KEYS if record.__dict__.get(k))
        stamp = self.formatTime(record, "%H:%M:%S")
        line = f"{stamp} {record.levelname:<7} {message}"
        line = f"{line}  {extras}" if extras else line
        if record.exc_info:
            line = f"{line}\n{self.formatException(record.exc_info)}"
        return line


class OutcomeFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        return record.levelno >= logging.WARNING or record.getMessage() in _OUTCOMES


@dataclass
class Options:
    workspace: Path
    port: int
    endpoints_file: Path | None
    sweep_interval: float
    idle_timeout: float
    max_connection: float
    quiet: bool = False


def _listen(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", port))
    sock.listen(512)
    sock.setblocking(False)
    return sock


def _route_keys() -> set[str]:
    resources = tpl.load_template()["Resources"]
    return {r["Properties"]["RouteKey"] for r in resources.values()
            if r["Type"] == "AWS::ApiGatewayV2::Route"}


def _connect_authorizer() -> str | None:
    """The function of the template's Lambda authorizer on `$connect`, as the dispatcher
    names it (the folder of its CodeUri); None when `$connect` has no authorizer."""
    resources = tpl.load_template()["Resources"]
    for route in resources.values():
        props = route.get("Properties", {})
        if (route["Type"] == "AWS::ApiGatewayV2::Route" and props.get("RouteKey") == "$connect"
                and props.get("AuthorizationType") == "CUSTOM"):
            function = tpl.authorizer_function(resources, props["AuthorizerId"])
            return Path(resources[function]["Properties"]["CodeUri"]).name
    return None


def _notify_function() -> str:
    """What the template gives the functions as LIVECHAT_NOTIFY_FUNCTION (the notifier's alias),
    in the dispatcher's names."""
    template = tpl.load_template()
    variables = template["Resources"]["WsMessageFunction"]["Properties"]["Environment"]["Variables"]
    return tpl.function_reference(template, variables["LIVECHAT_NOTIFY_FUNCTION"], region=REGION,
                                  account=ACCOUNT)


def _http_routes() -> dict[tuple[str, str], str]:
    """The HttpApi events of the template's functions: (method, path) -> the function's
    name in the dispatcher (the folder of its CodeUri, functions/<name>/)."""
    resources = tpl.load_template()["Resources"]
    routes: dict[tuple[str, str], str] = {}
    for resource in resources.values():
        if resource["Type"] != "AWS::Serverless::Function":
            continue
        function = Path(resource["Properties"]["CodeUri"]).name
        for event in (resource["Properties"].get("Events") or {}).values():
            if event["Type"] == "HttpApi":
                routes[(event["Properties"]["Method"].upper(), event["Properties"]["Path"])] = function
    return routes


def _configure_logging(quiet: bool) -> None:
    handler = logging.StreamHandler(sys.stdout)
    handler.setFormatter(DevFormatter())
    handler.addFilter(OutcomeFilter())
    for name in ("livechat", "livechat_local"):
        logger = logging.getLogger(name)
        logger.handlers = [handler]
        logger.setLevel(logging.WARNING if quiet else logging.INFO)
        logger.propagate = False
    for noisy in ("werkzeug", "aiohttp.access", "botocore", "moto"):
        logging.getLogger(noisy).setLevel(logging.ERROR)


async def serve(options: Options, workspace: Any) -> None:
    aws = EmbeddedAws()
    aws.start()
    sender = workspace.settings.failure_emails.from_
    resources = aws.create_resources(sender)
    sock = _listen(options.port)
    port = sock.getsockname()[1]
    base = f"http://127.0.0.1:{port}"
    os.environ.update({
        "LIVECHAT_TABLE_NAME": resources.table,
        "LIVECHAT_USER_POOL_ID": resources.user_pool_id,
        "LIVECHAT_USER_POOL_CLIENT_ID": resources.client_id,
        "LIVECHAT_JWKS_URL": f"{base}/dev/jwks/{resources.user_pool_id}.json",
        "LIVECHAT_VISITOR_SECRET": visitor_secret(),
        "LIVECHAT_STATE_MACHINE_ARN": resources.state_machine_arn,
        "LIVECHAT_NOTIFY_FUNCTION": _notify_function(),
        "LIVECHAT_WS_MANAGEMENT_ENDPOINT": base,
        "LIVECHAT_INBOX_URL": f"{base}/inbox.html",
        # What the web function puts in /config.json: the inbox signs in through the
        # gateway's Cognito proxy (moto answers without CORS, on another port).
        "LIVECHAT_PUBLIC_WEBSOCKET_URL": f"ws://127.0.0.1:{port}/ws",
        "LIVECHAT_COGNITO_ENDPOINT": f"{base}/dev/cognito",
        # Web Push endpoints on http://127.0.0.1:PORT/ (tests play the push service); the
        # deployed functions never get this, so they refuse every http:// endpoint.
        "LIVECHAT_ALLOW_LOOPBACK_PUSH": "1",
        "LIVECHAT_DEFAULT_RATE_LIMITS": "0",  # workspace.md: the local stack applies none by default
        # `livechat apply --local` writes from another process: read the configuration on every
        # request, so that it shows at once (a deployment keeps it 10 s per container).
        "LIVECHAT_CONFIG_CACHE_SECONDS": "0",
        # Every local client comes from 127.0.0.1: the per-connection frame bound too only
        # with a `rate_limits` block (its deployed default is on).
        "LIVECHAT_FRAMES_PER_SECOND": "10" if workspace.settings.rate_limits is not None else "0",
        "POWERTOOLS_SERVICE_NAME": "livechat",
        "POWERTOOLS_METRICS_NAMESPACE": "livechat",
        "POWERTOOLS_METRICS_DISABLED": "true",
        "POWERTOOLS_TRACE_DISABLED": "true",
        # Powertools sets the level of every Logger it builds from this variable.
        "POWERTOOLS_LOG_LEVEL": "WARNING" if options.quiet else "INFO",
    })
    from livechat import runtime

    runtime.reset()
    dispatcher = Dispatcher(REGION, {"notify_failure": resources.notify_dlq},
                            run_async_inline=False)
    dispatcher.install()
    for function in FUNCTIONS:
        dispatcher.handler(function)  # import now: the first chat should not pay for it
    _configure_logging(options.quiet)
    seed.load(workspace, aws.client("cognito-idp"), resources.user_pool_id)

    gateway = Gateway(dispatcher, _route_keys(),
                      limits=Limits(options.idle_timeout, options.max_connection),
                      http_routes=_http_routes(), mailbox=aws.sent_mails,
                      connect_authorizer=_connect_authorizer())
    gateway.app.router.add_get("/dev/jwks/{pool}.json", _jwks)
    runner = web.AppRunner(gateway.app, access_log=None)
    await runner.setup()
    await web.SockSite(runner, sock).start()

    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    sweeper = asyncio.create_task(_sweep(gateway, dispatcher, options.sweep_interval))

    endpoints = {
        "http": f"{base}/",
        "websocket": f"ws://127.0.0.1:{port}/ws",
        "aws_endpoint": resources.endpoint,
        "region": REGION,
        "cognito": {"user_pool_id": resources.user_pool_id, "client_id": resources.client_id},
    }
    if options.endpoints_file:
        tmp = options.endpoints_file.with_suffix(".tmp")
        tmp.write_text(json.dumps(endpoints, indent=2))
        tmp.replace(options.endpoints_file)  # appears whole, once connections are accepted
    _banner(base, port, workspace, options)
    await stop.wait()
    sweeper.cancel()
    await runner.cleanup()
    gateway.pool.shutdown(wait=False, cancel_futures=True)
    dispatcher.uninstall()
    aws.stop()


async def _jwks(request: web.Request) -> web.Response:
    # moto signs every pool's ID tokens with the key pair it ships; serve its public half
    # where the handlers look for the pool's JWKS (Cognito serves it at a fixed URL).
    from moto.utilities.utils import load_resource

    return web.json_response(load_resource("cognitoidp/resources/jwks-public.json"))


async def _sweep(gateway: Gateway, dispatcher: Dispatcher, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            await asyncio.get_running_loop().run_in_executor(
                gateway.pool, dispatcher.call, "timeout_sweeper", {})
        except Exception:
            log.exception("sweep failed")


def _banner(base: str, port: int, workspace: Any, options: Options) -> None:
    agents = "\n".join(f"    {a.email}  password: {a.password or '(none: sign-in disabled)'}"
                       for a in workspace.agents)
    first_dialog = workspace.dialogs[0].id if workspace.dialogs else "sales"
    print(f"""livechat dev — the local stack is up (workspace: {options.workspace})
  widget demo:  {base}/demo.html?dialog={first_dialog}
  agent inbox:  {base}/inbox.html
  mailbox:      {base}/dev/mailbox
  WebSocket:    ws://127.0.0.1:{port}/ws
  agents:
{agents}
  Ctrl-C stops it.""", flush=True)


def run(options: Options) -> int:
    # Powertools warns on every invocation that emitted no metric; metrics are off here.
    warnings.filterwarnings("ignore", message="No application metrics to publish")
    try:
        workspace = read_workspace(options.workspace)
    except InvalidWorkspace as exc:
        for problem in exc.problems:
            print(f"{options.workspace}: {problem}", file=sys.stderr)
        return 2
    try:
        asyncio.run(serve(options, workspace))
    except OSError as exc:
        print(f"livechat dev: {exc}", file=sys.stderr)
        return 1
    return 0
