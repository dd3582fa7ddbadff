"""The `livechat` command."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parents[1] / "workspaces" / "demo.yaml"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="livechat")
    commands = parser.add_subparsers(dest="command", required=True)
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
    args = parser.parse_args(argv)
    if args.command == "dev":
        from livechat_local.server import Options, run

        return run(Options(args.workspace, args.port, args.endpoints_file, args.sweep_interval,
                           args.idle_timeout, args.max_connection, args.quiet))
    return 2


if __name__ == "__main__":
    sys.exit(main())
