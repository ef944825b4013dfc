"""A fair comparison of recipes that differ in one key (the optimizer, or any `--vary KEY=v1,v2,...`).

Fair means: each optimizer trains at its own learning rate (found by lr-find, or the best of a small grid,
said in the result), every variant gets the same epochs (or the same wall-clock budget) and the same seeds
on the same data split, and differences are reported with 95% confidence intervals (Student's t over seeds)
of the validation metric and of the time to reach a target score.
"""

from __future__ import annotations

import math
import re
import statistics
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainwise import rundir
from trainwise.config import Recipe, build_recipe, parse_override
from trainwise.engine.direction import higher_is_better
from trainwise.engine.optim import OPTIMIZERS
from trainwise.errors import ConfigError, did_you_mean
from trainwise.prepare import RecipeLike, prepare, resolve
from trainwise.tasks import TaskData
from trainwise.tune.trials import Trial, better, need_validation, run_trial, score_key

LR_SOURCES = ("find", "grid", "keep")


@dataclass
class Variant:
    """One arm of the comparison: a label, the recipe it trains, and where its learning rate came from."""

    label: str
    recipe: Recipe
    lr_source: str
    trials: list[Trial] = field(default_factory=list)


@dataclass
class CompareResult:
    """Per variant: scores and times to target over seeds, with means and 95% confidence intervals."""

    key: str  # the recipe key that varies
    score_key: str
    target: float
    variants: list[Variant]
    budget: float | None
    out: Path | None = None

    def stats(self, variant: Variant) -> dict[str, Any]:
        scores = [t.score for t in variant.trials]
        times = [t for t in (time_to_target(t, self.score_key, self.target) for t in variant.trials) if t is not None]
        mean, half = mean_ci(scores)
        tmean, thalf = mean_ci(times)
        return {
            "label": variant.label,
            "learning_rate": variant.recipe.optimizer.learning_rate,
            "lr_source": variant.lr_source,
            "scores": scores,
            "score_mean": mean,
            "score_ci95": half,
            "time_to_target": times,
            "reached_target": len(times),
            "time_mean": tmean,
            "time_ci95": thalf,
            "runs": [str(t.run_dir) for t in variant.trials],
            "curves": [[e.get(self.score_key) for e in t.history] for t in variant.trials],
        }

    def best(self) -> str:
        rows = [self.stats(v) for v in self.variants]
        top = rows[0]
        for row in rows[1:]:
            if better(row["score_mean"], top["score_mean"], self.score_key):
                top = row
        return str(top["label"])

    def to_dict(self) -> dict[str, Any]:
        rows = [self.stats(v) for v in self.variants]
        summary: dict[str, Any] = {"varied": self.key, "metric": self.score_key, "seeds": len(self.variants[0].trials)}
        summary["budget_seconds" if self.budget else "epochs"] = self.budget or self.variants[0].recipe.epochs
        summary["target"] = round(self.target, 4)
        summary["best"] = self.best()
        for row in rows:
            summary[f"{row['label']} {self.score_key}"] = plus_minus(row["score_mean"], row["score_ci95"], 4)
            summary[f"{row['label']} learning_rate"] = f"{row['learning_rate']:.3g} ({row['lr_source']})"
            reached = f"{row['reached_target']}/{len(row['scores'])} reached"
            summary[f"{row['label']} seconds to target"] = (
                f"{plus_minus(row['time_mean'], row['time_ci95'], 2)} ({reached})"
            )
        return rundir.json_safe(
            {
                "summary": summary,
                "key": self.key,
                "metric": self.score_key,
                "target": self.target,
                "budget": self.budget,
                "variants": rows,
                "out": str(self.out) if self.out else None,
            }
        )


