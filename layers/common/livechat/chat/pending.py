"""An agent's pending offers (listOffers): the offers still open to them and not past their
deadline, oldest first.

No index and no scan: an agent's open offers are the slot markers on their row
(`slots[conversation] = offer id`, claimed in the offer's own transaction, see
livechat.store.agents), so one GetItem of the agent and one per marker. A marker also stands
for an accepted chat, and may briefly outlive an offer that ended, so each conversation
says whether its offer is still the open one. Going away or disconnecting ends no offer
(spec/protocol.md "Pending offers"): nothing here looks at status or connections.
"""

from __future__ import annotations

from livechat.domain.clock import iso, now
from livechat.domain.errors import NotFound
from livechat.domain.snapshots import Conversation
from livechat.domain.states import Status
from livechat.outbound.frames import PendingOffer
from livechat.store import agents, conversations


def is_open_offer(conv: Conversation, offer_id: str, email: str, moment: str) -> bool:
    """This offer to this agent is the conversation's current one and unexpired: the same
    test accept makes (livechat.domain.transitions.accept), so a listed offer can be taken."""
    return (conv.status == Status.OFFERED and conv.offer_id == offer_id
            and conv.offer_agent == email
            and conv.offer_expires_at is not None and conv.offer_expires_at > moment)


def offered_at(conv: Conversation, offer_id: str) -> str:
    """When the offer was made (its entry in the conversation's offer history)."""
    index = conv.offer_index(offer_id)
    return str(conv.offers[index].get("at") or "") if index is not None else ""


def open_offers(email: str, accept_timeout_seconds: int) -> tuple[list[PendingOffer], str]:
    """This agent's open offers, oldest first, and the server time they were judged at."""
    agent = agents.get_agent(email)
    moment = iso(now())
    found: list[tuple[str, str, Conversation, str]] = []
    for conversation_id, offer_id in agent.slots.items():
        try:
            conv = conversations.get(conversation_id)
        except NotFound:
            continue
        if is_open_offer(conv, offer_id, email, moment):
            found.append((offered_at(conv, offer_id), conversation_id, conv, offer_id))
    found.sort(key=lambda f: (f[0], f[1]))
    items = [
        PendingOffer(conversationId=conversation_id, offerId=offer_id, visitor=dict(conv.visitor),
                     page=dict(conv.page), expiresAt=conv.offer_expires_at or "",
                     acceptTimeoutSeconds=accept_timeout_seconds)
        for _, conversation_id, conv, offer_id in found
    ]
    return items, moment
