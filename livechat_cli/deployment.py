"""What the admin commands share: the deployment they talk to (`--stack` or `--local`,
livechat_admin.stack) and the workspace file they read (livechat_admin.workspace_file),
with every problem said on stderr."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from livechat.domain.workspace_document import Workspace

from livechat_admin import stack
from livechat_admin.stack import StackError, Target
from livechat_admin.workspace_file import InvalidWorkspace, read_workspace


def err(message: str) -> None:
    print(message, file=sys.stderr)


def _target(args: argparse.Namespace) -> Target:
    if args.local is not None:
        return stack.from_local(args.local)
    return stack.from_stack(args.stack, region=args.region, endpoint_url=args.endpoint_url)


def activate(args: argparse.Namespace) -> Target | None:
    """Find the deployment and point every client at it; None (said on stderr) if not found."""
    try:
        target = _target(args)
    except StackError as exc:
        err(str(exc))
        return None
    stack.activate(target)
    return target


def read(path: Path) -> Workspace | None:
    """The whole file, or None with one line per problem on stderr."""
    try:
        return read_workspace(path)
    except InvalidWorkspace as exc:
        for problem in exc.problems:
            err(problem)
        err(f"{path}: {len(exc.problems)} problem(s); nothing was changed")
        return None
