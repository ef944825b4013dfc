"""`compile = true`: the training forward through torch.compile, falling back to eager with one warning."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import torch
from torch import nn


class CompiledForward:
    """Calls `torch.compile(model)`; if compiling fails (no C++ compiler, an unsupported op...), warns once and
    calls the eager model from then on. Parameters are shared, so checkpoints and evaluation see one model."""

    def __init__(self, model: nn.Module, backend: str | Callable[..., Any] = "inductor") -> None:
        self.model = model
        self.compiled: Callable[[torch.Tensor], torch.Tensor] | None = torch.compile(model, backend=backend)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        if self.compiled is not None:
            try:
                return self.compiled(x)
            except Exception as exc:  # dynamo and its backends raise many kinds; the eager call re-raises user errors
                self.compiled = None
                root: BaseException = exc
                while (inner := getattr(root, "inner_exception", None) or root.__cause__) is not None:
                    root = inner  # backend failures wrap the real reason
                reason = (str(root).strip().splitlines() or [""])[0][:160]
                warnings.warn(
                    f"torch.compile failed ({root.__class__.__name__}: {reason}); training without it",
                    RuntimeWarning,
                    stacklevel=2,
                )
        return self.model(x)
