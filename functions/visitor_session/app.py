"""POST /visitor/session on the HTTP API: issue or renew a visitor's signed token (the
origin check, the per-address limit and CORS: livechat.api.visitor_sessions), and the OPTIONS
preflight for it (the HTTP API has no CorsConfiguration: this function answers CORS)."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from livechat.api import visitor_sessions

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()


def _respond(answer: visitor_sessions.HttpAnswer) -> Response[str]:
    return Response(status_code=answer.status, content_type="application/json", body=answer.body,
                    headers=answer.headers)


@app.post("/visitor/session")
def create_session() -> Response[str]:
    event = app.current_event
    return _respond(visitor_sessions.create(
        event.body, origin=event.headers.get("origin"),
        source_ip=event.request_context.http.source_ip))


@app.route("/visitor/session", method="OPTIONS")
def preflight() -> Response[str]:
    return _respond(visitor_sessions.preflight(app.current_event.headers.get("origin")))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
