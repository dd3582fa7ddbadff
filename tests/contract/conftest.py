"""Two `livechat dev` stacks for the contract tests, started side by side once per session:
the main one (prime plan, four agents, the dialogs of kit.py) and a `select` plan with a
one-engagement quota (test_quota.py), whose workspace nothing else shares."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from tests.blackbox import DevProcess, Stack, launch_stack, wait_for_stack
from tests.contract.kit import AGENTS, QUOTA_AGENTS, passwords, quota_workspace_yaml, workspace_yaml


@dataclass(frozen=True)
class Stacks:
    main: Stack
    quota: Stack


@pytest.fixture(scope="session")
def stacks(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stacks]:
    plans = (("contract-main", workspace_yaml(), passwords(AGENTS)),
             ("contract-quota", quota_workspace_yaml(), passwords(QUOTA_AGENTS)))
    launched: list[DevProcess] = []
    pending = []
    try:
        for name, workspace_text, agent_passwords in plans:
            directory = tmp_path_factory.mktemp(name)
            workspace = directory / "workspace.yaml"
            workspace.write_text(workspace_text, encoding="utf-8")
            endpoints_file = directory / "endpoints.json"
            dev = launch_stack(workspace, endpoints_file)
            launched.append(dev)
            pending.append((dev, endpoints_file, agent_passwords))
        running = [Stack(wait_for_stack(dev, endpoints_file), agent_passwords)
                   for dev, endpoints_file, agent_passwords in pending]
        yield Stacks(*running)
    finally:
        codes = [(dev, dev.stop()) for dev in launched]
    for dev, code in codes:
        assert code == 0, f"livechat dev did not exit 0 on SIGTERM:\n{dev.output()}"


@pytest.fixture(scope="session")
def stack(stacks: Stacks) -> Stack:
    return stacks.main


@pytest.fixture(scope="session")
def quota_stack(stacks: Stacks) -> Stack:
    return stacks.quota
