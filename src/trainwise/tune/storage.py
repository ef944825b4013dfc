"""Opening an Optuna storage from a database URL, with one-line errors and settings fit for several processes.

SQLite (the default, shared with the run store) gets a long busy timeout and write-ahead logging, so K
worker processes writing trials at once wait for each other instead of failing with "database is locked".
"""

from __future__ import annotations

import contextlib
import os
import re
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainwise.errors import ConfigError
from trainwise.storage import driver_url, missing_driver_hint
from trainwise.tune.heartbeat import Heartbeat, storage_options

SQLITE_TIMEOUT_SECONDS = 60


def redact(url: str) -> str:
    """The URL without its password, for messages, trial.json and reports."""
    return re.sub(r"(//[^:/@]+):[^@/]*@", r"\1:***@", url)


def open_storage(url: str, heartbeat: Heartbeat | None = None) -> Any:
    """An Optuna RDBStorage for `url`; ConfigError (one line) when it cannot be opened or reached.

    Running trials beat every `heartbeat.interval` seconds; one silent for `heartbeat.grace` is failed and retried
    (tune/heartbeat.py)."""
    from trainwise.tune.quickopen import rdb_storage

    engine_kwargs: dict[str, Any] = {}
    path = None
    if url.startswith("sqlite:"):
        path = _sqlite_path(url)
        if path is not None:
            if not path.parent.is_dir():
                raise ConfigError(f"cannot open storage {redact(url)}: folder {path.parent} does not exist")
            _use_wal(path)
        engine_kwargs = {"connect_args": {"timeout": SQLITE_TIMEOUT_SECONDS}}
    elif driver_url(url).startswith(("postgresql", "mysql")):
        engine_kwargs = {"connect_args": {"connect_timeout": 10}, "pool_pre_ping": True}
    try:
        with _tables_lock(url):
            storage = rdb_storage(
                driver_url(url),
                path,
                engine_kwargs=engine_kwargs,
                **storage_options(heartbeat or Heartbeat()),
            )
    except Exception as exc:  # SQLAlchemy, a missing driver, a refused connection: all one-line errors
        first = missing_driver_hint(url, exc) or (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        if "Can't load plugin" in first or "Could not parse" in first:
            first += " (expected a database URL such as sqlite:///trainwise.db or postgresql://user@host/db)"
        raise ConfigError(f"cannot open storage {redact(url)}: {type(exc).__name__}: {first}") from None
    if url.startswith("sqlite:"):
        _sync_normal(storage.engine)
    return storage


def _tables_lock(url: str) -> Any:
    """Optuna creates its tables on first use: workers that start together on a fresh database take turns
    (PostgreSQL: an advisory lock; a SQLite file: a `flock` on `<file>-tables.lock`)."""
    if driver_url(url).startswith("postgresql"):
        from trainwise.store.db import engine_for, schema_lock

        return schema_lock(engine_for(url))
    path = _sqlite_path(url) if url.startswith("sqlite:") else None
    if path is None or os.name != "posix":
        return contextlib.nullcontext()
    return _file_lock(Path(f"{path}-tables.lock"))


@contextlib.contextmanager
def _file_lock(path: Path) -> Iterator[None]:
    """An exclusive `flock` on `path` (the kernel drops it if the process dies)."""
    import fcntl

    handle = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield
    finally:
        os.close(handle)


def _sync_normal(engine: Any) -> None:
    """With write-ahead logging, synchronous=NORMAL keeps every committed trial when a process is killed (the
    log is in the OS's hands); only a power cut may lose the last commits. It saves an fsync per report."""
    from sqlalchemy import event

    def on_connect(connection: Any, record: Any) -> None:
        cursor = connection.cursor()
        cursor.execute("PRAGMA synchronous=NORMAL")
        cursor.close()

    event.listen(engine, "connect", on_connect)
    engine.dispose()  # connections opened before the listener reconnect with it


def _sqlite_path(url: str) -> Path | None:
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    if not rest or rest.startswith(":memory:"):
        return None
    return Path(rest.split("?", 1)[0])


def _use_wal(path: Path) -> None:
    """Write-ahead logging lets readers and one writer work at once (a setting stored in the file)."""
    try:
        with sqlite3.connect(path, timeout=SQLITE_TIMEOUT_SECONDS) as connection:
            connection.execute("PRAGMA journal_mode=WAL")
        connection.close()
    except sqlite3.Error as exc:
        raise ConfigError(f"cannot open storage sqlite:///{path}: {exc}") from None
