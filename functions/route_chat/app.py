"""The offer workflow's Lambda task: offer, deadline or rescue (statemachine/offer.asl.json)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from livechat.api import workflow_tasks

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return workflow_tasks.run(event)
