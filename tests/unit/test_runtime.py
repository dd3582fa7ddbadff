"""livechat.runtime: the settings read from the environment, and what a SnapStart restore resets."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable, Iterator

import boto3
import pytest
from livechat import runtime
from livechat.runtime import InvalidSettings, Settings

pytestmark = pytest.mark.unit


def test_settings_take_livechat_variables_in_any_case_and_the_region_from_aws_region() -> None:
    settings = Settings.from_environment({
        "LIVECHAT_TABLE_NAME": "chat-table", "livechat_inbox_url": "https://x/inbox.html",
        "LIVECHAT_REGION": "eu-west-3", "AWS_REGION": "eu-west-1", "HOME": "/root",
        "LIVECHAT_SOMETHING_ELSE": "ignored",
    })

    assert settings.table_name == "chat-table"
    assert settings.inbox_url == "https://x/inbox.html"
    assert settings.region == "eu-west-1"  # never LIVECHAT_REGION


def test_settings_convert_numbers_and_booleans_as_pydantic_read_them() -> None:
    settings = Settings.from_environment({
        "LIVECHAT_TABLE_NAME": "chat", "LIVECHAT_VISITOR_TOKEN_DAYS": " 7 ",
        "LIVECHAT_FRAMES_PER_SECOND": "0", "LIVECHAT_CONFIG_CACHE_SECONDS": "2.5",
        "LIVECHAT_ALLOW_LOOPBACK_PUSH": "True", "LIVECHAT_DEFAULT_RATE_LIMITS": "off",
        "LIVECHAT_JWKS_URL": "",
    })

    assert (settings.visitor_token_days, settings.frames_per_second, settings.config_cache_seconds) == (7, 0.0, 2.5)
    assert (settings.allow_loopback_push, settings.default_rate_limits) == (True, False)
    assert settings.jwks_url == ""


def test_unset_settings_take_their_defaults() -> None:
    settings = Settings(table_name="livechat")

    assert settings.region == "us-east-1"
    assert settings.config_cache_seconds == 10.0
    assert settings.default_rate_limits is True
    assert settings.notify_function is None
    assert settings.cognito_jwks_url() == "https://cognito-idp.us-east-1.amazonaws.com//.well-known/jwks.json"


@pytest.mark.parametrize(("environ", "named"), [
    ({}, "table_name: missing"),
    ({"LIVECHAT_TABLE_NAME": "ab"}, "table_name: at least 3 characters"),
    ({"LIVECHAT_TABLE_NAME": "chat", "LIVECHAT_VISITOR_TOKEN_DAYS": "366"}, "visitor_token_days: 366"),
    ({"LIVECHAT_TABLE_NAME": "chat", "LIVECHAT_MAX_FRAME_BYTES": "100"}, "max_frame_bytes: 100"),
    ({"LIVECHAT_TABLE_NAME": "chat", "LIVECHAT_FRAME_BURST": "ten"}, "frame_burst: invalid literal"),
    ({"LIVECHAT_TABLE_NAME": "chat", "LIVECHAT_ALLOW_LOOPBACK_PUSH": "maybe"}, "allow_loopback_push: 'maybe'"),
    ({"LIVECHAT_TABLE_NAME": "chat", "LIVECHAT_FRAMES_PER_SECOND": "-1"}, "frames_per_second: -1.0"),
])
def test_a_bad_setting_fails_with_its_name(environ: dict[str, str], named: str) -> None:
    with pytest.raises(InvalidSettings, match=named):
        Settings.from_environment(environ)


def test_settings_are_read_once_per_container_until_reset(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIVECHAT_TABLE_NAME", "first")
    runtime.reset()
    first = runtime.get_settings()
    monkeypatch.setenv("LIVECHAT_TABLE_NAME", "second")

    assert runtime.get_settings() is first
    runtime.reset()
    assert runtime.get_settings().table_name == "second"
    runtime.reset()


# --- SnapStart ------------------------------------------------------------------------------


@pytest.fixture
def lambda_runtime_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    """A stand-in for `snapshot_restore_py`, which only Lambda's Python runtime has."""
    registered: list[Callable[[], None]] = []
    module = types.ModuleType("snapshot_restore_py")
    module.register_before_snapshot = registered.append  # type: ignore[attr-defined]
    module.register_after_restore = registered.append  # type: ignore[attr-defined]
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", module)
    yield registered


def test_without_lambdas_runtime_hooks_nothing_is_registered(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "snapshot_restore_py", None)  # import fails, as off Lambda

    assert runtime.register_snapstart_hooks() is False


def test_a_restored_environment_builds_its_own_clients_and_random_sequence(
        lambda_runtime_hooks: list[Callable[[], None]], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the hook registered, and a client and settings built before the snapshot
    assert runtime.register_snapstart_hooks() is True
    (_, hook) = lambda_runtime_hooks
    monkeypatch.setenv("LIVECHAT_TABLE_NAME", "livechat")
    monkeypatch.setenv("AWS_REGION", "us-east-1")
    runtime.reset()
    before = runtime.dynamodb()
    settings = runtime.get_settings()
    random.seed(15)
    snapshot = random.getstate()

    # When Lambda restores an environment from the snapshot
    hook()

    # Then nothing of the snapshot is reused: a new client, settings read again, and a
    # random sequence of its own
    assert runtime.dynamodb() is not before
    assert runtime.get_settings() is not settings
    assert random.getstate() != snapshot
    runtime.reset()


def test_before_the_snapshot_the_clients_models_are_loaded_but_no_client_or_credential_kept(
        lambda_runtime_hooks: list[Callable[[], None]], monkeypatch: pytest.MonkeyPatch) -> None:
    # Given the hooks registered, and credentials that must not be read before the snapshot
    assert runtime.register_snapstart_hooks() is True
    (before_snapshot, _) = lambda_runtime_hooks
    monkeypatch.setenv("AWS_REGION", "eu-west-3")
    runtime.reset()
    session = boto3.DEFAULT_SESSION

    # When Lambda takes the snapshot
    before_snapshot()

    # Then no client of ours exists, boto3's default session resolved no credential, and it
    # holds the services' models
    assert runtime._clients == {}
    assert boto3.DEFAULT_SESSION is not None
    assert vars(boto3.DEFAULT_SESSION._session)["_credentials"] is None
    loader = boto3.DEFAULT_SESSION._session.get_component("data_loader")
    cached = " ".join(str(key) for key in loader._cache)
    assert all(service in cached for service in ("apigatewaymanagementapi", "dynamodb", "stepfunctions"))
    if session is None:
        boto3.DEFAULT_SESSION = None
