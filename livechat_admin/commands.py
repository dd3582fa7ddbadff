"""The admin subcommands of `livechat` (argparse lives in livechat_local/cli.py).

Exit status: 0 done, 1 the stack or a name could not be found, 2 an invalid file or input.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from livechat_admin import stack
from livechat_admin.stack import StackError, Target


def _err(message: str) -> None:
    print(message, file=sys.stderr)


def _target(args: argparse.Namespace) -> Target:
    if args.local is not None:
        return stack.from_local(args.local)
    return stack.from_stack(args.stack, region=args.region, endpoint_url=args.endpoint_url)


def _activate(args: argparse.Namespace) -> Target | None:
    """Find the deployment and point every client at it; None (said on stderr) if not found."""
    try:
        target = _target(args)
    except StackError as exc:
        _err(str(exc))
        return None
    stack.activate(target)
    return target


def _read(path: Path) -> object:
    from livechat_admin.workspace_file import InvalidWorkspace, read_workspace

    try:
        return read_workspace(path)
    except InvalidWorkspace as exc:
        for problem in exc.problems:
            _err(problem)
        _err(f"{path}: {len(exc.problems)} problem(s); nothing was changed")
        return None


def apply(args: argparse.Namespace) -> int:
    from livechat.domain.workspace import Workspace

    from livechat_admin import apply as applying

    workspace = _read(args.file)  # the whole file first: nothing is read or written if invalid
    if not isinstance(workspace, Workspace):
        return 2
    target = _activate(args)
    if target is None:
        return 1
    applying.run(workspace, target, dry_run=args.dry_run)
    return 0


def route(args: argparse.Namespace) -> int:
    from livechat.domain.workspace import Workspace

    from livechat_admin import dry_run

    workspace = _read(args.workspace)
    if not isinstance(workspace, Workspace):
        return 2
    try:
        card = dry_run.find_card(workspace, args.dialog, args.card)
        visitor = dry_run.parse_visitor(args.visitor)
    except dry_run.DryRunError as exc:
        _err(str(exc))
        return 2
    print(f"dialog {args.dialog}, card {args.card}: {card.routing.mode}")
    if args.stack is None and args.local is None:
        result = dry_run.dry_run(card, visitor, dry_run.profiles_from_file(workspace), live=False)
    else:
        if _activate(args) is None:
            return 1
        rows, tickets = dry_run.live_state(card, visitor)
        result = dry_run.dry_run(card, visitor, rows, live=True, tickets=tickets)
    for line in result.lines():
        print(line)
    return 0


def export(args: argparse.Namespace) -> int:
    from livechat_admin import export as exporting

    try:
        since = exporting.parse_bound(args.since, end=False)
        until = exporting.parse_bound(args.until, end=True)
    except ValueError as exc:
        _err(str(exc))
        return 2
    if _activate(args) is None:
        return 1
    if args.output is None:
        count = exporting.export(sys.stdout, args.format, since, until)
    else:
        with args.output.open("w", encoding="utf-8", newline="") as out:
            count = exporting.export(out, args.format, since, until)
    _err(f"{count} conversation(s) from {since} to {until}"
         + (f" written to {args.output}" if args.output else ""))
    return 0
