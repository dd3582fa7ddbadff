"""Lazily built boto3 clients, one per (service, endpoint), shared by the whole process."""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from livechat.config import get_settings

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient

_lock = threading.Lock()
_clients: dict[tuple[str, str | None], Any] = {}

# Standard retry mode retries throttling and 5xx with backoff; conditional failures are
# never retried by botocore, which is what the state rules need.
_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})


def _client(service: str, endpoint_url: str | None) -> Any:
    key = (service, endpoint_url)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = boto3.client(
                service,  # type: ignore[call-overload]
                region_name=get_settings().region,
                endpoint_url=endpoint_url,
                config=_RETRIES,
            )
            _clients[key] = client
        return client


def management_api(endpoint_url: str) -> ApiGatewayManagementApiClient:
    return _client("apigatewaymanagementapi", endpoint_url)  # type: ignore[no-any-return]


def dynamodb() -> Any:
    return _client("dynamodb", get_settings().dynamodb_endpoint)


def lambda_client() -> Any:
    return _client("lambda", get_settings().lambda_endpoint)


def stepfunctions() -> Any:
    return _client("stepfunctions", get_settings().stepfunctions_endpoint)


def sesv2() -> Any:
    return _client("sesv2", get_settings().ses_endpoint)


def secretsmanager() -> Any:
    return _client("secretsmanager", None)


def reset_clients() -> None:
    with _lock:
        _clients.clear()
