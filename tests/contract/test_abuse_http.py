"""protocol.md "Second round" (Origins, Rate limits, Cursors) and issue 14, black-box over a
`livechat dev` of its own whose workspace lists `allowed_origins` and has a `rate_limits`
block (the local stack applies no limit without one):

- a page of a site not in `allowed_origins` gets neither a session (`POST /visitor/session`
  → 403) nor a WebSocket (a visitor's handshake → 403); a listed site gets both, with CORS
  headers naming it; agents connect without an Origin;
- 11 sessions from 127.0.0.2 in one UTC minute: the 11th is 429 with `Retry-After`, while
  127.0.0.3 still gets one (the local gateway passes the peer's real address as `sourceIp`:
  clients bound to other loopback addresses are other addresses);
- a visitor's 6th live connection is refused with 429;
- a forged, altered, truncated or other agent's `listConversations` cursor → `BAD_REQUEST`.

Bounded in count and time; loopback only. No livechat import: HTTP and WebSocket only.
"""

from __future__ import annotations

import asyncio
import base64
import json
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidStatus
from websockets.typing import Origin

from tests.blackbox import Stack, Visitor, closing, run, running_stack
from tests.contract.kit import ALICE, BOB, RR, RR_DIALOG, _agents_yaml, _settings_yaml, passwords
from tests.contract.spec import covers

pytestmark = pytest.mark.contract

SHOP = "https://shop.example.com"  # the one site allowed to embed the widget
FOREIGN = "https://evil.example"
SESSIONS_PER_MINUTE = 10
CONNECTIONS_PER_VISITOR = 5
AGENTS = {ALICE: ("Alice Adams", "Alice-contract-1"), BOB: ("Bob Brown", "Bob-contract-1")}
PAGE_SIZE = 50  # listConversations' page: one more conversation gives a cursor
# Each test asks from loopback addresses of its own, so their session counts never meet.
ORIGINS_ADDRESS = "127.0.0.4"
FLOOD_ADDRESS, OTHER_ADDRESS = "127.0.0.2", "127.0.0.3"
CONNECTIONS_ADDRESS = "127.0.0.5"
CURSOR_ADDRESS = "127.0.0.6"


def workspace() -> str:
    # Conversations per visitor per hour raised: the cursor test needs more than a page of
    # conversations from one visitor.
    return f"""{_settings_yaml()}  allowed_origins: [{SHOP}]
  rate_limits:
    sessions_per_address_per_minute: {SESSIONS_PER_MINUTE}
    connections_per_visitor: {CONNECTIONS_PER_VISITOR}
    conversations_per_visitor_per_hour: 200

agents:
{_agents_yaml(AGENTS)}

dialogs:
{RR_DIALOG}"""


@pytest.fixture(scope="module")
def guarded_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    with running_stack(tmp_path_factory.mktemp("contract-abuse"), workspace(), passwords(AGENTS)) as stack:
        yield stack


# --- clients at other addresses, with an Origin -----------------------------------------------

class _FromAddress(HTTPAdapter):
    """Connections made from this local address (any of 127/8 reaches the stack)."""

    def __init__(self, address: str) -> None:
        self.address = address
        super().__init__()

    def init_poolmanager(self, *args: Any, **kwargs: Any) -> None:
        kwargs["source_address"] = (self.address, 0)
        super().init_poolmanager(*args, **kwargs)


def http_from(address: str) -> requests.Session:
    session = requests.Session()
    session.trust_env = False
    session.mount("http://", _FromAddress(address))
    return session


def post_session(stack: Stack, *, source: str, origin: str | None,
                 body: dict[str, Any] | None = None) -> requests.Response:
    headers = {"Origin": origin} if origin else {}
    with http_from(source) as http:
        return http.post(f"{stack.endpoints.http}visitor/session", json=body or {}, headers=headers, timeout=10)


def session_token(stack: Stack, source: str) -> str:
    response = post_session(stack, source=source, origin=SHOP)
    assert response.status_code == 200, response.text
    token: str = response.json()["visitorToken"]
    return token


async def open_visitor(stack: Stack, token: str, *, source: str, origin: str | None = SHOP) -> Visitor:
    ws = await connect(stack.ws_url(visitorToken=token), proxy=None, compression=None, open_timeout=10,
                       origin=Origin(origin) if origin else None, local_addr=(source, 0))
    return Visitor("visitor", ws, token=token)


async def handshake(stack: Stack, token: str, *, source: str, origin: str | None) -> int:
    """The HTTP status a visitor's WebSocket handshake ends in (101: accepted, then closed)."""
    try:
        client = await open_visitor(stack, token, source=source, origin=origin)
    except InvalidStatus as refused:
        return refused.response.status_code
    await client.close()
    return 101


def seconds_left_in_the_minute() -> float:
    return 60 - time.time() % 60


