"""Mixed precision: torch.autocast for the forward pass, and a GradScaler for fp16 on CUDA.

bf16 needs no loss scaling (it has fp32's exponent range); fp16 does, and only CUDA runs it well, so fp16 on
a CPU is a ConfigError rather than a silent fallback.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Any

import torch

from trainwise.errors import ConfigError

_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}


@dataclass
class Precision:
    """The autocast dtype for a device (None: full precision) and the fp16 gradient scaler, if any."""

    device_type: str
    dtype: torch.dtype | None = None
    scaler: torch.amp.GradScaler | None = None

    def autocast(self) -> contextlib.AbstractContextManager[Any]:
        """The context to run a forward pass and loss in (a no-op at full precision)."""
        if self.dtype is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device_type, dtype=self.dtype)

    def state_dict(self) -> dict[str, Any] | None:
        return self.scaler.state_dict() if self.scaler is not None else None

    def load_state_dict(self, state: dict[str, Any] | None) -> None:
        if self.scaler is not None and state:
            self.scaler.load_state_dict(state)


def build_precision(name: str, device: torch.device) -> Precision:
    """`"32"`, `"bf16"` (CPU or CUDA) or `"fp16"` (CUDA only, with loss scaling)."""
    if name == "32":
        return Precision(device.type)
    if name == "fp16" and device.type != "cuda":
        raise ConfigError(
            'precision "fp16" needs a CUDA device (it relies on loss scaling and fast fp16 kernels); '
            'use precision = "bf16" on a CPU',
            key="precision",
        )
    scaler = torch.amp.GradScaler("cuda") if name == "fp16" else None
    return Precision(device.type, _DTYPES[name], scaler)
