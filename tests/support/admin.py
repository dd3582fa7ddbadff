"""A deployed livechat stack as `livechat apply` / `route` / `export` find it, in moto:
a CloudFormation stack whose outputs name the test table, a Cognito pool as template.yaml
defines it (user names are e-mails) with the LiveChat group, and the test WebSocket API."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
import pytest
import yaml
from moto.apigatewaymanagementapi.models import ApiGatewayManagementApiBackend
from moto.core.exceptions import JsonRESTError

from livechat_cli import main as cli
from tests.support.aws import REGION, TABLE
from tests.support.template import load_template, user_pool_create_kwargs

STACK = "livechat-test"
WEBSOCKET_URL = "wss://abc123.execute-api.us-east-1.amazonaws.com/test"
DEMO = Path(__file__).resolve().parents[2] / "workspaces" / "demo.yaml"


def create_pool() -> str:
    idp = boto3.client("cognito-idp", region_name=REGION)
    pool = idp.create_user_pool(**user_pool_create_kwargs(load_template()))["UserPool"]["Id"]
    idp.create_group(UserPoolId=pool, GroupName="LiveChat")
    return pool


def create_stack(outputs: dict[str, str], name: str = STACK) -> None:
    """A stand-in stack: one harmless resource and the outputs a livechat stack has."""
    template = {
        "Resources": {"Queue": {"Type": "AWS::SQS::Queue"}},
        "Outputs": {key: {"Value": value} for key, value in outputs.items()},
    }
    boto3.client("cloudformation", region_name=REGION).create_stack(
        StackName=name, TemplateBody=json.dumps(template))


@dataclass
class Deployment:
    pool_id: str
    closed: list[str] = field(default_factory=list)  # connection ids deleted via @connections
    gone: set[str] = field(default_factory=set)  # ids that answer 410 Gone

    def cognito(self) -> dict[str, Any]:
        """Every user's e-mail, status and attributes, and the LiveChat group's members."""
        idp = boto3.client("cognito-idp", region_name=REGION)
        users = idp.get_paginator("list_users").paginate(UserPoolId=self.pool_id).build_full_result()
        members = idp.get_paginator("list_users_in_group").paginate(
            UserPoolId=self.pool_id, GroupName="LiveChat").build_full_result()

        def email(user: dict[str, Any]) -> str:
            return str(next(a["Value"] for a in user["Attributes"] if a["Name"] == "email"))

        return {
            "users": sorted((email(u), u["UserStatus"], u["Enabled"],
                             sorted((a["Name"], a["Value"]) for a in u["Attributes"]),
                             u["UserLastModifiedDate"].isoformat())
                            for u in users["Users"]),
            "group": sorted(email(u) for u in members["Users"]),
        }

    def group(self) -> list[str]:
        return list(self.cognito()["group"])


@pytest.fixture
def deployment(aws: Any, monkeypatch: pytest.MonkeyPatch) -> Deployment:
    pool = create_pool()
    create_stack({"TableName": TABLE, "UserPoolId": pool, "WebSocketUrl": WEBSOCKET_URL,
                  "UserPoolClientId": "client", "HttpApiUrl": "https://http.example.com"})
    found = Deployment(pool)
    # `livechat` sets these itself (livechat_admin.stack.activate); let monkeypatch restore them.
    for key, value in {"LIVECHAT_TABLE_NAME": TABLE, "LIVECHAT_USER_POOL_ID": pool,
                       "AWS_REGION": REGION}.items():
        monkeypatch.setenv(key, value)
    for key in ("LIVECHAT_DYNAMODB_ENDPOINT", "LIVECHAT_WS_MANAGEMENT_ENDPOINT"):
        monkeypatch.delenv(key, raising=False)

    def delete_connection(self: Any, connection_id: str) -> None:
        if connection_id in found.gone:
            err = JsonRESTError("GoneException", "")
            err.code = 410
            raise err
        found.closed.append(connection_id)

    monkeypatch.setattr(ApiGatewayManagementApiBackend, "delete_connection", delete_connection)
    return found


def demo() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load(DEMO.read_text(encoding="utf-8"))
    return data


def write(tmp_path: Path, data: dict[str, Any], name: str = "workspace.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, sort_keys=False), encoding="utf-8")
    return path


def livechat(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    """Run the `livechat` command in-process; return its exit status, stdout and stderr."""
    capsys.readouterr()
    code = cli.main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err