def not_near_the_end_of_the_minute(needed: float = 15.0) -> None:
    """A burst that straddled two UTC minutes would be allowed twice the limit."""
    if seconds_left_in_the_minute() < needed:
        time.sleep(seconds_left_in_the_minute() + 0.5)


# --- Origins ---------------------------------------------------------------------------------


def test_a_foreign_origin_gets_no_session_while_a_listed_one_gets_one_with_its_cors_headers(
        guarded_stack: Stack) -> None:
    # When a page of another site, and a request with no Origin, ask for a session
    refused = [post_session(guarded_stack, source=ORIGINS_ADDRESS, origin=origin) for origin in (FOREIGN, None)]
    # and the listed site does
    allowed = post_session(guarded_stack, source=ORIGINS_ADDRESS, origin=SHOP)

    # Then 403 without a token or a CORS permission; the listed site gets its token, readable
    for response in refused:
        assert response.status_code == 403, response.text
        assert response.json()["code"] == "FORBIDDEN"
        assert "visitorToken" not in response.json()
        assert "Access-Control-Allow-Origin" not in response.headers
    assert allowed.status_code == 200, allowed.text
    assert allowed.json()["visitorToken"]
    assert allowed.headers["Access-Control-Allow-Origin"] == SHOP
    assert "Origin" in allowed.headers["Vary"]


def test_the_preflight_answers_the_listed_origin_only(guarded_stack: Stack) -> None:
    def preflight(origin: str) -> requests.Response:
        with http_from(ORIGINS_ADDRESS) as http:
            return http.options(f"{guarded_stack.endpoints.http}visitor/session", timeout=10, headers={
                "Origin": origin, "Access-Control-Request-Method": "POST",
                "Access-Control-Request-Headers": "content-type"})

    listed, foreign = preflight(SHOP), preflight(FOREIGN)

    assert listed.status_code == 204
    assert listed.headers["Access-Control-Allow-Origin"] == SHOP
    assert "POST" in listed.headers["Access-Control-Allow-Methods"]
    assert "content-type" in listed.headers["Access-Control-Allow-Headers"].lower()
    assert foreign.status_code == 403
    assert "Access-Control-Allow-Origin" not in foreign.headers


def test_the_widgets_dialog_is_readable_from_the_listed_site_only(guarded_stack: Stack) -> None:
    def dialog(origin: str) -> requests.Response:
        with http_from(ORIGINS_ADDRESS) as http:
            return http.get(f"{guarded_stack.endpoints.http}dialogs/{RR}", headers={"Origin": origin}, timeout=10)

    assert dialog(SHOP).headers.get("Access-Control-Allow-Origin") == SHOP
    assert "Access-Control-Allow-Origin" not in dialog(FOREIGN).headers


def test_a_visitors_handshake_from_a_foreign_origin_is_refused_with_403_and_a_listed_one_accepted(
        guarded_stack: Stack) -> None:
    async def scenario() -> None:
        # Given a genuine visitor token
        token = session_token(guarded_stack, ORIGINS_ADDRESS)

        # Then its WebSocket opens from the listed site only
        assert await handshake(guarded_stack, token, source=ORIGINS_ADDRESS, origin=FOREIGN) == 403
        assert await handshake(guarded_stack, token, source=ORIGINS_ADDRESS, origin=None) == 403
        visitor = await open_visitor(guarded_stack, token, source=ORIGINS_ADDRESS)
        try:
            await visitor.ok("ping", "pong")
        finally:
            await closing(visitor)

    run(scenario)


def test_an_agent_connects_without_an_origin_check(guarded_stack: Stack) -> None:
    async def scenario() -> None:
        agent = await guarded_stack.agent(ALICE, status=None)  # no Origin header at all
        try:
            await agent.ok("ping", "pong")
        finally:
            await closing(agent)

    run(scenario)


# --- sessions per address per minute ------------------------------------------------------


def test_the_eleventh_session_from_one_address_in_a_minute_is_429_while_another_address_gets_one(
        guarded_stack: Stack) -> None:
    # Given a minute with room for the whole burst
    not_near_the_end_of_the_minute()

    # When 127.0.0.2 asks for 11 sessions
    answers = [post_session(guarded_stack, source=FLOOD_ADDRESS, origin=SHOP)
               for _ in range(SESSIONS_PER_MINUTE + 1)]
    left = seconds_left_in_the_minute()

    # Then the first 10 get one; the 11th is 429, Retry-After the seconds to the minute's end
    assert [a.status_code for a in answers[:SESSIONS_PER_MINUTE]] == [200] * SESSIONS_PER_MINUTE
    refused = answers[-1]
    assert refused.status_code == 429, refused.text
    retry_after = int(refused.headers["Retry-After"])
    assert 1 <= retry_after <= 60 and abs(retry_after - left) <= 2, (retry_after, left)
    body = refused.json()
    assert body["code"] == "RATE_LIMITED" and body["retryAfterSeconds"] == retry_after, body
    assert "visitorToken" not in body
    # (and the browser may read the refusal: it carries the listed origin's CORS header,
    # and Retry-After is exposed to the page)
    assert refused.headers["Access-Control-Allow-Origin"] == SHOP
    assert refused.headers["Access-Control-Expose-Headers"] == "Retry-After"
    # Another address is not affected
    assert post_session(guarded_stack, source=OTHER_ADDRESS, origin=SHOP).status_code == 200


