"""Starting the offer workflow (Step Functions Standard, statemachine/offer.asl.json): it
only keeps time; every decision it triggers is made in DynamoDB by livechat.chat.workflow."""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger
from botocore.exceptions import ClientError

from livechat import runtime

logger = Logger(child=True)


def start(conversation_id: str, attempt: int, *, wait_seconds: int, suffix: str = "") -> None:
    """Start the timer of the offer just made: the execution sleeps `wait_seconds` (to the
    offer's deadline), then checks it. Named after the conversation and its request, so a
    retried start is harmless. A start that fails is logged: the sweeper finishes the
    request when its deadline passes."""
    arn = runtime.get_settings().state_machine_arn
    if not arn:
        logger.warning("no offer workflow configured: offers will only time out by the sweeper")
        return
    try:
        runtime.stepfunctions().start_execution(
            stateMachineArn=arn,
            name=f"{conversation_id}-{attempt}{'-' + suffix if suffix else ''}",
            input=json.dumps({"conversationId": conversation_id,
                              "step": {"outcome": "wait", "waitSeconds": max(0, wait_seconds)}}),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            return
        logger.exception("could not start the offer workflow", conversation_id=conversation_id)
