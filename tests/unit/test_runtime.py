"""livechat.runtime: what a SnapStart restore resets."""

from __future__ import annotations

import random
import sys
import types
from collections.abc import Callable, Iterator

import pytest
from livechat import runtime

pytestmark = pytest.mark.unit


# --- SnapStart ------------------------------------------------------------------------------


@pytest.fixture
def lambda_runtime_hooks(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[Callable[[], None]]]:
    """A stand-in for `snapshot_restore_py`, which only Lambda's Python runtime has."""
    registered: list[Callable[[], None]] = []
    module = types.ModuleType("snapshot_restore_py")
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
    (hook,) = lambda_runtime_hooks
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
