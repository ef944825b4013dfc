"""Callbacks: hook order, who runs per batch, early stopping's decisions, state round-trips, history.jsonl."""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import torch

import trainwise
from trainwise.engine import loop as engine
from trainwise.engine.callbacks import Callback, CallbackList, EarlyStopping, HistoryFile, improved
from trainwise.engine.state import Loop

Data = dict[str, tuple[torch.Tensor, torch.Tensor]]
RunFit = Callable[..., trainwise.FitResult]
MakeLoop = Callable[..., Loop]


class Recorder(Callback):
    """Appends (name, hook, epoch, step) to a shared log at every hook."""

    def __init__(self, log: list[tuple[str, str, int, int]], name: str = "rec") -> None:
        self.log, self.name = log, name

    def note(self, hook: str, loop: Loop) -> None:
        self.log.append((self.name, hook, loop.state.epoch, loop.state.step))

    def on_fit_start(self, loop: Loop) -> None:
        self.note("fit_start", loop)

    def on_epoch_start(self, loop: Loop) -> None:
        self.note("epoch_start", loop)

    def on_batch_end(self, loop: Loop) -> None:
        self.note("batch_end", loop)

    def on_epoch_end(self, loop: Loop) -> None:
        self.note("epoch_end", loop)

    def on_fit_end(self, loop: Loop) -> None:
        self.note("fit_end", loop)


def test_hooks_run_in_order_with_the_loop_position(blobs: Data, make_loop: MakeLoop) -> None:
    log: list[tuple[str, str, int, int]] = []
    loop = make_loop(blobs, epochs=2)
    engine.run(loop, CallbackList([Recorder(log)]))
    expected = [("rec", "fit_start", 0, 0)]
    for epoch in range(2):
        expected.append(("rec", "epoch_start", epoch, 8 * epoch))
        expected += [("rec", "batch_end", epoch, 8 * epoch + i) for i in range(1, 9)]
        expected.append(("rec", "epoch_end", epoch + 1, 8 * (epoch + 1)))
    expected.append(("rec", "fit_end", 2, 16))
    assert log == expected


