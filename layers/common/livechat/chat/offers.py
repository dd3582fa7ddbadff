"""Routing a chat request to an agent: offer, accept, decline, withdraw, fallback.

Each step is one transition of livechat.domain.transitions committed by
livechat.store.transaction: an offer claims the agent's slot and binds the offer to the
conversation together; accept is conditional on the offer still being the current one;
decline and withdraw release the slot in the same transaction that ends the offer.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import timedelta
from functools import partial

from aws_lambda_powertools import Logger

from livechat.chat import quota
from livechat.domain import routing, transitions
from livechat.domain.change import Change, CursorStep
from livechat.domain.clock import iso, new_id, now, now_iso
from livechat.domain.errors import (
    AgentUnavailable,
    CursorMoved,
    NotFound,
    NotRouting,
    OfferExpired,
    QuotaReached,
)
from livechat.domain.rules import visitor_attributes
from livechat.domain.snapshots import Agent, Conversation
from livechat.domain.states import Status
from livechat.domain.workspace import LiveChatCard, WorkspaceSettings
from livechat.outbound import failures
from livechat.outbound.delivery import Notifier
from livechat.outbound.frames import ChatOfferedEvent, frame_of, withdrawn_frame
from livechat.store import agents, catalog, conversations, cursors, transaction
from livechat.store.transaction import Applied

logger = Logger(child=True)


@dataclass(frozen=True)
class Outcome:
    result: str  # offered | fallback | stopped
    agent: str | None = None
    offer_id: str | None = None
    reason: str | None = None
    target: str = ""


def live_chat_card(conv: Conversation, card_id: str | None = None) -> LiveChatCard:
    dialog = catalog.get_dialog(conv.dialog_id)
    card = dialog.live_chat_card(card_id or conv.card_id or "")
    if card is None:
        raise NotFound(f"card {card_id or conv.card_id} is not a live chat card of this dialog")
    return card


def attrs_of(conv: Conversation) -> dict[str, str]:
    return visitor_attributes(conv.visitor, conv.page)


def route(
    conversation_id: str,
    notifier: Notifier,
    settings: WorkspaceSettings,
    *,
    conversation: Conversation | None = None,
    roster: tuple[list[Agent], dict[str, int]] | None = None,
    card: LiveChatCard | None = None,
    no_agent_reason: str = "no_agent",
    first_pool_only: bool = False,
    request_card: str | None = None,
    visitor_connections: frozenset[str] | None = None,
) -> Outcome:
    """Offer a conversation that is `routing` to the next agent who can take it, or give
    the visitor the fallback. Safe to run twice: only one router can bind an offer.
    With `request_card`, the conversation is still automated: the request and its first
    offer commit in one transaction (its `routing` event goes to the visitor's
    `visitor_connections`), with the round-robin cursor's move."""
    conv = conversation or conversations.get(conversation_id)
    if conv.status != (Status.AUTOMATED if request_card is not None else Status.ROUTING):
        return Outcome("stopped")
    return _route(conv, notifier, settings, roster or agents.roster(), card or live_chat_card(conv),
                  no_agent_reason=no_agent_reason, first_pool_only=first_pool_only,
                  request_card=request_card, visitor_connections=visitor_connections)


def _rotated(pool: routing.Pool, candidates: list[Agent], tickets: dict[str, int]
             ) -> tuple[list[Agent], CursorStep | None]:
    """The candidates from the pool's next ticket on, and the cursor's move that takes it
    in the offer's transaction (none for a pool without a cursor)."""
    if pool.cursor is None:
        return candidates, None
    read = tickets.get(pool.cursor, 0)
    return (routing.rotate(candidates, read + 1),
            CursorStep(pool.cursor, read, lambda: CursorMoved("the round-robin cursor moved")))


