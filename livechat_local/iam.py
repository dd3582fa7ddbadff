"""Least privilege, checked offline: every AWS call that a Lambda function (or the offer
workflow) makes is evaluated against *that* principal's role as template.yaml deploys it.

What is checked against what:

- **The roles as deployed.** template.yaml translated by aws-sam-translator (SAM policy
  templates, the dead-letter queue's policy and the managed policies as CloudFormation gets
  them), every ``Ref``/``GetAtt``/``Sub`` resolved to the ARNs of the running deployment
  (:class:`Deployment`: the table and its indexes, the state machine, the queues, the secret,
  the functions, the WebSocket API's ``@connections``).
- **Who is calling.** The innermost principal on the calling thread's stack: a Lambda
  handler (``functions/<dir>/app.py``, as the template's ``CodeUri`` and ``Handler`` name
  it), the Lambda service running an asynchronous invocation (``Dispatcher._run_async``:
  it writes the function's dead-letter queue with the function's role, as Lambda does), or a
  Step Functions execution (moto's ASL interpreter on the stack: the state machine's role). A thread
  pool started inside a handler inherits its principal. Anything else — the tests' own
  set-up and assertions, seeding, ``livechat apply`` (the admin's credentials) — is no
  function's call and is not checked.
- **What a call needs.** Each botocore call mapped to IAM actions and resource ARNs
  (:func:`requests_of`): a ``TransactWriteItems`` to its per-item PutItem, UpdateItem,
  DeleteItem, ConditionCheckItem (it has no action of its own), ``TransactGetItems`` to
  GetItem, a Query on an index to ``table/T/index/I``, ``post_to_connection`` to
  ``execute-api:ManageConnections`` on the connection's ARN, and so on; with the condition
  key DynamoDB sets, ``dynamodb:LeadingKeys`` (the partition key values).
- **The verdict.** moto's IAM evaluator (``moto.iam.access_control.IAMPolicy``) matches
  actions and resources, one statement at a time; the statements' conditions are evaluated
  here (moto 5.2 honours ``StringEquals`` only, and on an Allow a failed condition there
  means Deny). An operator or condition key this module cannot evaluate raises
  :class:`UnsupportedPolicy` rather than being ignored. A call that no statement allows is
  refused before it is sent, with the ClientError AWS would answer
  (:class:`AccessDenied`: AccessDeniedException, naming the principal, the action and the
  resource), and recorded, so a test fails even if the product code swallowed it.

The same check runs in the tests (tests/support/iam.py) and in ``livechat dev
--enforce-iam``. What each principal used is counted per grant (statement, action,
resource); ``make iam-report`` lists the grants no call used (tests/support/iam_report.py).
"""

from __future__ import annotations

import base64
import copy
import fcntl
import json
import logging
import os
import re
import sys
import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from types import CodeType, FrameType
from typing import Any
from urllib.parse import unquote, urlsplit

from botocore import handlers as botocore_handlers
from botocore.exceptions import ClientError

from livechat_local import template as tpl

log = logging.getLogger("livechat_local.iam")

ACCOUNT = "123456789012"
REGION = "us-east-1"
PARTITION = "aws"
STACK_NAME = "livechat"
USAGE_VERSION = 1

# What AWS's managed policies attached by SAM allow (IAM console, the policies' default
# versions): used by the Lambda service itself (logs, the X-Ray daemon), never by our code,
# but part of the role, so a call they allow is allowed.
MANAGED_POLICIES: dict[str, list[dict[str, Any]]] = {
    "service-role/AWSLambdaBasicExecutionRole": [{
        "Effect": "Allow",
        "Action": ["logs:CreateLogGroup", "logs:CreateLogStream", "logs:PutLogEvents"],
        "Resource": "*",
    }],
    "AWSXrayWriteOnlyAccess": [{
        "Effect": "Allow",
        "Action": ["xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules",
                   "xray:GetSamplingTargets", "xray:GetSamplingStatisticSummaries"],
        "Resource": "*",
    }],
}


class UnsupportedPolicy(ValueError):
    """The template uses something this check cannot evaluate faithfully (an unknown
    intrinsic, managed policy, condition operator or condition key)."""


# --- the deployment: physical names for the template's resources -------------------------


def api_and_stage(endpoint: str) -> tuple[str, str]:
    """The WebSocket API id and stage behind a management endpoint URL. API Gateway's own
    ``https://{api}.execute-api.{region}.amazonaws.com/{stage}``; any other endpoint (the
    local gateway) stands for an API named after its host and port, stage ``local``."""
    parts = urlsplit(endpoint)
    segments = [s for s in parts.path.split("/") if s]
    found = re.fullmatch(r"([A-Za-z0-9]+)\.execute-api\.[a-z0-9-]+\.amazonaws\.com", parts.hostname or "")
    if found:
        return found.group(1), segments[0] if segments else "$default"
    return re.sub(r"[^A-Za-z0-9]+", "-", parts.netloc).strip("-") or "local", segments[0] if segments else "local"


