"""The shared storage URL: the environment wins, else a SQLite file in the working directory."""

from __future__ import annotations

from pathlib import Path

import pytest

from trainwise.storage import default_storage_url


def test_environment_variable_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("TRAINWISE_STORAGE", "postgresql://u@127.0.0.1:5432/db")
    assert default_storage_url() == "postgresql://u@127.0.0.1:5432/db"


def test_default_is_an_absolute_sqlite_file_in_cwd(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TRAINWISE_STORAGE", raising=False)
    monkeypatch.chdir(tmp_path)
    url = default_storage_url()
    assert url == f"sqlite:///{tmp_path.resolve() / 'trainwise.db'}"
