"""Classic baselines on exactly the splits a recipe trains and tests on, to say whether a network earns its keep.

Text: TF-IDF (words and word pairs) + logistic regression. Tabular: ridge / logistic regression and
scikit-learn's HistGradientBoosting. The regularization strength of the linear models is chosen on the
recipe's validation split, so the baselines are tuned as fairly as the network is.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from trainwise.config import Recipe
from trainwise.errors import ConfigError, DataError


def run_baselines(recipe: Recipe) -> dict[str, Any]:
    """{"data", "task", "models": [{"name", "test": {metric: value}}], "summary": {...}} for the recipe's task."""
    if recipe.task not in ("text", "tabular"):
        raise ConfigError(f"no baseline for task '{recipe.task}'; expected task text or tabular", key="task")
    from threadpoolctl import threadpool_limits

    with threadpool_limits(limits=recipe.threads):  # the recipe's thread count binds the baselines too
        if recipe.task == "text":
            models = _text_baselines(recipe)
        else:
            from trainwise.tabular_baselines import tabular_baselines

            models = tabular_baselines(recipe)
    summary = {f"{m['name']} test {k}": v for m in models for k, v in m["test"].items()}
    return {"data": recipe.data.name or recipe.data.path, "task": recipe.task, "models": models, "summary": summary}


def classification_scores(y: np.ndarray, predicted: np.ndarray) -> dict[str, float]:
    """Accuracy and macro F1, computed the way trainwise's metrics are."""
    from sklearn.metrics import accuracy_score, f1_score

    return {
        "accuracy": float(accuracy_score(y, predicted)),
        "macro_f1": float(f1_score(y, predicted, average="macro")),
    }


def _text_baselines(recipe: Recipe) -> list[dict[str, Any]]:
    from sklearn.feature_extraction.text import TfidfVectorizer
    from sklearn.linear_model import LogisticRegression

    from trainwise.data.text import load_texts

    splits = load_texts(recipe.data)
    if splits.test_texts is None or splits.test_y is None:
        raise DataError("a baseline is scored on a test split: set data.test_path", key="data.test_path")
    vectorizer = TfidfVectorizer(ngram_range=(1, 2), min_df=2, sublinear_tf=True)
    train_x = vectorizer.fit_transform(splits.train_texts)
    best: tuple[float, float] | None = None
    for c in (0.3, 1.0, 3.0, 10.0, 30.0):
        model = LogisticRegression(C=c, max_iter=2000)
        model.fit(train_x, splits.train_y)
        if splits.val_texts is None or splits.val_y is None:
            best = (0.0, 10.0)
            break
        score = float(model.score(vectorizer.transform(splits.val_texts), splits.val_y))
        if best is None or score > best[0]:
            best = (score, c)
    assert best is not None
    model = LogisticRegression(C=best[1], max_iter=2000).fit(train_x, splits.train_y)
    predicted = model.predict(vectorizer.transform(splits.test_texts))
    return [
        {
            "name": "tfidf+logistic",
            "settings": {"C": best[1], "ngram_range": "1-2", "features": int(train_x.shape[1])},
            "test": classification_scores(splits.test_y, predicted),
        }
    ]
