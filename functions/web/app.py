"""GET on the HTTP API: the hosted pages (widget.js, the demo page, the agent inbox),
/config.json and the public dialogs. `livechat dev` runs this same handler. What is served
and how (widget.js and inbox.js are made of the modules of livechat/web/), and the CORS headers
(this function answers CORS itself, by the workspace's allowed_origins): livechat.api.pages."""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger, Metrics
from aws_lambda_powertools.event_handler import APIGatewayHttpResolver, Response
from aws_lambda_powertools.utilities.typing import LambdaContext
from livechat.api import pages as web_assets

logger = Logger()
metrics = Metrics()
app = APIGatewayHttpResolver()


def _respond(result: web_assets.WebResponse) -> Response[str]:
    return Response(status_code=result.status, content_type=result.content_type, body=result.body,
                    headers=result.headers)


@app.get("/")
def index() -> Response[str]:
    return _respond(web_assets.page(web_assets.INDEX, app.current_event.headers.get("if-none-match")))


@app.get("/config.json")
def config_json() -> Response[str]:
    event = app.current_event
    context = event.request_context
    return _respond(web_assets.config_json(event.headers, context.domain_name, context.stage))


@app.get("/dialogs/<dialog_id>")
def dialog(dialog_id: str) -> Response[str]:
    return _respond(web_assets.dialog(dialog_id, app.current_event.headers.get("origin")))


@app.get("/<name>")
def page(name: str) -> Response[str]:
    return _respond(web_assets.page(name, app.current_event.headers.get("if-none-match")))


@logger.inject_lambda_context
@metrics.log_metrics
def handler(event: dict[str, Any], context: LambdaContext) -> dict[str, Any]:
    return app.resolve(event, context)
