"""Where a run computes and how its randomness starts: the device a recipe names, and the one seed."""

from __future__ import annotations

import random

import numpy as np
import torch

from trainwise.errors import ConfigError


def resolve_device(name: str) -> torch.device:
    """`auto` is CUDA when present, else CPU; an explicit CUDA device must exist."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except RuntimeError:
        raise ConfigError(f"unknown device '{name}'; expected auto, cpu, cuda or cuda:N", key="device") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError('CUDA is not available on this machine; use device = "auto" or "cpu"', key="device")
    if device.type not in ("cpu", "cuda"):
        raise ConfigError(f"unsupported device '{name}'; expected auto, cpu, cuda or cuda:N", key="device")
    return device


def seed_everything(seed: int) -> None:
    """One seed drives Python, NumPy and torch (CPU and CUDA)."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
