"""`livechat apply FILE`: make a deployment match a workspace file (livechat_admin.apply)."""

from __future__ import annotations

import argparse

from livechat_admin import apply as applying
from livechat_cli.deployment import activate, read


def run(args: argparse.Namespace) -> int:
    workspace = read(args.file)  # the whole file first: nothing is read or written if invalid
    if workspace is None:
        return 2
    target = activate(args)
    if target is None:
        return 1
    applying.run(workspace, target, dry_run=args.dry_run)
    return 0
