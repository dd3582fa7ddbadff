"""`livechat dev`: the whole system locally (livechat_local: moto, the handlers, the gateway).

Exit status: 0 stopped by SIGINT/SIGTERM, 2 an invalid workspace file, 3 stopped but with
--enforce-iam some AWS call was refused (livechat_local.iam lists them)."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from livechat_local.server import Options
    from livechat_local.server import run as serve

    options = Options(args.workspace, args.port, args.endpoints_file, args.sweep_interval,
                      args.idle_timeout, args.max_connection, args.quiet)
    if not args.enforce_iam:
        return serve(options)
    from livechat_local import iam

    checker = iam.enforce_in_dev(args.workspace)
    return iam.finish_dev(checker, serve(options))
