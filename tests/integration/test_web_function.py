"""functions/web: the hosted pages, /config.json and the public dialogs, through the
handler with HTTP API payload v2 events (what API Gateway and `livechat dev` send)."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from livechat import runtime
from livechat.api import pages as web_assets
from livechat.domain import capture as capture_rules
from livechat.store import vapid

from functions.web import app as web_app
from livechat_local import events
from tests.support.aws import Gateway
from tests.support.world import LambdaContext, World

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:No application metrics to publish")]

WEB = Path(web_assets.__file__).parents[1] / "web"
PAGES = {
    "index.html": "text/html; charset=utf-8",
    "demo.html": "text/html; charset=utf-8",
    "inbox.html": "text/html; charset=utf-8",
    "widget.js": "text/javascript; charset=utf-8",
    "inbox.js": "text/javascript; charset=utf-8",
    "inbox.css": "text/css; charset=utf-8",
    "sw.js": "text/javascript; charset=utf-8",
}
HOST = "abc123.execute-api.us-east-1.amazonaws.com"


def get(path: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    event = events.http_v2("GET", path, "", domain=HOST,
                           headers={"Host": HOST, "X-Forwarded-Proto": "https", **(headers or {})})
    result: dict[str, Any] = web_app.handler(event, LambdaContext())
    return result


def header(response: dict[str, Any], name: str) -> str | None:
    return {k.lower(): v for k, v in response["headers"].items()}.get(name.lower())


# --- the pages ----------------------------------------------------------------------------


def test_the_listing_is_the_web_folders_files_and_the_scripts_made_of_its_modules() -> None:
    on_disk = {p.name for p in WEB.iterdir() if p.is_file()}

    assert on_disk.isdisjoint(web_assets.BUNDLES)
    assert set(web_assets.assets()) == on_disk | set(web_assets.BUNDLES) == set(PAGES)


def served_text(name: str) -> str:
    """What the function serves for `name`: a file of web/, or the script BUNDLES makes."""
    if name in web_assets.BUNDLES:
        return web_assets.bundle(name)
    return (WEB / name).read_text(encoding="utf-8")


@pytest.mark.parametrize(("name", "content_type"), PAGES.items())
def test_each_page_is_served_with_its_content_type_and_caching(
    aws_env: None, name: str, content_type: str
) -> None:
    response = get(f"/{name}")

    assert response["statusCode"] == 200
    assert response.get("isBase64Encoded") is not True
    assert response["body"] == served_text(name)
    assert header(response, "Content-Type") == content_type
    max_age = 60 if name.endswith(".html") else 300
    # The service worker is always revalidated (see test_the_service_worker_is_served_...).
    assert header(response, "Cache-Control") == (
        "no-cache" if name == "sw.js" else f"public, max-age={max_age}")
    # The ETag is the hash of the bytes served (for widget.js and inbox.js, the scripts made
    # of the modules, so that a change to any module changes it).
    digest = hashlib.sha256(response["body"].encode("utf-8")).hexdigest()[:32]
    assert header(response, "ETag") == f'"{digest}"'
    # Host sites load the widget from their own origin; nothing else needs CORS.
    assert header(response, "Access-Control-Allow-Origin") == ("*" if name == "widget.js" else None)


def test_the_root_is_the_index_page(aws_env: None) -> None:
    response = get("/")

    assert response["statusCode"] == 200
    assert response["body"] == (WEB / "index.html").read_text(encoding="utf-8")
    assert header(response, "Content-Type") == "text/html; charset=utf-8"


def test_a_current_copy_is_revalidated_without_a_body(aws_env: None) -> None:
    etag = header(get("/widget.js"), "ETag")
    assert etag

    fresh = get("/widget.js", {"If-None-Match": etag})
    stale = get("/widget.js", {"If-None-Match": '"something-else"'})

    assert (fresh["statusCode"], fresh["body"]) == (304, "")
    assert header(fresh, "ETag") == etag
    assert stale["statusCode"] == 200


@pytest.mark.parametrize("path", [
    "/nope.html", "/app.py", "/web_assets.py", "/__init__.py", "/config.py",
    "/..%2Fconfig.py", "/%2e%2e%2fconfig.py", "/..%2F..%2F..%2Fetc%2Fpasswd", "/../config.py",
    "/web/widget.js", "/.%2Fwidget.js", "/WIDGET.JS", "/widget.js%00.html", "/..", "/.",
    # the modules of widget.js and inbox.js are served only inside them
    "/shared/dom.js", "/shared%2Fsocket.js", "/widget/main.js", "/inbox/main.js", "/shared", "/widget",
    "/inbox", "/dom.js", "/main.js",
])
def test_anything_else_is_not_found(aws_env: None, path: str) -> None:
    response = get(path)

    assert response["statusCode"] == 404
    assert "livechat" not in response["body"]


@pytest.mark.parametrize("name", ["../config.py", "web/widget.js", "/etc/passwd", "", ".", "web",
                                  "shared/dom.js", "widget/main.js", "shared", "widget", "inbox"])
def test_a_name_is_looked_up_in_the_listing_never_opened(name: str) -> None:
    assert web_assets.page(name).status == 404


# --- the public dialogs -------------------------------------------------------------------


def test_a_dialog_is_served_without_its_routing(world: World) -> None:
    world.live_dialog("sales", {"mode": "agent", "agent": "alice@example.com"})

    # (read by the widget from the host site: a cross-origin fetch, with its Origin)
    response = get("/dialogs/sales", {"Origin": "https://shop.example.com"})
    body = json.loads(response["body"])

    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "application/json"
    assert header(response, "Access-Control-Allow-Origin") == "*"  # no allowed_origins: any site
    assert header(response, "Vary") == "Origin"
    assert header(response, "Cache-Control") == "no-cache"
    assert body["id"] == "sales"
    assert [card["kind"] for card in body["cards"][0]["answers"][0]["next"]] == ["capture", "live_chat"]
    assert "routing" not in response["body"]
    assert "alice@example.com" not in response["body"]


def test_a_dialog_says_the_widgets_language_and_the_workspaces_own_wording(world: World) -> None:
    world.dialog({"id": "ventes", "language": "fr", "texts": {"launcher.open": "Parler à un conseiller"},
                  "cards": [{"id": "hello", "kind": "message", "text": "Bonjour"}]})
    world.live_dialog("sales", {"mode": "round_robin"})

    french = json.loads(get("/dialogs/ventes", {})["body"])
    english = json.loads(get("/dialogs/sales", {})["body"])

    assert (french["language"], french["texts"]) == ("fr", {"launcher.open": "Parler à un conseiller"})
    assert (english["language"], english["texts"]) == ("en", {})


@pytest.mark.parametrize("dialog_id", ["nope", "a%20b", "..%2Fsales", "x" * 101])
def test_an_unknown_dialog_is_not_found(world: World, dialog_id: str) -> None:
    world.live_dialog("sales", {"mode": "agent", "agent": "alice@example.com"})

    response = get(f"/dialogs/{dialog_id}", {"Origin": "https://shop.example.com"})

    assert response["statusCode"] == 404
    assert json.loads(response["body"]) == {"message": "dialog not found"}
    assert header(response, "Access-Control-Allow-Origin") == "*"


# --- /config.json -------------------------------------------------------------------------


@pytest.fixture
def deployed(aws: Gateway, monkeypatch: pytest.MonkeyPatch) -> None:
    # /config.json reads the deployment's VAPID public key from the table (made on first use).
    monkeypatch.setenv("LIVECHAT_PUBLIC_WEBSOCKET_URL", "wss://ws123.execute-api.us-east-1.amazonaws.com/prod")
    monkeypatch.setenv("LIVECHAT_USER_POOL_ID", "us-east-1_pool")
    monkeypatch.setenv("LIVECHAT_USER_POOL_CLIENT_ID", "client-id")
    runtime.reset()


def test_config_json_comes_from_the_environment_and_the_request(deployed: None) -> None:
    response = get("/config.json")

    assert response["statusCode"] == 200
    assert header(response, "Content-Type") == "application/json"
    assert header(response, "Cache-Control") == "no-cache"
    assert json.loads(response["body"]) == {
        "websocket": "wss://ws123.execute-api.us-east-1.amazonaws.com/prod",
        "http": f"https://{HOST}/",
        "cognito": {"region": "us-east-1", "userPoolId": "us-east-1_pool", "clientId": "client-id",
                    "endpoint": "https://cognito-idp.us-east-1.amazonaws.com/"},
        "capture": capture_rules.public_rules(),
        "vapidPublicKey": vapid.public_key(),
    }


def test_the_base_of_a_named_stage_keeps_the_stage(deployed: None) -> None:
    # The stack's HttpApi has only the $default stage; a named one prefixes every path.
    assert web_assets.http_base({"Host": HOST}, HOST, "live") == f"https://{HOST}/live/"
    assert web_assets.http_base({}, HOST, "$default") == f"https://{HOST}/"
    assert web_assets.http_base({"host": "127.0.0.1:8700", "x-forwarded-proto": "http"}, "local",
                                "$default") == "http://127.0.0.1:8700/"


def test_config_json_takes_the_configured_base_and_cognito_endpoint(
    deployed: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LIVECHAT_PUBLIC_HTTP_URL", "https://chat.example.com")
    monkeypatch.setenv("LIVECHAT_COGNITO_ENDPOINT", "http://127.0.0.1:8700/dev/cognito")
    runtime.reset()

    body = json.loads(get("/config.json")["body"])

    assert body["http"] == "https://chat.example.com/"
    assert body["cognito"]["endpoint"] == "http://127.0.0.1:8700/dev/cognito"


# --- the local gateway routes what the template routes -------------------------------------


def test_livechat_dev_sends_the_templates_http_routes_to_the_same_functions() -> None:
    from livechat_local.lambdas import FUNCTIONS
    from livechat_local.server import _http_routes

    routes = _http_routes()

    assert routes[("POST", "/visitor/session")] == "visitor_session"
    assert {path for (method, path), fn in routes.items() if fn == "web" and method == "GET"} == {
        "/", "/config.json", "/dialogs/{dialogId}", *(f"/{name}" for name in PAGES)}
    assert set(routes.values()) <= set(FUNCTIONS)
    assert FUNCTIONS["web"] == "functions.web.app"


# --- the inbox's service worker (issue 13) ------------------------------------------------


def test_the_service_worker_is_served_as_javascript_next_to_the_inbox_and_never_cached(aws_env: None) -> None:
    # Its default scope is the folder it is served from: the inbox's. A cached copy would
    # keep an old worker handling the offers' notifications, so every fetch revalidates.
    inbox, worker = get("/inbox.html"), get("/sw.js")

    assert worker["statusCode"] == 200
    assert header(worker, "Content-Type") == "text/javascript; charset=utf-8"
    assert header(worker, "Cache-Control") == "no-cache"
    assert header(worker, "Access-Control-Allow-Origin") is None
    assert header(worker, "Service-Worker-Allowed") is None  # not needed at the inbox's level
    assert worker["body"] == (WEB / "sw.js").read_text(encoding="utf-8")
    assert 'addEventListener("push"' in worker["body"]
    assert 'addEventListener("notificationclick"' in worker["body"]
    assert inbox["statusCode"] == 200
    etag = header(worker, "ETag")
    assert etag
    assert get("/sw.js", {"If-None-Match": etag})["statusCode"] == 304
