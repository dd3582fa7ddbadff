"""moto set-up shared by the integration tests: the table from template.yaml, a Cognito
pool, and a recorder in place of API Gateway's @connections endpoint."""

from __future__ import annotations

import json
import threading
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote

import boto3
import pytest
from livechat import runtime
from moto import mock_aws
from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend
from moto.core.exceptions import JsonRESTError

from livechat_local import moto_patches
from tests.support.template import load_template, table_create_kwargs

REGION = "us-east-1"
TABLE = "livechat-test"
WS_ENDPOINT = "https://abc123.execute-api.us-east-1.amazonaws.com/test"


@dataclass
class Gateway:
    """What API Gateway would have pushed to each connection, and which are dead."""

    frames: dict[str, list[dict[str, Any]]] = field(default_factory=lambda: defaultdict(list))
    dead: set[str] = field(default_factory=set)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, connection_id: str) -> list[dict[str, Any]]:
        with self.lock:
            frames = self.frames.pop(connection_id, [])
        return frames


@pytest.fixture
def aws_env(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    for key, value in {
        "AWS_ACCESS_KEY_ID": "testing",
        "AWS_SECRET_ACCESS_KEY": "testing",
        "AWS_SESSION_TOKEN": "testing",
        "AWS_DEFAULT_REGION": REGION,
        "AWS_REGION": REGION,
        "LIVECHAT_TABLE_NAME": TABLE,
        "LIVECHAT_WS_MANAGEMENT_ENDPOINT": WS_ENDPOINT,
        "LIVECHAT_VISITOR_SECRET": "test-secret-0123456789abcdef0123456789abcdef",
        # As on the local stack: every test client comes from one address. The tests of the
        # limits set a `rate_limits` block (which applies either way).
        "LIVECHAT_DEFAULT_RATE_LIMITS": "0",
        "LIVECHAT_FRAMES_PER_SECOND": "0",
        "POWERTOOLS_TRACE_DISABLED": "1",
        "POWERTOOLS_METRICS_NAMESPACE": "livechat",
        "POWERTOOLS_SERVICE_NAME": "livechat",
        "POWERTOOLS_LOG_LEVEL": "WARNING",
    }.items():
        monkeypatch.setenv(key, value)
    moto_patches.apply()  # linearizable per item, and cheap transaction rollbacks
    yield


@pytest.fixture
def gateway(monkeypatch: pytest.MonkeyPatch) -> Gateway:
    recorder = Gateway()

    def post_to_connection(self: Any, data: bytes, connection_id: str) -> None:
        # moto hands over the id still URL-encoded (API Gateway ids often end in '=').
        connection_id = unquote(connection_id)
        if connection_id in recorder.dead:
            err = JsonRESTError("GoneException", "")
            err.code = 410
            raise err
        with recorder.lock:
            recorder.frames[connection_id].append(json.loads(data))

    monkeypatch.setattr(ApiGatewayManagementApiBackend, "post_to_connection",
                        post_to_connection)
    return recorder


@pytest.fixture
def aws(aws_env: None, gateway: Gateway) -> Iterator[Gateway]:
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True},
                          "lambda": {"use_docker": False}}):
        runtime.reset()
        kwargs = table_create_kwargs(load_template())
        kwargs["TableName"] = TABLE
        boto3.client("dynamodb", region_name=REGION).create_table(**kwargs)
        yield gateway
        runtime.reset()
