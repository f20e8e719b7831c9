"""`plandeploy demo`: the sample installation, end to end (until then: the service itself)."""

from __future__ import annotations

import argparse


def run(args: argparse.Namespace) -> int:
    from plandeploy import cli

    return cli.cmd_up(argparse.Namespace(host=cli.DEFAULT_HOST, port=args.port or cli.DEFAULT_PORT,
                                         concurrency=4))
