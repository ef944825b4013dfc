"""Image classification (or regression) on built-in image sets or user files (IDX, .npz, CSV of pixels)."""

from __future__ import annotations

from trainwise.config import Recipe
from trainwise.engine.optim import TargetKind
from trainwise.tasks.base import TaskData, load_task_data


class ImageTask:
    """Samples shaped (channels, height, width); models `mlp` (flattens) or `cnn`."""

    name: str = "image"
    models: tuple[str, ...] = ("mlp", "cnn")

    def load(self, recipe: Recipe, targets: TargetKind) -> TaskData:
        return load_task_data(recipe, targets)
