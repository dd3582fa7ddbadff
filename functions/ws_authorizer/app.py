"""The WebSocket API's $connect authorizer: Allow with the caller's identity as context,
Deny (403) or "Unauthorized" (401); livechat.api.authorizer. Its only AWS call is the
visitor secret's read, once per container."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.typing import LambdaContext
from livechat.api import authorizer

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return authorizer.authorize(parse(event, model=authorizer.AuthorizerEvent))
