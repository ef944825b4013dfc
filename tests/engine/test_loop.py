"""The fit loop: history, best epoch, early stopping, divergence, stop flags, schedules, data paths, splits."""

from __future__ import annotations

import itertools
import json
import math
import time
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

import trainwise
from trainwise.config import RegularizationConfig
from trainwise.engine import loop as engine
from trainwise.engine.batches import LoaderBatches, TensorBatches, make_batches
from trainwise.engine.callbacks import Callback, CallbackList
from trainwise.engine.optim import build_loss
from trainwise.engine.state import Loop

Split = tuple[torch.Tensor, torch.Tensor]
Data = dict[str, Split]
RunFit = Callable[..., trainwise.FitResult]
MakeLoop = Callable[..., Loop]


def without_seconds(history: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{k: v for k, v in entry.items() if k != "seconds"} for entry in history]


def assert_same_weights(a: nn.Module, b: nn.Module | dict[str, torch.Tensor]) -> None:
    other = b if isinstance(b, dict) else b.state_dict()
    mine = a.state_dict()
    assert mine.keys() == other.keys()
    for key, value in mine.items():
        assert torch.equal(value, other[key]), key


# --- history and best epoch --------------------------------------------------------------------------------


def test_history_has_one_entry_per_epoch_with_the_documented_keys(run_fit: RunFit, blobs: Data) -> None:
    result = run_fit(blobs, metrics=["accuracy", "macro_f1"], epochs=3)
    assert [entry["epoch"] for entry in result.history] == [1, 2, 3]
    expected = {"epoch", "step", "seconds", "lr", "train_loss", "val_loss"}
    expected |= {f"{split}_{m}" for split in ("train", "val") for m in ("accuracy", "macro_f1")}
    for entry in result.history:
        assert set(entry) == expected
        assert entry["seconds"] > 0
        assert 0 <= entry["val_accuracy"] <= 1
    assert [entry["step"] for entry in result.history] == [8, 16, 24]  # 240 samples in batches of 32
    assert result.final == result.history[-1]
    assert result.stopped_reason == "completed"


def test_epoch_seconds_count_each_epoch_once(run_fit: RunFit, blobs: Data) -> None:
    """Each epoch's `seconds` is its own wall time: between the epoch's start and end hooks, at least its sleeps."""
    clock = EpochClock(sleep=0.01)
    result = run_fit(blobs, epochs=2, callbacks=[clock])
    for entry, (began, ended) in zip(result.history, clock.spans, strict=True):
        assert 8 * 0.01 <= entry["seconds"] <= ended - began  # 8 batches per epoch, each at least 10 ms


def test_regression_history_logs_rmse_and_mae_without_validation(run_fit: RunFit, linear: Data) -> None:
    result = run_fit({"train": linear["train"]}, loss="mse", validation_split=0.0, epochs=2)
    assert set(result.history[0]) == {"epoch", "step", "seconds", "lr", "train_loss", "train_rmse", "train_mae"}
    assert result.monitor == "train_loss"  # val_loss falls back to train_loss without validation


def test_logged_values_are_the_losses_of_the_model(run_fit: RunFit, blobs: Data) -> None:
    """With one full batch, epoch 1's train loss is the initial model's loss; val values are of the final model."""
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))
    x, y = blobs["train"]
    with torch.no_grad():
        initial_loss = float(nn.functional.cross_entropy(model(x), y))
    result = run_fit(blobs, model=model, optimizer="gd", batch_size="full", learning_rate=0.5, epochs=3)
    assert result.history[0]["train_loss"] == pytest.approx(initial_loss, rel=1e-6)
    val = make_batches(blobs["val"], 1024, torch.device("cpu"))
    final = engine.evaluate(
        result.model, val, build_loss("cross_entropy", RegularizationConfig()), ["accuracy"], prefix="val_"
    )
    assert final == pytest.approx({k: result.final[k] for k in final}, rel=1e-6)


@pytest.mark.parametrize(("monitor", "pick"), [("val_loss", min), ("val_accuracy", max), ("train_loss", min)])
def test_best_epoch_is_the_first_best_value_of_the_monitor(
    run_fit: RunFit, blobs: Data, monitor: str, pick: Callable[..., float]
) -> None:
    result = run_fit(blobs, monitor=monitor, epochs=5, learning_rate=0.3, optimizer="sgd")
    values = [entry[monitor] for entry in result.history]
    assert result.monitor == monitor
    assert result.best_value == pick(values)
    assert result.best_epoch == values.index(pick(values)) + 1


