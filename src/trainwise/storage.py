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
