"""Every client frame of the WebSocket API (each action route and $default)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext

# `actions`, `protocol`, `delivery` and `frames` are the frame path, which
# livechat.api.gateway.on_message imports when called (the $connect/$disconnect function
# never loads it): imported here, during Lambda's init, so the first frame does not pay.
from livechat.api import actions, gateway, protocol  # noqa: F401
from livechat.api.ws_message_event import MessageEvent
from livechat.outbound import delivery, frames  # noqa: F401

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return gateway.on_message(parse(event, model=MessageEvent))
