"""Would more data help? Train on growing fractions of the training set and extrapolate a power law.

Each fraction trains the recipe (same epochs, same validation set) on a random subset, over several seeds
(each seed draws its own subset and initialisation). The validation error (1 - accuracy, or the loss-like
metric itself) is fitted with err(n) = a * n^-b + c, the usual shape of learning curves; the fit is
extrapolated to 2x and 4x the data, with a 95% interval from a bootstrap over the seeds.
"""

from __future__ import annotations

import math
import tempfile
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch.utils.data import Subset

from trainwise import rundir
from trainwise.engine.direction import higher_is_better
from trainwise.errors import ConfigError, RunError
from trainwise.prepare import RecipeLike, prepare, resolve
from trainwise.tune.trials import need_validation, run_trial, score_key

DEFAULT_FRACTIONS = (0.1, 0.2, 0.4, 0.7, 1.0)
BOOTSTRAP = 300


@dataclass
class LearningCurveResult:
    """Scores per training-set size and seed, the fitted power law, and the answer to "would more data help?"."""

    score_key: str
    fractions: list[float]
    sizes: list[int]
    scores: list[list[float]]  # per fraction, one score per seed
    fit_up_to: float  # only fractions <= this were fitted
    params: tuple[float, float, float]  # a, b, c of err(n) = a * n^-b + c
    samples: np.ndarray  # bootstrap parameter draws, one row (a, b, c) each
    full_size: int
    answer: str
    out: Path | None = None

    def predict(self, size: float) -> float:
        """The fitted validation score at `size` training samples."""
        a, b, c = self.params
        return _to_score(a * size**-b + c, self.score_key)

    def interval(self, size: float) -> tuple[float, float]:
        """The bootstrap 95% interval of the predicted score at `size` samples."""
        if not len(self.samples):
            return math.nan, math.nan
        preds = [_to_score(a * size**-b + c, self.score_key) for a, b, c in self.samples]
        low, high = np.percentile(preds, [2.5, 97.5])
        return float(low), float(high)

    def measured(self) -> float:
        """The mean measured score at the largest fraction."""
        return float(np.nanmean(self.scores[-1]))

    def to_dict(self) -> dict[str, Any]:
        n = self.full_size
        rows = {f"{k}x": (self.predict(k * n), *self.interval(k * n)) for k in (1, 2, 4)}
        summary: dict[str, Any] = {
            "answer": self.answer,
            "metric": self.score_key,
            "train_samples": n,
            f"measured at {self.fractions[-1]:g}": round(self.measured(), 4),
        }
        for name, (value, low, high) in rows.items():
            summary[f"predicted at {name} data"] = f"{value:.4f} ({low:.4f} to {high:.4f})"
        summary["power law"] = f"err(n) = {self.params[0]:.3g} * n^-{self.params[1]:.3g} + {self.params[2]:.3g}"
        return rundir.json_safe(
            {
                "summary": summary,
                "metric": self.score_key,
                "fractions": self.fractions,
                "sizes": self.sizes,
                "scores": self.scores,
                "fit_up_to": self.fit_up_to,
                "params": {"a": self.params[0], "b": self.params[1], "c": self.params[2]},
                "predictions": {k: {"score": v, "low": lo, "high": hi} for k, (v, lo, hi) in rows.items()},
                "answer": self.answer,
                "out": str(self.out) if self.out is not None else None,
            }
        )


def learning_curve(
    recipe: RecipeLike = None,
    *,
    fractions: list[float] | tuple[float, ...] = DEFAULT_FRACTIONS,
    seeds: int = 3,
    fit_up_to: float = 1.0,
    model: Any = None,
    train: Any = None,
    val: Any = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    progress: str = "off",
    **settings: Any,
) -> LearningCurveResult:
    """Train on each fraction of the training set over `seeds` seeds and fit err(n) = a * n^-b + c.

    `fit_up_to` fits only the fractions up to it (to check an extrapolation against a measured point).
    `out=DIR` writes learning_curve.json and .png (and each run under DIR/runs); `out=None` writes nothing.
    """
    fractions = _check(fractions, seeds, fit_up_to)
    base, user_model = resolve(recipe, model, settings, overrides)
    prepared = prepare(base, model=user_model, train=train, val=val)
    need_validation(prepared.data, "learning-curve")
    data = prepared.data
    total = _length(data.train)
    sizes = [max(1, round(f * total)) for f in fractions]
    if sizes[0] < 2:
        raise ConfigError(
            f"fraction {fractions[0]:g} of {total} training samples is {sizes[0]} sample; expected at least 2",
            key="--fractions",
        )
    key = score_key(base)
    folder = Path(out) if out is not None else None
    scores: list[list[float]] = []
    with tempfile.TemporaryDirectory(prefix="trainwise-curve-") as tmp:
        scratch = folder if folder is not None else Path(tmp)
        for fraction, size in zip(fractions, sizes, strict=True):
            row = []
            for seed in range(base.seed, base.seed + seeds):
                subset = _subset(data.train, size, seed)
                trial = run_trial(
                    base,
                    data,
                    label=f"{fraction:g}",
                    seed=seed,
                    out=scratch / "runs" / f"fraction-{fraction:g}" / f"seed-{seed}",
                    train=subset,
                    model=_fresh(user_model),
                )
                row.append(trial.score)
                if progress != "off":
                    print(f"learning-curve: {size} samples, seed {seed}: {key} {trial.score:.4f}", flush=True)
            scores.append(row)
    result = _fit(key, list(fractions), sizes, scores, fit_up_to, total)
    if folder is not None:
        save(result, folder)
    return result


