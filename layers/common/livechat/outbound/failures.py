"""Failed actions: what went wrong for a visitor, handed to notify_failure to e-mail.

The event is generic — `{"action", "reason", "conversationId"?, "detail"?, "at"}` — so that
other actions (a meeting booking) can report through the same path. It is delivered by an
asynchronous Lambda invocation: Lambda retries it twice and then parks it in the
function's SQS dead-letter queue (alarmed in the template), so nothing is dropped silently.
"""

from __future__ import annotations

import json
from typing import Any

from aws_lambda_powertools import Logger

from livechat import runtime
from livechat.domain.clock import now_iso
from livechat.runtime import get_settings

logger = Logger(child=True)

LIVE_CHAT = "live_chat"
ENGAGEMENT_QUOTA = "engagement_quota"
# Not a failure: a visitor's transcript e-mail rides the same path (the same SES identity,
# retries, dead-letter queue and idempotency), mailed to the visitor instead of the team.
TRANSCRIPT = "transcript"


def failed_action(action: str, reason: str, *, conversation_id: str | None = None,
                  detail: dict[str, Any] | None = None) -> dict[str, Any]:
    event: dict[str, Any] = {"action": action, "reason": reason, "at": now_iso()}
    if conversation_id:
        event["conversationId"] = conversation_id
    if detail:
        event["detail"] = detail
    return event


def report(event: dict[str, Any]) -> None:
    function = get_settings().notify_function
    if not function:
        logger.warning("no notify_failure function configured; failure not e-mailed",
                       failure=event)
        return
    runtime.lambda_client().invoke(
        FunctionName=function, InvocationType="Event", Payload=json.dumps(event).encode()
    )
    logger.info("failure reported", action=event["action"], reason=event["reason"],
                conversation_id=event.get("conversationId"))
