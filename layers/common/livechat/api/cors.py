"""CORS on the HTTP API, answered by the functions (template.yaml's HttpApi has no
`CorsConfiguration`: API Gateway would answer with its own fixed list and drop the
functions' headers). The list is the workspace's `allowed_origins` (livechat.domain.origins):

- without a list, `Access-Control-Allow-Origin: *` (the widget may be embedded anywhere);
- with one, the request's own `Origin` when it is in the list, else no such header (the
  browser keeps the answer from the page);
- always `Vary: Origin`, since the answer depends on it (and on a list that may change).

Only `POST /visitor/session` is preflighted (its JSON body): its OPTIONS route answers 204
with the methods and headers below when the origin may, 403 otherwise. The GETs the widget
makes (`/config.json`, `/dialogs/{id}`) are simple requests, never preflighted.
"""

from __future__ import annotations

from livechat.domain import origins

VARY = {"Vary": "Origin"}
ALLOW_ORIGIN = "Access-Control-Allow-Origin"
PREFLIGHT_MAX_AGE_SECONDS = 600


def headers(origin_header: str | None, allowed_origins: list[str] | None) -> dict[str, str]:
    """The CORS headers of an answer to a request with this `Origin` header."""
    value = origins.cors_allow_origin(origin_header, allowed_origins)
    return {**VARY, **({ALLOW_ORIGIN: value} if value else {})}


def preflight_headers(origin_header: str | None, allowed_origins: list[str] | None,
                      methods: str) -> dict[str, str]:
    """The answer to an OPTIONS preflight (its status: 204 when the origin may, else 403)."""
    found = headers(origin_header, allowed_origins)
    if ALLOW_ORIGIN not in found:
        return found
    return {**found, "Access-Control-Allow-Methods": methods,
            "Access-Control-Allow-Headers": "content-type",
            "Access-Control-Max-Age": str(PREFLIGHT_MAX_AGE_SECONDS)}


def header(headers_in: dict[str, str] | None, name: str) -> str | None:
    """A request header by name, whatever its case (HTTP API v2 events lower-case header
    names, WebSocket $connect events keep the client's spelling)."""
    wanted = name.lower()
    return next((v for k, v in (headers_in or {}).items() if k.lower() == wanted), None)
