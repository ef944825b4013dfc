"""Weight averaging with torch.optim.swa_utils: an EMA of the weights, or stochastic weight averaging (SWA).

EMA (`AveragedModel` + `get_ema_multi_avg_fn`, buffers included) is updated after every optimizer step and
is the model that validation, best.pt and the returned model use. SWA averages the weights at the end of each
epoch from `start_epoch` on, under `SWALR` (a constant learning rate `swa_lr`), and
recomputes batch-norm statistics with `update_bn` when the run ends.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import torch
from torch import nn
from torch.optim.swa_utils import SWALR, AveragedModel, get_ema_multi_avg_fn, update_bn


class WeightAverage:
    """An averaged copy of the model; `kind` is "ema" (every step) or "swa" (every epoch from `start_epoch`)."""

    def __init__(
        self, model: nn.Module, kind: str, *, decay: float = 0.999, start_epoch: int = 0, swa_lr: float | None = None
    ) -> None:
        self.kind, self.start_epoch, self.swa_lr = kind, start_epoch, swa_lr
        if kind == "ema":
            self.averaged = AveragedModel(model, multi_avg_fn=get_ema_multi_avg_fn(decay), use_buffers=True)
        else:
            self.averaged = AveragedModel(model)
        self.scheduler: SWALR | None = None

    @property
    def module(self) -> nn.Module:
        """The averaged network itself (same parameter names as the trained model)."""
        return self.averaged.module

    def swa_epoch(self, epoch: int) -> bool:
        """Whether SWA is on in epoch `epoch` (0-based): its schedule replaces the recipe's."""
        return self.kind == "swa" and epoch >= self.start_epoch

    def begin_swa(self, optimizer: torch.optim.Optimizer) -> None:
        """Start SWALR (once): every SWA epoch trains at `swa_lr` (no annealing)."""
        if self.scheduler is None:
            swa_lr = self.swa_lr if self.swa_lr is not None else float(optimizer.param_groups[0]["lr"])
            self.scheduler = SWALR(optimizer, swa_lr=swa_lr, anneal_epochs=0)

    def update(self, model: nn.Module) -> None:
        self.averaged.update_parameters(model)

    def finish(self, model: nn.Module, train_inputs: Iterable[torch.Tensor]) -> None:
        """Put the averaged weights into `model` (SWA: after recomputing batch-norm statistics)."""
        if self.kind == "swa":
            if int(self.averaged.n_averaged) == 0:
                return  # the run ended before SWA began: keep the trained weights
            if any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in model.modules()):
                update_bn(train_inputs, self.averaged, device=next(model.parameters()).device)
        model.load_state_dict(self.module.state_dict())

    def state_dict(self) -> dict[str, Any]:
        return {
            "averaged": self.averaged.state_dict(),
            "scheduler": self.scheduler.state_dict() if self.scheduler is not None else None,
            "swa_lr": self.swa_lr,  # the autopilot's cuts scale it: a rollback or resume restores the cut value
        }

    def load_state_dict(self, state: dict[str, Any], optimizer: torch.optim.Optimizer) -> None:
        """Restore the average and, mid-SWA, its scheduler (whose constructor touches the optimizer's lr); a state
        from before SWA began drops a scheduler started since (a rollback), so SWA starts afresh on time."""
        self.averaged.load_state_dict(state["averaged"])
        self.swa_lr = state.get("swa_lr", self.swa_lr)
        if state["scheduler"] is None:
            self.scheduler = None
        else:
            saved = optimizer.state_dict()
            self.begin_swa(optimizer)
            optimizer.load_state_dict(saved)
            assert self.scheduler is not None
            self.scheduler.load_state_dict(state["scheduler"])
