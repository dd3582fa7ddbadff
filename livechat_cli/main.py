"""The `livechat` command's argument tree; each command runs from its own module, imported
only when chosen (so `livechat apply` never loads the local stack)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "workspaces" / "demo.yaml"


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="livechat")
    commands = root.add_subparsers(dest="command", required=True)
    dev = commands.add_parser("dev", help="run the whole system locally")
    dev.add_argument("--workspace", type=Path, default=DEMO, help="workspace YAML file")
    dev.add_argument("--port", type=int, default=8700, help="HTTP and WebSocket port (0: any)")
    dev.add_argument("--endpoints-file", type=Path, help="write the endpoints JSON here")
    dev.add_argument("--sweep-interval", type=float, default=5.0,
                     help="seconds between sweeps (the deployment sweeps every 60)")
    dev.add_argument("--idle-timeout", type=float, default=600.0,
                     help="close a WebSocket idle this long (API Gateway: 600)")
    dev.add_argument("--max-connection", type=float, default=7200.0,
                     help="close a WebSocket this old (API Gateway: 7200)")
    dev.add_argument("--quiet", action="store_true", help="only warnings and errors")
    dev.add_argument("--enforce-iam", action="store_true",
                     help="refuse each AWS call a function's policy in template.yaml does not allow, "
                          "as AWS would (exit status 3 if any was refused)")

    apply = commands.add_parser("apply", help="make a deployment match a workspace file")
    apply.add_argument("file", type=Path, help="workspace YAML file")
    target_options(apply)
    apply.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")

    route = commands.add_parser("route", help="dry-run a live chat card's routing")
    route.add_argument("--dry-run", action="store_true", required=True,
                       help="required: routing is only ever simulated from here")
    route.add_argument("--workspace", type=Path, required=True, help="workspace YAML file")
    route.add_argument("--dialog", required=True, help="dialog id")
    route.add_argument("--card", required=True, help="live chat card id")
    route.add_argument("--visitor", required=True,
                       help='sample visitor as JSON: \'{"email": "a@bigcorp.com", "country": "FR"}\'')
    target_options(route, required=False)

    conversations = commands.add_parser("conversations", help="conversations of a deployment")
    conv_commands = conversations.add_subparsers(dest="conv_command", required=True)
    export = conv_commands.add_parser("export", help="every conversation of a date range with its transcript")
    target_options(export)
    export.add_argument("--format", choices=("jsonl", "csv"), default="jsonl")
    export.add_argument("--since", required=True, help="YYYY-MM-DD or ISO date-time (inclusive)")
    export.add_argument("--until", required=True,
                        help="YYYY-MM-DD (inclusive: the whole day) or ISO date-time (exclusive)")
    export.add_argument("--output", type=Path, help="file to write (default: standard output)")

    visitor = commands.add_parser("visitor", help="a visitor's personal data")
    visitor_commands = visitor.add_subparsers(dest="visitor_command", required=True)
    erase = visitor_commands.add_parser(
        "erase", help="remove the conversations that captured this e-mail, their visitor's items and sessions")
    erase.add_argument("email", help="the captured e-mail address (any case)")
    target_options(erase)
    erase.add_argument("--dry-run", action="store_true", help="list what would be erased, change nothing")
    return root


def target_options(parser: argparse.ArgumentParser, *, required: bool = True) -> None:
    """Which deployment an admin command talks to (livechat_cli.deployment.activate)."""
    where = parser.add_mutually_exclusive_group(required=required)
    where.add_argument("--stack", help="name of the deployed CloudFormation stack")
    where.add_argument("--local", type=Path, metavar="ENDPOINTS.json",
                       help="the endpoints file of a running `livechat dev --endpoints-file`")
    parser.add_argument("--region", help="AWS region of the stack (default: AWS_REGION / profile)")
    parser.add_argument("--endpoint-url", help="send every AWS call here (tests, emulators)")


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.command == "dev":
        from livechat_cli import dev

        return dev.run(args)
    if args.command == "apply":
        from livechat_cli import apply

        return apply.run(args)
    if args.command == "route":
        from livechat_cli import route

        return route.run(args)
    if args.command == "conversations":
        from livechat_cli import conversations

        return conversations.run(args)
    if args.command == "visitor":
        from livechat_cli import visitor

        return visitor.run(args)
    return 2


if __name__ == "__main__":
    sys.exit(main())
