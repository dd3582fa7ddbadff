"""`livechat dev`: the whole system locally (livechat_local: moto, the handlers, the gateway).

Exit status: 0 stopped by SIGINT/SIGTERM, 2 an invalid workspace file."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from livechat_local.server import Options
    from livechat_local.server import run as serve

    return serve(Options(args.workspace, args.port, args.endpoints_file, args.sweep_interval,
                         args.idle_timeout, args.max_connection, args.quiet))
