"""What `fit` does before it touches the disk, for commands made of runs (lr-find, compare, learning-curve...).

One shared path from "anything `fit` accepts" to a validated recipe and a built Loop, so every command gets the
same checks, data and model as `fit` (it calls `build.build`), and never trains the caller's own module.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from torch import nn

from trainwise.build import build, spell_out_metrics
from trainwise.config import Recipe
from trainwise.engine.state import Loop
from trainwise.errors import ConfigError, TrainwiseError
from trainwise.recipes import resolve_recipe
from trainwise.tasks import TaskData

RecipeLike = Recipe | dict[str, Any] | str | Path | None


@dataclass
class Prepared:
    """A resolved recipe and the Loop (model, optimizer, batches) and data that `fit` would build for it."""

    recipe: Recipe
    loop: Loop
    data: TaskData


def resolve(
    recipe: RecipeLike, model: Any = None, settings: dict[str, Any] | None = None, overrides: list[str] | None = None
) -> tuple[Recipe, nn.Module | None]:
    """The recipe as `fit` resolves it; `model="cnn"` / `model={...}` set the [model] section like in `fit`."""
    settings = dict(settings or {})
    if isinstance(model, (str, dict)):
        settings["model"], model = model, None
    return spell_out_metrics(resolve_recipe(recipe, settings, overrides)), model


def prepare(
    recipe: Recipe, *, model: nn.Module | None = None, train: Any = None, val: Any = None, test: Any = None
) -> Prepared:
    """Build everything a run needs, on a deep copy of `model` (the caller's module is never trained or moved)."""
    own = copy.deepcopy(model) if model is not None else None
    try:
        built = build(recipe, own, train, val, test)
    except TrainwiseError as exc:
        if isinstance(exc, ConfigError) or exc.key:  # a config key is at fault: name the file it is in
            exc.source = exc.source or recipe.source
        raise
    return Prepared(recipe, built.loop, built.data)
