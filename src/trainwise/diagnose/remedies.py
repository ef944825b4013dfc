"""Remedies as pasteable config changes, computed from the run's own recipe (its learning rate, its model).

Each is a string that starts with what to paste (`--set key=value`, a flag or a command) and ends with a
shell comment saying why, so that the whole line can be pasted after `trainwise fit CONFIG`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from trainwise.diagnose.facts import Curves, RunFacts

PLATEAU_REL = 0.01  # a loss still falls when the last epoch beat the one before by more than this fraction
STUCK_REL = 0.02  # a loss that never fell by this fraction of its first value never moved


def regularize(curves: Curves, facts: RunFacts, best: int) -> list[str]:
    """Overfitting remedies the recipe can still take: dropout, an L2 penalty, early stopping, less capacity."""
    recipe = facts.recipe
    remedies: list[str] = []
    if recipe is not None and facts.builtin_model and recipe.model.dropout < 0.5:
        dropout = 0.3 if recipe.model.dropout < 0.3 else min(0.5, recipe.model.dropout + 0.2)
        remedies.append(f"--set model.dropout={dropout:.1f}  # randomly silence hidden units while training")
    l2 = recipe.regularization.l2 if recipe is not None else 0.0
    remedies.append(set_value("regularization.l2", l2 * 10 if l2 else 1e-4, "penalize large weights"))
    if recipe is None or recipe.early_stopping is None:
        remedies.append(
            "--set early_stopping.patience=3  # stop when validation stops improving, keep the best weights"
        )
    epoch = curves.epochs[best]
    remedies.append(f"--set epochs={epoch}  # the best validation loss came at epoch {epoch}")
    if recipe is not None and facts.builtin_model and recipe.model.hidden and max(recipe.model.hidden) > 16:
        smaller = [max(8, h // 2) for h in recipe.model.hidden]
        remedies.append(f"--set 'model.hidden={_list(smaller)}'  # less capacity to memorize")
    remedies.append("collect more data (trainwise learning-curve CONFIG estimates how much it would help)")
    return remedies


def capacity(curves: Curves, facts: RunFacts, *, blew_up: bool) -> list[str]:
    """Underfitting remedies: fix the learning rate first, then less regularization, more capacity, more epochs."""
    recipe = facts.recipe
    lr = last_lr(curves, facts)
    remedies: list[str] = []
    if blew_up:  # the learning rate is the cause: more capacity or epochs would not help
        return [set_value("optimizer.learning_rate", lr / 10, "the loss blew up: steps too large")]
    values = [v for v in curves.train_loss if not math.isnan(v)]
    if values and values[0] > 0 and (values[0] - min(values)) / values[0] < STUCK_REL:
        return [
            set_value("optimizer.learning_rate", lr * 10, "the loss never moved: steps too small"),
            "trainwise lr-find CONFIG  # measure a good learning rate instead of guessing",
        ]
    if still_falling(curves) or len(curves.epochs) < 3:
        epochs = recipe.epochs if recipe is not None else len(curves.epochs)
        remedies.append(f"--set epochs={max(2 * epochs, epochs + 5)}  # the loss was still falling")
    else:
        remedies.append(set_value("optimizer.learning_rate", lr * 3, "larger steps (check with trainwise lr-find)"))
    if recipe is not None:
        if facts.builtin_model and recipe.model.dropout > 0:
            remedies.append("--set model.dropout=0.0  # regularization fights fitting")
        if recipe.regularization.l2 > 0:
            remedies.append(set_value("regularization.l2", recipe.regularization.l2 / 10, "a weaker penalty"))
        if recipe.regularization.weight_decay > 0:
            remedies.append(
                set_value("regularization.weight_decay", recipe.regularization.weight_decay / 10, "less decay")
            )
        if facts.builtin_model and recipe.model.hidden:
            remedies.append(f"--set 'model.hidden={_list([h * 2 for h in recipe.model.hidden])}'  # more capacity")
    return remedies


def last_lr(curves: Curves, facts: RunFacts) -> float:
    """The learning rate the run ended with (the recipe's when the history has none)."""
    for value in reversed(curves.lr):
        if not math.isnan(value) and value > 0:
            return value
    return facts.recipe.optimizer.learning_rate if facts.recipe is not None else 1e-3


def set_value(key: str, value: float, why: str) -> str:
    return f"--set {key}={fmt(value)}  # {why}"


def fmt(value: float) -> str:
    """Compact and pasteable: 0.003, 0.25, 1200, 3e-5, 1.5e-6."""
    if value == 0 or math.isnan(value) or math.isinf(value):
        return str(value)
    if 1e-3 <= abs(value) < 1e4:
        return f"{value:.4g}"
    mantissa, exponent = f"{value:.2e}".split("e")
    return f"{float(mantissa):g}e{int(exponent)}"


def _list(values: Sequence[int]) -> str:
    return "[" + ",".join(str(v) for v in values) + "]"


def still_falling(curves: Curves) -> bool:
    values = [v for v in curves.train_loss if not math.isnan(v)]
    return len(values) >= 2 and values[-1] < (1 - PLATEAU_REL) * values[-2]