@dataclass(frozen=True)
class Deployment:
    """The physical names CloudFormation would give the template's resources in the
    deployment being checked (the tests' moto, or ``livechat dev``)."""

    table: str
    state_machine_arn: str
    management_endpoint: str  # the WebSocket API's management endpoint the functions are given
    secret_arn: str
    queues: tuple[tuple[str, str], ...] = ()  # (logical id, queue name); default: the logical id
    parameters: tuple[tuple[str, str], ...] = ()  # template parameters; others take their Default
    verified_identities: tuple[str, ...] = ()  # SES identities (addresses or domains)
    region: str = REGION
    account: str = ACCOUNT
    partition: str = PARTITION

    @classmethod
    def from_environment(cls, *, queues: Mapping[str, str] | None = None,
                         parameters: Mapping[str, str] | None = None,
                         verified_identities: Sequence[str] = (),
                         management_endpoint: str | None = None,
                         environ: Mapping[str, str] | None = None) -> Deployment:
        """Read the names from the functions' environment, which the template wires to the
        same resources (LIVECHAT_TABLE_NAME: !Ref Table, LIVECHAT_STATE_MACHINE_ARN: !Ref
        OfferStateMachine, ...); what no variable names comes from the arguments
        (`management_endpoint`: the API's, when LIVECHAT_WS_MANAGEMENT_ENDPOINT is unset and
        the functions derive it from the event, as the tests of the admin commands do)."""
        env = os.environ if environ is None else environ
        region = env.get("AWS_REGION") or env.get("AWS_DEFAULT_REGION") or REGION
        account = env.get("MOTO_ACCOUNT_ID") or ACCOUNT
        return cls(
            table=env.get("LIVECHAT_TABLE_NAME", "livechat"),
            state_machine_arn=env.get("LIVECHAT_STATE_MACHINE_ARN")
            or f"arn:{PARTITION}:states:{region}:{account}:stateMachine:OfferStateMachine",
            management_endpoint=env.get("LIVECHAT_WS_MANAGEMENT_ENDPOINT") or management_endpoint
            or f"https://WebSocketApi.execute-api.{region}.amazonaws.com/prod",
            secret_arn=env.get("LIVECHAT_VISITOR_SECRET_ARN")
            or f"arn:{PARTITION}:secretsmanager:{region}:{account}:secret:VisitorSecret-AbCdEf",
            queues=tuple(sorted((queues or {}).items())),
            parameters=tuple(sorted((parameters or {}).items())),
            verified_identities=tuple(verified_identities),
            region=region,
            account=account,
        )

    @property
    def api_id(self) -> str:
        return api_and_stage(self.management_endpoint)[0]

    @property
    def stage(self) -> str:
        return api_and_stage(self.management_endpoint)[1]

    def queue_name(self, logical_id: str) -> str:
        return dict(self.queues).get(logical_id, logical_id)

    def function_arn(self, name: str) -> str:
        return f"arn:{self.partition}:lambda:{self.region}:{self.account}:function:{name}"

    def table_arn(self, table: str) -> str:
        return f"arn:{self.partition}:dynamodb:{self.region}:{self.account}:table/{table}"

    def queue_arn(self, name: str) -> str:
        return f"arn:{self.partition}:sqs:{self.region}:{self.account}:{name}"


# --- the template: principals, translation, intrinsics ------------------------------------


@dataclass(frozen=True)
class Principal:
    """A function or state machine of the template, and how to recognise it running."""

    logical_id: str
    kind: str  # "function" | "state machine"
    name: str  # functions: the directory of CodeUri (the dispatcher's name); else the logical id
    role: str  # logical id of its translated role
    handler_file: tuple[str, ...] = ()  # ("functions", "ws_connect", "app.py")
    handler_name: str = ""


@dataclass(frozen=True, eq=False)
class Grant:
    """One action on one resource of one statement of a role (the unit the report counts)."""

    principal: str
    label: str  # the statement's Sid, else "<policy name>[<index>]"; "managed:<name>" for managed
    effect: str
    action: str
    resource: str  # resolved
    symbolic: str  # as the template writes it
    condition: Mapping[str, Mapping[str, Any]]
    managed: bool
    evaluator: Any  # moto's IAMPolicy for this one action and resource

    @property
    def key(self) -> str:
        return grant_key(self.label, self.action, self.symbolic)


def grant_key(label: str, action: str, symbolic: str) -> str:
    return f"{label}: {action} on {symbolic}"


def _as_list(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value]


def symbolic(value: Any) -> str:
    """A resource as the template writes it, short: ``!GetAtt Table.Arn``, the Sub string."""
    if isinstance(value, str):
        return value
    if isinstance(value, dict) and len(value) == 1:
        (name, arg), = value.items()
        if name == "Ref":
            return f"!Ref {arg}"
        if name == "Fn::GetAtt":
            return f"!GetAtt {'.'.join(_as_list(arg))}"
        if name == "Fn::Sub":
            if isinstance(arg, str):
                return arg
            text, variables = arg
            for var, var_value in variables.items():
                shown = symbolic(var_value)
                shown = shown.removeprefix("!Ref ").removeprefix("!GetAtt ")
                text = text.replace(f"${{{var}}}", f"${{{shown}}}")
            return str(text)
    return json.dumps(value, sort_keys=True)


class _NoManagedPolicyLookups:
    """The translator asks IAM for managed policy ARNs only for policies given by name;
    the template's are inline or ARNs, so nothing is needed and nothing may call AWS."""

    def load(self) -> dict[str, str]:
        return {}


def translate(template: Mapping[str, Any]) -> dict[str, Any]:
    """SAM -> CloudFormation, offline (local code paths become s3:// placeholders, as `sam
    package` would make them; policies do not depend on them)."""
    try:
        from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
        from samtranslator.translator.transform import transform
    except ImportError as exc:  # a dev dependency, not one of the local stack's
        raise RuntimeError("the IAM check needs aws-sam-translator: pip install -e '.[dev]'") from exc

    class Loader(_NoManagedPolicyLookups, ManagedPolicyLoader):  # type: ignore[misc]
        def __init__(self) -> None:
            pass

    sam = copy.deepcopy(dict(template))
    for logical_id, resource in sam["Resources"].items():
        props = resource.get("Properties", {})
        for key in ("CodeUri", "ContentUri", "DefinitionUri"):
            if isinstance(props.get(key), str) and not props[key].startswith("s3://"):
                props[key] = f"s3://livechat-placeholder/{logical_id}"
    saved = os.environ.get("AWS_DEFAULT_REGION")
    os.environ["AWS_DEFAULT_REGION"] = REGION  # the translator wants a region; no call is made
    try:
        result: dict[str, Any] = transform(sam, {}, Loader())
    finally:
        if saved is None:
            os.environ.pop("AWS_DEFAULT_REGION", None)
        else:
            os.environ["AWS_DEFAULT_REGION"] = saved
    return result


_SUB = re.compile(r"\$\{([^}]*)\}")


