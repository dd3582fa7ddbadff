"""A client frame's event (every action route and $default) as functions/ws_message parses it."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import APIGatewayWebSocketMessageEventModel
from aws_lambda_powertools.utilities.parser.models.apigw_websocket import (
    APIGatewayWebSocketMessageEventRequestContext,
)
from pydantic import ConfigDict, Field

from livechat.api.identity import Identity

# Built on first use, with the authorizer's context: see livechat.api.ws_connect_events.


class _MessageContext(APIGatewayWebSocketMessageEventRequestContext):
    model_config = ConfigDict(defer_build=True)
    authorizer: Identity | None = None


class MessageEvent(APIGatewayWebSocketMessageEventModel):
    model_config = ConfigDict(defer_build=True)
    request_context: _MessageContext = Field(alias="requestContext")
