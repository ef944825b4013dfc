"""Accumulation, mixed precision and weight averaging: the same math as without them, and exact resumes."""

from __future__ import annotations

import json
import math
import os
import signal
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch
from torch import nn

import trainwise
from trainwise.engine import checkpoint
from trainwise.engine import loop as engine
from trainwise.engine.callbacks import Callback, CallbackList
from trainwise.engine.state import Loop
from trainwise.errors import ConfigError

Split = tuple[torch.Tensor, torch.Tensor]
Data = dict[str, Split]
RunFit = Callable[..., trainwise.FitResult]
MakeLoop = Callable[..., Loop]


def seeded_model(batch_norm: bool = False) -> nn.Module:
    torch.manual_seed(1)
    norm: list[nn.Module] = [nn.BatchNorm1d(16)] if batch_norm else []
    return nn.Sequential(nn.Linear(8, 16), *norm, nn.ReLU(), nn.Linear(16, 3))


def without_seconds(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in history]


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


def last(run_dir: Path) -> dict[str, Any]:
    return checkpoint.load(run_dir / "checkpoints" / "last.pt")


class InterruptAt(Callback):
    """Sends this process a real SIGINT at (epoch, batch): fit's handler stops the run and saves it there."""

    def __init__(self, epoch: int, batch: int) -> None:
        self.epoch, self.batch = epoch, batch

    def on_batch_end(self, loop: Loop) -> None:
        if (loop.state.epoch, loop.state.batch) == (self.epoch, self.batch):
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_in_the_first_epoch_returns_an_interrupted_run_that_resumes(blobs: Data, tmp_path: Path) -> None:
    settings: dict[str, Any] = {"batch_size": 16, "epochs": 2, "seed": 9, "model": {"hidden": [16]}}
    out = tmp_path / "first-epoch"
    stopped = trainwise.fit(
        train=blobs["train"], val=blobs["val"], out=out, progress="off", callbacks=[InterruptAt(0, 3)], **settings
    )
    assert stopped.stopped_reason == "interrupted" and stopped.history == [] and stopped.findings == []
    assert json.loads((out / "findings.json").read_text()) == {"findings": []}
    assert last(out)["position"]["epoch"] == 0
    resumed = trainwise.fit(train=blobs["train"], val=blobs["val"], out=out, resume=True, progress="off", **settings)
    assert resumed.stopped_reason == "completed" and len(resumed.history) == 2


# --- gradient accumulation ---------------------------------------------------------------------------------


@pytest.mark.parametrize("optimizer", ["sgd", "adam"])
def test_accumulated_steps_equal_big_batch_steps(run_fit: RunFit, blobs: Data, optimizer: str) -> None:
    """240 samples: batches of 32 accumulated 3 at a time make steps of 96, 96 and 48 samples (the last group has
    an uneven 16-sample batch), the same steps as batches of 96. Float32 tolerance: 1e-6 absolute, 1e-5 relative."""
    settings: dict[str, Any] = {"optimizer": optimizer, "learning_rate": 0.05, "seed": 4, "epochs": 2}
    settings["regularization"] = {"l2": 0.01, "grad_clip": 5.0}
    big = run_fit(blobs, model=seeded_model(), batch_size=96, **settings)
    accumulated = run_fit(blobs, model=seeded_model(), batch_size=32, accumulate_steps=3, **settings)
    assert [e["step"] for e in accumulated.history] == [e["step"] for e in big.history] == [3, 6]
    for name, value in big.model.state_dict().items():
        torch.testing.assert_close(accumulated.model.state_dict()[name], value, atol=1e-6, rtol=1e-5)
    assert accumulated.final["train_loss"] == pytest.approx(big.final["train_loss"], rel=1e-5)
    single = run_fit(blobs, model=seeded_model(), batch_size=32, **settings)
    assert not torch.allclose(single.model.state_dict()["0.weight"], big.model.state_dict()["0.weight"], atol=1e-4)


def test_per_step_schedules_count_optimizer_steps(run_fit: RunFit, blobs: Data) -> None:
    """OneCycle is sized in optimizer steps: it ends exactly on the last step, as with the big batch."""
    settings: dict[str, Any] = {"schedule": {"name": "onecycle"}, "epochs": 2, "optimizer": "sgd", "seed": 2}
    big = run_fit(blobs, model=seeded_model(), batch_size=96, **settings)
    accumulated = run_fit(blobs, model=seeded_model(), batch_size=32, accumulate_steps=3, **settings)
    assert [e["lr"] for e in accumulated.history] == [e["lr"] for e in big.history]