class Resolver:
    """CloudFormation's intrinsics over the translated template, for one deployment."""

    def __init__(self, cfn: Mapping[str, Any], source: Mapping[str, Any], deployment: Deployment) -> None:
        self.resources: Mapping[str, Any] = cfn["Resources"]
        self.parameters: Mapping[str, Any] = source.get("Parameters", {})
        self.source_resources: Mapping[str, Any] = source["Resources"]
        self.d = deployment

    def __call__(self, value: Any) -> Any:
        if isinstance(value, list):
            return [self(v) for v in value]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            (name, arg), = value.items()
            if name == "Ref":
                return self.ref(arg)
            if name == "Fn::GetAtt":
                resource, attribute = arg if isinstance(arg, list) else arg.split(".", 1)
                return self.get_att(resource, attribute)
            if name == "Fn::Sub":
                return self.sub(arg)
            if name == "Fn::Join":
                separator, items = arg
                return separator.join(str(self(i)) for i in items)
            if name.startswith("Fn::") or name == "Condition":
                raise UnsupportedPolicy(f"cannot resolve {name} in a policy: {value!r}")
        return {k: self(v) for k, v in value.items()}

    def ref(self, name: str) -> str:
        pseudo = {"AWS::Region": self.d.region, "AWS::AccountId": self.d.account,
                  "AWS::Partition": self.d.partition, "AWS::URLSuffix": "amazonaws.com",
                  "AWS::StackName": STACK_NAME}
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            if name == "StageName":
                return self.d.stage
            given = dict(self.d.parameters)
            if name in given:
                return given[name]
            if "Default" not in self.parameters[name]:
                raise UnsupportedPolicy(f"parameter {name} has no Default and the deployment gives none")
            return str(self.parameters[name]["Default"])
        return self.physical(name, None)

    def get_att(self, resource: str, attribute: str) -> str:
        return self.physical(resource, attribute)

    def physical(self, logical_id: str, attribute: str | None) -> str:
        if logical_id not in self.resources:
            raise UnsupportedPolicy(f"no resource {logical_id}")
        kind = self.resources[logical_id]["Type"]
        d = self.d
        if kind == "AWS::DynamoDB::Table":
            if attribute in (None, "TableName"):
                return d.table
            if attribute == "Arn":
                return d.table_arn(d.table)
        elif kind == "AWS::Lambda::Function":
            name = function_name(self.source_resources, logical_id)
            if attribute is None:
                return name
            if attribute == "Arn":
                return d.function_arn(name)
        elif kind == "AWS::Lambda::Alias" and attribute in (None, "AliasArn"):
            # SAM's AutoPublishAlias: Ref is the alias's ARN, function:<name>:<alias>
            props = self.resources[logical_id]["Properties"]
            target = props["FunctionName"]
            if not (isinstance(target, dict) and "Ref" in target):
                raise UnsupportedPolicy(f"{logical_id}: FunctionName {target!r} is not a function of the template")
            return f"{d.function_arn(function_name(self.source_resources, target['Ref']))}:{props['Name']}"
        elif kind == "AWS::StepFunctions::StateMachine":
            if attribute in (None, "Arn"):
                return d.state_machine_arn
            if attribute == "Name":
                return d.state_machine_arn.rsplit(":", 1)[-1]
        elif kind == "AWS::SQS::Queue":
            name = d.queue_name(logical_id)
            if attribute in (None, "QueueUrl"):
                return f"https://sqs.{d.region}.amazonaws.com/{d.account}/{name}"
            if attribute == "Arn":
                return d.queue_arn(name)
            if attribute == "QueueName":
                return name
        elif kind == "AWS::SecretsManager::Secret":
            if attribute in (None, "Id"):
                return d.secret_arn
        elif kind == "AWS::ApiGatewayV2::Api" and attribute in (None, "ApiId"):
            return d.api_id
        raise UnsupportedPolicy(f"cannot resolve {logical_id} ({kind}) attribute {attribute!r}")

    def sub(self, arg: Any) -> str:
        text, variables = (arg, {}) if isinstance(arg, str) else (arg[0], arg[1])

        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name.startswith("!"):
                return "${" + name[1:] + "}"
            if name in variables:
                return str(self(variables[name]))
            if "." in name and not name.startswith("AWS::"):
                resource, attribute = name.split(".", 1)
                return self.get_att(resource, attribute)
            return self.ref(name)

        return _SUB.sub(replace, text)


def function_name(source_resources: Mapping[str, Any], logical_id: str) -> str:
    """A function's name in this repository: the directory its CodeUri names (functions/<dir>/),
    which is also its name in the local stack's dispatcher and the tests' ARNs."""
    code_uri = source_resources[logical_id]["Properties"]["CodeUri"]
    return Path(code_uri).name


