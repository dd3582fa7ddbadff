"""The `$connect` and `$disconnect` events as functions/ws_connect parses them."""

from __future__ import annotations

from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
)
from aws_lambda_powertools.utilities.parser.models.apigw_websocket import (
    APIGatewayWebSocketConnectEventRequestContext,
    APIGatewayWebSocketDisconnectEventRequestContext,
)
from pydantic import ConfigDict, Field

from livechat.api.identity import Identity

# Each event model is built (its validator) when the first event of its kind is parsed, not
# at import; and each function imports only the models of the events it receives (issue 15,
# cold start). Powertools' WebSocket models leave out `requestContext.authorizer`: what the
# $connect authorizer returned (livechat.api.authorizer), which API Gateway puts on $connect
# and on every later event of the connection. Absent only where no authorizer ran.


class _ConnectContext(APIGatewayWebSocketConnectEventRequestContext):
    model_config = ConfigDict(defer_build=True)
    authorizer: Identity | None = None


class _DisconnectContext(APIGatewayWebSocketDisconnectEventRequestContext):
    model_config = ConfigDict(defer_build=True)
    authorizer: Identity | None = None


class ConnectEvent(APIGatewayWebSocketConnectEventModel):
    model_config = ConfigDict(defer_build=True)
    query_string_parameters: dict[str, str] | None = Field(None, alias="queryStringParameters")
    request_context: _ConnectContext = Field(alias="requestContext")


class DisconnectEvent(APIGatewayWebSocketDisconnectEventModel):
    model_config = ConfigDict(defer_build=True)
    request_context: _DisconnectContext = Field(alias="requestContext")
