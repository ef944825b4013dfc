"""`trainwise.fit`: one run of a task under a recipe, saved to a run directory, resumable exactly.

Everything that can be wrong with the input (config, data, model shape) is checked before the run
directory is touched, so a bad call never damages an earlier run: `build` checks and builds, then `fit`
claims the run directory, records the run in the store, and `runner.run` trains it.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from torch import nn

from trainwise import rundir, runner
from trainwise.build import build, spell_out_metrics
from trainwise.config import Recipe
from trainwise.engine import distributed
from trainwise.engine.callbacks import Callback
from trainwise.errors import ConfigError, TrainwiseError
from trainwise.fitresult import FitResult
from trainwise.recipes import resolve_recipe


def fit(
    recipe: Recipe | dict[str, Any] | str | Path | None = None,
    *,
    model: nn.Module | str | dict[str, Any] | None = None,
    train: Any = None,
    val: Any = None,
    test: Any = None,
    out: str | Path | None = None,
    resume: bool = False,
    callbacks: list[Callback] | None = None,
    progress: str = "auto",
    overrides: list[str] | None = None,
    store: bool | str = True,
    checkpoints: bool = True,
    report: bool = False,
    **settings: Any,
) -> FitResult:
    """Train a model under a recipe and save the run; returns its history, test metrics and the model.

    `recipe` is a Recipe, a dict, or a TOML path; `settings` set recipe keys directly (`epochs=3`,
    `learning_rate=0.01`, `optimizer="sgd"`, `model={"hidden": [128]}`); `overrides` are `key=value` strings.
    `model` may be any nn.Module returning logits; `train`/`val`/`test` may be (x, y) tensors or arrays, or a
    Dataset of (x, y) pairs, and replace the recipe's data. `progress` is auto | bar | plain | off.
    `store` records the run in the run store (True: the shared default database; a URL: that one; False: off).
    `checkpoints=False` writes no checkpoints/ (for short runs never resumed, such as tune trials).
    `report=True` writes report.html into the run directory (before the store lists the run's files).

    >>> result = trainwise.fit("examples/mlp.toml", epochs=1)      # doctest: +SKIP
    >>> result.final["val_accuracy"]                                # doctest: +SKIP
    """
    if isinstance(model, (str, dict)):  # model="cnn" / model={"hidden": [128]} set the [model] section
        settings["model"], model = model, None
    out_dir = Path(out) if out is not None else None
    if resume and out_dir is None:
        raise TrainwiseError("resume needs the run directory: pass out=DIR (--out DIR)")
    if resume and recipe is None and out_dir is not None and (out_dir / "config.toml").is_file():
        recipe = out_dir / "config.toml"  # fit(out=DIR, resume=True): continue the saved recipe
    recipe = spell_out_metrics(resolve_recipe(recipe, settings, overrides))
    if resume and out_dir is not None:
        recipe = rundir.resume_recipe(out_dir, recipe)
        recipe._resume_dir = str(out_dir)  # tasks reuse what the run saved (the text task's tokenizer)
    try:
        built = build(recipe, model, train, val, test)
    except TrainwiseError as exc:
        if isinstance(exc, ConfigError) or exc.key:  # a config key is at fault: name the file it is in
            exc.source = exc.source or recipe.source
        raise
    ddp = built.loop.ddp
    if ddp is not None:  # under torchrun: rank 0 claims and writes, the others learn the directory from it
        run_dir = _claim_shared_run_dir(ddp, out_dir, recipe, resume)
        store = store if ddp.main else False
    else:
        run_dir = out_dir if resume and out_dir else _claim_run_dir(out_dir, recipe)
    if ddp is None or ddp.main:
        rundir.write_config(run_dir, recipe)  # on resume: records a changed epochs/device/threads
    recorder = _store_recorder(store, recipe, run_dir)
    with _record_failure(recorder):
        result = runner.run(built, recipe, run_dir, resume, [*(callbacks or []), *recorder], progress, checkpoints)
        if report and (ddp is None or ddp.main):
            from trainwise.report.html import report as write_report

            write_report(run_dir)
    for done in recorder:
        done.finish_from(result.stopped_reason, result.test)
    if ddp is not None:
        ddp.barrier()  # every rank returns once rank 0 has written the run (summary, findings, store)
    return result


def _claim_shared_run_dir(ddp: distributed.Distributed, out: Path | None, recipe: Recipe, resume: bool) -> Path:
    """Rank 0 claims the run directory (or keeps --out on a resume) and tells the other ranks its path."""
    claimed: str | None = None
    error: TrainwiseError | None = None
    if ddp.main:
        try:
            claimed = str(out if resume and out else _claim_run_dir(out, recipe))
        except TrainwiseError as exc:
            error = exc
    shared = ddp.broadcast_text(claimed)
    if error is not None:
        raise error
    if shared is None:
        raise TrainwiseError("rank 0 could not claim the run directory (see its error)")
    return Path(shared)


def _store_recorder(store: bool | str, recipe: Recipe, run_dir: Path) -> list[Any]:
    """The callback recording this run in the run store (as a list: empty when `store` is off)."""
    if store is False:
        return []
    from trainwise.store.recorder import StoreRecorder

    return [StoreRecorder(run_dir, recipe.to_dict(), url=store if isinstance(store, str) else None)]


@contextlib.contextmanager
def _record_failure(recorders: list[Any]) -> Iterator[None]:
    """A run that raises is recorded as failed (or interrupted by a second Ctrl-C), then the error goes on."""
    try:
        yield
    except KeyboardInterrupt:
        for recorder in recorders:
            recorder.finish("interrupted", reason="interrupted")
        raise
    except BaseException as exc:
        for recorder in recorders:
            recorder.finish("failed", reason="error", error=f"{type(exc).__name__}: {exc}")
        raise


def _claim_run_dir(out: Path | None, recipe: Recipe) -> Path:
    """The run directory: `out` when given (it must be new or empty), else a new one named after the run."""
    if out is not None:
        return rundir.claim_out_dir(out)
    return rundir.new_run_dir(recipe.name or "run")
