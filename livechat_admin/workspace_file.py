"""Reading a workspace file: YAML, validated whole before anything is read or written.

`livechat apply`, `livechat route --dry-run` and the local stack (`livechat dev`) read it
the same way."""

from __future__ import annotations

from pathlib import Path

import yaml
from livechat.domain.workspace_document import Workspace, workspace_problems


class InvalidWorkspace(Exception):
    def __init__(self, problems: list[str]) -> None:
        super().__init__("\n".join(problems))
        self.problems = problems


def read_workspace(path: Path) -> Workspace:
    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise InvalidWorkspace([f"{path}: {exc.strerror}"]) from None
    except yaml.YAMLError as exc:
        raise InvalidWorkspace([f"{path}: not YAML: {exc}"]) from None
    problems = workspace_problems(data)
    if problems:
        raise InvalidWorkspace(problems)
    return Workspace.model_validate(data)
