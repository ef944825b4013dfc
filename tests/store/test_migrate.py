"""Schema versions: a new store is created at the newest version, older ones are upgraded step by step (data
kept), and a newer or foreign file is refused without being changed."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import Connection, text

from trainwise.store import migrate
from trainwise.store.db import StoreError, engine_for, open_store
from trainwise.store.migrate import MIGRATIONS, SchemaError, current_version, upgrade
from trainwise.store.runs import RunStore


def version_of(url: str) -> int | None:
    with engine_for(url).connect() as conn:
        return current_version(conn)


def test_a_new_store_is_at_the_newest_version_and_in_wal_mode(storage_url: str, tmp_path: Path) -> None:
    RunStore(storage_url)
    assert version_of(storage_url) == len(MIGRATIONS)
    with sqlite3.connect(tmp_path / "trainwise.db") as conn:
        assert conn.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        names = {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
    assert names and all(name.startswith("tw_") for name in names)  # Optuna's tables live beside ours


def test_upgrade_runs_each_missing_step_once_and_keeps_the_data(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'old.db'}"
    engine = engine_for(url)
    assert upgrade(engine, url, MIGRATIONS[:1]) == 1  # a store made by an older trainwise
    store = RunStore.__new__(RunStore)  # the old data, written through today's API
    store.url, store.where, store.engine = url, url, engine
    run_id = store.start_run(name="old", run_dir=tmp_path / "old")
    calls: list[int] = []

    def v2(conn: Connection) -> None:
        calls.append(2)
        conn.execute(text("ALTER TABLE tw_runs ADD COLUMN note VARCHAR(64) DEFAULT 'none'"))

    def v3(conn: Connection) -> None:
        calls.append(3)
        conn.execute(text("UPDATE tw_runs SET note = 'migrated'"))

    steps = [*MIGRATIONS[:1], v2, v3]
    assert upgrade(engine, url, steps) == 3
    assert upgrade(engine, url, steps) == 3  # nothing left to do
    assert calls == [2, 3]
    with engine.connect() as conn:
        assert conn.execute(text("SELECT name, note FROM tw_runs WHERE id = :i"), {"i": run_id}).one() == (
            "old",
            "migrated",
        )


def test_a_failing_step_leaves_the_previous_version(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'fail.db'}"
    engine = engine_for(url)
    upgrade(engine, url, MIGRATIONS)

    def broken(conn: Connection) -> None:
        conn.execute(text("ALTER TABLE tw_runs ADD COLUMN half VARCHAR(8)"))
        raise RuntimeError("step failed")

    with pytest.raises(RuntimeError, match="step failed"):
        upgrade(engine, url, [*MIGRATIONS, broken])
    assert version_of(url) == len(MIGRATIONS)
    with engine.connect() as conn:
        assert "half" not in {c[1] for c in conn.execute(text("PRAGMA table_info(tw_runs)"))}  # rolled back


def test_a_newer_schema_is_refused_untouched(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'new.db'}"
    RunStore(url)
    with engine_for(url).begin() as conn:
        conn.execute(text("UPDATE tw_schema_version SET version = 99"))
    before = (tmp_path / "new.db").read_bytes()
    for create in (True, False):
        with pytest.raises(SchemaError, match="schema version 99, newer than this trainwise knows"):
            open_store(url, create=create)
    assert version_of(url) == 99
    assert (tmp_path / "new.db").read_bytes() == before


def test_a_file_that_is_not_a_database_is_refused_untouched(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"these are my notes, not a database\n" * 100)
    for create in (True, False):
        with pytest.raises(StoreError, match="not a database"):
            RunStore(f"sqlite:///{path}", create=create)
    assert path.read_bytes() == b"these are my notes, not a database\n" * 100


def test_migrations_are_only_appended() -> None:
    assert migrate.MIGRATIONS[0].__name__ == "_v1_initial"
