"""template.yaml, checked offline.

cfn-lint 1.58 no longer catches errors inside SAM resources (see NOTES-aws-offline.md), so
the template is first translated to plain CloudFormation with aws-sam-translator — with
placeholder S3 code locations and no AWS call — and cfn-lint then checks the result. The
structural tests below read the source template and the translation for what neither
tool checks: routes, least privilege, log retention, the workflow's transitions and
substitutions, alarms.
"""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from cfnlint.api import ManualArgs, lint
from cfnlint.rules import Match
from livechat.api import pages as web_assets
from livechat.api.auth import ADMIN_GROUP, LIVE_CHAT_GROUP
from livechat.api.protocol import ACTIONS
from livechat.store.keys import CONFIG_PK, DIALOG_PK, VAPID_PRIVATE_PK, VAPID_PUBLIC_PK, rate_pk
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from tests.support.template import (
    ROOT,
    definition_placeholders,
    load_template,
    state_machine_definition,
    table_create_kwargs,
)

pytestmark = pytest.mark.unit

Template = dict[str, Any]

CONNECT_ROUTES = ("$connect", "$disconnect")
MESSAGE_ROUTES = (
    "$default", "startConversation", "answer", "capture", "requestChat", "availability",
    "setStatus", "accept", "decline", "listInbox", "listOffers", "listConversations", "getTranscript",
    "emailTranscript", "subscribePush", "unsubscribePush", "sendMessage", "typing", "endChat", "resume", "ping",
    "getStats",
)
FUNCTIONS = {
    "WsAuthorizerFunction": "functions/ws_authorizer/",
    "WsConnectFunction": "functions/ws_connect/",
    "WsMessageFunction": "functions/ws_message/",
    "VisitorSessionFunction": "functions/visitor_session/",
    "RouteChatFunction": "functions/route_chat/",
    "NotifyFailureFunction": "functions/notify_failure/",
    "TimeoutSweeperFunction": "functions/timeout_sweeper/",
    "WebFunction": "functions/web/",
}
ITEM_ACTIONS = {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"}
TABLE_ACTIONS = {
    # The $connect authorizer checks tokens only; what reads the table stays in $connect.
    "WsAuthorizerFunction": set(),
    # $connect/$disconnect read and write single items by key.
    "WsConnectFunction": ITEM_ACTIONS - {"Query"},
    # TransactWriteItems is authorised per item through these actions.
    # (No transaction has a ConditionCheck item: no ConditionCheckItem; the IAM check in the
    # tests, livechat_local/iam.py, refuses any call outside these.)
    # BatchGetItem: a frame reads its conversation with the parties' items in one call.
    "WsMessageFunction": ITEM_ACTIONS | {"BatchGetItem"},
    # Reads the settings (allowed_origins, rate_limits) and counts sessions per address.
    "VisitorSessionFunction": {"GetItem", "UpdateItem"},
    "RouteChatFunction": ITEM_ACTIONS,
    # Reads the conversation; Powertools Idempotency records live in the same table.
    "NotifyFailureFunction": ITEM_ACTIONS,
    "TimeoutSweeperFunction": ITEM_ACTIONS,
    # Serves the public dialogs and /config.json: reads dialog items, the VAPID public key and
    # the settings (CORS by allowed_origins), creates the VAPID key pair on first use (a
    # transaction of two Puts), on the table only.
    "WebFunction": {"GetItem", "PutItem"},
}
TABLE_AND_INDEXES = [{"Fn::GetAtt": ["Table", "Arn"]}, {"Fn::Sub": "${Table.Arn}/index/*"}]
# Item actions apply to the table only; a Query reads an index only in these functions (the
# inbox and the conversations view; the sweeper's silent chats and overdue requests).
INDEX_READERS = {"WsMessageFunction", "TimeoutSweeperFunction"}
TABLE_RESOURCES = {"WebFunction": {"Fn::GetAtt": ["Table", "Arn"]},
                   "VisitorSessionFunction": {"Fn::GetAtt": ["Table", "Arn"]}}
# Functions that post frames to WebSocket connections.
POSTERS = {"WsMessageFunction", "RouteChatFunction", "TimeoutSweeperFunction"}
# Functions that will send Web Push messages (the offer's routing path): they alone may read
# the VAPID private key (protocol.md second round; livechat.store.vapid).
PUSH_SENDERS = {"WsMessageFunction", "RouteChatFunction", "TimeoutSweeperFunction"}
# Functions that start the offer workflow. Not RouteChatFunction: the state machine names
# it, so it naming the state machine would be a circular dependency.
WORKFLOW_STARTERS = {"WsMessageFunction", "TimeoutSweeperFunction"}
# accept (and a visitor leaving an open offer) stops the request's timer.
TIMER_STOPPERS = {"WsMessageFunction"}
# Functions that report failed actions to NotifyFailureFunction (async invoke).
FAILURE_REPORTERS = {"WsMessageFunction", "RouteChatFunction", "TimeoutSweeperFunction"}
# The one documented exception to the Globals timeout (no API Gateway waits on it).
OWN_TIMEOUTS = {"TimeoutSweeperFunction": 120}
GLOBAL_TIMEOUT = 29
# Actions AWS only grants on Resource "*".
# Actions with no resource type in the Service Authorization Reference: "*" is the only
# resource they take (ses:GetAccount: whether the account's SES is still in the sandbox).
STAR_ONLY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords", "ses:GetAccount"}
# Step Functions' log delivery to CloudWatch Logs: these actions too only work on "*"
# (Step Functions developer guide, "IAM policies for logging to CloudWatch Logs"). Allowed
# for the state machine's role only.
LOG_DELIVERY_ACTIONS = {
    "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery",
    "logs:DeleteLogDelivery", "logs:ListLogDeliveries", "logs:PutResourcePolicy",
    "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}
ALLOWED_MANAGED_POLICIES = {
    "service-role/AWSLambdaBasicExecutionRole",  # logs:CreateLogStream/PutLogEvents
    "AWSXrayWriteOnlyAccess",  # added by SAM for Tracing: Active
}
MANAGEMENT_ENDPOINT = (
    "https://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}"
)


# --- helpers ----------------------------------------------------------------------------


# samtranslator ships no types: its loader is Any to mypy.
class _NoManagedPolicies(ManagedPolicyLoader):  # type: ignore[misc]
    """The translator asks IAM for managed policy names only when a policy is given by
    name; ours are inline or ARNs, so nothing is needed and nothing may call AWS."""

    def __init__(self) -> None:
        pass

    def load(self) -> dict[str, str]:
        return {}


def translate(template: Template) -> Template:
    """SAM -> CloudFormation, offline. Local code paths become s3:// placeholders, as
    `sam package` would make them."""
    sam = copy.deepcopy(template)
    for logical_id, resource in sam["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://livechat-placeholder/{logical_id}.zip"
        # `sam package` uploads a local DefinitionUri; inlining it instead lets cfn-lint
        # check the ASL (and the substitutions) of the translated state machine.
        uri = props.get("DefinitionUri")
        if isinstance(uri, str) and not uri.startswith("s3://"):
            props["Definition"] = state_machine_definition(sam, logical_id)
            del props["DefinitionUri"]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        cfn: dict[str, Any] = transform(sam, {}, _NoManagedPolicies())
    # SAM writes an inline definition back as a DefinitionString Fn::Join of JSON lines,
    # which cfn-lint cannot read; the same document as a Definition object it validates.
    for machine in resources_of(cfn, "AWS::StepFunctions::StateMachine").values():
        props = machine["Properties"]
        joined = props.get("DefinitionString", {})
        if isinstance(joined, dict) and "Fn::Join" in joined:
            separator, lines = joined["Fn::Join"]
            if all(isinstance(line, str) for line in lines):
                props["Definition"] = json.loads(separator.join(lines))
                del props["DefinitionString"]
    return cfn


def lint_problems(cfn: Template) -> list[Match]:
    """Errors and warnings of cfn-lint (informational rules are off by default).
    No rule is ignored."""
    matches = lint(json.dumps(cfn), config=ManualArgs(regions=["us-east-1"]))
    return [m for m in matches if m.rule.id[0] in "EW"]


def resources_of(template: Template, type_: str) -> dict[str, Any]:
    return {k: v for k, v in template["Resources"].items() if v["Type"] == type_}


def sub_text(value: Any) -> str:
    """The format string of a Fn::Sub (either form); a plain string as is."""
    if isinstance(value, dict) and "Fn::Sub" in value:
        sub = value["Fn::Sub"]
        return str(sub[0] if isinstance(sub, list) else sub)
    if isinstance(value, str):
        return value
    raise AssertionError(f"expected a string or Fn::Sub, got {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def role_of(cfn: Template, logical_id: str) -> str:
    """The role of a translated function (Role) or state machine (RoleArn)."""
    props = cfn["Resources"][logical_id]["Properties"]
    return str((props.get("Role") or props["RoleArn"])["Fn::GetAtt"][0])


def role_statements(role: dict[str, Any]) -> list[dict[str, Any]]:
    policies = role["Properties"].get("Policies", [])
    return [s for p in policies for s in as_list(p["PolicyDocument"]["Statement"])]


def statements_of(cfn: Template, logical_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies of a translated function's (or state
    machine's) role."""
    return role_statements(cfn["Resources"][role_of(cfn, logical_id)])


def granting(cfn: Template, logical_id: str, action: str) -> list[dict[str, Any]]:
    """The statements of a role that grant exactly `action` (among others)."""
    return [s for s in statements_of(cfn, logical_id) if action in as_list(s["Action"])]


def actions_of(statements: list[dict[str, Any]], service: str) -> set[str]:
    prefix = f"{service}:"
    return {a.removeprefix(prefix) for s in statements for a in as_list(s["Action"])
            if a.startswith(prefix)}


def routes_by_key(template: Template) -> dict[str, dict[str, Any]]:
    return {r["Properties"]["RouteKey"]: r["Properties"]
            for r in resources_of(template, "AWS::ApiGatewayV2::Route").values()}


def function_behind(template: Template, route: dict[str, Any]) -> str:
    """The function a route reaches: Target integrations/${X} -> X's IntegrationUri."""
    target = re.fullmatch(r"integrations/\$\{(\w+)\}", sub_text(route["Target"]))
    assert target, f"unexpected Target {route['Target']!r}"
    integration = template["Resources"][target.group(1)]
    assert integration["Type"] == "AWS::ApiGatewayV2::Integration"
    uri = re.search(r"/functions/\$\{(\w+?)Aliaslive\}/invocations$",
                    sub_text(integration["Properties"]["IntegrationUri"]))
    assert uri, f"not a Lambda invoke ARN: {integration['Properties']['IntegrationUri']!r}"
    return uri.group(1)


@pytest.fixture(scope="module")
def template() -> Template:
    return load_template()


@pytest.fixture(scope="module")
def cfn(template: Template) -> Template:
    return translate(template)


# --- translation and lint ---------------------------------------------------------------


def test_the_translated_template_has_no_cfn_lint_errors_or_warnings(cfn: Template) -> None:
    problems = lint_problems(cfn)

    assert problems == [], "\n".join(str(m) for m in problems)


def _runtime_python399(t: Template) -> None:
    t["Globals"]["Function"]["Runtime"] = "python3.99"


def _route_to_a_missing_integration(t: Template) -> None:
    t["Resources"]["PingRoute"]["Properties"]["Target"] = {
        "Fn::Sub": "integrations/${NoSuchIntegration}"}


def _api_naming_a_function(t: Template) -> None:
    # The function already names the API (endpoint variable, policy): a cycle.
    t["Resources"]["WebSocketApi"]["Properties"]["Description"] = {
        "Fn::Sub": "${WsMessageFunction.Arn}"}


def _workflow_task_naming_the_state_machine(t: Template) -> None:
    # The state machine's substitutions name RouteChatFunction: a cycle.
    variables = t["Resources"]["RouteChatFunction"]["Properties"]["Environment"]["Variables"]
    variables["LIVECHAT_STATE_MACHINE_ARN"] = {"Ref": "OfferStateMachine"}


def _unknown_asl_state_type(t: Template) -> None:
    props = t["Resources"]["OfferStateMachine"]["Properties"]
    definition = state_machine_definition(t, "OfferStateMachine")
    definition["States"]["WaitForAccept"]["Type"] = "Sleep"
    props["Definition"] = definition
    del props["DefinitionUri"]


@pytest.mark.parametrize(("break_it", "rule_id"), [
    (_runtime_python399, "E3030"),
    (_route_to_a_missing_integration, "E1019"),
    (_api_naming_a_function, "E3004"),
    (_workflow_task_naming_the_state_machine, "E3004"),
    (_unknown_asl_state_type, "E3601"),
], ids=["unknown runtime", "route to a missing integration", "circular dependency",
        "workflow cycle", "unknown ASL state type"])
def test_lint_reports_a_broken_template(
    template: Template, break_it: Callable[[Template], None], rule_id: str
) -> None:
    broken = copy.deepcopy(template)
    break_it(broken)

    problems = lint_problems(translate(broken))

    assert rule_id in {m.rule.id for m in problems}


def test_translation_rejects_an_http_event_on_a_missing_api(template: Template) -> None:
    broken = copy.deepcopy(template)
    events = broken["Resources"]["VisitorSessionFunction"]["Properties"]["Events"]
    events["CreateSession"]["Properties"]["ApiId"] = {"Ref": "NoSuchApi"}

    with pytest.raises(InvalidDocumentException, match="ApiId"):
        translate(broken)


# --- WebSocket API ----------------------------------------------------------------------


def test_every_route_key_is_declared_exactly_once(template: Template) -> None:
    keys = [r["Properties"]["RouteKey"]
            for r in resources_of(template, "AWS::ApiGatewayV2::Route").values()]

    assert sorted(keys) == sorted(CONNECT_ROUTES + MESSAGE_ROUTES)


def test_every_protocol_action_has_its_own_route(template: Template) -> None:
    assert set(ACTIONS) <= set(routes_by_key(template))


def test_connect_routes_reach_ws_connect_and_all_others_ws_message(template: Template) -> None:
    routes = routes_by_key(template)

    reached = {key: function_behind(template, route) for key, route in routes.items()}

    assert reached == {key: "WsConnectFunction" for key in CONNECT_ROUTES} | {
        key: "WsMessageFunction" for key in MESSAGE_ROUTES}


def test_the_api_selects_routes_by_the_action_field(template: Template) -> None:
    api = template["Resources"]["WebSocketApi"]["Properties"]

    assert api["ProtocolType"] == "WEBSOCKET"
    assert api["RouteSelectionExpression"] == "$request.body.action"


def test_the_deployment_waits_for_every_route_and_the_stage_uses_it(template: Template) -> None:
    routes = set(resources_of(template, "AWS::ApiGatewayV2::Route"))
    (deployment_id, deployment), = resources_of(
        template, "AWS::ApiGatewayV2::Deployment").items()
    stage = template["Resources"]["WebSocketStage"]["Properties"]

    assert set(as_list(deployment["DependsOn"])) == routes
    assert stage["DeploymentId"] == {"Ref": deployment_id}
    assert stage["StageName"] == {"Ref": "StageName"}
    assert stage["DefaultRouteSettings"]["ThrottlingBurstLimit"] > 0
    assert stage["DefaultRouteSettings"]["ThrottlingRateLimit"] > 0


def test_api_gateway_may_invoke_each_ws_function_from_this_api_only(template: Template) -> None:
    permissions = resources_of(template, "AWS::Lambda::Permission").values()

    # Ref "<Function>.Alias": the function's alias, which every invoker calls (SnapStart)
    granted = {p["Properties"]["FunctionName"]["Ref"].removesuffix(".Alias"): p["Properties"]
               for p in permissions}

    for function_id in ("WsConnectFunction", "WsMessageFunction", "WsAuthorizerFunction"):
        assert granted[function_id]["FunctionName"] == {"Ref": f"{function_id}.Alias"}
    for function_id in ("WsConnectFunction", "WsMessageFunction"):
        assert granted[function_id]["Principal"] == "apigateway.amazonaws.com"
        assert sub_text(granted[function_id]["SourceArn"]) == (
            "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"
            ":${WebSocketApi}/*")
    # The authorizer: by this API's authorizer only (an authorizer's invocations come from
    # its own ARN, .../authorizers/<id>).
    assert granted["WsAuthorizerFunction"]["Principal"] == "apigateway.amazonaws.com"
    assert sub_text(granted["WsAuthorizerFunction"]["SourceArn"]) == (
        "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"
        ":${WebSocketApi}/authorizers/${WsAuthorizer}")


def test_connect_alone_is_authorized_by_the_lambda_authorizer_which_has_no_identity_source(
        template: Template) -> None:
    routes = routes_by_key(template)
    (authorizer_id, authorizer), = resources_of(template, "AWS::ApiGatewayV2::Authorizer").items()
    props = authorizer["Properties"]

    assert routes["$connect"]["AuthorizationType"] == "CUSTOM"
    assert routes["$connect"]["AuthorizerId"] == {"Ref": authorizer_id}
    # API Gateway allows an authorizer on $connect only; the later routes get its context.
    assert all(route["AuthorizationType"] == "NONE" and "AuthorizerId" not in route
               for key, route in routes.items() if key != "$connect")
    assert props["ApiId"] == {"Ref": "WebSocketApi"}
    assert props["AuthorizerType"] == "REQUEST"
    # With an IdentitySource, API Gateway would answer 401 before invoking the authorizer
    # whenever that one parameter is missing: agents send `token`, visitors `visitorToken`.
    assert "IdentitySource" not in props
    assert re.search(r"/functions/\$\{WsAuthorizerFunctionAliaslive\}/invocations$", sub_text(props["AuthorizerUri"]))


# --- functions --------------------------------------------------------------------------


def test_every_function_runs_python313_on_arm64_with_tracing_and_the_layer(
    template: Template, cfn: Template
) -> None:
    functions = resources_of(cfn, "AWS::Lambda::Function")
    (layer_id,) = resources_of(cfn, "AWS::Lambda::LayerVersion")

    assert set(functions) == set(FUNCTIONS)
    for props in (f["Properties"] for f in functions.values()):
        assert props["Runtime"] == "python3.13"
        assert props["Architectures"] == ["arm64"]
        assert props["TracingConfig"] == {"Mode": "Active"}
        assert props["Layers"] == [{"Ref": layer_id}]
        assert props["MemorySize"] == 512
    for function_id in FUNCTIONS:  # set once, in Globals
        own = template["Resources"][function_id]["Properties"]
        timeout = cfn["Resources"][function_id]["Properties"]["Timeout"]
        assert not {"Runtime", "Architectures", "Layers", "MemorySize", "Tracing"} & own.keys()
        # Only the documented exceptions override the Globals timeout.
        assert ("Timeout" in own) is (function_id in OWN_TIMEOUTS), function_id
        assert timeout == OWN_TIMEOUTS.get(function_id, GLOBAL_TIMEOUT), function_id
    assert template["Globals"]["Function"]["Timeout"] == GLOBAL_TIMEOUT


def test_every_function_points_at_a_directory_with_its_handler(template: Template) -> None:
    for function_id, code_uri in FUNCTIONS.items():
        props = template["Resources"][function_id]["Properties"]
        app = ROOT / props["CodeUri"] / "app.py"

        assert props["CodeUri"] == code_uri
        assert props["Handler"] == "app.handler"
        assert re.search(r"^def handler\(", app.read_text(encoding="utf-8"), re.MULTILINE)


def test_every_function_is_built_by_functions_makefile_which_precompiles_it(template: Template) -> None:
    functions = resources_of(template, "AWS::Serverless::Function")
    makefile = (ROOT / "functions" / "Makefile").read_text(encoding="utf-8")

    assert "build-%:" in makefile and "compileall" in makefile
    for function_id, function in functions.items():
        build = {k: v for k, v in function.get("Metadata", {}).items() if k != "checkov"}
        assert build == {"BuildMethod": "makefile", "ContextPath": "functions"}, function_id


def test_the_layer_is_built_for_python313_arm64_from_its_requirements(
    template: Template,
) -> None:
    layer = template["Resources"]["CommonLayer"]
    content = ROOT / layer["Properties"]["ContentUri"]
    requirements = (content / "requirements.txt").read_text(encoding="utf-8").splitlines()
    names = {re.split(r"[\[<>=;\s]", line, maxsplit=1)[0].lower()
             for line in requirements if line.strip() and not line.startswith("#")}

    assert layer["Properties"]["CompatibleRuntimes"] == ["python3.13"]
    assert layer["Properties"]["CompatibleArchitectures"] == ["arm64"]
    # layers/common/Makefile: no second boto3/botocore, precompiled (tests/unit/test_build.py)
    assert layer["Metadata"] == {"BuildMethod": "makefile", "BuildArchitecture": "arm64"}
    assert "build-CommonLayer:" in (content / "Makefile").read_text(encoding="utf-8")
    assert (content / "livechat" / "__init__.py").is_file()
    assert {"aws-lambda-powertools", "pynamodb", "pydantic", "pyjwt", "requests", "pyyaml"} <= names
    assert not {"boto3", "botocore"} & names  # the Lambda runtime ships them


def test_every_function_gets_the_shared_environment(cfn: Template) -> None:
    expected = {
        "LIVECHAT_TABLE_NAME": {"Ref": "Table"},
        "LIVECHAT_USER_POOL_ID": {"Ref": "UserPool"},
        "LIVECHAT_USER_POOL_CLIENT_ID": {"Ref": "UserPoolClient"},
        "LIVECHAT_VISITOR_SECRET_ARN": {"Ref": "VisitorSecret"},
        "POWERTOOLS_SERVICE_NAME": "livechat",
        "POWERTOOLS_METRICS_NAMESPACE": "livechat",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }

    for function_id in FUNCTIONS:
        variables = cfn["Resources"][function_id]["Properties"]["Environment"]["Variables"]
        assert variables.items() >= expected.items(), function_id


def test_no_deployed_function_accepts_loopback_push_endpoints(cfn: Template) -> None:
    # Web Push (protocol.md second round): only the local stack accepts http://127.0.0.1
    # endpoints (livechat_local sets LIVECHAT_ALLOW_LOOPBACK_PUSH); a deployment never does.
    assert "ALLOW_LOOPBACK_PUSH" not in (ROOT / "template.yaml").read_text(encoding="utf-8")
    for function_id in FUNCTIONS:
        variables = cfn["Resources"][function_id]["Properties"]["Environment"]["Variables"]
        assert not any("LOOPBACK" in name for name in variables), function_id


def test_the_functions_that_post_frames_know_the_management_endpoint(cfn: Template) -> None:
    for function_id in {"WsConnectFunction"} | POSTERS:
        variables = cfn["Resources"][function_id]["Properties"]["Environment"]["Variables"]
        assert sub_text(variables["LIVECHAT_WS_MANAGEMENT_ENDPOINT"]) == MANAGEMENT_ENDPOINT


SHARED_VARIABLES = {
    "LIVECHAT_TABLE_NAME", "LIVECHAT_USER_POOL_ID", "LIVECHAT_USER_POOL_CLIENT_ID",
    "LIVECHAT_VISITOR_SECRET_ARN", "POWERTOOLS_SERVICE_NAME", "POWERTOOLS_METRICS_NAMESPACE",
    "POWERTOOLS_LOG_LEVEL", "PYDANTIC_DISABLE_PLUGINS",
}


@pytest.mark.parametrize(("function_id", "own"), [
    ("WsAuthorizerFunction", set()),
    ("WsConnectFunction", {"LIVECHAT_WS_MANAGEMENT_ENDPOINT"}),
    ("WsMessageFunction", {"LIVECHAT_WS_MANAGEMENT_ENDPOINT", "LIVECHAT_STATE_MACHINE_ARN",
                           "LIVECHAT_NOTIFY_FUNCTION"}),
    ("VisitorSessionFunction", set()),
    ("RouteChatFunction", {"LIVECHAT_WS_MANAGEMENT_ENDPOINT", "LIVECHAT_NOTIFY_FUNCTION"}),
    ("NotifyFailureFunction", {"LIVECHAT_INBOX_URL"}),
    ("TimeoutSweeperFunction", {"LIVECHAT_WS_MANAGEMENT_ENDPOINT",
                                "LIVECHAT_STATE_MACHINE_ARN", "LIVECHAT_NOTIFY_FUNCTION"}),
    ("WebFunction", {"LIVECHAT_PUBLIC_WEBSOCKET_URL"}),
])
def test_each_function_gets_exactly_its_own_variables_besides_the_shared_ones(
    cfn: Template, function_id: str, own: set[str]
) -> None:
    variables = cfn["Resources"][function_id]["Properties"]["Environment"]["Variables"]

    assert set(variables) - SHARED_VARIABLES == own
    if "LIVECHAT_STATE_MACHINE_ARN" in own:  # the Ref of a state machine is its ARN
        assert variables["LIVECHAT_STATE_MACHINE_ARN"] == {"Ref": "OfferStateMachine"}
    if "LIVECHAT_NOTIFY_FUNCTION" in own:
        assert variables["LIVECHAT_NOTIFY_FUNCTION"] == {"Ref": "NotifyFailureFunctionAliaslive"}
    if "LIVECHAT_INBOX_URL" in own:
        assert variables["LIVECHAT_INBOX_URL"] == {"Ref": "InboxUrl"}
    if "LIVECHAT_PUBLIC_WEBSOCKET_URL" in own:  # what /config.json hands the pages
        assert sub_text(variables["LIVECHAT_PUBLIC_WEBSOCKET_URL"]) == (
            "wss://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}")


def test_every_function_logs_to_its_own_group_with_retention(cfn: Template) -> None:
    groups = resources_of(cfn, "AWS::Logs::LogGroup")

    used = [cfn["Resources"][f]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            for f in FUNCTIONS]

    assert len(set(used)) == len(FUNCTIONS) == 8
    assert set(used) <= set(groups)
    for group_id in used:
        name = groups[group_id]["Properties"]["LogGroupName"]
        assert sub_text(name).startswith("/aws/lambda/"), group_id
    for group_id, group in groups.items():
        assert group["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}, (
            group_id)


def test_the_workflow_logs_errors_without_execution_data_to_its_own_group(
    cfn: Template,
) -> None:
    groups = resources_of(cfn, "AWS::Logs::LogGroup")
    logging = cfn["Resources"]["OfferStateMachine"]["Properties"]["LoggingConfiguration"]
    function_groups = {cfn["Resources"][f]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
                       for f in FUNCTIONS}

    (destination,) = logging["Destinations"]
    group_id, attribute = destination["CloudWatchLogsLogGroup"]["LogGroupArn"]["Fn::GetAtt"]

    assert logging["Level"] == "ERROR"
    assert logging["IncludeExecutionData"] is False
    assert attribute == "Arn"
    assert group_id in groups and group_id not in function_groups
    assert sub_text(groups[group_id]["Properties"]["LogGroupName"]).startswith(
        "/aws/vendedlogs/states/")
    # no stray group (the access logs' exist only with the AccessLogs parameter)
    access = {g for g, r in groups.items() if r.get("Condition") == "HasAccessLogs"}
    assert set(groups) - access == function_groups | {group_id}


# --- least privilege --------------------------------------------------------------------


def test_every_lambda_permission_names_its_source(cfn: Template) -> None:
    permissions = resources_of(cfn, "AWS::Lambda::Permission")

    assert len(permissions) >= 3  # two WebSocket functions and the HTTP API event
    for logical_id, permission in permissions.items():
        assert permission["Properties"].get("SourceArn"), logical_id


def test_no_policy_statement_allows_every_resource_or_every_action(cfn: Template) -> None:
    workflow_role = role_of(cfn, "OfferStateMachine")
    statements = [
        (role_id, s)
        for role_id, role in resources_of(cfn, "AWS::IAM::Role").items()
        for s in role_statements(role)
    ]

    assert statements
    for role_id, s in statements:
        assert s["Effect"] == "Allow", s
        assert not {"NotAction", "NotResource"} & s.keys(), s
        assert not any("*" in a for a in as_list(s["Action"])), s
        if "*" in as_list(s["Resource"]):
            actions = set(as_list(s["Action"]))
            assert (actions <= STAR_ONLY_ACTIONS
                    or (actions <= LOG_DELIVERY_ACTIONS and role_id == workflow_role)), s


def test_roles_carry_only_the_basic_and_xray_managed_policies(cfn: Template) -> None:
    for logical_id, role in resources_of(cfn, "AWS::IAM::Role").items():
        arns = role["Properties"].get("ManagedPolicyArns", [])
        names = {sub_text(arn).split(":policy/", 1)[1] for arn in arns}
        assert names <= ALLOWED_MANAGED_POLICIES, logical_id


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_each_function_gets_exactly_its_table_actions_on_the_table_and_its_indexes(
    cfn: Template, function_id: str
) -> None:
    statements = statements_of(cfn, function_id)
    table_statements = [s for s in statements if actions_of([s], "dynamodb")]

    assert actions_of(statements, "dynamodb") == TABLE_ACTIONS[function_id]
    for s in table_statements:
        indexed = function_id in INDEX_READERS and actions_of([s], "dynamodb") == {"Query"}
        assert s["Resource"] == (TABLE_AND_INDEXES if indexed
                                 else TABLE_RESOURCES.get(function_id, {"Fn::GetAtt": ["Table", "Arn"]})), s


def test_the_web_function_reads_dialogs_and_the_vapid_public_key_and_creates_the_pair_only(
    cfn: Template,
) -> None:
    statements = [s for s in statements_of(cfn, "WebFunction") if actions_of([s], "dynamodb")]
    (read,) = [s for s in statements if actions_of([s], "dynamodb") == {"GetItem"}]
    (create,) = [s for s in statements if actions_of([s], "dynamodb") == {"PutItem"}]

    assert len(statements) == 2
    assert read["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [DIALOG_PK, VAPID_PUBLIC_PK, CONFIG_PK]}}
    # TransactWriteItems authorises each Put as PutItem; a Put with a condition needs nothing else.
    assert create["Condition"] == {
        "ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [VAPID_PUBLIC_PK, VAPID_PRIVATE_PK]}}


def may(cfn: Template, function_id: str, action: str, leading_key: str) -> bool:
    """Whether a function's policies allow `dynamodb:<action>` on an item of the table whose
    partition key is `leading_key` (the conditions our templates use, evaluated here)."""
    for s in statements_of(cfn, function_id):
        if f"dynamodb:{action}" not in as_list(s["Action"]):
            continue
        condition = s.get("Condition", {})
        assert set(condition) <= {"ForAllValues:StringEquals", "ForAllValues:StringNotEquals"}, s
        allowed = True
        for operator, keys in condition.items():
            assert set(keys) == {"dynamodb:LeadingKeys"}, s
            listed = leading_key in as_list(keys["dynamodb:LeadingKeys"])
            allowed &= listed if operator == "ForAllValues:StringEquals" else not listed
        if allowed:
            return True
    return False


def test_only_the_push_senders_read_the_vapid_private_key(cfn: Template) -> None:
    readers = {f for f in FUNCTIONS if may(cfn, f, "GetItem", VAPID_PRIVATE_PK)
               or may(cfn, f, "Query", VAPID_PRIVATE_PK)}

    assert readers == PUSH_SENDERS
    # The web function may create the pair (and read the public half) but not read the private.
    assert may(cfn, "WebFunction", "GetItem", VAPID_PUBLIC_PK)
    assert may(cfn, "WebFunction", "PutItem", VAPID_PUBLIC_PK)
    assert may(cfn, "WebFunction", "PutItem", VAPID_PRIVATE_PK)
    assert not may(cfn, "WebFunction", "GetItem", DIALOG_PK + "X")
    # Everyone else keeps the rest of the table.
    for function_id in ("WsConnectFunction", "NotifyFailureFunction"):
        assert may(cfn, function_id, "GetItem", "AGENT")
        assert may(cfn, function_id, "PutItem", "IDEMPOTENCY")


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_only_the_posters_manage_connections_and_only_post_on_their_own_stage(
    cfn: Template, function_id: str
) -> None:
    manage = [s for s in statements_of(cfn, function_id) if actions_of([s], "execute-api")]

    if function_id not in POSTERS:
        assert manage == []
        return
    (statement,) = manage
    assert actions_of([statement], "execute-api") == {"ManageConnections"}
    for resource in as_list(statement["Resource"]):
        assert re.fullmatch(
            r"arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}"
            r":\$\{WebSocketApi\}/\$\{StageName\}/POST/@connections/\*",
            sub_text(resource))


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_only_the_workflow_starters_start_executions_and_only_of_the_offer_workflow(
    cfn: Template, function_id: str
) -> None:
    statements = [s for s in statements_of(cfn, function_id) if actions_of([s], "states")]

    if function_id not in WORKFLOW_STARTERS:
        assert statements == []
        return
    starts = [s for s in statements if as_list(s["Action"]) == ["states:StartExecution"]]
    assert [s["Resource"] for s in starts] == [{"Ref": "OfferStateMachine"}]
    stops = [s for s in statements if s not in starts]
    if function_id not in TIMER_STOPPERS:
        assert stops == []
        return
    # accept stops the request's timer: executions of the offer workflow only
    (stop,) = stops
    assert as_list(stop["Action"]) == ["states:StopExecution"]
    assert sub_text(stop["Resource"]) == (
        "arn:${AWS::Partition}:states:${AWS::Region}:${AWS::AccountId}:execution:${OfferStateMachine.Name}:*")


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_only_the_failure_reporters_invoke_a_function_and_only_notify_failure(
    cfn: Template, function_id: str
) -> None:
    statements = [s for s in statements_of(cfn, function_id) if actions_of([s], "lambda")]

    if function_id not in FAILURE_REPORTERS:
        assert statements == []
        return
    (statement,) = statements
    assert as_list(statement["Action"]) == ["lambda:InvokeFunction"]
    assert statement["Resource"] == {"Ref": "NotifyFailureFunctionAliaslive"}


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_only_notify_failure_sends_mail_and_only_as_the_sender_identity(
    cfn: Template, function_id: str
) -> None:
    statements = [s for s in statements_of(cfn, function_id)
                  if actions_of([s], "ses") or actions_of([s], "sesv2")]

    if function_id == "WsMessageFunction":
        # emailTranscript asks whether SES can reach the address: reads, no send
        assert sorted(a for s in statements for a in as_list(s["Action"])) == [
            "ses:GetAccount", "ses:GetEmailIdentity"]
        return
    if function_id != "NotifyFailureFunction":
        assert statements == []
        return
    (statement,) = statements
    assert as_list(statement["Action"]) == ["ses:SendEmail"]
    assert sub_text(statement["Resource"]) == (
        "arn:${AWS::Partition}:ses:${AWS::Region}:${AWS::AccountId}:identity/${SenderIdentity}")


@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_only_notify_failure_writes_to_a_queue_and_only_to_its_dead_letter_queue(
    cfn: Template, function_id: str
) -> None:
    statements = [s for s in statements_of(cfn, function_id) if actions_of([s], "sqs")]
    queues = {"NotifyFailureFunction": "NotifyDeadLetterQueue",
              "TimeoutSweeperFunction": "SweepDeadLetterQueue"}

    if function_id not in queues:
        assert statements == []
        return
    (statement,) = statements
    assert as_list(statement["Action"]) == ["sqs:SendMessage"]
    assert statement["Resource"] == {"Fn::GetAtt": [queues[function_id], "Arn"]}


def test_the_workflow_may_only_invoke_route_chat_park_requests_and_deliver_its_logs(
    cfn: Template,
) -> None:
    statements = statements_of(cfn, "OfferStateMachine")
    role = cfn["Resources"][role_of(cfn, "OfferStateMachine")]["Properties"]

    (invoke,) = granting(cfn, "OfferStateMachine", "lambda:InvokeFunction")
    (park,) = granting(cfn, "OfferStateMachine", "sqs:SendMessage")
    (deliver,) = [s for s in statements if actions_of([s], "logs")]
    fmt, names = invoke["Resource"]["Fn::Sub"]

    assert {a for s in statements for a in as_list(s["Action"])} == (
        {"lambda:InvokeFunction", "sqs:SendMessage"} | LOG_DELIVERY_ACTIONS)
    assert as_list(invoke["Action"]) == ["lambda:InvokeFunction"]
    # LambdaInvokePolicy: the function and its versions/aliases (name followed by `*`).
    assert fmt.endswith(":function:${functionName}*")
    assert names == {"functionName": {"Ref": "RouteChatFunction"}}
    assert park["Resource"] == {"Fn::GetAtt": ["RoutingDeadLetterQueue", "Arn"]}
    assert set(as_list(deliver["Action"])) == LOG_DELIVERY_ACTIONS
    assert deliver["Resource"] == "*"
    assert [sub_text(a) for a in role["ManagedPolicyArns"]] == [
        "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess"]


@pytest.mark.parametrize(("function_id", "reads_secret"), [
    # WsMessageFunction: the listConversations cursors' key is derived from it (store.keyring).
    # WsConnectFunction: only while a deployment that adds the authorizer is under way.
    ("WsAuthorizerFunction", True), ("WsConnectFunction", True), ("WsMessageFunction", True),
    ("VisitorSessionFunction", True), ("RouteChatFunction", False),
    ("NotifyFailureFunction", False), ("TimeoutSweeperFunction", False),
    ("WebFunction", False),
])
def test_only_token_checkers_read_the_visitor_secret(
    cfn: Template, function_id: str, reads_secret: bool
) -> None:
    secret_statements = [s for s in statements_of(cfn, function_id)
                         if actions_of([s], "secretsmanager")]

    assert bool(secret_statements) is reads_secret
    for s in secret_statements:
        assert as_list(s["Action"]) == ["secretsmanager:GetSecretValue"]
        assert s["Resource"] == {"Ref": "VisitorSecret"}


def test_visitor_session_needs_the_secret_the_settings_and_its_address_counters_only(cfn: Template) -> None:
    statements = statements_of(cfn, "VisitorSessionFunction")
    actions = {a for s in statements for a in as_list(s["Action"])}
    (read,) = [s for s in statements if actions_of([s], "dynamodb") == {"GetItem"}]
    (count,) = [s for s in statements if actions_of([s], "dynamodb") == {"UpdateItem"}]

    assert actions == {"secretsmanager:GetSecretValue", "dynamodb:GetItem", "dynamodb:UpdateItem"}
    assert read["Condition"] == {"ForAllValues:StringEquals": {"dynamodb:LeadingKeys": [CONFIG_PK]}}
    # One counter partition per source address (livechat.api.visitor_sessions.address_subject).
    assert rate_pk("addr:") + "*" == "RATE#addr:*"
    assert count["Condition"] == {"ForAllValues:StringLike": {"dynamodb:LeadingKeys": ["RATE#addr:*"]}}


# --- offer workflow ---------------------------------------------------------------------


def transitions(definition: dict[str, Any]) -> dict[str, set[str]]:
    """Each state's successors: Next, a Choice's Default and choices, every Catch."""
    found: dict[str, set[str]] = {}
    for name, state in definition["States"].items():
        targets = {state.get("Next"), state.get("Default")}
        targets |= {c.get("Next") for c in state.get("Choices", [])}
        targets |= {c.get("Next") for c in state.get("Catch", [])}
        found[name] = {t for t in targets if t is not None}
    return found


def transition_problems(definition: dict[str, Any]) -> list[str]:
    """Transitions to missing states and states nothing reaches (moto and cfn-lint 1.58
    both accept a Next to a missing state)."""
    states = set(definition["States"])
    edges = transitions(definition)
    problems = [f"{name} -> {target}" for name, targets in edges.items()
                for target in sorted(targets - states)]
    if definition["StartAt"] not in states:
        problems.append(f"StartAt -> {definition['StartAt']}")
    reached, todo = set(), [definition["StartAt"]]
    while todo:
        name = todo.pop()
        if name in reached or name not in states:
            continue
        reached.add(name)
        todo.extend(edges[name])
    problems += [f"unreachable {name}" for name in sorted(states - reached)]
    return problems


@pytest.fixture(scope="module")
def definition(template: Template) -> dict[str, Any]:
    return state_machine_definition(template, "OfferStateMachine")


def test_the_workflow_is_a_traced_standard_state_machine_from_its_asl_file(
    template: Template, cfn: Template
) -> None:
    source = template["Resources"]["OfferStateMachine"]["Properties"]
    translated = cfn["Resources"]["OfferStateMachine"]["Properties"]

    assert source["Type"] == "STANDARD"
    assert (ROOT / source["DefinitionUri"]).is_file()
    assert source["DefinitionUri"].startswith("statemachine/")
    assert source["DefinitionUri"].endswith(".asl.json")
    assert translated["StateMachineType"] == "STANDARD"
    assert translated["TracingConfiguration"] == {"Enabled": True}


def test_every_placeholder_of_the_definition_has_a_substitution_and_no_more(
    template: Template, definition: dict[str, Any]
) -> None:
    substitutions = template["Resources"]["OfferStateMachine"]["Properties"][
        "DefinitionSubstitutions"]

    assert definition_placeholders(definition) == set(substitutions)
    assert substitutions == {
        "RouteChatFunctionArn": {"Ref": "RouteChatFunction.Alias"},
        "DeadLetterQueueUrl": {"Ref": "RoutingDeadLetterQueue"},
    }


def test_definition_placeholders_are_found_in_nested_values() -> None:
    found = definition_placeholders(
        {"A": {"B": ["x", "${One}"], "${Two}": 3}, "C": "a ${Three} b ${One}"})

    assert found == {"One", "Two", "Three"}


def test_every_transition_of_the_workflow_names_a_state_and_every_state_is_reached(
    definition: dict[str, Any],
) -> None:
    assert transition_problems(definition) == []


def test_transition_problems_reports_missing_targets_and_orphans() -> None:
    broken = {"StartAt": "A", "States": {
        "A": {"Type": "Task", "Next": "Nowhere",
              "Catch": [{"ErrorEquals": ["States.ALL"], "Next": "B"}]},
        "B": {"Type": "Choice", "Choices": [{"Next": "Gone"}], "Default": "C"},
        "C": {"Type": "Succeed"},
        "Orphan": {"Type": "Pass", "Next": "C"},
    }}

    assert transition_problems(broken) == [
        "A -> Nowhere", "B -> Gone", "unreachable Orphan"]


def test_every_workflow_task_catches_everything_and_goes_somewhere(
    definition: dict[str, Any],
) -> None:
    tasks = {name: state for name, state in definition["States"].items()
             if state["Type"] == "Task"}

    assert tasks
    for name, state in tasks.items():
        assert any("States.ALL" in c["ErrorEquals"] for c in state.get("Catch", [])), name
        for retry in state.get("Retry", []):
            assert "States.ALL" not in retry["ErrorEquals"], name
            assert not any("ConditionalCheckFailed" in e for e in retry["ErrorEquals"]), name


def test_the_workflows_lambda_tasks_call_route_chat(definition: dict[str, Any]) -> None:
    lambda_tasks = [s for s in definition["States"].values()
                    if s.get("Resource") == "arn:aws:states:::lambda:invoke"]

    assert lambda_tasks
    for state in lambda_tasks:
        assert state["Parameters"]["FunctionName"] == "${RouteChatFunctionArn}"


# --- failure notices, the sweeper, queues and alarms --------------------------------------


def test_notify_failure_retries_twice_within_six_hours_then_parks_in_its_queue(
    template: Template, cfn: Template
) -> None:
    props = template["Resources"]["NotifyFailureFunction"]["Properties"]
    (config,) = [r["Properties"] for r in
                 resources_of(cfn, "AWS::Lambda::EventInvokeConfig").values()
                 if r["Properties"]["FunctionName"] == {"Ref": "NotifyFailureFunction"}]
    translated = cfn["Resources"]["NotifyFailureFunction"]["Properties"]

    assert props["EventInvokeConfig"] == {
        "MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 21600}
    assert props["DeadLetterQueue"] == {
        "Type": "SQS", "TargetArn": {"Fn::GetAtt": ["NotifyDeadLetterQueue", "Arn"]}}
    assert config["FunctionName"] == {"Ref": "NotifyFailureFunction"}
    assert config["Qualifier"] == "live"  # the alias, which the reporters invoke
    assert config["MaximumRetryAttempts"] == 2
    assert config["MaximumEventAgeInSeconds"] == 21600
    assert translated["DeadLetterConfig"] == {
        "TargetArn": {"Fn::GetAtt": ["NotifyDeadLetterQueue", "Arn"]}}


def test_the_sweeper_runs_every_minute_and_only_events_may_invoke_it(cfn: Template) -> None:
    rules = resources_of(cfn, "AWS::Events::Rule")
    (rule_id, rule), = rules.items()
    (permission,) = [p["Properties"] for p in
                     resources_of(cfn, "AWS::Lambda::Permission").values()
                     if p["Properties"]["FunctionName"] == {"Ref": "TimeoutSweeperFunctionAliaslive"}]

    assert rule["Properties"]["ScheduleExpression"] == "rate(1 minute)"
    assert rule["Properties"].get("State", "ENABLED") == "ENABLED"
    assert [t["Arn"] for t in rule["Properties"]["Targets"]] == [{"Ref": "TimeoutSweeperFunctionAliaslive"}]
    assert permission["Principal"] == "events.amazonaws.com"
    assert permission["SourceArn"] == {"Fn::GetAtt": [rule_id, "Arn"]}


def test_the_dead_letter_queues_keep_messages_encrypted_by_sqs_or_the_customer_key(
    template: Template,
) -> None:
    queues = resources_of(template, "AWS::SQS::Queue")

    assert set(queues) == {"NotifyDeadLetterQueue", "RoutingDeadLetterQueue", "SweepDeadLetterQueue"}
    for queue_id, queue in queues.items():
        # Failure reports and requests are kept for replay; a failed sweep only says when.
        days = 4 if queue_id == "SweepDeadLetterQueue" else 14
        assert queue["Properties"] == {
            "MessageRetentionPeriod": days * 86400,
            "SqsManagedSseEnabled": {"Fn::If": ["HasKmsKey", {"Ref": "AWS::NoValue"}, True]},
            "KmsMasterKeyId": {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]},
        }, queue_id


def test_the_sweeper_is_the_other_asynchronous_invocation_and_parks_a_failed_sweep(
    template: Template,
) -> None:
    props = template["Resources"]["TimeoutSweeperFunction"]["Properties"]

    assert props["EventInvokeConfig"] == {"MaximumRetryAttempts": 0}
    assert props["DeadLetterQueue"] == {
        "Type": "SQS", "TargetArn": {"Fn::GetAtt": ["SweepDeadLetterQueue", "Arn"]}}


ALARMS = {
    "SweepDeadLetterAlarm": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 60,
        [{"Name": "QueueName",
          "Value": {"Fn::GetAtt": ["SweepDeadLetterQueue", "QueueName"]}}]),
    "NotifyDeadLetterAlarm": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 60,
        [{"Name": "QueueName",
          "Value": {"Fn::GetAtt": ["NotifyDeadLetterQueue", "QueueName"]}}]),
    "RoutingDeadLetterAlarm": (
        "AWS/SQS", "ApproximateNumberOfMessagesVisible", "Maximum", 60,
        [{"Name": "QueueName",
          "Value": {"Fn::GetAtt": ["RoutingDeadLetterQueue", "QueueName"]}}]),
    "OfferWorkflowFailedAlarm": (
        "AWS/States", "ExecutionsFailed", "Sum", 60,
        [{"Name": "StateMachineArn", "Value": {"Ref": "OfferStateMachine"}}]),
    "CounterDriftAlarm": (
        "livechat", "CounterDrift", "Sum", 300, [{"Name": "service", "Value": "livechat"}]),
}


def test_exactly_the_expected_alarms_exist(template: Template) -> None:
    assert set(resources_of(template, "AWS::CloudWatch::Alarm")) == set(ALARMS) | {"FallbackRateAlarm"}


# --- chat metrics (from the logs), the fallback-rate alarm, the dashboard ---------------

# What each metric filter counts: the log message, the metric, and the functions that log it.
CHAT_METRICS = {
    "chat requested": ("ChatsRequested", {"WsMessageLogGroup"}),
    "chat offered": ("ChatsOffered", {"WsMessageLogGroup", "RouteChatLogGroup", "TimeoutSweeperLogGroup"}),
    "chat fallback": ("ChatFallbacks", {"WsMessageLogGroup", "RouteChatLogGroup", "TimeoutSweeperLogGroup"}),
}


def test_metric_filters_count_each_chat_log_line_in_every_group_that_logs_it(template: Template) -> None:
    found: dict[str, tuple[str, set[str]]] = {}
    for props in (r["Properties"] for r in resources_of(template, "AWS::Logs::MetricFilter").values()):
        match = re.fullmatch(r'\{ \$\.message = "([^"]+)" \}', props["FilterPattern"])
        assert match, props["FilterPattern"]
        (transform,) = props["MetricTransformations"]
        assert (transform["MetricNamespace"], transform["MetricValue"]) == ("livechat", "1")
        metric, groups = found.setdefault(match.group(1), (transform["MetricName"], set()))
        assert metric == transform["MetricName"]
        groups.add(props["LogGroupName"]["Ref"])
    assert found == CHAT_METRICS


def test_the_counted_log_lines_are_logged_by_the_layer() -> None:
    layer = "\n".join(p.read_text(encoding="utf-8") for p in (ROOT / "layers/common/livechat").rglob("*.py"))
    for message in CHAT_METRICS:
        assert f'logger.info("{message}"' in layer


def test_the_fallback_rate_alarm_divides_fallbacks_by_requests_with_a_threshold_parameter(
    template: Template,
) -> None:
    props = template["Resources"]["FallbackRateAlarm"]["Properties"]
    metrics = {m["Id"]: m for m in props["Metrics"]}

    assert metrics["requests"]["MetricStat"]["Metric"]["MetricName"] == "ChatsRequested"
    assert metrics["fallbacks"]["MetricStat"]["Metric"]["MetricName"] == "ChatFallbacks"
    assert [m["Id"] for m in props["Metrics"] if m["ReturnData"]] == ["rate"]
    assert "100 * FILL(fallbacks, 0) / requests" in metrics["rate"]["Expression"]
    assert props["Threshold"] == {"Ref": "FallbackRateAlarmPercent"}
    assert template["Parameters"]["FallbackRateAlarmPercent"]["Default"] == 50
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == {"Fn::If": [
        "HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def test_the_dashboard_shows_chats_fallback_rate_dead_letter_queues_workflow_and_errors(
    template: Template,
) -> None:
    body = template["Resources"]["Dashboard"]["Properties"]["DashboardBody"]["Fn::Sub"]
    widgets = json.loads(body)["widgets"]
    titles = [w["properties"]["title"] for w in widgets]
    assert titles == ["Live chat requests, offers and fallbacks", "Fallback rate (%)",
                      "Dead-letter queue depth", "Offer workflow executions", "Function errors"]
    names = {tuple(m[:2]) for w in widgets for m in w["properties"]["metrics"] if isinstance(m[0], str)}
    assert {("livechat", "ChatsRequested"), ("livechat", "ChatsOffered"), ("livechat", "ChatFallbacks"),
            ("AWS/SQS", "ApproximateNumberOfMessagesVisible"), ("AWS/States", "ExecutionsFailed"),
            ("AWS/Lambda", "Errors")} <= names
    # Every substitution names a resource of the template (or a pseudo parameter).
    for name in re.findall(r"\$\{([^}.]+)", body):
        assert name in template["Resources"] or name.startswith("AWS::"), name
    for queue in ("NotifyDeadLetterQueue", "RoutingDeadLetterQueue", "SweepDeadLetterQueue"):
        assert "${" + queue + ".QueueName}" in body
    for function in FUNCTIONS:
        assert '"FunctionName", "${' + function + '}"' in body


@pytest.mark.parametrize("alarm_id", ALARMS)
def test_each_alarm_fires_on_one_occurrence_and_notifies_the_optional_topic(
    template: Template, alarm_id: str
) -> None:
    namespace, metric, statistic, period, dimensions = ALARMS[alarm_id]
    props = template["Resources"][alarm_id]["Properties"]

    assert (props["Namespace"], props["MetricName"]) == (namespace, metric)
    assert props["Dimensions"] == dimensions
    assert (props["Statistic"], props["Period"]) == (statistic, period)
    assert props["EvaluationPeriods"] == 1
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["TreatMissingData"] == "notBreaching"
    assert props["AlarmActions"] == {"Fn::If": [
        "HasAlarmTopic", [{"Ref": "AlarmTopicArn"}], {"Ref": "AWS::NoValue"}]}


def test_alarms_have_actions_only_when_a_topic_is_given(template: Template) -> None:
    assert template["Conditions"]["HasAlarmTopic"] == {
        "Fn::Not": [{"Fn::Equals": [{"Ref": "AlarmTopicArn"}, ""]}]}


def test_the_counter_drift_alarm_watches_what_the_sweeper_emits(template: Template) -> None:
    variables = template["Globals"]["Function"]["Environment"]["Variables"]
    props = template["Resources"]["CounterDriftAlarm"]["Properties"]
    sweeper = (ROOT / FUNCTIONS["TimeoutSweeperFunction"] / "app.py").read_text(
        encoding="utf-8")

    # Powertools Metrics: namespace from POWERTOOLS_METRICS_NAMESPACE, default dimension
    # service = POWERTOOLS_SERVICE_NAME.
    assert props["Namespace"] == variables["POWERTOOLS_METRICS_NAMESPACE"]
    assert props["Dimensions"] == [
        {"Name": "service", "Value": variables["POWERTOOLS_SERVICE_NAME"]}]
    assert f'name="{props["MetricName"]}"' in sweeper


# --- the rest of the stack --------------------------------------------------------------


def test_the_visitor_secret_is_generated_long_and_without_punctuation(
    template: Template,
) -> None:
    secret = template["Resources"]["VisitorSecret"]

    assert secret["Type"] == "AWS::SecretsManager::Secret"
    assert secret["Properties"]["GenerateSecretString"] == {
        "PasswordLength": 64, "ExcludePunctuation": True}


def test_agents_are_invited_email_users_of_a_public_client_with_a_livechat_group(
    template: Template,
) -> None:
    pool = template["Resources"]["UserPool"]["Properties"]
    client = template["Resources"]["UserPoolClient"]["Properties"]
    group, admin_group = resources_of(template, "AWS::Cognito::UserPoolGroup").values()

    # The user name is the agent's e-mail (the protocol's "Names"; livechat apply creates it
    # lower-cased): no UsernameAttributes (user names would be UUIDs), no e-mail alias
    # (Cognito refuses e-mail-shaped user names then), case-insensitive sign-in.
    assert "UsernameAttributes" not in pool
    assert "email" not in pool.get("AliasAttributes", [])
    assert pool["UsernameConfiguration"] == {"CaseSensitive": False}
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert {"Name": "email", "AttributeDataType": "String", "Required": True, "Mutable": True} in pool["Schema"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 8
    assert client["GenerateSecret"] is False
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert {"IdTokenValidity", "AccessTokenValidity", "RefreshTokenValidity",
            "TokenValidityUnits"} <= client.keys()
    assert group["Properties"]["GroupName"] == LIVE_CHAT_GROUP == "LiveChat"
    assert group["Properties"]["UserPoolId"] == {"Ref": "UserPool"}
    # The performance dashboard's (getStats): `admin: true` agents, kept by livechat apply.
    assert admin_group["Properties"]["GroupName"] == ADMIN_GROUP == "LiveChatAdmin"
    assert admin_group["Properties"]["UserPoolId"] == {"Ref": "UserPool"}


def test_the_session_function_answers_the_post_and_its_cors_preflight_itself(template: Template) -> None:
    api = template["Resources"]["HttpApi"]
    events = template["Resources"]["VisitorSessionFunction"]["Properties"]["Events"]

    assert api["Type"] == "AWS::Serverless::HttpApi"
    # No CorsConfiguration: API Gateway would answer CORS from a fixed list and drop the
    # functions' headers, while CORS follows the workspace's allowed_origins (issue 14).
    assert "CorsConfiguration" not in api["Properties"]
    assert [e["Properties"] for e in events.values() if e["Type"] == "HttpApi"] == [
        {"ApiId": {"Ref": "HttpApi"}, "Path": "/visitor/session", "Method": "POST"},
        {"ApiId": {"Ref": "HttpApi"}, "Path": "/visitor/session", "Method": "OPTIONS"}]


def test_the_web_function_serves_each_page_config_and_dialogs_on_get(template: Template) -> None:
    api = template["Resources"]["HttpApi"]["Properties"]
    events = template["Resources"]["WebFunction"]["Properties"]["Events"].values()
    pages = {asset.name for asset in web_assets.assets().values()}

    assert {e["Type"] for e in events} == {"HttpApi"}
    assert {e["Properties"]["ApiId"]["Ref"] for e in events} == {"HttpApi"}
    assert {e["Properties"]["Method"] for e in events} == {"GET"}
    # A route per file of the listing, no more: a file added to web/ needs its route.
    assert sorted(e["Properties"]["Path"] for e in events) == sorted(
        ["/", "/config.json", "/dialogs/{dialogId}"] + [f"/{name}" for name in pages])
    assert {"widget.js", "demo.html", "inbox.html", "inbox.js", "inbox.css", "index.html"} <= pages
    # Host sites read the dialogs from their own origin: simple GETs, no preflight route;
    # the function adds the CORS headers (tests/integration/test_origins.py).
    assert "CorsConfiguration" not in api


def test_parameters_and_outputs(template: Template) -> None:
    parameters = template["Parameters"]
    outputs = template["Outputs"]

    assert parameters["StageName"]["Default"] == "prod"
    assert parameters["LogRetentionDays"]["Default"] == 30
    assert parameters["SenderIdentity"]["Default"] == "example.com"
    assert parameters["InboxUrl"]["Default"] == ""
    assert parameters["AlarmTopicArn"]["Default"] == ""
    # Off unless the admin turns them on: each can fail a deployment in some accounts.
    assert parameters["ReservedConcurrency"]["Default"] == 0
    assert parameters["AccessLogs"]["Default"] == "false"
    assert parameters["KmsKeyArn"]["Default"] == ""
    # Off unless asked: it bills the snapshots while idle (docs/deploy.md, "SnapStart").
    assert parameters["SnapStart"]["Default"] == "false"
    assert set(outputs) == {"WebSocketUrl", "HttpApiUrl", "UserPoolId", "UserPoolClientId",
                            "TableName", "VisitorSecretArn", "OfferStateMachineArn",
                            "NotifyDeadLetterQueueUrl", "DashboardUrl", "WidgetSnippet",
                            "InboxUrl"}
    assert sub_text(outputs["WebSocketUrl"]["Value"]) == (
        "wss://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}")
    assert outputs["OfferStateMachineArn"]["Value"] == {"Ref": "OfferStateMachine"}
    http = sub_text(outputs["HttpApiUrl"]["Value"])
    assert sub_text(outputs["WidgetSnippet"]["Value"]) == (
        f'<script src="{http}/widget.js" data-dialog="sales" async></script>')
    assert sub_text(outputs["InboxUrl"]["Value"]) == f"{http}/inbox.html"
    assert outputs["NotifyDeadLetterQueueUrl"]["Value"] == {"Ref": "NotifyDeadLetterQueue"}


@pytest.mark.parametrize("identity", ["*", "example.com/*", "ex ample.com"])
def test_the_sender_identity_cannot_widen_the_ses_grant(
    template: Template, identity: str
) -> None:
    pattern = template["Parameters"]["SenderIdentity"]["AllowedPattern"]

    assert re.fullmatch(pattern, "example.com")
    assert re.fullmatch(pattern, "alerts@example.com")
    assert not re.fullmatch(pattern, identity)


# --- the loader other tests rely on ------------------------------------------------------


def test_load_template_turns_short_tags_into_long_forms(tmp_path: Path) -> None:
    file = tmp_path / "t.yaml"
    file.write_text(
        "Version: 2012-10-17\n"
        "A: !GetAtt Table.StreamArn\n"
        "B: !Sub ['${X}-y', {X: !Ref Z}]\n"
        "C: !If [Cond, !Join ['', [a, !Select [0, !GetAZs '']]], !Ref AWS::NoValue]\n"
        "D: !Condition IsProd\n",
        encoding="utf-8",
    )

    loaded = load_template(file)

    assert loaded == {
        "Version": "2012-10-17",
        "A": {"Fn::GetAtt": ["Table", "StreamArn"]},
        "B": {"Fn::Sub": ["${X}-y", {"X": {"Ref": "Z"}}]},
        "C": {"Fn::If": ["Cond", {"Fn::Join": ["", ["a", {"Fn::Select": [
            0, {"Fn::GetAZs": ""}]}]]}, {"Ref": "AWS::NoValue"}]},
        "D": {"Condition": "IsProd"},
    }


def test_table_create_kwargs_carry_the_keys_and_indexes_of_the_template(
    template: Template,
) -> None:
    kwargs = table_create_kwargs(template, table_name="t")

    assert kwargs["TableName"] == "t"
    assert kwargs["BillingMode"] == "PAY_PER_REQUEST"
    assert kwargs["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"},
                                   {"AttributeName": "sk", "KeyType": "RANGE"}]
    assert [i["IndexName"] for i in kwargs["GlobalSecondaryIndexes"]] == [
        "gsi1", "gsi2", "gsi3", "gsi4"]
    assert "SSESpecification" not in kwargs  # a different shape in the API


# --- checkov: what it skips, and the parameters behind what it passes --------------------

def checkov_skips(template: Template) -> dict[str, list[dict[str, Any]]]:
    return {logical_id: resource["Metadata"]["checkov"]["skip"]
            for logical_id, resource in template["Resources"].items()
            if "checkov" in resource.get("Metadata", {})}


def test_every_checkov_skip_names_a_check_and_gives_its_reason(template: Template) -> None:
    skips = checkov_skips(template)

    assert skips, "the template skips no checkov check: then this test and docs/security.md are stale"
    for logical_id, entries in skips.items():
        for entry in entries:
            assert re.fullmatch(r"CKV_AWS_\d+", entry["id"]), (logical_id, entry)
            assert len(entry.get("comment", "").split()) >= 8, (logical_id, entry)


def test_only_the_checks_the_docs_explain_are_skipped(template: Template) -> None:
    skipped = {entry["id"] for entries in checkov_skips(template).values() for entry in entries}
    security = (ROOT / "docs" / "security.md").read_text(encoding="utf-8")

    assert skipped == {"CKV_AWS_116", "CKV_AWS_117", "CKV_AWS_95"}
    for check in skipped:
        assert check in security, check


def test_no_function_skips_the_dead_letter_check_if_something_invokes_it_asynchronously(
    template: Template,
) -> None:
    asynchronous = {"TimeoutSweeperFunction", "NotifyFailureFunction"}  # a schedule; Event invokes
    for function_id in resources_of(template, "AWS::Serverless::Function"):
        skips = {e["id"] for e in checkov_skips(template).get(function_id, [])}
        assert ("CKV_AWS_116" in skips) is (function_id not in asynchronous), function_id
        if function_id in asynchronous:
            assert "DeadLetterQueue" in template["Resources"][function_id]["Properties"], function_id


def test_the_customer_key_reaches_every_store_and_log_group_when_given(template: Template) -> None:
    key = {"Fn::If": ["HasKmsKey", {"Ref": "KmsKeyArn"}, {"Ref": "AWS::NoValue"}]}
    resources = template["Resources"]

    assert template["Globals"]["Function"]["KmsKeyArn"] == key
    assert resources["Table"]["Properties"]["SSESpecification"]["KMSMasterKeyId"] == key
    assert resources["VisitorSecret"]["Properties"]["KmsKeyId"] == key
    for group_id in resources_of(template, "AWS::Logs::LogGroup"):
        assert resources[group_id]["Properties"]["KmsKeyId"] == key, group_id


def test_the_customer_key_policy_covers_every_role_through_the_data_services_only(
    cfn: Template, template: Template,
) -> None:
    policy = template["Resources"]["CustomerKeyUsePolicy"]
    roles = {r["Ref"] for r in policy["Properties"]["Roles"]}
    (statement,) = policy["Properties"]["PolicyDocument"]["Statement"]

    assert policy["Condition"] == "HasKmsKey"
    # A new function's role must be added, or it could not read the table with a key given.
    assert roles == set(resources_of(cfn, "AWS::IAM::Role"))
    assert statement["Resource"] == {"Ref": "KmsKeyArn"}
    services = {sub_text(s).split(".", 1)[0] for s in statement["Condition"]["StringEquals"]["kms:ViaService"]}
    assert services == {"dynamodb", "secretsmanager", "sqs"}


def test_reserved_concurrency_and_access_logs_apply_only_when_asked(template: Template) -> None:
    assert template["Globals"]["Function"]["ReservedConcurrentExecutions"] == {
        "Fn::If": ["HasReservedConcurrency", {"Ref": "ReservedConcurrency"}, {"Ref": "AWS::NoValue"}]}
    for api_id, where in (("HttpApi", "Properties"), ("WebSocketStage", "Properties")):
        (condition, settings, otherwise) = template["Resources"][api_id][where]["AccessLogSettings"]["Fn::If"]
        assert (condition, otherwise) == ("HasAccessLogs", {"Ref": "AWS::NoValue"}), api_id
        fields = json.loads(settings["Format"])
        assert {"requestId", "ip", "routeKey", "status"} <= set(fields), api_id
        group = settings["DestinationArn"]["Fn::GetAtt"][0]
        assert template["Resources"][group]["Condition"] == "HasAccessLogs"


# --- SnapStart (a parameter, off by default) and Lambda's own log lines --------------------

SNAPSTART_FUNCTIONS = {"WsAuthorizerFunction", "WsConnectFunction", "WsMessageFunction",
                       "VisitorSessionFunction", "WebFunction", "RouteChatFunction"}


def _with_snapstart(template: Template, value: str) -> Template:
    """The translation with the SnapStart parameter's condition decided (as CloudFormation does
    at deploy time): each ``Fn::If`` on HasSnapStart replaced by the branch taken."""
    def decide(node: Any) -> Any:
        if isinstance(node, dict):
            if set(node) == {"Fn::If"} and node["Fn::If"][0] == "HasSnapStart":
                return decide(node["Fn::If"][1] if value == "true" else node["Fn::If"][2])
            return {k: decide(v) for k, v in node.items()}
        if isinstance(node, list):
            return [decide(v) for v in node]
        return node
    return decide(template)  # type: ignore[no-any-return]


@pytest.mark.parametrize("value", ["false", "true"])
def test_snapstart_applies_to_the_functions_a_person_waits_on_only_when_asked(
        cfn: Template, value: str) -> None:
    decided = _with_snapstart(cfn, value)
    applied = {function_id for function_id in FUNCTIONS
               if decided["Resources"][function_id]["Properties"]["SnapStart"]["ApplyOn"] != "None"}

    assert applied == (SNAPSTART_FUNCTIONS if value == "true" else set())
    assert all(decided["Resources"][f]["Properties"]["SnapStart"]["ApplyOn"] in ("None", "PublishedVersions")
               for f in FUNCTIONS)
    assert cfn["Conditions"]["HasSnapStart"] == {"Fn::Equals": [{"Ref": "SnapStart"}, "true"]}


def test_every_function_publishes_a_version_on_any_change_behind_its_alias_and_keeps_no_old_one(
        template: Template, cfn: Template) -> None:
    globals_ = template["Globals"]["Function"]
    assert (globals_["AutoPublishAlias"], globals_["VersionDeletionPolicy"]) == ("live", "Delete")
    for function_id in FUNCTIONS:
        props = template["Resources"][function_id]["Properties"]
        assert "AutoPublishAlias" not in props, function_id
        # Without it SAM publishes a version only when the code's location changes: a new layer
        # (all of our code) or a new variable would never reach the alias.
        assert props["AutoPublishAliasAllProperties"] is True, function_id
        (alias,) = [r for r in resources_of(cfn, "AWS::Lambda::Alias").values()
                    if r["Properties"]["FunctionName"] == {"Ref": function_id}]
        assert alias["Properties"]["Name"] == "live"
        (version,) = [(k, r) for k, r in resources_of(cfn, "AWS::Lambda::Version").items()
                      if r["Properties"]["FunctionName"] == {"Ref": function_id}]
        # the asynchronous two (never a snapshot) keep theirs for events queued before a deploy
        assert version[1]["DeletionPolicy"] == ("Delete" if function_id in SNAPSTART_FUNCTIONS else "Retain")
        assert alias["Properties"]["FunctionVersion"] == {"Fn::GetAtt": [version[0], "Version"]}


@pytest.mark.parametrize("change", ["layer", "variable", "code"])
def test_a_new_layer_variable_or_code_publishes_a_new_version_of_every_function(
        template: Template, change: str) -> None:
    def versions(layer: str, variable: str, code: str) -> dict[str, str]:
        changed = copy.deepcopy(template)
        changed["Resources"]["CommonLayer"]["Properties"]["ContentUri"] = f"s3://bucket/{layer}.zip"
        changed["Globals"]["Function"]["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] = variable
        for function_id in FUNCTIONS:
            changed["Resources"][function_id]["Properties"]["CodeUri"] = f"s3://bucket/{function_id}-{code}.zip"
        translated = translate(changed)
        return {r["Properties"]["FunctionName"]["Ref"]: k
                for k, r in resources_of(translated, "AWS::Lambda::Version").items()}

    before = versions("layer-1", "livechat", "code-1")
    after = versions(*{"layer": ("layer-2", "livechat", "code-1"), "variable": ("layer-1", "other", "code-1"),
                       "code": ("layer-1", "livechat", "code-2")}[change])

    assert set(before) == set(after) == set(FUNCTIONS)
    assert all(before[f] != after[f] for f in FUNCTIONS), change


def _function_of_arn(value: Any) -> tuple[str, str]:
    """(function, "Alias" | "Arn") of a reference in the translated template: Ref of a SAM
    alias, GetAtt of a function's Arn, or either inside a Sub (${FooFunctionAliaslive})."""
    if isinstance(value, dict) and "Ref" in value:
        found = re.fullmatch(r"(\w+Function)Aliaslive", value["Ref"])
        if found:
            return found.group(1), "Alias"
        return value["Ref"], "Ref"
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return value["Fn::GetAtt"][0], value["Fn::GetAtt"][1]
    text = sub_text(value)
    found = re.search(r"/functions/\$\{(\w+Function)(Aliaslive|\.Arn)\}/invocations$", text)
    assert found, f"not a function invoke ARN: {value!r}"
    return found.group(1), "Alias" if found.group(2) == "Aliaslive" else "Arn"


def test_every_invoker_calls_a_function_through_its_alias(cfn: Template) -> None:
    resources = cfn["Resources"]
    invokers: list[tuple[str, Any]] = []
    for rid, r in resources_of(cfn, "AWS::ApiGatewayV2::Integration").items():
        invokers.append((rid, r["Properties"]["IntegrationUri"]))
    for rid, r in resources_of(cfn, "AWS::ApiGatewayV2::Authorizer").items():
        invokers.append((rid, r["Properties"]["AuthorizerUri"]))
    for rid, r in resources_of(cfn, "AWS::Lambda::Permission").items():
        invokers.append((rid, r["Properties"]["FunctionName"]))
    for rid, r in resources_of(cfn, "AWS::Events::Rule").items():
        invokers.extend((rid, t["Arn"]) for t in r["Properties"]["Targets"])
    invokers.append(("OfferStateMachine",
                     resources["OfferStateMachine"]["Properties"]["DefinitionSubstitutions"]["RouteChatFunctionArn"]))
    for function_id in FAILURE_REPORTERS:
        invokers.append((function_id, resources[function_id]["Properties"]["Environment"]["Variables"]
                         ["LIVECHAT_NOTIFY_FUNCTION"]))
    # the HTTP API's integrations (SAM's, in its OpenAPI body) name the alias too
    body = json.dumps(resources["HttpApi"]["Properties"]["Body"])
    assert "FunctionAliaslive" in body and ".Arn}/invocations" not in body

    assert len(invokers) > 10
    for rid, reference in invokers:
        function_id, how = _function_of_arn(reference)
        assert function_id in FUNCTIONS and how == "Alias", (rid, reference)


def test_every_function_logs_json_and_lambda_logs_only_its_warnings(template: Template, cfn: Template) -> None:
    for function_id in FUNCTIONS:
        config = cfn["Resources"][function_id]["Properties"]["LoggingConfig"]
        # JSON is what level filtering needs; at WARN a successful invocation has no START or
        # REPORT record (a failed or timed-out one keeps its report).
        assert (config["LogFormat"], config["SystemLogLevel"]) == ("JSON", "WARN"), function_id
        # Powertools follows AWS_LAMBDA_LOG_LEVEL (this) over POWERTOOLS_LOG_LEVEL: the same level
        assert config["ApplicationLogLevel"] == template["Globals"]["Function"]["Environment"][
            "Variables"]["POWERTOOLS_LOG_LEVEL"], function_id
        assert config["LogGroup"] == {"Ref": function_id.replace("Function", "LogGroup")}, function_id


def test_the_metric_filters_match_the_json_lines_powertools_writes(template: Template) -> None:
    import io
    import logging

    from aws_lambda_powertools import Logger

    stream = io.StringIO()
    logger = Logger(service="livechat-filter-test", logger_handler=logging.StreamHandler(stream))
    logger.info("chat requested", conversation_id="c1")
    line = json.loads(stream.getvalue().splitlines()[-1])
    filters = [r["Properties"]["FilterPattern"]
               for r in resources_of(template, "AWS::Logs::MetricFilter").values()]

    # the filters read $.message of a JSON line; Lambda's JSON format keeps our lines as they
    # are (it only reads their "level" to filter them, and INFO passes at INFO)
    assert line["message"] == "chat requested" and line["level"] == "INFO"
    assert filters and all(re.fullmatch(r'\{ \$\.message = "[a-z ]+" \}', f) for f in filters)



@pytest.mark.parametrize("function_id", FUNCTIONS)
def test_pydantic_plugins_are_off_in_every_function(cfn: Template, function_id: str) -> None:
    """None is installed; on, the first validator of a cold start scans every distribution's
    entry points for one (issue 15)."""
    variables = cfn["Resources"][function_id]["Properties"]["Environment"]["Variables"]
    assert variables["PYDANTIC_DISABLE_PLUGINS"] == "__all__"
