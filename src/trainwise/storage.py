"""Where runs and studies are stored: one database URL shared by the run store and Optuna's studies.

`TRAINWISE_STORAGE` overrides the default, a SQLite file `trainwise.db` in the working directory. This module
imports nothing heavy, so the store and the CLI can ask for the URL without importing torch or Optuna.
"""

from __future__ import annotations

import os
from pathlib import Path

DEFAULT_FILE = "trainwise.db"


def default_storage_url() -> str:
    """`$TRAINWISE_STORAGE` when set, else `sqlite:///<cwd>/trainwise.db` (an absolute path, so a later
    `chdir` does not move the database)."""
    url = os.environ.get("TRAINWISE_STORAGE", "").strip()
    if url:
        return url
    return f"sqlite:///{(Path.cwd() / DEFAULT_FILE).resolve()}"


POSTGRES_DRIVER = "postgresql+psycopg"  # psycopg 3, the `trainwise[postgres]` extra


def driver_url(url: str) -> str:
    """The URL SQLAlchemy opens: `postgresql://` and `postgres://` name psycopg 3 (SQLAlchemy would pick
    psycopg2, which trainwise does not install). The one place both the run store and Optuna's storage go
    through; an explicit driver (`postgresql+psycopg2://`) is kept."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return POSTGRES_DRIVER + "://" + url[len(prefix) :]
    return url


def missing_driver_hint(url: str, error: BaseException) -> str:
    """What to install when a database URL's driver is missing ('' when that is not the problem)."""
    if isinstance(error, ImportError) and driver_url(url).startswith(POSTGRES_DRIVER):
        return "the PostgreSQL driver is not installed: pip install 'trainwise[postgres]'"
    return ""
