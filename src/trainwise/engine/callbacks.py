"""The callback protocol and the built-in callbacks: early stopping, checkpoints, history.

A callback gets the `Loop` (model, optimizer, state with its `logs` and `stop` flag) at five moments. Only
callbacks that override `on_batch_end` are called per batch, so the hot loop pays nothing for the others.
A callback that must survive a resume returns its state from `state_dict`.
"""

from __future__ import annotations

import json
import math
import os
from pathlib import Path
from typing import Any

import torch

from trainwise import atomic
from trainwise.engine import checkpoint
from trainwise.engine.direction import higher_is_better
from trainwise.engine.state import Loop


class Callback:
    """Override any of the hooks; the loop calls them in order, with the run's `Loop`."""

    def on_fit_start(self, loop: Loop) -> None:
        """Before the first batch (also after a resume)."""

    def on_epoch_start(self, loop: Loop) -> None:
        """Before an epoch's first batch (also when resuming mid-epoch)."""

    def on_batch_end(self, loop: Loop) -> None:
        """After each optimizer step; keep it cheap."""

    def on_epoch_end(self, loop: Loop) -> None:
        """After validation; `loop.state.logs` holds the epoch's values. Set `loop.state.stop` to stop."""

    def on_fit_end(self, loop: Loop) -> None:
        """After the last epoch, an early stop, a divergence or an interrupt."""

    def state_dict(self) -> dict[str, Any] | None:
        """What this callback needs to continue exactly after a resume (None: nothing)."""
        return None

    def load_state_dict(self, state: dict[str, Any]) -> None:
        """Take back what `state_dict` returned."""


class CallbackList:
    """Calls each hook on every callback; per-batch only on those that override `on_batch_end`."""

    def __init__(self, callbacks: list[Callback]) -> None:
        self.callbacks = callbacks
        self.per_batch = [cb for cb in callbacks if type(cb).on_batch_end is not Callback.on_batch_end]

    def add(self, callback: Callback) -> None:
        self.callbacks.append(callback)
        self.per_batch = [cb for cb in self.callbacks if type(cb).on_batch_end is not Callback.on_batch_end]

    def __iter__(self) -> Any:
        return iter(self.callbacks)

    def on_fit_start(self, loop: Loop) -> None:
        for cb in self.callbacks:
            cb.on_fit_start(loop)

    def on_epoch_start(self, loop: Loop) -> None:
        for cb in self.callbacks:
            cb.on_epoch_start(loop)

    def on_batch_end(self, loop: Loop) -> None:
        for cb in self.per_batch:
            cb.on_batch_end(loop)

    def on_epoch_end(self, loop: Loop) -> None:
        for cb in self.callbacks:
            cb.on_epoch_end(loop)

    def on_fit_end(self, loop: Loop) -> None:
        for cb in self.callbacks:
            cb.on_fit_end(loop)

    def states(self) -> dict[str, Any]:
        """Each stateful callback's state, keyed by position and class so a resume matches them up."""
        keyed = ((f"{i}:{type(cb).__name__}", cb.state_dict()) for i, cb in enumerate(self.callbacks))
        return {key: state for key, state in keyed if state is not None}

    def load_states(self, states: dict[str, Any]) -> None:
        for i, cb in enumerate(self.callbacks):
            state = states.get(f"{i}:{type(cb).__name__}")
            if state is not None:
                cb.load_state_dict(state)


def improved(value: float, best: float | None, maximize: bool, min_delta: float = 0.0) -> bool:
    """Whether `value` beats `best` by more than `min_delta` in the right direction (NaN never does)."""
    if math.isnan(value):
        return False
    if best is None:
        return True
    return value > best + min_delta if maximize else value < best - min_delta


