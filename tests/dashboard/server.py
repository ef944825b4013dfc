"""Start `trainwise dashboard` for real (a subprocess on a free port) and wait until it answers."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

TRAINWISE = Path(sys.executable).with_name("trainwise")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


@contextmanager
def dashboard(url: str, cwd: Path, *extra: str) -> Iterator[str]:
    """The dashboard's base URL while it runs; stopped (and its output checked for tracebacks) afterwards."""
    port = free_port()
    env = {**os.environ, "TRAINWISE_STORAGE": url}
    proc = subprocess.Popen(
        [str(TRAINWISE), "dashboard", "--port", str(port), *extra],
        cwd=cwd,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.time() + 60
        while True:
            try:
                urllib.request.urlopen(base + "/static/style.css", timeout=5).read()
                break
            except OSError:
                if proc.poll() is not None or time.time() > deadline:
                    raise RuntimeError(f"dashboard did not start: {proc.communicate()[1]}") from None
                time.sleep(0.1)
        yield base
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=30)
        assert "Traceback" not in err, err
