"""Issue 9's training features together (bf16, accumulation, EMA, augmentation) under every command made of runs:
`trainwise lr-find`, a 2-trial `trainwise tune`, and a run killed with SIGKILL mid-accumulation and resumed, which
ends bit-identical to one never stopped."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
import torch

import trainwise
from trainwise import cli
from trainwise.engine import checkpoint

TRAINWISE = Path(sys.executable).with_name("trainwise")

CONFIG = """# digits with every training feature of issue 9 on
task = "image"
epochs = 3
batch_size = 32
seed = 4
device = "cpu"
threads = 1
precision = "bf16"
accumulate_steps = 3
ema_decay = 0.9
{extra}

[data]
name = "digits"
validation_split = 0.2

[model]
name = "mlp"
hidden = [32]
dropout = 0.2

[optimizer]
name = "adamw"
learning_rate = 0.01

[augment]
crop_padding = 1
flip = 0.5
rotate = 10
cutout = 2
mixup = 0.4
mix_probability = 0.5

[search]
metric = "val_accuracy"
"optimizer.learning_rate" = {{ low = 1e-3, high = 3e-2, log = true }}
"augment.crop_padding" = {{ choices = [0, 1] }}
"""


@pytest.fixture(autouse=True)
def _keep_threads() -> Iterator[None]:
    """The recipe sets threads = 1 for in-process runs; give the rest of the session its default back."""
    threads = torch.get_num_threads()
    yield
    torch.set_num_threads(threads)


def write(folder: Path, extra: str = "") -> Path:
    path = folder / "features.toml"
    path.write_text(CONFIG.format(extra=extra), encoding="utf-8")
    return path


def test_lr_find_trains_with_every_feature(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    config = write(tmp_path)
    assert cli.main(["lr-find", str(config), "--steps", "30", "--out", str(tmp_path / "lr"), "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    saved = json.loads((tmp_path / "lr" / "lr_find.json").read_text())
    assert saved["suggestion"] == result["suggestion"] and 1e-7 < result["suggestion"] < 10
    assert 10 <= len(saved["lrs"]) <= 30


def test_a_two_trial_tune_runs_every_feature(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    config = write(tmp_path)
    monkeypatch.chdir(tmp_path)  # the study's run folders go under ./runs (and the next test starts where it was)
    assert cli.main(["tune", str(config), "--trials", "2", "--pruner", "none", "--json"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["counts"]["complete"] == 2
    trials = optuna.load_study(study_name="features", storage=storage_url).get_trials()
    assert len(trials) == 2 and all(0.1 < t.values[0] <= 1 for t in trials)  # learned: above chance (10 classes)


SCRIPT = """
import json, os, sys, time
from pathlib import Path
import trainwise

class SlowDown(trainwise.Callback):
    '''From epoch 2, batch 4 (mid-group: batches 3..5 make one step) on: mark the spot, then hang.'''
    def __init__(self, marker):
        self.marker = Path(marker)
    def on_batch_end(self, loop):
        if (loop.state.epoch, loop.state.batch) < (1, 4):
            return
        if not self.marker.exists():
            self.marker.with_suffix(".tmp").write_text(json.dumps({"batch": loop.state.batch}))
            os.replace(self.marker.with_suffix(".tmp"), self.marker)
        time.sleep(600)

trainwise.fit(sys.argv[1], out=sys.argv[2], callbacks=[SlowDown(sys.argv[3])], progress="off", store=False)
"""


def assert_same(a: Any, b: Any, where: str = "") -> None:
    """Equal structure and bit-identical tensors, recursively."""
    if isinstance(a, torch.Tensor):
        assert isinstance(b, torch.Tensor) and torch.equal(a, b), where
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


@pytest.mark.slow
def test_sigkill_mid_accumulation_then_resume_is_bit_identical(tmp_path: Path) -> None:
    """bf16 + accumulate_steps + EMA + every augmentation op (mixup on half the batches): a checkpoint after each
    optimizer step, SIGKILL mid-epoch in the middle of an accumulation group (the group's first batch is lost with
    it), `trainwise fit --resume`; the final weights, EMA, optimizer, RNGs and history are those of an
    uninterrupted run. (A checkpoint taken mid-group, by Ctrl-C, is tested in tests/engine/test_features.py.)"""
    config = write(tmp_path, extra="checkpoint_every_steps = 1")
    config.write_text(config.read_text().replace("epochs = 3", "epochs = 2"))
    script, out, marker = tmp_path / "run.py", tmp_path / "killed", tmp_path / "marker"
    script.write_text(SCRIPT, encoding="utf-8")
    with (tmp_path / "killed.log").open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, str(script), str(config), str(out), str(marker)], stdout=log, stderr=log, cwd=tmp_path
        )
    try:
        reference = trainwise.fit(config, out=tmp_path / "reference", progress="off", store=False)
        deadline = time.monotonic() + 180
        while not marker.exists():
            assert process.poll() is None, (tmp_path / "killed.log").read_text(errors="replace")
            assert time.monotonic() < deadline, "the run never reached the kill point"
            time.sleep(0.02)
        os.kill(process.pid, signal.SIGKILL)
        assert process.wait(timeout=30) == -signal.SIGKILL
    finally:
        process.kill()
    saved = checkpoint.load(out / "checkpoints" / "last.pt")
    position, killed_at = saved["position"], json.loads(marker.read_text())["batch"]
    assert position["epoch"] == 1 and 0 < position["batch"] < killed_at  # mid-epoch, with work lost since

    done = subprocess.run(
        [str(TRAINWISE), "fit", str(config), "--resume", "--out", str(out), "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
        env={**os.environ, "TRAINWISE_STORAGE": f"sqlite:///{tmp_path / 'runs.db'}"},
    )
    assert done.returncode == 0, done.stderr
    resumed = json.loads(done.stdout)
    final, expected = (
        checkpoint.load(out / "checkpoints" / "last.pt"),
        checkpoint.load(tmp_path / "reference" / "checkpoints" / "last.pt"),
    )
    for key in ("position", "model", "optimizer", "average", "rng"):
        assert_same(final[key], expected[key], key)
    without = [{k: v for k, v in e.items() if k != "seconds"} for e in resumed["history"]]
    assert without == [{k: v for k, v in e.items() if k != "seconds"} for e in reference.history]
    assert resumed["test"] == reference.test
