"""subscribePush / unsubscribePush (spec/protocol.md "Second round": Web Push): an agent's
Web Push subscriptions, checked by livechat.domain.push before anything is stored and kept
by livechat.store.push (an endpoint belongs to one agent; subscribing it again from another
agent moves it). Sending comes later."""

from __future__ import annotations

from livechat import runtime
from livechat.domain.clock import now_iso
from livechat.domain.push import check_subscription
from livechat.store import catalog
from livechat.store import push as stored


def subscribe(agent: str, endpoint: str, p256dh: str, auth: str) -> None:
    services = catalog.get_workspace_settings().push_services
    check_subscription(endpoint, p256dh, auth, services,
                       allow_loopback=runtime.get_settings().allow_loopback_push)
    stored.subscribe(agent, endpoint, p256dh, auth, now_iso())


def unsubscribe(agent: str, endpoint: str) -> None:
    """Answered the same whether or not this agent held the endpoint."""
    stored.unsubscribe(agent, endpoint)
