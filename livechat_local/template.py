"""template.yaml as CloudFormation reads it: short intrinsic tags in their long JSON forms.

Shared by the tests and the local stack, which both build their resources from it.

Tests build moto resources from the template's own definitions (never a copy), so the two
cannot drift: ``table_create_kwargs(load_template())`` creates the table the stack creates.
"""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parents[1]

# Short form -> long form. !GetAtt and !Ref are handled apart below.
_FN_TAGS = (
    "And", "Base64", "Cidr", "Equals", "FindInMap", "GetAZs", "If", "ImportValue", "Join",
    "Length", "Not", "Or", "Select", "Split", "Sub", "ToJsonString", "Transform",
)


class CloudFormationLoader(yaml.SafeLoader):
    """SafeLoader that knows the intrinsic-function tags and, like CloudFormation, reads an
    unquoted 2012-10-17 as a string rather than a date."""


# Drop the timestamp resolver for this loader only (the dict is copied, not shared).
CloudFormationLoader.yaml_implicit_resolvers = {
    first: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for first, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


def _node_value(loader: yaml.SafeLoader, node: yaml.Node) -> Any:
    if isinstance(node, yaml.ScalarNode):
        return loader.construct_scalar(node)
    if isinstance(node, yaml.SequenceNode):
        return loader.construct_sequence(node, deep=True)
    if isinstance(node, yaml.MappingNode):
        return loader.construct_mapping(node, deep=True)
    raise yaml.constructor.ConstructorError(None, None, f"unexpected node {node!r}",
                                            node.start_mark)


def _long_form(name: str) -> Any:
    def construct(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
        return {name: _node_value(loader, node)}

    return construct


def _get_att(loader: yaml.SafeLoader, node: yaml.Node) -> dict[str, Any]:
    value = _node_value(loader, node)
    if isinstance(value, str):
        # "Resource.Attribute" (the attribute itself may contain dots: Endpoint.Address)
        resource, _, attribute = value.partition(".")
        if not attribute:
            raise yaml.constructor.ConstructorError(
                None, None, f"!GetAtt {value!r} must be 'Resource.Attribute'", node.start_mark)
        value = [resource, attribute]
    return {"Fn::GetAtt": value}


CloudFormationLoader.add_constructor("!Ref", _long_form("Ref"))
CloudFormationLoader.add_constructor("!Condition", _long_form("Condition"))
CloudFormationLoader.add_constructor("!GetAtt", _get_att)
for _name in _FN_TAGS:
    CloudFormationLoader.add_constructor(f"!{_name}", _long_form(f"Fn::{_name}"))


def load_template(path: str | Path = "template.yaml") -> dict[str, Any]:
    """Parse a CloudFormation/SAM YAML template; a relative path is from the repository root."""
    file = Path(path)
    if not file.is_absolute():
        file = ROOT / file
    with file.open(encoding="utf-8") as fh:
        template = yaml.load(fh, Loader=CloudFormationLoader)
    if not isinstance(template, dict):
        raise ValueError(f"{file} is not a template (top level is not a mapping)")
    return template


_INDEX_KEYS = ("IndexName", "KeySchema", "Projection", "ProvisionedThroughput",
               "OnDemandThroughput")


def table_create_kwargs(
    template: dict[str, Any], *, logical_id: str = "Table", table_name: str = "livechat"
) -> dict[str, Any]:
    """Keyword arguments for boto3 ``create_table`` from the template's table resource.

    ``TableName`` is a placeholder (the stack lets CloudFormation name the table): pass
    ``table_name`` or overwrite it. Only what shapes the data is carried over; settings
    such as SSE or point-in-time recovery have other shapes in the API and are left out.
    """
    props = template["Resources"][logical_id]["Properties"]
    kwargs: dict[str, Any] = {
        "TableName": table_name,
        "AttributeDefinitions": copy.deepcopy(props["AttributeDefinitions"]),
        "KeySchema": copy.deepcopy(props["KeySchema"]),
        "BillingMode": props.get("BillingMode", "PROVISIONED"),
    }
    if "ProvisionedThroughput" in props:
        kwargs["ProvisionedThroughput"] = copy.deepcopy(props["ProvisionedThroughput"])
    for key in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
        if props.get(key):
            kwargs[key] = [
                {k: copy.deepcopy(v) for k, v in index.items() if k in _INDEX_KEYS}
                for index in props[key]
            ]
    if "StreamSpecification" in props:
        kwargs["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": props["StreamSpecification"]["StreamViewType"],
        }
    return kwargs


_USER_POOL_KEYS = ("UsernameAttributes", "AliasAttributes", "AutoVerifiedAttributes",
                   "UsernameConfiguration", "AdminCreateUserConfig", "AccountRecoverySetting",
                   "Schema")


def user_pool_create_kwargs(
    template: dict[str, Any], *, logical_id: str = "UserPool", pool_name: str = "livechat-agents"
) -> dict[str, Any]:
    """Keyword arguments for boto3 ``create_user_pool`` from the template's user pool: how
    users are named (no ``UsernameAttributes``: the user name is the agent's e-mail), the
    verified and required attributes and the invitation-only sign-up. ``PoolName`` replaces
    the template's ``!Sub`` name. The password policy is left out: the passwords a workspace
    file gives its agents are for the local stack only and need not meet it."""
    props = template["Resources"][logical_id]["Properties"]
    kwargs: dict[str, Any] = {"PoolName": pool_name}
    kwargs.update({key: copy.deepcopy(props[key]) for key in _USER_POOL_KEYS if key in props})
    return kwargs


_PLACEHOLDER = re.compile(r"\$\{([^}]*)\}")


def state_machine_definition(
    template: dict[str, Any], logical_id: str = "OfferStateMachine"
) -> dict[str, Any]:
    """The ASL document a state machine's local ``DefinitionUri`` names, parsed as is:
    ``${...}`` placeholders are left for ``DefinitionSubstitutions`` (see
    :func:`definition_placeholders`)."""
    uri = template["Resources"][logical_id]["Properties"]["DefinitionUri"]
    if not isinstance(uri, str) or uri.startswith("s3://"):
        raise ValueError(f"{logical_id}: DefinitionUri {uri!r} is not a local file")
    with (ROOT / uri).open(encoding="utf-8") as fh:
        definition = json.load(fh)
    if not isinstance(definition, dict):
        raise ValueError(f"{uri} is not an ASL document (top level is not an object)")
    return definition


def definition_placeholders(definition: Any) -> set[str]:
    """Every ``${Name}`` in the string values (and keys) of an ASL document."""
    if isinstance(definition, str):
        return set(_PLACEHOLDER.findall(definition))
    if isinstance(definition, dict):
        return set().union(*(definition_placeholders(k) | definition_placeholders(v)
                             for k, v in definition.items()))
    if isinstance(definition, list):
        return set().union(*(definition_placeholders(v) for v in definition))
    return set()


# `${Function.Arn}` (the function) or `${FunctionAlias<name>}` (SAM: the alias AutoPublishAlias
# makes, by the logical id SAM gives it)
_ARN_OF = re.compile(r"\$\{([A-Za-z0-9]+?)(?:\.Arn|Alias[A-Za-z0-9]+)\}")


def function_alias(template: dict[str, Any], logical_id: str) -> str | None:
    """The alias SAM publishes for a function (its ``AutoPublishAlias``, else the Globals'),
    or None."""
    props = template["Resources"][logical_id].get("Properties", {})
    alias = props.get("AutoPublishAlias",
                      template.get("Globals", {}).get("Function", {}).get("AutoPublishAlias"))
    return str(alias) if alias else None


def function_reference(template: dict[str, Any], reference: Any, *, region: str, account: str,
                       partition: str = "aws") -> str:
    """The ARN a template's reference to one of its functions gives, the function named as the
    local stack names it (the folder of its CodeUri, functions/<name>/): ``!GetAtt F.Arn`` is
    the function's ARN, ``!Ref F.Alias`` (SAM) its alias's, ``...:function:<name>:<alias>``."""
    if isinstance(reference, dict) and "Fn::GetAtt" in reference:
        target = reference["Fn::GetAtt"]
        logical_id, attribute = target if isinstance(target, list) else target.split(".", 1)
        qualifier = None
        if attribute != "Arn":
            raise ValueError(f"{reference!r} is not a function's ARN")
    elif isinstance(reference, dict) and isinstance(reference.get("Ref"), str) \
            and reference["Ref"].endswith(".Alias"):
        logical_id = reference["Ref"].removesuffix(".Alias")
        qualifier = function_alias(template, logical_id)
        if qualifier is None:
            raise ValueError(f"{reference!r}: {logical_id} has no AutoPublishAlias")
    else:
        raise ValueError(f"{reference!r} is not a reference to a function of the template")
    resource = template["Resources"].get(logical_id)
    if resource is None or resource["Type"] != "AWS::Serverless::Function":
        raise ValueError(f"{reference!r} names no function of the template")
    name = Path(resource["Properties"]["CodeUri"]).name
    arn = f"arn:{partition}:lambda:{region}:{account}:function:{name}"
    return f"{arn}:{qualifier}" if qualifier else arn


def authorizer_function(resources: dict[str, Any], authorizer_id: Any) -> str:
    """The logical id of the Lambda function an ``AWS::ApiGatewayV2::Authorizer`` invokes
    (``AuthorizerId: !Ref <authorizer>``; its ``AuthorizerUri`` names ``${<Function>.Arn}`` or
    its alias, ``${<Function>Alias<name>}``)."""
    if not isinstance(authorizer_id, dict) or "Ref" not in authorizer_id:
        raise ValueError(f"AuthorizerId {authorizer_id!r} is not a !Ref to an authorizer of the template")
    uri = resources[authorizer_id["Ref"]]["Properties"]["AuthorizerUri"]
    text = uri.get("Fn::Sub") if isinstance(uri, dict) else uri
    found = _ARN_OF.search(text) if isinstance(text, str) else None
    if found is None or found.group(1) not in resources:
        raise ValueError(f"AuthorizerUri {uri!r} names no function of the template")
    return found.group(1)
