"""The offer workflow on moto: the real ASL file executed, its Lambda tasks and the async
failure notifier dispatched to the in-process handlers, SES and the dead-letter queues."""

from __future__ import annotations

import json
import os
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import boto3
import pytest
from livechat import runtime
from moto.core.models import DEFAULT_ACCOUNT_ID
from moto.ses.models import ses_backends

from livechat_local import template
from livechat_local.lambdas import Dispatcher
from tests.support.aws import REGION, Gateway

ROOT = Path(__file__).parents[2]
SENDER = "chat-alerts@example.com"
TEAM = "sales-ops@example.com"
T = TypeVar("T")


def function_arn(name: str) -> str:
    return f"arn:aws:lambda:{REGION}:{DEFAULT_ACCOUNT_ID}:function:{name}"


def alias_arn(name: str) -> str:
    """The ARN the template's invokers use: the function's alias (Globals' AutoPublishAlias)."""
    return f"{function_arn(name)}:{template.load_template()['Globals']['Function']['AutoPublishAlias']}"


@dataclass
class Workflow:
    state_machine_arn: str
    routing_dlq: str
    notify_dlq: str
    dispatcher: Dispatcher

    def executions(self) -> list[dict[str, Any]]:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        return [dict(e) for e in sfn.list_executions(stateMachineArn=self.state_machine_arn)["executions"]]

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        sfn = boto3.client("stepfunctions", region_name=REGION)
        return [dict(e) for e in sfn.get_execution_history(executionArn=execution_arn)["events"]]


def sent_mails() -> list[Any]:
    return list(ses_backends[DEFAULT_ACCOUNT_ID][REGION].sent_messages)


def queue_messages(url: str) -> list[dict[str, Any]]:
    sqs = boto3.client("sqs", region_name=REGION)
    got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, WaitTimeSeconds=0)
    return [json.loads(m["Body"]) for m in got.get("Messages", [])]


def eventually(probe: Callable[[], T], *, timeout: float = 15.0, interval: float = 0.1) -> T:
    """Poll until `probe` returns something truthy (the workflow runs in moto's threads)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


@contextmanager
def offer_workflow() -> Iterator[Workflow]:
    """The offer workflow on the embedded AWS (moto, already mocking) for the `with` block:
    the real ASL with its Lambda tasks and the async failure notifier dispatched to the
    in-process handlers, SES, the dead-letter queues; the handlers' environment names them
    (restored after, as were the settings cached before)."""
    sqs = boto3.client("sqs", region_name=REGION)
    routing_dlq = sqs.create_queue(QueueName="routing-dlq")["QueueUrl"]
    notify_dlq = sqs.create_queue(QueueName="notify-dlq")["QueueUrl"]
    boto3.client("sesv2", region_name=REGION).create_email_identity(EmailIdentity=SENDER)
    definition = (ROOT / "statemachine" / "offer.asl.json").read_text()
    definition = definition.replace("${RouteChatFunctionArn}", alias_arn("route_chat"))
    definition = definition.replace("${DeadLetterQueueUrl}", routing_dlq)
    sfn = boto3.client("stepfunctions", region_name=REGION)
    arn = sfn.create_state_machine(
        name="offer", definition=definition, type="STANDARD",
        roleArn=f"arn:aws:iam::{DEFAULT_ACCOUNT_ID}:role/offer",
    )["stateMachineArn"]
    environment = {"LIVECHAT_STATE_MACHINE_ARN": arn, "LIVECHAT_NOTIFY_FUNCTION": alias_arn("notify_failure"),
                   "LIVECHAT_INBOX_URL": "https://chat.example.com/inbox", "MOTO_ACCOUNT_ID": DEFAULT_ACCOUNT_ID}
    before = {key: os.environ.get(key) for key in environment}
    os.environ.update(environment)
    runtime.get_settings.cache_clear()
    dispatcher = Dispatcher(REGION, {"notify_failure": notify_dlq})
    dispatcher.install()
    try:
        yield Workflow(arn, routing_dlq, notify_dlq, dispatcher)
    finally:
        for execution in sfn.list_executions(stateMachineArn=arn, statusFilter="RUNNING")["executions"]:
            # a just-started one too: livechat_local.moto_patches (6.) waits for its worker
            sfn.stop_execution(executionArn=execution["executionArn"])
        dispatcher.drain()  # a task the stop caught under way finishes in this test, not the next
        dispatcher.uninstall()
        for key, value in before.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value
        runtime.get_settings.cache_clear()


@pytest.fixture
def workflow(aws: Gateway) -> Iterator[Workflow]:
    with offer_workflow() as running:
        yield running
