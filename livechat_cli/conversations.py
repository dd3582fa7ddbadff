"""`livechat conversations export`: every conversation of a date range with its transcript
(livechat_admin.export)."""

from __future__ import annotations

import argparse
import sys

from livechat_admin import export as exporting
from livechat_cli.deployment import activate, err


def run(args: argparse.Namespace) -> int:
    try:
        since = exporting.parse_bound(args.since, end=False)
        until = exporting.parse_bound(args.until, end=True)
    except ValueError as exc:
        err(str(exc))
        return 2
    if activate(args) is None:
        return 1
    if args.output is None:
        count = exporting.export(sys.stdout, args.format, since, until)
    else:
        with args.output.open("w", encoding="utf-8", newline="") as out:
            count = exporting.export(out, args.format, since, until)
    err(f"{count} conversation(s) from {since} to {until}"
        + (f" written to {args.output}" if args.output else ""))
    return 0