class Policies:
    """The template's principals and their roles as deployed (translated once; resolved per
    deployment)."""

    def __init__(self, template: Mapping[str, Any] | None = None) -> None:
        self.source: dict[str, Any] = dict(template or tpl.load_template())
        self.cfn = translate(self.source)
        self.principals: dict[str, Principal] = {}
        for logical_id, resource in self.cfn["Resources"].items():
            props = resource.get("Properties", {})
            if resource["Type"] == "AWS::Lambda::Function":
                # Handler "app.handler" in CodeUri functions/ws_connect/: the function `handler`
                # of functions/ws_connect/app.py.
                source = self.source["Resources"][logical_id]["Properties"]
                module, _, attribute = str(source.get("Handler") or props["Handler"]).rpartition(".")
                *packages, file = module.split(".")
                code_uri = Path(source["CodeUri"])
                self.principals[logical_id] = Principal(
                    logical_id, "function", code_uri.name, _role_id(props["Role"]),
                    (*code_uri.parts, *packages, f"{file}.py"), attribute)
            elif resource["Type"] == "AWS::StepFunctions::StateMachine":
                self.principals[logical_id] = Principal(logical_id, "state machine", logical_id,
                                                        _role_id(props["RoleArn"]))
        self._resolved: dict[Deployment, dict[str, tuple[Grant, ...]]] = {}
        self._lock = threading.Lock()

    def state_machine(self) -> Principal:
        machines = [p for p in self.principals.values() if p.kind == "state machine"]
        if len(machines) != 1:
            raise UnsupportedPolicy(f"expected one state machine in the template, found {len(machines)}: "
                                    "tell executions apart by name before checking them")
        return machines[0]

    def statements(self, logical_id: str) -> list[tuple[str, dict[str, Any], bool]]:
        """(label, statement, managed) of a principal's role, unresolved."""
        role = self.cfn["Resources"][self.principals[logical_id].role]["Properties"]
        found: list[tuple[str, dict[str, Any], bool]] = []
        for policy in role.get("Policies", []):
            statements = _as_list(policy["PolicyDocument"]["Statement"])
            for index, statement in enumerate(statements):
                label = statement.get("Sid") or (policy["PolicyName"] if len(statements) == 1
                                                 else f"{policy['PolicyName']}[{index}]")
                found.append((label, statement, False))
        for arn in role.get("ManagedPolicyArns", []):
            text = symbolic(arn)
            name = text.split(":policy/", 1)[-1]
            if name not in MANAGED_POLICIES:
                raise UnsupportedPolicy(f"{logical_id}: managed policy {text} is not known to the check "
                                        "(add its document to MANAGED_POLICIES)")
            found.extend((f"managed:{name}", s, True) for s in MANAGED_POLICIES[name])
        return found

    def grants(self, logical_id: str, deployment: Deployment) -> tuple[Grant, ...]:
        with self._lock:
            resolved = self._resolved.get(deployment)
            if resolved is None:
                resolved = {p: self._grants(p, deployment) for p in self.principals}
                self._resolved[deployment] = resolved
        return resolved[logical_id]

    def _grants(self, logical_id: str, deployment: Deployment) -> tuple[Grant, ...]:
        from moto.iam.access_control import IAMPolicy

        resolve = Resolver(self.cfn, self.source, deployment)
        grants: list[Grant] = []
        for label, statement, managed in self.statements(logical_id):
            if {"NotAction", "NotResource", "NotPrincipal"} & statement.keys():
                raise UnsupportedPolicy(f"{logical_id} {label}: NotAction/NotResource are not checked")
            condition = resolve(statement.get("Condition", {}))
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement.get("Resource", "*")):
                    arn = resolve(resource)
                    one = {"Version": "2012-10-17",
                           "Statement": [{"Effect": statement["Effect"], "Action": action, "Resource": arn}]}
                    grants.append(Grant(logical_id, label, statement["Effect"], action, arn, symbolic(resource),
                                        condition, managed, IAMPolicy(json.dumps(one))))
        return tuple(grants)

    def symbolic_grants(self, logical_id: str) -> list[tuple[str, str, str, bool, Mapping[str, Any]]]:
        """(label, action, resource as written, managed, condition) of each grant, unresolved
        (the report's rows)."""
        rows = []
        for label, statement, managed in self.statements(logical_id):
            for action in _as_list(statement["Action"]):
                for resource in _as_list(statement.get("Resource", "*")):
                    rows.append((label, action, symbolic(resource), managed, statement.get("Condition", {})))
        return rows


def _role_id(value: Any) -> str:
    if isinstance(value, dict) and "Fn::GetAtt" in value:
        return str(_as_list(value["Fn::GetAtt"])[0].split(".")[0])
    raise UnsupportedPolicy(f"a role given as {value!r} is not a role of the template")


# --- requests: what a botocore call needs --------------------------------------------------


@dataclass(frozen=True)
class Request:
    """One authorisation AWS makes for a call: an action on a resource, with the condition
    keys the service sets for it."""

    operation: str  # the API operation (TransactWriteItems for each of its items)
    action: str
    resource: str
    context: Mapping[str, tuple[str, ...]] = field(default_factory=dict)
    known_keys: frozenset[str] = frozenset()  # keys this check computes for the call
    detail: str = ""

    def describe(self) -> str:
        keys = "".join(f" {k}={list(v)}" for k, v in sorted(self.context.items()))
        detail = f" ({self.detail})" if self.detail else ""
        return f"{self.action} on {self.resource}{keys}{detail}"


@dataclass(frozen=True)
class KeySchema:
    hash_key: str
    indexes: Mapping[str, str]  # index name -> its partition key attribute


