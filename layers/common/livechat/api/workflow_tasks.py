"""Entry point of the route_chat task: validates the workflow's payload and runs one task.

A transient AWS error (throttling, 5xx that botocore's own retries did not absorb) is
raised as `TransientError`, the name the state machine's Retry matches; anything else
goes to the workflow's Catch, which rescues the visitor.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from livechat.chat import workflow
from livechat.outbound.delivery import Notifier
from livechat.runtime import get_settings
from livechat.store import catalog
from livechat.store.failures import is_transient


class TransientError(Exception):
    pass


class TaskInput(BaseModel):
    model_config = ConfigDict(extra="ignore")
    task: Literal["offer", "deadline", "rescue"]
    conversationId: str = Field(min_length=1, max_length=128)
    error: Any = None


def run(event: dict[str, Any]) -> dict[str, Any]:
    request = TaskInput.model_validate(event)
    settings = catalog.get_workspace_settings()
    endpoint = get_settings().ws_management_endpoint
    if not endpoint:
        raise RuntimeError("LIVECHAT_WS_MANAGEMENT_ENDPOINT is required by route_chat")
    notifier = Notifier(endpoint)
    try:
        if request.task == "offer":
            return workflow.offer_task(request.conversationId, notifier, settings)
        if request.task == "deadline":
            return workflow.deadline_task(request.conversationId, notifier, settings)
        return workflow.rescue_task(request.conversationId, notifier, settings, request.error)
    except Exception as exc:
        if is_transient(exc):
            raise TransientError(str(exc)) from exc
        raise
