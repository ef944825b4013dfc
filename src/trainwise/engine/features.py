"""The recipe's optional training features, built into the `Loop` fields that switch them on.

Accumulation, mixed precision, weight averaging, augmentation and compile: each is None (or 1) when off,
which keeps the loop on its lean path.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from trainwise.config import Recipe
from trainwise.engine.augment import Augmenter
from trainwise.engine.averaging import WeightAverage
from trainwise.engine.compiled import CompiledForward
from trainwise.engine.precision import build_precision
from trainwise.errors import ConfigError


def build_features(
    recipe: Recipe, model: nn.Module, input_shape: tuple[int, ...], device: torch.device
) -> dict[str, Any]:
    """Loop keyword arguments for the recipe's features; raises ConfigError for a feature that cannot apply."""
    features: dict[str, Any] = {"accumulate_steps": recipe.accumulate_steps}
    if recipe.precision != "32":
        features["precision"] = build_precision(recipe.precision, device)
    if recipe.ema_decay is not None:
        features["average"] = WeightAverage(model, "ema", decay=recipe.ema_decay)
    if recipe.swa_start_epoch is not None:
        if recipe.swa_start_epoch >= recipe.epochs:
            raise ConfigError(
                f"swa_start_epoch {recipe.swa_start_epoch} is not before the last epoch; "
                f"expected 0 to {recipe.epochs - 1} (epochs are counted from 0)",
                key="swa_start_epoch",
            )
        features["average"] = WeightAverage(model, "swa", start_epoch=recipe.swa_start_epoch, swa_lr=recipe.swa_lr)
    elif recipe.swa_lr is not None:
        raise ConfigError("swa_lr needs swa_start_epoch (the epoch SWA begins)", key="swa_lr")
    if recipe.augment.active:
        if len(input_shape) not in (2, 3):
            raise ConfigError(
                f"[augment] works on images shaped (channels, height, width) or (height, width); "
                f"the samples here are shaped {tuple(input_shape)}",
                key="augment",
            )
        features["augment"] = Augmenter(recipe.augment, recipe.seed)
    if recipe.compile:
        features["forward"] = CompiledForward(model, "inductor" if recipe.compile is True else recipe.compile)
    return features
