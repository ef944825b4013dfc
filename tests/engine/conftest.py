"""Engine test helpers: quick `fit` runs in temporary folders and a `Loop` built by hand from the primitives."""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import torch

import trainwise
from trainwise.config import OptimizerConfig, RegularizationConfig
from trainwise.engine.batches import make_batches
from trainwise.engine.metrics import build_metric
from trainwise.engine.optim import Schedule, build_loss, build_optimizer
from trainwise.engine.state import Loop
from trainwise.models import MLP

Split = tuple[torch.Tensor, torch.Tensor]
RunFit = Callable[..., trainwise.FitResult]
MakeLoop = Callable[..., Loop]


@pytest.fixture(autouse=True)
def one_thread() -> Iterator[None]:
    """Engine tests train many tiny models: one torch thread is faster for them than two contending for cores."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


@pytest.fixture
def run_fit(tmp_path: Path) -> RunFit:
    """`run_fit(data, **settings)`: a quiet `fit` of a 16-unit MLP on data["train"] (and "val", "test" if
    present) for 3 epochs in batches of 32, each call in a fresh run folder; settings override any of that."""
    numbers = itertools.count()

    def run(data: dict[str, Any], **settings: Any) -> trainwise.FitResult:
        settings = {"epochs": 3, "batch_size": 32, "model": {"hidden": [16]}, "progress": "off", **settings}
        return trainwise.fit(
            train=data["train"],
            val=data.get("val"),
            test=data.get("test"),
            out=tmp_path / f"run{next(numbers)}",
            **settings,
        )

    return run


@pytest.fixture
def make_loop() -> MakeLoop:
    """`make_loop(data)`: the Loop that `fit` builds for sgd (lr 0.1), batches of 32 and a 16-unit MLP with
    seed 0, put together by hand from the engine's primitives (3 classes, 8 features)."""

    def build(data: dict[str, Split], epochs: int = 2, metric_names: tuple[str, ...] = ("accuracy",)) -> Loop:
        cpu = torch.device("cpu")
        regularization = RegularizationConfig()
        torch.manual_seed(0)
        model = MLP(8, [16], 3)
        optimizer = build_optimizer(model.parameters(), OptimizerConfig(name="sgd", learning_rate=0.1), regularization)
        return Loop(
            model=model,
            optimizer=optimizer,
            loss=build_loss("cross_entropy", regularization),
            schedule=Schedule(None, "none"),
            train=make_batches(data["train"], 32, cpu),
            val=make_batches(data["val"], 1024, cpu) if "val" in data else None,
            metric_names=list(metric_names),
            epochs=epochs,
            device=cpu,
            shuffle=torch.Generator().manual_seed(0),
            monitor="val_loss",
            monitor_max=False,
            train_metrics=[build_metric(name) for name in metric_names],
        )

    return build
