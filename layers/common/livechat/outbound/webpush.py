"""Sending Web Push messages to an agent's subscriptions (spec/protocol.md, second round:
Web Push), with pywebpush: RFC 8291 `aes128gcm` encryption (http_ece), the RFC 8292 VAPID
`Authorization: vapid t=<JWT>, k=<public key>` header (py-vapid), the RFC 8030 POST.

- `TTL` is what the caller says (the offer's remaining seconds), `Urgency: high`, `Topic`
  the conversation's (livechat.domain.push.topic_of), the JWT's `aud` the endpoint's
  origin, `exp` 12 hours ahead (pywebpush's default; the contract allows up to 24), `sub`
  `mailto:` the failure-e-mail sender.
- The answers: livechat.domain.push.verdict. A 404/410 deletes the subscription at once
  (only if this agent still holds it: it may have moved meanwhile).
- One agent's subscriptions are posted to in parallel, each within PUSH_TIMEOUT: a push
  service that hangs costs routing that long once, not once per subscription.

pywebpush is imported on first send, not with this module: it brings aiohttp (~0.2 s of
imports) that no other path of a handler needs (bench/push_delay.py prints the figure). So is
`requests`, which pywebpush needs anyway and nothing else of a handler does.
"""

from __future__ import annotations

from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from aws_lambda_powertools import Logger

from livechat import runtime
from livechat.domain import push as rules
from livechat.domain.errors import BadRequest
from livechat.domain.push import PushVerdict
from livechat.domain.workspace import WorkspaceSettings
from livechat.store import push as stored
from livechat.store import vapid
from livechat.store.push import PushSubscription

if TYPE_CHECKING:
    import requests
    from py_vapid import Vapid02

logger = Logger(child=True)

# (connect, read) seconds: the push services answer in milliseconds when they answer.
PUSH_TIMEOUT = (2.0, 3.0)
MAX_PARALLEL = 8
_session: requests.Session | None = None
_signer: tuple[str, Vapid02] | None = None


@dataclass
class PushOutcome:
    verdicts: dict[str, PushVerdict] = field(default_factory=dict)  # endpoint -> verdict

    @property
    def reached(self) -> bool:
        """Delivered, or possibly delivered: the offer stands."""
        return any(v in (PushVerdict.DELIVERED, PushVerdict.UNKNOWN) for v in self.verdicts.values())


def _reset() -> None:
    global _session, _signer
    _session, _signer = None, None


runtime.on_reset(_reset)


def _http() -> requests.Session:
    import requests  # on first send: see the module's docstring

    global _session
    if _session is None:
        _session = requests.Session()  # keep-alive to the push services between invocations
    return _session


def _vapid_signer() -> Vapid02:
    global _signer
    pair = vapid.key_pair()
    if _signer is None or _signer[0] != pair.private_key:
        from py_vapid import Vapid02

        _signer = (pair.private_key, Vapid02(private_key=pair.private()))
    return _signer[1]


def push_to_agent(agent: str, frame: Mapping[str, Any], *, conversation_id: str, ttl: int,
                  settings: WorkspaceSettings) -> PushOutcome:
    """Post `frame` to each of the agent's push subscriptions; forget the dead ones."""
    subscriptions = stored.subscriptions(agent)
    outcome = PushOutcome()
    if not subscriptions:
        return outcome
    allowed = []
    for sub in subscriptions:
        try:
            # The rule may have narrowed since the agent subscribed.
            rules.check_endpoint(sub.endpoint, settings.push_services,
                                 allow_loopback=runtime.get_settings().allow_loopback_push)
        except BadRequest:
            outcome.verdicts[sub.endpoint] = PushVerdict.REFUSED
            continue
        allowed.append(sub)
    data = rules.fit_payload(frame)
    sender = f"mailto:{settings.failure_emails.from_}"
    topic = rules.topic_of(conversation_id)
    if len(allowed) == 1:
        results = [_post(allowed[0], data, sender, topic, ttl)]
    else:
        with ThreadPoolExecutor(max_workers=min(MAX_PARALLEL, len(allowed) or 1)) as pool:
            results = list(pool.map(lambda s: _post(s, data, sender, topic, ttl), allowed))
    for sub, result in zip(allowed, results, strict=True):
        outcome.verdicts[sub.endpoint] = result
        if result is PushVerdict.GONE:
            stored.unsubscribe(agent, sub.endpoint)
    logger.info("push sent", agent=agent, conversation_id=conversation_id,
                type=frame.get("type"), verdicts=sorted(v.value for v in outcome.verdicts.values()))
    return outcome


def _post(sub: PushSubscription, data: bytes, sender: str, topic: str, ttl: int) -> PushVerdict:
    import requests
    from pywebpush import WebPushException, webpush

    try:
        webpush(
            {"endpoint": sub.endpoint, "keys": {"p256dh": sub.p256dh, "auth": sub.auth}},
            data,
            vapid_private_key=_vapid_signer(),
            # A new dict each time: pywebpush writes `aud` (this endpoint's origin) into it.
            vapid_claims={"sub": sender},
            content_encoding="aes128gcm",
            headers={"Urgency": "high", "Topic": topic},
            ttl=max(0, ttl),
            timeout=PUSH_TIMEOUT,
            requests_session=_http(),
        )
    except WebPushException as exc:
        status = exc.response.status_code if exc.response is not None else None
        logger.info("push answered", status=status, host=_host(sub.endpoint))
        return rules.verdict(status)
    except requests.RequestException as exc:
        logger.warning("push service unreachable", host=_host(sub.endpoint), error=type(exc).__name__)
        return PushVerdict.UNKNOWN
    return PushVerdict.DELIVERED


def _host(endpoint: str) -> str:
    return endpoint.split("/")[2] if endpoint.count("/") >= 2 else ""
