"""`trainwise.tune`: an Optuna study whose trials are trainwise runs, with budgets, workers and resume.

The study lives in the shared database (`trainwise.storage.default_storage_url()` unless told otherwise),
so the same command continues it: trials already done count toward `trials`. One worker runs in this
process; `workers=K` starts K processes (their own sessions, so Ctrl-C reaches them once, through us) that
share the storage, with threads per worker set so that workers x threads <= cores.
"""

from __future__ import annotations

import json
import logging
import os
import re
import signal
import subprocess
import sys
import tempfile
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from trainwise.config import Recipe, build_recipe
from trainwise.errors import ConfigError, RunError, TrainwiseError
from trainwise.recipes import resolve_recipe
from trainwise.tune.first_trial import start_from_recipe
from trainwise.tune.heap import with_frozen_heap
from trainwise.tune.heartbeat import heartbeat_settings
from trainwise.tune.joining import check_same_space
from trainwise.tune.objective import TrialContext, data_for, run_trial
from trainwise.tune.setup import create_or_load, learning_rate_range, record_study, warm_start
from trainwise.tune.slots import StudyLock, occupancy, run_in_slots
from trainwise.tune.space import SPECIAL_METRICS, Objective, SearchSpace, apply, parse_search
from trainwise.tune.storage import open_storage, redact

DEFAULT_TRIALS = 20
EXIT_INTERRUPTED = 130


@dataclass
class Job:
    """Everything a worker needs, as plain data (it crosses a process boundary as JSON)."""

    recipe: dict[str, Any]  # the study's recipe with its effective [search] section
    source: str | None
    name: str | None
    study: str
    storage: str
    trials: int | None
    deadline: float | None
    sampler: str
    pruner: str
    seed: int
    threads: int | None
    runs: str
    session_start: float
    workers: int = 1
    worker: int = 0
    progress: bool = False
    heartbeat: tuple[int | None, int | None] = (None, None)  # (interval, grace) seconds; None: the default
    fresh: bool = False  # the study had no trials when this session set it up: no dead worker's trial to fail


def parse_budget(text: str | float | int | None) -> float | None:
    """`90`, `90s`, `10m`, `1h30m` -> seconds; None stays None."""
    if text is None or isinstance(text, (int, float)):
        if text is not None and (isinstance(text, bool) or text <= 0):
            raise ConfigError(f"budget must be a positive time such as 90s, 10m or 1h, got {text!r}", key="--budget")
        return None if text is None else float(text)
    parts = re.fullmatch(r"\s*(?:(\d+(?:\.\d+)?)h)?\s*(?:(\d+(?:\.\d+)?)m)?\s*(?:(\d+(?:\.\d+)?)s?)?\s*", text)
    if not text.strip() or parts is None or not any(parts.groups()):
        raise ConfigError(f"budget must be a time such as 90s, 10m or 1h30m, got {text!r}", key="--budget")
    hours, minutes, seconds = (float(g) if g else 0.0 for g in parts.groups())
    total = hours * 3600 + minutes * 60 + seconds
    if total <= 0:
        raise ConfigError(f"budget must be positive, got {text!r}", key="--budget")
    return total


