"""Checkpoints: atomic writes, safe loads, and the full state an exact resume needs.

A checkpoint holds the model, optimizer, scheduler, every RNG (Python, NumPy, torch, CUDA, the shuffle
generator), the position in the epoch with its order and running sums, the history and the callbacks'
state, so that a resumed run ends bit-identical to an uninterrupted one (on CPU).
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

from trainwise.atomic import atomic_write
from trainwise.engine.state import Loop
from trainwise.errors import RunError

FORMAT = 1


def atomic_save(obj: Any, path: str | Path) -> None:
    """torch.save, atomically: a crash mid-write leaves the previous checkpoint intact."""
    atomic_write(path, lambda handle: torch.save(obj, handle))


def load(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Load a checkpoint with weights_only=True (no code runs from the file); a bad file is a RunError."""
    path = Path(path)
    if not path.is_file():
        raise RunError("no checkpoint to resume from", source=str(path))
    try:
        data = torch.load(path, map_location=map_location, weights_only=True)
    except Exception as exc:  # torch raises several types for a corrupt or foreign file
        raise RunError(
            f"unreadable checkpoint ({exc.__class__.__name__}); expected a trainwise .pt file",
            source=str(path),
        ) from None
    if not isinstance(data, dict) or not isinstance(data.get("format"), int):
        raise RunError(f"not a trainwise checkpoint (format {FORMAT})", source=str(path))
    if data["format"] != FORMAT:
        raise RunError(
            f"checkpoint format {data['format']} comes from another trainwise version; this one reads format {FORMAT}",
            source=str(path),
        )
    return data


def capture(loop: Loop, callbacks: dict[str, Any], extra: dict[str, Any] | None = None) -> dict[str, Any]:
    """Everything needed to continue `loop` exactly where it is now."""
    progress = loop.progress
    scheduler = loop.schedule.scheduler
    return {
        "format": FORMAT,
        "model": loop.model.state_dict(),
        "optimizer": loop.optimizer.state_dict(),
        "scheduler": scheduler.state_dict() if scheduler is not None else None,
        "rng": _rng_states(loop.shuffle),
        "position": {"epoch": loop.state.epoch, "batch": loop.state.batch, "step": loop.state.step},
        "epoch_progress": {
            "order": progress.order.cpu() if progress.order is not None else None,
            "loss_sum": progress.loss_sum.cpu() if progress.loss_sum is not None else None,
            "samples": progress.samples,
            "seconds": progress.elapsed() if loop.state.batch else 0.0,  # mid-epoch: carried into the resume
            "metrics": [m.state() for m in loop.train_metrics],
        },
        "history": list(loop.state.history),
        "best": {"epoch": loop.state.best_epoch, "value": loop.state.best_value},
        "callbacks": callbacks,
        **_feature_states(loop),
        **(extra or {}),
    }


def _feature_states(loop: Loop) -> dict[str, Any]:
    """Only what the run's features hold: the weight average, the fp16 scaler, gradients accumulated mid-group."""
    states: dict[str, Any] = {}
    if loop.average is not None:
        states["average"] = loop.average.state_dict()
    if loop.precision is not None and loop.precision.scaler is not None:
        states["scaler"] = loop.precision.state_dict()
    if loop.accumulate_steps > 1 and loop.state.batch % loop.accumulate_steps:
        params = [p for group in loop.optimizer.param_groups for p in group["params"]]
        states["accumulated"] = [p.grad.detach().clone() if p.grad is not None else None for p in params]
    return states


def _restore_features(loop: Loop, data: dict[str, Any]) -> None:
    if loop.average is not None and data.get("average") is not None:
        loop.average.load_state_dict(data["average"], loop.optimizer)
    if loop.precision is not None and data.get("scaler") is not None:
        loop.precision.load_state_dict(data["scaler"])
    if data.get("accumulated") is not None:
        params = [p for group in loop.optimizer.param_groups for p in group["params"]]
        for param, grad in zip(params, data["accumulated"], strict=True):
            param.grad = grad.to(param.device) if grad is not None else None


def restore(loop: Loop, data: dict[str, Any], *, source: str | Path | None = None) -> dict[str, Any]:
    """Put a captured state back into `loop`; returns the callbacks' saved states."""
    _check_same_model(loop.model.state_dict(), data["model"], source)
    loop.model.load_state_dict(data["model"])
    loop.optimizer.load_state_dict(data["optimizer"])
    if loop.schedule.scheduler is not None and data["scheduler"] is not None:
        loop.schedule.scheduler.load_state_dict(data["scheduler"])
    _set_rng_states(data["rng"], loop.shuffle)
    position = data["position"]
    loop.state.epoch, loop.state.batch, loop.state.step = (
        position["epoch"],
        position["batch"],
        position["step"],
    )
    loop.state.history = list(data["history"])
    loop.state.logs = dict(loop.state.history[-1]) if loop.state.history else {}
    loop.state.best_epoch, loop.state.best_value = data["best"]["epoch"], data["best"]["value"]
    saved = data["epoch_progress"]
    progress = loop.progress
    progress.order = saved["order"]
    progress.loss_sum = saved["loss_sum"].to(loop.device) if saved["loss_sum"] is not None else None
    progress.samples, progress.seconds = saved["samples"], saved["seconds"]
    progress.session_start = time.perf_counter()
    for metric, state in zip(loop.train_metrics, saved["metrics"], strict=True):
        metric.load_state({k: v.to(loop.device) if isinstance(v, torch.Tensor) else v for k, v in state.items()})
    _restore_features(loop, data)
    return dict(data.get("callbacks") or {})


def _check_same_model(current: dict[str, Any], saved: dict[str, Any], source: str | Path | None) -> None:
    """The model built for this resume has the saved tensors' names and shapes (the data may have changed)."""
    names = [name for name in {**saved, **current} if name not in current or name not in saved]
    shapes = [name for name in saved if name in current and _shape(saved[name]) != _shape(current[name])]
    if not names and not shapes:
        return
    if shapes:
        name = shapes[0]
        detail = f"'{name}' is {_shape(saved[name])} in the checkpoint but {_shape(current[name])} now"
    else:
        detail = f"'{names[0]}' is in only one of the checkpoint and the model built now"
    raise RunError(
        f"the saved model does not fit the model built for the data now ({detail}); expected the data and model "
        "the run started with (did the data files change?)",
        source=str(source) if source is not None else None,
    )


def _shape(value: Any) -> tuple[int, ...] | None:
    return tuple(value.shape) if isinstance(value, torch.Tensor) else None


def _rng_states(shuffle: torch.Generator) -> dict[str, Any]:
    numpy_state: Any = np.random.get_state()
    kind, keys, pos, has_gauss, cached = numpy_state
    states: dict[str, Any] = {
        "python": random.getstate(),
        "numpy": [kind, torch.from_numpy(keys.astype(np.int64)), pos, has_gauss, cached],
        "torch": torch.get_rng_state(),
        "shuffle": shuffle.get_state(),
    }
    if torch.cuda.is_available():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def _set_rng_states(states: dict[str, Any], shuffle: torch.Generator) -> None:
    version, internal, gauss = states["python"]
    random.setstate((version, tuple(internal), gauss))
    kind, keys, pos, has_gauss, cached = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, cached))
    torch.set_rng_state(states["torch"])
    shuffle.set_state(states["shuffle"])
    if "cuda" in states and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(states["cuda"])
