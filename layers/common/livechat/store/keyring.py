"""The deployment's secret and the keys derived from it.

The secret is the visitor-token key: `LIVECHAT_VISITOR_SECRET` (the local stack, the tests)
or the Secrets Manager secret `LIVECHAT_VISITOR_SECRET_ARN` names (a deployment: template.yaml's
VisitorSecret), read once per container. Visitor tokens are signed with it as it is
(livechat.api.auth); every other use takes a key of its own, `derived_key(purpose)` =
HMAC-SHA256(secret, purpose), so that no two uses ever share a key (a MAC made for one can
never pass as the other's).
"""

from __future__ import annotations

import hashlib
import hmac
import threading

from livechat import runtime

CURSOR = "cursor"  # listConversations cursors (livechat.store.conversations)

_lock = threading.Lock()
_secret: str | None = None


def visitor_secret() -> str:
    global _secret
    with _lock:
        if _secret is None:
            settings = runtime.get_settings()
            if settings.visitor_secret:
                _secret = settings.visitor_secret
            elif settings.visitor_secret_arn:
                value = runtime.secretsmanager().get_secret_value(SecretId=settings.visitor_secret_arn)
                _secret = str(value["SecretString"])
            else:
                raise RuntimeError("no visitor token secret configured")
        return _secret


def derived_key(purpose: str) -> bytes:
    return hmac.new(visitor_secret().encode(), purpose.encode(), hashlib.sha256).digest()


@runtime.on_reset
def reset() -> None:
    global _secret
    with _lock:
        _secret = None
