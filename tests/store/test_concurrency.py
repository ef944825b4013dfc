"""Two real processes writing runs into one SQLite store at the same moment lose nothing."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from trainwise.store.runs import RunQuery, RunStore

WRITER = """
import sys, time
from trainwise.store.runs import RunStore
url, tag, runs, start = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
store = RunStore(url)
while time.time() < start:
    time.sleep(0.005)
for i in range(runs):
    run_id = store.start_run(name=f"{tag}-{i}", run_dir=f"/tmp/{tag}-{i}", task=tag)
    for epoch in range(1, 4):
        store.record_epoch(run_id, {"epoch": epoch, "train_loss": 1.0 / epoch})
    store.tag(run_id, tag)
    store.finish_run(run_id, "finished", artifacts=[("summary.json", "json", 1)])
"""


def test_two_processes_write_at_once_and_lose_nothing(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'shared.db'}"
    import time

    start = time.time() + 3.0  # both begin writing at the same moment, after their imports
    runs = 40
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WRITER, url, tag, str(runs), str(start)], stderr=subprocess.PIPE, text=True
        )
        for tag in ("left", "right")
    ]
    for proc in procs:
        _, err = proc.communicate(timeout=180)
        assert proc.returncode == 0, err
    store = RunStore(url)
    for tag in ("left", "right"):
        rows, total = store.list_runs(RunQuery(task=tag, limit=None))
        assert total == runs
        assert sorted(r["name"] for r in rows) == sorted(f"{tag}-{i}" for i in range(runs))
        assert all(r["status"] == "finished" and r["epochs"] == 3 and r["tags"] == [tag] for r in rows)
        assert all(len(store.epochs(r["id"])) == 3 for r in rows)
