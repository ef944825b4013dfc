"""Opening the store's database: one engine per URL, SQLite tuned for several processes, errors made plain.

On SQLite (only there): WAL journal (readers never block the writer), a busy timeout (a writer waits for
another instead of failing), and write transactions that take the lock at BEGIN (`BEGIN IMMEDIATE`), so two
processes writing at once queue up instead of deadlocking on a lock upgrade. Other databases get nothing special.
"""

from __future__ import annotations

import contextlib
import functools
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DatabaseError, OperationalError

from trainwise.errors import TrainwiseError
from trainwise.storage import default_storage_url, driver_url, missing_driver_hint
from trainwise.store import migrate

BUSY_TIMEOUT_MS = 30_000


class StoreError(TrainwiseError):
    """The run store cannot be opened or read (not a database, unreachable, unknown run id...)."""


def resolve_url(url: str | None) -> str:
    """The given URL, else the shared default (`$TRAINWISE_STORAGE` or ./trainwise.db)."""
    return url or default_storage_url()


def sqlite_path(url: str) -> Path | None:
    """The file of a SQLite URL (None for other databases and in-memory SQLite)."""
    parsed = make_url(url)
    if parsed.get_backend_name() != "sqlite" or not parsed.database or parsed.database == ":memory:":
        return None
    return Path(parsed.database)


def display(url: str) -> str:
    """The URL without a password, for messages."""
    try:
        return make_url(url).render_as_string(hide_password=True)
    except ArgumentError:
        return url


@functools.lru_cache(maxsize=8)
def engine_for(url: str) -> Engine:
    """A pooled engine for `url` (cached: one per process and URL)."""
    try:
        parsed = make_url(driver_url(url))
    except ArgumentError:
        raise StoreError(f"not a database URL: '{url}'; expected e.g. sqlite:///trainwise.db") from None
    server = parsed.get_backend_name() in ("postgresql", "mysql")  # a server may be unreachable: fail in 10 s
    options: dict[str, Any] = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True} if server else {}
    try:
        engine = create_engine(parsed, **options)
    except (ArgumentError, ImportError, ModuleNotFoundError) as exc:
        raise StoreError(f"cannot use database URL {display(url)} ({missing_driver_hint(url, exc) or exc})") from None
    if parsed.get_backend_name() == "sqlite":
        _tune_sqlite(engine)
    return engine


def _tune_sqlite(engine: Engine) -> None:
    @event.listens_for(engine, "connect")
    def _connect(dbapi_connection: Any, record: Any) -> None:
        dbapi_connection.isolation_level = None  # we issue BEGIN ourselves (see _begin)
        cursor = dbapi_connection.cursor()
        cursor.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
        cursor.execute("PRAGMA foreign_keys = ON")
        cursor.execute("PRAGMA synchronous = NORMAL")  # with WAL: a killed process loses no commit; no fsync each
        cursor.close()

    @event.listens_for(engine, "begin")
    def _begin(conn: Connection) -> None:
        write = conn.get_execution_options().get("tw_write", False)
        conn.exec_driver_sql("BEGIN IMMEDIATE" if write else "BEGIN")


def _enable_wal(engine: Engine) -> None:
    """WAL is a property of the file: set once when the store is created or upgraded."""
    with engine.connect() as conn:  # on the driver's connection: outside any transaction, as SQLite requires
        conn.connection.driver_connection.execute("PRAGMA journal_mode = WAL")  # type: ignore[union-attr]


def open_store(url: str | None = None, *, create: bool = True) -> Engine | None:
    """The engine of an upgraded store; `create=False` returns None where no store exists yet (nothing is made)."""
    url = resolve_url(url)
    where = display(url)
    path = sqlite_path(url)
    if path is not None and not create and not path.exists():
        return None
    if path is not None and not path.parent.is_dir():
        raise StoreError(f"the folder of the run store does not exist: {path.parent}", source=where)
    engine = engine_for(url)
    try:
        with engine.connect() as conn:  # read first: a foreign or newer file is refused before any write
            version = migrate.current_version(conn)
        migrate.check_version(version, len(migrate.MIGRATIONS), where)
        if version == len(migrate.MIGRATIONS):
            return engine
        if version is None and not create:
            return None
        if path is not None:
            _enable_wal(engine)
        with schema_lock(engine):
            migrate.upgrade(engine, where)
    except DatabaseError as exc:
        raise StoreError(_explain(exc), source=where) from None
    return engine


SCHEMA_LOCK_KEY = 0x7472_6E77_6973_65  # "trnwise": one advisory lock for creating any table (ours, Optuna's)


@contextlib.contextmanager
def schema_lock(engine: Engine) -> Iterator[None]:
    """On PostgreSQL, one process at a time creates tables: workers that start together on a new database would
    otherwise collide in CREATE TABLE (a duplicate key in pg_type). SQLite serializes writers itself."""
    if engine.url.get_backend_name() != "postgresql":
        yield
        return
    with engine.connect() as conn:
        conn.exec_driver_sql(f"SELECT pg_advisory_lock({SCHEMA_LOCK_KEY})")
        conn.commit()
        try:
            yield
        finally:
            conn.exec_driver_sql(f"SELECT pg_advisory_unlock({SCHEMA_LOCK_KEY})")
            conn.commit()


def _explain(exc: DatabaseError) -> str:
    """One line for a database failure: the driver's message without SQLAlchemy's long tail."""
    message = str(exc.orig) if exc.orig is not None else str(exc)
    first = message.strip().splitlines()[0] if message.strip() else type(exc).__name__
    if "not a database" in first:
        return "not a run store: the file is not a database (file is not a database)"
    if isinstance(exc, OperationalError):
        return f"cannot open the run store ({first})"
    return f"the run store failed ({first})"