def test_resume_in_the_middle_of_an_accumulation_is_exact(run_fit: RunFit, blobs: Data, tmp_path: Path) -> None:
    """A real SIGINT after batch 4 of epoch 2 (batches 3..5 make one step): the checkpoint carries the gradients
    of batch 3, and the resumed run ends bit-identical to one never stopped (dropout and shuffling included)."""
    settings: dict[str, Any] = {
        "batch_size": 16,
        "accumulate_steps": 3,
        "epochs": 3,
        "seed": 9,
        "model": {"hidden": [16], "dropout": 0.3},
        "optimizer": "adamw",
        "schedule": {"name": "cosine", "warmup_epochs": 0.5},
    }
    reference = run_fit(blobs, **settings)
    out = tmp_path / "stopped"
    stopped = trainwise.fit(
        train=blobs["train"], val=blobs["val"], out=out, progress="off", callbacks=[InterruptAt(1, 4)], **settings
    )
    assert stopped.stopped_reason == "interrupted"
    saved = last(out)
    assert saved["position"] == {"epoch": 1, "batch": 4, "step": 5 + 1}  # 15 batches -> 5 steps per epoch
    assert any(grad is not None and grad.abs().sum() > 0 for grad in saved["accumulated"])
    resumed = trainwise.fit(train=blobs["train"], val=blobs["val"], out=out, resume=True, progress="off", **settings)
    assert_same(resumed.model.state_dict(), reference.model.state_dict(), "model")
    assert_same(last(out)["optimizer"], last(reference.run_dir)["optimizer"], "optimizer")
    assert without_seconds(resumed.history) == without_seconds(reference.history)


def test_the_full_path_with_no_feature_on_is_the_plain_path(blobs: Data, make_loop: MakeLoop) -> None:
    """The loop's feature path, forced with a forward that is the model itself, trains bit-identically."""
    plain, full = make_loop(blobs, epochs=2), make_loop(blobs, epochs=2)
    full.forward = full.model
    assert plain.plain and not full.plain
    engine.run(plain, CallbackList([]))
    engine.run(full, CallbackList([]))
    assert_same(full.model.state_dict(), plain.model.state_dict(), "model")
    assert without_seconds(full.state.history) == without_seconds(plain.state.history)


class NaNAtCall(nn.Module):
    """A linear classifier whose output turns NaN on its `call`-th training forward pass (one per batch)."""

    def __init__(self, call: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(8, 3)
        self.call, self.calls = call, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        if self.training:
            self.calls += 1
            if self.calls == self.call:
                return out * math.nan
        return out


def test_divergence_stops_at_the_exact_step_under_accumulation(run_fit: RunFit, blobs: Data) -> None:
    """8 batches per epoch, 2 per step: batch 13 (epoch 2's 5th) belongs to optimizer step 7, which is not taken."""
    result = run_fit(blobs, model=NaNAtCall(13), accumulate_steps=2, optimizer="sgd", learning_rate=0.1)
    assert result.stopped_reason == "diverged" and result.diverged_step == 7
    assert len(result.history) == 2 and math.isnan(result.final["train_loss"])
    assert result.final["step"] == 6


# --- mixed precision -----------------------------------------------------------------------------------------


def test_bf16_on_cpu_learns_keeps_fp32_weights_and_resumes_exactly(
    run_fit: RunFit, blobs: Data, tmp_path: Path
) -> None:
    settings: dict[str, Any] = {"precision": "bf16", "seed": 3, "epochs": 3, "learning_rate": 0.01, "device": "cpu"}
    reference = run_fit(blobs, **settings)
    assert reference.final["val_accuracy"] > 0.9
    assert all(p.dtype == torch.float32 for p in reference.model.parameters())
    full = run_fit(blobs, seed=3, epochs=3, learning_rate=0.01)
    assert reference.final["train_loss"] != full.final["train_loss"]  # autocast really ran in bf16
    out = tmp_path / "stopped"
    trainwise.fit(
        train=blobs["train"],
        val=blobs["val"],
        out=out,
        progress="off",
        callbacks=[InterruptAt(1, 3)],
        model={"hidden": [16]},
        batch_size=32,
        **settings,
    )
    resumed = trainwise.fit(
        train=blobs["train"],
        val=blobs["val"],
        out=out,
        resume=True,
        progress="off",
        model={"hidden": [16]},
        batch_size=32,
        **settings,
    )
    assert_same(resumed.model.state_dict(), reference.model.state_dict(), "model")


def test_fp16_on_a_cpu_is_a_config_error(run_fit: RunFit, blobs: Data) -> None:
    with pytest.raises(ConfigError, match=r'precision "fp16" needs a CUDA device'):
        run_fit(blobs, precision="fp16", device="cpu")


# --- weight averaging ----------------------------------------------------------------------------------------


def test_ema_validates_and_keeps_the_average_and_leaves_training_alone(run_fit: RunFit, blobs: Data) -> None:
    plain = run_fit(blobs, model=seeded_model(), seed=5, learning_rate=0.02)
    ema = run_fit(blobs, model=seeded_model(), seed=5, learning_rate=0.02, ema_decay=0.9)
    saved = last(ema.run_dir)
    assert_same(saved["model"], last(plain.run_dir)["model"], "raw weights")  # the average never feeds back
    averaged = {k.removeprefix("module."): v for k, v in saved["average"]["averaged"].items() if k != "n_averaged"}
    assert_same(ema.model.state_dict(), averaged, "returned model")
    assert not torch.equal(ema.model.state_dict()["0.weight"], saved["model"]["0.weight"])
    x, y = blobs["val"]
    with torch.inference_mode():
        val_loss = float(nn.functional.cross_entropy(ema.model(x), y))
        best_model = seeded_model()
        best_model.load_state_dict(checkpoint.load(ema.run_dir / "checkpoints" / "best.pt")["model"])
        best_loss = float(nn.functional.cross_entropy(best_model(x), y))
    assert ema.history[-1]["val_loss"] == pytest.approx(val_loss, rel=1e-5)  # validation used the EMA
    assert ema.best_value == pytest.approx(best_loss, rel=1e-5)  # and best.pt holds the EMA weights
    assert ema.history[-1]["val_loss"] != plain.history[-1]["val_loss"]


def test_ema_resumes_exactly(run_fit: RunFit, blobs: Data, tmp_path: Path) -> None:
    settings: dict[str, Any] = {"ema_decay": 0.8, "seed": 6, "epochs": 3, "model": {"hidden": [16], "dropout": 0.2}}
    reference = run_fit(blobs, **settings)
    out = tmp_path / "stopped"
    trainwise.fit(
        train=blobs["train"],
        val=blobs["val"],
        out=out,
        progress="off",
        callbacks=[InterruptAt(1, 2)],
        batch_size=32,
        **settings,
    )
    resumed = trainwise.fit(
        train=blobs["train"], val=blobs["val"], out=out, resume=True, progress="off", batch_size=32, **settings
    )
    assert_same(last(out)["average"], last(reference.run_dir)["average"], "average")
    assert_same(resumed.model.state_dict(), reference.model.state_dict(), "model")
    assert without_seconds(resumed.history) == without_seconds(reference.history)


class Snapshots(Callback):
    def __init__(self) -> None:
        self.weights: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, loop: Loop) -> None:
        self.weights.append({k: v.clone() for k, v in loop.model.state_dict().items()})


