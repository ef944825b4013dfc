"""The classic baselines the recommend task scores in the same run as the model.

Explicit ratings: global mean + user and item biases, regularized, fitted by alternating closed-form
least squares (as Surprise's BaselineOnly). Implicit feedback: the most popular training items for everyone,
ranked with the same metrics and the same masking of seen items as the model.
"""

from __future__ import annotations

import math

import numpy as np
import torch

from trainwise.engine.ranking import build_ranking_metric

BIAS_REG_USER = 15.0
BIAS_REG_ITEM = 10.0
BIAS_SWEEPS = 10


def fit_biases(
    users: np.ndarray, items: np.ndarray, ratings: np.ndarray, num_users: int, num_items: int
) -> tuple[float, np.ndarray, np.ndarray]:
    """(mean, user biases, item biases) minimising squared error + 15 |b_u|^2 + 10 |b_i|^2, by ALS sweeps."""
    mean = float(ratings.mean())
    user_bias = np.zeros(num_users)
    item_bias = np.zeros(num_items)
    user_count = np.bincount(users, minlength=num_users)
    item_count = np.bincount(items, minlength=num_items)
    for _ in range(BIAS_SWEEPS):
        residual = ratings - mean - user_bias[users]
        item_bias = np.bincount(items, residual, minlength=num_items) / (BIAS_REG_ITEM + item_count)
        residual = ratings - mean - item_bias[items]
        user_bias = np.bincount(users, residual, minlength=num_users) / (BIAS_REG_USER + user_count)
    return mean, user_bias, item_bias


def predict_biases(
    model: tuple[float, np.ndarray, np.ndarray], users: np.ndarray, items: np.ndarray, low: float, high: float
) -> np.ndarray:
    """The bias baseline's ratings for encoded pairs (-1: unknown, bias 0), clipped to the rating range."""
    mean, user_bias, item_bias = model
    predicted = mean + np.where(users >= 0, user_bias[users.clip(min=0)], 0.0)
    predicted += np.where(items >= 0, item_bias[items.clip(min=0)], 0.0)
    return predicted.clip(low, high)


def error_metrics(predicted: np.ndarray, ratings: np.ndarray) -> dict[str, float]:
    """RMSE and MAE of predictions against ratings."""
    if not len(ratings):
        return {"rmse": math.nan, "mae": math.nan}
    diff = predicted - ratings
    return {"rmse": float(np.sqrt(np.mean(diff**2))), "mae": float(np.mean(np.abs(diff)))}


def popularity_scores(
    train_items: np.ndarray, num_items: int, x: torch.Tensor, y: torch.Tensor, metric_names: list[str]
) -> dict[str, float]:
    """Ranking metrics of 'recommend the most popular unseen items' on evaluation rows (x users, y marks)."""
    counts = torch.from_numpy(np.bincount(train_items, minlength=num_items).astype(np.float32))
    scores = counts.expand(len(x), num_items)
    results: dict[str, float] = {}
    for name in metric_names:
        metric = build_ranking_metric(name)
        if metric is None:
            continue
        metric.update(scores, y)
        results[name] = metric.compute()
    return results
