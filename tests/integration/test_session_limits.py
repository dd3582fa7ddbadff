"""Sessions and connections (spec/protocol.md and workspace.md, second round; issue 14):

- `POST /visitor/session` over `sessions_per_address_per_minute` from one
  `requestContext.http.sourceIp` → HTTP 429 with `Retry-After` (seconds to the UTC minute's
  end, rounded up) and a JSON error, nothing stored; other addresses are not affected; the
  count is a DynamoDB item per (address, minute), so it holds across Lambda instances, and
  carries the table's TTL attribute.
- A visitor's `$connect` over `connections_per_visitor` → HTTP 429, nothing stored; the
  check is the condition of the UpdateItem that adds the connection to the visitor's set, so
  an accepted handshake costs no extra call; connections that cannot be alive any more are
  dropped when they would refuse one.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import boto3
import pytest
from livechat import runtime
from livechat.domain.clock import iso
from livechat.store.keys import CONNECTION_SK, VISITOR_SK, connection_pk, visitor_pk
from livechat.store.tables import ConnectionModel
from pynamodb.connection.base import Connection

from functions.visitor_session import app as visitor_session_app
from tests.support.aws import REGION, TABLE
from tests.support.clock import FakeClock, controlled_clock
from tests.support.snapshot import table_snapshot as _table_snapshot
from tests.support.world import Client, World

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:No application metrics to publish")]

# 20.5 seconds into a UTC minute: 39.5 s left, rounded up to 40.
START = datetime(2026, 12, 5, 10, 10, 20, 500_000, tzinfo=UTC)
HOME, OTHER = "198.51.100.7", "203.0.113.9"
ALICE = "alice@example.com"


@pytest.fixture
def clock(aws: Any) -> Iterator[FakeClock]:
    with controlled_clock(START) as fake:
        yield fake


@pytest.fixture
def dynamodb_calls(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The DynamoDB operations the product makes through PynamoDB, in order."""
    calls: list[str] = []
    real = Connection._make_api_call

    def recording(self: Connection, operation_name: str, operation_kwargs: dict[str, Any]) -> Any:
        calls.append(operation_name)
        return real(self, operation_name, operation_kwargs)

    monkeypatch.setattr(Connection, "_make_api_call", recording)
    return calls


