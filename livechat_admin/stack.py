"""Where a deployment's resources are: from its CloudFormation outputs, or from the
endpoints file a running `livechat dev` writes.

`activate` points the livechat package (PynamoDB models, clients) at the target: it sets
the LIVECHAT_* variables and forgets every cached setting and client.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlparse

import boto3

LOCAL_TABLE = "livechat"  # livechat_local.embedded_aws.TABLE; the endpoints file omits it
LOCAL_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local"}


class StackError(Exception):
    """The stack (or endpoints file) does not say where the resources are."""


@dataclass(frozen=True)
class Target:
    table_name: str
    user_pool_id: str
    region: str
    # https://<api>.execute-api.<region>.amazonaws.com/<stage> (deployed), or the local
    # gateway's base URL: where DELETE /@connections/{id} closes a connection.
    management_endpoint: str
    endpoint_url: str | None = None  # every AWS client goes here (local stack, tests)
    local: bool = False

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=self.region,  # type: ignore[call-overload]
                            endpoint_url=self.endpoint_url)

    def management_api(self) -> Any:
        return boto3.client("apigatewaymanagementapi", region_name=self.region,
                            endpoint_url=self.management_endpoint)


def management_endpoint(websocket_url: str) -> str:
    """wss://abc.execute-api.eu-west-1.amazonaws.com/prod → https://abc.execute-api.eu-west-1.amazonaws.com/prod"""
    parsed = urlparse(websocket_url)
    if parsed.scheme not in ("ws", "wss") or not parsed.netloc:
        raise StackError(f"WebSocketUrl {websocket_url!r} is not a ws:// or wss:// URL")
    scheme = "https" if parsed.scheme == "wss" else "http"
    return f"{scheme}://{parsed.netloc}{parsed.path.rstrip('/')}"


def outputs(stack_name: str, cloudformation: Any) -> dict[str, str]:
    try:
        stacks = cloudformation.describe_stacks(StackName=stack_name)["Stacks"]
    except cloudformation.exceptions.ClientError as exc:
        raise StackError(f"stack {stack_name!r}: {exc.response['Error'].get('Message', exc)}") from None
    if not stacks:
        raise StackError(f"stack {stack_name!r} not found")
    return {o["OutputKey"]: o["OutputValue"] for o in stacks[0].get("Outputs", [])}


def from_stack(stack_name: str, region: str | None = None, endpoint_url: str | None = None,
               cloudformation: Any = None) -> Target:
    region = region or os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION")
    if not region:
        session_region = boto3.session.Session().region_name
        if not session_region:
            raise StackError("no region: pass --region or set AWS_REGION")
        region = session_region
    cfn = cloudformation or boto3.client("cloudformation", region_name=region,
                                         endpoint_url=endpoint_url)
    found = outputs(stack_name, cfn)
    missing = [key for key in ("TableName", "UserPoolId", "WebSocketUrl") if not found.get(key)]
    if missing:
        raise StackError(f"stack {stack_name!r} has no output {', '.join(missing)}"
                         " (is it a livechat stack?)")
    return Target(table_name=found["TableName"], user_pool_id=found["UserPoolId"], region=region,
                  management_endpoint=management_endpoint(found["WebSocketUrl"]),
                  endpoint_url=endpoint_url)


def from_local(path: Path) -> Target:
    """The endpoints JSON of `livechat dev --endpoints-file`."""
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
        return Target(table_name=data.get("table", LOCAL_TABLE),
                      user_pool_id=data["cognito"]["user_pool_id"], region=data["region"],
                      management_endpoint=data["http"].rstrip("/"),
                      endpoint_url=data["aws_endpoint"], local=True)
    except OSError as exc:
        raise StackError(f"{path}: {exc.strerror}") from None
    except (ValueError, KeyError, TypeError) as exc:
        raise StackError(f"{path}: not a livechat dev endpoints file ({exc})") from None


def activate(target: Target) -> None:
    """Point the livechat package at the target's table."""
    from livechat import runtime

    if target.local:
        for key, value in LOCAL_CREDENTIALS.items():
            os.environ.setdefault(key, value)
    os.environ["LIVECHAT_TABLE_NAME"] = target.table_name
    os.environ["LIVECHAT_USER_POOL_ID"] = target.user_pool_id
    os.environ["AWS_REGION"] = target.region
    os.environ["LIVECHAT_WS_MANAGEMENT_ENDPOINT"] = target.management_endpoint
    if target.endpoint_url:
        os.environ["LIVECHAT_DYNAMODB_ENDPOINT"] = target.endpoint_url
    else:
        os.environ.pop("LIVECHAT_DYNAMODB_ENDPOINT", None)
    runtime.reset()