def test_swa_averages_epochs_from_its_start_under_swalr_and_updates_batch_norm(
    run_fit: RunFit, blobs: Data, tmp_path: Path
) -> None:
    snapshots = Snapshots()
    settings: dict[str, Any] = {"swa_start_epoch": 1, "swa_lr": 0.01, "epochs": 4, "optimizer": "sgd", "seed": 2}
    result = run_fit(blobs, model=seeded_model(batch_norm=True), callbacks=[snapshots], learning_rate=0.1, **settings)
    assert [e["lr"] for e in result.history] == pytest.approx([0.1, 0.01, 0.01, 0.01])
    assert int(last(result.run_dir)["average"]["averaged"]["n_averaged"]) == 3
    for name in ("0.weight", "3.bias"):  # parameters: the plain mean of epochs 2..4
        mean = torch.stack([w[name] for w in snapshots.weights[1:]]).mean(0)
        torch.testing.assert_close(result.model.state_dict()[name], mean, atol=1e-6, rtol=1e-5)
    with torch.no_grad():  # batch-norm statistics recomputed (update_bn: the mean over batches) for the average
        batch_means = [result.model[0](x).mean(0) for x in blobs["train"][0].split(32)]
    torch.testing.assert_close(result.model[1].running_mean, torch.stack(batch_means).mean(0), atol=1e-5, rtol=1e-4)
    # and a resume mid-SWA ends where the uninterrupted run did
    out = tmp_path / "stopped"
    trainwise.fit(
        train=blobs["train"],
        val=blobs["val"],
        out=out,
        progress="off",
        callbacks=[InterruptAt(2, 3)],
        model=seeded_model(batch_norm=True),
        learning_rate=0.1,
        batch_size=32,
        **settings,
    )
    resumed = trainwise.fit(
        train=blobs["train"],
        val=blobs["val"],
        out=out,
        resume=True,
        progress="off",
        model=seeded_model(batch_norm=True),
        learning_rate=0.1,
        batch_size=32,
        **settings,
    )
    assert_same(resumed.model.state_dict(), result.model.state_dict(), "swa model")
    assert without_seconds(resumed.history) == without_seconds(result.history)


@pytest.mark.parametrize(
    ("settings", "match"),
    [
        ({"accumulate_steps": 0}, "accumulate_steps"),
        ({"precision": "fp8"}, 'precision must be "32", "bf16" or "fp16"'),
        ({"ema_decay": 1.5}, "ema_decay"),
        ({"ema_decay": 0.9, "swa_start_epoch": 1}, "either ema_decay or swa_start_epoch"),
        ({"swa_start_epoch": 3}, "swa_start_epoch 3 is not before the last epoch"),
        ({"swa_lr": 0.1}, "swa_lr needs swa_start_epoch"),
    ],
)
def test_bad_feature_settings_are_config_errors(
    run_fit: RunFit, blobs: Data, settings: dict[str, Any], match: str
) -> None:
    with pytest.raises(ConfigError, match=match):
        run_fit(blobs, **settings)
