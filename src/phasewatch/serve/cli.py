"""`phasewatch serve`: the live dashboard over the store, in the browser.

Two functions for the main CLI (src/phasewatch/cli.py): `add_serve_command(commands)` adds the
subcommand, `serve_command(args, root)` runs it. Nothing here imports Starlette or uvicorn at
module level: the CLI loads this module for every command, and they come with the `serve` extra.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from phasewatch.errors import UserError
from phasewatch.serve.server import bind, make_server, url

DEFAULT_PORT = 8765
DEFAULT_HOST = "127.0.0.1"
LOCAL_HOSTS = ("127.0.0.1", "localhost", "::1")  # reachable from this machine only: no warning


def add_serve_command(commands: argparse._SubParsersAction) -> argparse.ArgumentParser:
    """Add `serve [--port N] [--host H]` to the CLI's subcommands; the store is the global --store."""
    serve = commands.add_parser(
        "serve",
        help="a live dashboard of the store's runs in the browser (read-only; needs phasewatch[serve])",
        description="Serve a read-only dashboard of the store: the runs table (filtered by any column or by "
        "sweep, with each sweep's phase diagram), curves of any metric with the runs overlaid against step "
        "or tokens, linear or log (updated live while runs train), detected events, a run's phase timeline, "
        "saved matrices, and each run's report.",
    )
    serve.add_argument("--port", type=int, default=DEFAULT_PORT, help=f"TCP port (default {DEFAULT_PORT})")
    serve.add_argument(
        "--host",
        default=DEFAULT_HOST,
        help=f"address to listen on (default {DEFAULT_HOST}: this machine only; another address shows the store to the network)",
    )
    return serve


def serve_command(args: argparse.Namespace, root: Path) -> None:
    """Serve the store at `root` until interrupted (Ctrl-C)."""
    port, host = args.port, args.host
    if not isinstance(port, int) or not 1 <= port <= 65535:
        raise UserError(f"--port: {port!r} is not allowed (an integer from 1 to 65535)")
    if not host:
        raise UserError(f"--host: {host!r} is not allowed (an address or name of this machine, e.g. 127.0.0.1)")
    if not Path(root).is_dir():
        raise UserError(f"--store: {str(root)!r} is not allowed (an existing store directory)")
    if host not in LOCAL_HOSTS:
        print(
            f"phasewatch: warning: --host {host} serves the store's runs, metrics and reports to anyone who can reach this machine",
            file=sys.stderr,
        )
    server = make_server(root, host)
    sock = bind(host, port)
    print(f"phasewatch serve: {url(sock)} (store {Path(root).resolve()}; Ctrl-C stops)", flush=True)
    server.run(sockets=[sock])