def _route(conv: Conversation, notifier: Notifier, settings: WorkspaceSettings,
           roster: tuple[list[Agent], dict[str, int]], card: LiveChatCard, *, no_agent_reason: str,
           first_pool_only: bool, request_card: str | None,
           visitor_connections: frozenset[str] | None) -> Outcome:
    conversation_id = conv.conversation_id
    everyone, tickets = roster
    by_email = {a.email: a for a in everyone}
    plan = routing.plan(card.routing, attrs_of(conv), everyone, settings.accounts_in_effect())
    tried = set(conv.tried)
    current: Conversation | None = conv
    # A team retry stays inside the team; a first offer may fall back to everyone.
    for pool in routing.card_pools(plan)[:1] if first_pool_only else plan.pools:
        candidates = routing.eligible(pool, by_email, tried)
        if not candidates:
            continue
        queue, step = _rotated(pool, candidates, tickets)
        while queue:
            agent = queue.pop(0)
            try:
                applied, offer_id, expires_at = _offer(conversation_id, agent, settings, current,
                                                       cursor=step, request_card=request_card)
            except AgentUnavailable:
                continue
            except CursorMoved:
                # Another router took the ticket this rotation was planned on. Take one of
                # our own with an atomic ADD (distinct and consecutive whoever wins, as
                # fair as the conditioned move) and rotate the same candidates by it.
                assert pool.cursor is not None
                queue, step = routing.rotate(candidates, cursors.take(pool.cursor)), None
                continue
            except NotRouting:
                return Outcome("stopped")
            if request_card is not None:
                notifier.to_visitor(conv.visitor_id, frame_of(conversation_id, applied.events[0]),
                                    connections=visitor_connections)
            # Committed: the request is made, the ticket taken; what follows is a plain offer.
            request_card, step, current = None, None, None
            frame = ChatOfferedEvent(
                conversationId=conversation_id, offerId=offer_id, visitor=dict(conv.visitor),
                page=dict(conv.page), expiresAt=expires_at,
                acceptTimeoutSeconds=settings.accept_timeout_seconds,
            ).wire()
            if notifier.offer(agent, frame, conversation_id=conversation_id,
                              ttl=settings.accept_timeout_seconds, settings=settings):
                logger.info("chat offered", conversation_id=conversation_id, agent=agent.email,
                            target=plan.target)
                return Outcome("offered", agent.email, offer_id, target=plan.target)
            # Every connection answered 410 Gone and every push was refused: the agent is
            # not there. Move on now.
            logger.info("offer unreachable", conversation_id=conversation_id, agent=agent.email)
            withdraw(conversation_id, offer_id, "unreachable")
            tried.add(agent.email)
    if request_card is not None:
        # Nothing committed: the request is stored without its event, the fallback answers.
        transaction.apply(conversation_id, partial(transitions.request_chat, card_id=request_card, at=now_iso(),
                                                   with_event=False),
                          retention_days=settings.retention_days)
    reason = "no_rule_matched" if plan.no_rule_matched else no_agent_reason
    return fallback(conversation_id, reason, notifier, settings, target=plan.target)


def _offer(conversation_id: str, agent: Agent, settings: WorkspaceSettings, conv: Conversation | None, *,
           cursor: CursorStep | None, request_card: str | None) -> tuple[Applied, str, str]:
    offer_id = new_id()
    at = now()
    expires_at = iso(at + timedelta(seconds=settings.accept_timeout_seconds))
    # The conversation read by the router is the one planned on; if it changed meanwhile,
    # the transaction's guard fails and apply plans again on a fresh read.
    if request_card is not None:
        plan = partial(transitions.request_and_offer, card_id=request_card, agent=agent, offer_id=offer_id,
                       at=iso(at), expires_at=expires_at)
    else:
        plan = partial(transitions.offer, agent=agent, offer_id=offer_id, at=iso(at), expires_at=expires_at)
    with_cursor = plan if cursor is None else _with_cursor(plan, cursor)
    applied = transaction.apply(conversation_id, with_cursor, conversation=conv,
                                retention_days=settings.retention_days)
    return applied, offer_id, expires_at


def _with_cursor(plan: Callable[[Conversation], Change], cursor: CursorStep) -> Callable[[Conversation], Change]:
    return lambda conv: replace(plan(conv), cursor=cursor)


