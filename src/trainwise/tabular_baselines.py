"""Tabular baselines on the exact preprocessed splits the network sees: a linear model and gradient boosting."""

from __future__ import annotations

from typing import Any

import numpy as np

from trainwise.baselines import classification_scores
from trainwise.config import Recipe
from trainwise.data.frames import load_frame_splits, uses_frames
from trainwise.engine.optim import build_loss
from trainwise.errors import DataError


def tabular_baselines(recipe: Recipe) -> list[dict[str, Any]]:
    """Ridge (regression) or logistic regression (classification), strength chosen on validation, and
    HistGradientBoosting with its defaults; scored on the test split."""
    from sklearn.ensemble import HistGradientBoostingClassifier, HistGradientBoostingRegressor
    from sklearn.linear_model import LogisticRegression, Ridge

    if not uses_frames(recipe.data):
        raise DataError("tabular baselines read typed tables: use a built-in, a .parquet file or set data.preprocess")
    classification = build_loss(recipe.loss, recipe.regularization).targets != "real"
    splits = load_frame_splits(recipe.data, classification)
    if splits.test is None:
        raise DataError("a baseline is scored on a test split: set data.test_path", key="data.test_path")
    (train_x, train_y), (test_x, test_y) = splits.train, splits.test

    def linear(strength: float) -> Any:
        if classification:
            return LogisticRegression(C=strength, max_iter=5000)
        return Ridge(alpha=1.0 / strength)

    best_strength = 1.0
    if splits.val is not None:
        val_x, val_y = splits.val
        scores = {}
        for strength in (0.01, 0.1, 1.0, 10.0, 100.0):
            model = linear(strength).fit(train_x, train_y)
            scores[strength] = _score(model.predict(val_x), val_y, classification)
        best_strength = max(scores, key=lambda s: scores[s]) if classification else min(scores, key=lambda s: scores[s])
    boosting = (
        HistGradientBoostingClassifier(random_state=0)
        if classification
        else HistGradientBoostingRegressor(random_state=0)
    )
    rows = []
    for name, model, settings in (
        ("logistic" if classification else "ridge", linear(best_strength), {"strength": best_strength}),
        ("hist-gradient-boosting", boosting, {}),
    ):
        model.fit(train_x, train_y)
        predicted = model.predict(test_x)
        test = classification_scores(test_y, predicted) if classification else _regression(predicted, test_y)
        rows.append({"name": name, "settings": settings, "test": test})
    return rows


def _score(predicted: np.ndarray, y: np.ndarray, classification: bool) -> float:
    return float((predicted == y).mean()) if classification else float(np.sqrt(np.mean((predicted - y) ** 2)))


def _regression(predicted: np.ndarray, y: np.ndarray) -> dict[str, float]:
    error = np.asarray(predicted, dtype=np.float64) - np.asarray(y, dtype=np.float64)
    return {"rmse": float(np.sqrt(np.mean(error**2))), "mae": float(np.mean(np.abs(error)))}
