"""A fresh PostgreSQL database per test, made on the server that `TRAINWISE_TEST_POSTGRES_URL` names.

That URL's user must be allowed to create databases (scripts/dev-postgres.sh makes such a user, and CI runs it).
Each test gets `tw_test_<random>` and it is dropped afterwards (connections still open are ended), so tests never
see each other's tables. Without the variable the tests skip, saying why; in CI (CI=true) they fail instead.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager

import pytest

ENV = "TRAINWISE_TEST_POSTGRES_URL"
SKIP_REASON = f"no PostgreSQL server: set {ENV} or run scripts/dev-postgres.sh"


def server_url() -> str:
    """The admin URL, or skip (fail in CI: there the server is part of the run)."""
    url = os.environ.get(ENV, "").strip()
    if not url:
        if os.environ.get("CI"):
            pytest.fail(f"{ENV} is not set in CI: .ci/run starts PostgreSQL with scripts/dev-postgres.sh")
        pytest.skip(SKIP_REASON)
    return url


def _admin(url: str) -> object:
    import psycopg
    from sqlalchemy.engine import make_url

    from trainwise.storage import driver_url

    parsed = make_url(driver_url(url))
    return psycopg.connect(
        host=parsed.host,
        port=parsed.port,
        user=parsed.username,
        password=parsed.password,
        dbname=parsed.database,
        autocommit=True,  # CREATE/DROP DATABASE run outside a transaction
        connect_timeout=10,
    )


@contextmanager
def fresh_database() -> Iterator[str]:
    """The URL of a new, empty database on the test server; dropped on exit."""
    from sqlalchemy.engine import make_url

    from trainwise.storage import driver_url

    url = server_url()
    name = f"tw_test_{uuid.uuid4().hex[:12]}"
    with _admin(url) as conn:  # type: ignore[attr-defined]
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield make_url(driver_url(url)).set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin(url) as conn:  # type: ignore[attr-defined]
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
