"""Visitor sessions: `POST /visitor/session` with `{}` or `{"visitorToken": old}`, and its
CORS preflight.

In order (each refusal stores nothing and issues nothing):
1. **Origin** (spec/protocol.md, second round): with `settings.allowed_origins` set, a
   request whose `Origin` is not in it, or that has none, → 403 `FORBIDDEN`.
2. The body: 413 / 400 `BAD_REQUEST`.
3. **Sessions per address**: with limits in force (livechat.domain.limits.effective), at most
   `sessions_per_address_per_minute` per `requestContext.http.sourceIp` in each UTC minute →
   429 `RATE_LIMITED`, `Retry-After` = seconds to the minute's end (rounded up) and the same
   in the body's `retryAfterSeconds`. The count is one conditional UpdateItem ADD on the
   address's counter for the minute (livechat.store.limits.take: refused at the limit, so it
   holds across Lambda instances; the item expires by the table's TTL). Every well-formed
   request counts, a renewal refused for a bad token too: the limit bounds what one address
   may ask, and a refused request is still one.
4. The token: a renewal from a forged or altered token → 401; else 200 with the token.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field

from livechat import runtime
from livechat.api import auth, cors
from livechat.domain.clock import now
from livechat.domain.errors import LivechatError
from livechat.domain.limits import MINUTE, effective, window
from livechat.domain.origins import allowed
from livechat.store import catalog, limits

_MAX_BODY = 4096
PREFLIGHT_METHODS = "POST, OPTIONS"


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    body: str
    headers: dict[str, str] = field(default_factory=dict)


def _error(status: int, code: str, message: str, headers: dict[str, str], **extra: int) -> HttpAnswer:
    return HttpAnswer(status, json.dumps({"code": code, "message": message, **extra}), headers)


def address_subject(source_ip: str) -> str:
    """The rate-limit subject of a source address (livechat.store.limits: `RATE#addr:<ip>`)."""
    return f"addr:{source_ip}"


def create(body: str | None, *, origin: str | None = None, source_ip: str = "") -> HttpAnswer:
    settings = catalog.get_workspace_settings()
    headers = cors.headers(origin, settings.allowed_origins)
    if not allowed(origin, settings.allowed_origins):
        return _error(403, "FORBIDDEN", "this site may not open chat sessions (Origin not allowed)",
                      headers)
    try:
        if body and len(body) > _MAX_BODY:
            return _error(413, "BAD_REQUEST", "body too large", headers)
        data = json.loads(body) if body else {}
        if not isinstance(data, dict):
            raise ValueError
        old = data.get("visitorToken")
        if old is not None and not isinstance(old, str):
            return _error(400, "BAD_REQUEST", "visitorToken: must be a string", headers)
    except ValueError:
        return _error(400, "BAD_REQUEST", "body must be a JSON object", headers)
    rules = effective(settings, defaults=runtime.get_settings().default_rate_limits)
    if rules is not None:
        limit = rules.sessions_per_address_per_minute
        minute = window(MINUTE, now())
        if not limits.take(address_subject(source_ip or "unknown"), minute, limit):
            retry_after = minute.retry_after(now())
            # (a page may read Retry-After only if exposed; the body says it either way)
            exposed = {"Access-Control-Expose-Headers": "Retry-After"} if cors.ALLOW_ORIGIN in headers else {}
            return _error(429, "RATE_LIMITED",
                          f"too many visitor sessions from this address: at most {limit} per minute",
                          {**headers, **exposed, "Retry-After": str(retry_after)},
                          retryAfterSeconds=retry_after)
    try:
        visitor_id, token = auth.renew_visitor_token(old)
    except LivechatError as exc:
        return _error(401, exc.code, exc.message, headers)
    return HttpAnswer(200, json.dumps({"visitorId": visitor_id, "visitorToken": token}), headers)


def preflight(origin: str | None) -> HttpAnswer:
    """OPTIONS /visitor/session: 204 with the CORS headers when the origin may POST, else
    403 without them (the browser then never sends the POST)."""
    allowed_origins = catalog.get_workspace_settings().allowed_origins
    headers = cors.preflight_headers(origin, allowed_origins, PREFLIGHT_METHODS)
    if cors.ALLOW_ORIGIN not in headers:
        return HttpAnswer(403, "", headers)
    return HttpAnswer(204, "", headers)
