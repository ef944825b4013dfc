"""What a study produced, in forms a user can act on: a leaderboard, the best recipe as a config file,
parameter importance, the optimization history and, with several objectives, the Pareto front."""

from __future__ import annotations

import json
import math
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w

from trainwise import rundir
from trainwise.atomic import atomic_write_text
from trainwise.errors import RunError
from trainwise.tune.space import decode
from trainwise.tune.storage import open_storage, redact

MIN_TRIALS_FOR_IMPORTANCE = 4


@dataclass
class TuneResult:
    """A study's outcome: the best trial, every trial ranked, and what mattered."""

    study: str
    storage: str  # without password
    metrics: list[str]
    directions: list[str]
    counts: dict[str, int]
    best: dict[str, Any] | None  # number, values, params, run_dir, recipe (single objective)
    leaderboard: list[dict[str, Any]]
    pareto: list[dict[str, Any]]  # several objectives: the non-dominated trials
    importance: dict[str, float] | None
    importance_note: str | None
    history: list[dict[str, Any]]  # number, value, best_so_far (single objective)
    interrupted: bool = False
    elapsed: float = 0.0
    exported: str | None = None
    files: dict[str, str] = field(default_factory=dict)

    @property
    def best_value(self) -> float | None:
        return self.best["values"][0] if self.best else None

    @property
    def best_params(self) -> dict[str, Any]:
        return self.best["params"] if self.best else {}

    def summary(self) -> dict[str, Any]:
        """Headline figures, flat (str -> str/number), for the HTML report's table."""
        flat: dict[str, Any] = {"study": self.study, "storage": self.storage, **self.counts}
        if self.best is not None:
            flat["best trial"] = self.best["number"]
            for metric, value in zip(self.metrics, self.best["values"], strict=False):
                flat[f"best {metric}"] = value
            flat.update({f"best {k}": _plain(v) for k, v in self.best["params"].items()})
        flat["seconds"] = round(self.elapsed, 1)
        return flat

    def to_dict(self) -> dict[str, Any]:
        return rundir.json_safe(
            {
                "summary": self.summary(),
                "study": self.study,
                "storage": self.storage,
                "metrics": self.metrics,
                "directions": self.directions,
                "counts": self.counts,
                "best": self.best,
                "leaderboard": self.leaderboard,
                "pareto": self.pareto,
                "importance": self.importance,
                "importance_note": self.importance_note,
                "history": self.history,
                "interrupted": self.interrupted,
                "elapsed": self.elapsed,
                "exported": self.exported,
                "files": self.files,
            }
        )


def load_study(name: str, storage: str) -> Any:
    """An existing study; RunError naming the studies there when it does not exist."""
    import optuna

    opened = open_storage(storage)
    try:
        return optuna.load_study(study_name=name, storage=opened)
    except KeyError:
        names = sorted(s.study_name for s in optuna.get_all_study_summaries(opened, include_best_trial=False))
        known = f"; studies there: {', '.join(names)}" if names else "; it holds no study"
        raise RunError(f"no study '{name}' in {redact(storage)}{known}") from None


