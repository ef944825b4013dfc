"""One trial = one trainwise `fit` run of the study's recipe with the trial's parameters applied.

The data are read once per process and handed to `fit` as tensors (unless the search varies the data
keys), so a trial costs its training and little else. Each trial's run goes to `runs/<study>/trial-<n>`
with a `trial.json` that ties it to its study. What happened is told to Optuna by the outcome:
a value (complete), TrialPruned (pruned, NaN loss or metric, time budget; the reason in the user attribute
`pruned_reason`), an exception (failed; the message in `error`), or KeyboardInterrupt (Ctrl-C: abandoned).
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from trainwise import rundir
from trainwise.atomic import process_crash_safe
from trainwise.config import Recipe
from trainwise.engine.callbacks import Callback
from trainwise.errors import TrainwiseError
from trainwise.tune.pruning import TrialReporter
from trainwise.tune.recording import TrialRecorder
from trainwise.tune.space import SPECIAL_METRICS, Objective, SearchSpace, apply

ATTR_CHANGES = "recipe_changes"  # an enqueued trial's recipe keys outside the space (tune/first_trial.py)
_DATA: dict[str, Any] = {}  # per process: data key -> TaskData, so trials reuse what the first one read


@dataclass
class TrialContext:
    """What every trial of one worker shares."""

    recipe: Recipe  # the study's recipe, [search] included
    space: SearchSpace
    study: str
    storage: str  # redacted URL, for trial.json
    runs: Path  # trial runs go to runs / study / trial-<n>
    deadline: float | None = None
    prune: bool = True
    decide_at: set[int] | None = None  # epochs where the pruner can prune (None: every epoch)
    extra_attrs: dict[str, Any] = field(default_factory=dict)
    store_url: str | None = None  # the run store: the study's own database (None: the default one)


def trial_recipe(ctx: TrialContext, values: dict[str, Any]) -> Recipe:
    """The recipe a trial trains: parameters applied, search removed, the first objective monitored."""
    recipe = apply(ctx.recipe, values)
    metric = ctx.space.objectives[0].metric
    if metric not in SPECIAL_METRICS:
        recipe = recipe.model_copy(update={"monitor": metric})
    return recipe


def run_trial(trial: Any, ctx: TrialContext) -> float | list[float]:
    """The objective Optuna calls: sample, train, and return the objective value(s)."""
    from trainwise.build import spell_out_metrics
    from trainwise.training import fit

    values = ctx.space.sample(trial, ctx.recipe)
    recipe = trial_recipe(ctx, {**values, **trial.user_attrs.get(ATTR_CHANGES, {})})
    run_dir = _free_dir(ctx.runs / ctx.study, f"trial-{trial.number}")
    link = TrialLink(run_dir / "trial.json", {"study": ctx.study, "trial": trial.number, "storage": ctx.storage})
    trial.set_user_attr("run_dir", str(run_dir))
    trial.set_user_attr("recipe", recipe.to_dict())
    metric = ctx.space.objectives[0].metric
    single = len(ctx.space.objectives) == 1 and metric not in SPECIAL_METRICS
    decide_at = ctx.decide_at if ctx.prune else set()  # intermediate values are reported even without pruning
    reporter = TrialReporter(trial, metric, report=single, deadline=ctx.deadline, decide_at=decide_at)
    data = data_for(recipe)
    # each trial's run is recorded beside the study (linked by trial.json), its epochs written in batches
    recorder = TrialRecorder(run_dir, spell_out_metrics(recipe).to_dict(), url=ctx.store_url)
    try:
        with process_crash_safe():  # a trial's files are re-creatable: atomic, but no fsync per file and epoch
            result = fit(
                recipe,
                train=data.train,
                val=data.val,
                out=run_dir,
                callbacks=[link, reporter, recorder],
                progress="off",
                checkpoints=False,  # a trial is never resumed; the exported recipe retrains the best one
                store=False,  # recorded by `recorder` instead
            )
    except KeyboardInterrupt:
        reporter.flush()
        recorder.finish("interrupted", reason="interrupted")
        raise
    except BaseException as exc:
        reporter.flush()  # the epochs before the error stay on the trial
        recorder.finish("failed", reason="error", error=f"{type(exc).__name__}: {exc}")
        if isinstance(exc, TrainwiseError):
            trial.set_user_attr("error", str(exc))
        raise
    recorder.finish_from(result.stopped_reason, result.test)
    trial.set_user_attr("epochs", len(result.history))
    trial.set_user_attr("best_epoch", result.best_epoch)
    reason = result.stopped_reason
    if reason == "interrupted":
        trial.set_user_attr("interrupted", True)
        raise KeyboardInterrupt
    if reason == "diverged":
        _pruned(trial, len(result.history), f"the loss became NaN/Inf at step {result.diverged_step}")
    if reporter.reason is not None:
        _pruned(trial, reporter.pruned_at, reporter.reason)
    scores = [_score(result, o) for o in ctx.space.objectives]
    bad = [o.metric for o, s in zip(ctx.space.objectives, scores, strict=True) if s is None]
    if bad:
        _pruned(trial, len(result.history), f"{bad[0]} was never a finite number")
    finite = [float(s) for s in scores if s is not None]
    return finite[0] if len(finite) == 1 else finite


class TrialLink(Callback):
    """Writes `trial.json` (study, trial number, storage URL without password) as the run starts, so the
    run store can link a trial's run to its study even if the study is killed mid-trial."""

    def __init__(self, path: Path, data: dict[str, Any]) -> None:
        self.path, self.data = path, data

    def on_fit_start(self, loop: Any) -> None:
        rundir.write_json(self.path, self.data)


def _free_dir(root: Path, name: str) -> Path:
    """`root/name`, or `name-2`, ... when a deleted study of the same name left its runs behind."""
    for attempt in range(1, 1000):
        path = root / (name if attempt == 1 else f"{name}-{attempt}")
        if not path.exists():
            return path
    raise TrainwiseError(f"no free run directory for {name} in {root}")


def _pruned(trial: Any, epoch: int | None, reason: str) -> None:
    import optuna

    trial.set_user_attr("pruned_at", epoch)
    trial.set_user_attr("pruned_reason", reason)
    raise optuna.TrialPruned(reason)


def _score(result: Any, objective: Objective) -> float | None:
    """An objective's value for a finished run: the best epoch's metric, or a cost tune measures itself."""
    if objective.metric == "params":
        return float(sum(p.numel() for p in result.model.parameters()))
    if objective.metric == "epoch_seconds":
        seconds = [e["seconds"] for e in result.history if "seconds" in e]
        return sum(seconds) / len(seconds) if seconds else None
    values = [
        float(e[objective.metric])
        for e in result.history
        if e.get(objective.metric) is not None and math.isfinite(e[objective.metric])
    ]
    if not values:
        return None
    return max(values) if objective.direction == "maximize" else min(values)


def data_for(recipe: Recipe) -> Any:
    """The recipe's data as tensors, read once per process per data config and kind of targets."""
    from trainwise.engine.optim import build_loss
    from trainwise.tasks import get_task

    targets = build_loss(recipe.loss, recipe.regularization).targets
    key = json.dumps([recipe.task, recipe.data.model_dump(mode="json"), targets], sort_keys=True)
    if key not in _DATA:
        _DATA.clear()  # one data set at a time: a search over data keys must not hold them all
        _DATA[key] = get_task(recipe.task).load(recipe, targets)
    return _DATA[key]
