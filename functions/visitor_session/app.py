"""POST /visitor/session on the HTTP API: issue or renew a visitor's signed token."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics, Tracer
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from livechat.api import visitor_sessions

logger = Logger()
metrics = Metrics()
tracer = Tracer()
app = APIGatewayHttpResolver()


@app.post("/visitor/session")
def create_session() -> Response[str]:
    status, body = visitor_sessions.create(app.current_event.body)
    return Response(status_code=status, content_type="application/json", body=body)


@logger.inject_lambda_context
@metrics.log_metrics
@tracer.capture_lambda_handler
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