@with_frozen_heap
def tune(
    recipe: Recipe | dict[str, Any] | str | Path | None = None,
    *,
    trials: int | None = None,
    budget: str | float | None = None,
    workers: int = 1,
    storage: str | None = None,
    study: str | None = None,
    sampler: str = "tpe",
    pruner: str = "hyperband",
    seed: int | None = None,
    export: str | Path | None = None,
    runs: str | Path = "runs",
    progress: bool = False,
    overrides: list[str] | None = None,
    heartbeat: int | None = None,
    grace: int | None = None,
    **settings: Any,
) -> Any:
    """Search the recipe's `[search]` space with Optuna; each trial is a `fit` run. Returns a TuneResult.

    Stops after `trials` trials in the study (those of earlier sessions count) or after `budget`
    (seconds, or "10m"), whichever comes first; 20 trials when neither is given. Workers anywhere that
    name the same `storage` and `study` join it; `heartbeat`/`grace` (seconds) tell when a dead worker's trial
    is failed and retried (tune/heartbeat.py).

    >>> result = trainwise.tune("examples/tune-digits.toml", trials=10)   # doctest: +SKIP
    >>> result.best_value                                                  # doctest: +SKIP
    """
    from trainwise.tune.pruning import make_pruner
    from trainwise.tune.results import summarize, write_outputs
    from trainwise.tune.samplers import make_sampler

    quiet_optuna()
    base = resolve_recipe(recipe, settings, overrides)
    if base.search is None:
        raise ConfigError(
            "no [search] section: add one naming the keys to tune, e.g. "
            '"optimizer.learning_rate" = { low = 1e-4, high = 1e-1, log = true }',
            source=base.source,
            key="search",
        )
    seconds = parse_budget(budget)
    if trials is not None and trials < 1:
        raise ConfigError(f"trials must be >= 1, got {trials}", key="--trials")
    if workers < 1:
        raise ConfigError(f"workers must be >= 1, got {workers}", key="--workers")
    if trials is None and seconds is None:
        trials = DEFAULT_TRIALS
    beat = heartbeat_settings(heartbeat, grace)
    space = parse_search(base, _default_objective(base))
    _check_metrics(base, space)
    make_pruner(pruner, base.epochs)  # unknown names fail here, before anything is stored
    make_sampler(sampler, space, seed=0)
    plain = apply(base, {})
    data = data_for(plain)  # a data problem is reported once, now, not by every trial
    url = storage or _default_url()
    optuna_storage = open_storage(url, beat)
    name = study or base.name or "study"
    with StudyLock(optuna_storage, url, name):  # workers joining at once set the study up one at a time
        opt_study = create_or_load(optuna_storage, name, space, url)
        space, base = learning_rate_range(opt_study, space, base, plain, data, progress)
        check_same_space(opt_study, space, url)
        record_study(opt_study, base, space)
        fresh = not opt_study.trials
        if fresh:
            warm_start(opt_study, optuna_storage, space, base)
            if sampler != "grid":  # a grid visits every point anyway
                start_from_recipe(opt_study, space, base, progress, base.seed if seed is None else seed)
    start = time.time()
    job = Job(
        recipe=base.to_dict(),
        source=base.source,
        name=base.name,
        study=name,
        storage=url,
        trials=trials,
        deadline=start + seconds if seconds is not None else None,
        sampler=sampler,
        pruner=pruner,
        seed=base.seed if seed is None else seed,
        threads=base.threads,
        runs=str(runs),
        session_start=start,
        workers=workers,
        progress=progress,
        heartbeat=(beat.interval, beat.grace),
        fresh=fresh,
    )
    interrupted = _run_workers(job) if workers > 1 else _run_here(job, optuna_storage)
    result = summarize(opt_study, url, interrupted=interrupted, elapsed=time.time() - start)
    write_outputs(result, Path(runs) / name, export)
    return result


def _default_url() -> str:
    from trainwise.storage import default_storage_url

    return default_storage_url()


def _default_objective(recipe: Recipe) -> Objective:
    from trainwise.engine.optim import LOSSES, build_loss

    real = recipe.loss in LOSSES and build_loss(recipe.loss, recipe.regularization).targets == "real"
    return Objective("val_loss", "minimize") if real else Objective("val_accuracy", "maximize")


def _check_metrics(recipe: Recipe, space: SearchSpace) -> None:
    """Each objective is logged by fit (or measured by tune): a typo fails now, not in every trial."""
    from trainwise.engine.optim import build_loss
    from trainwise.errors import did_you_mean

    targets = build_loss(recipe.loss, recipe.regularization).targets
    metrics = (
        recipe.metrics
        if "metrics" in recipe.model_fields_set
        else (["rmse", "mae"] if targets == "real" else ["accuracy"])
    )
    logged = ["train_loss", "val_loss", *(f"{s}_{m}" for s in ("train", "val") for m in metrics), *SPECIAL_METRICS]
    for objective in space.objectives:
        if objective.metric not in logged:
            raise ConfigError(
                f"metric '{objective.metric}' is not logged by this recipe; {did_you_mean(objective.metric, logged)}",
                source=recipe.source,
                key="search.metric",
            )


# --- running trials ------------------------------------------------------------------------------------


