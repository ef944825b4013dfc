"""Optuna studies in the store's database, read through Optuna's own APIs; figures from optuna.visualization.

Read-only: when the database has no Optuna tables yet, we say so instead of letting Optuna create them.
Optuna is imported here only, so the runs pages start without it.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import inspect

from trainwise.store.db import engine_for, sqlite_path


def _has_studies(url: str) -> bool:
    path = sqlite_path(url)
    if path is not None and not path.exists():
        return False
    with engine_for(url).connect() as conn:
        return inspect(conn).has_table("studies") and inspect(conn).has_table("version_info")


def _storage(url: str) -> Any:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    return optuna.storages.RDBStorage(url, skip_table_creation=True)


def list_studies(url: str) -> tuple[list[dict[str, Any]], str]:
    """Name, directions, trial count and best value of each study; or a note why there are none."""
    if not _has_studies(url):
        return [], "no Optuna studies in this database yet"
    import optuna

    out = []
    for s in optuna.study.get_all_study_summaries(_storage(url), include_best_trial=True):
        best = s.best_trial.value if s.best_trial is not None and len(s.directions) == 1 else None
        out.append({"name": s.study_name, "directions": _directions(s.directions), "trials": s.n_trials, "best": best})
    return out, "" if out else "no Optuna studies in this database yet"


def _directions(directions: Any) -> str:
    return ", ".join(d.name.lower() for d in directions)


def _load(url: str, name: str) -> Any:
    import optuna
    from starlette.exceptions import HTTPException

    if not _has_studies(url):
        raise HTTPException(404, f"unknown study '{name}'")
    try:
        return optuna.load_study(study_name=name, storage=_storage(url))
    except KeyError:
        raise HTTPException(404, f"unknown study '{name}'") from None


def summary(url: str, name: str) -> dict[str, Any]:
    study = _load(url, name)
    trials = study.get_trials(deepcopy=False)
    best = study.best_value if len(study.directions) == 1 and any(t.value is not None for t in trials) else None
    return {"directions": _directions(study.directions), "trials": len(trials), "best": best}


def figures_json(url: str, name: str) -> str:
    """Plotly figures (as JSON) for the study: history, importance, parallel coordinates, Pareto front.

    A figure that does not apply (importance with one parameter, Pareto front of a single objective, ...)
    comes as {"message": why} instead.
    """
    import optuna.visualization as vis

    study = _load(url, name)
    multi = len(study.directions) > 1
    target: dict[str, Any] = {"target": lambda t: t.values[0], "target_name": "objective 0"} if multi else {}
    makers = {
        "history": lambda: vis.plot_optimization_history(study, **target),
        "importance": lambda: vis.plot_param_importances(study, **target),
        "parallel": lambda: vis.plot_parallel_coordinate(study, **target),
        "pareto": lambda: vis.plot_pareto_front(study) if multi else None,
    }
    figures: dict[str, Any] = {}
    for key, make in makers.items():
        try:
            figure = make()
        except (ValueError, RuntimeError, ZeroDivisionError) as exc:
            figures[key] = {"message": f"not available: {exc}"}
            continue
        if figure is None:
            figures[key] = {"message": "single-objective study: no Pareto front"}
        elif not figure.data:
            figures[key] = {"message": "not enough completed trials yet"}
        else:
            figures[key] = json.loads(figure.to_json())
    return json.dumps(figures)
