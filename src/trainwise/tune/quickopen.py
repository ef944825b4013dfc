"""Opening an existing SQLite study database without importing alembic (about 1.5 s, mostly its template
engine's syntax highlighter, paid by every `trainwise tune` and every worker process before its first trial).

Optuna's RDBStorage imports alembic on every open, to stamp a new database with its schema revision and to
check an old one's. A database whose `version_info` row says this very Optuna version created it and whose
`alembic_version` is stamped needs neither: it is opened with the compatibility check skipped and the stamp
step left out. Anything else (a new file, another Optuna version, another database) takes Optuna's own path.
"""

from __future__ import annotations

import contextlib
import sqlite3
from collections.abc import Iterator
from pathlib import Path
from typing import Any


def rdb_storage(url: str, path: Path | None, **kwargs: Any) -> Any:
    """`optuna.storages.RDBStorage(url, **kwargs)`, quick when `path` (the SQLite file of `url`) is current."""
    import optuna

    if path is None or not made_by_this_optuna(path):
        return optuna.storages.RDBStorage(url, **kwargs)
    with _stamp_known():
        return optuna.storages.RDBStorage(url, skip_compatibility_check=True, **kwargs)


def made_by_this_optuna(path: Path) -> bool:
    """Whether the SQLite file holds an Optuna schema created by the running Optuna version and stamped."""
    import optuna

    if not path.is_file():
        return False
    try:
        with contextlib.closing(sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5)) as connection:
            library = connection.execute("SELECT library_version FROM version_info").fetchone()
            stamp = connection.execute("SELECT version_num FROM alembic_version").fetchone()
    except sqlite3.Error:
        return False
    return bool(library and stamp and stamp[0] and library[0] == optuna.__version__)


@contextlib.contextmanager
def _stamp_known() -> Iterator[None]:
    """While opening: Optuna's version manager skips its alembic stamp step (the stamp is there)."""
    from optuna.storages._rdb import storage as rdb

    original = rdb._VersionManager

    class Stamped(original):  # type: ignore[misc, valid-type]
        def _init_alembic(self) -> None:
            return None

    rdb._VersionManager = Stamped  # type: ignore[misc]
    try:
        yield
    finally:
        rdb._VersionManager = original  # type: ignore[misc]
