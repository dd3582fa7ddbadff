"""Routing a chat request to an agent: offer, accept, decline, withdraw, fallback.

Each step is one transaction in livechat.store: an offer claims the agent's slot and binds
the offer to the conversation together (so a crash between them cannot leak a slot);
accept is conditional on the offer still being the current one; decline and withdraw
release the slot in the same transaction that ends the offer.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from aws_lambda_powertools import Logger

from livechat.api.protocol import ChatOfferedEvent, OfferWithdrawnEvent
from livechat.chat import quota
from livechat.domain import routing, states
from livechat.domain.clock import iso, new_id, now, now_iso, parse_iso
from livechat.domain.errors import Conflict, LivechatError, NotFound, OfferExpired
from livechat.domain.rules import visitor_attributes
from livechat.domain.workspace import LiveChatCard, WorkspaceSettings
from livechat.outbound import failures
from livechat.outbound.delivery import Notifier
from livechat.outbound.frames import frame_of
from livechat.store import agents, catalog, counters
from livechat.store import transaction as store
from livechat.store.tables import AgentModel, ConversationModel, inbox_pk, plain
from livechat.store.transaction import Change, ExtraWrite, NewEvent

logger = Logger(child=True)


class AgentUnavailable(LivechatError):
    """The agent's slot could not be claimed (full, away, disconnected): try the next."""

    code = "CONFLICT"


class NotRouting(LivechatError):
    """The conversation is no longer waiting for an agent (another router, the visitor
    left): this router stops."""

    code = "CONFLICT"


@dataclass(frozen=True)
class Outcome:
    result: str  # offered | fallback | stopped
    agent: str | None = None
    offer_id: str | None = None
    reason: str | None = None
    target: str = ""


# How long after a deadline the sweeper steps in for a workflow that did not.
SWEEP_GRACE_SECONDS = 20


def sweep_deadline(moment: str) -> str:
    return iso(parse_iso(moment) + timedelta(seconds=SWEEP_GRACE_SECONDS))


def live_chat_card(conv: ConversationModel, card_id: str | None = None) -> LiveChatCard:
    dialog = catalog.get_dialog(conv.dialog_id)
    card = dialog.live_chat_card(card_id or conv.card_id or "")
    if card is None:
        raise NotFound(f"card {card_id or conv.card_id} is not a live chat card of this dialog")
    return card


def attrs_of(conv: ConversationModel) -> dict[str, str]:
    return visitor_attributes(plain(conv.visitor) or {}, plain(conv.page) or {})


def route(
    conversation_id: str,
    notifier: Notifier,
    settings: WorkspaceSettings,
    *,
    conversation: ConversationModel | None = None,
    agent_list: list[AgentModel] | None = None,
    card: LiveChatCard | None = None,
    no_agent_reason: str = "no_agent",
    first_pool_only: bool = False,
) -> Outcome:
    """Offer a conversation that is `routing` to the next agent who can take it, or give
    the visitor the fallback. Safe to run twice: only one router can bind an offer."""
    conv = conversation or store.get_conversation(conversation_id)
    if conv.status != states.ROUTING:
        return Outcome("stopped")
    card = card or live_chat_card(conv)
    everyone = agent_list if agent_list is not None else agents.list_agents()
    by_email = {a.email: a for a in everyone}
    plan = routing.plan(card.routing, attrs_of(conv), everyone)
    if plan.no_rule_matched:
        return fallback(conversation_id, "no_rule_matched", notifier, settings, target=plan.target)
    tried = set(conv.tried or ())
    # A team retry stays inside the team; a first offer may fall back to everyone.
    for pool in plan.pools[:1] if first_pool_only else plan.pools:
        candidates = routing.eligible(pool, by_email, tried)
        if not candidates:
            continue
        if pool.cursor is not None:
            candidates = routing.rotate(candidates, counters.next_ticket(pool.cursor))
        for agent in candidates:
            try:
                offer_id, expires_at = _offer(conversation_id, agent.email, settings, conv)
            except AgentUnavailable:
                continue
            except NotRouting:
                return Outcome("stopped")
            frame = ChatOfferedEvent(
                conversationId=conversation_id,
                offerId=offer_id,
                visitor=plain(conv.visitor) or {},
                page=plain(conv.page) or {},
                expiresAt=expires_at,
                acceptTimeoutSeconds=settings.accept_timeout_seconds,
            ).wire()
            if notifier.to_agent(agent.email, frame, connections=agent.connections or set()):
                logger.info("chat offered", conversation_id=conversation_id, agent=agent.email,
                            target=plan.target)
                return Outcome("offered", agent.email, offer_id, target=plan.target)
            # Every connection answered 410 Gone: the agent is not there. Move on now.
            logger.info("offer unreachable", conversation_id=conversation_id, agent=agent.email)
            withdraw(conversation_id, offer_id, "unreachable")
            tried.add(agent.email)
    return fallback(conversation_id, no_agent_reason, notifier, settings, target=plan.target)