def test_same_seed_same_run_and_another_seed_another_run(run_fit: RunFit, blobs: Data) -> None:
    first, again, other = (run_fit(blobs, seed=seed, model={"hidden": [16], "dropout": 0.2}) for seed in (7, 7, 8))
    assert without_seconds(first.history) == without_seconds(again.history)
    assert_same_weights(first.model, again.model)
    assert without_seconds(first.history) != without_seconds(other.history)


# --- the primitives: fit is run() built from train_epoch() and evaluate() ---------------------------------------


def test_fit_equals_run_on_a_loop_built_by_hand(run_fit: RunFit, blobs: Data, make_loop: MakeLoop) -> None:
    by_hand = make_loop(blobs, epochs=2)
    engine.run(by_hand, CallbackList([]))
    result = run_fit(blobs, epochs=2, optimizer="sgd", learning_rate=0.1, seed=0)
    assert without_seconds(by_hand.state.history) == without_seconds(result.history)
    assert_same_weights(by_hand.model, result.model)
    assert by_hand.state.stopped_reason == "completed"


def test_train_epoch_and_evaluate_can_be_called_alone(blobs: Data, make_loop: MakeLoop) -> None:
    loop = make_loop(blobs)
    before = {k: v.clone() for k, v in loop.model.state_dict().items()}
    untrained = engine.evaluate(loop.model, loop.val, loop.loss, ["accuracy", "macro_f1"], prefix="val_")
    assert set(untrained) == {"val_loss", "val_accuracy", "val_macro_f1"}
    assert_same_weights(loop.model, before)  # evaluating changes nothing
    assert loop.model.training  # and leaves the mode as it was

    logs = engine.train_epoch(loop, CallbackList([]))
    assert set(logs) == {"train_loss", "train_accuracy"}
    assert loop.state.step == loop.state.batch == len(loop.train) == 8
    trained = engine.evaluate(loop.model, loop.val, loop.loss, ["accuracy"])
    assert trained["loss"] < untrained["val_loss"]


# --- early stopping ------------------------------------------------------------------------------------------


@pytest.fixture
def noisy_val(blobs: Data) -> Data:
    """Blobs whose validation labels are 30% wrong: val_loss falls, then rises as the model grows confident."""
    x, y = blobs["val"]
    wrong = y.clone()
    wrong[:18] = (wrong[:18] + 1) % 3
    return {**blobs, "val": (x, wrong)}


def early_stopping_run(run_fit: RunFit, data: Data, **early_stopping: Any) -> trainwise.FitResult:
    return run_fit(
        data, epochs=30, optimizer="sgd", learning_rate=0.02, early_stopping={"patience": 2, **early_stopping}
    )


def test_early_stopping_stops_patience_epochs_after_the_best(run_fit: RunFit, noisy_val: Data) -> None:
    result = early_stopping_run(run_fit, noisy_val)
    assert result.stopped_reason == "early_stopping"
    assert 1 < result.best_epoch < len(result.history)  # the setup puts the best epoch in the middle
    assert len(result.history) == result.best_epoch + 2
    best = result.history[result.best_epoch - 1]["val_loss"]
    assert all(entry["val_loss"] >= best for entry in result.history[result.best_epoch :])


def test_restore_best_gives_the_best_epochs_weights(run_fit: RunFit, noisy_val: Data) -> None:
    result = early_stopping_run(run_fit, noisy_val)
    assert result.weights_epoch == result.best_epoch
    assert result.kept == result.history[result.best_epoch - 1]
    saved = torch.load(result.run_dir / "checkpoints" / "best.pt", weights_only=True)
    assert saved["epoch"] == result.best_epoch
    assert_same_weights(result.model, saved["model"])
    shorter = run_fit(noisy_val, epochs=result.best_epoch, optimizer="sgd", learning_rate=0.02)  # stopped there
    assert_same_weights(result.model, shorter.model)


