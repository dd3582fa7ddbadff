"""What a Lambda container holds for its lifetime: the deployment's settings, the boto3
clients, and every cache built from them — all built lazily, never at import, and all
forgotten by one `reset()`.

Settings come from the environment (`LIVECHAT_*`), checked once when first read: a frozen
dataclass whose fields say their type and bounds, filled by `Settings.from_environment`.
Not pydantic (issue 15, cold start): a pydantic model of three dozen fields cost ~5 ms of
every cold start to define, for a dozen variables a deployment sets (pydantic-settings
before it brought asyncio as well); the conversions are the few a variable needs (str, an
optional str, int, float, bool as pydantic reads them), and a bad value still fails the
first invocation with every problem named. A module that keeps a cache derived from them
(the table binding in livechat.store, the JWKS and the visitor secret in livechat.api.auth,
the failure mail's idempotency store) registers its own clearing with `on_reset`, so tests
and the local stack, which point everything elsewhere, have exactly one thing to call.

With Lambda SnapStart (template parameter `SnapStart`), an execution environment is restored
from a snapshot taken after the handler's import: before the snapshot, boto3's default
session loads what the clients below need (no client or credential is kept), and after each
restore `reset()` runs and `random` is reseeded (`snapshot_restore_py`, Lambda's Python
runtime only), so that no client, connection, credential or random sequence of the snapshot
is shared by the environments restored from it.
"""

from __future__ import annotations

import dataclasses
import os
import random
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_apigatewaymanagementapi import ApiGatewayManagementApiClient


_PREFIX = "LIVECHAT_"
_TRUE = frozenset({"1", "true", "t", "yes", "y", "on"})  # what pydantic reads as a bool
_FALSE = frozenset({"0", "false", "f", "no", "n", "off"})


def _bounds(ge: float | None = None, le: float | None = None, min_length: int | None = None) -> dict[str, Any]:
    return {"ge": ge, "le": le, "min_length": min_length}


class InvalidSettings(ValueError):
    """An environment variable the functions cannot run with; the message names each one."""


@dataclass(frozen=True)
class Settings:
    table_name: str = field(metadata=_bounds(min_length=3))
    region: str = "us-east-1"  # AWS_REGION, as Lambda sets it (never LIVECHAT_REGION)
    # Optional endpoint overrides: the local stack points every client at its emulator.
    dynamodb_endpoint: str | None = None
    # Management API endpoint for post_to_connection; when unset it is derived from the
    # event's domainName and stage, as API Gateway documents.
    ws_management_endpoint: str | None = None
    user_pool_id: str = ""
    user_pool_client_id: str = ""
    # Where the pool's JWKS lives; default is Cognito's public URL for the pool.
    jwks_url: str | None = None
    # The visitor-token signing key: literal (local stack, tests) or a Secrets Manager ARN.
    visitor_secret: str | None = None
    visitor_secret_arn: str | None = None
    visitor_token_days: int = field(default=30, metadata=_bounds(ge=1, le=365))
    # The offer workflow (Step Functions) and the failure notifier (Lambda, invoked async;
    # template.yaml gives its alias's ARN).
    state_machine_arn: str | None = None
    notify_function: str | None = None
    lambda_endpoint: str | None = None
    stepfunctions_endpoint: str | None = None
    ses_endpoint: str | None = None
    # Where failure e-mails link to (the inbox page); empty: no link.
    inbox_url: str = ""
    # What the hosted pages read from /config.json (livechat.web_assets): the WebSocket URL
    # the browsers connect to, the public base URL of the pages (empty: derived from the
    # request) and the Cognito endpoint (empty: Cognito's public endpoint for the region).
    public_websocket_url: str = ""
    public_http_url: str = ""
    cognito_endpoint: str = ""
    max_message_chars: int = field(default=4000, metadata=_bounds(ge=1, le=20000))
    max_frame_bytes: int = field(default=32 * 1024, metadata=_bounds(ge=1024))
    # Web Push endpoints may also be http://127.0.0.1:PORT/... (the local stack's own test
    # push services). Set only by livechat_local, never in template.yaml: a deployment
    # refuses every http:// endpoint.
    allow_loopback_push: bool = False
    # Without a `rate_limits` block a deployment applies the defaults and the local stack
    # none (workspace.md, second round): livechat_local sets this to false.
    default_rate_limits: bool = True
    # Frames per connection per second (and at once) that one container takes before
    # answering RATE_LIMITED (livechat.api.gateway); 0 turns the bound off, as the local
    # stack does unless its workspace has a `rate_limits` block.
    frames_per_second: float = field(default=10.0, metadata=_bounds(ge=0))
    frame_burst: int = field(default=20, metadata=_bounds(ge=1))
    # How long a container keeps the workspace configuration (settings and dialogs) it read
    # (livechat.store.catalog): an admin's `livechat apply` shows within this time. 0 reads
    # on every request, as the local stack does (`livechat apply --local` is another process).
    config_cache_seconds: float = field(default=10.0, metadata=_bounds(ge=0))

    def __post_init__(self) -> None:
        problems = [problem for f in dataclasses.fields(self)
                    if (problem := _bound_problem(f, getattr(self, f.name)))]
        if problems:
            raise InvalidSettings("invalid settings: " + "; ".join(problems))

    @classmethod
    def from_environment(cls, environ: Mapping[str, str]) -> Settings:
        """`LIVECHAT_<FIELD>` for each field (the name in any case), the region from AWS_REGION;
        other variables are ignored."""
        given: dict[str, str] = {key[len(_PREFIX):].lower(): value for key, value in environ.items()
                                 if key.upper().startswith(_PREFIX)}
        given.pop("region", None)
        if "AWS_REGION" in environ:
            given["region"] = environ["AWS_REGION"]
        values: dict[str, Any] = {}
        problems: list[str] = []
        for f in dataclasses.fields(cls):
            if f.name in given:
                try:
                    values[f.name] = _convert(str(f.type), given[f.name])
                except ValueError as exc:
                    problems.append(f"{f.name}: {exc}")
        if "table_name" not in given:
            problems.append("table_name: missing (LIVECHAT_TABLE_NAME)")
        if problems:
            raise InvalidSettings("invalid settings: " + "; ".join(problems))
        return cls(**values)

    def cognito_jwks_url(self) -> str:
        if self.jwks_url:
            return self.jwks_url
        return f"{self.cognito_issuer()}/.well-known/jwks.json"

    def cognito_issuer(self) -> str:
        return f"https://cognito-idp.{self.region}.amazonaws.com/{self.user_pool_id}"


