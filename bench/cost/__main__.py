"""`python -m bench.cost`: measure the scripted chats, print the bill (or its figures as JSON)."""

from __future__ import annotations

import argparse
import json
import sys

import bench.cost

# The environment first: Powertools reads it when a handler is imported. INFO is the
# template's log level: what the functions log is weighed.
from tests.support import metering

metering.environment(log_level="INFO")

from bench.cost.report import render, report  # noqa: E402
from bench.cost.scenario import measure  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    doc = bench.cost.__doc__
    parser = argparse.ArgumentParser(prog="python -m bench.cost", description=doc.splitlines()[0] if doc else None)
    parser.add_argument("--chats", type=int, default=3, help="accepted chats measured (default 3)")
    parser.add_argument("--unanswered", type=int, default=2, help="unanswered chats measured (default 2)")
    parser.add_argument("--messages", type=int, default=20, help="messages per accepted chat, both sides (default 20)")
    parser.add_argument("--accept-timeout", type=int, default=4,
                        help="the bench's accept timeout, seconds (default 4; the product's is 100)")
    parser.add_argument("--no-typing", action="store_true",
                        help="no typing indicators before the messages (the clients send them by default)")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON")
    args = parser.parse_args(argv)
    ledger = measure(max(1, args.chats), max(1, args.unanswered), args.messages, args.accept_timeout,
                     typing=not args.no_typing)
    r = report(ledger, max(1, args.chats), max(1, args.unanswered), args.messages, args.accept_timeout)
    r["scenario"]["typing"] = not args.no_typing
    if args.json:
        print(json.dumps({k: v for k, v in r.items() if not k.startswith("_")}, indent=2))
    else:
        print(render(r))
    return 0


if __name__ == "__main__":
    sys.exit(main())
