"""Registries of optimizers, losses and LR schedules, all built from torch; nothing here is new math.

Each registry maps a TOML name to a small factory, so a config names them and a user can add one.
"""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any, Literal

import torch
import torch.nn.functional as F
from torch import nn

from trainwise.config import OptimizerConfig, RegularizationConfig, ScheduleConfig
from trainwise.engine.ranking import bpr_loss
from trainwise.errors import ConfigError, did_you_mean

# --- optimizers ----------------------------------------------------------------------------------------

OptimizerFactory = Callable[[list[nn.Parameter], OptimizerConfig, float], torch.optim.Optimizer]


def _sgd(momentum: bool, nesterov: bool = False) -> OptimizerFactory:
    def make(params: list[nn.Parameter], cfg: OptimizerConfig, _: float) -> torch.optim.Optimizer:
        return torch.optim.SGD(
            params,
            lr=cfg.learning_rate,
            momentum=cfg.momentum if momentum else 0.0,
            nesterov=nesterov,
            **_fast_kernels(torch.optim.SGD, params),
        )

    return make


def _adam(params: list[nn.Parameter], cfg: OptimizerConfig, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.Adam(
        params,
        lr=cfg.learning_rate,
        betas=cfg.betas,
        eps=cfg.eps,
        weight_decay=weight_decay,
        decoupled_weight_decay=True,
        **_fast_kernels(torch.optim.Adam, params),
    )


def _adamw(params: list[nn.Parameter], cfg: OptimizerConfig, weight_decay: float) -> torch.optim.Optimizer:
    return torch.optim.AdamW(
        params,
        lr=cfg.learning_rate,
        betas=cfg.betas,
        eps=cfg.eps,
        weight_decay=weight_decay,
        **_fast_kernels(torch.optim.AdamW, params),
    )


def _rmsprop(params: list[nn.Parameter], cfg: OptimizerConfig, _: float) -> torch.optim.Optimizer:
    return torch.optim.RMSprop(params, lr=cfg.learning_rate, alpha=cfg.alpha, eps=cfg.eps, foreach=True)


def _adagrad(params: list[nn.Parameter], cfg: OptimizerConfig, _: float) -> torch.optim.Optimizer:
    return torch.optim.Adagrad(params, lr=cfg.learning_rate, eps=cfg.eps, **_fast_kernels(torch.optim.Adagrad, params))


OPTIMIZERS: dict[str, OptimizerFactory] = {
    "gd": _sgd(momentum=False),  # full-batch gradient descent: the recipe sets batch_size = "full"
    "sgd": _sgd(momentum=False),
    "momentum": _sgd(momentum=True),
    "nesterov": _sgd(momentum=True, nesterov=True),
    "adam": _adam,
    "adamw": _adamw,
    "rmsprop": _rmsprop,
    "adagrad": _adagrad,
}
_NATIVE_DECOUPLED_DECAY = {"adam", "adamw"}


def _fast_kernels(optimizer: type, params: list[nn.Parameter]) -> dict[str, bool]:
    """Fused kernels where torch has them for these tensors: one kernel per step instead of one per tensor.

    Same update rule; it is what keeps `fit` at or below a hand-written loop that uses the defaults.
    """
    if "fused" not in inspect.signature(optimizer).parameters:
        return {}
    fusable = all(p.is_floating_point() and p.device.type in ("cpu", "cuda") for p in params)
    return {"fused": True} if fusable else {}


def build_optimizer(
    params: Iterable[nn.Parameter], cfg: OptimizerConfig, regularization: RegularizationConfig
) -> torch.optim.Optimizer:
    """The named torch optimizer, with decoupled weight decay (native where torch has it, else a pre-step hook)."""
    if cfg.name not in OPTIMIZERS:
        raise ConfigError(f"unknown optimizer '{cfg.name}'; {did_you_mean(cfg.name, OPTIMIZERS)}", key="optimizer.name")
    params = [p for p in params if p.requires_grad]
    decay = regularization.weight_decay
    native = cfg.name in _NATIVE_DECOUPLED_DECAY
    optimizer = OPTIMIZERS[cfg.name](params, cfg, decay if native else 0.0)
    if decay > 0 and not native:
        optimizer.register_step_pre_hook(_decoupled_decay(decay))
    return optimizer


def _decoupled_decay(weight_decay: float) -> Callable[..., None]:
    """w <- w * (1 - lr * weight_decay) before each step, as AdamW does, for optimizers without the option."""

    def hook(optimizer: torch.optim.Optimizer, *_: Any) -> None:
        with torch.no_grad():
            for group in optimizer.param_groups:
                params = [p for p in group["params"] if p.grad is not None]
                if params:
                    torch._foreach_mul_(params, 1.0 - float(group["lr"]) * weight_decay)

    return hook


# --- losses --------------------------------------------------------------------------------------------

TargetKind = Literal["class", "binary", "real", "ranking"]  # ranking: top-N recommendation
LossFn = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


@dataclass(frozen=True)
class Loss:
    """A loss function and the kind of targets it takes (class indices, 0/1, or real values)."""

    fn: LossFn
    targets: TargetKind


def _regression(fn: Callable[..., torch.Tensor]) -> Callable[[RegularizationConfig], Loss]:
    def make(_: RegularizationConfig) -> Loss:
        return Loss(lambda out, y: fn(out.reshape(y.shape), y), "real")

    return make


def _cross_entropy(reg: RegularizationConfig) -> Loss:
    smoothing = reg.label_smoothing
    return Loss(lambda out, y: F.cross_entropy(out, y, label_smoothing=smoothing), "class")


def _bce(reg: RegularizationConfig) -> Loss:
    smoothing = reg.label_smoothing

    def fn(out: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
        target = y * (1 - smoothing) + 0.5 * smoothing if smoothing else y
        return F.binary_cross_entropy_with_logits(out.reshape(y.shape), target)

    return Loss(fn, "binary")


LOSSES: dict[str, Callable[[RegularizationConfig], Loss]] = {
    "mse": _regression(F.mse_loss),
    "mae": _regression(F.l1_loss),
    "huber": _regression(F.huber_loss),
    "cross_entropy": _cross_entropy,
    "bce": _bce,
    "bpr": lambda _: Loss(bpr_loss, "ranking"),  # pairwise ranking for implicit feedback (engine/ranking.py)
}


def build_loss(name: str, regularization: RegularizationConfig) -> Loss:
    """The named loss; cross-entropy and BCE take logits (softmax/sigmoid are inside the loss)."""
    if name not in LOSSES:
        raise ConfigError(f"unknown loss '{name}'; {did_you_mean(name, LOSSES)}", key="loss")
    return LOSSES[name](regularization)


def penalty_weights(model: nn.Module) -> list[nn.Parameter]:
    """The tensors that L1/L2 penalties apply to: weight matrices and kernels, not biases or norm scales."""
    return [p for p in model.parameters() if p.requires_grad and p.ndim > 1]


def penalty(weights: list[nn.Parameter], l1: float, l2: float) -> torch.Tensor | None:
    """l1 * sum|w| + l2 * sum w^2, the penalty terms added to the loss; None when both are zero."""
    terms: list[torch.Tensor] = []
    if l1:
        terms.append(l1 * torch.stack([w.abs().sum() for w in weights]).sum())
    if l2:
        terms.append(l2 * torch.stack([w.square().sum() for w in weights]).sum())
    return sum(terms[1:], terms[0]) if terms else None


# --- schedules -----------------------------------------------------------------------------------------

Interval = Literal["step", "epoch", "plateau", "none"]


@dataclass
class Schedule:
    """A torch LR scheduler and when the loop steps it: every optimizer step, every epoch, or on a plateau."""

    scheduler: Any  # LRScheduler or ReduceLROnPlateau (no common base in torch)
    interval: Interval
    monitor: str | None = None


def build_schedule(
    optimizer: torch.optim.Optimizer,
    cfg: ScheduleConfig,
    *,
    steps_per_epoch: int,
    epochs: int,
    mode_max: bool,
) -> Schedule:
    """The named schedule from torch.optim.lr_scheduler, sized to this run's steps and epochs."""
    sched = torch.optim.lr_scheduler
    base_lr = optimizer.param_groups[0]["lr"]
    total_steps = max(1, steps_per_epoch * epochs)
    if cfg.name == "none":
        return Schedule(None, "none")
    if cfg.name == "step":
        return Schedule(sched.StepLR(optimizer, step_size=cfg.step_size, gamma=cfg.gamma), "epoch")
    if cfg.name == "exponential":
        return Schedule(sched.ExponentialLR(optimizer, gamma=cfg.gamma), "epoch")
    if cfg.name == "cosine":
        warmup = round(cfg.warmup_epochs * steps_per_epoch)
        if warmup >= total_steps:
            raise ConfigError(f"warmup ({cfg.warmup_epochs} epochs) must be shorter than the run", key="schedule")
        floor = min(cfg.min_lr / base_lr, 1.0)
        return Schedule(sched.LambdaLR(optimizer, _warmup_cosine(warmup, total_steps, floor)), "step")
    if cfg.name == "onecycle":
        max_lr = cfg.max_lr if cfg.max_lr is not None else 10 * base_lr
        return Schedule(sched.OneCycleLR(optimizer, max_lr=max_lr, total_steps=total_steps), "step")
    mode: Literal["min", "max"] = "max" if mode_max else "min"
    plateau = sched.ReduceLROnPlateau(optimizer, mode=mode, factor=cfg.factor, patience=cfg.patience)
    return Schedule(plateau, "plateau", cfg.monitor)


def _warmup_cosine(warmup: int, total: int, floor: float) -> Callable[[int], float]:
    """LR factor: linear warmup to 1, then half a cosine down to `floor` at the last step."""

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / (warmup + 1)
        progress = min(1.0, (step - warmup) / max(1, total - warmup))
        return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * progress))

    return factor
