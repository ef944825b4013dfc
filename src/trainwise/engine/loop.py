"""The fit loop: `run` is built from `train_epoch` and `evaluate`, which a user can call on their own.

The hot path does only what a hand-written loop does plus on-device sums for the epoch's loss and metrics;
the host waits on the device once per epoch (and once per step on CPU, where that costs nothing, to stop
at the exact step a loss turns NaN/Inf).
"""

from __future__ import annotations

import contextlib
import math
import time
from typing import Any

import torch
from torch import nn

from trainwise.engine.batches import Batches
from trainwise.engine.callbacks import CallbackList, improved
from trainwise.engine.metrics import build_metric
from trainwise.engine.optim import Loss, penalty, penalty_weights
from trainwise.engine.state import Loop

_CUDA_CHECK_EVERY = 32  # steps between finiteness checks on an accelerator (each check is a sync)


def run(loop: Loop, callbacks: CallbackList) -> Loop:
    """Train until `epochs`, a stop flag, or divergence; history and best epoch end up in `loop.state`."""
    state = loop.state
    callbacks.on_fit_start(loop)
    while state.epoch < loop.epochs and not state.stop:
        callbacks.on_epoch_start(loop)
        if loop.average is not None and loop.average.swa_epoch(state.epoch):
            loop.average.begin_swa(loop.optimizer)
        loop.progress.session_start = time.perf_counter()
        train_logs = train_epoch(loop, callbacks)
        if state.stop and state.stopped_reason != "diverged":
            break  # interrupted or stopped mid-epoch: position kept for a resume
        logs: dict[str, Any] = {"epoch": state.epoch + 1, **train_logs}
        swa_epoch = loop.average is not None and loop.average.swa_epoch(state.epoch)
        if swa_epoch and state.stopped_reason != "diverged":
            assert loop.average is not None
            loop.average.update(loop.model)
        if loop.val is not None and state.stopped_reason != "diverged":
            logs.update(validate(loop))
        logs["lr"] = loop.lr
        logs["step"] = state.step
        logs["seconds"] = loop.progress.elapsed()
        state.epoch += 1
        state.batch = 0
        loop.progress.seconds = 0.0
        state.logs = logs
        state.history.append(logs)
        _track_best(loop, logs)
        _step_epoch_schedule(loop, logs, swa_epoch)
        callbacks.on_epoch_end(loop)
        if loop.ddp is not None and loop.ddp.any(state.stop) and not state.stop:
            state.stop = True  # a callback on another rank stopped the run: every rank stops after this epoch
    if not state.stop:
        state.stopped_reason = "completed"
    elif state.stopped_reason is None:
        state.stopped_reason = "callback"  # a callback set the stop flag without naming a reason
    callbacks.on_fit_end(loop)
    return loop


def train_epoch(loop: Loop, callbacks: CallbackList) -> dict[str, float]:
    """One pass over the training batches (from `loop.state.batch` when resuming); returns train_* logs.

    Chooses its path once per epoch: the lean loop when no accumulation, autocast, averaging, augmentation
    or compile is on (so features that are off cost nothing per step), else the loop that has them all.
    """
    if loop.state.batch == 0:
        _begin_epoch(loop)
    if loop.plain:
        _plain_steps(loop, callbacks)
    else:
        _full_steps(loop, callbacks)
    return _epoch_logs(loop)


def _begin_epoch(loop: Loop) -> None:
    progress = loop.progress
    progress.order = _epoch_order(loop)
    progress.loss_sum = torch.zeros((), device=loop.device)
    progress.samples = 0
    for metric in loop.train_metrics:
        metric.reset()


def _epoch_logs(loop: Loop) -> dict[str, float]:
    state = loop.state
    if state.stopped_reason == "diverged":
        return {"train_loss": math.nan}
    assert loop.progress.loss_sum is not None
    if not state.stop and loop.device.type != "cpu" and not torch.isfinite(loop.progress.loss_sum):
        _diverged(loop, state.step)
        return {"train_loss": math.nan}
    if loop.ddp is not None:  # every rank logs the whole batch's figures (the rank's own sums stay as they are)
        metrics = list(loop.train_metrics)
        loss_sum, samples = loop.ddp.reduce_sums(loop.progress.loss_sum, loop.progress.samples, metrics)
        reduced = {"train_loss": loss_sum / samples if samples else math.nan}
        return reduced | {f"train_{m.name}": m.compute() for m in metrics}
    logs = {"train_loss": loop.running_loss()}
    logs.update({f"train_{m.name}": m.compute() for m in loop.train_metrics})
    return logs


