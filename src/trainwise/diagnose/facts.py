"""What a diagnosis works on and produces: the history as curves, the facts about the run, and findings.

No torch here: `trainwise diagnose` and `trainwise report` start fast.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from trainwise.config import Recipe

SEVERITIES = ("critical", "warning", "info")


@dataclass
class Finding:
    """One diagnosis: what (`kind`, `title`), how bad, the evidence (epochs and numbers), and what to change."""

    kind: str
    severity: str
    title: str
    evidence: str
    remedies: list[str]
    epochs: list[int] = field(default_factory=list)
    numbers: dict[str, float] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class RunFacts:
    """What the history alone does not say: the recipe, class count, split sizes, whether `[model]` applies."""

    recipe: Recipe | None = None
    num_classes: int | None = None
    train_size: int | None = None
    val_size: int | None = None
    builtin_model: bool = True

    @property
    def chance_loss(self) -> float | None:
        return chance_loss(self.recipe.loss if self.recipe else "cross_entropy", self.num_classes)


def chance_loss(loss: str, num_classes: int | None) -> float | None:
    """The loss of a uniform guess: log C for cross-entropy, log 2 for BCE; None when it has no fixed value."""
    if loss == "cross_entropy" and num_classes and num_classes > 1:
        return math.log(num_classes)
    if loss == "bce":
        return math.log(2)
    return None


@dataclass
class Curves:
    """The history as aligned series (NaN where a value is missing or was not finite)."""

    epochs: list[int]
    train_loss: list[float]
    val_loss: list[float]
    train_acc: list[float]
    val_acc: list[float]
    lr: list[float]
    not_finite: list[tuple[int, str]] = field(default_factory=list)  # (epoch, key): logged as NaN/Inf (null)

    @classmethod
    def from_history(cls, history: Sequence[dict[str, Any]]) -> Curves:
        def series(key: str) -> list[float]:
            return [_number(entry.get(key)) for entry in history]

        epochs = [int(entry.get("epoch", i + 1)) for i, entry in enumerate(history)]
        not_finite: list[tuple[int, str]] = [
            (epoch, key)
            for epoch, entry in zip(epochs, history, strict=True)
            for key in ("train_loss", "val_loss")
            if key in entry and math.isnan(_number(entry[key]))
        ]
        return cls(
            epochs,
            series("train_loss"),
            series("val_loss"),
            series("train_accuracy"),
            series("val_accuracy"),
            series("lr"),
            not_finite,
        )

    @property
    def has_val(self) -> bool:
        return any(not math.isnan(v) for v in self.val_loss)


def _number(value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return math.nan
    number = float(value)
    return number if math.isfinite(number) else math.nan