def _offer(conversation_id: str, email: str, settings: WorkspaceSettings,
           conv: ConversationModel) -> tuple[str, str]:
    offer_id = new_id()
    at = now()
    expires_at = iso(at + timedelta(seconds=settings.accept_timeout_seconds))
    slot = agents.acquire(conversation_id, offer_id)

    def plan(conv: ConversationModel) -> Change:
        if conv.status != states.ROUTING:
            raise NotRouting("conversation is not waiting for an agent")
        if email in (conv.tried or set()):
            raise AgentUnavailable("agent already tried")
        history = {"offerId": offer_id, "agent": email, "at": iso(at), "outcome": "pending"}
        return Change(
            actions=[
                ConversationModel.status.set(states.OFFERED),
                ConversationModel.offer_id.set(offer_id),
                ConversationModel.offer_agent.set(email),
                ConversationModel.offer_expires_at.set(expires_at),
                ConversationModel.sweep_at.set(sweep_deadline(expires_at)),
                ConversationModel.offers.set(ConversationModel.offers.append([history])),
            ],
            condition=ConversationModel.status == states.ROUTING,
            extra=[
                ExtraWrite(agents.handle(email), slot.actions, slot.condition,
                           lambda: AgentUnavailable(f"agent {email} cannot take the chat"))
            ],
        )

    # The conversation read by the router is the one planned on; if it changed meanwhile,
    # the transaction's guard fails and store.apply plans again on a fresh read.
    store.apply(conversation_id, plan, conversation=conv)
    return offer_id, expires_at


def _end_offer(conv: ConversationModel, offer_id: str, outcome: str) -> list[object]:
    """Actions that end the current offer and put the conversation back to routing."""
    index = next(
        (i for i, o in enumerate(conv.offers or []) if o.get("offerId") == offer_id), None
    )
    actions: list[object] = [
        ConversationModel.status.set(states.ROUTING),
        ConversationModel.offer_id.remove(),
        ConversationModel.offer_expires_at.remove(),
        ConversationModel.sweep_at.set(sweep_deadline(now_iso())),
        ConversationModel.tried.add({conv.offer_agent or ""}),
    ]
    if index is not None:
        actions.append(ConversationModel.offers[index]["outcome"].set(outcome))
    return actions


def _offer_is_current(offer_id: str, agent: str | None = None) -> object:
    cond = (ConversationModel.status == states.OFFERED) & (ConversationModel.offer_id == offer_id)
    if agent is not None:
        cond = cond & (ConversationModel.offer_agent == agent)
    return cond


def withdraw(conversation_id: str, offer_id: str, outcome: str, *, agent: str | None = None
             ) -> ConversationModel:
    """End an offer (declined, expired, unreachable) and release its slot atomically.
    Raises OfferExpired when that offer is no longer the current one."""

    def plan(conv: ConversationModel) -> Change:
        if conv.status != states.OFFERED or conv.offer_id != offer_id or (
            agent is not None and conv.offer_agent != agent
        ):
            raise OfferExpired("this offer is no longer open")
        email = conv.offer_agent or ""
        release = agents.release(conversation_id, offer_id)
        return Change(
            actions=_end_offer(conv, offer_id, outcome),  # type: ignore[arg-type]
            condition=_offer_is_current(offer_id, agent),  # type: ignore[arg-type]
            extra=[ExtraWrite(agents.handle(email), release.actions, release.condition,
                              lambda: Conflict("the offer's slot is not held"))],
        )

    return store.apply(conversation_id, plan).conversation


def decline(conversation_id: str, offer_id: str, email: str) -> ConversationModel:
    try:
        return withdraw(conversation_id, offer_id, "declined", agent=email)
    except OfferExpired:
        conv = store.get_conversation(conversation_id)
        if any(o.get("offerId") == offer_id and o.get("agent") == email
               and o.get("outcome") == "declined" for o in conv.offers or []):
            # A retried decline: the first one committed and its invocation may have died
            # before the next step, which the caller now runs (it does nothing if done).
            return conv
        _check_offer_owner(conversation_id, offer_id, email)
        raise


def _check_offer_owner(conversation_id: str, offer_id: str, email: str) -> None:
    """Someone else's offer looks exactly like a missing one (protocol: NOT_FOUND)."""
    conv = store.get_conversation(conversation_id)
    for offer in conv.offers or []:
        if offer.get("offerId") == offer_id and offer.get("agent") == email:
            return
    raise NotFound(f"offer {offer_id} not found")