def compare(
    recipe: RecipeLike = None,
    *,
    optimizers: list[str] | None = None,
    vary: str | None = None,
    seeds: int = 5,
    lr: str | None = None,
    lr_grid: list[float] | None = None,
    budget: float | None = None,
    target: float | None = None,
    model: Any = None,
    train: Any = None,
    val: Any = None,
    out: str | Path | None = None,
    overrides: list[str] | None = None,
    progress: str = "off",
    **settings: Any,
) -> CompareResult:
    """Train each variant (`optimizers=["sgd", "adam"]` or `vary="regularization.l2=0,1e-4"`) over `seeds` seeds.

    `lr` is "find" (lr-find per variant; the default for optimizers), "grid" (best of `lr_grid` on seed 0) or
    "keep" (the recipe's; the default for `vary`). `budget` (seconds) replaces the epoch count as the fair
    share. `target` is the score whose time-to-reach is compared (default: the worst variant's mean score).
    """
    base, user_model = resolve(recipe, model, settings, overrides)
    key, values = _variants_asked(base, optimizers, vary)
    lr = lr or ("find" if key == "optimizer.name" else "keep")
    _check(seeds, lr, lr_grid, budget, base)
    prepared = prepare(base, model=user_model, train=train, val=val)
    need_validation(prepared.data, "compare")
    folder = Path(out) if out is not None else None
    with tempfile.TemporaryDirectory(prefix="trainwise-compare-") as tmp:
        scratch = folder if folder is not None else Path(tmp)
        variants = [_variant(base, key, v, lr, lr_grid, prepared.data, user_model, scratch) for v in values]
        _run_all(variants, prepared.data, base.seed, seeds, budget, scratch, user_model, progress)
    skey = score_key(base)
    result = CompareResult(key, skey, _target(variants, skey, target), variants, budget)
    if folder is not None:
        save(result, folder)
    return result


def _run_all(
    variants: list[Variant],
    data: TaskData,
    first_seed: int,
    seeds: int,
    budget: float | None,
    scratch: Path,
    user_model: Any,
    progress: str,
) -> None:
    for variant in variants:
        for seed in range(first_seed, first_seed + seeds):
            trial = run_trial(
                variant.recipe,
                data,
                label=variant.label,
                seed=seed,
                out=scratch / "runs" / _folder(variant.label) / f"seed-{seed}",
                budget=budget,
                model=_fresh(user_model),
            )
            variant.trials.append(trial)
            if progress != "off":
                print(f"compare: {variant.label} seed {trial.seed}: {trial.score:.4f}", flush=True)


def _folder(label: str) -> str:
    return re.sub(r"[^A-Za-z0-9._-]+", "_", label).strip("_") or "variant"


def _variants_asked(base: Recipe, optimizers: list[str] | None, vary: str | None) -> tuple[str, list[Any]]:
    if (optimizers is None) == (vary is None):
        raise ConfigError("compare needs exactly one of --optimizers or --vary KEY=v1,v2,...", key="compare")
    if optimizers is not None:
        names = [name.strip() for name in optimizers if name.strip()]
        for name in names:
            if name not in OPTIMIZERS:
                raise ConfigError(f"unknown optimizer '{name}'; {did_you_mean(name, OPTIMIZERS)}", key="--optimizers")
        if len(names) < 2 or len(set(names)) != len(names):
            raise ConfigError(f"expected two or more different optimizers, got {optimizers}", key="--optimizers")
        return "optimizer.name", names
    assert vary is not None
    key, text = (part.strip() for part in vary.partition("=")[::2])
    if not _has_key(base.model_dump(), key):
        raise ConfigError(
            f"the recipe has no key '{key}' to vary (e.g. regularization.l2, model.dropout)", key="--vary"
        )
    items = re.split(r",(?![^\[]*\])", text)  # commas inside [..] belong to a list value
    values = [parse_override(f"{key}={item}")[1] for item in items if item.strip()]
    if len(values) < 2:
        raise ConfigError(f"expected two or more values to compare, e.g. {key}=a,b; got '{text}'", key="--vary")
    return key, values


def _has_key(data: dict[str, Any], dotted: str) -> bool:
    node: Any = data
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return False
        node = node[part]
    return True


def _check(seeds: int, lr: str, lr_grid: list[float] | None, budget: float | None, base: Recipe) -> None:
    if seeds < 2:
        raise ConfigError(f"a confidence interval needs at least 2 seeds, got {seeds}", key="--seeds")
    if lr not in LR_SOURCES:
        raise ConfigError(f"unknown learning-rate source '{lr}'; expected one of {', '.join(LR_SOURCES)}", key="--lr")
    if lr == "grid" and (not lr_grid or any(v <= 0 for v in lr_grid)):
        raise ConfigError(
            "--lr grid needs --lr-grid with positive learning rates, e.g. 1e-3,1e-2,1e-1", key="--lr-grid"
        )
    if budget is not None and budget <= 0:
        raise ConfigError(f"the budget must be a positive number of seconds, got {budget}", key="--budget")
    if budget is not None and base.schedule.name in ("cosine", "onecycle"):
        raise ConfigError(
            f"schedule '{base.schedule.name}' is laid out over epochs; a time budget needs an epoch-free schedule",
            key="schedule.name",
        )


