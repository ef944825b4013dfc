"""Which batch size? Measure throughput per power of two, then give each the same training-time budget.

Step 1: samples per second of forward + backward + optimizer step for batch sizes 2^k, from `min_batch` up to
the training set size (capped at `max_batch`, 8192 by default on CPU), stopping at the first out-of-memory.
Step 2: each candidate trains the recipe for the same seconds of training steps, its learning rate scaled
from the recipe's (square-root rule by default: lr * sqrt(b / b0); or linear: lr * b / b0), and the one with
the best validation score at the end of the budget is recommended. Not just the largest that fits.
"""

from __future__ import annotations

import math
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch

from trainwise import rundir
from trainwise.config import Recipe
from trainwise.engine.batches import make_batches
from trainwise.engine.state import Loop
from trainwise.errors import ConfigError
from trainwise.prepare import RecipeLike, prepare, resolve
from trainwise.tune.trials import better, need_validation, run_trial, score_key

CPU_MAX_BATCH = 8192
SCALING = {"sqrt": 0.5, "linear": 1.0}


@dataclass
class Candidate:
    """One batch size: its throughput, the learning rate it trained at, and its score after the budget."""

    batch_size: int
    samples_per_second: float | None = None
    out_of_memory: bool = False
    learning_rate: float | None = None
    score: float | None = None
    steps: int | None = None
    epochs: float | None = None


@dataclass
class BatchSizeResult:
    """The candidates (throughput and budgeted score) and the recommended batch size."""

    candidates: list[Candidate]
    recommended: int
    score_key: str
    budget: float
    scaling: str
    base_batch_size: int
    base_learning_rate: float
    out: Path | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def rule(self) -> str:
        exponent = "sqrt(b / b0)" if self.scaling == "sqrt" else "b / b0"
        return f"lr = {self.base_learning_rate:g} * {exponent}, b0 = {self.base_batch_size}"

    def to_dict(self) -> dict[str, Any]:
        best = next(c for c in self.candidates if c.batch_size == self.recommended)
        fastest = max((c for c in self.candidates if c.samples_per_second), key=lambda c: c.samples_per_second or 0)
        summary = {
            "recommended_batch_size": self.recommended,
            f"{self.score_key} at recommended": round(best.score, 4) if best.score is not None else "-",
            "learning_rate at recommended": float(f"{best.learning_rate:.3g}") if best.learning_rate else "-",
            "budget_seconds": self.budget,
            "lr scaling": self.rule,
            "highest throughput": f"{fastest.batch_size} ({fastest.samples_per_second:.0f} samples/s)",
            "largest measured": max(c.batch_size for c in self.candidates if c.samples_per_second),
        }
        rows = [c.__dict__ for c in self.candidates]
        return rundir.json_safe(
            {
                "summary": summary,
                "candidates": rows,
                "recommended": self.recommended,
                "metric": self.score_key,
                "budget": self.budget,
                "scaling": self.scaling,
                "rule": self.rule,
                "out": str(self.out) if self.out is not None else None,
            }
        )


def batch_size(
    recipe: RecipeLike = None,
    *,
    budget: float = 10.0,
    scaling: str = "sqrt",
    min_batch: int = 8,
    max_batch: int | None = None,
    model: Any = None,
    train: Any = None,
    val: Any = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    progress: str = "off",
    **settings: Any,
) -> BatchSizeResult:
    """Measure throughput of batch sizes 2^k and train each for `budget` seconds; recommend the best scorer."""
    base, user_model = resolve(recipe, model, settings, overrides)
    _check(base, budget, scaling, min_batch, max_batch)
    prepared = prepare(base, model=user_model, train=train, val=val)
    need_validation(prepared.data, "batch-size")
    size = _length(prepared.data.train)
    device = prepared.loop.device
    cap = min(size, max_batch or (CPU_MAX_BATCH if device.type == "cpu" else 1 << 16))
    sizes = [1 << k for k in range(max(0, math.ceil(math.log2(min_batch))), int(math.log2(cap)) + 1)]
    if not sizes:
        raise ConfigError(f"no power of two between {min_batch} and {cap} (the training set size)", key="min_batch")
    candidates = [Candidate(b) for b in sizes]
    state = {k: v.clone() for k, v in prepared.loop.model.state_dict().items()}
    for candidate in candidates:
        candidate.samples_per_second = throughput(prepared.loop, prepared.data.train, candidate.batch_size)
        if candidate.samples_per_second is None:
            candidate.out_of_memory = True
            break
    prepared.loop.model.load_state_dict(state)
    b0, lr0 = int(base.batch_size), base.optimizer.learning_rate
    key = score_key(base)
    folder = Path(out) if out is not None else None
    with tempfile.TemporaryDirectory(prefix="trainwise-batch-") as tmp:
        scratch = folder if folder is not None else Path(tmp)
        for candidate in (c for c in candidates if c.samples_per_second):
            rate = lr0 * (candidate.batch_size / b0) ** SCALING[scaling]
            optimizer = base.optimizer.model_copy(update={"learning_rate": rate})
            recipe_b = base.model_copy(update={"batch_size": candidate.batch_size, "optimizer": optimizer})
            trial = run_trial(
                recipe_b,
                prepared.data,
                label=str(candidate.batch_size),
                seed=base.seed,
                out=scratch / "runs" / f"batch-{candidate.batch_size}",
                budget=budget,
                model=_fresh(user_model),
            )
            candidate.learning_rate = rate
            candidate.score = trial.score if math.isfinite(trial.score) else None
            candidate.steps = trial.history[-1]["step"] if trial.history else 0
            candidate.epochs = len(trial.history)
            if progress != "off":
                print(
                    f"batch-size {candidate.batch_size}: {candidate.samples_per_second:.0f} samples/s, "
                    f"lr {rate:.3g}, {key} {trial.score:.4f}",
                    flush=True,
                )
    recommended = _best(candidates, key)
    result = BatchSizeResult(candidates, recommended, key, budget, scaling, b0, lr0)
    if folder is not None:
        save(result, folder)
    return result


