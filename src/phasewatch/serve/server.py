"""The dashboard under uvicorn, on a socket bound here first.

Binding the socket before uvicorn starts turns a taken port or an unknown host into a one-line
UserError instead of a log line and an exit from inside uvicorn, and lets a test or benchmark ask
for port 0 (any free port) and learn which it got, with no race between choosing and binding.
"""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from phasewatch.errors import UserError

# Only on these does the server check the Host header (against DNS rebinding: a page whose own
# domain name is made to point at 127.0.0.1 would otherwise read the store from the user's browser).
GUARDED_HOSTS = ("127.0.0.1", "localhost")
START_TIMEOUT = 30.0


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on (host, port); UserError when the host is unknown or the port taken."""
    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0][0]
    except socket.gaierror:
        raise UserError(f"--host: {host!r} is not allowed (an address or name of this machine, e.g. 127.0.0.1)") from None
    try:
        return socket.create_server((host, port), family=family)
    except OSError as e:
        raise UserError(f"--port: {port} is not allowed on {host} ({e.strerror}: another port, or stop what holds it)") from None


def make_server(root: str | Path, host: str) -> Any:
    """A uvicorn.Server for the dashboard over `root`, to be run on a socket bound to `host`
    (uvicorn is imported here: the `serve` extra is needed only to serve)."""
    try:
        import uvicorn

        from phasewatch.serve.app import create_app
    except ImportError as e:
        raise UserError(f"serve: {e.name} is not installed (pip install 'phasewatch[serve]')") from None
    app = create_app(root, allowed_hosts=list(GUARDED_HOSTS) if host in GUARDED_HOSTS else None)
    return uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="off", access_log=False))


def url(sock: socket.socket) -> str:
    host, port = sock.getsockname()[:2]
    return f"http://[{host}]:{port}/" if ":" in host else f"http://{host}:{port}/"


@contextmanager
def serving(root: str | Path, host: str = "127.0.0.1", port: int = 0) -> Iterator[str]:
    """The dashboard in a background thread while the block runs (tests, benchmarks); yields its URL."""
    server = make_server(root, host)
    sock = bind(host, port)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    deadline = time.monotonic() + START_TIMEOUT
    while not server.started and thread.is_alive() and time.monotonic() < deadline:
        time.sleep(0.02)
    try:
        if not server.started:
            raise RuntimeError(f"the dashboard server did not start within {START_TIMEOUT:g} s")
        yield url(sock)
    finally:
        server.should_exit = True
        thread.join(10)
        sock.close()
