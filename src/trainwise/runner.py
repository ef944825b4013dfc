"""Train a built run in its run directory: callbacks, resume, Ctrl-C, the test split, summary.json.

Under DDP every rank trains; rank 0 alone writes the run's files.
"""

from __future__ import annotations

import contextlib
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from trainwise import rundir, runfacts
from trainwise.atomic import atomic_write_text, remove_stale_temps
from trainwise.build import Built
from trainwise.config import Recipe
from trainwise.engine import checkpoint, distributed, loop
from trainwise.engine.batches import make_batches
from trainwise.engine.callbacks import Callback, CallbackList, Checkpoint, EarlyStopping, HistoryFile, StepCheckpoint
from trainwise.engine.progress import make_progress
from trainwise.engine.state import Loop
from trainwise.fitresult import FitResult


def run(
    built: Built,
    recipe: Recipe,
    run_dir: Path,
    resume: bool,
    user_callbacks: list[Callback],
    progress: str,
    checkpoints: bool = True,
) -> FitResult:
    """Train the built Loop in `run_dir` (from its last checkpoint on a resume); write and return the result."""
    state_loop, data = built.loop, built.data
    writes = state_loop.ddp is None or state_loop.ddp.main  # under DDP rank 0 alone writes the run
    for file_name, text in data.artifacts.items():  # e.g. the text task's tokenizer, reused on resume
        if writes and not (run_dir / file_name).is_file():
            atomic_write_text(run_dir / file_name, text)
    ordered: list[Callback] = []
    autopilot = runfacts.make_autopilot(recipe, data)
    if autopilot is not None:
        ordered.append(autopilot)  # first: a rollback verdict must reach early stopping, history and checkpoints
    if recipe.early_stopping is not None:
        es = recipe.early_stopping
        ordered.append(EarlyStopping(es.monitor, es.mode, es.patience, es.min_delta, es.restore_best))
    ordered.extend(user_callbacks)
    if writes:
        ordered.append(HistoryFile(run_dir / "history.jsonl"))
    callbacks = CallbackList(ordered)
    extra = {"data": data.name, "classes": data.classes}
    folder = run_dir / "checkpoints"
    every = recipe.checkpoint_every_steps
    saver = StepCheckpoint(folder, callbacks, every, extra) if every else Checkpoint(folder, callbacks, extra)
    if (checkpoints or resume) and writes:
        callbacks.add(saver)
    bar = make_progress(progress if writes else "off")
    if bar is not None:
        callbacks.add(bar)
    if resume:
        if writes:
            remove_stale_temps(folder)  # left by a kill -9 in the middle of a checkpoint write
        saved = checkpoint.load(folder / "last.pt", map_location=state_loop.device)
        callbacks.load_states(checkpoint.restore(state_loop, saved, source=folder / "last.pt"))
    facts = runfacts.collect(state_loop, data)
    with _stop_on_interrupt(state_loop):
        loop.run(state_loop, callbacks)
        while autopilot is not None and autopilot.recover(state_loop):  # rolled back: go on from there
            loop.run(state_loop, callbacks)
    if state_loop.average is not None and state_loop.state.stopped_reason != "interrupted":
        whole = getattr(state_loop.train, "inner", state_loop.train)  # under DDP: batch-norm statistics on all data
        state_loop.average.finish(state_loop.model, (x for x, _ in whole.epoch(None)))
    test_logs = None
    if data.test is not None and state_loop.state.stopped_reason not in ("diverged", "interrupted"):
        test_batches = distributed.shard(make_batches(data.test, 1024, state_loop.device), state_loop.ddp)
        with state_loop.precision.autocast() if state_loop.precision is not None else contextlib.nullcontext():
            test_logs = loop.evaluate(state_loop.model, test_batches, state_loop.loss, state_loop.metric_names)
    state = state_loop.state
    result = FitResult(
        run_dir=run_dir,
        history=state.history,
        test=test_logs,
        best_epoch=state.best_epoch,
        best_value=state.best_value,
        monitor=state_loop.monitor,
        stopped_reason=state.stopped_reason or "completed",
        diverged_step=state.diverged_step,
        weights_epoch=state.weights_epoch,
        recipe=recipe,
        model=state_loop.model,
        data=data.name,
        report=data.report,
    )
    if not writes:
        return result
    result.findings = runfacts.record(result, facts)  # facts.json and findings.json
    rundir.write_json(run_dir / "summary.json", result.to_dict())
    return result


@contextlib.contextmanager
def _stop_on_interrupt(state_loop: Loop) -> Iterator[None]:
    """First Ctrl-C: stop after the current step and save; a second one interrupts at once."""
    try:
        previous = signal.getsignal(signal.SIGINT)
    except ValueError:  # not the main thread
        yield
        return

    def handler(signum: int, frame: Any) -> None:
        state_loop.state.stop = True
        state_loop.state.stopped_reason = "interrupted"
        signal.signal(signal.SIGINT, previous)

    try:
        signal.signal(signal.SIGINT, handler)
    except ValueError:
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
