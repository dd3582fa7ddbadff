"""Origins (spec/protocol.md and workspace.md, second round; issue 14): with
`settings.allowed_origins` set, `POST /visitor/session` and a visitor's `$connect` whose
`Origin` is not in the list (or that have none) are refused with 403 and store nothing; an
agent's `$connect` is not checked. CORS on the HTTP API follows the same list, answered by
the functions (the HttpApi has no CorsConfiguration): the session POST and its OPTIONS
preflight, /config.json and /dialogs/{id}; widget.js stays `*`.

Through the real handlers with API Gateway-shaped events (livechat_local.events), against
moto.
"""

from __future__ import annotations

import json
from typing import Any

import pytest
from livechat.store import catalog

from functions.visitor_session import app as visitor_session_app
from functions.web import app as web_app
from functions.ws_connect import app as ws_connect_app
from livechat_local import events
from tests.support.snapshot import table_snapshot as _table_snapshot
from tests.support.template import load_template
from tests.support.world import DOMAIN, LambdaContext, World

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:No application metrics to publish")]

SHOP = "https://www.example.com"
ALLOWED = [SHOP, "http://localhost:8080"]
FOREIGN = "https://evil.example"
ALICE = "alice@example.com"
HOST = "abc123.execute-api.us-east-1.amazonaws.com"


def post_session(origin: str | None, body: dict[str, Any] | None = None) -> dict[str, Any]:
    headers = {"content-type": "application/json", **({"origin": origin} if origin else {})}
    event = events.http_v2("POST", "/visitor/session", json.dumps(body or {}), headers=headers)
    result: dict[str, Any] = visitor_session_app.handler(event, LambdaContext())
    return result


def preflight(origin: str | None) -> dict[str, Any]:
    headers = {"access-control-request-method": "POST", "access-control-request-headers": "content-type",
               **({"origin": origin} if origin else {})}
    event = events.http_v2("OPTIONS", "/visitor/session", "", headers=headers)
    result: dict[str, Any] = visitor_session_app.handler(event, LambdaContext())
    return result


def get(path: str, origin: str | None = None) -> dict[str, Any]:
    headers = {"Host": HOST, "X-Forwarded-Proto": "https", **({"Origin": origin} if origin else {})}
    result: dict[str, Any] = web_app.handler(events.http_v2("GET", path, "", domain=HOST, headers=headers),
                                             LambdaContext())
    return result


_ids = iter(range(1, 1_000_000))


def handshake(query: dict[str, str], origin: str | None) -> int:
    """$connect as API Gateway sends it: the client's headers as spelled (`Origin`)."""
    headers = {"Host": DOMAIN, **({"Origin": origin} if origin else {})}
    event = events.ws_connect(f"o{next(_ids)}=", query, domain=DOMAIN, stage="test", headers=headers)
    return int(ws_connect_app.handler(event, LambdaContext())["statusCode"])


def header(response: dict[str, Any], name: str) -> str | None:
    return {k.lower(): v for k, v in (response.get("headers") or {}).items()}.get(name.lower())


def visitor_token(world: World) -> str:
    """A genuine token, issued while no list is set (the list is set afterwards)."""
    token: str = world.visitor_token()["visitorToken"]
    return token


def table_snapshot() -> list[dict[str, Any]]:
    """The table, but for Powertools Idempotency records: a failure e-mail's asynchronous
    invocation left running by an earlier test may still write one (nothing here does)."""
    return [item for item in _table_snapshot() if item["pk"]["S"] != "IDEMPOTENCY"]


# --- POST /visitor/session ------------------------------------------------------------------


@pytest.mark.parametrize("origin", [FOREIGN, None, "null", "https://www.example.com.evil.example",
                                    "http://www.example.com", "https://www.example.com:8443", "not an origin"])
