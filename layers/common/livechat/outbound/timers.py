"""Starting and stopping the offer workflow (Step Functions Standard,
statemachine/offer.asl.json): it only keeps time; every decision it triggers is made in
DynamoDB by livechat.chat.workflow."""

from __future__ import annotations

import json

from aws_lambda_powertools import Logger
from botocore.exceptions import BotoCoreError, ClientError

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
            name=_name(conversation_id, attempt, suffix),
            input=json.dumps({"conversationId": conversation_id,
                              "step": {"outcome": "wait", "waitSeconds": max(0, wait_seconds)}}),
        )
    except ClientError as exc:
        if exc.response.get("Error", {}).get("Code") == "ExecutionAlreadyExists":
            return
        logger.exception("could not start the offer workflow", conversation_id=conversation_id)


def stop(conversation_id: str, attempt: int) -> None:
    """Stop the timer of a request that no longer needs one: its offer was accepted, or the
    visitor left while it was open. Only a saving — a Standard execution bills each state it
    enters, and the three its deadline check would enter are most of a request's Step
    Functions bill. Nothing depends on it: a timer that is not stopped wakes at the deadline,
    finds no open offer (the conditional writes decided that) and ends. So a stop that fails
    is logged and forgotten; the sweeper's recovered timers (named with a suffix) run out."""
    arn = runtime.get_settings().state_machine_arn
    if not arn:
        return
    try:
        # No `error` or `cause`: with them, a state machine encrypted with a customer key
        # would also need KMS permissions for the stop (StopExecution's API reference).
        runtime.stepfunctions().stop_execution(executionArn=execution_arn(arn, _name(conversation_id, attempt)))
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code")
        if code != "ExecutionDoesNotExist":  # never started, or already gone from the history
            logger.warning("could not stop the offer workflow", conversation_id=conversation_id, code=code)
    except BotoCoreError:
        logger.warning("could not stop the offer workflow", conversation_id=conversation_id, exc_info=True)


def execution_arn(state_machine_arn: str, name: str) -> str:
    """The ARN Step Functions gives the execution `name` of that state machine:
    arn:<partition>:states:<region>:<account>:execution:<machine>:<name> (an alias or version
    qualifier on the machine's ARN does not change it)."""
    parts = state_machine_arn.split(":")
    if len(parts) < 7 or parts[5] != "stateMachine":
        raise ValueError(f"not a state machine ARN: {state_machine_arn}")
    return ":".join([*parts[:5], "execution", parts[6], name])


def _name(conversation_id: str, attempt: int, suffix: str = "") -> str:
    """One name per request (and per timer the sweeper restarts), so a retried start is
    harmless and the request's own timer can be found again without storing its ARN."""
    return f"{conversation_id}-{attempt}{'-' + suffix if suffix else ''}"
