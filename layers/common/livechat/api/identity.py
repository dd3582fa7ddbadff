"""Who is on a connection, as the `$connect` authorizer (livechat.api.authorizer) left it
for every later event: a module of its own so that the frame path reads it without loading
the authorizer and its token checks (issue 15, cold start)."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class Identity(BaseModel):
    """The authorizer's context as every later event of the connection carries it in
    `requestContext.authorizer` (next to API Gateway's own `principalId` and
    `integrationLatency`, which this model ignores)."""

    model_config = ConfigDict(extra="ignore")

    role: Literal["agent", "visitor"]
    principal: str = Field(min_length=1)  # the agent's e-mail or the visitor's id
    admin: bool = False  # "true": in the LiveChatAdmin group (API Gateway hands strings on)
