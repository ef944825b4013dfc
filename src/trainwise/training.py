"""`trainwise.fit`: one run of a task under a recipe, saved to a run directory, resumable exactly.

Everything that can be wrong with the input (config, data, model shape) is checked before the run
directory is touched, so a bad call never damages an earlier run.
"""

from __future__ import annotations

import contextlib
import math
import random
import signal
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainwise import rundir, runfacts
from trainwise.atomic import atomic_write_text, remove_stale_temps
from trainwise.config import Recipe
from trainwise.engine import checkpoint, distributed, loop
from trainwise.engine.batches import make_batches
from trainwise.engine.callbacks import (
    Callback,
    CallbackList,
    Checkpoint,
    EarlyStopping,
    HistoryFile,
    StepCheckpoint,
)
from trainwise.engine.features import build_features
from trainwise.engine.metrics import build_metric, higher_is_better
from trainwise.engine.optim import LOSSES, build_loss, build_optimizer, build_schedule
from trainwise.engine.progress import make_progress
from trainwise.engine.state import Loop
from trainwise.errors import ConfigError, TrainwiseError, did_you_mean
from trainwise.models import MODELS, build_model
from trainwise.recipes import resolve_recipe
from trainwise.tasks import TaskData, get_task
from trainwise.userdata import check_model_fits, user_task_data


@dataclass
class FitResult:
    """What a run produced: its history, test metrics, best epoch, why it stopped, and the trained model."""

    run_dir: Path
    history: list[dict[str, Any]]
    test: dict[str, float] | None
    best_epoch: int | None
    best_value: float | None
    monitor: str
    stopped_reason: str
    diverged_step: int | None
    recipe: Recipe
    model: nn.Module = field(repr=False)
    data: str = ""
    weights_epoch: int | None = None  # the epoch whose weights `model` holds (early stopping may restore one)
    findings: list[Any] = field(default_factory=list)  # trainwise.diagnose's findings (also in findings.json)
    report: dict[str, Any] = field(default_factory=dict)  # the task's extra figures (baseline, counts)

    @property
    def final(self) -> dict[str, Any]:
        """The last epoch's logs (empty if no epoch finished)."""
        return self.history[-1] if self.history else {}

    @property
    def kept(self) -> dict[str, Any]:
        """The logs of the epoch whose weights the returned model holds (the restored best, or the last)."""
        if self.weights_epoch is not None and 0 < self.weights_epoch <= len(self.history):
            return self.history[self.weights_epoch - 1]
        return self.final

    def to_pandas(self) -> Any:
        """The history as a pandas DataFrame indexed by epoch (needs pandas: the `notebook` extra)."""
        from trainwise.notebook import history_frame

        return history_frame(self.history)

    def plot(self) -> Any:
        """Loss and metric curves per epoch, train and validation; returns a matplotlib Figure."""
        from trainwise.notebook import plot_history

        return plot_history(self.history, title=self.data or None)

    def to_dict(self) -> dict[str, Any]:
        """Plain data for `--json` and summary.json (NaN/Inf become null)."""
        return rundir.json_safe(
            {
                "run_dir": str(self.run_dir),
                "data": self.data,
                "history": self.history,
                "test": self.test,
                "best_epoch": self.best_epoch,
                "best_value": self.best_value,
                "monitor": self.monitor,
                "stopped_reason": self.stopped_reason,
                "diverged_step": self.diverged_step,
                "epochs_completed": len(self.history),
                "config": self.recipe.to_dict(),
                "findings": [finding.to_dict() for finding in self.findings],
                **self.report,
            }
        )


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
    recipe = _spell_out_metrics(resolve_recipe(recipe, settings, overrides))
    if resume and out_dir is not None:
        recipe = rundir.resume_recipe(out_dir, recipe)
        recipe._resume_dir = str(out_dir)  # tasks reuse what the run saved (the text task's tokenizer)
    try:
        built = _build(recipe, model, train, val, test)
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
        result = _run(built, recipe, run_dir, resume, [*(callbacks or []), *recorder], progress, checkpoints)
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


@dataclass
class _Built:
    loop: Loop
    data: TaskData