def post_session(source_ip: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
    from livechat_local import events
    from tests.support.world import LambdaContext

    event = events.http_v2("POST", "/visitor/session", json.dumps(body or {}),
                           headers={"content-type": "application/json"}, source_ip=source_ip)
    result: dict[str, Any] = visitor_session_app.handler(event, LambdaContext())
    return result


def header(response: dict[str, Any], name: str) -> str | None:
    return {k.lower(): v for k, v in (response.get("headers") or {}).items()}.get(name.lower())


def raw_item(pk: str, sk: str) -> dict[str, Any] | None:
    item: dict[str, Any] | None = boto3.client("dynamodb", region_name=REGION).get_item(
        TableName=TABLE, Key={"pk": {"S": pk}, "sk": {"S": sk}}, ConsistentRead=True).get("Item")
    return item


def table_snapshot() -> list[dict[str, Any]]:
    """The table, but for Powertools Idempotency records: a failure e-mail's asynchronous
    invocation left running by an earlier test may still write one (nothing here does)."""
    return [item for item in _table_snapshot() if item["pk"]["S"] != "IDEMPOTENCY"]


# --- sessions per address per minute ------------------------------------------------------------


def test_sessions_over_the_minute_from_one_address_are_429_with_retry_after_and_store_nothing(
        world: World, clock: FakeClock) -> None:
    # Given at most 3 sessions per address per minute, and 3 taken from one address
    world.settings(rate_limits={"sessions_per_address_per_minute": 3})
    for _ in range(3):
        assert post_session(HOME)["statusCode"] == 200
    before = table_snapshot()

    # When that address asks once more in the same minute
    refused = post_session(HOME)

    # Then 429: Retry-After to the minute's end (39.5 s, rounded up), the same in the body
    assert refused["statusCode"] == 429, refused
    body = json.loads(refused["body"])
    assert body["code"] == "RATE_LIMITED" and "per minute" in body["message"], body
    assert body["retryAfterSeconds"] == 40
    assert header(refused, "Retry-After") == "40"
    assert header(refused, "Access-Control-Expose-Headers") == "Retry-After"  # CORS: no list, `*`
    assert "visitorToken" not in body
    # and nothing was stored (not even a count)
    assert table_snapshot() == before


def test_another_address_still_gets_sessions(world: World, clock: FakeClock) -> None:
    world.settings(rate_limits={"sessions_per_address_per_minute": 2})
    for _ in range(2):
        post_session(HOME)
    assert post_session(HOME)["statusCode"] == 429

    assert [post_session(OTHER)["statusCode"] for _ in range(2)] == [200, 200]
    assert post_session(OTHER)["statusCode"] == 429


def test_the_next_utc_minute_starts_afresh(world: World, clock: FakeClock) -> None:
    world.settings(rate_limits={"sessions_per_address_per_minute": 2})
    for _ in range(2):
        post_session(HOME)
    clock.advance(39.4)  # 10:10:59.9, still the same window
    assert post_session(HOME)["statusCode"] == 429
    assert header(post_session(HOME), "Retry-After") == "1"  # 0.1 s, rounded up

    clock.advance(0.1)  # 10:11:00.0

    assert post_session(HOME)["statusCode"] == 200


def test_the_count_lives_in_dynamodb_with_the_tables_ttl_so_it_holds_across_instances(
        world: World, clock: FakeClock) -> None:
    world.settings(rate_limits={"sessions_per_address_per_minute": 2})
    post_session(HOME)
    runtime.reset()  # as a fresh Lambda container: no cache of any kind survives
    post_session(HOME)
    runtime.reset()

    assert post_session(HOME)["statusCode"] == 429
    minute = int(START.timestamp()) // 60 * 60
    item = raw_item(f"RATE#addr:{HOME}", f"m{minute}")
    assert item is not None and item["value"] == {"N": "2"}
    # template.yaml's TimeToLiveSpecification names `expiration`: gone a window after its end
    assert item["expiration"] == {"N": str(minute + 120)}


def test_sessions_asked_at_once_are_issued_exactly_up_to_the_limit(world: World, clock: FakeClock) -> None:
    # Given a limit of 5, when 20 requests from one address run at once (other instances)
    world.settings(rate_limits={"sessions_per_address_per_minute": 5})
    statuses: list[int] = []
    lock = threading.Lock()

    def ask() -> None:
        status = post_session(HOME)["statusCode"]
        with lock:
            statuses.append(status)

    threads = [threading.Thread(target=ask) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()

    # Then exactly 5 get a session: the condition on the counter's ADD decides, not a read
    assert sorted(statuses) == [200] * 5 + [429] * 15


def test_a_malformed_request_is_not_counted(world: World, clock: FakeClock) -> None:
    world.settings(rate_limits={"sessions_per_address_per_minute": 1})
    from livechat_local import events
    from tests.support.world import LambdaContext

    bad = events.http_v2("POST", "/visitor/session", "[1, 2]", source_ip=HOME,
                         headers={"content-type": "application/json"})
    assert visitor_session_app.handler(bad, LambdaContext())["statusCode"] == 400

    assert post_session(HOME)["statusCode"] == 200


def test_a_refused_renewal_counts_as_a_request(world: World, clock: FakeClock) -> None:
    # The limit bounds what one address may ask: a forged token is still one request.
    world.settings(rate_limits={"sessions_per_address_per_minute": 1})

    assert post_session(HOME, {"visitorToken": "forged"})["statusCode"] == 401
    assert post_session(HOME)["statusCode"] == 429


def test_without_a_rate_limits_block_the_tests_and_livechat_dev_count_nothing(
        world: World, clock: FakeClock, dynamodb_calls: list[str]) -> None:
    world.settings()  # no block; LIVECHAT_DEFAULT_RATE_LIMITS=0 as on the local stack

    assert {post_session(HOME)["statusCode"] for _ in range(15)} == {200}
    assert "UpdateItem" not in dynamodb_calls


def test_a_deployment_applies_the_default_of_10_per_minute_without_a_block(
        world: World, clock: FakeClock, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVECHAT_DEFAULT_RATE_LIMITS", "1")
    runtime.reset()
    world.settings()

    statuses = [post_session(HOME)["statusCode"] for _ in range(11)]

    assert statuses == [200] * 10 + [429]


# --- connections per visitor ----------------------------------------------------------------------


def connection_item(connection_id: str) -> dict[str, Any] | None:
    return raw_item(connection_pk(connection_id), CONNECTION_SK)


def visitor_set(visitor_id: str) -> set[str]:
    item = raw_item(visitor_pk(visitor_id), VISITOR_SK)
    return set(item["connections"]["SS"]) if item and "connections" in item else set()


def test_one_connection_over_the_limit_is_refused_with_429_and_nothing_stored(world: World) -> None:
    # Given at most 2 connections per visitor, and a visitor with 2 open
    world.settings(rate_limits={"connections_per_visitor": 2})
    first, token = visitor_with_token(world)
    assert world.connect({"visitorToken": token})[0] == 200
    someone_else = world.visitor_token()["visitorToken"]
    before = table_snapshot()

    # When the visitor opens a third
    status, connection_id = world.connect({"visitorToken": token})

    # Then 429 at the handshake; no connection item, the visitor's set unchanged
    assert status == 429
    assert connection_item(connection_id) is None
    assert table_snapshot() == before
    assert len(visitor_set(first.principal)) == 2
    # Another visitor is not affected
    assert world.connect({"visitorToken": someone_else})[0] == 200


def visitor_with_token(world: World) -> tuple[Client, str]:
    """A connected visitor and their token (to open more connections as the same visitor)."""
    token: str = world.visitor_token()["visitorToken"]
    return world.visitor_client(token), token


def test_a_closed_connection_frees_its_place(world: World) -> None:
    world.settings(rate_limits={"connections_per_visitor": 1})
    first, token = visitor_with_token(world)
    assert world.connect({"visitorToken": token})[0] == 429

    first.disconnect()

    assert world.connect({"visitorToken": token})[0] == 200


def test_an_accepted_handshake_makes_no_extra_call_for_the_limit(
        world: World, dynamodb_calls: list[str]) -> None:
    # The condition rides on the UpdateItem the handshake makes anyway: with or without a
    # limit, a visitor's $connect is one settings read, the connection item, the set's update.
    token = world.visitor_token()["visitorToken"]
    world.settings()
    dynamodb_calls.clear()
    assert world.connect({"visitorToken": token})[0] == 200
    unlimited = list(dynamodb_calls)

    world.settings(rate_limits={"connections_per_visitor": 5})
    dynamodb_calls.clear()
    assert world.connect({"visitorToken": token})[0] == 200

    assert dynamodb_calls == unlimited == ["GetItem", "PutItem", "UpdateItem"]


def test_a_connection_older_than_api_gateways_two_hours_is_dropped_at_the_limit(world: World) -> None:
    # Given a visitor at the limit of 2, one of whose connections lost its $disconnect
    # (registered more than 2 hours ago: API Gateway has closed it for sure)
    world.settings(rate_limits={"connections_per_visitor": 2})
    old, token = visitor_with_token(world)
    status, live = world.connect({"visitorToken": token})
    assert status == 200
    item = ConnectionModel.get(connection_pk(old.connection_id), CONNECTION_SK)
    item.update(actions=[ConnectionModel.connected_at.set(
        iso(datetime.now(UTC) - timedelta(hours=2, minutes=1)))])

    # When the visitor connects again
    status, newest = world.connect({"visitorToken": token})

    # Then the dead one is forgotten and the new one accepted; the live one stays
    assert status == 200
    assert visitor_set(old.principal) == {live, newest}
    assert connection_item(old.connection_id) is None


def test_a_connection_whose_item_is_gone_is_dropped_at_the_limit(world: World) -> None:
    world.settings(rate_limits={"connections_per_visitor": 1})
    orphan, token = visitor_with_token(world)
    ConnectionModel(connection_pk(orphan.connection_id), CONNECTION_SK).delete()

    status, newest = world.connect({"visitorToken": token})

    assert status == 200
    assert visitor_set(orphan.principal) == {newest}


def test_recent_live_connections_are_never_dropped(world: World) -> None:
    world.settings(rate_limits={"connections_per_visitor": 2})
    first, token = visitor_with_token(world)
    _, second = world.connect({"visitorToken": token})
    held = visitor_set(first.principal)

    assert world.connect({"visitorToken": token})[0] == 429
    assert visitor_set(first.principal) == held == {first.connection_id, second}


def test_agents_connections_are_not_limited_by_the_visitors_rule(world: World) -> None:
    world.agent(ALICE)
    world.settings(rate_limits={"connections_per_visitor": 1})

    assert [world.connect({"token": world.token(ALICE)})[0] for _ in range(3)] == [200] * 3


def test_without_a_block_the_tests_and_livechat_dev_allow_any_number(world: World) -> None:
    world.settings()
    token = world.visitor_token()["visitorToken"]

    assert {world.connect({"visitorToken": token})[0] for _ in range(8)} == {200}
