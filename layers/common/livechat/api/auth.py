"""Who is connecting: agents by Cognito ID token, visitors by a token this deployment signs.

Agent tokens are verified against the user pool's JWKS (RS256, issuer, audience, expiry,
`token_use == id`) and must carry the `LiveChat` group; the agent is their Cognito user
name, the lower-cased e-mail (the protocol's "Names"). Visitor tokens are HS256 JWTs
signed with the deployment's secret (livechat.store.keyring, which also derives the other
uses' keys from it); a forged or altered one fails its signature.

PyJWT (with `cryptography`, for RS256) and `requests` are imported by the functions that
use them, not by this module: ws_message and most other handlers import it through the
gateway and never verify a token, and the two cost ~60 ms of every cold start.
"""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass
from typing import Any

from livechat import runtime
from livechat.domain.clock import new_visitor_id
from livechat.domain.errors import Forbidden, Unauthorized
from livechat.runtime import get_settings
from livechat.store import keyring

LIVE_CHAT_GROUP = "LiveChat"
# The performance dashboard (getStats): agents also in this group (workspace `admin: true`).
ADMIN_GROUP = "LiveChatAdmin"
_VISITOR_AUDIENCE = "livechat:visitor"
_JWKS_TTL_SECONDS = 3600.0


@dataclass(frozen=True)
class AgentIdentity:
    email: str
    admin: bool = False  # in the LiveChatAdmin group


@dataclass(frozen=True)
class VisitorIdentity:
    visitor_id: str


class _JwksCache:
    """The pool's signing keys, fetched once an hour or when an unknown `kid` appears
    (Cognito rotates keys by adding one)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._keys: dict[str, Any] = {}
        self._url = ""
        self._fetched = 0.0

    def key(self, url: str, kid: str) -> Any:
        with self._lock:
            stale = time.monotonic() - self._fetched > _JWKS_TTL_SECONDS
            if url != self._url or stale or kid not in self._keys:
                self._refresh(url)
            try:
                return self._keys[kid]
            except KeyError:
                raise Unauthorized("token signed by an unknown key") from None

    def _refresh(self, url: str) -> None:
        import jwt  # on demand: see the module's docstring
        import requests

        response = requests.get(url, timeout=5)
        response.raise_for_status()
        keyset = jwt.PyJWKSet.from_dict(response.json())
        self._keys = {k.key_id: k.key for k in keyset.keys if k.key_id}
        self._url = url
        self._fetched = time.monotonic()

    def clear(self) -> None:
        with self._lock:
            self._keys = {}
            self._url = ""


_jwks = _JwksCache()


def identify(query: dict[str, str]) -> tuple[str, str]:
    """(role, principal) of a connecting client from its query string: an agent by
    `token`, a visitor by `visitorToken`. Raises Unauthorized/Forbidden (refused at the
    handshake)."""
    role, principal, _ = identify_with_admin(query)
    return role, principal


def identify_with_admin(query: dict[str, str]) -> tuple[str, str, bool]:
    """identify(), and whether the agent is in the LiveChatAdmin group (False for a visitor)."""
    if query.get("token"):
        agent = verify_agent_token(query["token"])
        return "agent", agent.email, agent.admin
    if query.get("visitorToken"):
        return "visitor", verify_visitor_token(query["visitorToken"]).visitor_id, False
    raise Unauthorized("a token (agent) or visitorToken (visitor) is required")


def verify_agent_token(token: str) -> AgentIdentity:
    import jwt  # on demand: see the module's docstring
    import requests

    settings = get_settings()
    try:
        header = jwt.get_unverified_header(token)
    except jwt.PyJWTError:
        raise Unauthorized("malformed token") from None
    kid = header.get("kid")
    if not isinstance(kid, str) or header.get("alg") != "RS256":
        raise Unauthorized("token is not an RS256 Cognito token")
    try:
        key = _jwks.key(settings.cognito_jwks_url(), kid)
    except requests.RequestException:
        raise Unauthorized("cannot fetch the user pool's keys") from None
    try:
        claims = jwt.decode(
            token,
            key,
            algorithms=["RS256"],
            issuer=settings.cognito_issuer(),
            audience=settings.user_pool_client_id or None,
            options={
                "require": ["exp", "iss", "token_use"],
                "verify_aud": bool(settings.user_pool_client_id),
            },
        )
    except jwt.ExpiredSignatureError:
        raise Unauthorized("token expired") from None
    except jwt.PyJWTError as exc:
        raise Unauthorized(f"invalid token: {exc}") from None
    if claims.get("token_use") != "id":
        raise Unauthorized("an ID token is required")
    groups = claims.get("cognito:groups") or []
    if not isinstance(groups, list) or LIVE_CHAT_GROUP not in groups:
        raise Forbidden("the Live Chat permission (group LiveChat) is required")
    return AgentIdentity(email=_agent_name(claims), admin=ADMIN_GROUP in groups)


def _agent_name(claims: dict[str, Any]) -> str:
    """The agent is named by their e-mail, which is also their Cognito user name: the
    lower-cased e-mail. When the token carries both, they must agree — the `email`
    attribute can be changed after the user is created, the user name cannot, so a token
    whose e-mail is not its user name names nobody."""
    names = {key: value.lower() for key in ("cognito:username", "email")
             if isinstance(value := claims.get(key), str) and value}
    if not names:
        raise Unauthorized("token names no user")
    if len(set(names.values())) > 1:
        raise Unauthorized("the token's e-mail is not its user name")
    return next(iter(names.values()))


def _visitor_secret() -> str:
    """The deployment's secret, read once per container (livechat.store.keyring)."""
    return keyring.visitor_secret()


def issue_visitor_token(visitor_id: str | None = None) -> tuple[str, str]:
    visitor_id = visitor_id or new_visitor_id()
    now = int(time.time())
    claims = {
        "sub": visitor_id,
        "aud": _VISITOR_AUDIENCE,
        "iat": now,
        "exp": now + get_settings().visitor_token_days * 86400,
    }
    import jwt  # on demand: see the module's docstring

    return visitor_id, jwt.encode(claims, _visitor_secret(), algorithm="HS256")


def _visitor_of(token: str, *, expired_is_fine: bool) -> str:
    """The visitor id a token this deployment signed names; Unauthorized otherwise."""
    import jwt  # on demand: see the module's docstring

    try:
        claims = jwt.decode(token, _visitor_secret(), algorithms=["HS256"], audience=_VISITOR_AUDIENCE,
                            options={"verify_exp": False, "require": ["sub"]} if expired_is_fine
                            else {"require": ["sub", "exp", "aud"]})
    except jwt.ExpiredSignatureError:
        raise Unauthorized("visitor token expired") from None
    except jwt.PyJWTError:
        raise Unauthorized("invalid visitor token") from None
    sub = claims.get("sub")
    if not isinstance(sub, str) or not sub.startswith("v_"):
        raise Unauthorized("invalid visitor token")
    return sub


def verify_visitor_token(token: str) -> VisitorIdentity:
    return VisitorIdentity(visitor_id=_visitor_of(token, expired_is_fine=False))


def renew_visitor_token(old_token: str | None) -> tuple[str, str]:
    """Keep the identity of a valid (or merely expired but genuine) token; no token gives
    a new visitor; a forged or altered token is refused."""
    if old_token:
        return issue_visitor_token(_visitor_of(old_token, expired_is_fine=True))
    return issue_visitor_token()


@runtime.on_reset
def reset() -> None:
    _jwks.clear()
