"""Least privilege, proven (issue 14): each function's AWS calls are checked against its own
role as template.yaml deploys it (livechat_local.iam; on for the whole suite through
tests/support/iam.py). These tests show the check refusing what the template refuses —
the web function reading anything but a dialog or the VAPID public key, ws_connect reading
the VAPID private key — the mapping of calls to IAM actions and resources it relies on,
and the conditions it evaluates itself (moto's evaluator honours StringEquals only)."""

from __future__ import annotations

import base64
import json
from typing import Any

import boto3
import pytest
from livechat import runtime
from livechat.domain import vapid as vapid_rules
from livechat.outbound import timers
from livechat.store import vapid
from livechat.store.keys import AGENT_PK, DIALOG_PK, VAPID_PRIVATE_PK, VAPID_PUBLIC_PK
from livechat.store.tables import AgentModel
from moto.core.models import DEFAULT_ACCOUNT_ID

from functions.web import app as web_app
from functions.ws_connect import app as ws_connect_app
from livechat_local import events
from livechat_local.iam import (
    AccessDenied,
    Checker,
    Deployment,
    Request,
    Requests,
    UnsupportedPolicy,
    active,
    condition_holds,
    key_schema,
    merge_usage,
    template_policies,
)
from tests.support.aws import REGION, TABLE, WS_ENDPOINT
from tests.support.iam import QUEUES, deployment, pytest_runtest_makereport, refusals
from tests.support.iam_report import unused_grants
from tests.support.workflow import SENDER, TEAM, Workflow, alias_arn, eventually, function_arn
from tests.support.world import LambdaContext, World, connect_event

pytestmark = [pytest.mark.integration,
              pytest.mark.filterwarnings("ignore:No application metrics to publish")]

TABLE_ARN = f"arn:aws:dynamodb:{REGION}:{DEFAULT_ACCOUNT_ID}:table/{TABLE}"


def names_of_the_tests() -> Deployment:
    """The names of tests/support/aws.py's resources, without reading the environment."""
    return Deployment.from_environment(
        environ={"LIVECHAT_TABLE_NAME": TABLE, "LIVECHAT_WS_MANAGEMENT_ENDPOINT": WS_ENDPOINT,
                 "LIVECHAT_STATE_MACHINE_ARN": f"arn:aws:states:{REGION}:{DEFAULT_ACCOUNT_ID}:stateMachine:offer"},
        queues=QUEUES, parameters={"SenderIdentity": SENDER}, verified_identities=(SENDER,))


@pytest.fixture(scope="module")
def checker() -> Checker:
    """A checker of its own (not installed): evaluates requests, refuses nothing by itself."""
    return Checker(template_policies(), names_of_the_tests)


def requests_of(service: str, operation: str, params: dict[str, Any], url: str = "") -> list[Request]:
    prefix = {"sesv2": "ses", "apigatewaymanagementapi": "execute-api", "stepfunctions": "states"}.get(service, service)
    return Requests(names_of_the_tests(), key_schema(template_policies().source)).of(service, prefix, operation,
                                                                                    params, url)


def allowed(checker: Checker, principal: str, service: str, operation: str, params: dict[str, Any], *,
            url: str = "") -> bool:
    return all(checker.decide(principal, r).allowed for r in requests_of(service, operation, params, url))


def key(pk: str, sk: str = "x") -> dict[str, Any]:
    return {"pk": {"S": pk}, "sk": {"S": sk}}


def get_item(pk: str) -> dict[str, Any]:
    return {"TableName": TABLE, "Key": key(pk)}


# --- the web function: dialogs and the VAPID public key, nothing else ----------------------


@pytest.mark.parametrize(("leading_key", "may_read"), [
    (DIALOG_PK, True), (VAPID_PUBLIC_PK, True),
    (VAPID_PRIVATE_PK, False), (AGENT_PK, False), ("CONV#0123", False), ("CONN#c1=", False),
])
def test_the_web_function_reads_only_dialogs_and_the_vapid_public_key(
        checker: Checker, leading_key: str, may_read: bool) -> None:
    assert allowed(checker, "WebFunction", "dynamodb", "GetItem", get_item(leading_key)) is may_read


