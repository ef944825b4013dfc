"""`compile`: the compiled forward trains like the eager one; a compile failure warns once and falls back."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any

import pytest
import torch
from torch import nn

import trainwise
from trainwise.engine.compiled import CompiledForward

RunFit = Callable[..., trainwise.FitResult]
pytestmark = pytest.mark.slow  # dynamo's one-time start-up takes 20-70 s on a busy 2-core machine
Data = dict[str, tuple[torch.Tensor, torch.Tensor]]


def failing_backend(graph: Any, example_inputs: Any) -> Any:
    """A torch.compile backend that cannot compile anything, as a missing compiler or an unsupported op would."""
    raise RuntimeError("no code generator here\nsecond line of detail")


def model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 3))


def test_a_failing_compile_warns_once_in_one_line_and_runs_eager() -> None:
    net = model()
    forward = CompiledForward(net, backend=failing_backend)
    x = torch.randn(4, 8)
    with pytest.warns(RuntimeWarning, match=r"torch.compile failed \(.*no code generator here\); training without it"):
        out = forward(x)
    assert torch.equal(out, net(x))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no second warning
        assert torch.equal(forward(x), net(x))


def test_user_errors_still_surface_after_a_fallback() -> None:
    forward = CompiledForward(model(), backend=failing_backend)
    with pytest.warns(RuntimeWarning), pytest.raises(RuntimeError, match="shapes cannot be multiplied"):
        forward(torch.randn(4, 5))


def test_fit_with_a_compiled_forward_trains_like_eager(run_fit: RunFit, blobs: Data) -> None:
    """The `eager` backend runs the dynamo-captured graph without code generation (inductor's C++ build takes
    minutes on a busy machine; benchmarks/compile.py times it): the same weights as the eager loop."""
    settings: dict[str, Any] = {"epochs": 2, "seed": 1, "learning_rate": 0.01}
    compiled = run_fit(blobs, model=model(), compile="eager", **settings)
    eager = run_fit(blobs, model=model(), **settings)
    for key, value in eager.model.state_dict().items():
        torch.testing.assert_close(compiled.model.state_dict()[key], value, atol=1e-6, rtol=1e-5)
    assert compiled.final["val_accuracy"] == eager.final["val_accuracy"]