def key_schema(template: Mapping[str, Any], logical_id: str = "Table") -> KeySchema:
    props = template["Resources"][logical_id]["Properties"]

    def hash_of(schema: list[dict[str, str]]) -> str:
        return next(k["AttributeName"] for k in schema if k["KeyType"] == "HASH")

    indexes = {i["IndexName"]: hash_of(i["KeySchema"])
               for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes") for i in props.get(key) or []}
    return KeySchema(hash_of(props["KeySchema"]), indexes)


def _scalar(value: Any) -> str:
    """A key attribute's value as IAM compares it (the string of an S, N or B value)."""
    if isinstance(value, Mapping):
        for kind in ("S", "N", "B"):
            if kind in value:
                raw = value[kind]
                return base64.b64encode(raw).decode() if isinstance(raw, bytes) else str(raw)
    return str(value)


_OPERAND = r"(#\w+|:\w+|[A-Za-z_][\w.]*)"
_KEY_EQ = re.compile(rf"(?<![\w#:]){_OPERAND}\s*=\s*{_OPERAND}")
_LEADING = "dynamodb:LeadingKeys"


def _query_partition_value(params: Mapping[str, Any], hash_key: str) -> str | None:
    if "KeyConditions" in params:
        condition = params["KeyConditions"].get(hash_key)
        return _scalar(condition["AttributeValueList"][0]) if condition else None
    expression = params.get("KeyConditionExpression", "")
    names = params.get("ExpressionAttributeNames", {})
    values = params.get("ExpressionAttributeValues", {})
    for left, right in _KEY_EQ.findall(expression):
        name, value = (left, right) if right.startswith(":") else (right, left)
        if names.get(name, name) == hash_key and value in values:
            return _scalar(values[value])
    return None


class Requests:
    """Maps botocore calls to IAM requests for one deployment (and the template's key schema)."""

    def __init__(self, deployment: Deployment, schema: KeySchema) -> None:
        self.d = deployment
        self.schema = schema

    # DynamoDB -------------------------------------------------------------------------
    def _table(self, name: str) -> tuple[str, str]:
        """(table name, table ARN) for a TableName that may itself be an ARN."""
        if name.startswith("arn:"):
            return name.rsplit("/", 1)[-1], name
        return name, self.d.table_arn(name)

    def _item(self, operation: str, action: str, table: str, key: Mapping[str, Any] | None,
              detail: str = "") -> Request:
        name, arn = self._table(table)
        leading: tuple[str, ...] | None = None
        if name == self.d.table and key is not None and self.schema.hash_key in key:
            leading = (_scalar(key[self.schema.hash_key]),)
        context = {_LEADING: leading} if leading is not None else {}
        return Request(operation, f"dynamodb:{action}", arn, context, frozenset({_LEADING}), detail)

    def dynamodb(self, operation: str, params: Mapping[str, Any]) -> list[Request]:
        if operation in ("GetItem", "PutItem", "UpdateItem", "DeleteItem"):
            key = params.get("Key") if operation != "PutItem" else params.get("Item")
            return [self._item(operation, operation, params["TableName"], key)]
        if operation in ("Query", "Scan"):
            name, arn = self._table(params["TableName"])
            index = params.get("IndexName")
            resource = f"{arn}/index/{index}" if index else arn
            context: dict[str, tuple[str, ...]] = {}
            if operation == "Query" and name == self.d.table:
                hash_key = self.schema.indexes.get(index, "") if index else self.schema.hash_key
                value = _query_partition_value(params, hash_key) if hash_key else None
                if value is not None:
                    context[_LEADING] = (value,)
            return [Request(operation, f"dynamodb:{operation}", resource, context, frozenset({_LEADING}))]
        if operation in ("TransactWriteItems", "TransactGetItems"):
            per_item = {"Put": "PutItem", "Update": "UpdateItem", "Delete": "DeleteItem",
                        "ConditionCheck": "ConditionCheckItem", "Get": "GetItem"}
            requests = []
            for index, item in enumerate(params["TransactItems"]):
                (kind, op), = item.items()
                key = op.get("Item") if kind == "Put" else op.get("Key")
                requests.append(self._item(operation, per_item[kind], op["TableName"], key,
                                           f"item {index} of the transaction: {kind}"))
            return requests
        if operation in ("BatchGetItem", "BatchWriteItem"):
            requests = []
            for table, spec in params["RequestItems"].items():
                if operation == "BatchGetItem":
                    keys = list(spec.get("Keys", []))
                else:
                    keys = [w.get("PutRequest", {}).get("Item") or w.get("DeleteRequest", {}).get("Key") or {}
                            for w in spec]
                name, arn = self._table(table)
                values = tuple(sorted({_scalar(k[self.schema.hash_key]) for k in keys if self.schema.hash_key in k}))
                context = {_LEADING: values} if name == self.d.table and values else {}
                requests.append(Request(operation, f"dynamodb:{operation}", arn, context, frozenset({_LEADING})))
            return requests
        table = params.get("TableName")
        return [Request(operation, f"dynamodb:{operation}", self._table(table)[1] if table else "*")]

    # the other services ---------------------------------------------------------------
    def of(self, service: str, prefix: str, operation: str, params: Mapping[str, Any], url: str) -> list[Request]:
        d = self.d
        if service == "dynamodb":
            return self.dynamodb(operation, params)
        if service == "lambda" and operation in ("Invoke", "InvokeAsync", "InvokeWithResponseStream"):
            target = str(params["FunctionName"])
            if not target.startswith("arn:"):  # a name, or name:qualifier
                name, colon, qualifier = target.partition(":")
                target = d.function_arn(name) + colon + qualifier
            if params.get("Qualifier"):
                target = f"{target}:{params['Qualifier']}"
            action = "lambda:InvokeFunction" if operation != "InvokeAsync" else "lambda:InvokeAsync"
            invocation = params.get("InvocationType", "RequestResponse")
            return [Request(operation, action, target, detail=f"InvocationType={invocation}")]
        if service == "stepfunctions" and operation in ("StartExecution", "StartSyncExecution"):
            return [Request(operation, f"states:{operation}", str(params["stateMachineArn"]))]
        if service == "stepfunctions" and operation in ("StopExecution", "DescribeExecution", "GetExecutionHistory"):
            return [Request(operation, f"states:{operation}", str(params["executionArn"]))]
        if service == "apigatewaymanagementapi":
            method = {"PostToConnection": "POST", "GetConnection": "GET", "DeleteConnection": "DELETE"}[operation]
            base = url.split("/@connections/", 1)[0]
            api, stage = api_and_stage(base)
            connection = unquote(str(params["ConnectionId"]))
            arn = f"arn:{d.partition}:execute-api:{d.region}:{d.account}:{api}/{stage}/{method}/@connections/{connection}"
            return [Request(operation, "execute-api:ManageConnections", arn)]
        if service in ("sesv2", "ses") and operation in ("SendEmail", "SendRawEmail", "SendTemplatedEmail",
                                                          "SendBulkEmail", "SendBulkTemplatedEmail"):
            sender = str(params.get("FromEmailAddress") or params.get("Source") or "")
            identity = params.get("FromEmailAddressIdentityArn") or params.get("SourceArn")
            if not identity:
                address = re.sub(r"^.*<([^>]*)>\s*$", r"\1", sender).strip()
                domain = address.rpartition("@")[2]
                chosen = address if address in d.verified_identities else domain
                identity = f"arn:{d.partition}:ses:{d.region}:{d.account}:identity/{chosen}"
            action = "ses:SendEmail" if service == "sesv2" else f"ses:{operation}"
            requests = [Request(operation, action, str(identity))]
            if params.get("ConfigurationSetName"):
                requests.append(Request(operation, action, f"arn:{d.partition}:ses:{d.region}:{d.account}"
                                        f":configuration-set/{params['ConfigurationSetName']}"))
            return requests
        if service == "sesv2" and operation == "GetEmailIdentity":
            return [Request(operation, "ses:GetEmailIdentity",
                            f"arn:{d.partition}:ses:{d.region}:{d.account}:identity/{params['EmailIdentity']}")]
        if service == "secretsmanager" and "SecretId" in params:
            secret = str(params["SecretId"])
            if not secret.startswith("arn:"):
                known = d.secret_arn.rsplit(":", 1)[-1]
                secret = d.secret_arn if known.rsplit("-", 1)[0] == secret else (
                    f"arn:{d.partition}:secretsmanager:{d.region}:{d.account}:secret:{secret}")
            return [Request(operation, f"secretsmanager:{operation}", secret)]
        if service == "sqs" and "QueueUrl" in params:
            path = [p for p in urlsplit(str(params["QueueUrl"])).path.split("/") if p]
            account, name = (path[-2], path[-1]) if len(path) >= 2 else (d.account, path[-1])
            action = "sqs:SendMessage" if operation in ("SendMessage", "SendMessageBatch") else f"sqs:{operation}"
            return [Request(operation, action, f"arn:{d.partition}:sqs:{d.region}:{account}:{name}")]
        if service == "cognito-idp" and "UserPoolId" in params:
            return [Request(operation, f"cognito-idp:{operation}",
                            f"arn:{d.partition}:cognito-idp:{d.region}:{d.account}:userpool/{params['UserPoolId']}")]
        return [Request(operation, f"{prefix}:{operation}", "*", detail="resource not modelled by the check")]


# --- conditions ------------------------------------------------------------------------


def _like(value: str, pattern: str) -> bool:
    regex = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in pattern)
    return re.fullmatch(regex, value, flags=re.DOTALL) is not None


