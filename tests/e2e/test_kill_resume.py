"""The key guarantee: a run killed with SIGKILL mid-epoch and resumed ends bit-identical (CPU) to one never stopped.

A real subprocess trains with a callback that slows it down once it is mid-epoch and drops a marker file;
the test waits for the marker and a mid-epoch checkpoint, sends `kill -9`, resumes, and compares every tensor
of the final state with an uninterrupted run of the same recipe and seed (dropout, shuffling and a per-step
schedule make every RNG and the schedule's position matter).
"""

from __future__ import annotations

import importlib.util
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
import torch

import trainwise
from trainwise.engine import checkpoint

TRAINWISE = Path(sys.executable).with_name("trainwise")

# Shared by the killed subprocess and the in-process runs: the same data, model and slow-down callback.
KIT = '''
import json
import os
import sys
import time
from pathlib import Path

import torch
from torch import nn
from torch.utils.data import Dataset

import trainwise


class Pairs(Dataset):
    """A plain map-style Dataset (not a TensorDataset): fit takes the DataLoader path."""

    def __init__(self, x, y):
        self.x, self.y = x, y

    def __len__(self):
        return len(self.x)

    def __getitem__(self, i):
        return self.x[i], self.y[i]


def splits():
    gen = torch.Generator().manual_seed(7)
    centres = torch.randn(3, 8, generator=gen) * 3
    y = torch.arange(300) % 3
    x = centres[y] + torch.randn(300, 8, generator=gen)
    return Pairs(x[:240], y[:240]), Pairs(x[240:], y[240:])


def make_model():
    torch.manual_seed(123)
    return nn.Sequential(nn.Linear(8, 32), nn.ReLU(), nn.Dropout(0.3), nn.Linear(32, 3))


SETTINGS = {
    "epochs": 3,
    "batch_size": 16,
    "seed": 5,
    "optimizer": {"name": "nesterov", "learning_rate": 0.02, "momentum": 0.9},
    "schedule": {"name": "onecycle"},
    "checkpoint_every_steps": 2,
    "device": "cpu",
    "threads": 1,
}


class SlowDown(trainwise.Callback):
    """From (epoch, batch) on: write the marker once, then sleep `pause` seconds after every step."""

    def __init__(self, marker, epoch, batch, pause):
        self.marker, self.epoch, self.batch, self.pause = Path(marker), epoch, batch, pause

    def on_batch_end(self, loop):
        state = loop.state
        if (state.epoch, state.batch) < (self.epoch, self.batch):
            return
        if not self.marker.exists():  # written whole, then renamed: the test never reads half a marker
            where = {"epoch": state.epoch, "batch": state.batch, "step": state.step}
            self.marker.with_suffix(".tmp").write_text(json.dumps(where))
            os.replace(self.marker.with_suffix(".tmp"), self.marker)
        time.sleep(self.pause)


if __name__ == "__main__":
    args = json.loads(sys.argv[1])
    slow = SlowDown(args["marker"], args["epoch"], args["batch"], args["pause"])
    if args["config"]:
        trainwise.fit(args["config"], out=args["out"], callbacks=[slow], progress="off")
    else:
        train, val = splits()
        trainwise.fit(model=make_model(), train=train, val=val, out=args["out"], callbacks=[slow],
                      progress="off", **SETTINGS)
'''

DIGITS_CONFIG = """
task = "image"
epochs = 3
batch_size = 64
seed = 3
device = "cpu"
threads = 1
checkpoint_every_steps = 4
metrics = ["accuracy", "macro_f1"]

[data]
name = "digits"
validation_split = 0.15

[model]
name = "mlp"
hidden = [32]
dropout = 0.25

[optimizer]
name = "adamw"
learning_rate = 0.003

[regularization]
weight_decay = 0.01

[schedule]
name = "cosine"
warmup_epochs = 1

[early_stopping]
patience = 10
"""


