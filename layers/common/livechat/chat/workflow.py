"""The offer workflow's tasks (statemachine/offer.asl.json runs them through route_chat).
Step Functions only keeps time: each task re-reads the conversation and decides with
conditional writes, so a retried task or a late one does no harm."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from aws_lambda_powertools import Logger

from livechat.chat import offers
from livechat.domain.clock import now, parse_iso
from livechat.domain.errors import NotFound, OfferExpired
from livechat.domain.routing import account_owner
from livechat.domain.routing import plan as routing_plan
from livechat.domain.snapshots import Conversation
from livechat.domain.states import Status
from livechat.domain.workspace import WorkspaceSettings
from livechat.outbound import timers
from livechat.outbound.delivery import Notifier
from livechat.outbound.frames import withdrawn_frame
from livechat.store import conversations

logger = Logger(child=True)

WAIT = "wait"
DONE = "done"
UNANSWERED = ("expired", "declined")


def _wait_until(deadline: str) -> dict[str, Any]:
    seconds = (parse_iso(deadline) - now()).total_seconds()
    return {"outcome": WAIT, "waitSeconds": max(0, math.ceil(seconds))}


def _done(*, final: bool = False) -> dict[str, Any]:
    """Nothing left for the timer. `final`: the request itself ended here (a fallback was
    given), as opposed to finding it already moved on by someone else."""
    return {"outcome": DONE, "waitSeconds": 0, **({"final": True} if final else {})}


def _stored(conversation_id: str) -> Conversation | None:
    """The conversation, or None when it is gone: erased (`livechat visitor erase`) while an
    execution still waited for the deadline of an offer that had been accepted."""
    try:
        return conversations.get(conversation_id)
    except NotFound:
        logger.info("conversation gone (erased); nothing to do", conversation_id=conversation_id)
        return None


def offer_task(conversation_id: str, notifier: Notifier, settings: WorkspaceSettings
               ) -> dict[str, Any]:
    conv = _stored(conversation_id)
    if conv is None:
        return _done()
    if conv.status == Status.ROUTING:
        if any(o.get("outcome") in UNANSWERED for o in conv.offers):
            # An offer of this request already ended unanswered (a decline that beat this
            # task): what follows is what a timeout does, whoever runs it first.
            return next_step(conv, notifier, settings)
        offers.route(conversation_id, notifier, settings, conversation=conv)
        conv = conversations.get(conversation_id)
    if conv.status == Status.OFFERED and conv.offer_expires_at:
        return _wait_until(conv.offer_expires_at)
    return _done()


def deadline_task(conversation_id: str, notifier: Notifier, settings: WorkspaceSettings
                  ) -> dict[str, Any]:
    for _ in range(3):
        conv = _stored(conversation_id)
        if conv is None:
            return _done()
        if conv.status == Status.ROUTING:
            return next_step(conv, notifier, settings)
        if conv.status != Status.OFFERED or not conv.offer_id or not conv.offer_expires_at:
            return _done()
        if parse_iso(conv.offer_expires_at) > now():
            return _wait_until(conv.offer_expires_at)  # a newer offer (after a decline)
        try:
            offers.withdraw(conversation_id, conv.offer_id, "expired")
        except OfferExpired:
            continue  # an accept or a decline won the race: look again
        if conv.offer_agent:
            notifier.offer_ended(conv.offer_agent, withdrawn_frame(conversation_id, conv.offer_id, "expired"),
                                 conversation_id=conversation_id, settings=settings)
        logger.info("offer expired", conversation_id=conversation_id, agent=conv.offer_agent)
        return next_step(conversations.get(conversation_id), notifier, settings)
    return _done()


def _card_offers(conv: Conversation, settings: WorkspaceSettings) -> list[Mapping[str, Any]]:
    """The offers the card's own routing made: not the account owner's (workspace.md: the
    card's routing runs "as before, without the owner")."""
    account = account_owner(settings.accounts_in_effect(), offers.attrs_of(conv))
    owner = account[1] if account else None
    return [o for o in conv.offers if o.get("agent") != owner]


def retries_left(conv: Conversation, settings: WorkspaceSettings) -> bool:
    """Team routing tries `team_retry_agents` more agents after the first one that did not
    answer; other modes go to the fallback."""
    card = offers.live_chat_card(conv)
    plan = routing_plan(card.routing, offers.attrs_of(conv), [])
    team_routed = bool(plan.pools) and plan.pools[0].name.startswith("team:")
    unanswered = sum(1 for o in _card_offers(conv, settings) if o["outcome"] in UNANSWERED)
    return team_routed and unanswered <= settings.team_retry_agents


def release_timer(conv: Conversation) -> None:
    """The request's offer was accepted, or withdrawn because the visitor left, or declined
    and the request fell back: its timer has nothing left to check. Called after the
    answers went out, since it changes no state (livechat.outbound.timers.stop)."""
    timers.stop(conv.conversation_id, conv.route_attempt)


def next_step(conv: Conversation, notifier: Notifier, settings: WorkspaceSettings) -> dict[str, Any]:
    """What follows an offer that ended unanswered (timeout or decline)."""
    if conv.status != Status.ROUTING:
        return _done()
    if not _card_offers(conv, settings):
        # Only the account's owner had an offer: the card's routing now runs as a first
        # offer would (the owner is in `tried`).
        outcome = offers.route(conv.conversation_id, notifier, settings, conversation=conv)
        if outcome.result == "offered":
            return offer_task(conv.conversation_id, notifier, settings)
        return _done(final=outcome.result == "fallback")
    if retries_left(conv, settings):
        outcome = offers.route(conv.conversation_id, notifier, settings, conversation=conv,
                               no_agent_reason="not_accepted", first_pool_only=True)
        if outcome.result == "offered":
            return offer_task(conv.conversation_id, notifier, settings)
        return _done(final=outcome.result == "fallback")
    return _done(final=offers.fallback(conv.conversation_id, "not_accepted", notifier, settings).result == "fallback")


def rescue_task(conversation_id: str, notifier: Notifier, settings: WorkspaceSettings,
                error: Any) -> dict[str, Any]:
    """A task failed for good: end any open offer and give the visitor the fallback."""
    logger.error("offer workflow failed; rescuing", conversation_id=conversation_id, error=error)
    conv = _stored(conversation_id)
    if conv is None:
        return _done()
    if conv.status == Status.OFFERED and conv.offer_id:
        try:
            offers.withdraw(conversation_id, conv.offer_id, "expired")
            if conv.offer_agent:
                notifier.offer_ended(conv.offer_agent, withdrawn_frame(conversation_id, conv.offer_id, "expired"),
                                     conversation_id=conversation_id, settings=settings)
        except OfferExpired:
            pass
        conv = conversations.get(conversation_id)
    if conv.status == Status.ROUTING:
        offers.fallback(conversation_id, "not_accepted", notifier, settings)
    return _done()
