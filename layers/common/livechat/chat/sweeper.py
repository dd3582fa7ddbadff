"""The minute sweep: expire inactive chats, finish requests whose workflow died, and
repair agent counters that drifted from their open conversations.

It reads indexes (gsi3: live chats by last message; gsi4: requests by sweep deadline;
the agent partition), never scans the table, and changes state only through the same
conditional transactions as everything else.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from aws_lambda_powertools import Logger

from livechat.chat import workflow
from livechat.domain import states
from livechat.domain.clock import iso, now
from livechat.domain.errors import LivechatError
from livechat.domain.workspace import WorkspaceSettings
from livechat.outbound.delivery import Notifier
from livechat.outbound.frames import frame_of
from livechat.runtime import get_settings
from livechat.store import agents, catalog
from livechat.store import tables as models
from livechat.store import transaction as store
from livechat.store.tables import AGENT_PK, AgentModel, ConversationModel
from livechat.store.transaction import Change, ExtraWrite, NewEvent

logger = Logger(child=True)


class _StillActive(LivechatError):
    """A message (or an end) got there first: this chat is not expired."""


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
    models.bind()
    cutoff = iso(moment - timedelta(seconds=settings.inactivity_timeout_seconds))
    expired = 0
    for conv in ConversationModel.live_by_activity.query(
        models.ALL_CONVERSATIONS, ConversationModel.live_activity_at < cutoff
    ):
        if expire_chat(conv.conversation_id, cutoff, notifier):
            expired += 1
    return expired


def expire_chat(conversation_id: str, cutoff: str, notifier: Notifier) -> bool:
    """Active → expired if its last message is older than `cutoff`. A message racing it is
    settled by the transaction: it lands first (and the chat lives on) or finds the chat
    expired and gets an error."""

    def plan(conv: ConversationModel) -> Change:
        if conv.status != states.ACTIVE or not conv.live_activity_at or (
            conv.live_activity_at >= cutoff
        ):
            raise _StillActive("not inactive")
        release = agents.release(conversation_id, conv.offer_id or "")
        return Change(
            events=[NewEvent("system", "chatEnded", "system",
                             text="Chat ended after inactivity", data={"reason": "inactivity"})],
            actions=[
                ConversationModel.status.set(states.EXPIRED),
                ConversationModel.end_reason.set("inactivity"),
                ConversationModel.ended_at.set(iso(now())),
                ConversationModel.gsi2pk.remove(),
                ConversationModel.gsi2sk.remove(),
                ConversationModel.live_activity_at.remove(),
            ],
            condition=(ConversationModel.status == states.ACTIVE)
            & (ConversationModel.live_activity_at == conv.live_activity_at),
            extra=[ExtraWrite(agents.handle(conv.agent or ""), release.actions,
                              release.condition, lambda: _StillActive("slot not held"))],
        )

    try:
        applied = store.apply(conversation_id, plan)
    except _StillActive:
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
    models.bind()
    recovered = 0
    for conv in ConversationModel.requests_by_deadline.query(
        models.ALL_CONVERSATIONS, ConversationModel.sweep_at < iso(moment)
    ):
        conversation_id = conv.conversation_id
        fresh = store.get_conversation(conversation_id)
        if fresh.status == states.ROUTING:
            step = workflow.offer_task(conversation_id, notifier, settings)
        elif fresh.status == states.OFFERED:
            step = workflow.deadline_task(conversation_id, notifier, settings)
        else:
            continue
        recovered += 1
        logger.warning("request recovered by the sweeper", conversation_id=conversation_id,
                       outcome=step["outcome"])
        if step["outcome"] == workflow.WAIT:
            # A new offer was made: give it a timer of its own again.
            workflow.start(conversation_id, int(fresh.route_attempt), suffix=f"r{len(fresh.offers or [])}")
    return recovered


def _holds_slot(conv: ConversationModel, email: str, offer_id: str) -> bool:
    if conv.offer_id != offer_id:
        return False
    if conv.status == states.OFFERED:
        return conv.offer_agent == email
    return conv.status == states.ACTIVE and conv.agent == email


def reconcile_counters() -> list[str]:
    """Make each agent's `active` equal the slots its open conversations hold. Every slot
    marker is checked against its conversation with a consistent read; the repair is
    conditional on the agent row being what was read, so a concurrent offer wins."""
    repaired = []
    for agent in agents.list_agents():
        markers: dict[str, str] = {k: str(v) for k, v in (models.plain(agent.slots) or {}).items()}
        valid = {}
        for conversation_id, offer_id in markers.items():
            try:
                conv = store.get_conversation(conversation_id)
            except LivechatError:
                continue
            if _holds_slot(conv, agent.email, offer_id):
                valid[conversation_id] = offer_id
        if valid == markers and int(agent.active) == len(valid):
            continue
        try:
            AgentModel(AGENT_PK, agent.email).update(
                actions=[AgentModel.active.set(len(valid)), AgentModel.slots.set(valid)],
                condition=(AgentModel.active == int(agent.active))
                & (AgentModel.slots == markers),
            )
        except Exception as exc:
            if getattr(exc, "cause_response_code", "") == "ConditionalCheckFailedException":
                continue  # the agent changed meanwhile: look again next minute
            raise
        logger.warning("agent counter repaired", agent=agent.email, active=int(agent.active),
                       slots=len(markers), now_active=len(valid))
        repaired.append(agent.email)
    return repaired
