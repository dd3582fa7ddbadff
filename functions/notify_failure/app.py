"""E-mails the team about a failed action (invoked asynchronously; its dead-letter queue
keeps what could not be sent)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.utilities.typing import LambdaContext
from livechat.outbound import failure_mail as notifications

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return notifications.notify(event, context)