# --- connections per visitor ------------------------------------------------------------------


def test_a_visitors_sixth_connection_is_refused_with_429_until_one_closes(guarded_stack: Stack) -> None:
    async def scenario() -> None:
        # Given a visitor with 5 live connections
        token = session_token(guarded_stack, CONNECTIONS_ADDRESS)
        opened = [await open_visitor(guarded_stack, token, source=CONNECTIONS_ADDRESS)
                  for _ in range(CONNECTIONS_PER_VISITOR)]
        try:
            # When a 6th opens, then 429 at the handshake; the five still work
            assert await handshake(guarded_stack, token, source=CONNECTIONS_ADDRESS, origin=SHOP) == 429
            for visitor in opened:
                await visitor.ok("ping", "pong")
            # Another visitor is not affected
            other = session_token(guarded_stack, CONNECTIONS_ADDRESS)
            assert await handshake(guarded_stack, other, source=CONNECTIONS_ADDRESS, origin=SHOP) == 101

            # When one closes (its $disconnect is handled a moment later), there is room again
            await opened.pop().close()
            deadline = time.monotonic() + 5
            status = 429
            while status == 429 and time.monotonic() < deadline:
                await asyncio.sleep(0.2)
                status = await handshake(guarded_stack, token, source=CONNECTIONS_ADDRESS, origin=SHOP)
            assert status == 101
        finally:
            await closing(*opened)

    run(scenario)


# --- cursors -------------------------------------------------------------------------------------


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


async def start_paced(visitor: Visitor, count: int) -> None:
    """`count` conversations, at most ~8 frames a second (the stack bounds frames per
    connection: 10/s with a burst of 20); a RATE_LIMITED answer waits and asks again."""
    done = 0
    while done < count:
        answer = await visitor.ask("startConversation", dialogId=RR, clientConversationId=uuid.uuid4().hex,
                                   page={"url": "https://shop.example.com/pricing", "title": "Pricing"})
        if answer.get("code") == "RATE_LIMITED":
            await asyncio.sleep(min(float(answer.get("retryAfterSeconds", 1)), 5.0))
            continue
        assert answer["type"] == "conversationStarted", answer
        done += 1
        await asyncio.sleep(0.12)


@covers(actions=["listConversations"], codes=["BAD_REQUEST"])
def test_a_forged_altered_truncated_or_other_agents_cursor_is_a_bad_request(guarded_stack: Stack) -> None:
    async def scenario() -> None:
        # Given more conversations than a page, and Alice's cursor to the next page
        visitor = await open_visitor(guarded_stack, session_token(guarded_stack, CURSOR_ADDRESS),
                                     source=CURSOR_ADDRESS)
        alice = await guarded_stack.agent(ALICE, status=None)
        bob = await guarded_stack.agent(BOB, status=None)
        try:
            await start_paced(visitor, PAGE_SIZE + 1)
            first = await alice.ok("listConversations", "conversations")
            cursor = first["cursor"]
            assert isinstance(cursor, str) and cursor, first

            raw = _unb64(cursor)
            flipped = cursor[:10] + ("A" if cursor[10] != "A" else "B") + cursor[11:]
            # A start key of the client's choosing, in the shape a cursor carries
            wanted = {"pk": {"S": "CONV#x"}, "sk": {"S": "META"}, "gsi1pk": {"S": "CONVS"},
                      "gsi1sk": {"S": "2000-01-01T00:00:00.000Z#x"}}
            forged = [
                base64.urlsafe_b64encode(json.dumps(wanted).encode()).decode(),
                _b64(raw[:1] + bytes(32) + json.dumps(wanted).encode()),
            ]
            # When anyone hands back something this server did not give them
            for bad in (flipped, cursor[:-4], cursor[: len(cursor) // 2], *forged):
                answer = await alice.ask("listConversations", cursor=bad)
                assert (answer["type"], answer.get("code")) == ("error", "BAD_REQUEST"), (bad, answer)
                assert "cursor" in answer["message"], answer
            # Alice's genuine cursor is hers only
            answer = await bob.ask("listConversations", cursor=cursor)
            assert (answer["type"], answer.get("code")) == ("error", "BAD_REQUEST"), answer
            assert "cursor" in answer["message"], answer

            # Then the genuine one, from Alice, still pages on
            second = await alice.ok("listConversations", "conversations", cursor=cursor)
            assert second["items"], second
            assert not {c["conversationId"] for c in second["items"]} & {c["conversationId"] for c in first["items"]}
        finally:
            await closing(visitor, alice, bob)

    run(scenario, timeout=120)
