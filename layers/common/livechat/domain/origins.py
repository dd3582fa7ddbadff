"""Who may embed the widget (spec/protocol.md and workspace.md, second round: Origins), as
pure functions.

`settings.allowed_origins` lists origins normalised as browsers send them in `Origin`
(`scheme://host[:port]`, lower-case, no default port: livechat.domain.workspace.Origin).
When it is set, a request's `Origin` must be one of them, compared after the same
normalisation; a request without an `Origin` header (or with the opaque `null` a sandboxed
frame or a file: page sends) is refused too, since a browser always sends one on a
cross-origin POST and on a WebSocket handshake. Without a list, anyone may.

The check stops *other websites* from embedding the widget in their visitors' browsers (a
browser sets `Origin` itself and no page script can change it). A script outside a browser
sends whatever `Origin` it likes: what bounds scripts is the per-address session limit.
"""

from __future__ import annotations

from functools import cache

from pydantic import TypeAdapter, ValidationError

from livechat.domain.workspace import Origin

ANY = "*"


@cache
def _origin() -> TypeAdapter[str]:
    # Built when the first Origin header is checked ($connect, the HTTP API), not by every
    # function's import: a validator of its own costs ~2.5 ms of a cold start (issue 15).
    return TypeAdapter(Origin)


def normalise(header: str | None) -> str | None:
    """The origin a request's `Origin` header names, normalised; None when it names none
    (absent, `null`, not an http(s) origin)."""
    if not header or header.strip().lower() == "null":
        return None
    try:
        return _origin().validate_python(header.strip())
    except ValidationError:
        return None


def allowed(header: str | None, allowed_origins: list[str] | None) -> bool:
    """May a request with this `Origin` header go on?"""
    if allowed_origins is None:
        return True
    origin = normalise(header)
    return origin is not None and origin in allowed_origins


def cors_allow_origin(header: str | None, allowed_origins: list[str] | None) -> str | None:
    """The `Access-Control-Allow-Origin` value a response to this request carries: `*` when
    any origin may, the request's own `Origin` (as sent: browsers compare it byte for byte)
    when it is allowed, else none (the browser then keeps the answer from the page)."""
    if allowed_origins is None:
        return ANY
    if header and allowed(header, allowed_origins):
        return header.strip()
    return None