def quiet_optuna() -> None:
    """trainwise prints its own lines: Optuna's info logs and experimental-feature warnings are noise here."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.ERROR)
    logging.getLogger("optuna").setLevel(logging.ERROR)
    warnings.filterwarnings("ignore", category=optuna.exceptions.ExperimentalWarning)


@with_frozen_heap
def run_worker(job: Job, storage: Any = None) -> None:
    """Run trials of the study until it has `job.trials` done or the deadline passes."""
    import optuna

    from trainwise.tune.pruning import decision_epochs, make_pruner
    from trainwise.tune.samplers import make_sampler

    quiet_optuna()
    if job.threads is not None:
        import torch

        torch.set_num_threads(job.threads)
    recipe = build_recipe(job.recipe, source=job.source)
    recipe._source, recipe.name = job.source, job.name
    space = parse_search(recipe, _default_objective(recipe))
    storage = storage if storage is not None else open_storage(job.storage, heartbeat_settings(*job.heartbeat))
    probe = optuna.load_study(study_name=job.study, storage=storage)
    if job.trials is not None and count_done(probe) >= job.trials:
        return
    # the seed itself for a new study's first worker (repeatable); other workers and resumes draw anew
    seed = (job.seed + len(probe.trials) * 7919 + job.worker * 104_729) % 2**31
    study = optuna.load_study(
        study_name=job.study,
        storage=storage,
        sampler=make_sampler(job.sampler, space, seed=seed, workers=job.workers),
        pruner=make_pruner(job.pruner, recipe.epochs),
    )
    ctx = TrialContext(
        recipe=recipe,
        space=space,
        study=job.study,
        storage=redact(job.storage),
        store_url=job.storage,
        runs=Path(job.runs),
        deadline=job.deadline,
        prune=job.pruner != "none",
        decide_at=decision_epochs(job.pruner, recipe.epochs),
    )

    def objective(trial: Any) -> Any:
        try:
            return run_trial(trial, ctx)
        except optuna.TrialPruned:
            raise
        except KeyboardInterrupt:  # Ctrl-C may land before fit starts or after it ends: abandoned all the same
            if not trial.user_attrs.get("interrupted"):
                trial.set_user_attr("interrupted", True)
            raise
        except Exception as exc:
            if "error" not in trial.user_attrs:
                trial.set_user_attr("error", f"{type(exc).__name__}: {exc}")
            raise

    def after(study: Any, trial: Any) -> None:
        if job.progress:
            print(_trial_line(trial), file=sys.stderr, flush=True)

    lock = StudyLock(storage, job.storage, job.study)
    run_in_slots(
        study, objective, lock, trials=job.trials, deadline=job.deadline, callbacks=[after], stale_now=not job.fresh
    )


def count_done(study: Any) -> int:
    """Trials that count toward --trials: complete, pruned, or failed by an error the trial raised. Trials
    abandoned by Ctrl-C or by a killed worker do not (a killed one is retried: tune/heartbeat.py)."""
    return occupancy(study)[0]


def _trial_line(trial: Any) -> str:
    state = trial.state.name.lower()
    value = "" if trial.values is None else " ".join(f"{v:.4g}" for v in trial.values)
    why = trial.user_attrs.get("pruned_reason") or trial.user_attrs.get("error") or ""
    params = ", ".join(f"{k}={short_value(v)}" for k, v in trial.params.items())
    return f"trial {trial.number}: {state} {value} {('(' + why + ')') if why else ''} {params}".replace("  ", " ")


def short_value(value: Any) -> str:
    """A parameter's value for a line of text: floats to three significant digits."""
    return f"{value:.3g}" if isinstance(value, float) else str(value)


def _run_here(job: Job, storage: Any) -> bool:
    """One worker in this process; True when Ctrl-C ended it."""
    try:
        run_worker(job, storage)
    except KeyboardInterrupt:
        return True
    return False


def _run_workers(job: Job) -> bool:
    """K worker processes sharing the storage; True when Ctrl-C ended them. Threads: cores // K each."""
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else (os.cpu_count() or 1)
    threads = job.threads or max(1, cores // job.workers)
    folder = Path(tempfile.mkdtemp(prefix="trainwise-tune-"))
    procs: list[subprocess.Popen[bytes]] = []
    for index in range(job.workers):
        path = folder / f"worker-{index}.json"
        path.write_text(json.dumps(asdict(job) | {"worker": index, "threads": threads}), encoding="utf-8")
        procs.append(
            subprocess.Popen([sys.executable, "-m", "trainwise.tune.worker", str(path)], start_new_session=True)
        )
    interrupted = False
    try:
        codes = [p.wait() for p in procs]
    except KeyboardInterrupt:
        interrupted = True
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGINT)  # each worker finishes its epoch, saves, and marks the trial abandoned
        codes = [_wait_ignoring_interrupts(p) for p in procs]
    finally:
        for path in folder.iterdir():
            path.unlink()
        folder.rmdir()
    interrupted = interrupted or any(code == EXIT_INTERRUPTED for code in codes)
    failed = [i for i, code in enumerate(codes) if code not in (0, EXIT_INTERRUPTED)]
    if failed and not interrupted:
        raise RunError(f"tune worker {failed[0]} ended with exit status {codes[failed[0]]} (see its message above)")
    return interrupted


def _wait_ignoring_interrupts(proc: subprocess.Popen[bytes]) -> int:
    while True:
        try:
            return proc.wait()
        except KeyboardInterrupt:
            proc.kill()  # a second Ctrl-C: stop now


def _main_worker(path: str) -> int:
    """Entry point of a worker process (trainwise.tune.worker): exit 0, 130 on Ctrl-C, 2 on a user error."""
    job = Job(**json.loads(Path(path).read_text(encoding="utf-8")))
    try:
        run_worker(job)
    except KeyboardInterrupt:
        return EXIT_INTERRUPTED
    except TrainwiseError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return 0