@pytest.fixture(autouse=True)
def _keep_threads() -> Iterator[None]:
    """The recipes set threads = 1 for the in-process runs too; give the rest of the session its default back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def kit(tmp_path: Path) -> tuple[Path, ModuleType]:
    path = tmp_path / "kit.py"
    path.write_text(KIT, encoding="utf-8")
    spec = importlib.util.spec_from_file_location("trainwise_resume_kit", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return path, module


def start_run(
    script: Path, tmp_path: Path, out: Path, *, config: Path | None, batch: int, pause: float
) -> subprocess.Popen[bytes]:
    """Start the script in a subprocess; it slows down from epoch 2, batch `batch` on."""
    args = {"config": str(config) if config else None, "out": str(out), "marker": str(tmp_path / "marker")}
    args.update(epoch=1, batch=batch, pause=pause)
    with (tmp_path / "killed.log").open("wb") as log:  # the child keeps its own copy of the handle
        return subprocess.Popen(
            [sys.executable, str(script), json.dumps(args)], stdout=log, stderr=subprocess.STDOUT, cwd=tmp_path
        )


def wait_and_kill(process: subprocess.Popen[bytes], tmp_path: Path, out: Path) -> dict[str, int]:
    """Wait until the run is mid-epoch past a step checkpoint, then SIGKILL it; returns where the marker was."""
    marker = tmp_path / "marker"
    deadline = time.monotonic() + 120
    while not (marker.exists() and (out / "checkpoints" / "last.pt").exists()):
        if process.poll() is not None:
            log = (tmp_path / "killed.log").read_text(errors="replace")
            pytest.fail(f"the run ended (status {process.returncode}) before it could be killed:\n{log}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail("the run never reached the kill point")
        time.sleep(0.01)
    os.kill(process.pid, signal.SIGKILL)
    assert process.wait(timeout=30) == -signal.SIGKILL
    return dict(json.loads(marker.read_text()))


def assert_killed_mid_epoch(out: Path, marker: dict[str, int]) -> None:
    """The checkpoint left behind is in the middle of epoch 2, not at an epoch boundary."""
    position = checkpoint.load(out / "checkpoints" / "last.pt")["position"]
    assert position["epoch"] == marker["epoch"] == 1
    assert position["batch"] > 0, position
    assert (out / "checkpoints" / "best.pt").is_file()  # epoch 1 ended and was saved before the kill


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Equal structure, and every tensor bit-identical (torch.equal), recursively."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and a.dtype == b.dtype, where
        assert torch.equal(a, b), f"{where} differs"
    elif isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}.{key}")
    elif isinstance(a, (list, tuple)):
        assert isinstance(b, (list, tuple)) and len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b, strict=True)):
            assert_same(x, y, f"{where}[{i}]")
    else:
        assert a == b, f"{where}: {a!r} != {b!r}"


def without_seconds(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in epoch.items() if k != "seconds"} for epoch in history]


def assert_final_states_equal(resumed_dir: Path, reference_dir: Path) -> None:
    resumed = checkpoint.load(resumed_dir / "checkpoints" / "last.pt")
    reference = checkpoint.load(reference_dir / "checkpoints" / "last.pt")
    assert resumed["position"] == reference["position"]
    assert_same(resumed["model"], reference["model"], "model")
    assert_same(resumed["optimizer"], reference["optimizer"], "optimizer")
    assert_same(resumed["scheduler"], reference["scheduler"], "scheduler")
    assert_same(resumed["rng"], reference["rng"], "rng")


def test_sigkill_mid_epoch_then_cli_resume_is_bit_identical(tmp_path: Path, kit: tuple[Path, ModuleType]) -> None:
    """Built-in data on the tensor fast path; dropout, shuffling, AdamW, per-step warmup+cosine, early stopping.

    The killed run blocks once mid-epoch, so the kill point is exact: the steps after the last checkpoint are lost.
    """
    script, _ = kit
    config = tmp_path / "digits.toml"
    config.write_text(DIGITS_CONFIG, encoding="utf-8")
    out = tmp_path / "killed"
    process = start_run(script, tmp_path, out, config=config, batch=11, pause=600)
    try:
        reference = trainwise.fit(config, out=tmp_path / "reference", progress="off")  # meanwhile, in-process
        marker = wait_and_kill(process, tmp_path, out)
    finally:
        process.kill()
    assert_killed_mid_epoch(out, marker)
    assert checkpoint.load(out / "checkpoints" / "last.pt")["position"]["step"] < marker["step"]

    done = subprocess.run(
        [str(TRAINWISE), "fit", str(config), "--resume", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    resumed = json.loads(done.stdout)

    assert_final_states_equal(out, tmp_path / "reference")
    assert without_seconds(resumed["history"]) == without_seconds(reference.to_dict()["history"])
    assert resumed["test"] == reference.to_dict()["test"]  # the kept (best) weights agree, so do test metrics
    assert resumed["best_epoch"] == reference.best_epoch
    lines = (out / "history.jsonl").read_text().splitlines()
    assert [json.loads(line)["epoch"] for line in lines] == [1, 2, 3]


def test_sigkill_while_stepping_then_api_resume_is_bit_identical(tmp_path: Path, kit: tuple[Path, ModuleType]) -> None:
    """A user nn.Module with dropout and a plain torch Dataset (the DataLoader path), Nesterov and OneCycle.

    The killed run keeps stepping (slowly) until the kill lands, wherever that is: in a step, a sleep or a save.
    """
    script, module = kit
    out = tmp_path / "killed"
    process = start_run(script, tmp_path, out, config=None, batch=3, pause=0.2)
    try:
        marker = wait_and_kill(process, tmp_path, out)
    finally:
        process.kill()
    assert_killed_mid_epoch(out, marker)

    train, val = module.splits()
    reference = trainwise.fit(
        model=module.make_model(), train=train, val=val, out=tmp_path / "reference", progress="off", **module.SETTINGS
    )
    train, val = module.splits()
    resumed = trainwise.fit(
        model=module.make_model(), train=train, val=val, out=out, resume=True, progress="off", **module.SETTINGS
    )

    assert_final_states_equal(out, tmp_path / "reference")
    assert_same(resumed.model.state_dict(), reference.model.state_dict(), "returned model")
    assert without_seconds(resumed.history) == without_seconds(reference.history)
    assert resumed.stopped_reason == reference.stopped_reason == "completed"


class StopAfter(trainwise.Callback):
    """Stops the run at the end of an epoch, as a crash right after the epoch's checkpoint would."""

    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, loop: Any) -> None:
        if loop.state.epoch == self.epoch:
            loop.state.stop = True