_OPERATORS: dict[str, tuple[Callable[[str, str], bool], bool]] = {
    "StringEquals": (lambda v, p: v == p, False),
    "StringNotEquals": (lambda v, p: v == p, True),
    "StringEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), False),
    "StringNotEqualsIgnoreCase": (lambda v, p: v.lower() == p.lower(), True),
    "StringLike": (_like, False),
    "StringNotLike": (_like, True),
}


def condition_holds(operator: str, key: str, expected: Any, request: Request) -> bool:
    """IAM's evaluation of one condition (operator, key, values) for a request: set
    operators (ForAllValues: true when the key is absent; ForAnyValue: false), IfExists, and
    negated operators being true when the key is absent."""
    qualifier, _, name = operator.rpartition(":")
    if_exists = name.endswith("IfExists")
    name = name.removesuffix("IfExists")
    if key not in request.known_keys:
        raise UnsupportedPolicy(f"the check does not compute {key} for {request.action}")
    values = request.context.get(key)
    wanted = [str(v) for v in _as_list(expected)]
    if name == "Null":
        return (values is None) == (str(expected[0] if isinstance(expected, list) else expected).lower() == "true")
    if name not in _OPERATORS or qualifier not in ("", "ForAllValues", "ForAnyValue"):
        raise UnsupportedPolicy(f"condition operator {operator} is not evaluated by the check")
    match, negated = _OPERATORS[name]

    def ok(value: str) -> bool:
        positive = any(match(value, w) for w in wanted)
        return not positive if negated else positive

    if qualifier == "ForAllValues":
        return all(ok(v) for v in values or ())
    if qualifier == "ForAnyValue":
        return any(ok(v) for v in values or ())
    if not values:
        return if_exists or negated
    if len(values) > 1:
        raise UnsupportedPolicy(f"{operator} on the multivalued {key}: use ForAllValues or ForAnyValue")
    return ok(values[0])


def conditions_hold(condition: Mapping[str, Mapping[str, Any]], request: Request) -> bool:
    return all(condition_holds(operator, key, expected, request)
               for operator, keys in condition.items() for key, expected in keys.items())


# --- the verdict -------------------------------------------------------------------------


@dataclass(frozen=True)
class Decision:
    allowed: bool
    grants: tuple[Grant, ...]  # the Allow grants that apply (empty when refused)
    denied_by: Grant | None = None  # an explicit Deny


def matching(grants: Iterable[Grant], action: str, resource: str) -> tuple[Grant, ...]:
    """The grants whose action and resource match (moto's evaluator), conditions aside."""
    from moto.iam.access_control import PermissionResult

    return tuple(g for g in grants if g.evaluator.is_action_permitted(action, resource)
                 in (PermissionResult.PERMITTED, PermissionResult.DENIED))


def evaluate(grants: Iterable[Grant], request: Request) -> Decision:
    """An explicit Deny that applies wins; else any Allow that applies; else implicit deny."""
    return _decide(matching(grants, request.action, request.resource), request)


def _decide(matched: Iterable[Grant], request: Request) -> Decision:
    allowing: list[Grant] = []
    for grant in matched:
        if not conditions_hold(grant.condition, request):
            continue
        if grant.effect == "Deny":
            return Decision(False, (), grant)
        allowing.append(grant)
    return Decision(bool(allowing), tuple(allowing))


@dataclass(frozen=True)
class Denial:
    principal: str
    request: Request

    def describe(self) -> str:
        return f"{self.principal} may not call {self.request.operation}: {self.request.describe()}"


_ERROR_CODES = {"sqs": ("AccessDenied", 403), "dynamodb": ("AccessDeniedException", 400)}


class AccessDenied(ClientError):
    """What AWS answers a call its caller's policies do not allow (raised before sending)."""

    def __init__(self, denial: Denial, service: str, operation: str) -> None:
        code, status = _ERROR_CODES.get(service, ("AccessDeniedException", 403))
        request = denial.request
        message = (f"User: arn:{PARTITION}:sts::{ACCOUNT}:assumed-role/{denial.principal}Role/{denial.principal} "
                   f"is not authorized to perform: {request.action} on resource: {request.resource} because no "
                   f"identity-based policy allows the {request.action} action (livechat IAM check: "
                   f"{denial.describe()})")
        response: Any = {"Error": {"Code": code, "Message": message}, "ResponseMetadata": {"HTTPStatusCode": status}}
        super().__init__(response, operation)
        self.denial = denial


# --- who is calling: the principal on the stack -----------------------------------------

_inherited: ContextVar[str | None] = ContextVar("livechat_iam_inherited_principal", default=None)


