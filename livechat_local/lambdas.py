"""Run our Lambda handlers in-process wherever moto would invoke a Lambda function.

moto without Docker has a "simple" Lambda backend that only echoes. Step Functions tasks
and `lambda.invoke` calls go through it, so we replace its `invoke` with a dispatcher
that calls the real handler (see ../shared/NOTES-aws-offline.md). Asynchronous
invocations keep Lambda's documented semantics: two retries after the first failure,
then the event goes to the function's dead-letter queue.
"""

from __future__ import annotations

import importlib
import json
import logging
import threading
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import boto3
from moto.awslambda_simple.models import LambdaSimpleBackend

log = logging.getLogger("livechat_local.lambdas")

Handler = Callable[[dict[str, Any], Any], Any]

# Logical function name -> module of its handler (functions/<dir>/app.py).
FUNCTIONS = {
    "ws_authorizer": "functions.ws_authorizer.app",
    "ws_connect": "functions.ws_connect.app",
    "ws_message": "functions.ws_message.app",
    "visitor_session": "functions.visitor_session.app",
    "route_chat": "functions.route_chat.app",
    "notify_failure": "functions.notify_failure.app",
    "timeout_sweeper": "functions.timeout_sweeper.app",
    "web": "functions.web.app",
}
ASYNC_ATTEMPTS = 3  # the first try and Lambda's two retries


@dataclass
class Context:
    function_name: str
    memory_limit_in_mb: int = 512
    aws_request_id: str = field(default_factory=lambda: uuid.uuid4().hex)

    @property
    def invoked_function_arn(self) -> str:
        return f"arn:aws:lambda:us-east-1:123456789012:function:{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return 30_000


@dataclass
class Dispatcher:
    region: str
    dead_letter_queues: dict[str, str] = field(default_factory=dict)  # function -> queue URL
    run_async_inline: bool = True  # tests: deterministic; the dev server: a thread
    failures: list[tuple[str, str]] = field(default_factory=list)
    _original: Any = None
    _running: int = 0  # invocations moto handed over that have not returned yet
    _idle: threading.Condition = field(default_factory=threading.Condition)

    def handler(self, name: str) -> Handler:
        module = importlib.import_module(FUNCTIONS[name])
        return module.handler  # type: ignore[no-any-return]

    def call(self, name: str, event: dict[str, Any]) -> Any:
        return self.handler(name)(event, Context(name))

    def install(self) -> None:
        dispatcher = self
        self._original = LambdaSimpleBackend.invoke

        def invoke(  # noqa: PLR0917 (moto's signature)
            backend: Any, function_name: str, qualifier: str | None, body: Any,
            headers: Any, response_headers: dict[str, str],
        ) -> bytes:
            # an ARN (function or alias: arn:aws:lambda:r:a:function:name[:qualifier]), a name or
            # name:qualifier; the qualifier (the template's alias) runs the same handler
            name = function_name.split(":")[6] if function_name.startswith("arn:") \
                else function_name.partition(":")[0]
            if name not in FUNCTIONS:
                response_headers["x-amz-function-error"] = "Unhandled"
                return json.dumps({"errorType": "ResourceNotFoundException",
                                   "errorMessage": f"no function {name}"}).encode()
            event = json.loads(body) if body else {}
            with dispatcher._idle:
                dispatcher._running += 1
            try:
                if headers.get("X-Amz-Invocation-Type") == "Event":
                    dispatcher.invoke_async(name, event)
                    return b""
                return dispatcher.invoke_sync(name, event, response_headers)
            finally:
                with dispatcher._idle:
                    dispatcher._running -= 1
                    dispatcher._idle.notify_all()

        LambdaSimpleBackend.invoke = invoke  # type: ignore[method-assign,assignment]

    def drain(self, timeout: float = 30.0) -> bool:
        """Wait until no invocation moto handed over is still running (a workflow task that
        was under way when its execution was stopped runs to its end, as on Lambda): what
        it writes and mails then belongs to the caller's world, not the next one's."""
        with self._idle:
            return self._idle.wait_for(lambda: self._running == 0, timeout)

    def uninstall(self) -> None:
        if self._original is not None:
            LambdaSimpleBackend.invoke = self._original  # type: ignore[method-assign]
            self._original = None

    def invoke_sync(self, name: str, event: dict[str, Any],
                    response_headers: dict[str, str]) -> bytes:
        try:
            result = self.call(name, event)
        except Exception as exc:
            log.warning("function %s failed: %s: %s", name, type(exc).__name__, exc)
            response_headers["x-amz-function-error"] = "Unhandled"
            return json.dumps({"errorType": type(exc).__name__, "errorMessage": str(exc)}).encode()
        return json.dumps(result).encode()

    def invoke_async(self, name: str, event: dict[str, Any]) -> None:
        if self.run_async_inline:
            self._run_async(name, event)
        else:
            threading.Thread(target=self._run_async, args=(name, event), daemon=True).start()

    def _run_async(self, name: str, event: dict[str, Any]) -> None:
        error = ""
        for _ in range(ASYNC_ATTEMPTS):
            try:
                self.call(name, event)
                return
            except Exception as exc:
                error = f"{type(exc).__name__}: {exc}"
                log.warning("async %s failed: %s", name, error)
        self.failures.append((name, error))
        queue = self.dead_letter_queues.get(name)
        if queue:
            boto3.client("sqs", region_name=self.region).send_message(
                QueueUrl=queue, MessageBody=json.dumps(event),
                MessageAttributes={"ErrorMessage": {"DataType": "String", "StringValue": error[:256]}},
            )
        else:
            log.error("async %s failed with no dead-letter queue: %s", name, error)
