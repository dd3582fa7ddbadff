"""The hosted pages and what they read, as the web function serves them (deployment and
`livechat dev` alike): the files of the `web/` folder of this package, `/config.json` and
`/dialogs/{dialogId}`.

The files ship inside the layer (the package folder is the layer's content) and are read
with importlib.resources, so the editable install of the local stack finds the same bytes.
Only the names of that folder's listing are served: a name from a request is looked up in
the listing, never joined to a filesystem path.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from typing import Any

from livechat.api import dialog_view
from livechat.domain import capture as capture_rules
from livechat.domain.errors import NotFound
from livechat.runtime import get_settings

INDEX = "index.html"
_DIALOG_ID = re.compile(r"^[A-Za-z0-9_.-]{1,100}$")
# Suffix -> (Content-Type, Cache-Control). The names are not fingerprinted, so pages stay
# fresh within a minute and scripts and styles within five; ETags make revalidation cheap.
_KINDS = {
    ".html": ("text/html; charset=utf-8", "public, max-age=60"),
    ".js": ("text/javascript; charset=utf-8", "public, max-age=300"),
    ".css": ("text/css; charset=utf-8", "public, max-age=300"),
}
# Host sites load the widget from another origin.
_CROSS_ORIGIN = {"widget.js"}
_NO_CACHE = "no-cache"
_JSON = "application/json"


@dataclass(frozen=True)
class WebResponse:
    status: int
    content_type: str
    body: str
    headers: dict[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Asset:
    name: str
    content_type: str
    cache_control: str
    body: str
    etag: str


@lru_cache(maxsize=1)
def assets() -> dict[str, Asset]:
    """Every servable file, by name: the listing of the package's `web/` folder."""
    found: dict[str, Asset] = {}
    for entry in resources.files("livechat").joinpath("web").iterdir():
        kind = next((v for suffix, v in _KINDS.items() if entry.name.endswith(suffix)), None)
        if kind is None or not entry.is_file():
            continue
        data = entry.read_bytes()
        found[entry.name] = Asset(entry.name, kind[0], kind[1], data.decode("utf-8"),
                                  '"' + hashlib.sha256(data).hexdigest()[:32] + '"')
    return found


def _not_found(what: str, headers: dict[str, str] | None = None) -> WebResponse:
    return WebResponse(404, _JSON, json.dumps({"message": f"{what} not found"}),
                       {"Cache-Control": _NO_CACHE, **(headers or {})})


def page(name: str, if_none_match: str | None = None) -> WebResponse:
    """One file of the listing (200, or 304 when the browser's copy is current); 404 for
    any other name."""
    asset = assets().get(name)
    if asset is None:
        return _not_found("page")
    headers = {"Cache-Control": asset.cache_control, "ETag": asset.etag}
    if name in _CROSS_ORIGIN:
        headers["Access-Control-Allow-Origin"] = "*"
    if if_none_match and asset.etag in {tag.strip() for tag in if_none_match.split(",")}:
        return WebResponse(304, asset.content_type, "", headers)
    return WebResponse(200, asset.content_type, asset.body, headers)


def dialog(dialog_id: str) -> WebResponse:
    """`GET /dialogs/{dialogId}`: the public dialog tree (livechat.dialog_view); any site
    embedding the widget may read it."""
    headers = {"Access-Control-Allow-Origin": "*", "Cache-Control": _NO_CACHE}
    if not _DIALOG_ID.match(dialog_id):
        return _not_found("dialog", headers)
    try:
        body = dialog_view.public_dialog(dialog_id)
    except NotFound:
        return _not_found("dialog", headers)
    return WebResponse(200, _JSON, json.dumps(body), headers)


def http_base(headers: dict[str, str], domain: str, stage: str) -> str:
    """The public base URL of the pages, ending with "/": LIVECHAT_PUBLIC_HTTP_URL when set
    (a custom domain), else the request's host (API Gateway sends X-Forwarded-Proto) and,
    for a named stage, the stage."""
    configured = get_settings().public_http_url
    if configured:
        return configured.rstrip("/") + "/"
    lowered = {k.lower(): v for k, v in headers.items()}
    scheme = lowered.get("x-forwarded-proto", "https").split(",")[0].strip() or "https"
    host = lowered.get("host") or domain
    prefix = f"/{stage}" if stage and stage != "$default" else ""
    return f"{scheme}://{host}{prefix}/"


def client_config(http: str) -> dict[str, Any]:
    """What the pages read from /config.json: where to connect, how to sign in, and the
    capture rules the widget checks a form with (the server's own, see capture_rules)."""
    settings = get_settings()
    return {
        "capture": capture_rules.public_rules(),
        "websocket": settings.public_websocket_url,
        "http": http,
        "cognito": {
            "region": settings.region,
            "userPoolId": settings.user_pool_id,
            "clientId": settings.user_pool_client_id,
            "endpoint": settings.cognito_endpoint or f"https://cognito-idp.{settings.region}.amazonaws.com/",
        },
    }


def config_json(headers: dict[str, str], domain: str, stage: str) -> WebResponse:
    body = client_config(http_base(headers, domain, stage))
    return WebResponse(200, _JSON, json.dumps(body), {"Cache-Control": _NO_CACHE})
