"""facts.json: what a run's history does not say (data sizes, classes, model, machine, time), and the
findings read from the run when it ends. Written by `fit` into the run directory, read by diagnose and report.
"""

from __future__ import annotations

import datetime
import platform
import socket
import time
from typing import TYPE_CHECKING, Any

import torch

from trainwise._version import __version__
from trainwise.diagnose.curves import exploded_epoch
from trainwise.diagnose.facts import Finding, chance_loss
from trainwise.diagnose.rundata import FACTS
from trainwise.engine.autopilot import Autopilot
from trainwise.engine.state import Loop
from trainwise.models import MLP, SmallCNN
from trainwise.rundir import write_json

if TYPE_CHECKING:
    from trainwise.config import Recipe
    from trainwise.fitresult import FitResult
    from trainwise.tasks import TaskData


def collect(loop: Loop, data: TaskData) -> dict[str, Any]:
    """The facts known before training starts: data, model and machine."""
    device = loop.device
    return {
        "data": {
            "name": data.name,
            "source": data.source,
            "train_size": loop.train.num_samples,
            "val_size": loop.val.num_samples if loop.val is not None else None,
            "test_size": _size(data.test),
            "num_classes": data.num_classes,
            "input_shape": list(data.input_shape),
        },
        "model": {
            "class": type(loop.model).__name__,
            "builtin": isinstance(loop.model, (MLP, SmallCNN)),
            "parameters": sum(p.numel() for p in loop.model.parameters()),
        },
        "system": {
            "trainwise": __version__,
            "torch": torch.__version__,
            "python": platform.python_version(),
            "platform": platform.platform(terse=True),
            "host": socket.gethostname(),
            "device": str(device),
            "device_name": torch.cuda.get_device_name(device) if device.type == "cuda" else platform.processor(),
            "threads": torch.get_num_threads(),
        },
        "started": _now(),
        "_clock": time.perf_counter(),
    }


def record(result: FitResult, facts: dict[str, Any]) -> list[Finding]:
    """Write facts.json (with the end time) and findings.json into the run directory; return the findings."""
    from trainwise.diagnose.run import diagnose, write_findings

    clock = facts.pop("_clock", None)
    facts["finished"] = _now()
    if clock is not None:
        facts["wall_seconds"] = round(time.perf_counter() - clock, 3)
    facts["stopped_reason"] = result.stopped_reason
    write_json(result.run_dir / FACTS, facts)
    if not result.history:  # stopped (Ctrl-C) before the first epoch ended: no curve to diagnose
        write_findings(result.run_dir, [])
        return []
    return diagnose(result.run_dir)


def make_autopilot(recipe: Recipe, data: TaskData) -> Autopilot | None:
    """The recipe's autopilot, handed the diagnosis's own test for a blown-up training loss."""
    if not recipe.autopilot:
        return None
    chance = chance_loss(recipe.loss, data.num_classes)

    def exploded(losses: Any) -> str | None:
        found = exploded_epoch(list(losses), chance)
        return found[1] if found is not None and found[0] == len(losses) - 1 else None

    return Autopilot(exploded)


def _size(split: Any) -> int | None:
    if split is None:
        return None
    if isinstance(split, tuple):
        return len(split[0])
    try:
        return len(split)
    except TypeError:
        return None


def _now() -> str:
    return datetime.datetime.now(datetime.UTC).isoformat(timespec="seconds")