class Recogniser:
    """Finds the innermost principal on a thread's stack (see the module docstring)."""

    # moto's Step Functions interpreter (it runs each execution's program in threads of its own).
    INTERPRETER = ("moto", "stepfunctions", "parser")

    def __init__(self, policies: Policies) -> None:
        from livechat_local.lambdas import Dispatcher

        self.handlers = {(p.handler_file, p.handler_name): p.logical_id
                         for p in policies.principals.values() if p.kind == "function"}
        self.by_name = {p.name: p.logical_id for p in policies.principals.values() if p.kind == "function"}
        self.async_code = Dispatcher._run_async.__code__
        self.policies = policies
        self._cache: dict[CodeType, Callable[[FrameType], str | None] | None] = {}

    def _reader(self, code: CodeType) -> Callable[[FrameType], str | None] | None:
        if code is self.async_code:  # Lambda's own asynchronous invocation of function `name`
            return lambda frame: self.by_name.get(str(frame.f_locals.get("name")))
        parts = Path(code.co_filename).parts
        if any(parts[i:i + 3] == self.INTERPRETER for i in range(len(parts) - 2)):
            return _constant(self.policies.state_machine().logical_id)
        for (file, name), logical_id in self.handlers.items():
            if code.co_name == name and parts[-len(file):] == file:
                return _constant(logical_id)
        return None

    def principal(self, frame: FrameType | None) -> str | None:
        while frame is not None:
            code = frame.f_code
            try:
                reader = self._cache[code]
            except KeyError:
                reader = self._cache[code] = self._reader(code)
            if reader is not None:
                found = reader(frame)
                if found:
                    return found
            frame = frame.f_back
        return _inherited.get()


def _constant(logical_id: str) -> Callable[[FrameType], str | None]:
    return lambda frame: logical_id


# --- the checker -------------------------------------------------------------------------


@dataclass(frozen=True)
class Call:
    """A botocore call as the hooks see it."""

    service: str  # botocore's service name: dynamodb, sesv2, apigatewaymanagementapi, ...
    prefix: str  # its IAM prefix (the signing name): dynamodb, ses, execute-api, ...
    operation: str
    params: Mapping[str, Any]
    url: str = ""


class Checker:
    """Evaluates each call made under a principal, records what it used and what was
    refused, and (when enforcing) refuses the call."""

    def __init__(self, policies: Policies, deployment: Callable[[], Deployment], *, enforce: bool = True) -> None:
        self.policies = policies
        self.deployment = deployment
        self.enforce = enforce
        self.schema = key_schema(policies.source)
        self.recogniser = Recogniser(policies)
        self._lock = threading.Lock()
        self.usage: Counter[tuple[str, str]] = Counter()
        self.leading_keys: dict[tuple[str, str], set[str]] = {}
        self.denials: list[Denial] = []
        self.refused: Counter[tuple[str, str, str]] = Counter()
        self._matched: dict[tuple[str, Deployment, str, str], tuple[Grant, ...]] = {}

    def principal(self) -> str | None:
        return self.recogniser.principal(sys._getframe(1))

    def decide(self, principal: str, request: Request, deployment: Deployment | None = None) -> Decision:
        deployment = deployment or self.deployment()
        # moto's matching depends on the action and resource only (the table's ARN for most
        # calls): kept; the conditions are evaluated for each request.
        key = (principal, deployment, request.action, request.resource)
        matched = self._matched.get(key)
        if matched is None:
            matched = matching(self.policies.grants(principal, deployment), request.action, request.resource)
            with self._lock:
                if len(self._matched) > 10_000:
                    self._matched.clear()
                self._matched[key] = matched
        return _decide(matched, request)

    def check(self, principal: str, call: Call) -> None:
        deployment = self.deployment()
        requests = Requests(deployment, self.schema).of(call.service, call.prefix, call.operation, call.params, call.url)
        refused: Denial | None = None
        for request in requests:
            decision = self.decide(principal, request, deployment)
            if decision.allowed:
                self._record_use(principal, request, decision)
            else:
                denial = Denial(principal, request)
                self._record_denial(denial)
                refused = refused or denial
        if refused is not None and self.enforce:
            raise AccessDenied(refused, call.service, call.operation)

    def _record_use(self, principal: str, request: Request, decision: Decision) -> None:
        with self._lock:
            for grant in decision.grants:
                self.usage[(principal, grant.key)] += 1
                if _LEADING in request.context:
                    families = {_family(v) for v in request.context[_LEADING]}
                    self.leading_keys.setdefault((principal, grant.key), set()).update(families)

    def _record_denial(self, denial: Denial) -> None:
        log.warning("IAM refused: %s", denial.describe())
        with self._lock:
            self.denials.append(denial)
            self.refused[(denial.principal, denial.request.action, _family_resource(denial.request))] += 1

    def take_denials(self) -> list[Denial]:
        with self._lock:
            taken, self.denials = self.denials, []
        return taken

    def put_back(self, denials: list[Denial]) -> None:
        with self._lock:
            self.denials[:0] = denials

    def expected(self, denials: list[Denial]) -> None:
        """Refusals a test provoked on purpose: out of the record and of the usage file."""
        with self._lock:
            for denial in denials:
                key = (denial.principal, denial.request.action, _family_resource(denial.request))
                self.refused[key] -= 1
                if self.refused[key] <= 0:
                    del self.refused[key]

    # --- the usage file ------------------------------------------------------------------
    def usage_document(self) -> dict[str, Any]:
        with self._lock:
            principals: dict[str, dict[str, Any]] = {}
            for (principal, key), count in sorted(self.usage.items()):
                entry: dict[str, Any] = {"count": count}
                if (principal, key) in self.leading_keys:
                    entry["leadingKeys"] = sorted(self.leading_keys[(principal, key)])
                principals.setdefault(principal, {})[key] = entry
            refused = [{"principal": p, "action": a, "resource": r, "count": c}
                       for (p, a, r), c in sorted(self.refused.items())]
        return {"version": USAGE_VERSION, "principals": principals, "refused": refused}

    def merge_usage_into(self, path: Path) -> None:
        """Add this process's usage to the file (several processes write one: the pytest
        run and each `livechat dev` it starts), under an exclusive lock."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("a+", encoding="utf-8") as fh:
            fcntl.flock(fh, fcntl.LOCK_EX)
            fh.seek(0)
            text = fh.read()
            merged = merge_usage(json.loads(text) if text.strip() else empty_usage(), self.usage_document())
            fh.seek(0)
            fh.truncate()
            json.dump(merged, fh, indent=1, sort_keys=True)
            fh.write("\n")


def _family(value: str) -> str:
    """A partition key value as the report shows it: CONV#0f3… -> CONV#, AGENT -> AGENT."""
    head, sep, _ = value.partition("#")
    return f"{head}{sep}"