def _check(fractions: list[float] | tuple[float, ...], seeds: int, fit_up_to: float) -> list[float]:
    values = sorted(float(f) for f in fractions)
    if not values:
        raise ConfigError("expected at least three fractions of the training set, got none", key="--fractions")
    bad = [f for f in values if not 0 < f <= 1]
    if bad:
        raise ConfigError(f"fractions must be in (0, 1], got {bad[0]:g}", key="--fractions")
    if len(set(values)) < 3:
        raise ConfigError(f"a power law needs at least three different fractions, got {values}", key="--fractions")
    if seeds < 1:
        raise ConfigError(f"expected at least 1 seed, got {seeds}", key="--seeds")
    if len([f for f in values if f <= fit_up_to]) < 3:
        raise ConfigError(f"at least three fractions must be <= fit_up_to ({fit_up_to:g})", key="fit_up_to")
    return values


def _length(data: Any) -> int:
    return len(data[0]) if isinstance(data, tuple) else len(data)


def _subset(data: Any, size: int, seed: int) -> Any:
    """A random subset of `size` samples, drawn with `seed` (nested subsets are not needed: seeds vary)."""
    order = torch.randperm(_length(data), generator=torch.Generator().manual_seed(seed))[:size]
    if isinstance(data, tuple):
        return data[0][order], data[1][order]
    return Subset(data, order.tolist())


def _fresh(model: Any) -> Any:
    import copy

    return copy.deepcopy(model) if model is not None else None


def _to_error(score: float, key: str) -> float:
    return 1.0 - score if higher_is_better(key) else score


def _to_score(error: float, key: str) -> float:
    return 1.0 - error if higher_is_better(key) else error


def power_law(n: np.ndarray, a: float, b: float, c: float) -> np.ndarray:
    return a * np.power(n, -b) + c


def fit_power_law(sizes: np.ndarray, errors: np.ndarray) -> tuple[float, float, float]:
    """Least squares fit of err(n) = a * n^-b + c with a >= 0, 0.01 <= b <= 2, 0 <= c <= min(err)."""
    from scipy.optimize import curve_fit

    floor = max(float(np.min(errors)), 1e-9)
    start = (max(float(errors[0]) - floor / 2, 1e-6) * float(sizes[0]) ** 0.5, 0.5, floor / 2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        params, _ = curve_fit(
            power_law, sizes, errors, p0=start, bounds=([0.0, 0.01, 0.0], [np.inf, 2.0, floor]), maxfev=20_000
        )
    return float(params[0]), float(params[1]), float(params[2])


def _fit(
    key: str, fractions: list[float], sizes: list[int], scores: list[list[float]], fit_up_to: float, total: int
) -> LearningCurveResult:
    errors = np.array([[_to_error(s, key) for s in row] for row in scores], dtype=float)
    used = [i for i, f in enumerate(fractions) if f <= fit_up_to + 1e-12]
    x = np.array([sizes[i] for i in used], dtype=float)
    means = np.array([np.nanmean(errors[i]) for i in used])
    if not np.all(np.isfinite(means)):
        raise RunError(f"some runs ended without a finite {key} (diverged?); lower the learning rate and retry")
    params = fit_power_law(x, means)
    rng = np.random.default_rng(0)
    draws = []
    for _ in range(BOOTSTRAP):
        resampled = np.array([np.nanmean(rng.choice(errors[i], size=len(errors[i]))) for i in used])
        try:
            draws.append(fit_power_law(x, resampled))
        except (RuntimeError, ValueError):
            continue
    result = LearningCurveResult(
        score_key=key,
        fractions=fractions,
        sizes=sizes,
        scores=scores,
        fit_up_to=fit_up_to,
        params=params,
        samples=np.array(draws),
        full_size=total,
        answer="",
    )
    result.answer = answer(result)
    return result


def answer(result: LearningCurveResult) -> str:
    """One sentence: the predicted score with 2x and 4x the data, and whether that gain is clear of the noise."""
    n, key = result.full_size, result.score_key
    now, two, four = result.predict(n), result.predict(2 * n), result.predict(4 * n)
    low, high = result.interval(2 * n)
    sign = 1.0 if higher_is_better(key) else -1.0
    gain = sign * (two - now)
    worst_gain = min(sign * (low - now), sign * (high - now))
    enough = 0.005 if higher_is_better(key) else 0.01 * abs(now)  # half a point of accuracy, 1% of a loss
    figures = (
        f"{key} {now:.4f} now, predicted {two:.4f} with 2x the data (95% interval {low:.4f} to {high:.4f}) "
        f"and {four:.4f} with 4x"
    )
    if worst_gain >= enough:
        return f"Yes, more data should help: {figures}."
    if gain < enough:
        return f"Little to gain from more data alone: {figures}; change the model or recipe instead."
    return f"Perhaps: {figures}; the gain is within the noise of {len(result.scores[0])} seeds."


def save(result: LearningCurveResult, out: Path) -> None:
    """learning_curve.json and learning_curve.png in `out`."""
    from trainwise.report.finder_plots import plot_learning_curve

    out.mkdir(parents=True, exist_ok=True)
    result.out = out
    plot_learning_curve(result, out / "learning_curve.png")
    rundir.write_json(out / "learning_curve.json", result.to_dict())