def test_a_session_from_an_origin_not_listed_is_refused_with_403_and_nothing_stored(
        world: World, origin: str | None) -> None:
    # Given a workspace that lists the sites that may embed the widget
    world.settings(allowed_origins=ALLOWED)
    before = table_snapshot()

    # When a page of another site (or a request with no Origin at all) asks for a session
    response = post_session(origin)

    # Then 403 FORBIDDEN, no token, no CORS permission for the page, nothing stored
    assert response["statusCode"] == 403, response
    body = json.loads(response["body"])
    assert body["code"] == "FORBIDDEN" and "origin" in body["message"].lower(), body
    assert "visitorToken" not in body
    assert header(response, "Access-Control-Allow-Origin") is None
    assert header(response, "Vary") == "Origin"
    assert table_snapshot() == before


@pytest.mark.parametrize("origin", [SHOP, "https://WWW.Example.com", "https://www.example.com:443",
                                    "http://localhost:8080"])
def test_a_session_from_a_listed_origin_is_issued_with_its_cors_header(world: World, origin: str) -> None:
    # Given a list of origins
    world.settings(allowed_origins=ALLOWED)

    # When a listed site asks (compared normalised: case, the scheme's default port)
    response = post_session(origin)

    # Then a token, and the browser may read it: Allow-Origin is the request's own Origin
    assert response["statusCode"] == 200, response
    assert json.loads(response["body"])["visitorToken"]
    assert header(response, "Access-Control-Allow-Origin") == origin
    assert header(response, "Vary") == "Origin"


@pytest.mark.parametrize("origin", [FOREIGN, None])
def test_without_a_list_any_site_gets_a_session_and_cors_star(world: World, origin: str | None) -> None:
    world.settings()  # allowed_origins absent: anyone may embed the widget

    response = post_session(origin)

    assert response["statusCode"] == 200, response
    assert header(response, "Access-Control-Allow-Origin") == "*"


def test_a_renewal_from_a_foreign_origin_is_refused_too(world: World) -> None:
    # Given a visitor's genuine token, then a list that does not name the asking site
    token = visitor_token(world)
    world.settings(allowed_origins=ALLOWED)

    response = post_session(FOREIGN, {"visitorToken": token})

    assert response["statusCode"] == 403
    assert post_session(SHOP, {"visitorToken": token})["statusCode"] == 200


# --- the preflight --------------------------------------------------------------------------


def test_the_preflight_of_a_listed_origin_allows_the_post_with_json(world: World) -> None:
    world.settings(allowed_origins=ALLOWED)

    response = preflight(SHOP)

    assert response["statusCode"] == 204, response
    assert header(response, "Access-Control-Allow-Origin") == SHOP
    assert "POST" in (header(response, "Access-Control-Allow-Methods") or "")
    assert (header(response, "Access-Control-Allow-Headers") or "").lower() == "content-type"
    assert header(response, "Access-Control-Max-Age") == "600"
    assert header(response, "Vary") == "Origin"


@pytest.mark.parametrize("origin", [FOREIGN, None])
def test_the_preflight_of_another_origin_is_refused_without_cors_headers(world: World, origin: str | None) -> None:
    world.settings(allowed_origins=ALLOWED)
    before = table_snapshot()

    response = preflight(origin)

    assert response["statusCode"] == 403, response
    assert header(response, "Access-Control-Allow-Origin") is None
    assert header(response, "Access-Control-Allow-Methods") is None
    assert table_snapshot() == before


def test_without_a_list_the_preflight_allows_any_origin(world: World) -> None:
    world.settings()

    response = preflight(FOREIGN)

    assert response["statusCode"] == 204
    assert header(response, "Access-Control-Allow-Origin") == "*"


# --- $connect --------------------------------------------------------------------------------


@pytest.mark.parametrize("origin", [FOREIGN, None, "null", "http://www.example.com"])
def test_a_visitors_handshake_from_an_origin_not_listed_is_refused_with_403_and_nothing_stored(
        world: World, origin: str | None) -> None:
    # Given a genuine visitor token, and a list that does not name the page's site
    token = visitor_token(world)
    world.settings(allowed_origins=ALLOWED)
    before = table_snapshot()

    # When the widget connects from that page
    status = handshake({"visitorToken": token}, origin)

    # Then the handshake is refused, and no connection item nor visitor item was written
    assert status == 403
    assert table_snapshot() == before