def _family_resource(request: Request) -> str:
    keys = request.context.get(_LEADING)
    return f"{request.resource} {_LEADING}={sorted({_family(k) for k in keys})}" if keys else request.resource


def empty_usage() -> dict[str, Any]:
    return {"version": USAGE_VERSION, "principals": {}, "refused": []}


def merge_usage(into: Mapping[str, Any], more: Mapping[str, Any]) -> dict[str, Any]:
    if into.get("version") != USAGE_VERSION or more.get("version") != USAGE_VERSION:
        raise ValueError("usage files of another version: delete the old one and run again")
    principals: dict[str, dict[str, Any]] = copy.deepcopy(dict(into["principals"]))
    for principal, grants in more["principals"].items():
        mine = principals.setdefault(principal, {})
        for key, entry in grants.items():
            have = mine.setdefault(key, {"count": 0})
            have["count"] += entry["count"]
            if "leadingKeys" in entry:
                have["leadingKeys"] = sorted(set(have.get("leadingKeys", [])) | set(entry["leadingKeys"]))
    refused: Counter[tuple[str, str, str]] = Counter()
    for doc in (into, more):
        for r in doc["refused"]:
            refused[(r["principal"], r["action"], r["resource"])] += r["count"]
    return {"version": USAGE_VERSION, "principals": principals,
            "refused": [{"principal": p, "action": a, "resource": r, "count": c}
                        for (p, a, r), c in sorted(refused.items())]}


# --- installation: botocore hooks, thread pools ----------------------------------------

_checker: Checker | None = None
_PARAMS = "livechat_iam"


def _remember(params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """before-parameter-build: who is calling, with the call's parameters as given."""
    checker = _checker
    if checker is None:
        return
    principal = checker.recogniser.principal(sys._getframe(1))
    if principal is not None:
        context[_PARAMS] = (principal, params)


def _check(model: Any, params: dict[str, Any], context: dict[str, Any], **_: Any) -> None:
    """before-call: the endpoint is known now (the WebSocket API's); evaluate and refuse."""
    checker = _checker
    remembered = context.pop(_PARAMS, None)
    if checker is None or remembered is None:
        return
    principal, api_params = remembered
    service = model.service_model
    checker.check(principal, Call(service.service_name, service.signing_name or service.endpoint_prefix,
                                  model.name, api_params, str(params.get("url", ""))))


_HOOKS: list[tuple[str, Callable[..., None]]] = [("before-parameter-build", _remember), ("before-call", _check)]
_original_submit = ThreadPoolExecutor.submit


def _submit(self: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
    """A pool's task runs as the principal that submitted it (a handler's own threads)."""
    checker = _checker
    principal = checker.recogniser.principal(sys._getframe(1)) if checker is not None else None
    if principal is None:
        return _original_submit(self, fn, *args, **kwargs)

    def as_principal(*a: Any, **k: Any) -> Any:
        token = _inherited.set(principal)
        try:
            return fn(*a, **k)
        finally:
            _inherited.reset(token)

    return _original_submit(self, as_principal, *args, **kwargs)


def install(checker: Checker) -> None:
    """Check every call made under a principal from now on. botocore sessions created from
    now on carry the hooks (boto3's default session is recreated by moto's mock and by
    runtime.reset()'s clients; PynamoDB makes a session per thread); the default session, if
    one exists already, gets them too."""
    global _checker
    _checker = checker
    if _HOOKS[0] not in botocore_handlers.BUILTIN_HANDLERS:
        botocore_handlers.BUILTIN_HANDLERS.extend(_HOOKS)
        import boto3

        if boto3.DEFAULT_SESSION is not None:
            events = boto3.DEFAULT_SESSION._session.get_component("event_emitter")
            for event, handler in _HOOKS:
                events.register(event, handler)
    ThreadPoolExecutor.submit = _submit  # type: ignore[method-assign,assignment]


def uninstall() -> None:
    global _checker
    _checker = None
    ThreadPoolExecutor.submit = _original_submit  # type: ignore[method-assign]


def active() -> Checker | None:
    return _checker


@lru_cache(maxsize=1)
def template_policies() -> Policies:
    """template.yaml's principals and roles (translated once per process)."""
    return Policies()


# --- livechat dev --enforce-iam ------------------------------------------------------------

USAGE_ENV = "LIVECHAT_IAM_USAGE"  # a file to add this process's usage to at exit
EXIT_REFUSED = 3


def enforce_in_dev(workspace: Path) -> Checker:
    """The check in the local stack: the names are those `livechat dev` gives its resources
    (the table, the state machine and the management endpoint from the environment it sets;
    the queues named by their logical ids; the sender identity it verifies: the workspace's
    failure_emails.from)."""
    from livechat_admin.workspace_file import InvalidWorkspace, read_workspace

    try:
        sender = read_workspace(workspace).settings.failure_emails.from_
    except (InvalidWorkspace, OSError):
        sender = ""  # `livechat dev` reports the file itself, and stops
    parameters = {"SenderIdentity": sender} if sender else {}
    checker = Checker(template_policies(),
                      lambda: Deployment.from_environment(parameters=parameters, verified_identities=(sender,)))
    install(checker)
    return checker


def finish_dev(checker: Checker, code: int) -> int:
    """At the local stack's exit: the usage added to $LIVECHAT_IAM_USAGE if set; exit status
    3 if a call was refused (and the stack otherwise stopped cleanly)."""
    uninstall()
    usage = os.environ.get(USAGE_ENV)
    if usage:
        checker.merge_usage_into(Path(usage))
    if checker.refused:
        print(f"livechat dev --enforce-iam: {sum(checker.refused.values())} AWS call(s) refused:", file=sys.stderr)
        for (principal, action, resource), count in sorted(checker.refused.items()):
            print(f"  {principal}: {action} on {resource} ({count}x)", file=sys.stderr)
        return code or EXIT_REFUSED
    return code
