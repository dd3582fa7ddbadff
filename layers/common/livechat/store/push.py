"""Agents' Web Push subscriptions (spec/protocol.md "Second round": Web Push).

Two items per endpoint, always written together in one transaction:
- `PUSH#<agent>` / `<sha256(endpoint)>`: the subscription (endpoint and keys), so an agent's
  subscriptions are one Query;
- `PUSHEP#<sha256(endpoint)>` / `OWNER`: the one agent the endpoint belongs to.
Subscribing an endpoint another agent holds moves it: the owner item changes hands on the
condition that it still names the owner just read, in the same transaction that deletes
the old agent's item and writes the new one; a concurrent change makes the condition fail
and the move is planned again from a fresh read.

The agent item's `push_subscriptions` counts them, changed in the same transactions (and
only when the owner changes), so the slot claim can read "reachable" off the agent item
(livechat.store.agents.claim) and the count is exact whatever runs at once.
"""

from __future__ import annotations

from dataclasses import dataclass

from pynamodb.expressions.condition import Condition
from pynamodb.transactions import TransactWrite

from livechat.domain.errors import Conflict
from livechat.domain.push import endpoint_hash
from livechat.store import tables
from livechat.store.keys import AGENT_PK, PUSH_OWNER_SK, push_endpoint_pk, push_pk
from livechat.store.tables import AgentModel, PushOwnerModel, PushSubscriptionModel
from livechat.store.transaction import commit_unless_moved, connection

MAX_ATTEMPTS = 8


@dataclass(frozen=True)
class PushSubscription:
    agent: str
    endpoint: str
    p256dh: str
    auth: str
    created_at: str


def owner_of(endpoint: str) -> str | None:
    tables.bind()
    try:
        item = PushOwnerModel.get(push_endpoint_pk(endpoint_hash(endpoint)), PUSH_OWNER_SK,
                                  consistent_read=True)
    except PushOwnerModel.DoesNotExist:
        return None
    return item.agent


def subscriptions(agent: str) -> list[PushSubscription]:
    """An agent's subscriptions (one Query), in hash order."""
    tables.bind()
    return [PushSubscription(agent, item.endpoint, item.p256dh, item.auth, item.created_at)
            for item in PushSubscriptionModel.query(push_pk(agent), consistent_read=True)]


def subscribe(agent: str, endpoint: str, p256dh: str, auth: str, at: str) -> None:
    """Store (or refresh the keys of) `endpoint` for `agent`, moving it from any other agent."""
    digest = endpoint_hash(endpoint)
    for _ in range(MAX_ATTEMPTS):
        previous = owner_of(endpoint)
        owner = PushOwnerModel(push_endpoint_pk(digest), PUSH_OWNER_SK, agent=agent)
        guard: Condition = (PushOwnerModel.pk.does_not_exist() if previous is None
                            else PushOwnerModel.agent == previous)
        tx = TransactWrite(connection=connection())
        tx.save(owner, condition=guard)
        tx.save(PushSubscriptionModel(push_pk(agent), digest, endpoint=endpoint, p256dh=p256dh,
                                      auth=auth, created_at=at))
        if previous != agent:
            _count(tx, agent, +1)
        if previous is not None and previous != agent:
            tx.delete(PushSubscriptionModel(push_pk(previous), digest))
            _count(tx, previous, -1)
        if commit_unless_moved(tx):
            return
        # the owner changed under us: read it again
    raise Conflict("the push subscription is busy; try again")


def unsubscribe(agent: str, endpoint: str) -> bool:
    """Forget `endpoint` if `agent` holds it; another agent's subscription is untouched.
    True when something was deleted."""
    digest = endpoint_hash(endpoint)
    for _ in range(MAX_ATTEMPTS):
        if owner_of(endpoint) != agent:
            return False
        tx = TransactWrite(connection=connection())
        tx.delete(PushOwnerModel(push_endpoint_pk(digest), PUSH_OWNER_SK),
                  condition=PushOwnerModel.agent == agent)
        tx.delete(PushSubscriptionModel(push_pk(agent), digest))
        _count(tx, agent, -1)
        if commit_unless_moved(tx):
            return True
    raise Conflict("the push subscription is busy; try again")


def _count(tx: TransactWrite, agent: str, delta: int) -> None:
    """The agent's subscription count, moved with the owner item. Agent rows are never
    deleted (livechat_admin keeps a removed agent's row), so the row must exist."""
    tx.update(AgentModel(AGENT_PK, agent), actions=[AgentModel.push_subscriptions.add(delta)],
              condition=AgentModel.pk.exists())
