"""Runs that the finder commands (compare, learning-curve, batch-size) are made of: one `fit` each, scored alike.

Every trial trains on the same, already loaded data splits (so every run sees the same validation set) and is
scored by the recipe's first metric on validation. A time budget stops a run after any optimizer step; the
model is then evaluated as it stands, so a budget never loses the last partial epoch.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from trainwise.config import Recipe
from trainwise.engine.callbacks import Callback
from trainwise.engine.direction import higher_is_better
from trainwise.engine.state import Loop
from trainwise.errors import ConfigError
from trainwise.tasks import TaskData

UNTIL_BUDGET = 1_000_000  # epochs of a run that a time budget ends


class TimeBudget(Callback):
    """Stop a run once it has spent `seconds` in training steps (checked after each step).

    Validation and checkpoint writes between epochs do not count: a batch size with many short epochs is not
    charged for evaluating more often.
    """

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.used = 0.0
        self.epoch_began = 0.0
        self.last_step = 0.0

    def on_epoch_start(self, loop: Loop) -> None:
        self.epoch_began = self.last_step = time.perf_counter()

    def on_batch_end(self, loop: Loop) -> None:
        self.last_step = time.perf_counter()
        if self.used + self.last_step - self.epoch_began >= self.seconds:
            loop.state.stop = True
            loop.state.stopped_reason = "budget"

    def on_epoch_end(self, loop: Loop) -> None:
        self.used += self.last_step - self.epoch_began


@dataclass
class Trial:
    """One finished run: its label and seed, its history, and its validation score at the end."""

    label: str
    seed: int
    history: list[dict[str, Any]]
    score: float  # the validation metric of the weights the run ended with
    seconds: float  # wall clock of training
    stopped: str
    run_dir: Path


def score_key(recipe: Recipe) -> str:
    """The logged value a trial is scored by: `val_<first metric>` (e.g. val_accuracy, val_rmse)."""
    return f"val_{recipe.metrics[0]}" if recipe.metrics else "val_loss"


def need_validation(data: TaskData, command: str) -> None:
    """Commands that compare runs score them on validation data: refuse a recipe without any."""
    if data.val is None:
        raise ConfigError(
            f"{command} scores runs on validation data, and this recipe has none; set data.validation_split > 0",
            key="data.validation_split",
        )


def run_trial(
    recipe: Recipe,
    data: TaskData,
    *,
    label: str,
    seed: int,
    out: Path,
    budget: float | None = None,
    train: Any = None,
    model: nn.Module | None = None,
) -> Trial:
    """Train the recipe with `seed` on `train` (default: the data's training split), scored on its validation.

    Built like `fit` (the same checks and model), run by the engine's loop with early stopping when the recipe
    asks for it; `out` gets the run's config.toml and history.jsonl but no checkpoints (trials are not resumed,
    and a checkpoint per epoch would dominate the time of small batch-size trials).
    """
    from trainwise import rundir
    from trainwise.engine import loop
    from trainwise.engine.callbacks import CallbackList, EarlyStopping, HistoryFile
    from trainwise.prepare import prepare

    if budget is not None:  # the budget, not the epoch count, ends the run
        recipe = recipe.model_copy(update={"epochs": UNTIL_BUDGET})
    recipe = recipe.model_copy(update={"seed": seed})
    prepared = prepare(recipe, model=model, train=data.train if train is None else train, val=data.val)
    out.mkdir(parents=True, exist_ok=True)
    rundir.write_config(out, recipe)
    callbacks: list[Callback] = [TimeBudget(budget)] if budget is not None else []
    if recipe.early_stopping is not None:
        es = recipe.early_stopping
        callbacks.append(EarlyStopping(es.monitor, es.mode, es.patience, es.min_delta, es.restore_best))
    callbacks.append(HistoryFile(out / "history.jsonl"))
    began = time.perf_counter()
    state = loop.run(prepared.loop, CallbackList(callbacks)).state
    seconds = time.perf_counter() - began
    key = score_key(recipe)
    kept = state.history[state.weights_epoch - 1] if state.weights_epoch else (state.history or [{}])[-1]
    value = kept.get(key)
    if state.stopped_reason == "budget":  # stopped mid-epoch: score the weights as they are now, as an epoch would
        value = loop.validate(prepared.loop).get(key)
    score = float(value) if value is not None and math.isfinite(value) else math.nan
    return Trial(label, seed, state.history, score, seconds, state.stopped_reason or "completed", out)


def better(a: float, b: float, key: str) -> bool:
    """Whether score `a` beats `b` (NaN never does)."""
    if math.isnan(a):
        return False
    return math.isnan(b) or (a > b if higher_is_better(key) else a < b)