def _build(recipe: Recipe, user_model: nn.Module | None, train: Any, val: Any, test: Any) -> _Built:
    """Data, model, optimizer, schedule and metrics for the recipe: every check happens here."""
    device = resolve_device(recipe.device)
    ddp = distributed.setup(device)  # None unless launched as several processes (torchrun)
    if ddp is not None:
        device = ddp.device  # cuda:LOCAL_RANK on a GPU machine
    if recipe.threads is not None:
        torch.set_num_threads(recipe.threads)
    seed_everything(recipe.seed)
    loss = build_loss(recipe.loss, recipe.regularization)
    metric_names = _metric_names(recipe, loss.targets)
    if recipe.optimizer.name == "gd" and recipe.batch_size != "full":
        raise ConfigError(
            "optimizer 'gd' is full-batch gradient descent: set batch_size = \"full\" (or use 'sgd' for mini-batches)",
            key="batch_size",
        )
    task = get_task(recipe.task)
    if train is not None:
        data = user_task_data(train, val, test, recipe, loss.targets)
    else:
        data = task.load(recipe, loss.targets)
    if user_model is None and loss.targets == "class" and data.num_classes is None:
        raise TrainwiseError("pass model= when train is a Dataset: the number of classes cannot be inferred from it")
    if user_model is not None:
        net = user_model
    else:
        if recipe.model.name in MODELS and recipe.model.name not in task.models:  # unknown names: build_model
            raise ConfigError(
                f"model '{recipe.model.name}' does not fit task '{task.name}'; "
                f"expected one of {', '.join(task.models)}",
                key="model.name",
            )
        outputs = data.num_classes if loss.targets == "class" and data.num_classes else 1
        model_cfg = recipe.model.model_copy(update=data.model_settings) if data.model_settings else recipe.model
        task_model = getattr(task, "build_model", None)  # a task whose model sizes come from its data builds it
        net = task_model(recipe, data) if task_model else build_model(model_cfg, data.input_shape, outputs)
    net = net.to(device)
    check_model_fits(net, data, loss.targets, device)
    batch_size = None if recipe.batch_size == "full" else int(recipe.batch_size)
    train_batches = make_batches(data.train, batch_size, device)
    val_batches = make_batches(data.val, max(batch_size or 0, 1024), device) if data.val is not None else None
    monitor = _monitor(recipe.monitor, metric_names, val_batches is not None, "monitor")
    if recipe.early_stopping is not None:
        _monitor(recipe.early_stopping.monitor, metric_names, val_batches is not None, "early_stopping.monitor")
    optimizer = build_optimizer(net.parameters(), recipe.optimizer, recipe.regularization)
    schedule = build_schedule(
        optimizer,
        recipe.schedule,
        steps_per_epoch=math.ceil(len(train_batches) / recipe.accumulate_steps),  # optimizer steps
        epochs=recipe.epochs,
        mode_max=higher_is_better(recipe.schedule.monitor),
    )
    if schedule.monitor is not None:
        _monitor(schedule.monitor, metric_names, val_batches is not None, "schedule.monitor")
    shuffle = torch.Generator().manual_seed(recipe.seed)
    state_loop = Loop(
        model=net,
        optimizer=optimizer,
        loss=loss,
        schedule=schedule,
        train=train_batches,
        val=val_batches,
        metric_names=metric_names,
        epochs=recipe.epochs,
        device=device,
        shuffle=shuffle,
        monitor=monitor,
        monitor_max=higher_is_better(monitor),
        grad_clip=recipe.regularization.grad_clip,
        l1=recipe.regularization.l1,
        l2=recipe.regularization.l2,
        # ranking metrics need full rankings: training batches hold sampled negatives, so none on train
        train_metrics=[build_metric(name) for name in metric_names if "@" not in name],
        **build_features(recipe, net, data.input_shape, device),
    )
    if ddp is not None:
        backend = None if not recipe.compile else "inductor" if recipe.compile is True else recipe.compile
        distributed.attach(state_loop, ddp, backend)
    return _Built(state_loop, data)


def _run(
    built: _Built,
    recipe: Recipe,
    run_dir: Path,
    resume: bool,
    user_callbacks: list[Callback],
    progress: str,
    checkpoints: bool = True,
) -> FitResult:
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


def _claim_run_dir(out: Path | None, recipe: Recipe) -> Path:
    if out is not None:
        return rundir.claim_out_dir(out)
    return rundir.new_run_dir(recipe.name or "run")


def _spell_out_metrics(recipe: Recipe) -> Recipe:
    """Default metrics follow the loss: name them in the recipe, so config.toml says what ran and a resume,
    which reloads config.toml, measures the same (the static default `accuracy` does not fit a regression)."""
    if "metrics" in recipe.model_fields_set or recipe.loss not in LOSSES:  # an unknown loss is reported by _build
        return recipe
    targets = build_loss(recipe.loss, recipe.regularization).targets
    if targets == "ranking":
        return recipe.model_copy(update={"metrics": ["hr@10", "ndcg@10", "recall@20"]})
    return recipe.model_copy(update={"metrics": ["accuracy"] if targets != "real" else ["rmse", "mae"]})


def _metric_names(recipe: Recipe, targets: str) -> list[str]:
    """The recipe's metrics (spelled out by `fit`), checked against the kind of targets."""
    for name in recipe.metrics:
        metric = build_metric(name)  # raises for unknown names
        if ("@" in metric.name) != (targets == "ranking"):  # hr@10, ndcg@10, ...: ranking losses only
            kind = "a ranking metric" if "@" in metric.name else "not a ranking metric"
            raise ConfigError(f"metric '{name}' does not fit loss '{recipe.loss}' ({kind})", key="metrics")
        if targets == "ranking":
            continue
        regression = metric.name in ("mse", "rmse", "mae")
        if regression != (targets == "real"):
            kind = "a regression loss" if targets == "real" else "class labels"
            raise ConfigError(f"metric '{name}' does not fit loss '{recipe.loss}' ({kind})", key="metrics")
        if targets == "binary" and metric.name.startswith("top"):
            raise ConfigError(f"metric '{name}' needs more than two classes", key="metrics")
    return list(recipe.metrics)


def _monitor(name: str, metric_names: list[str], has_val: bool, key: str) -> str:
    """Check a monitored key exists in the logs; `val_loss` falls back to `train_loss` without validation."""
    logged = ["train_loss", "lr", *(f"train_{m}" for m in metric_names)]
    if has_val:
        logged += ["val_loss", *(f"val_{m}" for m in metric_names)]
    if name == "val_loss" and not has_val:
        return "train_loss"
    if name not in logged:
        raise ConfigError(f"'{name}' is not logged by this run; {did_you_mean(name, logged)}", key=key)
    return name


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when present, else CPU; an explicit CUDA device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}'; expected auto, cpu, cuda or cuda:N", key="device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError('CUDA is not available on this machine; use device = "auto" or "cpu"', key="device")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device '{name}'; expected auto, cpu, cuda or cuda:N", key="device")
    return device


def seed_everything(seed: int) -> None:
    """One seed drives Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


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