def _check(recipe: Recipe, budget: float, scaling: str, min_batch: int, max_batch: int | None) -> None:
    if recipe.batch_size == "full":
        raise ConfigError('batch-size needs a mini-batch recipe (batch_size is "full")', key="batch_size")
    if budget <= 0:
        raise ConfigError(f"the budget must be a positive number of seconds, got {budget}", key="--budget")
    if scaling not in SCALING:
        raise ConfigError(f"unknown scaling '{scaling}'; expected one of {', '.join(SCALING)}", key="--scaling")
    if min_batch < 1 or (max_batch is not None and max_batch < min_batch):
        raise ConfigError(f"expected 1 <= min_batch <= max_batch, got {min_batch} and {max_batch}", key="min_batch")
    if recipe.schedule.name in ("cosine", "onecycle"):
        raise ConfigError(
            f"schedule '{recipe.schedule.name}' is laid out over epochs; a time budget needs an epoch-free schedule",
            key="schedule.name",
        )


def throughput(loop: Loop, train: Any, batch: int, seconds: float = 0.5, max_steps: int = 50) -> float | None:
    """Training samples per second at `batch` (None when it does not fit in memory)."""
    model, optimizer, loss_fn = loop.model, loop.optimizer, loop.loss.fn
    batches = make_batches(train, batch, loop.device)
    order = torch.randperm(batches.num_samples, generator=torch.Generator().manual_seed(0))
    model.train()
    try:
        samples, steps, began = 0, 0, 0.0
        while True:
            for x, y in batches.epoch(order):
                if steps == 2:  # the first steps warm up kernels and allocators: not timed
                    _sync(loop.device)
                    samples, began = 0, time.perf_counter()
                optimizer.zero_grad(set_to_none=True)
                loss_fn(model(x), y).backward()
                optimizer.step()
                steps += 1
                samples += len(y)
                if steps > 2:
                    _sync(loop.device)
                    elapsed = time.perf_counter() - began
                    if elapsed >= seconds or steps >= max_steps:
                        return samples / elapsed
    except torch.cuda.OutOfMemoryError:
        torch.cuda.empty_cache()
        return None
    except RuntimeError as exc:  # CPU allocators report "out of memory" as a plain RuntimeError
        if "out of memory" not in str(exc).lower():
            raise
        return None


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _length(data: Any) -> int:
    return len(data[0]) if isinstance(data, tuple) else len(data)


def _fresh(model: Any) -> Any:
    import copy

    return copy.deepcopy(model) if model is not None else None


def _best(candidates: list[Candidate], key: str) -> int:
    scored = [c for c in candidates if c.score is not None]
    if not scored:
        return candidates[0].batch_size
    top = scored[0]
    for candidate in scored[1:]:
        tie = candidate.score == top.score and (candidate.samples_per_second or 0) > (top.samples_per_second or 0)
        if tie or better(candidate.score or math.nan, top.score or math.nan, key):
            top = candidate  # the best score; among equal scores, the faster batch size
    return top.batch_size


def save(result: BatchSizeResult, out: Path) -> None:
    """batch_size.json and batch_size.png in `out`."""
    from trainwise.report.finder_plots import plot_batch_size

    out.mkdir(parents=True, exist_ok=True)
    result.out = out
    plot_batch_size(result, out / "batch_size.png")
    rundir.write_json(out / "batch_size.json", result.to_dict())