def test_without_restore_best_the_last_weights_stay(run_fit: RunFit, noisy_val: Data) -> None:
    result = early_stopping_run(run_fit, noisy_val, restore_best=False)
    assert result.weights_epoch is None
    assert result.kept == result.final
    last = torch.load(result.run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert_same_weights(result.model, last["model"])


def test_test_metrics_come_from_the_kept_model_and_never_choose_the_best(run_fit: RunFit, noisy_val: Data) -> None:
    x, y = noisy_val["test"]
    plain = early_stopping_run(run_fit, {"train": noisy_val["train"], "val": noisy_val["val"]})
    tested = early_stopping_run(run_fit, noisy_val)
    mislabeled = early_stopping_run(run_fit, {**noisy_val, "test": (x, (y + 2) % 3)})
    assert plain.test is None
    for result in (tested, mislabeled):
        assert without_seconds(result.history) == without_seconds(plain.history)
        assert result.best_epoch == plain.best_epoch
        assert not any(key.startswith("test") for entry in result.history for key in entry)
    assert tested.test is not None and mislabeled.test is not None
    assert set(tested.test) == {"loss", "accuracy"}
    test = make_batches(noisy_val["test"], 1024, torch.device("cpu"))
    assert tested.test == pytest.approx(
        engine.evaluate(tested.model, test, build_loss("cross_entropy", RegularizationConfig()), ["accuracy"])
    )
    assert mislabeled.test["accuracy"] < tested.test["accuracy"]


# --- divergence ----------------------------------------------------------------------------------------------


class NaNAtStep(nn.Module):
    """A linear classifier whose output turns NaN on its `step`-th training forward pass."""

    def __init__(self, step: int) -> None:
        super().__init__()
        torch.manual_seed(0)
        self.linear = nn.Linear(8, 3)
        self.step, self.calls = step, 0

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        out = self.linear(x)
        if self.training:
            self.calls += 1
            if self.calls == self.step:
                return out * math.nan
        return out


class Snapshots(Callback):
    def __init__(self) -> None:
        self.weights: list[dict[str, torch.Tensor]] = []

    def on_epoch_end(self, loop: Loop) -> None:
        self.weights.append({k: v.clone() for k, v in loop.model.state_dict().items()})


def test_divergence_stops_at_the_step_and_keeps_the_last_good_checkpoint(run_fit: RunFit, blobs: Data) -> None:
    snapshots = Snapshots()
    result = run_fit(blobs, model=NaNAtStep(13), callbacks=[snapshots], epochs=5, optimizer="sgd", learning_rate=0.1)
    assert result.stopped_reason == "diverged"
    assert result.diverged_step == 13  # the 5th batch of epoch 2
    assert len(result.history) == 2
    assert math.isnan(result.final["train_loss"])
    assert "val_loss" not in result.final
    assert result.test is None

    folder = result.run_dir / "checkpoints"
    last = torch.load(folder / "last.pt", weights_only=True)
    assert last["position"]["epoch"] == 1
    for key, value in last["model"].items():
        assert torch.isfinite(value).all()
        assert torch.equal(value, snapshots.weights[0][key])
    assert torch.load(folder / "best.pt", weights_only=True)["epoch"] == 1

    lines = (result.run_dir / "history.jsonl").read_text().splitlines()
    assert len(lines) == 2
    assert json.loads(lines[1])["train_loss"] is None  # NaN is written as null
    summary = json.loads((result.run_dir / "summary.json").read_text())
    assert summary["stopped_reason"] == "diverged"
    assert summary["diverged_step"] == 13


def test_a_huge_learning_rate_diverges_on_regression(run_fit: RunFit, linear: Data) -> None:
    result = run_fit(linear, loss="mse", optimizer="sgd", learning_rate=1e6, epochs=5)
    assert result.stopped_reason == "diverged"
    assert result.diverged_step is not None
    assert len(result.history) == 1 + (result.diverged_step - 1) // 8  # 8 batches per epoch
    assert math.isnan(result.final["train_loss"])
    assert result.final["step"] == result.diverged_step - 1  # the NaN step was not taken


# --- stop flag -----------------------------------------------------------------------------------------------


class StopAt(Callback):
    """Sets the stop flag at the end of an epoch, or after a step mid-epoch."""

    def __init__(self, epoch: int | None = None, step: int | None = None) -> None:
        self.epoch, self.step = epoch, step
        self.calls: list[str] = []

    def on_epoch_end(self, loop: Loop) -> None:
        if loop.state.epoch == self.epoch:
            loop.state.stop, loop.state.stopped_reason = True, "enough"

    def on_batch_end(self, loop: Loop) -> None:
        if loop.state.step == self.step:
            loop.state.stop = True

    def on_fit_end(self, loop: Loop) -> None:
        self.calls.append("fit_end")


def test_a_callback_stop_flag_ends_the_run_after_that_epoch(run_fit: RunFit, blobs: Data) -> None:
    stopper = StopAt(epoch=2)
    result = run_fit(blobs, callbacks=[stopper], epochs=6)
    assert len(result.history) == 2
    assert result.stopped_reason == "enough"
    assert stopper.calls == ["fit_end"]
    last = torch.load(result.run_dir / "checkpoints" / "last.pt", weights_only=True)
    assert last["position"] == {"epoch": 2, "batch": 0, "step": 16}


def test_a_stop_flag_mid_epoch_ends_the_run_at_that_step(run_fit: RunFit, blobs: Data) -> None:
    stopper = StopAt(step=11)
    snapshots = Snapshots()
    result = run_fit(blobs, callbacks=[stopper, snapshots], epochs=6)
    assert len(result.history) == 1  # the partial second epoch is not logged
    assert result.stopped_reason == "callback"  # not "completed": the flag alone says the run was cut short
    assert stopper.calls == ["fit_end"]
    assert len(snapshots.weights) == 1


# --- learning rate schedules ----------------------------------------------------------------------------------


def logged_rates(result: trainwise.FitResult) -> list[float]:
    return [entry["lr"] for entry in result.history]


@pytest.mark.parametrize(
    ("schedule", "factors"),
    [
        ({"name": "none"}, [1, 1, 1, 1, 1]),
        ({"name": "step", "step_size": 1, "gamma": 0.5}, [1, 0.5, 0.25, 0.125, 0.0625]),
        ({"name": "step", "step_size": 2, "gamma": 0.5}, [1, 1, 0.5, 0.5, 0.25]),
        ({"name": "exponential", "gamma": 0.9}, [1, 0.9, 0.81, 0.729, 0.6561]),
    ],
    ids=["none", "step-halves", "step-every-2", "exponential"],
)
def test_lr_is_logged_every_epoch_and_follows_an_epoch_schedule(
    run_fit: RunFit, blobs: Data, schedule: dict[str, Any], factors: list[float]
) -> None:
    result = run_fit(blobs, epochs=5, optimizer="sgd", learning_rate=0.08, schedule=schedule)
    assert logged_rates(result) == pytest.approx([0.08 * f for f in factors], rel=1e-9)


class BatchRates(Callback):
    def __init__(self) -> None:
        self.rates: list[float] = []

    def on_batch_end(self, loop: Loop) -> None:
        self.rates.append(loop.lr)


def test_cosine_warms_up_then_decays_to_the_floor(run_fit: RunFit, blobs: Data) -> None:
    rates = BatchRates()
    schedule = {"name": "cosine", "warmup_epochs": 1, "min_lr": 0.001}
    result = run_fit(blobs, epochs=4, optimizer="sgd", learning_rate=0.1, schedule=schedule, callbacks=[rates])
    warmup, decay = rates.rates[:7], rates.rates[7:]  # 8 steps per epoch; the 8th step ends the warmup
    assert all(a < b for a, b in itertools.pairwise(warmup)) and warmup[-1] < 0.1
    assert rates.rates[7] == pytest.approx(0.1)
    assert all(a > b for a, b in itertools.pairwise(decay))
    assert logged_rates(result)[0] == pytest.approx(0.1)
    assert logged_rates(result)[-1] == pytest.approx(0.001)


def test_onecycle_peaks_at_max_lr(run_fit: RunFit, blobs: Data) -> None:
    rates = BatchRates()
    schedule = {"name": "onecycle", "max_lr": 0.2}
    run_fit(blobs, epochs=4, optimizer="sgd", learning_rate=0.02, schedule=schedule, callbacks=[rates])
    peak = rates.rates.index(max(rates.rates))
    assert max(rates.rates) == pytest.approx(0.2, rel=0.02)
    assert 0 < peak < len(rates.rates) - 1
    assert rates.rates[-1] < 0.01


def test_plateau_halves_the_lr_when_the_monitor_stops_improving(run_fit: RunFit, noisy_val: Data) -> None:
    schedule = {"name": "plateau", "patience": 0, "factor": 0.5}
    result = run_fit(noisy_val, epochs=8, optimizer="sgd", learning_rate=0.05, schedule=schedule)
    rates, losses = logged_rates(result), [entry["val_loss"] for entry in result.history]
    assert rates[0] == 0.05
    assert any(b < a for a, b in itertools.pairwise(rates))  # the noisy labels make a plateau
    for epoch in range(1, len(rates)):
        improved = losses[epoch - 1] < min(losses[: epoch - 1], default=math.inf) * (1 - 1e-4)
        assert rates[epoch] == pytest.approx(rates[epoch - 1] * (1 if improved else 0.5))


# --- the DataLoader path -----------------------------------------------------------------------------------------


class Pairs(Dataset[tuple[torch.Tensor, torch.Tensor]]):
    """A plain map-style Dataset (not a TensorDataset), so fit must take the DataLoader path."""

    def __init__(self, x: torch.Tensor, y: torch.Tensor) -> None:
        self.x, self.y = x, y

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, index: int) -> tuple[torch.Tensor, torch.Tensor]:
        return self.x[index], self.y[index]