def _plain_steps(loop: Loop, callbacks: CallbackList) -> None:
    """The lean loop: one batch, one optimizer step."""
    model, optimizer, state, progress = loop.model, loop.optimizer, loop.state, loop.progress
    loss_fn = loop.loss.fn
    metrics = loop.train_metrics
    loss_sum = progress.loss_sum
    assert loss_sum is not None
    weights = penalty_weights(model) if (loop.l1 or loop.l2) else None
    params = [p for group in optimizer.param_groups for p in group["params"]]
    per_step_schedule = loop.schedule.scheduler if loop.schedule.interval == "step" else None
    check_every = 1 if loop.device.type == "cpu" else _CUDA_CHECK_EVERY
    recent = torch.empty(check_every, device=loop.device)
    batch_hooks = bool(callbacks.per_batch)
    model.train()
    for x, y in loop.train.epoch(progress.order, state.batch):
        outputs = model(x)
        loss = loss_fn(outputs, y)
        if check_every == 1:
            if not math.isfinite(loss.item()):
                _diverged(loop, state.step + 1)
                break
        else:
            recent[state.step % check_every] = loss.detach()
        total = loss
        if weights is not None:
            extra = penalty(weights, loop.l1, loop.l2)
            if extra is not None:
                total = loss + extra
        optimizer.zero_grad(set_to_none=True)
        total.backward()
        if loop.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, loop.grad_clip)
        optimizer.step()
        if per_step_schedule is not None:
            per_step_schedule.step()
        state.step += 1
        state.batch += 1
        count = y.shape[0]
        loss_sum.add_(loss.detach(), alpha=count)
        progress.samples += count
        detached = outputs.detach()
        for metric in metrics:
            metric.update(detached, y)
        if check_every > 1 and state.step % check_every == 0 and not torch.isfinite(loss_sum):
            _diverged(loop, state.step - check_every + 1 + _first_bad(recent))
            break
        if batch_hooks:
            callbacks.on_batch_end(loop)
            if state.stop:
                break


def _full_steps(loop: Loop, callbacks: CallbackList) -> None:
    """The loop with accumulation, autocast (+ fp16 scaling), EMA, augmentation and a compiled forward.

    With `accumulate_steps = k`, batches [g*k, g*k + k) of the epoch make one optimizer step; each batch's loss
    is weighted by its share of the step's samples, so the step equals one over the concatenated batch (an
    uneven last group included). `state.step` counts optimizer steps, `state.batch` batches; callbacks run
    after every batch, and a checkpoint taken mid-group carries the gradients accumulated so far.
    """
    model, optimizer, state, progress = loop.model, loop.optimizer, loop.state, loop.progress
    loss_fn = loop.loss.fn
    metrics = loop.train_metrics
    loss_sum = progress.loss_sum
    assert loss_sum is not None
    weights = penalty_weights(model) if (loop.l1 or loop.l2) else None
    params = [p for group in optimizer.param_groups for p in group["params"]]
    average = loop.average
    swa_epoch = average is not None and average.swa_epoch(state.epoch)
    per_step_schedule = loop.schedule.scheduler if loop.schedule.interval == "step" and not swa_epoch else None
    ema = average if average is not None and average.kind == "ema" else None
    autocast = loop.precision.autocast if loop.precision is not None else contextlib.nullcontext
    scaler = loop.precision.scaler if loop.precision is not None else None
    augment = loop.augment
    forward = loop.forward or model
    k = loop.accumulate_steps
    batches = len(loop.train)
    check_every = 1 if loop.device.type == "cpu" else _CUDA_CHECK_EVERY
    recent = torch.empty(check_every, device=loop.device)
    recent_steps = [0] * check_every
    batch_hooks = bool(callbacks.per_batch)
    ddp = loop.ddp
    world = ddp.world_size if ddp is not None else 1
    model.train()
    for seen, (x, y) in enumerate(loop.train.epoch(progress.order, state.batch), start=1):
        batch = state.batch
        count = y.shape[0]
        no_sync = None
        if ddp is not None:
            count = loop.train.share(batch)  # type: ignore[attr-defined]  # 0: a stand-in sample, weighted 0
            no_sync = contextlib.ExitStack()
            if (batch + 1) % k and batch + 1 < batches and ddp.model is not None:
                no_sync.enter_context(ddp.model.no_sync())  # mid-accumulation: no gradient all-reduce yet
        mixed, weight = None, 1.0
        if augment is not None:
            x, mixed, weight = augment(x, y, state.epoch, batch)
        with autocast():
            outputs = forward(x)
            loss = loss_fn(outputs, y)
            if mixed is not None:
                loss = weight * loss + (1.0 - weight) * loss_fn(outputs, mixed)
        if ddp is not None:
            if not ddp.finite(loss, count):  # all ranks agree, so all stop at the same step
                if no_sync is not None:
                    no_sync.close()  # leave DDP syncing (an autopilot rollback trains on)
                _diverged(loop, state.step + 1)
                break
        elif check_every == 1:
            if not math.isfinite(loss.item()):
                _diverged(loop, state.step + 1)
                break
        else:
            recent[(seen - 1) % check_every] = loss.detach()
            recent_steps[(seen - 1) % check_every] = state.step + 1
        total = loss
        if weights is not None:
            extra = penalty(weights, loop.l1, loop.l2)
            if extra is not None:
                total = loss + extra
        if k > 1 or world > 1:  # DDP averages the ranks' gradients: weight by this rank's share of the samples
            total = total * (count * world / _group_samples(loop, batch - batch % k))
        if batch % k == 0:
            optimizer.zero_grad(set_to_none=True)
        (scaler.scale(total) if scaler is not None else total).backward()
        if no_sync is not None:
            no_sync.close()
        state.batch += 1
        if state.batch % k == 0 or state.batch == batches:
            optimizer_step(loop, params, scaler)
            if per_step_schedule is not None:
                per_step_schedule.step()
            if ema is not None:
                ema.update(model)
            state.step += 1
        loss_sum.add_(loss.detach(), alpha=count)
        progress.samples += count
        detached = outputs.detach()
        for metric in metrics if count else ():
            metric.update(detached, y)
        if ddp is None and check_every > 1 and seen % check_every == 0 and not torch.isfinite(loss_sum):
            _diverged(loop, recent_steps[_first_bad(recent)])
            break
        if batch_hooks:
            callbacks.on_batch_end(loop)
        if ddp is not None and ddp.any(state.stop):
            state.stop = True
            state.stopped_reason = state.stopped_reason or "interrupted"  # Ctrl-C reached another rank first
        if state.stop:
            break


