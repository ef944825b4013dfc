"""A multilayer perceptron: flatten, then Linear -> [BatchNorm] -> activation -> [Dropout] per hidden layer."""

from __future__ import annotations

from collections.abc import Callable

import torch
from torch import nn

ACTIVATIONS: dict[str, Callable[[], nn.Module]] = {
    "relu": nn.ReLU,
    "gelu": nn.GELU,
    "silu": nn.SiLU,
    "tanh": nn.Tanh,
    "sigmoid": nn.Sigmoid,
    "elu": nn.ELU,
    "leaky_relu": nn.LeakyReLU,
}


def dense_stack(
    inputs: int, hidden: list[int], activation: str, dropout: float, batch_norm: bool
) -> tuple[list[nn.Module], int]:
    """The hidden layers of an MLP and the width they end with."""
    layers: list[nn.Module] = []
    width = inputs
    for size in hidden:
        layers.append(nn.Linear(width, size))
        if batch_norm:
            layers.append(nn.BatchNorm1d(size))
        layers.append(ACTIVATIONS[activation]())
        if dropout:
            layers.append(nn.Dropout(dropout))
        width = size
    return layers, width


class MLP(nn.Module):
    """784-64-64-10 by default in the seed example; outputs logits (softmax lives in the loss)."""

    def __init__(
        self,
        inputs: int,
        hidden: list[int],
        outputs: int,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        layers, width = dense_stack(inputs, hidden, activation, dropout, batch_norm)
        self.net = nn.Sequential(nn.Flatten(), *layers, nn.Linear(width, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.net(x)
