"""Data and models that a caller passes to `fit` directly: tensors, arrays, Datasets, any nn.Module."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import nn
from torch.utils.data import Dataset, Subset

from trainwise.config import Recipe
from trainwise.data.splits import split_indices
from trainwise.engine.optim import TargetKind
from trainwise.errors import DataError
from trainwise.tasks.base import TaskData, check_targets


def user_task_data(train: Any, val: Any, test: Any, recipe: Recipe, targets: TargetKind) -> TaskData:
    """TaskData from caller-given splits; without `val`, the recipe's validation_split is carved from train."""
    train_data = _as_data(train, targets, "train")
    val_data = _as_data(val, targets, "val") if val is not None else None
    test_data = _as_data(test, targets, "test") if test is not None else None
    fraction = recipe.data.validation_split
    if val_data is None and fraction > 0:
        train_data, val_data = _carve(train_data, fraction, recipe.data.split_seed, stratify=targets == "class")
    sample = _first_input(train_data)
    num_classes = None
    if targets == "class" and isinstance(train_data, tuple):
        labels = [d[1] for d in (train_data, val_data, test_data) if isinstance(d, tuple)]
        num_classes = int(max(int(y.max()) for y in labels if len(y))) + 1
    return TaskData(
        name="user data",
        train=train_data,
        val=val_data,
        test=test_data,
        input_shape=tuple(sample.shape),
        num_classes=num_classes,
        source="train",
    )


def _as_data(data: Any, targets: TargetKind, name: str) -> Any:
    """(x, y) tensors/arrays -> checked tensors; any Dataset passes through as it is."""
    if isinstance(data, Dataset) and not isinstance(data, torch.utils.data.TensorDataset):
        return data
    pair = data.tensors if isinstance(data, torch.utils.data.TensorDataset) else data
    if not (isinstance(pair, (tuple, list)) and len(pair) == 2):
        raise DataError(f"expected (inputs, targets) or a Dataset, got {type(data).__name__}", source=name)
    x = torch.as_tensor(np.asarray(pair[0]) if not isinstance(pair[0], torch.Tensor) else pair[0])
    y = torch.as_tensor(np.asarray(pair[1]) if not isinstance(pair[1], torch.Tensor) else pair[1])
    if len(x) != len(y):
        raise DataError(f"{len(x)} inputs but {len(y)} targets; expected one target per input", source=name)
    if len(x) == 0:
        raise DataError("no samples", source=name)
    if x.is_floating_point() and not torch.isfinite(x.sum()):  # one cheap pass; locate the row only if it fails
        bad = (~torch.isfinite(x.reshape(len(x), -1))).any(dim=1).nonzero()
        if len(bad):
            raise DataError(f"sample {int(bad[0, 0])} has NaN or Inf features; features must be finite", source=name)
    check_targets(y, targets, name)
    x = x.float()
    y = y.long() if targets == "class" else y.float()
    return x, y


def _carve(data: Any, fraction: float, seed: int, stratify: bool) -> tuple[Any, Any]:
    if isinstance(data, tuple):
        x, y = data
        kept, held = split_indices(y.numpy(), fraction, seed, stratify)
        keep_t, held_t = torch.from_numpy(kept), torch.from_numpy(held)
        return (x[keep_t], y[keep_t]), (x[held_t], y[held_t])
    labels = np.zeros(len(data), dtype=np.int64)
    kept, held = split_indices(labels, fraction, seed, stratify=False)
    return Subset(data, kept.tolist()), Subset(data, held.tolist())


def _first_input(data: Any) -> torch.Tensor:
    if isinstance(data, tuple):
        return data[0][0]
    x = data[0][0]
    return x if isinstance(x, torch.Tensor) else torch.as_tensor(np.asarray(x))


def check_model_fits(model: nn.Module, data: TaskData, targets: TargetKind, device: torch.device) -> None:
    """One forward pass on two samples (eval mode: no RNG used) checks input size and output size."""
    if isinstance(data.train, tuple):
        x = data.train[0][:2]
    else:
        x = torch.stack([torch.as_tensor(data.train[i][0]) for i in range(min(2, len(data.train)))])
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            outputs = model(x.to(device))
    except RuntimeError as exc:
        first = str(exc).splitlines()[0]
        raise DataError(
            f"the model does not accept the data: samples are shaped {tuple(x.shape[1:])} ({first}); "
            "expected the model's input size to match the data",
            source=data.source or "data",
        ) from None
    finally:
        model.train(was_training)
    width = outputs.shape[-1] if outputs.ndim > 1 else 1
    if targets == "class" and data.num_classes is not None and width < data.num_classes:
        raise DataError(
            f"labels out of range: the data has labels up to {data.num_classes - 1} but the model outputs "
            f"{width} classes; expected labels 0..{width - 1}",
            source=data.source or "data",
        )
    if targets == "binary" and width != 1:
        raise DataError(f"loss 'bce' needs one output per sample, the model gives {width}", source="model")
