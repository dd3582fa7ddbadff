"""Identity once per connection (issue 15): the $connect authorizer's answers, and frames and
$disconnect taking their caller from the context API Gateway hands on instead of reading
the connection item. Statuses at the handshake for every kind of bad credential:
test_authorization.py (whose connections now pass through the authorizer too)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import Any

import jwt
import pytest
from livechat import runtime
from livechat.store import keyring
from livechat.store.keys import VISITOR_SK, visitor_pk
from livechat.store.tables import VisitorModel

from functions.ws_authorizer import app as ws_authorizer_app
from functions.ws_connect import app as ws_connect_app
from functions.ws_message import app as ws_message_app
from livechat_local.authorizer import UNAUTHORIZED, decide
from tests.integration.test_authorization import (
    ALICE,
    access_token,
    altered_agent,
    altered_visitor,
    expired_agent,
    forged_agent,
    forged_visitor,
    outside_live_chat_group,
)
from tests.support.metering import count_calls, label
from tests.support.world import LambdaContext, World, authorizer_event, connect_event, disconnect_event, message_event

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:No application metrics to publish")]


def authorize(query: dict[str, str]) -> dict[str, Any]:
    return dict(ws_authorizer_app.handler(authorizer_event("c-auth=", query), LambdaContext()))


class Calls:
    """Every AWS call by kind, as bench/route_cost.py labels them."""

    def __init__(self) -> None:
        self.seen: Counter[str] = Counter()

    def on_call(self, service: str, op: str, params: dict[str, Any], context: dict[str, Any]) -> None:
        self.seen[label(service, op, params)] += 1

    def on_result(self, service: str, op: str, parsed: dict[str, Any], context: dict[str, Any]) -> None:
        pass


@pytest.fixture
def calls(world: World) -> Iterator[Calls]:
    counted = Calls()
    with count_calls(counted):
        runtime.reset()  # clients and the table binding made again, inside the count
        yield counted


# --- the authorizer's answers -----------------------------------------------------------

def test_a_valid_agent_token_is_allowed_with_the_agent_as_context(world: World) -> None:
    answer = authorize({"token": world.token(ALICE)})

    assert answer["principalId"] == ALICE
    assert answer["policyDocument"]["Statement"] == [{
        "Action": "execute-api:Invoke", "Effect": "Allow",
        "Resource": authorizer_event("c-auth=", {})["methodArn"]}]
    assert answer["context"] == {"role": "agent", "principal": ALICE, "admin": "false"}


def test_an_agent_in_the_admin_group_is_marked_admin_in_the_context(world: World) -> None:
    # The performance dashboard (getStats) is for LiveChatAdmin members: the flag rides on
    # every later event of the connection, so a frame reads no group.
    answer = authorize({"token": world.token(ALICE, groups=("LiveChat", "LiveChatAdmin"))})

    assert answer["context"] == {"role": "agent", "principal": ALICE, "admin": "true"}


def test_a_connection_without_the_admin_flag_may_not_read_the_dashboard(world: World) -> None:
    # Opened before the flag existed: its context has none, so it is not admin (reconnect).
    world.agent(ALICE)
    client = world.agent_client(ALICE)
    client.world.identities[client.connection_id] = {"role": "agent", "principal": ALICE}
    answer = client.ask("getStats", **{"from": "2026-12-01", "to": "2026-12-06"})
    assert (answer["type"], answer["code"]) == ("error", "FORBIDDEN"), answer


def test_a_valid_visitor_token_is_allowed_with_the_visitor_as_context(world: World) -> None:
    session = world.visitor_token()

    answer = authorize({"visitorToken": session["visitorToken"]})

    assert answer["policyDocument"]["Statement"][0]["Effect"] == "Allow"
    assert answer["context"] == {"role": "visitor", "principal": session["visitorId"], "admin": "false"}


def test_the_context_holds_only_strings(world: World) -> None:
    # API Gateway refuses an object or array in the context (the handshake fails with 500)
    for query in ({"token": world.token(ALICE)}, {"visitorToken": world.visitor_token()["visitorToken"]}):
        assert all(isinstance(value, str) for value in authorize(query)["context"].values())


def missing(world: World) -> dict[str, str]:
    return {}


def expired_visitor(world: World) -> dict[str, str]:
    claims = {"sub": "v_expired", "aud": "livechat:visitor", "iat": 1, "exp": 2}
    return {"visitorToken": jwt.encode(claims, keyring.visitor_secret(), algorithm="HS256")}


@pytest.mark.parametrize("credentials", [
    missing, forged_agent, altered_agent, expired_agent, access_token, forged_visitor, altered_visitor,
    expired_visitor])
def test_a_missing_forged_or_expired_token_raises_unauthorized_which_api_gateway_answers_401(
        world: World, credentials: Callable[[World], dict[str, str]]) -> None:
    query = credentials(world)

    with pytest.raises(Exception, match=f"^{UNAUTHORIZED}$"):
        authorize(query)
    assert decide(lambda event: ws_authorizer_app.handler(event, LambdaContext()),
                  authorizer_event("c-auth=", query)).status == 401


def test_an_agent_outside_the_live_chat_group_is_denied_which_api_gateway_answers_403(world: World) -> None:
    answer = authorize(outside_live_chat_group(world))

    assert [s["Effect"] for s in answer["policyDocument"]["Statement"]] == ["Deny"]
    assert "context" not in answer


def test_the_authorizer_reads_no_table(world: World, calls: Calls) -> None:
    token, session = world.token(ALICE), world.visitor_token()
    calls.seen.clear()

    authorize({"token": token})
    authorize({"visitorToken": session["visitorToken"]})

    assert not [kind for kind in calls.seen if kind.split(" ")[0] in {
        "GetItem", "Query", "PutItem", "UpdateItem", "DeleteItem", "TransactWriteItems"}]


# --- the routes after $connect ----------------------------------------------------------

def test_a_frame_takes_its_caller_from_the_authorizer_context_without_reading_the_connection(
        world: World, calls: Calls) -> None:
    # Given an agent connected through the authorizer
    world.agent(ALICE)
    alice = world.agent_client(ALICE)
    assert alice.identity is not None and alice.identity["principal"] == ALICE
    calls.seen.clear()

    # When she sends a frame
    assert alice.ask("setStatus", status="away")["type"] == "ack"

    # Then the status was written and no connection item read
    assert world.agent_item(ALICE).status == "away"
    assert calls.seen["UpdateItem agent"] == 1
    assert calls.seen["GetItem connection"] == 0


def test_a_disconnect_takes_its_caller_from_the_context_too(world: World, calls: Calls) -> None:
    visitor = world.visitor_client()
    calls.seen.clear()

    visitor.disconnect()

    assert calls.seen["GetItem connection"] == 0
    assert calls.seen["DeleteItem connection"] == 1
    row = VisitorModel.get(visitor_pk(visitor.principal), VISITOR_SK, consistent_read=True)
    assert not row.connections


def test_a_disconnect_after_the_visitor_was_erased_does_not_write_the_visitor_back(world: World) -> None:
    # Given a connected visitor whose item is then erased (livechat visitor erase closes the
    # sockets after deleting the items: API Gateway then sends $disconnect)
    visitor = world.visitor_client()
    VisitorModel(visitor_pk(visitor.principal), VISITOR_SK).delete()

    # When the $disconnect arrives with the authorizer's context
    visitor.disconnect()

    # Then no visitor item comes back
    with pytest.raises(VisitorModel.DoesNotExist):
        VisitorModel.get(visitor_pk(visitor.principal), VISITOR_SK, consistent_read=True)


def test_a_connection_opened_before_the_authorizer_was_deployed_is_still_served_from_its_item(
        world: World, calls: Calls) -> None:
    # Given a connection whose $connect ran with no authorizer (the deployment adding it was
    # under way): $connect checked the token itself
    world.agent(ALICE)
    response = ws_connect_app.handler(connect_event("c-old=", {"token": world.token(ALICE)}), LambdaContext())
    assert response == {"statusCode": 200}
    calls.seen.clear()

    # When it sends a frame and then closes, with no authorizer context on either event
    ws_message_app.handler(message_event("c-old=", '{"action": "setStatus", "status": "away"}'), LambdaContext())
    ws_connect_app.handler(disconnect_event("c-old="), LambdaContext())

    # Then the connection item named the caller, as before the authorizer
    assert world.agent_item(ALICE).status == "away"
    assert calls.seen["GetItem connection"] == 2
    assert not world.agent_item(ALICE).connections
