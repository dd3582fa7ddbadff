"""Each task of the offer workflow failing still ends in a fallback and a notification."""

from __future__ import annotations

from typing import Any

import pytest
from livechat.chat import workflow
from livechat.domain import states
from livechat.store import conversations as stored

from tests.support.workflow import (
    SENDER,
    TEAM,
    Workflow,
    eventually,
    queue_messages,
    sent_mails,
)
from tests.support.world import World

pytestmark = pytest.mark.integration


def boom(*args: Any, **kwargs: Any) -> Any:
    raise RuntimeError("injected failure")


def setup_offer(world: World) -> tuple[Any, Any, str]:
    world.settings(accept_timeout_seconds=1, failure_emails={"from": SENDER, "to": [TEAM]})
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent("alice@example.com")
    alice = world.agent_client("alice@example.com")
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    assert visitor.ask("requestChat", conversationId=conversation_id,
                       cardId="live")["type"] == "routing"
    return alice, visitor, conversation_id


def failed_executions(wf: Workflow) -> list[dict[str, Any]]:
    return [e for e in wf.executions() if e["status"] == "FAILED"]


def test_a_failing_task_still_gives_the_visitor_the_fallback_and_mails_the_team(
        world: World, workflow: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    # The definition's one task before the end (it starts at the offer's Wait; the Offer
    # task of an earlier definition is answered by route_chat, test_lifecycle_stateful)
    monkeypatch.setattr(workflow_module(), "deadline_task", boom)
    alice, visitor, conversation_id = setup_offer(world)
    assert eventually(lambda: failed_executions(workflow), timeout=20)
    frames = visitor.frames()
    assert [f["reason"] for f in frames if f["type"] == "fallback"] == ["not_accepted"]
    assert stored.get(conversation_id).status == states.FALLBACK
    assert world.agent_item("alice@example.com").active == 0
    assert len(sent_mails()) == 1
    assert any(f["type"] == "offerWithdrawn" for f in alice.frames())


def test_when_even_the_rescue_fails_the_request_is_parked_in_the_dead_letter_queue(
        world: World, workflow: Workflow, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(workflow_module(), "deadline_task", boom)
    monkeypatch.setattr(workflow_module(), "rescue_task", boom)
    _, _, conversation_id = setup_offer(world)
    assert eventually(lambda: failed_executions(workflow), timeout=30)
    parked = eventually(lambda: queue_messages(workflow.routing_dlq), timeout=5)
    assert parked and parked[0]["conversationId"] == conversation_id


def workflow_module() -> Any:
    return workflow