def accept(conversation_id: str, offer_id: str, agent: AgentModel, notifier: Notifier,
           settings: WorkspaceSettings) -> store.Applied:
    """Offered → active, only if this offer is still current and unexpired: one
    condition, so an accept racing a decline, a timeout or another router has exactly one
    outcome."""
    email = agent.email
    at = now_iso()
    joined = {"name": agent.name, "avatarUrl": agent.avatar_url or ""}

    def plan(conv: ConversationModel) -> Change:
        if conv.status != states.OFFERED or conv.offer_id != offer_id or conv.offer_agent != email:
            raise OfferExpired("this offer is no longer open")
        if conv.offer_expires_at and conv.offer_expires_at <= at:
            raise OfferExpired("this offer expired")
        index = next(i for i, o in enumerate(conv.offers or []) if o.get("offerId") == offer_id)
        return Change(
            events=[NewEvent("system", "agentJoined", "system",
                             text=f"{agent.name} joined the chat", data={"agent": joined},
                             activity=True)],
            actions=[
                ConversationModel.status.set(states.ACTIVE),
                ConversationModel.kind.set(states.LIVE_KIND),
                ConversationModel.agent.set(email),
                ConversationModel.agent_name.set(agent.name),
                ConversationModel.agent_avatar.set(agent.avatar_url or ""),
                ConversationModel.accepted_at.set(at),
                ConversationModel.live_activity_at.set(at),
                ConversationModel.offer_expires_at.remove(),
                ConversationModel.sweep_at.remove(),
                ConversationModel.offers[index]["outcome"].set("accepted"),
                ConversationModel.gsi2pk.set(inbox_pk(email)),
                ConversationModel.gsi2sk.set(f"{at}#{conversation_id}"),
            ],
            condition=_offer_is_current(offer_id, email)
            & (ConversationModel.offer_expires_at > at),
            extra=[quota.count_engagement(settings)],
        )

    try:
        applied = store.apply(conversation_id, plan)
    except OfferExpired:
        again = _accepted_already(conversation_id, offer_id, email)
        if again is not None:
            # A retried accept: the first one committed and its invocation died before
            # answering. The agent gets the chat they accepted, not an error.
            quota.after_engagement(settings)  # mails at most once per threshold anyway
            return again
        _check_offer_owner(conversation_id, offer_id, email)
        raise
    except quota.QuotaReached:
        # The last engagement went to another chat: this visitor gets the global fallback,
        # never a half-joined chat.
        try:
            withdraw(conversation_id, offer_id, "quota_reached", agent=email)
        except OfferExpired:
            raise OfferExpired("this offer is no longer open") from None
        notifier.to_agent(email, withdrawn_frame(conversation_id, offer_id, "expired"))
        fallback(conversation_id, "quota_reached", notifier, settings)
        raise
    quota.after_engagement(settings)
    return applied


def _accepted_already(conversation_id: str, offer_id: str, email: str) -> store.Applied | None:
    """This agent's accept of this offer, if it committed and the chat is still live."""
    conv = store.get_conversation(conversation_id)
    if conv.status != states.ACTIVE or conv.offer_id != offer_id or conv.agent != email:
        return None
    joined = [e for e in store.events_after(conversation_id, 0) if e.type == "agentJoined"]
    return store.Applied(conv, joined[-1:]) if joined else None


def fallback(
    conversation_id: str,
    reason: str,
    notifier: Notifier,
    settings: WorkspaceSettings,
    *,
    target: str = "",
    from_status: str = states.ROUTING,
) -> Outcome:
    """Give the visitor the fallback message: routing (or automated) → fallback, once."""
    message = (
        settings.global_fallback_message if reason == "quota_reached" else settings.fallback_message
    )

    def plan(conv: ConversationModel) -> Change:
        if conv.status != from_status:
            raise NotRouting("conversation is not waiting for an agent")
        return Change(
            events=[NewEvent("system", "fallback", "system", text=message,
                             data={"reason": reason, "message": message})],
            actions=[
                ConversationModel.status.set(states.FALLBACK),
                ConversationModel.kind.set(states.LIVE_KIND),
                ConversationModel.fallback_reason.set(reason),
                ConversationModel.ended_at.set(now_iso()),
                ConversationModel.sweep_at.remove(),
            ],
            condition=ConversationModel.status == from_status,
        )

    try:
        applied = store.apply(conversation_id, plan)
    except NotRouting:
        return Outcome("stopped")
    notifier.to_visitor(applied.conversation.visitor_id, frame_of(conversation_id, applied.events[0]))
    logger.info("chat fallback", conversation_id=conversation_id, reason=reason, target=target)
    failures.report(failures.failed_action(failures.LIVE_CHAT, reason,
                                           conversation_id=conversation_id))
    return Outcome("fallback", reason=reason, target=target)


def withdrawn_frame(conversation_id: str, offer_id: str, reason: str) -> dict[str, object]:
    return OfferWithdrawnEvent(conversationId=conversation_id, offerId=offer_id,
                               reason=reason).wire()
