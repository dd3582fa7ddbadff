"""template.yaml, checked offline.

cfn-lint 1.58 no longer catches errors inside SAM resources (see NOTES-aws-offline.md), so
the template is first translated to plain CloudFormation with aws-sam-translator — with
placeholder S3 code locations and no AWS call — and cfn-lint then checks the result. The
structural tests below read the source template and the translation for what neither
tool checks: routes, least privilege, log retention.
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
from livechat.protocol import ACTIONS
from samtranslator.model.exceptions import InvalidDocumentException
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform

from tests.support.template import ROOT, load_template, table_create_kwargs

pytestmark = pytest.mark.unit

Template = dict[str, Any]

CONNECT_ROUTES = ("$connect", "$disconnect")
MESSAGE_ROUTES = (
    "$default", "startConversation", "answer", "capture", "requestChat", "availability",
    "setStatus", "accept", "decline", "listInbox", "listConversations", "getTranscript",
    "sendMessage", "typing", "endChat", "resume", "ping",
)
FUNCTIONS = {
    "WsConnectFunction": "functions/ws_connect/",
    "WsMessageFunction": "functions/ws_message/",
    "VisitorSessionFunction": "functions/visitor_session/",
}
TABLE_ACTIONS = {
    "WsConnectFunction": {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query"},
    # TransactWriteItems is authorised per item through these actions.
    "WsMessageFunction": {"GetItem", "PutItem", "UpdateItem", "DeleteItem", "Query",
                          "ConditionCheckItem"},
    "VisitorSessionFunction": set(),
}
# Actions AWS only grants on Resource "*".
STAR_ONLY_ACTIONS = {"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
ALLOWED_MANAGED_POLICIES = {
    "service-role/AWSLambdaBasicExecutionRole",  # logs:CreateLogStream/PutLogEvents
    "AWSXrayWriteOnlyAccess",  # added by SAM for Tracing: Active
}
MANAGEMENT_ENDPOINT = (
    "https://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}"
)


# --- helpers ----------------------------------------------------------------------------


class _NoManagedPolicies(ManagedPolicyLoader):
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
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AWS_DEFAULT_REGION", "us-east-1")
        return transform(sam, {}, _NoManagedPolicies())


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
        return sub[0] if isinstance(sub, list) else sub
    if isinstance(value, str):
        return value
    raise AssertionError(f"expected a string or Fn::Sub, got {value!r}")


def as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def statements_of(cfn: Template, function_id: str) -> list[dict[str, Any]]:
    """Every statement of the inline policies of a translated function's role."""
    role_id = cfn["Resources"][function_id]["Properties"]["Role"]["Fn::GetAtt"][0]
    policies = cfn["Resources"][role_id]["Properties"].get("Policies", [])
    return [s for p in policies for s in as_list(p["PolicyDocument"]["Statement"])]


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
    uri = re.search(r"/functions/\$\{(\w+)\.Arn\}/invocations$",
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


@pytest.mark.parametrize(("break_it", "rule_id"), [
    (_runtime_python399, "E3030"),
    (_route_to_a_missing_integration, "E1019"),
    (_api_naming_a_function, "E3004"),
], ids=["unknown runtime", "route to a missing integration", "circular dependency"])
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

    granted = {p["Properties"]["FunctionName"]["Ref"]: p["Properties"] for p in permissions}

    for function_id in ("WsConnectFunction", "WsMessageFunction"):
        assert granted[function_id]["Principal"] == "apigateway.amazonaws.com"
        assert sub_text(granted[function_id]["SourceArn"]) == (
            "arn:${AWS::Partition}:execute-api:${AWS::Region}:${AWS::AccountId}"
            ":${WebSocketApi}/*")


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
        assert props["Timeout"] == 29
    for function_id in FUNCTIONS:  # set once, in Globals
        own = template["Resources"][function_id]["Properties"]
        assert not {"Runtime", "Architectures", "Layers"} & own.keys()


def test_every_function_points_at_a_directory_with_its_handler(template: Template) -> None:
    for function_id, code_uri in FUNCTIONS.items():
        props = template["Resources"][function_id]["Properties"]
        app = ROOT / props["CodeUri"] / "app.py"

        assert props["CodeUri"] == code_uri
        assert props["Handler"] == "app.handler"
        assert re.search(r"^def handler\(", app.read_text(encoding="utf-8"), re.MULTILINE)


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
    assert layer["Metadata"] == {"BuildMethod": "python3.13", "BuildArchitecture": "arm64"}
    assert (content / "livechat" / "__init__.py").is_file()
    assert {"aws-lambda-powertools", "pynamodb", "pydantic", "pydantic-settings", "pyjwt",
            "requests", "pyyaml"} <= names
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


def test_both_ws_functions_know_the_management_endpoint(cfn: Template) -> None:
    for function_id in ("WsConnectFunction", "WsMessageFunction"):
        variables = cfn["Resources"][function_id]["Properties"]["Environment"]["Variables"]
        assert sub_text(variables["LIVECHAT_WS_MANAGEMENT_ENDPOINT"]) == MANAGEMENT_ENDPOINT


def test_every_function_logs_to_its_own_group_with_retention(cfn: Template) -> None:
    groups = resources_of(cfn, "AWS::Logs::LogGroup")

    used = [cfn["Resources"][f]["Properties"]["LoggingConfig"]["LogGroup"]["Ref"]
            for f in FUNCTIONS]

    assert len(set(used)) == len(FUNCTIONS)
    assert set(used) <= set(groups)
    for group in groups.values():
        assert group["Properties"].get("RetentionInDays") == {"Ref": "LogRetentionDays"}
        assert sub_text(group["Properties"]["LogGroupName"]).startswith("/aws/lambda/")


# --- least privilege --------------------------------------------------------------------


def test_every_lambda_permission_names_its_source(cfn: Template) -> None:
    permissions = resources_of(cfn, "AWS::Lambda::Permission")

    assert len(permissions) >= 3  # two WebSocket functions and the HTTP API event
    for logical_id, permission in permissions.items():
        assert permission["Properties"].get("SourceArn"), logical_id


def test_no_policy_statement_allows_every_resource_or_every_action(cfn: Template) -> None:
    statements = [
        s
        for role in resources_of(cfn, "AWS::IAM::Role").values()
        for p in role["Properties"].get("Policies", [])
        for s in as_list(p["PolicyDocument"]["Statement"])
    ]

    assert statements
    for s in statements:
        assert not {"NotAction", "NotResource"} & s.keys(), s
        assert not any("*" in a for a in as_list(s["Action"])), s
        if "*" in as_list(s["Resource"]):
            assert set(as_list(s["Action"])) <= STAR_ONLY_ACTIONS, s


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
        assert s["Resource"] == [{"Fn::GetAtt": ["Table", "Arn"]},
                                 {"Fn::Sub": "${Table.Arn}/index/*"}]


def test_only_ws_message_manages_connections_and_only_on_its_own_stage(cfn: Template) -> None:
    def manage_statements(function_id: str) -> list[dict[str, Any]]:
        return [s for s in statements_of(cfn, function_id) if actions_of([s], "execute-api")]

    (statement,) = manage_statements("WsMessageFunction")

    assert actions_of([statement], "execute-api") == {"ManageConnections"}
    for resource in as_list(statement["Resource"]):
        assert re.fullmatch(
            r"arn:\$\{AWS::Partition\}:execute-api:\$\{AWS::Region\}:\$\{AWS::AccountId\}"
            r":\$\{WebSocketApi\}/\$\{StageName\}/(POST|GET|DELETE)/@connections/\*",
            sub_text(resource))
    assert manage_statements("WsConnectFunction") == []
    assert manage_statements("VisitorSessionFunction") == []


@pytest.mark.parametrize(("function_id", "reads_secret"), [
    ("WsConnectFunction", True), ("WsMessageFunction", False),
    ("VisitorSessionFunction", True),
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


def test_visitor_session_needs_nothing_but_the_secret(cfn: Template) -> None:
    actions = {a for s in statements_of(cfn, "VisitorSessionFunction")
               for a in as_list(s["Action"])}

    assert actions == {"secretsmanager:GetSecretValue"}


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
    (group,) = resources_of(template, "AWS::Cognito::UserPoolGroup").values()

    assert pool["UsernameAttributes"] == ["email"]
    assert pool["AutoVerifiedAttributes"] == ["email"]
    assert pool["AdminCreateUserConfig"]["AllowAdminCreateUserOnly"] is True
    assert pool["Policies"]["PasswordPolicy"]["MinimumLength"] >= 8
    assert client["GenerateSecret"] is False
    assert set(client["ExplicitAuthFlows"]) == {
        "ALLOW_USER_PASSWORD_AUTH", "ALLOW_USER_SRP_AUTH", "ALLOW_REFRESH_TOKEN_AUTH"}
    assert {"IdTokenValidity", "AccessTokenValidity", "RefreshTokenValidity",
            "TokenValidityUnits"} <= client.keys()
    assert group["Properties"]["GroupName"] == "LiveChat"
    assert group["Properties"]["UserPoolId"] == {"Ref": "UserPool"}


def test_any_site_may_post_for_a_visitor_session(template: Template) -> None:
    api = template["Resources"]["HttpApi"]
    events = template["Resources"]["VisitorSessionFunction"]["Properties"]["Events"]

    assert api["Type"] == "AWS::Serverless::HttpApi"
    assert api["Properties"]["CorsConfiguration"]["AllowOrigins"] == ["*"]
    assert "POST" in api["Properties"]["CorsConfiguration"]["AllowMethods"]
    assert [e["Properties"] for e in events.values() if e["Type"] == "HttpApi"] == [
        {"ApiId": {"Ref": "HttpApi"}, "Path": "/visitor/session", "Method": "POST"}]


def test_parameters_and_outputs(template: Template) -> None:
    assert template["Parameters"]["StageName"]["Default"] == "prod"
    assert template["Parameters"]["LogRetentionDays"]["Default"] == 30
    assert set(template["Outputs"]) == {"WebSocketUrl", "HttpApiUrl", "UserPoolId",
                                        "UserPoolClientId", "TableName", "VisitorSecretArn"}
    assert sub_text(template["Outputs"]["WebSocketUrl"]["Value"]) == (
        "wss://${WebSocketApi}.execute-api.${AWS::Region}.amazonaws.com/${StageName}")


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
