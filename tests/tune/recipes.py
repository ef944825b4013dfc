"""A quick digits recipe for the tune tests to search."""

from __future__ import annotations

from typing import Any

LR = {"optimizer.learning_rate": {"low": 1e-3, "high": 3e-2, "log": True}}


def digits_recipe(search: dict[str, Any] | None = None, **settings: Any) -> dict[str, Any]:
    """Digits, a 16-unit MLP, 3 epochs, one thread; `search` defaults to `LR` (metric: val_accuracy unless it
    names its objectives)."""
    recipe: dict[str, Any] = {
        "task": "image",
        "name": "digits",
        "epochs": 3,
        "batch_size": 128,
        "seed": 0,
        "threads": 1,
        "data": {"name": "digits", "validation_split": 0.2},
        "model": {"name": "mlp", "hidden": [16]},
        "search": _with_metric(LR if search is None else search),
    }
    return recipe | settings


def _with_metric(search: dict[str, Any]) -> dict[str, Any]:
    return search if "objectives" in search else {"metric": "val_accuracy", **search}
