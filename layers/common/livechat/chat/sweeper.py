"""The minute sweep: expire inactive chats, finish requests whose workflow died, and
repair agent counters that drifted from their open conversations.

It reads indexes (gsi3: live chats by last message; gsi4: requests by sweep deadline;
the agent partition), never scans the table, and changes state only through the same
conditional transactions as everything else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from functools import partial
from typing import Any

from aws_lambda_powertools import Logger

from livechat.chat import workflow
from livechat.domain import transitions
from livechat.domain.clock import iso, now
from livechat.domain.errors import LivechatError, StillActive
from livechat.domain.snapshots import Conversation
from livechat.domain.states import Status
from livechat.domain.workspace import WorkspaceSettings
from livechat.outbound import timers
from livechat.outbound.delivery import Notifier
from livechat.outbound.frames import frame_of
from livechat.runtime import get_settings
from livechat.store import agents, catalog, conversations, transaction

logger = Logger(child=True)


@dataclass
class SweepReport:
    expired: int = 0
    recovered: int = 0
    repaired: int = 0
    repaired_agents: list[str] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def sweep(at: datetime | None = None) -> SweepReport:
    moment = at or now()
    settings = catalog.get_workspace_settings()
    endpoint = get_settings().ws_management_endpoint
    if not endpoint:
        raise RuntimeError("LIVECHAT_WS_MANAGEMENT_ENDPOINT is required by the sweeper")
    notifier = Notifier(endpoint)
    report = SweepReport()
    report.expired = expire_inactive(moment, notifier, settings)
    report.recovered = recover_requests(moment, notifier, settings)
    report.repaired_agents = reconcile_counters()
    report.repaired = len(report.repaired_agents)
    return report


def expire_inactive(moment: datetime, notifier: Notifier, settings: WorkspaceSettings) -> int:
    cutoff = iso(moment - timedelta(seconds=settings.inactivity_timeout_seconds))
    return sum(expire_chat(c.conversation_id, cutoff, notifier, retention_days=settings.retention_days)
               for c in conversations.inactive_since(cutoff))


def expire_chat(conversation_id: str, cutoff: str, notifier: Notifier, *, retention_days: int | None = None) -> bool:
    """Active → expired if its last message is older than `cutoff`."""
    try:
        applied = transaction.apply(conversation_id, partial(transitions.expire, cutoff=cutoff, at=iso(now())),
                                    retention_days=retention_days)
    except StillActive:
        return False
    ended = frame_of(conversation_id, applied.events[0])
    notifier.to_visitor(applied.conversation.visitor_id, ended)
    if applied.conversation.agent:
        notifier.to_agent(applied.conversation.agent, ended)
    logger.info("chat expired", conversation_id=conversation_id)
    return True


def recover_requests(moment: datetime, notifier: Notifier, settings: WorkspaceSettings) -> int:
    """Requests past their sweep deadline: the workflow died or never started. Do exactly
    what its next task would have done."""
    recovered = 0
    for due in conversations.requests_due(iso(moment)):
        conversation_id = due.conversation_id
        fresh = conversations.get(conversation_id)
        if fresh.status == Status.ROUTING:
            step = workflow.offer_task(conversation_id, notifier, settings)
        elif fresh.status == Status.OFFERED:
            step = workflow.deadline_task(conversation_id, notifier, settings)
        else:
            continue
        recovered += 1
        logger.warning("request recovered by the sweeper", conversation_id=conversation_id,
                       outcome=step["outcome"])
        if step["outcome"] == workflow.WAIT:
            # A new offer was made: give it a timer of its own again.
            timers.start(conversation_id, fresh.route_attempt, wait_seconds=int(step["waitSeconds"]),
                         suffix=f"r{len(fresh.offers)}")
    return recovered


def _holds_slot(conv: Conversation, email: str, offer_id: str) -> bool:
    if conv.offer_id != offer_id:
        return False
    if conv.status == Status.OFFERED:
        return conv.offer_agent == email
    return conv.status == Status.ACTIVE and conv.agent == email


def reconcile_counters() -> list[str]:
    """Make each agent's `active` equal the slots its open conversations hold. Every slot
    marker is checked against its conversation with a consistent read; the repair is
    conditional on the agent row being what was read, so a concurrent offer wins."""
    repaired = []
    for agent in agents.list_agents():
        valid = {}
        for conversation_id, offer_id in agent.slots.items():
            try:
                conv = conversations.get(conversation_id)
            except LivechatError:
                continue
            if _holds_slot(conv, agent.email, offer_id):
                valid[conversation_id] = offer_id
        if valid == dict(agent.slots) and agent.active == len(valid):
            continue
        if not agents.repair_slots(agent.email, agent, valid):
            continue  # the agent changed meanwhile: look again next minute
        logger.warning("agent counter repaired", agent=agent.email, active=agent.active,
                       slots=len(agent.slots), now_active=len(valid))
        repaired.append(agent.email)
    return repaired
