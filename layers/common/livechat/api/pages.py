"""The hosted pages and what they read, as the web function serves them (deployment and
`livechat dev` alike): the files of the `web/` folder of this package (among them `sw.js`,
the inbox's service worker, never cached), the two scripts made of its modules (`widget.js`,
`inbox.js`: see BUNDLES), `/config.json` and `/dialogs/{dialogId}`.

CORS (livechat.api.cors; the HTTP API adds none of its own): the widget reads `/config.json`
and `/dialogs/{dialogId}` from the host site's origin, so those answers carry
`Access-Control-Allow-Origin` by the workspace's `allowed_origins` (`*` without a list, the
request's `Origin` when it is listed, none otherwise) and `Vary: Origin`; the settings are
read only for a request that has an `Origin` (a browser's cross-origin fetch). `widget.js`
keeps `*` whatever the list: the same public script for everyone (a `<script>` tag needs no
CORS at all; `*` serves `crossorigin` tags), so an origin-dependent answer would protect
nothing and split caches.

The files ship inside the layer (the package folder is the layer's content) and are read
with importlib.resources, so the editable install of the local stack finds the same bytes.
Only the names of the listing are served (the files directly in `web/` and the scripts): a
name from a request is looked up in the listing, never joined to a filesystem path. The
modules in its subfolders are not served on their own: they run only inside their script
(they need its `livechat` object), and the template routes only the listing's names.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass, field
from functools import lru_cache
from importlib import resources
from importlib.resources.abc import Traversable
from typing import Any

from livechat.api import cors, dialog_view
from livechat.domain import capture as capture_rules
from livechat.domain.errors import NotFound
from livechat.runtime import get_settings
from livechat.store import catalog, vapid

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
# The inbox's service worker (its default scope is the folder it is served from, which holds
# inbox.html): browsers check it for updates on their own, and a copy cached for minutes
# would keep an old worker handling the offers' notifications. Always revalidated.
SERVICE_WORKER = "sw.js"
_ALWAYS_REVALIDATED = {SERVICE_WORKER}
_JSON = "application/json"

# The pages' scripts, each served as its modules (files under web/) in this order: no build
# step, and a host site embeds the widget with one <script> tag. The script is one function
# around the modules (nothing leaks into the page's globals), each module runs in a function
# of its own, and they share one local object, `livechat`: a shared/ module adds a helper to
# it (livechat.dom, livechat.socket, ...), a page's module adds a part to livechat.<page>
# (livechat.widget.view, ...), and the page's main.js, last, puts the parts together and
# starts. A `.json` module is data: `livechat.<page>.<NAME>` (its file name upper-cased) holds
# it, for the modules after it (widget/texts.json: the widget's words in every language, also
# read by livechat.domain.widget_texts). A module is in the list of every script that uses it;
# tests/unit/test_web_bundles.py checks that every module is listed and that the scripts parse.
BUNDLES: dict[str, tuple[str, ...]] = {
    "widget.js": (
        "shared/dom.js", "shared/ids.js", "shared/store.js", "shared/socket.js", "shared/composer.js",
        "widget/texts.json", "widget/texts.js", "widget/style.js", "widget/state.js", "widget/view.js", "widget/dialog.js",
        "widget/capture.js", "widget/events.js", "widget/connection.js", "widget/conversation.js",
        "widget/composer.js", "widget/main.js",
    ),
    "inbox.js": (
        "shared/dom.js", "shared/ids.js", "shared/store.js", "shared/socket.js", "shared/composer.js",
        "inbox/texts.js", "inbox/alerts.js", "inbox/auth.js", "inbox/connection.js", "inbox/status.js",
        "inbox/offers.js", "inbox/push.js", "inbox/transcript.js", "inbox/chats.js", "inbox/composer.js",
        "inbox/conversations.js", "inbox/download.js", "inbox/performance.js", "inbox/main.js",
    ),
}


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


def _web() -> Traversable:
    return resources.files("livechat").joinpath("web")


def _kind(name: str) -> tuple[str, str] | None:
    return next((v for suffix, v in _KINDS.items() if name.endswith(suffix)), None)


def _asset(name: str, kind: tuple[str, str], data: bytes) -> Asset:
    cache_control = _NO_CACHE if name in _ALWAYS_REVALIDATED else kind[1]
    return Asset(name, kind[0], cache_control, data.decode("utf-8"), '"' + hashlib.sha256(data).hexdigest()[:32] + '"')


def module_source(path: str) -> str:
    """The text of one module of BUNDLES ("shared/dom.js"), as the file holds it."""
    entry = _web()
    for part in path.split("/"):
        entry = entry.joinpath(part)
    return entry.read_text(encoding="utf-8")


def bundle(name: str) -> str:
    """The script `name` of BUNDLES as served: its modules in their order, each in a function
    of its own, all in one function that holds the `livechat` object they share."""
    page = name.removesuffix(".js")
    modules = BUNDLES[name]
    parts = [
        f"/* livechat {name}, put together by livechat/api/pages.py (BUNDLES) from these modules\n"
        " * of livechat/web/:\n",
        *(f" *   {path}\n" for path in modules),
        " */\n(function () {\n\"use strict\";\n",
        f"const livechat = {{ {page}: {{}} }};\n",
    ]
    for path in modules:
        if path.endswith(".json"):
            name = path.rsplit("/", 1)[-1].removesuffix(".json").upper()
            data = module_source(path).rstrip()
            json.loads(data)  # data only: a JSON value is also a JavaScript expression
            parts.append(f"\n/* --- {path} --- */\nlivechat.{page}.{name} = {data};\n")
            continue
        parts.append(f"\n/* --- {path} --- */\n(function () {{\n{module_source(path).rstrip()}\n}})();\n")
    parts.append("})();\n")
    return "".join(parts)


@lru_cache(maxsize=1)
def assets() -> dict[str, Asset]:
    """Every servable file, by name: the files directly in the package's `web/` folder, and
    the scripts of BUNDLES."""
    found: dict[str, Asset] = {}
    for entry in _web().iterdir():
        kind = _kind(entry.name)
        if kind is None or not entry.is_file():
            continue
        found[entry.name] = _asset(entry.name, kind, entry.read_bytes())
    for name in BUNDLES:
        found[name] = _asset(name, _KINDS[".js"], bundle(name).encode("utf-8"))
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


def cors_headers(origin: str | None) -> dict[str, str]:
    """The CORS headers of a public GET the widget makes from the host site (see the module's
    docstring): by `allowed_origins`, read only when the request names an origin."""
    if not origin:
        return dict(cors.VARY)
    return cors.headers(origin, catalog.get_workspace_settings().allowed_origins)


def dialog(dialog_id: str, origin: str | None = None) -> WebResponse:
    """`GET /dialogs/{dialogId}`: the public dialog tree (livechat.dialog_view); a site
    embedding the widget may read it (CORS: `cors_headers`)."""
    headers = {**cors_headers(origin), "Cache-Control": _NO_CACHE}
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
    """What the pages read from /config.json: where to connect, how to sign in, the
    capture rules the widget checks a form with (the server's own, see capture_rules), and
    the deployment's VAPID public key for PushManager.subscribe (made on first use: see
    livechat.store.vapid)."""
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
        "vapidPublicKey": vapid.public_key(),
    }


def config_json(headers: dict[str, str], domain: str, stage: str) -> WebResponse:
    body = client_config(http_base(headers, domain, stage))
    return WebResponse(200, _JSON, json.dumps(body),
                       {**cors_headers(cors.header(headers, "origin")), "Cache-Control": _NO_CACHE})