def optimizer_step(loop: Loop, params: list[torch.Tensor], scaler: torch.amp.GradScaler | None) -> None:
    """Clip (after unscaling fp16 gradients) and step; the scaler skips steps whose gradients overflowed."""
    if scaler is None:
        if loop.grad_clip is not None:
            torch.nn.utils.clip_grad_norm_(params, loop.grad_clip)
        loop.optimizer.step()
        return
    if loop.grad_clip is not None:
        scaler.unscale_(loop.optimizer)
        torch.nn.utils.clip_grad_norm_(params, loop.grad_clip)
    scaler.step(loop.optimizer)
    scaler.update()


def _group_samples(loop: Loop, first: int) -> int:
    """Samples in the accumulation group starting at batch `first` (every batch but the epoch's last is full)."""
    size = loop.train.batch_size
    return min((first + loop.accumulate_steps) * size, loop.train.num_samples) - first * size


def validate(loop: Loop) -> dict[str, float]:
    """The `val_` logs of the weights the run keeps (the EMA's when there is one), under the run's precision."""
    if loop.val is None:
        return {}
    with loop.precision.autocast() if loop.precision is not None else contextlib.nullcontext():
        return evaluate(loop.eval_model, loop.val, loop.loss, loop.metric_names, prefix="val_")


@torch.inference_mode()
def evaluate(
    model: nn.Module, batches: Batches, loss: Loss, metric_names: list[str], prefix: str = ""
) -> dict[str, float]:
    """Mean loss and metrics over `batches` in eval mode, without gradients; keys are `prefix + name`."""
    was_training = model.training
    model.eval()
    metrics = [build_metric(name) for name in metric_names]
    device = next(model.parameters()).device
    loss_sum = torch.zeros((), device=device)
    samples = 0
    for x, y in batches.epoch(None):
        outputs = model(x)
        loss_sum += loss.fn(outputs, y) * y.shape[0]
        samples += y.shape[0]
        for metric in metrics:
            metric.update(outputs, y)
    model.train(was_training)
    reduce = getattr(batches, "all_reduce", None)  # DDP: each rank evaluated its share; sum them
    if reduce is not None:
        total, samples = reduce(loss_sum, samples, metrics)
        loss_sum = torch.tensor(total)
    logs = {f"{prefix}loss": float(loss_sum) / samples if samples else math.nan}
    logs.update({f"{prefix}{m.name}": m.compute() for m in metrics})
    return logs


def _epoch_order(loop: Loop) -> torch.Tensor | None:
    """A fresh permutation from the run's own generator; None (no shuffle) for full-batch descent."""
    if len(loop.train) == 1:
        return None
    return torch.randperm(loop.train.num_samples, generator=loop.shuffle)


def _diverged(loop: Loop, step: int) -> None:
    loop.state.stop = True
    loop.state.stopped_reason = "diverged"
    loop.state.diverged_step = step


def _first_bad(recent: torch.Tensor) -> int:
    bad = (~torch.isfinite(recent)).nonzero()
    return int(bad[0, 0]) if len(bad) else 0


def _track_best(loop: Loop, logs: dict[str, Any]) -> None:
    value = logs.get(loop.monitor)
    if value is not None and improved(float(value), loop.state.best_value, loop.monitor_max):
        loop.state.best_value = float(value)
        loop.state.best_epoch = logs["epoch"]


def _step_epoch_schedule(loop: Loop, logs: dict[str, Any], swa_epoch: bool = False) -> None:
    schedule = loop.schedule
    if swa_epoch:
        assert loop.average is not None and loop.average.scheduler is not None
        loop.average.scheduler.step()  # SWALR replaces the recipe's schedule from swa_start_epoch on
    elif schedule.interval == "epoch":
        schedule.scheduler.step()
    elif schedule.interval == "plateau" and schedule.monitor is not None:
        value = logs.get(schedule.monitor)
        if value is not None and math.isfinite(value):
            schedule.scheduler.step(value)
