"""Streaming metrics that accumulate on the device and sync once per epoch.

Each metric is a small object with `update(outputs, targets)` (tensor ops only, no `.item()`, so the
training loop never waits on the device) and `compute() -> float`. Written here rather than taken from
torchmetrics: six formulas, and a hot loop that must stay within a few percent of hand-written torch.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable

import torch

from trainwise.errors import ConfigError, did_you_mean


class Metric:
    """Accumulates sums on the device; `compute` turns them into one number."""

    name: str = "metric"

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        raise NotImplementedError

    def compute(self) -> float:
        raise NotImplementedError

    def reset(self) -> None:
        raise NotImplementedError

    def state(self) -> dict[str, torch.Tensor | int]:
        """The accumulators, for mid-epoch checkpoints."""
        return {k: v for k, v in vars(self).items() if isinstance(v, (torch.Tensor, int)) and k != "k"}

    def load_state(self, state: dict[str, torch.Tensor | int]) -> None:
        for key, value in state.items():
            setattr(self, key, value)


def _predicted_classes(outputs: torch.Tensor) -> torch.Tensor:
    """Class predictions from logits: argmax, or a 0-threshold for a single binary logit."""
    if outputs.ndim == 1 or outputs.shape[-1] == 1:
        return (outputs.reshape(-1) > 0).long()
    return outputs.argmax(dim=-1)


class Accuracy(Metric):
    """Fraction of samples whose predicted class equals the label."""

    name = "accuracy"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.correct: torch.Tensor | int = 0
        self.count = 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        self.correct = self.correct + (_predicted_classes(outputs) == targets.reshape(-1).long()).sum()
        self.count += targets.shape[0]

    def compute(self) -> float:
        return float(self.correct) / self.count if self.count else math.nan


class TopKAccuracy(Metric):
    """Fraction of samples whose label is among the k highest scores (`top5_accuracy`)."""

    def __init__(self, k: int) -> None:
        self.k = k
        self.name = f"top{k}_accuracy"
        self.reset()

    def reset(self) -> None:
        self.correct: torch.Tensor | int = 0
        self.count = 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        k = min(self.k, outputs.shape[-1])
        top = outputs.topk(k, dim=-1).indices
        self.correct = self.correct + (top == targets.reshape(-1, 1)).any(dim=-1).sum()
        self.count += targets.shape[0]

    def compute(self) -> float:
        return float(self.correct) / self.count if self.count else math.nan


class MacroF1(Metric):
    """Unweighted mean of per-class F1 over the classes that occur (in labels or predictions)."""

    name = "macro_f1"

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.confusion: torch.Tensor | int = 0  # (classes x classes), rows = true class

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        n = max(outputs.shape[-1], 2) if outputs.ndim > 1 else 2
        pairs = targets.reshape(-1).long() * n + _predicted_classes(outputs)
        self.confusion = self.confusion + torch.bincount(pairs, minlength=n * n).reshape(n, n)

    def compute(self) -> float:
        if isinstance(self.confusion, int):
            return math.nan
        confusion = self.confusion.double()
        true_pos = confusion.diag()
        support = confusion.sum(dim=1) + confusion.sum(dim=0)
        present = support > 0
        f1 = 2 * true_pos[present] / support[present]
        return float(f1.mean()) if present.any() else math.nan


class _ErrorSum(Metric):
    """Sum of a per-element error over all target elements."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.total: torch.Tensor | int = 0
        self.count = 0

    def error(self, diff: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        diff = outputs.reshape(targets.shape).float() - targets.float()
        self.total = self.total + self.error(diff).sum()
        self.count += targets.numel()

    def mean(self) -> float:
        return float(self.total) / self.count if self.count else math.nan


class MeanSquaredError(_ErrorSum):
    name = "mse"

    def error(self, diff: torch.Tensor) -> torch.Tensor:
        return diff.square()

    def compute(self) -> float:
        return self.mean()


class RootMeanSquaredError(MeanSquaredError):
    name = "rmse"

    def compute(self) -> float:
        return math.sqrt(self.mean())


class MeanAbsoluteError(_ErrorSum):
    name = "mae"

    def error(self, diff: torch.Tensor) -> torch.Tensor:
        return diff.abs()

    def compute(self) -> float:
        return self.mean()


METRICS: dict[str, Callable[[], Metric]] = {
    "accuracy": Accuracy,
    "macro_f1": MacroF1,
    "mse": MeanSquaredError,
    "rmse": RootMeanSquaredError,
    "mae": MeanAbsoluteError,
}
_TOP_K = re.compile(r"top(\d+)_accuracy")


def build_metric(name: str) -> Metric:
    """A fresh metric by its config name (`accuracy`, `top5_accuracy`, `macro_f1`, `rmse`, ...)."""
    if name in METRICS:
        return METRICS[name]()
    match = _TOP_K.fullmatch(name)
    if match and int(match.group(1)) >= 1:
        return TopKAccuracy(int(match.group(1)))
    from trainwise.engine.ranking import build_ranking_metric  # hr@10, ndcg@10, recall@20

    ranking = build_ranking_metric(name)
    if ranking is not None:
        return ranking
    raise ConfigError(f"unknown metric '{name}'; {did_you_mean(name, [*METRICS, 'top5_accuracy'])}", key="metrics")
