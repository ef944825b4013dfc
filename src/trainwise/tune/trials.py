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
from trainwise.engine.batches import make_batches
from trainwise.engine.callbacks import Callback
from trainwise.engine.metrics import higher_is_better
from trainwise.engine.optim import build_loss
from trainwise.engine.state import Loop
from trainwise.errors import ConfigError
from trainwise.tasks import TaskData


class TimeBudget(Callback):
    """Stop a run once `seconds` of wall clock have passed since its first step (checked after each step)."""

    def __init__(self, seconds: float) -> None:
        self.seconds = seconds
        self.start = 0.0

    def on_fit_start(self, loop: Loop) -> None:
        self.start = time.perf_counter()

    def on_batch_end(self, loop: Loop) -> None:
        if time.perf_counter() - self.start >= self.seconds:
            loop.state.stop = True
            loop.state.stopped_reason = "budget"


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
    """`fit` the recipe with `seed` on `train` (default: the data's training split), scored on its validation."""
    from trainwise.engine import loop
    from trainwise.training import fit

    callbacks: list[Callback] = [TimeBudget(budget)] if budget is not None else []
    began = time.perf_counter()
    result = fit(
        recipe.model_copy(update={"seed": seed}),
        model=model,
        train=data.train if train is None else train,
        val=data.val,
        out=out,
        callbacks=callbacks,
        progress="off",
    )
    seconds = time.perf_counter() - began
    key = score_key(recipe)
    value = result.kept.get(key)
    if result.stopped_reason == "budget":  # stopped mid-epoch: score the weights as they are now
        loss = build_loss(recipe.loss, recipe.regularization)
        device = next(result.model.parameters()).device
        logs = loop.evaluate(
            result.model, make_batches(data.val, 1024, device), loss, list(recipe.metrics), prefix="val_"
        )
        value = logs.get(key)
    score = float(value) if value is not None and math.isfinite(value) else math.nan
    return Trial(label, seed, result.history, score, seconds, result.stopped_reason, result.run_dir)


def better(a: float, b: float, key: str) -> bool:
    """Whether score `a` beats `b` (NaN never does)."""
    if math.isnan(a):
        return False
    return math.isnan(b) or (a > b if higher_is_better(key) else a < b)
