"""Everything the loop knows about a run in progress, in one object that a checkpoint can save."""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import torch
from torch import nn

from trainwise.engine.batches import Batches
from trainwise.engine.metrics import Metric
from trainwise.engine.optim import Loss, Schedule

if TYPE_CHECKING:
    from trainwise.engine.augment import Augmenter
    from trainwise.engine.averaging import WeightAverage
    from trainwise.engine.distributed import Distributed
    from trainwise.engine.precision import Precision


@dataclass
class TrainState:
    """Position, history and outcome of a run; `stop` is the flag any callback may set."""

    epoch: int = 0  # epochs completed
    step: int = 0  # optimizer steps taken
    batch: int = 0  # batches done in the current epoch (non-zero only mid-epoch)
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int | None = None
    best_value: float | None = None
    stop: bool = False
    stopped_reason: str | None = None  # "completed", "early_stopping", "diverged", "interrupted", "callback", ...
    diverged_step: int | None = None
    weights_epoch: int | None = None  # the epoch whose weights the model holds at the end (None: the last)
    logs: dict[str, Any] = field(default_factory=dict)  # the last finished epoch's logs


@dataclass
class EpochProgress:
    """The current epoch's order and running sums: what a mid-epoch checkpoint must carry."""

    order: torch.Tensor | None = None
    loss_sum: torch.Tensor | None = None
    samples: int = 0
    seconds: float = 0.0  # time spent in this epoch by earlier sessions (before a resume)
    session_start: float = field(default_factory=time.perf_counter)  # when this session's part of the epoch began

    def elapsed(self) -> float:
        """Seconds spent in the current epoch so far, across a resume."""
        return self.seconds + time.perf_counter() - self.session_start


@dataclass
class Loop:
    """What callbacks see: the model, optimizer, data and state of the run they are attached to."""

    model: nn.Module
    optimizer: torch.optim.Optimizer
    loss: Loss
    schedule: Schedule
    train: Batches
    val: Batches | None
    metric_names: list[str]
    epochs: int
    device: torch.device
    shuffle: torch.Generator
    monitor: str
    monitor_max: bool
    grad_clip: float | None = None
    l1: float = 0.0
    l2: float = 0.0
    state: TrainState = field(default_factory=TrainState)
    progress: EpochProgress = field(default_factory=EpochProgress)
    train_metrics: list[Metric] = field(default_factory=list)
    accumulate_steps: int = 1  # micro-batches per optimizer step
    precision: Precision | None = None  # autocast (and fp16 scaler); None: full precision
    average: WeightAverage | None = None  # EMA or SWA of the weights
    augment: Augmenter | None = None  # image augmentation of each training batch
    forward: Callable[[torch.Tensor], torch.Tensor] | None = None  # a compiled forward (None: the model)
    ddp: Distributed | None = None  # this rank under torchrun (DDP); None in a single process

    @property
    def plain(self) -> bool:
        """No accumulation, autocast, averaging, augmentation or compile: the loop takes its leanest path."""
        return (
            self.accumulate_steps == 1
            and self.precision is None
            and self.average is None
            and self.augment is None
            and self.forward is None
        )

    @property
    def eval_model(self) -> nn.Module:
        """The network to validate and keep as best: the EMA of the weights when there is one, else the model."""
        if self.average is not None and self.average.kind == "ema":
            return self.average.module
        return self.model

    def running_loss(self) -> float:
        """The mean training loss so far in this epoch (syncs with the device: call it sparingly)."""
        if self.progress.loss_sum is None or not self.progress.samples:
            return float("nan")
        return float(self.progress.loss_sum) / self.progress.samples

    @property
    def lr(self) -> float:
        return float(self.optimizer.param_groups[0]["lr"])