def _convert(kind: str, text: str) -> Any:
    """An environment variable's text as a field of this type (the annotation, a string)."""
    if kind in ("str", "str | None"):
        return text
    if kind == "int":
        return int(text.strip())
    if kind == "float":
        return float(text.strip())
    if kind == "bool":
        word = text.strip().lower()
        if word in _TRUE or word in _FALSE:
            return word in _TRUE
        raise ValueError(f"{text!r} is not a boolean (true/false, 1/0, yes/no, on/off)")
    raise TypeError(f"no conversion for a {kind} setting")


def _bound_problem(f: dataclasses.Field[Any], value: Any) -> str | None:
    ge, le, min_length = (f.metadata.get(k) for k in ("ge", "le", "min_length"))
    if min_length is not None and len(value) < min_length:
        return f"{f.name}: at least {min_length} characters"
    if (ge is not None and value < ge) or (le is not None and value > le):
        return f"{f.name}: {value} is not within [{ge}, {le if le is not None else '...'}]"
    return None


@lru_cache(maxsize=1)
def get_settings() -> Settings:
    return Settings.from_environment(os.environ)


# --- AWS clients: one per (service, endpoint), shared by the whole process ----------------

_lock = threading.Lock()
_clients: dict[tuple[str, str | None], Any] = {}

# Standard retry mode retries throttling and 5xx with backoff; conditional failures are
# never retried by botocore, which is what the state rules need.
_RETRIES = Config(retries={"mode": "standard", "max_attempts": 5})


def _client(service: str, endpoint_url: str | None) -> Any:
    key = (service, endpoint_url)
    with _lock:
        client = _clients.get(key)
        if client is None:
            client = boto3.client(
                service,  # type: ignore[call-overload]
                region_name=get_settings().region,
                endpoint_url=endpoint_url,
                config=_RETRIES,
            )
            _clients[key] = client
        return client


def management_api(endpoint_url: str) -> ApiGatewayManagementApiClient:
    return _client("apigatewaymanagementapi", endpoint_url)  # type: ignore[no-any-return]


def dynamodb() -> Any:
    return _client("dynamodb", get_settings().dynamodb_endpoint)


def lambda_client() -> Any:
    return _client("lambda", get_settings().lambda_endpoint)


def stepfunctions() -> Any:
    return _client("stepfunctions", get_settings().stepfunctions_endpoint)


def sesv2() -> Any:
    return _client("sesv2", get_settings().ses_endpoint)


def secretsmanager() -> Any:
    return _client("secretsmanager", None)

# --- one reset --------------------------------------------------------------------------

_on_reset: list[Callable[[], None]] = []


def on_reset(clear: Callable[[], None]) -> Callable[[], None]:
    """Register a cache's clearing with `reset` (usable as a decorator)."""
    _on_reset.append(clear)
    return clear


def reset() -> None:
    """Forget the settings, every client and every cache built from them."""
    get_settings.cache_clear()
    with _lock:
        _clients.clear()
    for clear in _on_reset:
        clear()


# --- Lambda SnapStart ----------------------------------------------------------------------


def after_restore() -> None:
    """Run by Lambda after it restores an execution environment from a SnapStart snapshot:
    nothing built before the snapshot is kept (a client, its connections and credentials; a
    cache), and `random` gets a sequence of its own (botocore's retry jitter draws from it:
    every environment restored from one snapshot would otherwise retry in step)."""
    random.seed()
    reset()


# The services of the clients above: their models are what a first client loads.
_SERVICES = ("apigatewaymanagementapi", "dynamodb", "lambda", "stepfunctions", "sesv2", "secretsmanager")


def before_snapshot() -> None:
    """Run by Lambda before it takes the snapshot (at deploy time, not at a cold start): load
    into boto3's default session what a first client loads — the endpoint rules and each
    service's model, ~55 ms of CPU for the first client, 2.5 ms for the next — so that the
    environments restored from the snapshot start from there. Each client is built with
    placeholder keys and dropped at once: no credential is resolved or kept, no connection
    opened, none of `_clients` filled (after_restore builds the real ones on first use)."""
    region = os.environ.get("AWS_REGION") or os.environ.get("AWS_DEFAULT_REGION") or "us-east-1"
    for service in _SERVICES:
        boto3.client(service, region_name=region,  # type: ignore[call-overload]
                     aws_access_key_id="snapshot", aws_secret_access_key="snapshot")


def register_snapstart_hooks() -> bool:
    """Register `before_snapshot` and `after_restore` with Lambda's runtime hooks; False where
    there are none (`snapshot_restore_py` ships with Lambda's Python runtimes, not with the
    layer). Without SnapStart neither ever runs."""
    try:
        from snapshot_restore_py import (  # type: ignore[import-not-found]
            register_after_restore,
            register_before_snapshot,
        )
    except ImportError:
        return False
    register_before_snapshot(before_snapshot)
    register_after_restore(after_restore)
    return True


register_snapstart_hooks()
