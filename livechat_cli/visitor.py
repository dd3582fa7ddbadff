"""`livechat visitor erase EMAIL`: remove a visitor's personal data (livechat_admin.erase)."""

from __future__ import annotations

import argparse

from livechat_admin import erase
from livechat_cli.deployment import activate, err


def run(args: argparse.Namespace) -> int:
    try:
        erase.normalise(args.email)  # a bad address is said before any AWS call
    except erase.EraseError as exc:
        err(str(exc))
        return 2
    target = activate(args)
    if target is None:
        return 1
    return erase.run(args.email, target, dry_run=args.dry_run, warn=err)