def test_a_visitors_handshake_from_a_listed_origin_is_accepted(world: World) -> None:
    token = visitor_token(world)
    world.settings(allowed_origins=ALLOWED)

    assert handshake({"visitorToken": token}, "https://WWW.EXAMPLE.COM") == 200


def test_without_a_list_a_visitor_connects_from_anywhere(world: World) -> None:
    token = visitor_token(world)

    assert handshake({"visitorToken": token}, FOREIGN) == 200
    assert handshake({"visitorToken": token}, None) == 200


def test_an_agents_handshake_is_not_origin_checked(world: World) -> None:
    # Agents' tokens are issued by Cognito to users the admin made, and the inbox is served
    # by the deployment (whose own origin the admin need not list): the token decides.
    world.agent(ALICE)
    world.settings(allowed_origins=ALLOWED)

    assert handshake({"token": world.token(ALICE)}, FOREIGN) == 200
    assert handshake({"token": world.token(ALICE)}, None) == 200


def test_a_forged_visitor_token_is_still_401_whatever_the_origin(world: World) -> None:
    world.settings(allowed_origins=ALLOWED)

    assert handshake({"visitorToken": "not.a.token"}, SHOP) == 401


# --- the public GETs the widget makes -----------------------------------------------------------


@pytest.mark.parametrize("path", ["/config.json", "/dialogs/sales"])
def test_the_widgets_gets_carry_cors_by_the_list(world: World, path: str) -> None:
    world.live_dialog("sales", {"mode": "round_robin"})
    world.settings(allowed_origins=ALLOWED)

    listed, foreign = get(path, SHOP), get(path, FOREIGN)

    assert listed["statusCode"] == foreign["statusCode"] == 200
    assert header(listed, "Access-Control-Allow-Origin") == SHOP
    # Public data all the same (a script outside a browser reads it), but a browser keeps it
    # from another site's page: the widget does not even start there.
    assert header(foreign, "Access-Control-Allow-Origin") is None
    assert header(listed, "Vary") == header(foreign, "Vary") == "Origin"


@pytest.mark.parametrize("path", ["/config.json", "/dialogs/sales"])
def test_without_a_list_the_widgets_gets_allow_any_origin(world: World, path: str) -> None:
    world.live_dialog("sales", {"mode": "round_robin"})

    response = get(path, FOREIGN)

    assert header(response, "Access-Control-Allow-Origin") == "*"
    assert header(response, "Vary") == "Origin"


def test_a_same_origin_get_carries_no_cors_header_and_does_not_read_the_settings(
        world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # The inbox reads /config.json from its own origin: browsers send no Origin on such a
    # GET, so there is no CORS answer to give and no settings read to pay for.
    world.settings(allowed_origins=ALLOWED)
    monkeypatch.setattr(catalog, "get_workspace_settings",
                        lambda: pytest.fail("settings read for a request without Origin"))

    response = get("/config.json")

    assert response["statusCode"] == 200
    assert header(response, "Access-Control-Allow-Origin") is None
    assert header(response, "Vary") == "Origin"


def test_widget_js_stays_open_to_every_origin(world: World) -> None:
    # The same public script for everyone (a <script> tag needs no CORS; `*` serves
    # crossorigin tags): an origin-dependent answer would protect nothing and split caches.
    world.settings(allowed_origins=ALLOWED)

    assert header(get("/widget.js", FOREIGN), "Access-Control-Allow-Origin") == "*"


# --- the template ------------------------------------------------------------------------------


def test_the_http_api_leaves_cors_to_the_functions() -> None:
    # A CorsConfiguration would make API Gateway answer CORS from a fixed list (dropping the
    # functions' headers), and livechat dev emulates none (livechat_local/gateway.py).
    resources = load_template()["Resources"]
    api = resources["HttpApi"]["Properties"]
    routes = {(e["Properties"]["Method"], e["Properties"]["Path"])
              for e in resources["VisitorSessionFunction"]["Properties"]["Events"].values()}

    assert "CorsConfiguration" not in api
    assert routes == {("POST", "/visitor/session"), ("OPTIONS", "/visitor/session")}