def withdraw(conversation_id: str, offer_id: str, outcome: str, *, agent: str | None = None
             ) -> Conversation:
    """End an offer (declined, expired, unreachable) and release its slot atomically.
    Raises OfferExpired when that offer is no longer the current one."""
    return transaction.apply(conversation_id, partial(transitions.end_offer, offer_id=offer_id, outcome=outcome,
                                          at=now_iso(), agent=agent)).conversation


def decline(conversation_id: str, offer_id: str, email: str) -> Conversation:
    try:
        return withdraw(conversation_id, offer_id, "declined", agent=email)
    except OfferExpired:
        conv = conversations.get(conversation_id)
        if any(o.get("offerId") == offer_id and o.get("agent") == email
               and o.get("outcome") == "declined" for o in conv.offers):
            # A retried decline: the first one committed and its invocation may have died
            # before the next step, which the caller now runs (it does nothing if done).
            return conv
        _check_offer_owner(conv, offer_id, email)
        raise


def _check_offer_owner(conv: Conversation, offer_id: str, email: str) -> None:
    """Someone else's offer looks exactly like a missing one (protocol: NOT_FOUND)."""
    if not any(o.get("offerId") == offer_id and o.get("agent") == email for o in conv.offers):
        raise NotFound(f"offer {offer_id} not found")


def accept(conversation_id: str, offer_id: str, agent: Agent, notifier: Notifier,
           settings: WorkspaceSettings, *, conversation: Conversation | None = None,
           connection_id: str | None = None) -> Applied:
    """Offered → active, only if this offer is still current and unexpired. The accepting
    `connection_id` joins the conversation's mirror of the agent's connections."""
    try:
        applied = transaction.apply(conversation_id, partial(transitions.accept, offer_id=offer_id, agent=agent,
                                                 at=now_iso(), engagement_limit=quota.limit_of(settings),
                                                 connection_id=connection_id),
                                    conversation=conversation, retention_days=settings.retention_days)
    except OfferExpired:
        again = _accepted_already(conversation_id, offer_id, agent.email)
        if again is not None:
            # A retried accept: the first one committed and its invocation died before
            # answering. The agent gets the chat they accepted, not an error.
            quota.after_engagement(settings)  # mails at most once per threshold anyway
            return again
        _check_offer_owner(conversations.get(conversation_id), offer_id, agent.email)
        raise
    except QuotaReached:
        # The last engagement went to another chat: this visitor gets the global fallback,
        # never a half-joined chat.
        try:
            withdraw(conversation_id, offer_id, "quota_reached", agent=agent.email)
        except OfferExpired:
            raise OfferExpired("this offer is no longer open") from None
        notifier.to_agent(agent.email, withdrawn_frame(conversation_id, offer_id, "expired"))
        fallback(conversation_id, "quota_reached", notifier, settings)
        raise
    quota.after_engagement(settings)
    return applied


def _accepted_already(conversation_id: str, offer_id: str, email: str) -> Applied | None:
    """This agent's accept of this offer, if it committed and the chat is still live."""
    conv = conversations.get(conversation_id)
    if conv.status != Status.ACTIVE or conv.offer_id != offer_id or conv.agent != email:
        return None
    joined = [e for e in conversations.events_after(conversation_id, 0) if e.type == "agentJoined"]
    return Applied(conv, joined[-1:]) if joined else None


def fallback(conversation_id: str, reason: str, notifier: Notifier, settings: WorkspaceSettings, *,
             target: str = "", from_status: Status = Status.ROUTING) -> Outcome:
    """Give the visitor the fallback message: routing (or automated) → fallback, once."""
    message = settings.global_fallback_message if reason == "quota_reached" else settings.fallback_message
    try:
        applied = transaction.apply(conversation_id, partial(transitions.fall_back, reason=reason, message=message,
                                                 at=now_iso(), from_status=from_status),
                                    retention_days=settings.retention_days)
    except NotRouting:
        return Outcome("stopped")
    notifier.to_visitor(applied.conversation.visitor_id, frame_of(conversation_id, applied.events[0]))
    logger.info("chat fallback", conversation_id=conversation_id, reason=reason, target=target)
    failures.report(failures.failed_action(failures.LIVE_CHAT, reason, conversation_id=conversation_id))
    return Outcome("fallback", reason=reason, target=target)
