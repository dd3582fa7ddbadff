"""`livechat route --dry-run`: how a live chat card would route a sample visitor, from the
file alone or against a deployment's live state (livechat_admin.dry_run)."""

from __future__ import annotations

import argparse

from livechat_admin import dry_run
from livechat_cli.deployment import activate, err, read


def run(args: argparse.Namespace) -> int:
    workspace = read(args.workspace)
    if workspace is None:
        return 2
    try:
        card = dry_run.find_card(workspace, args.dialog, args.card)
        visitor = dry_run.parse_visitor(args.visitor)
    except dry_run.DryRunError as exc:
        err(str(exc))
        return 2
    print(f"dialog {args.dialog}, card {args.card}: {card.routing.mode}")
    settings = workspace.settings
    if args.stack is None and args.local is None:
        result = dry_run.dry_run(card, visitor, dry_run.profiles_from_file(workspace), live=False,
                                 settings=settings)
    else:
        if activate(args) is None:
            return 1
        rows, tickets = dry_run.live_state(card, visitor, settings)
        result = dry_run.dry_run(card, visitor, rows, live=True, tickets=tickets, settings=settings)
    for line in result.lines():
        print(line)
    return 0
