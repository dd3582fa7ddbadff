"""The embedded AWS: moto's server in this process, with our resources created from
template.yaml itself (never a second hand-kept copy)."""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
from dataclasses import dataclass
from typing import Any

import boto3
import requests
from moto.server import ThreadedMotoServer

from livechat_local import moto_patches
from livechat_local import template as tpl

log = logging.getLogger("livechat_local.aws")
REGION = "us-east-1"
ACCOUNT = "123456789012"
TABLE = "livechat"

def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Resources:
    endpoint: str
    table: str
    user_pool_id: str
    client_id: str
    state_machine_arn: str
    routing_dlq: str
    notify_dlq: str


class EmbeddedAws:
    def __init__(self) -> None:
        self.port = free_port()
        self.endpoint = f"http://127.0.0.1:{self.port}"
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=self.port, verbose=False)

    def start(self) -> None:
        moto_patches.apply()
        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # moto's per-request lines
        # Every boto3/botocore client of this process (our handlers included) talks to the
        # embedded server; moto's own Step Functions calls Lambda through MOTO_PORT.
        os.environ.update({
            "AWS_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": "local",
            "AWS_SECRET_ACCESS_KEY": "local",
            "AWS_DEFAULT_REGION": REGION,
            "AWS_REGION": REGION,
            "MOTO_PORT": str(self.port),
            "MOTO_ACCOUNT_ID": ACCOUNT,
        })
        self.server.start()
        requests.post(f"{self.endpoint}/moto-api/config", timeout=10, json={
            "stepfunctions": {"execute_state_machine": True},
            "lambda": {"use_docker": False},
        }).raise_for_status()

    def stop(self) -> None:
        try:
            sfn = self.client("stepfunctions")
            for machine in sfn.list_state_machines()["stateMachines"]:
                for run in sfn.list_executions(stateMachineArn=machine["stateMachineArn"],
                                               statusFilter="RUNNING")["executions"]:
                    sfn.stop_execution(executionArn=run["executionArn"])
        except Exception:
            log.debug("could not stop executions", exc_info=True)
        self.server.stop()

    def client(self, service: str) -> Any:
        return boto3.client(service, region_name=REGION, endpoint_url=self.endpoint)  # type: ignore[call-overload]

    def create_resources(self, sender: str) -> Resources:
        template = tpl.load_template()
        kwargs = tpl.table_create_kwargs(template, table_name=TABLE)
        self.client("dynamodb").create_table(**kwargs)
        pool_id, client_id = self._cognito(template)
        sqs = self.client("sqs")
        routing_dlq = sqs.create_queue(QueueName="RoutingDeadLetterQueue")["QueueUrl"]
        notify_dlq = sqs.create_queue(QueueName="NotifyDeadLetterQueue")["QueueUrl"]
        self.client("sesv2").create_email_identity(EmailIdentity=sender)
        arn = self._state_machine(template, routing_dlq)
        return Resources(self.endpoint, TABLE, pool_id, client_id, arn, routing_dlq, notify_dlq)

    def _cognito(self, template: dict[str, Any]) -> tuple[str, str]:
        resources = template["Resources"]
        pool_logical_id = next(key for key, r in resources.items() if r["Type"] == "AWS::Cognito::UserPool")
        client_props = next(r["Properties"] for r in resources.values()
                            if r["Type"] == "AWS::Cognito::UserPoolClient")
        groups = [r["Properties"]["GroupName"] for r in resources.values()
                  if r["Type"] == "AWS::Cognito::UserPoolGroup"]  # LiveChat, LiveChatAdmin
        idp = self.client("cognito-idp")
        # As the template defines it: user names are the agents' e-mails.
        pool = idp.create_user_pool(
            **tpl.user_pool_create_kwargs(template, logical_id=pool_logical_id))["UserPool"]["Id"]
        client = idp.create_user_pool_client(
            UserPoolId=pool, ClientName="livechat-inbox",
            ExplicitAuthFlows=client_props.get("ExplicitAuthFlows",
                                               ["ALLOW_USER_PASSWORD_AUTH"]),
        )["UserPoolClient"]["ClientId"]
        for group in groups:
            idp.create_group(UserPoolId=pool, GroupName=group)
        return pool, client

    def _state_machine(self, template: dict[str, Any], routing_dlq: str) -> str:
        definition = json.dumps(tpl.state_machine_definition(template))
        values = {
            # as the template names it (its alias), the function named as the dispatcher knows it
            "RouteChatFunctionArn": tpl.function_reference(
                template, template["Resources"]["OfferStateMachine"]["Properties"]
                ["DefinitionSubstitutions"]["RouteChatFunctionArn"], region=REGION, account=ACCOUNT),
            "DeadLetterQueueUrl": routing_dlq,
        }
        props = template["Resources"]["OfferStateMachine"]["Properties"]
        for name in props.get("DefinitionSubstitutions", {}):
            if name not in values:
                raise RuntimeError(f"the local stack has no value for ${{{name}}}")
            definition = definition.replace(f"${{{name}}}", values[name])
        return str(self.client("stepfunctions").create_state_machine(
            name="livechat-offer", definition=definition, type="STANDARD",
            roleArn=f"arn:aws:iam::{ACCOUNT}:role/livechat-offer",
        )["stateMachineArn"])

    def sent_mails(self) -> list[dict[str, Any]]:
        data = requests.get(f"{self.endpoint}/moto-api/data.json", timeout=10).json()
        messages = data.get("ses", {}).get("Message", [])
        # moto 5.2 lists the messages; older versions grouped them by region.
        if isinstance(messages, dict):
            messages = [m for group in messages.values()
                        for m in (group.values() if isinstance(group, dict) else group)]
        return [m for m in messages if isinstance(m, dict)]


def visitor_secret() -> str:
    return secrets.token_urlsafe(48)
