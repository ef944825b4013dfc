"""scripts/dev-postgres.sh: a throw-away cluster on 127.0.0.1 that takes a password, and leaves nothing behind."""

from __future__ import annotations

import glob
import os
import subprocess
from pathlib import Path

import psycopg
import pytest
from sqlalchemy.engine import make_url

SCRIPT = Path(__file__).parents[2] / "scripts" / "dev-postgres.sh"

pytestmark = pytest.mark.skipif(
    not glob.glob("/usr/lib/postgresql/*/bin/initdb"), reason="Debian's postgresql is not installed"
)


def script(command: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRAINWISE_PG_STATE": str(state)}
    return subprocess.run(["bash", str(SCRIPT), command], capture_output=True, text=True, env=env, timeout=120)


def test_start_url_stop(tmp_path: Path) -> None:
    state = tmp_path / "pg.state"
    started = script("start", state)
    try:
        assert started.returncode == 0, started.stderr
        url = make_url(started.stdout.strip())
        assert url.drivername == "postgresql+psycopg" and url.host == "127.0.0.1" and url.password
        assert script("url", state).stdout == started.stdout  # the same cluster
        assert script("start", state).stdout == started.stdout  # starting again reuses it
        params = {"host": url.host, "port": url.port, "user": url.username, "dbname": url.database}
        with psycopg.connect(**params, password=url.password, autocommit=True) as conn:
            conn.execute("CREATE DATABASE scratch")  # the test user may create databases
            conn.execute("DROP DATABASE scratch")
            listen = conn.execute("SHOW listen_addresses").fetchone()
        assert listen == ("127.0.0.1",)
        with pytest.raises(psycopg.OperationalError, match="password authentication failed"):
            psycopg.connect(**params, password="wrong", connect_timeout=10)
        folder = Path(state.read_text().split("DIR=", 1)[1].splitlines()[0])
    finally:
        stopped = script("stop", state)
    assert stopped.returncode == 0 and not state.exists() and not folder.exists()
    assert script("url", state).returncode == 1
