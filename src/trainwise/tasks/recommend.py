"""Recommendation: explicit ratings (MF, RMSE/MAE) or implicit top-N (BPR-MF, NeuMF; HR/NDCG/Recall@k).

The task reads interactions (a CSV/TSV file or a built-in), splits them, maps ids to indices from the
training split, scores its classic baseline on the same validation and test parts, and builds its own
models (their sizes come from the data). Training pairs are (user, item) tensors that the engine's fast
path batches; ranking evaluation rows (users, marks of seen and held-out items) go through the engine's
ordinary `evaluate`, whose ranking metrics mask seen items and rank every other item.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from trainwise.config import Recipe
from trainwise.data.cache import cached_arrays
from trainwise.data.catalog import get_builtin
from trainwise.data.interactions import Columns, Interactions, interactions_from_arrays, read_interactions
from trainwise.engine.optim import TargetKind
from trainwise.errors import ConfigError, DataError, did_you_mean
from trainwise.models.mf import MatrixFactorization, NeuMF
from trainwise.tasks.base import TaskData
from trainwise.tasks.recommend_baselines import error_metrics, fit_biases, popularity_scores, predict_biases
from trainwise.tasks.recommend_splits import Vocabulary, leave_last_out, pairs, random_parts, ranking_rows

# Built-in interaction sets (files located by data/catalog.py): a file's columns, or an R object's, and the
# declared rating range.
BUILTIN_INTERACTIONS: dict[str, tuple[Columns, tuple[float, float]]] = {
    "movielens-100k": (Columns("user_id", "item_id", "rating", "timestamp"), (1.0, 5.0)),
    "movielens-dslabs": (Columns("userId", "movieId", "rating", "timestamp"), (0.5, 5.0)),
}
R_OBJECTS = {"movielens-dslabs": ("dslabs", "movielens")}  # name -> (R package, object)
BIAS_BASELINE = "global mean + user/item biases (ALS, reg_u 15, reg_i 10)"
POPULARITY_BASELINE = "most popular unseen training items"


class RecommendTask:
    """User-item interactions; models `mf` (biased MF; BPR-MF with loss "bpr") and `neumf`."""

    name: str = "recommend"
    models: tuple[str, ...] = ("mf", "neumf")

    def load(self, recipe: Recipe, targets: TargetKind) -> TaskData:
        implicit = _implicit(recipe, targets)
        data, declared = read_recipe_interactions(recipe, implicit)
        if implicit:
            return _implicit_data(recipe, data)
        return _explicit_data(recipe, data, declared)

    def build_model(self, recipe: Recipe, data: TaskData) -> nn.Module:
        """The recipe's model sized to the training split's users and items."""
        cfg, info = recipe.model, data.info
        common: dict[str, Any] = {
            "mean": info["mean"],
            "implicit": info["implicit"],
            "negatives": recipe.data.negatives,
            "low": info["low"],
            "high": info["high"],
        }
        if cfg.name == "mf":
            return MatrixFactorization(info["users"], info["items"], cfg.factors, **common)
        if cfg.name == "neumf":
            return NeuMF(info["users"], info["items"], cfg.factors, cfg.hidden, dropout=cfg.dropout, **common)
        raise ConfigError(f"unknown model '{cfg.name}'; {did_you_mean(cfg.name, self.models)}", key="model.name")


def _implicit(recipe: Recipe, targets: TargetKind) -> bool:
    """Implicit feedback trains a ranking loss (bpr); explicit ratings a regression loss; say so when mixed."""
    feedback = recipe.data.feedback or ("implicit" if targets == "ranking" else "explicit")
    if feedback == "implicit" and targets != "ranking":
        raise ConfigError(f"implicit feedback trains with loss 'bpr', not '{recipe.loss}'", key="loss")
    if feedback == "explicit" and targets != "real":
        raise ConfigError(
            f"explicit ratings train with a regression loss (mse, mae or huber), not '{recipe.loss}'", key="loss"
        )
    return feedback == "implicit"


def read_recipe_interactions(recipe: Recipe, implicit: bool) -> tuple[Interactions, tuple[float, float] | None]:
    """The recipe's interactions (built-in or file) and the declared rating range (None: the observed one)."""
    cfg = recipe.data
    if cfg.test_path is not None:
        raise ConfigError("the recommend task splits its own test part; remove data.test_path", key="data.test_path")
    if cfg.name is not None:
        builtin = get_builtin(cfg.name)
        if cfg.name not in BUILTIN_INTERACTIONS:
            raise ConfigError(
                f"data set '{cfg.name}' is not a set of interactions; expected one of "
                f"{', '.join(BUILTIN_INTERACTIONS)} or data.path",
                key="data.name",
            )
        files = builtin.locate()
        missing = [f for f in files if not f.is_file()]
        if not files or missing:
            detail = f" (missing {missing[0]})" if missing else ""
            raise DataError(
                f"data set '{cfg.name}' is not installed{detail}; install it with: {builtin.install}",
                source=cfg.name,
            )
        columns, declared = BUILTIN_INTERACTIONS[cfg.name]
        declared = cfg.rating_range or declared
        if cfg.name in R_OBJECTS:
            arrays = cached_arrays(cfg.name, files, lambda: _r_interactions(cfg.name or "", columns))
            where = f"{files[0].parent}/{R_OBJECTS[cfg.name][1]}"
            data = interactions_from_arrays(arrays, where, rating_range=declared, duplicates=cfg.duplicates)
            return data, declared
        return read_interactions(files[0], columns, rating_range=declared, duplicates=cfg.duplicates), declared
    if cfg.path is None:
        raise ConfigError("no data: set data.name (see `trainwise data ls`) or data.path", key="data")
    rating = None if implicit and cfg.rating == "rating" else cfg.rating  # implicit files need no rating column
    columns = Columns(cfg.user, cfg.item, rating, cfg.timestamp)
    data = read_interactions(Path(cfg.path), columns, rating_range=cfg.rating_range, duplicates=cfg.duplicates)
    return data, cfg.rating_range


