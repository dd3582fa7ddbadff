"""Every minute: inactivity expiry, requests whose workflow died, agent counter repair."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.metrics import MetricUnit
from aws_lambda_powertools.utilities.typing import LambdaContext
from livechat.chat import sweeper

logger = Logger()
metrics = Metrics()


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    report = sweeper.sweep()
    metrics.add_metric(name="ChatsExpired", unit=MetricUnit.Count, value=report.expired)
    metrics.add_metric(name="RequestsRecovered", unit=MetricUnit.Count, value=report.recovered)
    # Drift means a bug or a manual edit: the alarm on this metric is how we hear of it.
    metrics.add_metric(name="CounterDrift", unit=MetricUnit.Count, value=report.repaired)
    return report.as_dict()
