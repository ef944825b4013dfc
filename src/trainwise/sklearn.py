"""scikit-learn estimators over `trainwise.fit`: an MLP classifier and regressor for Pipeline, GridSearchCV...

The constructors only store their settings (scikit-learn's convention); `fit` validates the data, trains
through `trainwise.fit` with progress off, and keeps the trained torch module as `model_`. No run directory is
left behind unless `out` names one: by default the run is written to a temporary folder removed after fit.
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import torch
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted, validate_data

import trainwise


class _TrainwiseEstimator(BaseEstimator):
    """Shared settings and training; subclasses say the loss and how targets map to the network's outputs."""

    _loss = "cross_entropy"

    def __init__(
        self,
        hidden: tuple[int, ...] = (64, 64),
        *,
        epochs: int = 20,
        batch_size: int = 32,
        learning_rate: float = 1e-3,
        optimizer: str = "adam",
        dropout: float = 0.0,
        weight_decay: float = 0.0,
        seed: int = 0,
        device: str = "cpu",
        settings: dict[str, Any] | None = None,
        out: str | None = None,
    ) -> None:
        self.hidden = hidden
        self.epochs = epochs
        self.batch_size = batch_size
        self.learning_rate = learning_rate
        self.optimizer = optimizer
        self.dropout = dropout
        self.weight_decay = weight_decay
        self.seed = seed
        self.device = device
        self.settings = settings
        self.out = out

    def _train(self, x: np.ndarray, y: np.ndarray) -> None:
        recipe: dict[str, Any] = {
            "task": "tabular",
            "loss": self._loss,
            "epochs": self.epochs,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "device": self.device,
            "model": {"name": "mlp", "hidden": list(self.hidden), "dropout": self.dropout},
            "optimizer": {"name": self.optimizer, "learning_rate": self.learning_rate},
            "regularization": {"weight_decay": self.weight_decay},
            "data": {"validation_split": 0.0},
            **(self.settings or {}),
        }
        train = (torch.from_numpy(x), torch.from_numpy(y))
        if self.out is not None:
            result = trainwise.fit(recipe, train=train, out=self.out, progress="off", store=True)
        else:
            with tempfile.TemporaryDirectory(prefix="trainwise-sklearn-") as folder:
                result = trainwise.fit(recipe, train=train, out=Path(folder) / "run", progress="off", store=False)
        self.model_ = result.model.cpu().eval()
        self.history_ = result.history

    def _outputs(self, x: Any) -> np.ndarray:
        check_is_fitted(self, "model_")
        features = validate_data(self, x, reset=False, dtype=np.float32)
        with torch.inference_mode():
            return self.model_(torch.from_numpy(np.ascontiguousarray(features))).float().numpy()

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.non_deterministic = False
        return tags


class TrainwiseClassifier(ClassifierMixin, _TrainwiseEstimator):
    """An MLP classifier trained by trainwise (cross-entropy); labels can be any values scikit-learn accepts.

    >>> clf = TrainwiseClassifier(hidden=(32,), epochs=5).fit(X, y)     # doctest: +SKIP
    >>> clf.predict_proba(X[:2])                                        # doctest: +SKIP
    """

    def fit(self, X: Any, y: Any) -> TrainwiseClassifier:
        x, labels = validate_data(self, X, y, dtype=np.float32)
        check_classification_targets(labels)
        self.classes_, codes = np.unique(labels, return_inverse=True)
        if len(self.classes_) < 2:
            raise ValueError(f"the classifier needs samples of at least 2 classes; got 1 class ({self.classes_[0]!r})")
        self._train(np.ascontiguousarray(x), codes.astype(np.int64))
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        logits = torch.from_numpy(self._outputs(X))
        return torch.softmax(logits, dim=1).numpy()

    def predict(self, X: Any) -> np.ndarray:
        winners = self._outputs(X).argmax(axis=1)  # checks the estimator is fitted first
        return np.asarray(self.classes_[winners])


class TrainwiseRegressor(RegressorMixin, _TrainwiseEstimator):
    """An MLP regressor trained by trainwise (mean squared error) for one target."""

    _loss = "mse"

    def fit(self, X: Any, y: Any) -> TrainwiseRegressor:
        x, target = validate_data(self, X, y, dtype=np.float32, y_numeric=True)
        self._train(np.ascontiguousarray(x), np.ascontiguousarray(target, dtype=np.float32))
        return self

    def predict(self, X: Any) -> np.ndarray:
        return self._outputs(X).reshape(-1)