def test_callbacks_run_in_list_order_at_each_hook(blobs: Data, make_loop: MakeLoop) -> None:
    log: list[tuple[str, str, int, int]] = []
    loop = make_loop(blobs, epochs=1)
    engine.run(loop, CallbackList([Recorder(log, "a"), Recorder(log, "b")]))
    names = [name for name, *_ in log]
    assert names == ["a", "b"] * (len(log) // 2)


class EpochOnly(Callback):
    def on_epoch_end(self, loop: Loop) -> None:
        pass


def test_only_callbacks_that_override_on_batch_end_run_per_batch() -> None:
    quiet, busy = EpochOnly(), Recorder([])
    callbacks = CallbackList([quiet])
    assert callbacks.per_batch == []
    callbacks.add(busy)
    assert callbacks.per_batch == [busy]
    assert list(callbacks) == [quiet, busy]


class SeeLogs(Callback):
    def __init__(self) -> None:
        self.seen: list[dict[str, Any]] = []
        self.reasons: list[str | None] = []

    def on_epoch_end(self, loop: Loop) -> None:
        assert loop.state.logs is loop.state.history[-1]
        self.seen.append(dict(loop.state.logs))
        self.reasons.append(loop.state.stopped_reason)


def test_user_callbacks_see_the_epoch_logs_after_early_stopping_decided(run_fit: RunFit, blobs: Data) -> None:
    seen = SeeLogs()
    result = run_fit(blobs, callbacks=[seen], epochs=10, early_stopping={"monitor": "lr", "patience": 1})
    assert seen.seen == result.history
    assert len(result.history) == 2  # lr never improves, so it stops after one epoch of patience
    assert seen.reasons == [None, "early_stopping"]


# --- early stopping, fed values by hand ------------------------------------------------------------------------


def feed(stopper: EarlyStopping, loop: Loop, values: list[float]) -> list[bool]:
    """Ends one epoch per value and returns the stop flag after each."""
    flags = []
    for value in values:
        loop.state.epoch += 1
        loop.state.logs = {"epoch": loop.state.epoch, "val_loss": value, "val_accuracy": value}
        stopper.on_epoch_end(loop)
        flags.append(loop.state.stop)
    return flags


@pytest.mark.parametrize(
    ("settings", "values", "flags", "best_epoch"),
    [
        ({"patience": 2}, [1.0, 0.9, 0.95, 0.91], [False, False, False, True], 2),
        ({"patience": 2}, [1.0, 0.9, 0.95, 0.8, 0.85, 0.85], [False] * 5 + [True], 4),
        ({"patience": 0}, [1.0, 1.0], [False, True], 1),
        ({"patience": 1, "min_delta": 0.05}, [1.0, 0.94, 0.92], [False, False, True], 2),
        ({"patience": 1, "monitor": "val_accuracy"}, [0.5, 0.6, 0.55], [False, False, True], 2),
        ({"patience": 1, "mode": "max"}, [0.5, 0.6, 0.55], [False, False, True], 2),
        ({"patience": 2}, [math.nan, 1.0, math.nan, math.nan], [False, False, False, True], 2),
    ],
    ids=["patience", "patience-resets", "zero-patience", "min-delta", "auto-max", "explicit-max", "nan-never-best"],
)
def test_early_stopping_decisions(
    blobs: Data,
    make_loop: MakeLoop,
    settings: dict[str, Any],
    values: list[float],
    flags: list[bool],
    best_epoch: int,
) -> None:
    stopper = EarlyStopping(**settings)
    loop = make_loop(blobs)
    got = feed(stopper, loop, values)
    assert got == flags
    assert stopper.best_epoch == best_epoch
    assert loop.state.stopped_reason == "early_stopping"


def test_early_stopping_ignores_a_diverged_epoch(blobs: Data, make_loop: MakeLoop) -> None:
    stopper = EarlyStopping(patience=0)
    loop = make_loop(blobs)
    feed(stopper, loop, [1.0])
    loop.state.stop, loop.state.stopped_reason = True, "diverged"
    feed(stopper, loop, [2.0])
    assert loop.state.stopped_reason == "diverged"
    assert stopper.wait == 0


def test_early_stopping_restores_the_best_weights_unless_interrupted(blobs: Data, make_loop: MakeLoop) -> None:
    loop = make_loop(blobs)
    stopper = EarlyStopping(patience=5)
    feed(stopper, loop, [1.0])
    best = {k: v.clone() for k, v in loop.model.state_dict().items()}
    with torch.no_grad():
        for p in loop.model.parameters():
            p.add_(1.0)
    feed(stopper, loop, [2.0])
    moved = {k: v.clone() for k, v in loop.model.state_dict().items()}

    loop.state.stopped_reason = "interrupted"
    stopper.on_fit_end(loop)
    assert all(torch.equal(v, moved[k]) for k, v in loop.model.state_dict().items())
    loop.state.stopped_reason = "completed"
    stopper.on_fit_end(loop)
    assert all(torch.equal(v, best[k]) for k, v in loop.model.state_dict().items())
    assert loop.state.weights_epoch == 1


def test_early_stopping_state_round_trip_continues_identically(blobs: Data, make_loop: MakeLoop) -> None:
    values = [1.0, 0.8, 0.9, 0.95, 0.7, 0.75, 0.72, 0.71]
    whole, first, resumed = EarlyStopping(patience=3), EarlyStopping(patience=3), EarlyStopping(patience=3)
    loop_a, loop_b = make_loop(blobs), make_loop(blobs)
    flags = feed(whole, loop_a, values)
    feed(first, loop_b, values[:3])
    resumed.load_state_dict(first.state_dict())
    assert feed(resumed, loop_b, values[3:]) == flags[3:]
    assert resumed.state_dict().keys() == whole.state_dict().keys()
    assert (resumed.best, resumed.best_epoch, resumed.wait) == (whole.best, whole.best_epoch, whole.wait)


class Counter(Callback):
    def __init__(self, count: int = 0) -> None:
        self.count = count

    def on_epoch_end(self, loop: Loop) -> None:
        self.count += 1

    def state_dict(self) -> dict[str, Any]:
        return {"count": self.count}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.count = state["count"]


def test_callback_list_states_match_callbacks_by_position_and_class() -> None:
    saved = CallbackList([EpochOnly(), Counter(3), Counter(5)]).states()
    assert saved == {"1:Counter": {"count": 3}, "2:Counter": {"count": 5}}  # stateless callbacks are left out
    fresh = [EpochOnly(), Counter(), Counter()]
    CallbackList(fresh).load_states(saved)
    assert [getattr(cb, "count", None) for cb in fresh] == [None, 3, 5]
    shifted = [Counter(), EpochOnly(), Counter()]
    CallbackList(shifted).load_states(saved)
    assert [getattr(cb, "count", None) for cb in shifted] == [0, None, 5]


@pytest.mark.parametrize(
    ("value", "best", "maximize", "min_delta", "expected"),
    [
        (1.0, None, False, 0.0, True),
        (math.nan, None, False, 0.0, False),
        (0.9, 1.0, False, 0.0, True),
        (1.0, 1.0, False, 0.0, False),
        (0.95, 1.0, False, 0.1, False),
        (1.1, 1.0, True, 0.0, True),
        (0.9, 1.0, True, 0.0, False),
    ],
)
def test_improved(value: float, best: float | None, maximize: bool, min_delta: float, expected: bool) -> None:
    assert improved(value, best, maximize, min_delta) is expected


# --- history.jsonl ---------------------------------------------------------------------------------------------


def read_jsonl(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines()]


def test_history_file_has_one_json_line_per_epoch(run_fit: RunFit, blobs: Data) -> None:
    result = run_fit(blobs, epochs=3)
    assert read_jsonl(result.run_dir / "history.jsonl") == result.history


def test_history_file_starts_from_the_loops_history_and_writes_nan_as_null(
    tmp_path: Path, blobs: Data, make_loop: MakeLoop
) -> None:
    path = tmp_path / "history.jsonl"
    path.write_text('{"stale": 1}\n{"stale": 2}\n{"stale": 3}\n', encoding="utf-8")
    loop = make_loop(blobs)
    loop.state.history = [{"epoch": 1, "train_loss": 0.5}]
    writer = HistoryFile(path)
    writer.on_fit_start(loop)
    assert read_jsonl(path) == [{"epoch": 1, "train_loss": 0.5}]
    loop.state.logs = {"epoch": 2, "train_loss": math.nan, "val_loss": math.inf, "lr": 0.1}
    writer.on_epoch_end(loop)
    assert read_jsonl(path)[-1] == {"epoch": 2, "train_loss": None, "val_loss": None, "lr": 0.1}
    assert not path.with_suffix(".jsonl.tmp").exists()
