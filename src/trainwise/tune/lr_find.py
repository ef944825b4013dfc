"""The learning-rate range test: a short run of its own whose learning rate rises exponentially each step.

The smoothed training loss against the learning rate falls, flattens and then blows up; the suggestion is read
off that curve by a stated rule. The run is built like `fit` builds one (same checks, data and model) on a
fresh copy of the model, so the caller's model and optimizer are never touched.
"""

from __future__ import annotations

import contextlib
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainwise import rundir
from trainwise.config import Recipe
from trainwise.engine.loop import optimizer_step
from trainwise.engine.optim import penalty, penalty_weights
from trainwise.engine.state import Loop
from trainwise.errors import ConfigError, RunError
from trainwise.prepare import RecipeLike, prepare, resolve

# The rule `lr_find` suggests by. benchmarks/lr_find_quality.py measures each rule against the best of a 9-point
# grid (3 tasks x SGD-momentum/Adam): min/10 was within 3x in 6/6 cases, steepest 4/6, valley 0/6 (its longest
# falling stretch starts in the flat, noisy part of the curve at tiny learning rates).
DEFAULT_RULE = "min/10"


@dataclass
class LRFindResult:
    """The range test's curve (learning rate per step, smoothed loss) and the suggested learning rate."""

    suggestion: float
    rule: str
    lrs: list[float]
    losses: list[float]  # exponentially smoothed, bias-corrected training loss at each step
    raw_losses: list[float]
    rules: dict[str, float]  # what every rule suggests, for comparison
    stopped: str  # "blow-up" (smoothed loss > blowup x its minimum, or NaN/Inf) or "end" (reached end_lr)
    seconds: float
    start_lr: float
    end_lr: float
    recipe: Recipe
    out: Path | None = None
    settings: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for lr_find.json and `--json`, with a flat `summary` of headline figures."""
        best = int(np.argmin(self.losses)) if self.losses else 0
        summary: dict[str, Any] = {
            "suggested_learning_rate": self.suggestion,
            "rule": self.rule,
            "optimizer": self.recipe.optimizer.name,
            "configured_learning_rate": self.recipe.optimizer.learning_rate,
            "min_loss_learning_rate": self.lrs[best] if self.lrs else None,
            "steps": len(self.lrs),
            "stopped": self.stopped,
            "seconds": round(self.seconds, 3),
        }
        return rundir.json_safe(
            {
                "summary": summary,
                "suggestion": self.suggestion,
                "rule": self.rule,
                "rules": self.rules,
                "lrs": self.lrs,
                "losses": self.losses,
                "raw_losses": self.raw_losses,
                "stopped": self.stopped,
                "seconds": self.seconds,
                "start_lr": self.start_lr,
                "end_lr": self.end_lr,
                "settings": self.settings,
                "out": str(self.out) if self.out is not None else None,
                "config": self.recipe.to_dict(),
            }
        )


def lr_find(
    recipe: RecipeLike = None,
    *,
    model: Any = None,
    train: Any = None,
    val: Any = None,
    out: str | Path | None = None,
    progress: str = "off",
    overrides: list[str] | None = None,
    start_lr: float = 1e-7,
    end_lr: float = 10.0,
    steps: int = 200,
    smoothing: float = 0.98,
    blowup: float = 4.0,
    rule: str = DEFAULT_RULE,
    **settings: Any,
) -> LRFindResult:
    """Run the LR range test for a recipe (anything `fit` accepts) and suggest a learning rate.

    The learning rate goes from `start_lr` to `end_lr` exponentially over `steps` optimizer steps (stopping
    early once the smoothed loss exceeds `blowup` times its minimum). `out=DIR` writes lr_find.json and
    lr_find.png there; `out=None` writes nothing.

    >>> result = trainwise.lr_find("examples/mnist-5k.toml")       # doctest: +SKIP
    >>> result.suggestion, result.rule                              # doctest: +SKIP
    """
    _check_settings(start_lr, end_lr, steps, smoothing, blowup, rule)
    resolved, user_model = resolve(recipe, model, settings, overrides)
    prepared = prepare(resolved, model=user_model, train=train, val=val)
    began = time.perf_counter()
    lrs, raw, smooth, stopped = _range_test(prepared.loop, start_lr, end_lr, steps, smoothing, blowup, progress)
    seconds = time.perf_counter() - began
    if len(lrs) < 10:
        raise RunError(
            f"the loss blew up after {len(lrs)} steps (learning rate {lrs[-1] if lrs else start_lr:.2g}); "
            "expected a falling stretch first: lower start_lr"
        )
    rules = suggest_all(lrs, smooth)
    result = LRFindResult(
        suggestion=rules[rule],
        rule=f"{rule}: {RULES[rule][1]}",
        lrs=lrs,
        losses=smooth,
        raw_losses=raw,
        rules=rules,
        stopped=stopped,
        seconds=seconds,
        start_lr=start_lr,
        end_lr=end_lr,
        recipe=resolved,
        settings={"steps": steps, "smoothing": smoothing, "blowup": blowup},
    )
    if out is not None:
        save(result, Path(out))
    return result


def _check_settings(start_lr: float, end_lr: float, steps: int, smoothing: float, blowup: float, rule: str) -> None:
    if not 0 < start_lr < end_lr:
        raise ConfigError(f"expected 0 < start_lr < end_lr, got start_lr={start_lr}, end_lr={end_lr}", key="start_lr")
    if steps < 10:
        raise ConfigError(f"the range test needs at least 10 steps, got {steps}", key="steps")
    if not 0 <= smoothing < 1:
        raise ConfigError(f"smoothing must be in [0, 1), got {smoothing}", key="smoothing")
    if blowup <= 1:
        raise ConfigError(f"blowup must be > 1 (a factor over the lowest loss), got {blowup}", key="blowup")
    if rule not in RULES:
        raise ConfigError(f"unknown rule '{rule}'; expected one of {', '.join(RULES)}", key="rule")


def _range_test(
    loop: Loop, start_lr: float, end_lr: float, steps: int, beta: float, blowup: float, progress: str
) -> tuple[list[float], list[float], list[float], str]:
    """Train with lr_i = start * (end/start)^(i/(steps-1)), batch after batch (reshuffled each pass).

    Trains as `fit` would with the recipe's features: each step accumulates `accumulate_steps` batches (its
    loss is their mean), batches are augmented (mixup/cutmix mix the loss), and the forward runs under the
    recipe's precision (fp16: with its gradient scaler). A weight average does not change training: none here.
    """
    model, optimizer, loss_fn = loop.model, loop.optimizer, loop.loss.fn
    weights = penalty_weights(model) if (loop.l1 or loop.l2) else None
    params = [p for group in optimizer.param_groups for p in group["params"]]
    autocast = loop.precision.autocast if loop.precision is not None else contextlib.nullcontext
    scaler = loop.precision.scaler if loop.precision is not None else None
    k = loop.accumulate_steps
    factor = (end_lr / start_lr) ** (1 / (steps - 1))
    lrs: list[float] = []
    raw: list[float] = []
    smooth: list[float] = []
    average, best = 0.0, math.inf
    model.train()
    step = passes = micro = 0
    group_loss = 0.0
    while True:
        order = torch.randperm(loop.train.num_samples, generator=loop.shuffle) if len(loop.train) > 1 else None
        for batch, (x, y) in enumerate(loop.train.epoch(order)):
            lr = start_lr * factor**step
            if micro == 0:
                for group in optimizer.param_groups:
                    group["lr"] = lr
                optimizer.zero_grad(set_to_none=True)
            mixed, weight = None, 1.0
            if loop.augment is not None:
                x, mixed, weight = loop.augment(x, y, passes, batch)
            with autocast():
                outputs = model(x)
                loss = loss_fn(outputs, y)
                if mixed is not None:
                    loss = weight * loss + (1.0 - weight) * loss_fn(outputs, mixed)
            value = float(loss.detach())
            if not math.isfinite(value):
                return lrs, raw, smooth, "blow-up"
            total = loss
            if weights is not None:
                extra = penalty(weights, loop.l1, loop.l2)
                total = loss + extra if extra is not None else loss
            total = total / k
            (scaler.scale(total) if scaler is not None else total).backward()
            group_loss += value / k
            micro += 1
            if micro < k:
                continue
            value, micro, group_loss = group_loss, 0, 0.0
            optimizer_step(loop, params, scaler)  # clip and step exactly as `fit` does
            average = beta * average + (1 - beta) * value
            smoothed = average / (1 - beta ** (step + 1))  # bias correction: the average starts at zero
            lrs.append(lr)
            raw.append(value)
            smooth.append(smoothed)
            best = min(best, smoothed)
            step += 1
            if progress != "off" and step % 10 == 0:
                print(f"lr-find: step {step}/{steps} lr {lr:.2e} loss {smoothed:.4f}", flush=True)
            if step > 1 and smoothed > blowup * best:
                return lrs, raw, smooth, "blow-up"
            if step >= steps:
                return lrs, raw, smooth, "end"
        passes += 1


# --- suggestion rules ----------------------------------------------------------------------------------


def _usable(lrs: list[float], losses: list[float]) -> tuple[np.ndarray, np.ndarray]:
    """The curve without its first steps (the smoothed loss still settling) and its final blow-up steps."""
    lr, loss = np.asarray(lrs, dtype=float), np.asarray(losses, dtype=float)
    skip = min(5, max(0, len(lr) - 5))
    end = len(lr)
    while end > skip + 2 and loss[end - 1] > 2 * np.min(loss[skip:end]):
        end -= 1  # drop the tail that blew up: it only says where training fails
    return lr[skip:end], loss[skip:end]


def suggest_min_over_10(lrs: list[float], losses: list[float]) -> float:
    """A tenth of the learning rate at the lowest smoothed loss (there the loss is about to rise)."""
    lr, loss = _usable(lrs, losses)
    return float(lr[int(np.argmin(loss))] / 10)


def suggest_steepest(lrs: list[float], losses: list[float]) -> float:
    """Where the smoothed loss falls fastest per decade of learning rate, before its minimum."""
    lr, loss = _usable(lrs, losses)
    end = int(np.argmin(loss)) + 1
    if end < 3:
        return float(lr[0])
    slope = np.gradient(loss[:end], np.log10(lr[:end]))
    return float(lr[int(np.argmin(slope))])


def suggest_valley(lrs: list[float], losses: list[float]) -> float:
    """The longest stretch where the loss keeps falling; a point a half of the way along it.

    This is fastai's "valley" idea: the longest decreasing subsequence of the smoothed loss marks the region
    where training makes steady progress, and a point inside it is both fast and safe.
    """
    lr, loss = _usable(lrs, losses)
    n = len(loss)
    if n < 3:
        return float(lr[0])
    length = np.ones(n, dtype=int)
    start = np.arange(n)
    for i in range(1, n):
        for j in range(i):
            if loss[i] < loss[j] and length[j] + 1 > length[i]:
                length[i], start[i] = length[j] + 1, start[j]
    end = int(np.argmax(length))
    begin = int(start[end])
    return float(lr[begin + (end - begin) // 2])


RULES = {
    "valley": (suggest_valley, "middle of the longest falling stretch of the smoothed loss (valley)"),
    "steepest": (suggest_steepest, "steepest descent of the smoothed loss vs log learning rate"),
    "min/10": (suggest_min_over_10, "learning rate at the minimum smoothed loss, divided by 10"),
}


def suggest_all(lrs: list[float], losses: list[float]) -> dict[str, float]:
    """Every rule's suggestion for one curve (NaN when the curve is too short to read)."""
    if len(lrs) < 3:
        return dict.fromkeys(RULES, math.nan)
    return {name: function(lrs, losses) for name, (function, _) in RULES.items()}


def save(result: LRFindResult, out: Path) -> None:
    """lr_find.json and lr_find.png in `out` (created if needed; other files there are left alone)."""
    from trainwise.report.finder_plots import plot_lr_find

    out.mkdir(parents=True, exist_ok=True)
    result.out = out
    if not (out / "config.toml").exists():
        rundir.write_config(out, result.recipe)
    plot_lr_find(result, out / "lr_find.png")
    rundir.write_json(out / "lr_find.json", result.to_dict())