def _variant(
    base: Recipe, key: str, value: Any, lr: str, grid: list[float] | None, data: TaskData, model: Any, scratch: Path
) -> Variant:
    from trainwise.tune.lr_find import lr_find

    raw = base.to_dict()
    if key == "optimizer.name":
        kept = ("momentum", "learning_rate")  # otherwise each optimizer keeps its own defaults (betas, eps...)
        raw["optimizer"] = {k: v for k, v in raw["optimizer"].items() if k in kept}
    recipe = build_recipe(raw, [f"{key}={_toml(value)}"], source="--vary")
    recipe._source, recipe.name = base.source, base.name
    label = str(value)
    if lr == "keep":
        return Variant(label, recipe, "as configured")
    if lr == "find":
        found = lr_find(recipe, model=_fresh(model), train=data.train, val=data.val)
        chosen, source = found.suggestion, f"lr-find, {found.rule.split(':')[0]} rule"
    else:
        assert grid is not None
        trials = [
            run_trial(
                _with_lr(recipe, rate),
                data,
                label=label,
                seed=base.seed,
                out=scratch / "lr-grid" / _folder(label) / f"lr-{rate:g}",
                model=_fresh(model),
            )
            for rate in grid
        ]
        skey = score_key(recipe)
        best = 0
        for i, trial in enumerate(trials):
            if better(trial.score, trials[best].score, skey):
                best = i
        chosen, source = grid[best], f"best of grid {','.join(f'{v:g}' for v in grid)} (seed {base.seed})"
    return Variant(label, _with_lr(recipe, float(f"{chosen:.3g}")), source)


def _with_lr(recipe: Recipe, value: float) -> Recipe:
    optimizer = recipe.optimizer.model_copy(update={"learning_rate": value})
    return recipe.model_copy(update={"optimizer": optimizer})


def _toml(value: Any) -> str:
    import tomli_w

    return tomli_w.dumps({"v": value}).strip().removeprefix("v = ")


def _fresh(model: Any) -> Any:
    import copy

    return copy.deepcopy(model) if model is not None else None


def time_to_target(trial: Trial, key: str, target: float) -> float | None:
    """Seconds of training until the validation score first reached `target` (None if it never did)."""
    elapsed = 0.0
    maximize = higher_is_better(key)
    for epoch in trial.history:
        elapsed += float(epoch.get("seconds", 0.0))
        value = epoch.get(key)
        if value is not None and math.isfinite(value) and (value >= target if maximize else value <= target):
            return elapsed
    return None


def _target(variants: list[Variant], key: str, given: float | None) -> float:
    """The given target, else the worst variant's mean score (a bar that most runs reach)."""
    if given is not None:
        return given
    means = [mean_ci([t.score for t in v.trials])[0] for v in variants]
    finite = [m for m in means if math.isfinite(m)]
    if not finite:
        return math.nan
    return min(finite) if higher_is_better(key) else max(finite)


def plus_minus(mean: float, half_width: float, digits: int) -> str:
    """`0.8634 ± 0.0882`; the mean alone when one run leaves no interval, `-` when no run gave a value (a summary
    line reading `0.10 ± nan` looks broken)."""
    if not math.isfinite(mean):
        return "-"
    if not math.isfinite(half_width):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {half_width:.{digits}f}"


def mean_ci(values: list[float]) -> tuple[float, float]:
    """Mean and half-width of its 95% confidence interval (Student's t, n-1 degrees of freedom)."""
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return math.nan, math.nan
    mean = statistics.fmean(finite)
    if len(finite) < 2:
        return mean, math.nan
    from scipy import stats

    quantile = float(stats.t.ppf(0.975, len(finite) - 1))
    return mean, quantile * statistics.stdev(finite) / math.sqrt(len(finite))


def save(result: CompareResult, out: Path) -> None:
    """compare.json and compare.png in `out`."""
    from trainwise.report.finder_plots import plot_compare

    out.mkdir(parents=True, exist_ok=True)
    result.out = out
    plot_compare(result, out / "compare.png")
    rundir.write_json(out / "compare.json", result.to_dict())
