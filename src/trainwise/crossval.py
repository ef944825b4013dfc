"""k-fold cross-validation: one `fit` per fold (`data.fold` = 0..k-1) and the mean +- sd of their test scores.

Each fold is an ordinary run in `<out>/fold-<k>`; `<out>/crossval.json` holds every fold's test scores, the
baseline's, and a flat `summary` of the means and standard deviations (sample sd, k - 1 in the denominator).
"""

from __future__ import annotations

import statistics
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainwise import rundir
from trainwise.config import Recipe
from trainwise.errors import ConfigError, TrainwiseError
from trainwise.fitresult import FitResult
from trainwise.recipes import resolve_recipe
from trainwise.rundir import json_safe
from trainwise.training import fit


@dataclass
class CrossValResult:
    """The folds' runs and the mean +- sd of each test metric, for the model and its baseline."""

    run_dir: Path
    folds: list[FitResult] = field(repr=False)
    mean: dict[str, float]
    sd: dict[str, float]
    baseline_mean: dict[str, float]
    baseline_sd: dict[str, float]
    baseline_name: str = ""

    def to_dict(self) -> dict[str, Any]:
        summary: dict[str, Any] = {"folds": len(self.folds)}
        for name, value in self.mean.items():
            summary[f"test_{name}_mean"], summary[f"test_{name}_sd"] = value, self.sd[name]
        for name, value in self.baseline_mean.items():
            summary[f"baseline_{name}_mean"], summary[f"baseline_{name}_sd"] = value, self.baseline_sd[name]
        return json_safe(
            {
                "summary": summary,
                "run_dir": str(self.run_dir),
                "baseline": self.baseline_name,
                "folds": [
                    {"run_dir": str(r.run_dir), "test": r.test, "baseline": _baseline_test(r)} for r in self.folds
                ],
            }
        )


def cross_validate(
    recipe: Recipe | dict[str, Any] | str | Path,
    *,
    out: str | Path | None = None,
    progress: str = "off",
    overrides: list[str] | None = None,
) -> CrossValResult:
    """Train one run per fold of `data.folds` and aggregate their test scores (and their baselines')."""
    recipe = resolve_recipe(recipe, None, overrides)
    folds = recipe.data.folds
    if folds < 2:
        raise ConfigError(f"cross-validation needs data.folds >= 2, got {folds}", key="data.folds")
    if out is None:
        root = rundir.new_run_dir(recipe.name or "run")
        created = True
    else:
        root = Path(out)
        created = not root.exists()
        if not created and (not root.is_dir() or any(root.iterdir())):
            rundir.claim_out_dir(root)  # raises the usual "already holds a run" error
    results: list[FitResult] = []
    try:
        for k in range(folds):
            fold = recipe.model_copy(update={"data": recipe.data.model_copy(update={"fold": k})})
            results.append(fit(fold, out=root / f"fold-{k + 1}", progress=progress))
    except TrainwiseError:
        if created and root.is_dir() and not any(root.iterdir()):
            root.rmdir()  # the first fold's checks failed: leave nothing behind
        raise
    result = _aggregate(root, results)
    rundir.write_json(root / "crossval.json", result.to_dict())
    return result


def _baseline_test(result: FitResult) -> dict[str, float]:
    test = (result.report.get("baseline") or {}).get("test") or {}
    return {k: v for k, v in test.items() if isinstance(v, (int, float))}


def _aggregate(root: Path, results: list[FitResult]) -> CrossValResult:
    def stats(rows: list[dict[str, float]]) -> tuple[dict[str, float], dict[str, float]]:
        names = [n for n in rows[0] if all(n in r for r in rows)] if rows else []
        mean = {n: statistics.fmean(r[n] for r in rows) for n in names}
        sd = {n: statistics.stdev([r[n] for r in rows]) if len(rows) > 1 else 0.0 for n in names}
        return mean, sd

    mean, sd = stats([r.test for r in results if r.test])
    baseline_mean, baseline_sd = stats([_baseline_test(r) for r in results])
    name = (results[0].report.get("baseline") or {}).get("name", "") if results else ""
    return CrossValResult(root, results, mean, sd, baseline_mean, baseline_sd, name)
