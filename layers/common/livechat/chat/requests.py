"""A visitor asks for an agent: the request (automated → routing), its first offer or its
fallback, and whether anyone could take a chat now."""

from __future__ import annotations

from functools import partial

from aws_lambda_powertools import Logger

from livechat.chat import offers, quota
from livechat.domain import routing, transitions
from livechat.domain.clock import now_iso
from livechat.domain.errors import AlreadyRequested, BadRequest
from livechat.domain.snapshots import Conversation
from livechat.domain.states import Status
from livechat.domain.workspace import LiveChatCard, WorkspaceSettings
from livechat.outbound import timers
from livechat.outbound.delivery import Notifier
from livechat.store import agents, catalog, conversations, transaction

logger = Logger(child=True)


def live_chat_card(dialog_id: str, card_id: str) -> LiveChatCard:
    card = catalog.get_dialog(dialog_id).live_chat_card(card_id)
    if card is None:
        raise BadRequest(f"cardId: {card_id!r} is not a live chat card of this dialog")
    return card


def request_chat(conv: Conversation, card_id: str, notifier: Notifier, *,
                 visitor_connections: frozenset[str] | None = None) -> None:
    """The answer (`routing`, or the `fallback` when it cannot be routed at all) and the
    first offer, committed together with the request. A retried or concurrent request is
    answered `routing` again, and routes a request that was moved to routing but never
    offered (an earlier release moved it first; or its first router died in between)."""
    card = live_chat_card(conv.dialog_id, card_id)
    try:
        _request(conv, card, notifier, visitor_connections)
    except AlreadyRequested:
        notifier.reply({"type": "routing", "conversationId": conv.conversation_id})
        current = conversations.get(conv.conversation_id)
        if current.status == Status.ROUTING and not current.offers:
            # If the first is only running late, one of the two routers binds the offer
            # and the other stops.
            settings = catalog.get_workspace_settings()
            if quota.reached(settings):
                offers.fallback(conv.conversation_id, "quota_reached", notifier, settings,
                                target="engagement quota")
            else:
                _first_offer(current, card, notifier, settings)


def _request(conv: Conversation, card: LiveChatCard, notifier: Notifier,
             visitor_connections: frozenset[str] | None) -> None:
    if conv.status in (Status.ROUTING, Status.OFFERED):
        raise AlreadyRequested(conv.status)
    transitions.request_chat(conv, card.id, now_iso())  # a chat over or never requested: Conflict
    # One line per request: the template's metric filter counts them (ChatsRequested), the
    # denominator of the fallback rate on the dashboard.
    logger.info("chat requested", conversation_id=conv.conversation_id, card_id=card.id)
    settings = catalog.get_workspace_settings()
    to_routing = partial(transitions.request_chat, card_id=card.id, at=now_iso())
    if quota.reached(settings):
        transaction.apply(conv.conversation_id, partial(to_routing, with_event=False), conversation=conv,
                          retention_days=settings.retention_days)
        offers.fallback(conv.conversation_id, "quota_reached", notifier, settings, target="engagement quota")
        return
    roster = agents.roster()
    everyone = roster[0]
    plan = routing.plan(card.routing, offers.attrs_of(conv), everyone, settings.accounts_in_effect())
    if not routing.anyone_eligible(plan, {a.email: a for a in everyone}, set()):
        # Nobody can take it: the conversation goes straight to the fallback, whose event
        # is the answer.
        transaction.apply(conv.conversation_id, partial(to_routing, with_event=False), conversation=conv,
                          retention_days=settings.retention_days)
        reason = "no_rule_matched" if plan.no_rule_matched else "no_agent"
        offers.fallback(conv.conversation_id, reason, notifier, settings, target=plan.target)
        return
    # One transaction: automated → offered, the agent's slot, the round-robin ticket.
    outcome = offers.route(conv.conversation_id, notifier, settings, conversation=conv, roster=roster, card=card,
                           request_card=card.id, visitor_connections=visitor_connections)
    if outcome.result == "offered":
        timers.start(conv.conversation_id, conv.route_attempt + 1, wait_seconds=settings.accept_timeout_seconds)


def _first_offer(conv: Conversation, card: LiveChatCard, notifier: Notifier, settings: WorkspaceSettings) -> None:
    """The first offer of a request that is routing but was never offered (or its
    fallback). Made here rather than by the workflow, so the agent's banner does not wait
    for an execution to start; the workflow, started after it, only keeps its time."""
    outcome = offers.route(conv.conversation_id, notifier, settings, conversation=conv, card=card)
    if outcome.result == "offered":
        timers.start(conv.conversation_id, conv.route_attempt, wait_seconds=settings.accept_timeout_seconds)


def available(dialog_id: str, card_id: str) -> bool:
    """protocol.md: someone could take a chat now (every mode falls back to round-robin
    over all available agents), and the quota is not reached."""
    live_chat_card(dialog_id, card_id)
    if quota.reached(catalog.get_workspace_settings()):
        return False
    return any(routing.is_eligible(a) for a in agents.list_agents())
