"""Tabular regression or classification from CSV or .npz files (feature columns + a label column)."""

from __future__ import annotations

from trainwise.config import Recipe
from trainwise.engine.optim import TargetKind
from trainwise.tasks.base import TaskData, load_task_data


class TabularTask:
    """Samples are flat feature vectors; the model is an `mlp`."""

    name: str = "tabular"
    models: tuple[str, ...] = ("mlp",)

    def load(self, recipe: Recipe, targets: TargetKind) -> TaskData:
        return load_task_data(recipe, targets)
