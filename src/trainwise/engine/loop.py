"""The fit loop: `run` is built from `train_epoch` and `evaluate`, which a user can call on their own.

The hot path does only what a hand-written loop does plus on-device sums for the epoch's loss and metrics;
the host waits on the device once per epoch (and once per step on CPU, where that costs nothing, to stop
at the exact step a loss turns NaN/Inf).
"""

from __future__ import annotations

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
        loop.progress.session_start = time.perf_counter()
        train_logs = train_epoch(loop, callbacks)
        if state.stop and state.stopped_reason != "diverged":
            break  # interrupted or stopped mid-epoch: position kept for a resume
        logs: dict[str, Any] = {"epoch": state.epoch + 1, **train_logs}
        if loop.val is not None and state.stopped_reason != "diverged":
            logs.update(evaluate(loop.model, loop.val, loop.loss, loop.metric_names, prefix="val_"))
        logs["lr"] = loop.lr
        logs["step"] = state.step
        logs["seconds"] = loop.progress.elapsed()
        state.epoch += 1
        state.batch = 0
        loop.progress.seconds = 0.0
        state.logs = logs
        state.history.append(logs)
        _track_best(loop, logs)
        _step_epoch_schedule(loop, logs)
        callbacks.on_epoch_end(loop)
    if not state.stop:
        state.stopped_reason = "completed"
    elif state.stopped_reason is None:
        state.stopped_reason = "callback"  # a callback set the stop flag without naming a reason
    callbacks.on_fit_end(loop)
    return loop


def train_epoch(loop: Loop, callbacks: CallbackList) -> dict[str, float]:
    """One pass over the training batches (from `loop.state.batch` when resuming); returns train_* logs."""
    model, optimizer, state, progress = loop.model, loop.optimizer, loop.state, loop.progress
    loss_fn = loop.loss.fn
    metrics = loop.train_metrics
    if state.batch == 0:
        progress.order = _epoch_order(loop)
        progress.loss_sum = torch.zeros((), device=loop.device)
        progress.samples = 0
        for metric in metrics:
            metric.reset()
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
    if state.stopped_reason == "diverged":
        return {"train_loss": math.nan}
    if not state.stop and check_every > 1 and not torch.isfinite(loss_sum):
        _diverged(loop, state.step)
        return {"train_loss": math.nan}
    logs = {"train_loss": loop.running_loss()}
    logs.update({f"train_{m.name}": m.compute() for m in metrics})
    return logs


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


def _step_epoch_schedule(loop: Loop, logs: dict[str, Any]) -> None:
    schedule = loop.schedule
    if schedule.interval == "epoch":
        schedule.scheduler.step()
    elif schedule.interval == "plateau" and schedule.monitor is not None:
        value = logs.get(schedule.monitor)
        if value is not None and math.isfinite(value):
            schedule.scheduler.step(value)