def test_the_web_function_creates_the_vapid_pair_by_two_puts_and_may_do_nothing_else_in_a_transaction(
        checker: Checker) -> None:
    def transaction(*items: dict[str, Any]) -> dict[str, Any]:
        return {"TransactItems": list(items)}

    put_public = {"Put": {"TableName": TABLE, "Item": key(VAPID_PUBLIC_PK, "PUBLIC")}}
    put_private = {"Put": {"TableName": TABLE, "Item": key(VAPID_PRIVATE_PK, "PRIVATE")}}

    assert allowed(checker, "WebFunction", "dynamodb", "TransactWriteItems", transaction(put_public, put_private))
    for intruder in ({"Update": {"TableName": TABLE, "Key": key(VAPID_PUBLIC_PK, "PUBLIC")}},
                     {"Delete": {"TableName": TABLE, "Key": key(VAPID_PRIVATE_PK, "PRIVATE")}},
                     {"ConditionCheck": {"TableName": TABLE, "Key": key(DIALOG_PK)}},
                     {"Put": {"TableName": TABLE, "Item": key(AGENT_PK, "eve@example.com")}}):
        assert not allowed(checker, "WebFunction", "dynamodb", "TransactWriteItems",
                           transaction(put_public, put_private, intruder)), intruder


def test_a_web_request_that_reads_an_agent_item_is_refused_naming_the_function_action_and_resource(
        aws: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a web route that (wrongly) reads an agent's item
    world.agent("alice@example.com")
    from livechat.api import pages

    def leaky_dialog(*args: Any, **kwargs: Any) -> Any:
        AgentModel.get(AGENT_PK, "alice@example.com")
        raise AssertionError("the read should have been refused")

    monkeypatch.setattr(pages, "dialog", leaky_dialog)

    # When a browser asks for a dialog
    event = events.http_v2("GET", "/dialogs/sales", "", route="/dialogs/{dialogId}",
                           path_parameters={"dialogId": "sales"})
    with refusals() as refused, pytest.raises(Exception) as raised:
        web_app.handler(event, LambdaContext())

    # Then DynamoDB was never asked: the check refused it as AWS would, naming who and what
    (denial,) = refused
    assert (denial.principal, denial.request.action, denial.request.resource) == (
        "WebFunction", "dynamodb:GetItem", TABLE_ARN)
    assert denial.request.context == {"dynamodb:LeadingKeys": (AGENT_PK,)}
    message = str(raised.value)
    assert "AccessDeniedException" in message
    assert all(part in message for part in ("WebFunction", "dynamodb:GetItem", TABLE_ARN))


def test_the_web_function_may_not_read_the_vapid_private_key(
        aws: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the key pair exists (made by a /config.json) and a web route that reads the private half
    host = "abc123.execute-api.us-east-1.amazonaws.com"
    config = events.http_v2("GET", "/config.json", "", domain=host,
                            headers={"Host": host, "X-Forwarded-Proto": "https"})
    assert web_app.handler(config, LambdaContext())["statusCode"] == 200  # allowed: VAPID read, pair put
    from livechat.api import pages

    monkeypatch.setattr(pages, "dialog", lambda *args, **kwargs: vapid.key_pair())

    # When the route runs
    event = events.http_v2("GET", "/dialogs/sales", "", route="/dialogs/{dialogId}",
                           path_parameters={"dialogId": "sales"})
    with refusals() as refused, pytest.raises(Exception, match="AccessDeniedException"):
        web_app.handler(event, LambdaContext())

    # Then the read of VAPIDKEY is refused
    assert [(d.principal, d.request.action, d.request.context["dynamodb:LeadingKeys"]) for d in refused] == [
        ("WebFunction", "dynamodb:GetItem", (VAPID_PRIVATE_PK,))]


# --- ws_connect and the other functions: the rest of the table, or all of it ---------------


def test_ws_connect_may_not_read_the_vapid_private_key(
        aws: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a $connect that (wrongly) reads the VAPID key pair, which a sender made earlier
    assert vapid.create(vapid_rules.generate())
    from livechat.api import gateway

    connect = gateway.on_connect

    def reading_the_private_key(event: Any) -> Any:
        vapid.key_pair()
        return connect(event)

    monkeypatch.setattr(gateway, "on_connect", reading_the_private_key)

    # When a visitor connects
    token = world.visitor_token()["visitorToken"]
    with refusals() as refused, pytest.raises(Exception, match="AccessDeniedException"):
        ws_connect_app.handler(connect_event("c-iam=", {"visitorToken": token}), LambdaContext())

    # Then the read is refused
    assert [(d.principal, d.request.action, d.request.context["dynamodb:LeadingKeys"]) for d in refused] == [
        ("WsConnectFunction", "dynamodb:GetItem", (VAPID_PRIVATE_PK,))]


@pytest.mark.parametrize(("principal", "may_read_private_key"), [
    ("WsConnectFunction", False), ("NotifyFailureFunction", False), ("WebFunction", False),
    ("VisitorSessionFunction", False),
    ("WsMessageFunction", True), ("RouteChatFunction", True), ("TimeoutSweeperFunction", True),
])
def test_only_the_push_senders_read_the_vapid_private_key(
        checker: Checker, principal: str, may_read_private_key: bool) -> None:
    assert allowed(checker, principal, "dynamodb", "GetItem", get_item(VAPID_PRIVATE_PK)) is may_read_private_key


def test_ws_connect_and_notify_failure_keep_the_rest_of_the_table_but_no_index(checker: Checker) -> None:
    inbox = {"TableName": TABLE, "IndexName": "gsi2", "KeyConditionExpression": "#0 = :0",
             "ExpressionAttributeNames": {"#0": "gsi2pk"},
             "ExpressionAttributeValues": {":0": {"S": "INBOX#alice@example.com"}}}
    events = {"TableName": TABLE, "KeyConditionExpression": "#0 = :0 AND #1 > :1",
              "ExpressionAttributeNames": {"#0": "pk", "#1": "sk"},
              "ExpressionAttributeValues": {":0": {"S": "CONV#1"}, ":1": {"S": "EVT#"}}}
    for principal in ("WsConnectFunction", "NotifyFailureFunction"):
        assert allowed(checker, principal, "dynamodb", "GetItem", get_item(AGENT_PK))
        assert allowed(checker, principal, "dynamodb", "PutItem", {"TableName": TABLE, "Item": key("IDEMPOTENCY")})
        assert not allowed(checker, principal, "dynamodb", "Query", inbox)
        assert not allowed(checker, principal, "dynamodb", "GetItem", {"TableName": "other", "Key": key(AGENT_PK)})
    # The failure e-mail reads the conversation's events; $connect and $disconnect query nothing.
    assert allowed(checker, "NotifyFailureFunction", "dynamodb", "Query", events)
    assert not allowed(checker, "WsConnectFunction", "dynamodb", "Query", events)
    # The inbox and the conversations view are ws_message's.
    assert allowed(checker, "WsMessageFunction", "dynamodb", "Query", inbox)


# --- the mapping of calls to actions and resources --------------------------------------


def test_a_transaction_is_authorised_item_by_item() -> None:
    items = [{"Put": {"TableName": TABLE, "Item": key("CONV#1", "EVT#1")}},
             {"Update": {"TableName": TABLE, "Key": key("CONV#1", "META")}},
             {"Delete": {"TableName": TABLE, "Key": key("PUSH#a", "h")}},
             {"ConditionCheck": {"TableName": TABLE, "Key": key(AGENT_PK, "a")}}]

    found = requests_of("dynamodb", "TransactWriteItems", {"TransactItems": items})

    assert [(r.action, r.resource, r.context["dynamodb:LeadingKeys"]) for r in found] == [
        ("dynamodb:PutItem", TABLE_ARN, ("CONV#1",)), ("dynamodb:UpdateItem", TABLE_ARN, ("CONV#1",)),
        ("dynamodb:DeleteItem", TABLE_ARN, ("PUSH#a",)), ("dynamodb:ConditionCheckItem", TABLE_ARN, (AGENT_PK,))]
    gets = requests_of("dynamodb", "TransactGetItems", {"TransactItems": [{"Get": {"TableName": TABLE, "Key": key("A")}}]})
    assert [r.action for r in gets] == ["dynamodb:GetItem"]


def test_a_query_on_an_index_is_authorised_on_the_index_with_the_index_partition_key() -> None:
    (query,) = requests_of("dynamodb", "Query", {
        "TableName": TABLE, "IndexName": "gsi1", "KeyConditionExpression": "#0 = :0 AND #1 >= :1",
        "ExpressionAttributeNames": {"#0": "gsi1pk", "#1": "gsi1sk"},
        "ExpressionAttributeValues": {":0": {"S": "CONVS"}, ":1": {"S": "2026"}}})

    assert (query.action, query.resource, query.context) == (
        "dynamodb:Query", f"{TABLE_ARN}/index/gsi1", {"dynamodb:LeadingKeys": ("CONVS",)})


def test_batch_operations_are_authorised_per_table_with_every_partition_key() -> None:
    (batch,) = requests_of("dynamodb", "BatchWriteItem", {"RequestItems": {TABLE: [
        {"PutRequest": {"Item": key("B")}}, {"DeleteRequest": {"Key": key("A")}}]}})

    assert (batch.action, batch.resource, batch.context) == (
        "dynamodb:BatchWriteItem", TABLE_ARN, {"dynamodb:LeadingKeys": ("A", "B")})


def test_a_post_to_a_connection_is_authorised_on_that_connection_of_the_stage(checker: Checker) -> None:
    url = f"{WS_ENDPOINT}/@connections/c7%3D"

    (post,) = requests_of("apigatewaymanagementapi", "PostToConnection", {"ConnectionId": "c7=", "Data": b""}, url)

    assert (post.action, post.resource) == (
        "execute-api:ManageConnections",
        f"arn:aws:execute-api:{REGION}:{DEFAULT_ACCOUNT_ID}:abc123/test/POST/@connections/c7=")
    params = {"ConnectionId": "c7=", "Data": b""}
    assert allowed(checker, "WsMessageFunction", "apigatewaymanagementapi", "PostToConnection", params, url=url)
    assert not allowed(checker, "WsConnectFunction", "apigatewaymanagementapi", "PostToConnection", params, url=url)
    other_stage = url.replace("/test/", "/prod/")
    assert not allowed(checker, "WsMessageFunction", "apigatewaymanagementapi", "PostToConnection", params, url=other_stage)
    assert not allowed(checker, "WsMessageFunction", "apigatewaymanagementapi", "DeleteConnection",
                       {"ConnectionId": "c7="}, url=url)


def test_invocations_executions_mail_and_queues_are_authorised_on_their_resources(checker: Checker) -> None:
    notify = {"FunctionName": alias_arn("notify_failure"), "InvocationType": "Event"}
    assert allowed(checker, "WsMessageFunction", "lambda", "Invoke", notify)
    assert not allowed(checker, "WebFunction", "lambda", "Invoke", notify)
    # through its alias only (what SnapStart restores), never $LATEST
    assert not allowed(checker, "WsMessageFunction", "lambda", "Invoke",
                       {"FunctionName": function_arn("notify_failure"), "InvocationType": "Event"})
    assert not allowed(checker, "WsMessageFunction", "lambda", "Invoke", {"FunctionName": "route_chat"})
    start = {"stateMachineArn": names_of_the_tests().state_machine_arn, "input": "{}"}
    assert allowed(checker, "TimeoutSweeperFunction", "stepfunctions", "StartExecution", start)
    assert not allowed(checker, "RouteChatFunction", "stepfunctions", "StartExecution", start)
    timer = {"executionArn": timers.execution_arn(names_of_the_tests().state_machine_arn, "c-1")}
    assert allowed(checker, "WsMessageFunction", "stepfunctions", "StopExecution", timer)
    assert not allowed(checker, "TimeoutSweeperFunction", "stepfunctions", "StopExecution", timer)
    other = {"executionArn": timer["executionArn"].replace(":offer:", ":other:")}
    assert not allowed(checker, "WsMessageFunction", "stepfunctions", "StopExecution", other)
    assert allowed(checker, "NotifyFailureFunction", "sesv2", "SendEmail", {"FromEmailAddress": SENDER})
    assert not allowed(checker, "NotifyFailureFunction", "sesv2", "SendEmail", {"FromEmailAddress": TEAM})
    assert not allowed(checker, "WsMessageFunction", "sesv2", "SendEmail", {"FromEmailAddress": SENDER})
    dlq = f"https://sqs.{REGION}.amazonaws.com/{DEFAULT_ACCOUNT_ID}/"
    assert allowed(checker, "NotifyFailureFunction", "sqs", "SendMessage", {"QueueUrl": dlq + "notify-dlq"})
    assert allowed(checker, "OfferStateMachine", "sqs", "SendMessage", {"QueueUrl": dlq + "routing-dlq"})
    assert not allowed(checker, "OfferStateMachine", "sqs", "SendMessage", {"QueueUrl": dlq + "notify-dlq"})
    assert allowed(checker, "OfferStateMachine", "lambda", "Invoke", {"FunctionName": alias_arn("route_chat")})
    assert not allowed(checker, "OfferStateMachine", "lambda", "Invoke", {"FunctionName": alias_arn("notify_failure")})


def test_the_visitor_secret_is_read_by_the_token_verifiers_and_never_by_the_public_or_workflow_functions(
        checker: Checker) -> None:
    secret = {"SecretId": names_of_the_tests().secret_arn}
    readers = {p for p in template_policies().principals if allowed(checker, p, "secretsmanager", "GetSecretValue", secret)}

    # WsConnectFunction: for a $connect no authorizer ran before (livechat.api.gateway)
    assert {"WsAuthorizerFunction", "WsConnectFunction", "VisitorSessionFunction"} <= readers
    assert not readers & {"WebFunction", "RouteChatFunction", "NotifyFailureFunction", "TimeoutSweeperFunction",
                          "OfferStateMachine"}
    other = {"SecretId": f"arn:aws:secretsmanager:{REGION}:{DEFAULT_ACCOUNT_ID}:secret:other-AbCdEf"}
    assert not any(allowed(checker, p, "secretsmanager", "GetSecretValue", other) for p in readers)


def test_with_the_secret_in_secrets_manager_as_deployed_the_token_verifiers_read_it_under_their_roles(
        aws: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the visitor-token key in Secrets Manager, as a deployment has it (the other tests
    # give it literally, so that no function reads it)
    arn = boto3.client("secretsmanager", region_name=REGION).create_secret(
        Name="livechat-visitor-secret", SecretString="s3cr3t" * 10)["ARN"]
    monkeypatch.delenv("LIVECHAT_VISITOR_SECRET")
    monkeypatch.setenv("LIVECHAT_VISITOR_SECRET_ARN", arn)
    runtime.reset()
    installed = active()
    assert installed is not None
    grant = "VisitorTokenKey: secretsmanager:GetSecretValue on !Ref VisitorSecret"
    cursor_grant = "CursorKey: secretsmanager:GetSecretValue on !Ref VisitorSecret"
    readers = {"VisitorSessionFunction": grant, "WsAuthorizerFunction": grant, "WsMessageFunction": cursor_grant}
    before = {p: installed.usage[(p, g)] for p, g in readers.items()}

    # When a visitor gets a session, connects (the $connect authorizer: another container), and an agent lists
    # conversations from a cursor (cursors are signed with a key derived from the secret)
    token = world.visitor_token()["visitorToken"]
    runtime.reset()
    assert world.connect({"visitorToken": token})[0] == 200
    world.agent("alice@example.com")
    alice = world.agent_client("alice@example.com")
    runtime.reset()
    forged = base64.urlsafe_b64encode(b"\x01" + bytes(32) + b'{"pk": {"S": "AGENT"}}').decode().rstrip("=")
    assert alice.ask("listConversations", cursor=forged)["type"] == "error"  # its tag is checked first

    # Then each function read it under its own role, and nothing was refused (the hook checks)
    assert {p: installed.usage[(p, g)] - before[p] for p, g in readers.items()} == {
        "VisitorSessionFunction": 1, "WsAuthorizerFunction": 1, "WsMessageFunction": 1}


# --- the offer workflow runs under the state machine's role -----------------------------


def test_the_offer_workflow_invokes_route_chat_under_the_state_machine_role(world: World, workflow: Workflow) -> None:
    # Given an agent and a live chat card
    world.settings(accept_timeout_seconds=1, fallback_message="Later.", failure_emails={"from": SENDER, "to": [TEAM]})
    world.live_dialog("sales", {"mode": "round_robin"})
    world.agent("alice@example.com")
    world.agent_client("alice@example.com")
    installed = active()
    assert installed is not None
    grant = "OfferStateMachineRolePolicy0: lambda:InvokeFunction on arn:${AWS::Partition}:lambda:${AWS::Region}:" \
            "${AWS::AccountId}:function:${RouteChatFunction}*"
    before = installed.usage[("OfferStateMachine", grant)]

    # When a visitor asks for a chat (the offer expires: the workflow's deadline task runs)
    visitor = world.visitor_client()
    conversation_id = world.walk_to_live_card(visitor, "sales")
    assert visitor.ask("requestChat", conversationId=conversation_id, cardId="live")["type"] == "routing"

    # Then the workflow's route_chat task (its deadline check: the execution starts at the
    # offer's Wait) was a call of the state machine's role
    assert eventually(lambda: installed.usage[("OfferStateMachine", grant)] >= before + 1, timeout=15)


# --- what the check evaluates itself ------------------------------------------------------


def request_with(keys: tuple[str, ...] | None) -> Request:
    context = {"dynamodb:LeadingKeys": keys} if keys is not None else {}
    return Request("GetItem", "dynamodb:GetItem", TABLE_ARN, context, frozenset({"dynamodb:LeadingKeys"}))


@pytest.mark.parametrize(("operator", "keys", "holds"), [
    ("ForAllValues:StringEquals", ("DIALOG",), True),
    ("ForAllValues:StringEquals", ("DIALOG", "AGENT"), False),
    ("ForAllValues:StringEquals", None, True),  # IAM: true when the key is absent
    ("ForAnyValue:StringEquals", ("DIALOG", "AGENT"), True),
    ("ForAnyValue:StringEquals", None, False),
    ("ForAllValues:StringNotEquals", ("AGENT",), True),
    ("ForAllValues:StringNotEquals", ("AGENT", "DIALOG"), False),
    ("StringEquals", ("DIALOG",), True),
    ("StringEquals", None, False),
    ("StringEqualsIfExists", None, True),
    ("StringNotEquals", None, True),  # a negated operator holds when the key is absent
    ("ForAllValues:StringLike", ("DIALOG",), True),
    ("ForAllValues:StringLike", ("CONV#1",), False),
])
def test_conditions_on_the_leading_keys_follow_iams_rules(operator: str, keys: tuple[str, ...] | None,
                                                         holds: bool) -> None:
    expected = ["DIALOG", "VAPI?"] if "Like" in operator else ["DIALOG", "VAPID"]

    assert condition_holds(operator, "dynamodb:LeadingKeys", expected, request_with(keys)) is holds


def test_a_condition_the_check_cannot_evaluate_is_an_error_not_a_pass() -> None:
    with pytest.raises(UnsupportedPolicy):
        condition_holds("ForAllValues:StringEquals", "dynamodb:Attributes", ["pk"], request_with(("A",)))
    with pytest.raises(UnsupportedPolicy):
        condition_holds("NumericLessThan", "dynamodb:LeadingKeys", ["1"], request_with(("A",)))


def test_a_refusal_the_code_swallowed_still_fails_its_test(
        aws: Any, world: World, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a refused call whose AccessDenied the code caught (nothing else would fail the test):
    # ws_connect's role may not post frames, and the Notifier logs a failed post and goes on
    from livechat.api import gateway
    from livechat.outbound.delivery import Notifier

    def posting(event: Any) -> dict[str, Any]:
        assert Notifier(WS_ENDPOINT, requester="c1=").send("c1=", {"type": "ack"}) is False
        return {"statusCode": 200}

    monkeypatch.setattr(gateway, "on_connect", posting)
    token = world.visitor_token()["visitorToken"]
    assert ws_connect_app.handler(connect_event("c1=", {"visitorToken": token}), LambdaContext()) == {"statusCode": 200}
    installed = active()
    assert installed is not None
    provoked = installed.take_denials()
    installed.put_back(provoked)

    # When the test's report is made
    report = pytest.TestReport(nodeid="t", location=("t", 0, "t"), keywords={}, outcome="passed", longrepr=None,
                               when="call")

    class Outcome:
        def get_result(self) -> pytest.TestReport:
            return report

    hook = pytest_runtest_makereport(item=None, call=None)  # type: ignore[arg-type]
    next(hook)
    with pytest.raises(StopIteration):
        hook.send(Outcome())

    # Then it failed, naming the function, the action and the connection
    assert report.outcome == "failed"
    assert "WsConnectFunction" in str(report.longrepr)
    assert "execute-api:ManageConnections" in str(report.longrepr)
    assert "@connections/c1=" in str(report.longrepr)
    installed.expected(provoked)  # provoked on purpose: not a refusal of the run


def test_the_refusal_is_the_client_error_aws_answers() -> None:
    (request,) = requests_of("dynamodb", "GetItem", get_item(AGENT_PK))
    from livechat_local.iam import Denial

    error = AccessDenied(Denial("WebFunction", request), "dynamodb", "GetItem")

    assert error.response["Error"]["Code"] == "AccessDeniedException"
    assert error.operation_name == "GetItem"
    assert "WebFunction" in str(error) and "dynamodb:GetItem" in str(error) and TABLE_ARN in str(error)


# --- usage and the report -----------------------------------------------------------------


def test_usage_from_several_processes_adds_up_and_the_report_lists_what_nothing_used() -> None:
    used = "ReadDialogsAndVapidPublicKey: dynamodb:GetItem on !GetAtt Table.Arn"
    one = {"version": 1, "principals": {"WebFunction": {used: {"count": 2, "leadingKeys": ["DIALOG"]}}}, "refused": []}
    two = {"version": 1, "principals": {"WebFunction": {used: {"count": 1, "leadingKeys": ["VAPID"]}}},
           "refused": [{"principal": "WebFunction", "action": "dynamodb:GetItem", "resource": "r", "count": 1}]}

    merged = merge_usage(one, two)

    assert merged["principals"]["WebFunction"][used] == {"count": 3, "leadingKeys": ["DIALOG", "VAPID"]}
    assert merged["refused"] == two["refused"]
    unused = unused_grants(template_policies(), merged)
    assert "CreateVapidKeyPairOnce: dynamodb:PutItem on !GetAtt Table.Arn" in unused["WebFunction"]
    assert used not in unused["WebFunction"]
    assert json.loads(json.dumps(merged)) == merged


def test_the_tests_deployment_names_the_resources_the_fixtures_make(aws: Any) -> None:
    assert deployment().table == TABLE
    assert (deployment().api_id, deployment().stage) == ("abc123", "test")
