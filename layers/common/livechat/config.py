"""Deployment settings read from the environment, validated once and cached.

Nothing here reads the environment at import time: tests and the local stack set the
variables first and call :func:`reset` when they change them.
"""

from __future__ import annotations

from functools import lru_cache

from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="LIVECHAT_", extra="ignore")

    table_name: str = Field(min_length=3)
    region: str = Field(default="us-east-1", validation_alias="AWS_REGION")
    # Optional endpoint overrides: the local stack points every client at its emulator.
    dynamodb_endpoint: str | None = None
    # Management API endpoint for post_to_connection; when unset it is derived from the
    # event's domainName and stage, as API Gateway documents.
    ws_management_endpoint: str | None = None
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    # Where the pool's JWKS lives; default is Cognito's public URL for the pool.
    jwks_url: str | None = None
    # The visitor-token signing key: literal (local stack, tests) or a Secrets Manager ARN.
    visitor_secret: str | None = None
    visitor_secret_arn: str | None = None
    visitor_token_days: int = Field(default=30, ge=1, le=365)
    # The offer workflow (Step Functions) and the failure notifier (Lambda, invoked async).
    state_machine_arn: str | None = None
    notify_function: str | None = None
    lambda_endpoint: str | None = None
    stepfunctions_endpoint: str | None = None
    ses_endpoint: str | None = None
    # Where failure e-mails link to (the inbox page); empty: no link.
    inbox_url: str = ""
    # What the hosted pages read from /config.json (livechat.web_assets): the WebSocket URL
    # the browsers connect to, the public base URL of the pages (empty: derived from the
    # request) and the Cognito endpoint (empty: Cognito's public endpoint for the region).
    public_websocket_url: str = ""
    public_http_url: str = ""
    cognito_endpoint: str = ""
    max_message_chars: int = Field(default=4000, ge=1, le=20000)
    max_frame_bytes: int = Field(default=32 * 1024, ge=1024)

    def cognito_jwks_url(self) -> str:
        if self.jwks_url:
            return self.jwks_url
        return f"{self.cognito_issuer()}/.well-known/jwks.json"

    def cognito_issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings()  # filled from the environment


def reset() -> None:
    """Forget cached settings and every client built from them."""
    get_settings.cache_clear()
    from livechat import aws, models, notifications

    aws.reset_clients()
    models.unbind()
    notifications.reset()
