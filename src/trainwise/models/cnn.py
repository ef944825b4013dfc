"""A small conv net for small images (28x28, 8x8): conv blocks, then a dense head."""

from __future__ import annotations

import torch
from torch import nn

from trainwise.models.mlp import ACTIVATIONS, dense_stack


class SmallCNN(nn.Module):
    """Per channel count: 3x3 conv (padding 1) -> [BatchNorm] -> activation -> 2x2 max-pool; then an MLP head.

    Pooling stops once the feature map is 2x2 or smaller, so the same model fits 8x8 digits and 28x28 images.
    """

    def __init__(
        self,
        input_shape: tuple[int, ...],
        channels: list[int],
        hidden: list[int],
        outputs: int,
        activation: str = "relu",
        dropout: float = 0.0,
        batch_norm: bool = False,
    ) -> None:
        super().__init__()
        in_channels, height, width = input_shape
        blocks: list[nn.Module] = []
        for out_channels in channels:
            blocks.append(nn.Conv2d(in_channels, out_channels, kernel_size=3, padding=1, bias=not batch_norm))
            if batch_norm:
                blocks.append(nn.BatchNorm2d(out_channels))
            blocks.append(ACTIVATIONS[activation]())
            if min(height, width) >= 4:
                blocks.append(nn.MaxPool2d(2))
                height, width = height // 2, width // 2
            in_channels = out_channels
        self.features = nn.Sequential(*blocks, nn.Flatten())
        flat = in_channels * height * width
        head, head_width = dense_stack(flat, hidden, activation, 0.0, False)
        before = [nn.Dropout(dropout)] if dropout else []
        after = [nn.Dropout(dropout)] if dropout and hidden else []
        self.head = nn.Sequential(*before, *head, *after, nn.Linear(head_width, outputs))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(x))
