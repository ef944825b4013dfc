"""What a study needs before its first trial: created or loaded (its directions and metrics checked against
the config), a learning-rate range when the config gives none, the attributes that warm starts, exports and
reports read, and the best parameters of earlier studies queued (warm start)."""

from __future__ import annotations

import sys
from typing import Any

from trainwise.config import Recipe, build_recipe
from trainwise.errors import ConfigError
from trainwise.tune.first_trial import left_open
from trainwise.tune.joining import ATTR as ATTR_SPACE
from trainwise.tune.joining import space_record
from trainwise.tune.objective import ATTR_CHANGES
from trainwise.tune.space import LEARNING_RATE, Param, SearchSpace
from trainwise.tune.storage import redact


def create_or_load(storage: Any, name: str, space: SearchSpace, url: str) -> Any:
    """The study called `name`, created when new; ConfigError when it optimizes other directions or metrics."""
    import optuna

    directions = [o.direction for o in space.objectives]
    try:
        found = optuna.load_study(study_name=name, storage=storage)
    except KeyError:
        return optuna.create_study(storage=storage, study_name=name, directions=directions, load_if_exists=True)
    existing = [d.name.lower() for d in found.directions]
    if existing != directions:
        raise ConfigError(
            f"study '{name}' in {redact(url)} optimizes {', '.join(existing)} but the config asks for "
            f"{', '.join(directions)}; choose another --study name"
        )
    metrics = found.user_attrs.get("metrics")
    if metrics is not None and metrics != [o.metric for o in space.objectives]:
        raise ConfigError(
            f"study '{name}' optimizes {', '.join(metrics)} but the config asks for "
            f"{', '.join(o.metric for o in space.objectives)}; choose another --study name"
        )
    return found


def learning_rate_range(
    study: Any, space: SearchSpace, base: Recipe, plain: Recipe, data: Any, progress: bool
) -> tuple[SearchSpace, Recipe]:
    """No learning-rate range given: take [s/10, 3s] (log) around an LR range test's suggestion s.

    The range is stored with the study, so a resumed study searches the same space."""
    if LEARNING_RATE in space.keys or not space.auto_learning_rate:
        return space, base
    stored = study.user_attrs.get("learning_rate_range")
    if stored is None:
        from trainwise.tune.lr_find import lr_find

        found = lr_find(plain, train=data.train, val=data.val, out=None, progress="off")
        stored = [found.suggestion / 10, found.suggestion * 3]
        if progress:
            low, high, s = stored[0], stored[1], found.suggestion
            print(f"learning rate: {low:.3g} .. {high:.3g} (around the LR range test's {s:.3g})", file=sys.stderr)
    low, high = float(stored[0]), float(stored[1])
    search = {**(base.search or {}), LEARNING_RATE: {"low": low, "high": high, "log": True}}
    # only what the config set, so the first trial can still tell a learning rate or schedule it left open
    raw = {**base.model_dump(mode="json", exclude_unset=True, exclude_none=True), "search": search}
    updated = build_recipe(raw, source=base.source)
    updated._source, updated.name = base.source, base.name
    study.set_user_attr("learning_rate_range", [low, high])
    return space.with_param(Param(LEARNING_RATE, "float", low, high, log=True)), updated


def record_study(study: Any, recipe: Recipe, space: SearchSpace) -> None:
    """What warm starts, exports and reports need to know about the study, in its user attributes."""
    data = recipe.data.name or recipe.data.path or "user data"
    attrs = {
        "task": recipe.task,
        "data": data,
        "metrics": [o.metric for o in space.objectives],
        "recipe": recipe.to_dict(),
        "epochs": recipe.epochs,
        ATTR_SPACE: space_record(space),  # a later session with another space is refused (tune/joining.py)
    }
    stored = study.user_attrs  # one read (each access of `user_attrs` queries the storage)
    for key, value in attrs.items():
        if stored.get(key) != value:
            study.set_user_attr(key, value)


def warm_start(study: Any, storage: Any, space: SearchSpace, recipe: Recipe, limit: int = 3) -> int:
    """Queue the best parameters of earlier studies on the same task, data and metric (same storage).

    A best trial that trained with `recipe_changes` (an earlier first trial's annealed learning rate) is
    replayed with them when all its parameters lie in this space and this study's recipe and space leave
    those keys open: its peak rate held constant would be another, worse, trial."""
    import optuna

    if len(space.objectives) > 1:
        return 0
    mine = study.user_attrs
    found: list[tuple[float, dict[str, Any], str, dict[str, Any]]] = []
    for summary in optuna.get_all_study_summaries(storage, include_best_trial=True):
        attrs = summary.user_attrs
        same = all(attrs.get(k) == mine.get(k) for k in ("task", "data", "metrics"))
        if summary.study_name == study.study_name or not same or summary.best_trial is None:
            continue
        if [d.name.lower() for d in summary.directions] != [o.direction for o in space.objectives]:
            continue
        params = {k: v for k, v in summary.best_trial.params.items() if k in space.keys}
        params = {k: v for k, v in params.items() if next(p for p in space.params if p.key == k).contains(v)}
        if params:
            origin = f"{summary.study_name}#{summary.best_trial.number}"
            whole = len(params) == len(summary.best_trial.params)  # else the replay is another trial anyway
            changes = (summary.best_trial.user_attrs.get(ATTR_CHANGES) or {}) if whole else {}
            changes = left_open(changes, space, recipe)
            found.append((float(summary.best_trial.values[0]), params, origin, changes))
    found.sort(key=lambda item: item[0], reverse=space.objectives[0].direction == "maximize")
    for _, params, origin, changes in found[:limit]:
        extra: dict[str, Any] = {"warm_start_from": origin}
        if changes:
            extra[ATTR_CHANGES] = changes
        study.enqueue_trial(params, user_attrs=extra, skip_if_exists=True)
    return min(len(found), limit)
