"""$connect and $disconnect of the WebSocket API."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from livechat.api import gateway
from livechat.api.ws_connect_events import ConnectEvent, DisconnectEvent

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    route = event.get("requestContext", {}).get("routeKey")
    if route == "$disconnect":
        return gateway.on_disconnect(parse(event, model=DisconnectEvent))
    return gateway.on_connect(parse(event, model=ConnectEvent))
