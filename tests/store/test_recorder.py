"""`fit` records each run in the store through StoreRecorder: epochs as they happen, the end, artifacts, findings,
the tuning trial; `store=False` records nothing, and a store that cannot be written never breaks training."""

from __future__ import annotations

import json
import time
import warnings
from pathlib import Path
from typing import Any

import pytest

import trainwise
from trainwise.engine.callbacks import Callback
from trainwise.engine.state import Loop
from trainwise.store.runs import RunQuery, RunStore

SETTINGS: dict[str, Any] = {"task": "tabular", "epochs": 3, "batch_size": 32, "device": "cpu", "threads": 1}


class Watch(Callback):
    """Reads the store while the run trains: what a dashboard sees as each epoch starts."""

    def __init__(self, url: str) -> None:
        self.url, self.seen = url, []

    def on_epoch_start(self, loop: Loop) -> None:
        rows, _ = RunStore(self.url).list_runs()
        self.seen.append((rows[0]["status"], rows[0]["epochs"]))


class Writes(Callback):
    """Leaves trial.json at the start, as tune does (fit itself writes findings.json at the end)."""

    def __init__(self, run_dir: Path) -> None:
        self.run_dir = run_dir

    def on_fit_start(self, loop: Loop) -> None:
        (self.run_dir / "trial.json").write_text(json.dumps({"study": "s1", "trial": 4, "storage": "sqlite:///x.db"}))


def fit(blobs: dict[str, Any], out: Path, **kwargs: Any) -> Any:
    return trainwise.fit(
        {**SETTINGS, **kwargs.pop("settings", {})},
        model={"hidden": [8]},
        train=blobs["train"],
        val=blobs["val"],
        test=blobs["test"],
        out=out,
        progress="off",
        **kwargs,
    )


def test_fit_records_the_run_as_it_trains(blobs: dict[str, Any], storage_url: str, tmp_path: Path) -> None:
    watch = Watch(storage_url)
    out = tmp_path / "run"
    result = fit(blobs, out, callbacks=[watch, Writes(out)])
    assert watch.seen == [("running", 0), ("running", 1), ("running", 2)]
    rows, total = RunStore(storage_url).list_runs()
    assert total == 1
    run = RunStore(storage_url).get(rows[0]["id"])
    assert run["status"] == "finished" and run["stopped_reason"] == "completed"
    assert run["task"] == "tabular" and run["config"]["epochs"] == 3 and run["run_dir"] == str(out.resolve())
    assert [e["val_loss"] for e in run["history"]] == pytest.approx([e["val_loss"] for e in result.history])
    assert run["final"]["test_accuracy"] == pytest.approx(result.test["accuracy"])
    paths = {a["path"]: a["kind"] for a in run["artifacts"]}
    assert paths["checkpoints/last.pt"] == "checkpoint" and paths["summary.json"] == "json"
    assert paths["findings.json"] == "json" and paths["trial.json"] == "json"
    written = json.loads((out / "findings.json").read_text())["findings"]  # what fit's diagnosis wrote at the end
    assert [f["title"] for f in run["findings"]] == [f["title"] for f in written]
    assert [f["remedies"] for f in run["findings"]] == [f["remedies"] for f in written]
    assert (run["study"], run["trial"], run["study_storage"]) == ("s1", 4, "sqlite:///x.db")


def test_a_diverged_run_is_recorded_as_diverged(blobs: dict[str, Any], storage_url: str, tmp_path: Path) -> None:
    settings = {"optimizer": {"name": "sgd", "learning_rate": 1e30}}
    result = fit(blobs, tmp_path / "run", settings=settings)
    assert result.stopped_reason == "diverged"
    assert RunStore(storage_url).list_runs()[0][0]["status"] == "diverged"


class Boom(Callback):
    def on_epoch_end(self, loop: Loop) -> None:
        if loop.state.epoch == 2:
            raise RuntimeError("boom in epoch 2")


def test_a_run_that_raises_is_recorded_as_failed(blobs: dict[str, Any], storage_url: str, tmp_path: Path) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        fit(blobs, tmp_path / "run", callbacks=[Boom()])
    run = RunStore(storage_url).get(RunStore(storage_url).list_runs()[0][0]["id"])
    assert run["status"] == "failed" and "boom in epoch 2" in run["error"]
    assert run["epochs"] == 1  # epoch 2's line never reached the store: Boom stopped the callbacks before it


def test_store_false_records_nothing(blobs: dict[str, Any], storage_url: str, tmp_path: Path) -> None:
    fit(blobs, tmp_path / "run", store=False)
    assert RunStore(storage_url, create=False).list_runs() == ([], 0)
    assert not (tmp_path / "trainwise.db").exists()


def test_a_store_url_records_there(blobs: dict[str, Any], storage_url: str, tmp_path: Path) -> None:
    other = f"sqlite:///{tmp_path / 'other.db'}"
    fit(blobs, tmp_path / "run", store=other)
    assert RunStore(other).count() == 1
    assert RunStore(storage_url, create=False).count() == 0


def test_an_unwritable_store_warns_once_and_training_goes_on(blobs: dict[str, Any], tmp_path: Path) -> None:
    bad = tmp_path / "notes.db"
    bad.write_bytes(b"not a database" * 100)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = fit(blobs, tmp_path / "run", store=f"sqlite:///{bad}")
    assert len(result.history) == 3
    messages = [str(w.message) for w in caught if "run store" in str(w.message)]
    assert len(messages) == 1 and "not a database" in messages[0]
    assert bad.read_bytes() == b"not a database" * 100


def test_a_resumed_run_is_recorded_with_all_its_epochs(blobs: dict[str, Any], storage_url: str, tmp_path: Path) -> None:
    out = tmp_path / "run"
    fit(blobs, out, settings={"epochs": 2})
    fit(blobs, out, resume=True, settings={"epochs": 4})
    rows, _ = RunStore(storage_url).list_runs(RunQuery(sort="id"))
    assert [r["epochs"] for r in rows] == [4, 2]  # the resume is a run of its own, with the history it continues
    assert [e["epoch"] for e in RunStore(storage_url).epochs(rows[0]["id"])] == [1, 2, 3, 4]


class Pause(Callback):
    """Reads the run's heartbeat, sleeps through a few beats, reads it again."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.beats: list[float] = []

    def on_epoch_end(self, loop: Loop) -> None:
        if loop.state.epoch == 1:
            for _ in range(2):
                self.beats.append(RunStore(self.url).list_runs()[0][0]["heartbeat_at"])
                time.sleep(0.4)


def test_a_long_epoch_keeps_beating(
    blobs: dict[str, Any], storage_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("trainwise.store.recorder.HEARTBEAT_SECONDS", 0.05)
    pause = Pause(storage_url)
    fit(blobs, tmp_path / "run", callbacks=[pause], settings={"epochs": 2})
    assert pause.beats[1] > pause.beats[0]  # written by the heartbeat thread while the loop slept


class CtrlC(Callback):
    """Does what fit's SIGINT handler does on the first Ctrl-C."""

    def on_epoch_end(self, loop: Loop) -> None:
        loop.state.stop, loop.state.stopped_reason = True, "interrupted"


def test_a_stopped_run_is_recorded_as_interrupted(blobs: dict[str, Any], storage_url: str, tmp_path: Path) -> None:
    fit(blobs, tmp_path / "run", callbacks=[CtrlC()])
    run = RunStore(storage_url).list_runs()[0][0]
    assert run["status"] == "interrupted" and run["epochs"] == 1
