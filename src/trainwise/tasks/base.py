"""What every task shares: the data a run trains on, as tensors, and the check of targets against a loss."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
import torch

from trainwise.config import Recipe
from trainwise.data import load_arrays
from trainwise.engine.optim import TargetKind
from trainwise.errors import DataError


@dataclass
class TaskData:
    """Train/validation/test data ready for the loop: (x, y) tensor pairs, or any Dataset of pairs."""

    name: str
    train: Any
    val: Any | None
    test: Any | None
    input_shape: tuple[int, ...]
    num_classes: int | None = None
    classes: list[str] | None = None
    source: str = ""
    model_settings: dict[str, Any] = field(default_factory=dict)  # [model] keys the data fixes (vocab_size)
    artifacts: dict[str, str] = field(default_factory=dict)  # files the run directory keeps (tokenizer.json)
    info: dict[str, Any] = field(default_factory=dict)  # what a task's own model factory needs (sizes, means)
    report: dict[str, Any] = field(default_factory=dict)  # extra summary.json entries (baseline, counts)


class Task(Protocol):
    """A kind of problem: reads its data for a recipe and names the built-in models that fit it."""

    name: str
    models: tuple[str, ...]

    def load(self, recipe: Recipe, targets: TargetKind) -> TaskData: ...


def to_tensors(x: np.ndarray, y: np.ndarray, targets: TargetKind, source: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Features as float32, targets as the loss wants them: class indices, 0/1 floats, or real values."""
    check_targets(y, targets, source)
    features = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    if targets == "class":
        return features, torch.from_numpy(np.ascontiguousarray(y, dtype=np.int64))
    return features, torch.from_numpy(np.ascontiguousarray(y, dtype=np.float32))


def check_targets(y: np.ndarray | torch.Tensor, targets: TargetKind, source: str) -> None:
    """Labels fit the loss: class indices >= 0, 0/1 for BCE, finite numbers for regression."""
    values = y.numpy() if isinstance(y, torch.Tensor) else np.asarray(y)
    if targets == "real":
        if not np.issubdtype(values.dtype, np.number):
            raise DataError(f"targets must be numbers for a regression loss, got {values.dtype}", source=source)
        bad = np.flatnonzero(~np.isfinite(values.reshape(len(values), -1)).all(axis=1))
        if len(bad):
            raise DataError(f"target of sample {bad[0]} is not a finite number", source=source)
        return
    if targets == "binary":
        bad = np.flatnonzero((values != 0) & (values != 1))
        if len(bad):
            raise DataError(
                f"label of sample {bad[0]} is {values.flat[bad[0]].item()!r}; loss 'bce' expects labels 0 or 1",
                source=source,
            )
        return
    if values.ndim != 1:
        raise DataError(f"class labels must be one per sample, got shape {values.shape}", source=source)
    if values.dtype.kind == "f":
        bad = np.flatnonzero(values != np.round(values))
        if len(bad):
            raise DataError(
                f"label of sample {bad[0]} is {values[bad[0]].item()!r}; expected integer class labels "
                "(use loss 'mse' for regression)",
                source=source,
            )
    if len(values) and values.min() < 0:
        first = int(np.flatnonzero(values < 0)[0])
        raise DataError(f"label of sample {first} is {values[first]}; class labels must be >= 0", source=source)


def load_task_data(recipe: Recipe, targets: TargetKind) -> TaskData:
    """Read the recipe's data through the data layer and turn each split into tensors."""
    arrays = load_arrays(recipe.data, classification=targets != "real", binary=targets == "binary")
    source = arrays.source

    def pair(x: object, y: object) -> object:
        return to_tensors(x, y, targets, source) if x is not None and y is not None else None  # type: ignore[arg-type]

    return TaskData(
        name=arrays.name,
        train=pair(arrays.train_x, arrays.train_y),
        val=pair(arrays.val_x, arrays.val_y),
        test=pair(arrays.test_x, arrays.test_y),
        input_shape=tuple(arrays.input_shape),
        num_classes=arrays.num_classes,
        classes=arrays.classes,
        source=source,
    )