@pytest.mark.parametrize("kind", ["classification", "regression"])
def test_resume_at_an_epoch_boundary_in_process(
    kind: str,
    tmp_path: Path,
    blobs: dict[str, tuple[torch.Tensor, torch.Tensor]],
    linear: dict[str, tuple[torch.Tensor, torch.Tensor]],
) -> None:
    """Stopped right after an epoch's checkpoint, resumed in-process; the regression case keeps default metrics."""
    settings: dict[str, Any] = {
        "task": "tabular",
        "epochs": 3,
        "batch_size": 24,
        "seed": 11,
        "model": {"hidden": [16], "dropout": 0.2, "batch_norm": True},
        "optimizer": "rmsprop",
        "learning_rate": 0.01,
        "schedule": {"name": "cosine", "warmup_epochs": 0.5},
        "device": "cpu",
        "threads": 1,
    }
    if kind == "regression":
        settings["loss"] = "mse"
    splits = blobs if kind == "classification" else linear
    data = {"train": splits["train"], "val": splits["val"]}
    reference = trainwise.fit(**data, out=tmp_path / "reference", progress="off", **settings)
    stopped = trainwise.fit(**data, out=tmp_path / "run", progress="off", callbacks=[StopAfter(2)], **settings)
    assert len(stopped.history) == 2
    assert checkpoint.load(tmp_path / "run" / "checkpoints" / "last.pt")["position"]["batch"] == 0
    resumed = trainwise.fit(**data, out=tmp_path / "run", resume=True, progress="off", **settings)

    assert_final_states_equal(tmp_path / "run", tmp_path / "reference")
    assert_same(resumed.model.state_dict(), reference.model.state_dict(), "returned model")
    assert without_seconds(resumed.history) == without_seconds(reference.history)
    assert resumed.history[:2] == stopped.history  # the first two epochs come from the checkpoint as they were


def test_resume_without_a_recipe_continues_the_saved_one(
    tmp_path: Path, blobs: dict[str, tuple[torch.Tensor, torch.Tensor]]
) -> None:
    """fit(out=DIR, resume=True, epochs=N) reads the run's config.toml; the new epochs are recorded there."""
    data = {"train": blobs["train"], "val": blobs["val"]}
    settings: dict[str, Any] = {"task": "tabular", "epochs": 2, "seed": 3, "optimizer": "sgd", "learning_rate": 0.05}
    first = trainwise.fit(**data, out=tmp_path / "run", progress="off", **settings)
    (tmp_path / "run" / "checkpoints" / ".last.pt.x1y2.tmp").write_bytes(b"left by a kill -9 mid-write")
    resumed = trainwise.fit(**data, out=tmp_path / "run", resume=True, progress="off", epochs=3)
    assert resumed.recipe.optimizer.name == "sgd" and resumed.recipe.seed == 3
    assert len(resumed.history) == 3 and resumed.history[:2] == first.history
    assert trainwise.load_recipe(tmp_path / "run" / "config.toml").epochs == 3
    assert not list((tmp_path / "run" / "checkpoints").glob(".*.tmp"))