def dropout_net() -> nn.Module:
    torch.manual_seed(1)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Dropout(0.3), nn.Linear(16, 3))


def test_a_dataset_goes_through_a_dataloader() -> None:
    x, y = torch.zeros(10, 2), torch.zeros(10)
    cpu = torch.device("cpu")
    assert isinstance(make_batches(Pairs(x, y), 4, cpu), LoaderBatches)
    assert isinstance(make_batches((x, y), 4, cpu), TensorBatches)
    assert isinstance(make_batches(torch.utils.data.TensorDataset(x, y), 4, cpu), TensorBatches)


def test_the_dataloader_path_trains_exactly_like_the_tensor_path(run_fit: RunFit, blobs: Data) -> None:
    """Same seed, same batches in the same order, same dropout masks: the same weights, bit for bit."""
    wrapped = {name: Pairs(*split) for name, split in blobs.items()}
    fast = run_fit(blobs, model=dropout_net(), epochs=3, batch_size=24)
    loader = run_fit(wrapped, model=dropout_net(), epochs=3, batch_size=24)
    assert without_seconds(loader.history) == without_seconds(fast.history)
    assert loader.test == fast.test
    assert_same_weights(loader.model, fast.model)


def test_the_dataloader_path_carves_the_same_validation_split(run_fit: RunFit, linear: Data) -> None:
    """For regression targets the split is not stratified, so a Dataset and tensors hold out the same rows."""
    x, y = linear["train"]
    torch.manual_seed(2)
    model = nn.Linear(8, 1)
    fast = run_fit({"train": (x, y)}, model=model, loss="mse", validation_split=0.25)
    torch.manual_seed(2)
    model = nn.Linear(8, 1)
    loader = run_fit({"train": Pairs(x, y)}, model=model, loss="mse", validation_split=0.25)
    assert without_seconds(loader.history) == without_seconds(fast.history)


