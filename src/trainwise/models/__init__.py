"""Built-in models by name; input and output sizes come from the data, the rest from `[model]`."""

from __future__ import annotations

from collections.abc import Callable

from torch import nn

from trainwise.config import ModelConfig
from trainwise.errors import ConfigError, DataError, did_you_mean
from trainwise.models.cnn import SmallCNN
from trainwise.models.mlp import ACTIVATIONS, MLP
from trainwise.models.text import TEXT_MODELS

ModelFactory = Callable[[ModelConfig, tuple[int, ...], int], nn.Module]


def _features(input_shape: tuple[int, ...]) -> int:
    features = 1
    for size in input_shape:
        features *= size
    return features


def _mlp(cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int) -> nn.Module:
    return MLP(_features(input_shape), cfg.hidden, outputs, cfg.activation, cfg.dropout, cfg.batch_norm)


def _cnn(cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int) -> nn.Module:
    if len(input_shape) != 3:
        raise DataError(
            f"model 'cnn' needs images shaped (channels, height, width), got samples shaped {tuple(input_shape)}; "
            'use model.name = "mlp" for flat features',
            key="model.name",
        )
    return SmallCNN(input_shape, cfg.channels, cfg.hidden, outputs, cfg.activation, cfg.dropout, cfg.batch_norm)


MODELS: dict[str, ModelFactory] = {"mlp": _mlp, "cnn": _cnn}
MODELS.update(TEXT_MODELS)  # bag, text-cnn, transformer (task = "text")


def build_model(cfg: ModelConfig, input_shape: tuple[int, ...], outputs: int) -> nn.Module:
    """The named model for samples of `input_shape` and `outputs` output units (logits)."""
    if cfg.name not in MODELS:
        raise ConfigError(f"unknown model '{cfg.name}'; {did_you_mean(cfg.name, MODELS)}", key="model.name")
    if cfg.activation not in ACTIVATIONS:
        raise ConfigError(
            f"unknown activation '{cfg.activation}'; {did_you_mean(cfg.activation, ACTIVATIONS)}",
            key="model.activation",
        )
    features = _features(input_shape)
    if cfg.input_size is not None and cfg.input_size != features:  # the user's statement of the input, checked
        raise DataError(
            f"{cfg.input_size} does not match the data: each sample has {features} features "
            f"(shape {tuple(input_shape)}); expected {features}, or remove model.input_size",
            key="model.input_size",
        )
    return MODELS[cfg.name](cfg, input_shape, outputs)


__all__ = ["MLP", "MODELS", "SmallCNN", "build_model"]
