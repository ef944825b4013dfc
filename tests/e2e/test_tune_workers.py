"""Many `trainwise tune` processes on one study, as on many machines: exactly --trials trials, kill -9 safe.

Each worker is the real script started on its own (not `--workers`), the way N machines would each run the same
command against one database. Two are killed with SIGKILL while their trial trains; after the grace period the
others fail those trials, re-run them (Optuna's retry: `failed_trial` names the killed one) and stop at exactly
--trials. Runs on SQLite and on a fresh PostgreSQL database.
"""

from __future__ import annotations

import collections
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from trainwise.storage import driver_url
from trainwise.store.runs import RunQuery, RunStore

TRAINWISE = Path(sys.executable).with_name("trainwise")

CONFIG = """
task = "image"
name = "shared"
epochs = 3
batch_size = 64
seed = 0
threads = 1

[data]
name = "digits"
validation_split = 0.2

[model]
name = "mlp"
hidden = [16]

[search]
metric = "val_accuracy"
"optimizer.learning_rate" = { low = 1e-3, high = 3e-2, log = true }
"model.dropout" = { low = 0.0, high = 0.3 }
"""


def start_worker(folder: Path, url: str, trials: int) -> subprocess.Popen[str]:
    args = ["tune", "study.toml", "--storage", url, "--study", "shared", "--trials", str(trials), "--pruner", "none"]
    return subprocess.Popen(
        [str(TRAINWISE), *args, "--heartbeat", "2", "--grace", "12", "--json"],
        cwd=folder,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env={**os.environ, "TRAINWISE_STORAGE": url},
    )


def running_runs(url: str) -> list[dict[str, object]]:
    try:
        return RunStore(url).list_runs(RunQuery(status="running", limit=100))[0]
    except Exception:  # the store's tables appear with the first trial
        return []


def kill_mid_trial(worker: subprocess.Popen[str], url: str, timeout: float = 240) -> int:
    """SIGKILL `worker` while the store shows it training a trial; returns that trial's number."""
    end = time.time() + timeout
    while time.time() < end:
        assert worker.poll() is None, worker.communicate()[1]
        # the run row is written as the trial's training starts (its epochs follow in batches, tune/recording.py)
        mine = [r for r in running_runs(url) if r["pid"] == worker.pid and r["trial"] is not None]
        if mine:  # the trial is training: kill it before it can finish
            worker.send_signal(signal.SIGKILL)
            worker.wait(timeout=30)
            return int(mine[0]["trial"])  # type: ignore[call-overload]
        time.sleep(0.05)
    raise AssertionError("the worker never started a trial")


@pytest.mark.slow
def test_four_workers_two_killed_end_with_exactly_the_trials_asked(database_url: str, tmp_path: Path) -> None:
    (tmp_path / "study.toml").write_text(CONFIG)
    workers = [start_worker(tmp_path, database_url, 24) for _ in range(4)]
    try:
        killed = [kill_mid_trial(workers[0], database_url), kill_mid_trial(workers[1], database_url)]
        outputs = [w.communicate(timeout=300) for w in workers[2:]]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
    for w, (_, err) in zip(workers[2:], outputs, strict=True):
        assert w.returncode == 0, err
    trials = optuna.load_study(study_name="shared", storage=driver_url(database_url)).get_trials()
    states = collections.Counter(t.state.name for t in trials)
    assert states["COMPLETE"] == 24 and states["RUNNING"] == 0 and states["WAITING"] == 0
    numbers = [t.number for t in trials]
    assert len(numbers) == len(set(numbers))
    by_number = {t.number: t for t in trials}
    for number in killed:  # the killed trial failed by its heartbeat, and a retry of it completed
        assert by_number[number].state.name == "FAIL" and "error" not in by_number[number].user_attrs
        retries = [t for t in trials if t.system_attrs.get("failed_trial") == number]
        assert [t.state.name for t in retries] == ["COMPLETE"]
        assert retries[0].params == by_number[number].params
    assert states["FAIL"] == len(killed)
    # every completed trial's run is in the store exactly once, finished
    rows, _ = RunStore(database_url).list_runs(RunQuery(study="shared", limit=1000))
    finished = collections.Counter(r["trial"] for r in rows if r["status"] == "finished")
    complete = {t.number for t in trials if t.state.name == "COMPLETE"}
    assert set(finished) == complete and set(finished.values()) == {1}
    assert sorted(r["trial"] for r in rows if r["status"] != "finished") == sorted(killed)  # left by the kills
