"""What `fit` builds before it touches the disk: data, model, optimizer, schedule and metrics, all checked.

`prepare` (lr-find, compare, learning-curve...) builds through here too, so every command gets `fit`'s checks.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import torch
from torch import nn

from trainwise.config import Recipe
from trainwise.engine import distributed
from trainwise.engine.batches import make_batches
from trainwise.engine.direction import higher_is_better
from trainwise.engine.features import build_features
from trainwise.engine.metrics import build_metric
from trainwise.engine.optim import LOSSES, build_loss, build_optimizer, build_schedule
from trainwise.engine.runtime import resolve_device, seed_everything
from trainwise.engine.state import Loop
from trainwise.errors import ConfigError, TrainwiseError, did_you_mean
from trainwise.models import MODELS, build_model
from trainwise.tasks import TaskData, get_task
from trainwise.userdata import check_model_fits, user_task_data


@dataclass
class Built:
    """The Loop a run trains and the data it was built from."""

    loop: Loop
    data: TaskData


def build(recipe: Recipe, user_model: nn.Module | None, train: Any, val: Any, test: Any) -> Built:
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
    return Built(state_loop, data)


def spell_out_metrics(recipe: Recipe) -> Recipe:
    """Default metrics follow the loss: name them in the recipe, so config.toml says what ran and a resume,
    which reloads config.toml, measures the same (the static default `accuracy` does not fit a regression)."""
    if "metrics" in recipe.model_fields_set or recipe.loss not in LOSSES:  # an unknown loss is reported by build
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