# --- the validation split --------------------------------------------------------------------------------------


class SeeData(Callback):
    def __init__(self) -> None:
        self.train: torch.Tensor | None = None
        self.val: torch.Tensor | None = None

    def on_fit_start(self, loop: Loop) -> None:
        assert isinstance(loop.train, TensorBatches) and isinstance(loop.val, TensorBatches)
        self.train, self.val = loop.train.x.clone(), loop.val.x.clone()


def held_out(run_fit: RunFit, data: Data, **settings: Any) -> SeeData:
    seen = SeeData()
    run_fit({"train": data["train"]}, callbacks=[seen], epochs=1, validation_split=0.25, **settings)
    return seen


def test_validation_split_depends_on_split_seed_only(run_fit: RunFit, blobs: Data) -> None:
    first = held_out(run_fit, blobs, seed=0)
    again = held_out(run_fit, blobs, seed=5, learning_rate=0.1)  # another run seed: the same split
    other = held_out(run_fit, blobs, seed=0, split_seed=1)
    assert first.val is not None and first.train is not None
    assert len(first.val) == 60 and len(first.train) == 180
    assert torch.equal(first.val, again.val)
    assert not torch.equal(first.val, other.val)
    rows = {tuple(row.tolist()) for row in blobs["train"][0]}
    carved = {tuple(row.tolist()) for row in torch.cat([first.train, first.val])}
    assert carved == rows and len(rows) == 240  # a partition: every sample exactly once


def test_validation_split_is_stratified_for_class_labels(run_fit: RunFit, blobs: Data) -> None:
    seen = SeeData()
    result = run_fit({"train": blobs["train"]}, callbacks=[seen], epochs=1, validation_split=0.25)
    assert "val_loss" in result.final
    assert seen.val is not None
    x, y = blobs["train"]
    labels = [int(y[(x == row).all(dim=1)][0]) for row in seen.val]
    assert sorted(labels.count(k) for k in range(3)) == [20, 20, 20]


class EpochClock(Callback):
    """Sleeps `sleep` seconds each step and records each epoch's (start, end) as the hooks see them."""

    def __init__(self, sleep: float) -> None:
        self.sleep = sleep
        self.spans: list[tuple[float, float]] = []

    def on_epoch_start(self, loop: Loop) -> None:
        self.began = time.perf_counter()

    def on_batch_end(self, loop: Loop) -> None:
        time.sleep(self.sleep)

    def on_epoch_end(self, loop: Loop) -> None:
        self.spans.append((self.began, time.perf_counter()))
