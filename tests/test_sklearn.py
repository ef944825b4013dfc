"""trainwise.sklearn: scikit-learn's own estimator checks, and use in Pipeline, cross_val_score, GridSearchCV."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from sklearn.datasets import load_iris, make_regression
from sklearn.model_selection import GridSearchCV, cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from sklearn.utils.estimator_checks import parametrize_with_checks

from trainwise.sklearn import TrainwiseClassifier, TrainwiseRegressor

# Small and quick, yet good enough for the checks that demand a fit (blobs accuracy > 0.83, regression R^2).
FAST = {"hidden": (32,), "epochs": 30, "learning_rate": 0.01, "batch_size": 16}

# Each check we skip, and why: none. (scikit-learn itself skips its two array-API checks when SCIPY_ARRAY_API
# is not set; that is its own environment switch, not ours.)
EXPECTED_FAILED: dict[str, str] = {}


@pytest.fixture(autouse=True)
def _one_thread() -> object:
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.mark.slow  # ~105 checks, most of them fit: ~2 min alone on 2 cores, far more on a busy machine
@parametrize_with_checks(
    [TrainwiseClassifier(**FAST), TrainwiseRegressor(**FAST)],
    expected_failed_checks=lambda estimator: EXPECTED_FAILED,
)
def test_scikit_learn_estimator_checks(estimator: object, check: object) -> None:
    check(estimator)  # type: ignore[operator]


def test_classifier_in_a_pipeline_with_cross_validation_and_grid_search() -> None:
    x, y = load_iris(return_X_y=True)
    labels = np.array(["setosa", "versicolor", "virginica"])[y]  # string labels come back as they went in
    pipeline = make_pipeline(StandardScaler(), TrainwiseClassifier(**FAST))
    scores = cross_val_score(pipeline, x, labels, cv=3)
    assert scores.mean() > 0.85
    grid = GridSearchCV(pipeline, {"trainwiseclassifier__hidden": [(4,), (32,)]}, cv=3).fit(x, labels)
    assert grid.best_params_["trainwiseclassifier__hidden"] in [(4,), (32,)]
    assert set(grid.predict(x)) <= set(labels)
    probabilities = grid.predict_proba(x[:5])
    np.testing.assert_allclose(probabilities.sum(axis=1), 1.0, rtol=1e-5)


def test_regressor_scores_r2_and_params_round_trip() -> None:
    x, y = make_regression(n_samples=200, n_features=5, noise=1.0, random_state=0)
    model = TrainwiseRegressor(**FAST).fit(x, y / y.std())
    assert model.score(x, y / y.std()) > 0.9
    assert model.get_params()["hidden"] == (32,)
    assert model.set_params(epochs=3).epochs == 3


def test_no_run_directory_is_left_unless_out_is_given(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    x, y = load_iris(return_X_y=True)
    TrainwiseClassifier(hidden=(8,), epochs=1).fit(x, y)
    assert list(tmp_path.iterdir()) == []
    TrainwiseClassifier(hidden=(8,), epochs=1, out=str(tmp_path / "kept")).fit(x, y)
    assert (tmp_path / "kept" / "checkpoints" / "last.pt").is_file()
