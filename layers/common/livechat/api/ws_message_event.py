"""A client frame's event (every action route and $default) as functions/ws_message parses it."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import APIGatewayWebSocketMessageEventModel
from aws_lambda_powertools.utilities.parser.models.apigw_websocket import (
    APIGatewayWebSocketMessageEventRequestContext,
)
from pydantic import ConfigDict, Field

from livechat.api.identity import Identity

# Each event model is built (its validator) when the first event of its kind is parsed, not
# at import; and each function imports only the models of the events it receives (issue 15,
# cold start). Powertools' WebSocket models leave out `requestContext.authorizer`: what the
# $connect authorizer returned (livechat.api.authorizer), which API Gateway puts on $connect
# and on every later event of the connection. Absent only where no authorizer ran.


class _MessageContext(APIGatewayWebSocketMessageEventRequestContext):
    model_config = ConfigDict(defer_build=True)
    authorizer: Identity | None = None


class MessageEvent(APIGatewayWebSocketMessageEventModel):
    model_config = ConfigDict(defer_build=True)
    request_context: _MessageContext = Field(alias="requestContext")