class EarlyStopping(Callback):
    """Stop after `patience` epochs without improvement of `monitor`; optionally restore the best weights."""

    def __init__(
        self,
        monitor: str = "val_loss",
        mode: str = "auto",
        patience: int = 3,
        min_delta: float = 0.0,
        restore_best: bool = True,
    ) -> None:
        self.monitor, self.patience, self.min_delta, self.restore_best = (
            monitor,
            patience,
            min_delta,
            restore_best,
        )
        self.maximize = higher_is_better(monitor) if mode == "auto" else mode == "max"
        self.best: float | None = None
        self.best_epoch: int | None = None
        self.wait = 0
        self.best_weights: dict[str, torch.Tensor] | None = None

    def on_epoch_end(self, loop: Loop) -> None:
        value = loop.state.logs.get(self.monitor)
        if value is None or loop.state.stopped_reason == "diverged":
            return
        if improved(float(value), self.best, self.maximize, self.min_delta):
            self.best, self.best_epoch, self.wait = float(value), loop.state.logs["epoch"], 0
            if self.restore_best:
                self.best_weights = {k: v.detach().clone() for k, v in loop.eval_model.state_dict().items()}
            return
        self.wait += 1
        if self.wait >= self.patience and not loop.state.stop:
            loop.state.stop = True
            loop.state.stopped_reason = "early_stopping"

    def on_fit_end(self, loop: Loop) -> None:
        if self.restore_best and self.best_weights is not None and loop.state.stopped_reason != "interrupted":
            loop.eval_model.load_state_dict(self.best_weights)
            loop.state.weights_epoch = self.best_epoch

    def state_dict(self) -> dict[str, Any]:
        return {"best": self.best, "best_epoch": self.best_epoch, "wait": self.wait, "best_weights": self.best_weights}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.best, self.best_epoch, self.wait = state["best"], state["best_epoch"], state["wait"]
        self.best_weights = state["best_weights"]


class Checkpoint(Callback):
    """Writes `last.pt` (full state) at every epoch end and `best.pt` (weights) when the monitor improves.

    Never after a divergence, so the last good checkpoint survives; on an interrupt it saves mid-epoch.
    """

    def __init__(self, folder: str | Path, callbacks: CallbackList, extra: dict[str, Any] | None = None) -> None:
        self.folder = Path(folder)
        self.callbacks = callbacks
        self.extra = extra or {}

    def save_last(self, loop: Loop) -> None:
        data = checkpoint.capture(loop, self.callbacks.states(), self.extra)
        checkpoint.atomic_save(data, self.folder / "last.pt")

    def on_epoch_end(self, loop: Loop) -> None:
        if loop.state.stopped_reason == "diverged":
            return
        self.save_last(loop)
        if loop.state.best_epoch == loop.state.epoch:
            best = {
                "format": checkpoint.FORMAT,
                "model": loop.eval_model.state_dict(),
                "epoch": loop.state.epoch,
                "monitor": loop.monitor,
                "value": loop.state.best_value,
                **self.extra,
            }
            checkpoint.atomic_save(best, self.folder / "best.pt")

    def on_fit_end(self, loop: Loop) -> None:
        if loop.state.stopped_reason == "interrupted":
            self.save_last(loop)


class StepCheckpoint(Checkpoint):
    """A Checkpoint that also saves `last.pt` every `every_steps` optimizer steps, mid-epoch included."""

    def __init__(
        self,
        folder: str | Path,
        callbacks: CallbackList,
        every_steps: int,
        extra: dict[str, Any] | None = None,
    ) -> None:
        super().__init__(folder, callbacks, extra)
        self.every_steps = every_steps

    def on_batch_end(self, loop: Loop) -> None:
        at_step = loop.state.batch % loop.accumulate_steps == 0  # a step was just taken (not mid-accumulation)
        if at_step and loop.state.step % self.every_steps == 0 and loop.state.batch < len(loop.train):
            self.save_last(loop)


class HistoryFile(Callback):
    """Appends one JSON line per epoch to `history.jsonl`; on a resume, rewrites it from the checkpoint."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)

    def on_fit_start(self, loop: Loop) -> None:
        tmp = self.path.with_suffix(".jsonl.tmp")
        tmp.write_text("".join(json.dumps(_plain(e)) + "\n" for e in loop.state.history), encoding="utf-8")
        os.replace(tmp, self.path)

    def on_epoch_end(self, loop: Loop) -> None:
        with self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(_plain(loop.state.logs)) + "\n")
            handle.flush()
            atomic.fsync(handle.fileno())


def _plain(logs: dict[str, Any]) -> dict[str, Any]:
    """JSON has no NaN/Infinity: write them as null so every reader can parse the file."""
    return {k: (None if isinstance(v, float) and not math.isfinite(v) else v) for k, v in logs.items()}
