"""The run store's Python API on a real database: record, list (filter, sort, page), show, tag, delete, reap.

One contract suite, parametrized by URL (the `database_url` fixture): SQLite always; PostgreSQL on the server
that `TRAINWISE_TEST_POSTGRES_URL` names (CI starts one with scripts/dev-postgres.sh).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest

from trainwise.store.db import StoreError
from trainwise.store.liveness import pid_alive
from trainwise.store.runs import RunQuery, RunStore


@pytest.fixture
def store(database_url: str) -> RunStore:
    """The same contract on SQLite and on a fresh PostgreSQL database (tests/pgdb.py)."""
    return RunStore(database_url)


def record(store: RunStore, name: str, task: str, losses: list[float], accs: list[float], tmp: Path) -> int:
    run_id = store.start_run(name=name, run_dir=tmp / name, task=task, config={"task": task, "seed": len(name)})
    for epoch, (loss, acc) in enumerate(zip(losses, accs, strict=True), start=1):
        store.record_epoch(run_id, {"epoch": epoch, "train_loss": loss, "val_loss": loss, "val_accuracy": acc})
    return run_id


def test_a_run_is_recorded_epoch_by_epoch_and_finished(store: RunStore, tmp_path: Path) -> None:
    run_id = record(store, "a", "image", [1.0, 0.5], [0.6, 0.8], tmp_path)
    assert store.status(run_id) == "running"
    store.finish_run(
        run_id,
        "finished",
        stopped_reason="completed",
        test={"accuracy": 0.75, "loss": float("nan")},
        artifacts=[("checkpoints/last.pt", "checkpoint", 10)],
        findings=[{"kind": "overfit", "severity": "warning", "title": "t", "evidence": "e", "remedies": ["r"]}],
    )
    run = store.get(run_id)
    assert run["status"] == "finished" and run["ended_at"] >= run["started_at"]
    assert [e["epoch"] for e in run["history"]] == [1, 2]
    assert run["final"]["val_accuracy"] == 0.8 and run["final"]["test_accuracy"] == 0.75
    assert run["final"]["test_loss"] is None  # NaN is stored as missing, never as a broken number
    assert run["config"] == {"task": "image", "seed": 1}
    assert run["artifacts"] == [{"path": "checkpoints/last.pt", "kind": "checkpoint", "size": 10}]
    assert run["findings"][0]["remedies"] == ["r"]
    assert store.epochs(run_id, after=1) == [run["history"][1]]


def test_a_resumed_epoch_replaces_the_old_lines(store: RunStore, tmp_path: Path) -> None:
    run_id = record(store, "a", "image", [1.0, 0.5, 0.4], [0.1, 0.2, 0.3], tmp_path)
    store.record_epoch(run_id, {"epoch": 2, "train_loss": 0.45})
    assert [e["epoch"] for e in store.epochs(run_id)] == [1, 2]
    assert store.get(run_id)["epochs"] == 2


def test_list_filters_sorts_and_pages(store: RunStore, tmp_path: Path) -> None:
    ids = {
        name: record(store, name, task, [loss], [acc], tmp_path)
        for name, task, loss, acc in [("a", "image", 0.3, 0.7), ("b", "text", 0.2, 0.9), ("c", "image", 0.1, 0.8)]
    }
    unscored = store.start_run(name="d", run_dir=tmp_path / "d", task="image")
    store.finish_run(ids["a"], "finished")
    rows, total = store.list_runs(RunQuery(sort="val_accuracy"))
    assert total == 4 and [r["name"] for r in rows] == ["b", "c", "a", "d"]  # best first, unscored last
    rows, _ = store.list_runs(RunQuery(sort="val_loss"))
    assert [r["name"] for r in rows] == ["c", "b", "a", "d"]  # losses: lowest first
    rows, total = store.list_runs(RunQuery(task="image", status="running"))
    assert total == 2 and {r["id"] for r in rows} == {ids["c"], unscored}
    rows, total = store.list_runs(RunQuery(sort="id", limit=2, offset=1))
    assert total == 4 and [r["name"] for r in rows] == ["c", "b"]
    assert store.tasks() == ["image", "text"]


def test_ranking_metrics_sort_best_first(store: RunStore, tmp_path: Path) -> None:
    for name, ndcg in [("low", 0.2), ("high", 0.6), ("mid", 0.4)]:
        run_id = store.start_run(name=name, run_dir=tmp_path / name, task="recommend")
        store.record_epoch(run_id, {"epoch": 1, "val_loss": 1.0 - ndcg, "val_ndcg@10": ndcg})
    rows, _ = store.list_runs(RunQuery(sort="val_ndcg@10"))
    assert [r["name"] for r in rows] == ["high", "mid", "low"]  # the store once read only words like "accuracy"


def test_tags_and_delete(store: RunStore, tmp_path: Path) -> None:
    keep, drop = (
        record(store, "keep", "image", [1.0], [0.5], tmp_path),
        record(store, "drop", "image", [1.0], [0.5], tmp_path),
    )
    assert store.tag(keep, "baseline") is True
    assert store.tag(keep, "baseline") is False
    assert store.list_runs(RunQuery(tag="baseline"))[0][0]["tags"] == ["baseline"]
    store.tag(drop, "baseline")
    store.delete(drop)
    assert [r["id"] for r in store.list_runs()[0]] == [keep]
    with pytest.raises(StoreError, match=f"unknown run id {drop}"):
        store.get(drop)
    with pytest.raises(StoreError, match="unknown run id 999"):
        store.tag(999, "x")


def test_reap_marks_runs_whose_process_is_gone_as_killed(store: RunStore, tmp_path: Path) -> None:
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()  # reaped: its pid no longer names a process
    assert not pid_alive(gone.pid)
    dead = store.start_run(name="dead", run_dir=tmp_path / "dead", pid=gone.pid)
    alive = store.start_run(name="alive", run_dir=tmp_path / "alive")  # this very process
    silent = store.start_run(name="elsewhere", run_dir=tmp_path / "e", host="another-host", pid=1)
    assert store.reap(stale_seconds=3600) == [dead]
    assert [store.status(i) for i in (dead, alive, silent)] == ["killed", "running", "running"]
    time.sleep(0.05)
    assert store.reap(stale_seconds=0.01) == [alive, silent]  # no heartbeat lately: gone, on any host


def test_reading_a_missing_store_creates_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'absent.db'}"
    store = RunStore(url, create=False)
    assert store.list_runs() == ([], 0) and store.reap() == []
    with pytest.raises(StoreError, match="unknown run id 1"):
        store.get(1)
    assert not (tmp_path / "absent.db").exists()
