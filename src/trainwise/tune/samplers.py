"""Optuna samplers by name, with trainwise's defaults: multivariate TPE, seeded, aware of parallel workers."""

from __future__ import annotations

import math
import warnings
from typing import Any

from trainwise.errors import ConfigError, did_you_mean
from trainwise.tune.space import SearchSpace

SAMPLERS = ("tpe", "random", "grid", "gp", "cmaes", "qmc", "nsga2")
GRID_POINTS = 5  # points per float range (and per wide int range) for the grid sampler
TPE_STARTUP_TRIALS = 5  # random trials before TPE models the study (Optuna: 10, a third of a 60 s study's trials)


def make_sampler(name: str, space: SearchSpace, *, seed: int | None, workers: int = 1) -> Any:
    """The sampler called `name`; `seed` makes a study repeatable, `workers` > 1 turns on TPE's constant liar."""
    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        if name == "tpe":
            conditional = any(p.when for p in space.params)
            return optuna.samplers.TPESampler(
                multivariate=True,
                group=conditional,
                seed=seed,
                constant_liar=workers > 1,
                n_startup_trials=TPE_STARTUP_TRIALS,
            )
        if name == "random":
            return optuna.samplers.RandomSampler(seed=seed)
        if name == "grid":
            return optuna.samplers.GridSampler(grid(space), seed=seed)
        if name == "gp":
            return optuna.samplers.GPSampler(seed=seed)
        if name == "cmaes":
            return optuna.samplers.CmaEsSampler(seed=seed, warn_independent_sampling=False)
        if name == "qmc":
            return optuna.samplers.QMCSampler(seed=seed, warn_independent_sampling=False)
        if name == "nsga2":
            return optuna.samplers.NSGAIISampler(seed=seed)
    raise ConfigError(f"unknown sampler '{name}'; {did_you_mean(name, SAMPLERS)}", key="--sampler")


def grid(space: SearchSpace) -> dict[str, list[Any]]:
    """A finite grid over the space: every choice, every int step when few, else GRID_POINTS points."""
    points: dict[str, list[Any]] = {}
    for p in space.params:
        if p.kind == "categorical":
            points[p.key] = p.encoded_choices
        elif p.kind == "int":
            step = int(p.step or 1)
            ints = list(range(int(p.low), int(p.high) + 1, step))
            if len(ints) > GRID_POINTS:
                ints = sorted({_nearest(ints, v) for v in _spaced(p.low, p.high, p.log)})
            points[p.key] = list(ints)
        else:
            values = _spaced(p.low, p.high, p.log)
            if p.step:
                values = sorted({p.low + round((v - p.low) / p.step) * p.step for v in values})
            points[p.key] = values
    return points


def _spaced(low: float, high: float, log: bool) -> list[float]:
    if log:
        a, b = math.log(low), math.log(high)
        return [math.exp(a + (b - a) * i / (GRID_POINTS - 1)) for i in range(GRID_POINTS)]
    return [low + (high - low) * i / (GRID_POINTS - 1) for i in range(GRID_POINTS)]


def _nearest(values: list[int], target: float) -> int:
    return min(values, key=lambda v: abs(v - target))