def _r_interactions(name: str, columns: Columns) -> dict[str, np.ndarray]:
    """The columns of an R data frame of ratings as plain arrays (ids as strings), for the cache."""
    from trainwise.data.rdata import read_r_object

    package, obj = R_OBJECTS[name]
    frame = read_r_object(package, obj)
    arrays: dict[str, np.ndarray] = {}
    for key, column in (("users", columns.user), ("items", columns.item)):
        arrays[key] = frame[column].astype(str).to_numpy(dtype=str)
    arrays["ratings"] = frame[columns.rating].to_numpy(dtype=np.float64, na_value=np.nan)
    if columns.timestamp is not None:
        arrays["timestamps"] = frame[columns.timestamp].to_numpy(dtype=np.float64, na_value=np.nan)
    return arrays


def _explicit_data(recipe: Recipe, data: Interactions, declared: tuple[float, float] | None) -> TaskData:
    cfg = recipe.data
    train, val, test = random_parts(
        len(data), cfg.test_split, cfg.validation_split, cfg.folds, cfg.fold, cfg.split_seed
    )
    users, items = Vocabulary(np.unique(data.users[train])), Vocabulary(np.unique(data.items[train]))
    low, high = declared or (float(data.ratings.min()), float(data.ratings.max()))
    encoded = {
        name: (users.encode(data.users[rows]), items.encode(data.items[rows]), data.ratings[rows])
        for name, rows in (("train", train), ("val", val), ("test", test))
    }
    biases = fit_biases(*encoded["train"], len(users), len(items))
    report: dict[str, Any] = {"interactions": _counts(data, users, items, train, val, test), "cold_start": {}}
    baseline: dict[str, Any] = {"name": BIAS_BASELINE}
    splits: dict[str, Any] = {}
    for name, (u, i, r) in encoded.items():
        if name != "train" and not len(r):
            splits[name] = None
            continue
        splits[name] = (pairs(u, i), torch.from_numpy(r.astype(np.float32)))
        baseline[name] = error_metrics(predict_biases(biases, u, i, low, high), r)
        if name != "train":
            report["cold_start"][name] = {
                "unknown_users": int((u < 0).sum()),
                "unknown_items": int((i < 0).sum()),
                "policy": "unknown user or item: its factors and bias count as zero (global mean + known biases)",
            }
    report["baseline"] = baseline
    mean = float(data.ratings[train].mean())
    info = {"users": len(users), "items": len(items), "mean": mean, "implicit": False, "low": low, "high": high}
    return _task_data(recipe, data, splits, info, report)


def _implicit_data(recipe: Recipe, data: Interactions) -> TaskData:
    if recipe.data.folds > 1:
        raise ConfigError("k-fold splits explicit ratings; implicit feedback is split leave-last-out", key="data.folds")
    train, val, test, short = leave_last_out(data, with_val=recipe.data.validation_split > 0)
    users, items = Vocabulary(np.unique(data.users[train])), Vocabulary(np.unique(data.items[train]))
    train_u, train_i = users.encode(data.users[train]), items.encode(data.items[train])
    report: dict[str, Any] = {"interactions": _counts(data, users, items, train, val, test)}
    report["interactions"]["users_kept_whole_in_train"] = short
    report["interactions"]["order"] = "timestamp" if data.timestamps is not None else "file order (no timestamp)"
    metric_names = list(recipe.metrics)
    baseline: dict[str, Any] = {"name": POPULARITY_BASELINE}
    splits: dict[str, Any] = {"train": (pairs(train_u, train_i), torch.ones(len(train), dtype=torch.float32))}
    cold: dict[str, Any] = {}
    seen_u, seen_i = train_u, train_i
    for name, rows in (("val", val), ("test", test)):
        if not len(rows):
            splits[name] = None
            continue
        held_u, held_i = users.encode(data.users[rows]), items.encode(data.items[rows])
        x, y = ranking_rows(held_u, held_i, seen_u, seen_i, len(users), len(items))
        splits[name] = (x, y)
        baseline[name] = popularity_scores(train_i, len(items), x, y, metric_names)
        cold[name] = {
            "unknown_items": int((held_i < 0).sum()),
            "policy": "a held-out item that training never showed cannot be ranked: it counts as a miss",
        }
        known = held_i >= 0  # the test ranking also masks the validation item
        seen_u, seen_i = np.r_[seen_u, held_u[known]], np.r_[seen_i, held_i[known]]
    report["baseline"], report["cold_start"] = baseline, cold
    info = {"users": len(users), "items": len(items), "mean": 0.0, "implicit": True, "low": 0.0, "high": 0.0}
    return _task_data(recipe, data, splits, info, report)


def _counts(
    data: Interactions, users: Vocabulary, items: Vocabulary, train: np.ndarray, val: np.ndarray, test: np.ndarray
) -> dict[str, Any]:
    return {
        **data.counts,
        "kept": len(data),
        "train": len(train),
        "val": len(val),
        "test": len(test),
        "train_users": len(users),
        "train_items": len(items),
    }


def _task_data(
    recipe: Recipe, data: Interactions, splits: dict[str, Any], info: dict[str, Any], report: dict[str, Any]
) -> TaskData:
    return TaskData(
        name=recipe.data.name or Path(data.source).name,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        input_shape=(2,),
        source=data.source,
        info=info,
        report=report,
    )
