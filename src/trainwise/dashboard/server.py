"""`trainwise dashboard`: check the store and the port, warn when reachable from other machines, serve."""

from __future__ import annotations

import errno
import ipaddress
import socket
import sys

from trainwise.errors import TrainwiseError
from trainwise.store.runs import RunStore


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(host: str, port: int) -> None:
    """Fail now, with one line, when the port cannot be bound (in use, not allowed, bad address)."""
    if not 0 < port < 65536:
        raise TrainwiseError(f"--port must be between 1 and 65535, got {port}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            if exc.errno == errno.EADDRINUSE:
                raise TrainwiseError(f"port {port} on {host} is in use; pass another --port") from None
            raise TrainwiseError(f"cannot listen on {host}:{port} ({exc.strerror or exc})") from None


def serve(host: str = "127.0.0.1", port: int = 8765, url: str | None = None) -> None:
    """Serve the dashboard until Ctrl-C. The store is opened (and checked) first; nothing is ever written."""
    RunStore(url, create=False)  # a file that is not a store, or a newer schema: one line, before serving
    check_port(host, port)
    if not is_loopback(host):
        print(
            f"warning: the dashboard listens on {host}: anyone who can reach this machine can read your runs",
            file=sys.stderr,
        )
    import uvicorn

    from trainwise.dashboard.app import create_app

    print(f"trainwise dashboard on http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    uvicorn.run(create_app(url), host=host, port=port, log_level="warning", access_log=False)