def summarize(study: Any, storage: str, *, interrupted: bool = False, elapsed: float = 0.0) -> TuneResult:
    """Read the study back from storage into a TuneResult."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    directions = [d.name.lower() for d in study.directions]
    metrics = study.user_attrs.get("metrics") or [f"objective {i}" for i in range(len(directions))]
    counts = {
        state.name.lower(): sum(1 for t in trials if t.state == state)
        for state in (TrialState.COMPLETE, TrialState.PRUNED, TrialState.FAIL, TrialState.RUNNING)
    }
    counts["trials"] = len(trials)
    best = None
    pareto: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    complete = [t for t in trials if t.state == TrialState.COMPLETE]
    if len(directions) == 1:
        if complete:
            best = _row(study.best_trial)
            best["recipe"] = study.best_trial.user_attrs.get("recipe")
        history = _history(trials, directions[0])
    else:
        pareto = [_row(t) for t in study.best_trials]
        if pareto:
            best = dict(pareto[0])
    importance, note = param_importance(study)
    return TuneResult(
        study=study.study_name,
        storage=redact(storage),
        metrics=list(metrics),
        directions=directions,
        counts=counts,
        best=best,
        leaderboard=leaderboard(trials, directions),
        pareto=pareto,
        importance=importance,
        importance_note=note,
        history=history,
        interrupted=interrupted,
        elapsed=elapsed,
    )


def _row(t: Any) -> dict[str, Any]:
    return {
        "number": t.number,
        "state": t.state.name.lower(),
        "values": list(t.values) if t.values is not None else None,
        "params": {k: decode(v) for k, v in t.params.items()},
        "epochs": t.user_attrs.get("epochs", len(t.intermediate_values) or None),
        "pruned_at": t.user_attrs.get("pruned_at") if t.state.name == "PRUNED" else None,
        "reason": t.user_attrs.get("pruned_reason") or t.user_attrs.get("error"),
        "run_dir": t.user_attrs.get("run_dir"),
        "warm_start_from": t.user_attrs.get("warm_start_from"),
        "from_recipe": bool(t.user_attrs.get("from_recipe")),  # the recipe's own values (tune's first trial)
        "seconds": t.duration.total_seconds() if t.duration is not None else None,
        "intermediate": {str(k): v for k, v in sorted(t.intermediate_values.items())},
    }


def leaderboard(trials: list[Any], directions: list[str]) -> list[dict[str, Any]]:
    """Complete trials ranked by their first objective, then pruned ones by their last reported value,
    then the rest; `rank` counts complete trials only."""
    maximize = directions[0] == "maximize"

    def key(t: Any) -> tuple[int, float]:
        group = {"COMPLETE": 0, "PRUNED": 1}.get(t.state.name, 2)
        value = t.values[0] if t.values else None
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return group, math.inf
        return group, -value if maximize else value

    rows = []
    rank = 0
    for t in sorted(trials, key=key):
        row = _row(t)
        if t.state.name == "COMPLETE":
            rank += 1
            row["rank"] = rank
        else:
            row["rank"] = None
        rows.append(row)
    return rows


def _history(trials: list[Any], direction: str) -> list[dict[str, Any]]:
    best: float | None = None
    rows = []
    for t in sorted(trials, key=lambda t: t.number):
        value = t.values[0] if t.values else None
        if t.state.name == "COMPLETE" and value is not None:
            better = best is None or (value > best if direction == "maximize" else value < best)
            best = value if better else best
        rows.append({"number": t.number, "state": t.state.name.lower(), "value": value, "best_so_far": best})
    return rows


def param_importance(study: Any) -> tuple[dict[str, float] | None, str | None]:
    """Optuna's parameter importance for the first objective; a message instead when it cannot be computed."""
    import optuna

    complete = [t for t in study.get_trials(deepcopy=False) if t.state.name == "COMPLETE"]
    if len(complete) < MIN_TRIALS_FOR_IMPORTANCE:
        return None, (
            f"parameter importance needs at least {MIN_TRIALS_FOR_IMPORTANCE} complete trials, "
            f"the study has {len(complete)}"
        )
    target = None if len(study.directions) == 1 else (lambda t: t.values[0])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            found = optuna.importance.get_param_importances(study, target=target)
    except (RuntimeError, ValueError) as exc:
        return None, f"parameter importance could not be computed: {str(exc).splitlines()[0]}"
    return {k: float(v) for k, v in found.items()}, None


def best_recipe(result: TuneResult) -> dict[str, Any]:
    """The best trial's recipe (parameters applied, no [search]); RunError when no trial completed."""
    if result.best is None or not result.best.get("recipe"):
        raise RunError(f"study '{result.study}' has no complete trial yet: nothing to export")
    recipe = dict(result.best["recipe"])
    recipe.pop("search", None)
    recipe.pop("name", None)
    return recipe


def export_best(result: TuneResult, path: str | Path) -> Path:
    """Write the best recipe as a TOML config that `trainwise fit` trains."""
    target = Path(path)
    recipe = best_recipe(result)
    best = result.best or {}
    values = ", ".join(f"{m} {v:.6g}" for m, v in zip(result.metrics, best.get("values") or [], strict=False))
    header = (
        f"# The best recipe of study '{result.study}' (trial {best.get('number')}: {values}).\n"
        f"# Train it with: trainwise fit {target.name}\n"
    )
    atomic_write_text(target, header + tomli_w.dumps(recipe))
    return target


def write_outputs(result: TuneResult, folder: Path, export: str | Path | None) -> None:
    """`tune.json` (+ `tune.png`) in the study's run folder, and the exported config when asked."""
    from trainwise import rundir

    folder.mkdir(parents=True, exist_ok=True)
    if export is not None and result.best is not None:
        result.exported = str(export_best(result, export))
    elif export is not None:
        raise RunError(f"study '{result.study}' has no complete trial yet: nothing to export to {export}")
    try:
        from trainwise.report.study import history_png

        png = history_png(result, folder / "tune.png")
        if png is not None:
            result.files["tune.png"] = str(png)
    except ImportError:  # pragma: no cover - matplotlib is a dependency
        pass
    result.files["tune.json"] = str(folder / "tune.json")
    rundir.write_json(folder / "tune.json", result.to_dict())


def _plain(value: Any) -> Any:
    return value if isinstance(value, (str, int, float)) else json.dumps(value)
