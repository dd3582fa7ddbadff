"""The local stack's API Gateway side of the $connect authorizer (livechat_local.authorizer,
used by the gateway emulator and the tests' world): how an answer becomes a handshake
status or the `requestContext.authorizer` of later events, and those events' shapes as
Powertools' parser models and the handlers read them."""

from __future__ import annotations

from typing import Any

import pytest
from aws_lambda_powertools.utilities.parser import parse
from aws_lambda_powertools.utilities.parser.models import (
    APIGatewayWebSocketConnectEventModel,
    APIGatewayWebSocketDisconnectEventModel,
    APIGatewayWebSocketMessageEventModel,
)
from livechat.api.authorizer import AuthorizerEvent
from livechat.api.ws_connect_events import ConnectEvent, DisconnectEvent
from livechat.api.ws_message_event import MessageEvent

from livechat_local import events
from livechat_local.authorizer import BODIES, decide, decision_of

pytestmark = pytest.mark.unit

ARN = "arn:aws:execute-api:us-east-1:123456789012:abc123/local/$connect"


def answer(effect: str = "Allow", resource: Any = ARN, context: Any = None, principal: Any = "p") -> dict[str, Any]:
    found: dict[str, Any] = {"principalId": principal, "policyDocument": {"Version": "2012-10-17", "Statement": [
        {"Action": "execute-api:Invoke", "Effect": effect, "Resource": resource}]}}
    if context is not None:
        found["context"] = context
    return found


def test_an_allow_on_the_method_arn_passes_the_context_with_the_principal_and_latency() -> None:
    decision = decision_of(answer(context={"role": "agent", "principal": "a@example.com"}), ARN, latency_ms=7)

    assert decision.status == 200
    assert decision.context == {"role": "agent", "principal": "a@example.com", "principalId": "p",
                                "integrationLatency": 7}


@pytest.mark.parametrize("resource", [ARN, "arn:aws:execute-api:us-east-1:123456789012:abc123/*", "*", [ARN]])
def test_an_allow_may_name_the_arn_by_wildcard_or_in_a_list(resource: Any) -> None:
    assert decision_of(answer(resource=resource), ARN).status == 200


@pytest.mark.parametrize("policy", [
    answer("Deny"),
    answer(resource="arn:aws:execute-api:us-east-1:123456789012:other/local/$connect"),
    {**answer(), "policyDocument": {"Statement": [
        {"Action": "execute-api:Invoke", "Effect": "Allow", "Resource": ARN},
        {"Action": "execute-api:*", "Effect": "Deny", "Resource": "*"}]}},
], ids=["deny", "allow-elsewhere", "deny-wins"])
def test_a_policy_that_does_not_allow_the_handshake_is_403(policy: dict[str, Any]) -> None:
    assert decision_of(policy, ARN).status == 403


@pytest.mark.parametrize("bad", [
    None, {"policyDocument": answer()["policyDocument"]}, {"principalId": "p"},
    answer(context={"nested": {"role": "agent"}}), answer(context={"list": ["a"]}),
], ids=["nothing", "no-principal", "no-policy", "object-in-context", "array-in-context"])
def test_an_answer_api_gateway_cannot_use_is_500(bad: Any) -> None:
    assert decision_of(bad, ARN).status == 500


def test_context_numbers_and_booleans_reach_the_routes_as_strings() -> None:
    decision = decision_of(answer(context={"n": 3, "yes": True, "no": False}), ARN)

    assert decision.context is not None
    assert {k: decision.context[k] for k in ("n", "yes", "no")} == {"n": "3", "yes": "true", "no": "false"}


def test_the_error_unauthorized_is_401_and_any_other_failure_500() -> None:
    def raising(message: str) -> Any:
        def invoke(event: dict[str, Any]) -> Any:
            raise RuntimeError(message)
        return invoke

    event = events.ws_authorizer("c1=", {})

    assert decide(raising("Unauthorized"), event).status == 401
    assert decide(raising("boom"), event).status == 500
    assert set(BODIES) == {401, 403, 500}


def test_the_authorizer_event_has_the_method_arn_of_the_stages_connect_route_and_the_query() -> None:
    event = events.ws_authorizer("c1=", {"token": "t"}, domain="abc123.execute-api.us-east-1.amazonaws.com",
                                 stage="prod")

    parsed = AuthorizerEvent.model_validate(event)

    assert event["type"] == "REQUEST"
    assert parsed.method_arn == "arn:aws:execute-api:us-east-1:123456789012:abc123/prod/$connect"
    assert parsed.query_string_parameters == {"token": "t"}
    assert event["requestContext"]["routeKey"] == "$connect"


CONTEXT = {"role": "visitor", "principal": "v_1", "principalId": "v_1", "integrationLatency": 3}


def test_later_events_carry_the_context_and_still_parse_with_powertools_models() -> None:
    connect = events.ws_connect("c1=", {"visitorToken": "t"}, authorizer=CONTEXT)
    message = events.ws_message("c1=", "{}", authorizer=CONTEXT)
    disconnect = events.ws_disconnect("c1=", authorizer=CONTEXT)

    for event in (connect, message, disconnect):
        assert event["requestContext"]["authorizer"] == CONTEXT
    parse(connect, model=APIGatewayWebSocketConnectEventModel)
    parse(message, model=APIGatewayWebSocketMessageEventModel)
    parse(disconnect, model=APIGatewayWebSocketDisconnectEventModel)
    identities = [parse(connect, model=ConnectEvent).request_context.authorizer,
                  parse(message, model=MessageEvent).request_context.authorizer,
                  parse(disconnect, model=DisconnectEvent).request_context.authorizer]
    assert [(i.role, i.principal) if i else None for i in identities] == [("visitor", "v_1")] * 3


def test_an_event_without_the_context_parses_with_no_identity() -> None:
    assert parse(events.ws_message("c1=", "{}"), model=MessageEvent).request_context.authorizer is None
