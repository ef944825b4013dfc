"""Tabular regression or classification from CSV/TSV, Parquet or .npz files, or a built-in table.

Plain numeric CSV/npz files are read as they are. Built-ins (diabetes, breast-cancer, wine, ames), Parquet
files, and files with declared column types (`data.numeric`, `data.categorical`, or `data.preprocess`)
go through `trainwise.data.frames`: typed columns, imputation, standardization and one-hot encoding fitted
on the training split.
"""

from __future__ import annotations

import json

import numpy as np
import torch

from trainwise.config import Recipe
from trainwise.data.frames import load_frame_splits, uses_frames
from trainwise.engine.optim import TargetKind
from trainwise.tasks.base import TaskData, load_task_data, to_tensors


class TabularTask:
    """Samples are flat feature vectors; the model is an `mlp`."""

    name: str = "tabular"
    models: tuple[str, ...] = ("mlp",)

    def load(self, recipe: Recipe, targets: TargetKind) -> TaskData:
        if not uses_frames(recipe.data):
            return load_task_data(recipe, targets)
        splits = load_frame_splits(recipe.data, classification=targets != "real")
        source = splits.source
        # how to turn the model's outputs back into the data's units: exp1m(output + offset) or output + offset
        target = {"column": recipe.data.label, "offset": splits.target_offset, "log1p": recipe.data.log_target}

        def pair(part: tuple[np.ndarray, np.ndarray] | None) -> tuple[torch.Tensor, torch.Tensor] | None:
            return to_tensors(part[0], part[1], targets, source) if part is not None else None

        return TaskData(
            name=splits.name,
            train=pair(splits.train),
            val=pair(splits.val),
            test=pair(splits.test),
            input_shape=(len(splits.features),),
            num_classes=len(splits.classes) if splits.classes else None,
            classes=splits.classes,
            source=source,
            artifacts={"target.json": json.dumps(target)} if target["offset"] or target["log1p"] else {},
        )
