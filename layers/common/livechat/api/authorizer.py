"""The WebSocket API's `$connect` authorizer: who is connecting, once per connection.

API Gateway invokes it before `$connect` (a Lambda REQUEST authorizer; template.yaml's
WsAuthorizer) and hands the `context` it returns to every later event of the connection as
`requestContext.authorizer`: `$connect` itself, each frame and `$disconnect` know their
caller from there without reading the connection item (livechat.api.gateway).

What an authorizer can answer, and how the statuses clients see stay as they were:
- a token that is missing, malformed, forged or expired: the error "Unauthorized", which
  API Gateway answers with 401;
- a valid agent token without the LiveChat group: a Deny policy, answered with 403;
- otherwise Allow, with the role, principal and admin flag as context (strings only: API
  Gateway refuses an object or array there). `admin` is "true" for an agent whose token
  carries the LiveChatAdmin group (the performance dashboard, getStats); a connection opened
  before the flag existed carries none and counts as not admin until it reconnects.
The checks that read the table (the origin of a visitor's page → 403, the visitor's
connection limit → 429, a revoked agent → 403) stay in `$connect`, which alone can answer
429 and whose role alone may read the table.

The authorizer has no IdentitySource: with one, API Gateway answers 401 before invoking it
whenever that source is missing, and agents and visitors bring different query parameters
(`token`, `visitorToken`). Without one it is never cached either: each handshake is checked.
"""

from __future__ import annotations

from typing import Any

from aws_lambda_powertools import Logger
from pydantic import BaseModel, ConfigDict, Field

from livechat.api import auth
from livechat.api.identity import Identity
from livechat.domain.errors import Forbidden, Unauthorized

logger = Logger(child=True)

# The error message API Gateway maps to 401 (any other failure of the authorizer is a 500).
UNAUTHORIZED = "Unauthorized"


class AuthorizerEvent(BaseModel):
    """The fields of a WebSocket REQUEST authorizer's event that it reads."""

    model_config = ConfigDict(populate_by_name=True)

    method_arn: str = Field(alias="methodArn")
    query_string_parameters: dict[str, str] | None = Field(None, alias="queryStringParameters")


class Refused(Exception):
    """The handshake is refused with 401: raised with the message API Gateway expects."""

    def __init__(self) -> None:
        super().__init__(UNAUTHORIZED)


def authorize(event: AuthorizerEvent) -> dict[str, Any]:
    """The policy for one handshake; raises Refused (401) for a bad or missing token."""
    try:
        role, principal, admin = auth.identify_with_admin(event.query_string_parameters or {})
    except Forbidden as exc:
        logger.info("connect denied", code=exc.code, reason=exc.message)
        return _policy("Deny", event.method_arn, principal="denied")
    except Unauthorized as exc:
        logger.info("connect unauthorized", code=exc.code, reason=exc.message)
        raise Refused from None
    identity = Identity.model_validate({"role": role, "principal": principal, "admin": admin})
    context = {"role": identity.role, "principal": identity.principal,
               "admin": "true" if identity.admin else "false"}
    return _policy("Allow", event.method_arn, principal=principal, context=context)


def _policy(effect: str, method_arn: str, *, principal: str,
            context: dict[str, str] | None = None) -> dict[str, Any]:
    policy: dict[str, Any] = {
        "principalId": principal,
        "policyDocument": {"Version": "2012-10-17", "Statement": [
            {"Action": "execute-api:Invoke", "Effect": effect, "Resource": method_arn}]},
    }
    if context is not None:
        policy["context"] = context
    return policy
