"""learning-curve: subsets of growing size, the power-law fit, its extrapolation and the one-line answer."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import trainwise
from trainwise.diagnose.data_size import fit_power_law, learning_curve, power_law

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


def test_the_fit_recovers_a_known_power_law() -> None:
    sizes = np.array([100.0, 200, 400, 800, 1600])
    errors = power_law(sizes, 2.0, 0.6, 0.05)
    a, b, c = fit_power_law(sizes, errors)
    assert (a, b, c) == pytest.approx((2.0, 0.6, 0.05), rel=1e-3)
    assert power_law(np.array([6400.0]), a, b, c)[0] == pytest.approx(power_law(np.array([6400.0]), 2.0, 0.6, 0.05)[0])


def test_learning_curve_on_blobs(tmp_path: Path, blobs: Splits) -> None:
    recipe = {"task": "tabular", "epochs": 2, "batch_size": 32, "model": {"hidden": [8]}, "threads": 1}
    result = learning_curve(
        recipe,
        fractions=[0.2, 0.5, 1.0],
        seeds=2,
        train=blobs["train"],
        val=blobs["val"],
        optimizer={"name": "adam", "learning_rate": 0.01},
        out=tmp_path / "lc",
    )
    assert result.sizes == [48, 120, 240]
    assert [len(row) for row in result.scores] == [2, 2, 2]
    assert result.score_key == "val_accuracy"
    low, high = result.interval(2 * 240)
    assert low <= result.predict(2 * 240) <= high
    assert result.predict(4 * 240) >= result.predict(240) - 1e-9  # error falls (or stays) with more data
    assert result.answer.split(":")[0] in (
        "Yes, more data should help",
        "Little to gain from more data alone",
        "Perhaps",
    )
    saved = json.loads((tmp_path / "lc" / "learning_curve.json").read_text())
    assert saved["summary"]["answer"] == result.answer
    assert (tmp_path / "lc" / "learning_curve.png").read_bytes().startswith(b"\x89PNG")
    assert len(list((tmp_path / "lc" / "runs").iterdir())) == 3


@pytest.mark.parametrize(
    ("fractions", "match"),
    [([], "none"), ([0.0, 0.5, 1.0], r"\(0, 1\]"), ([0.2, 0.5, 1.5], r"\(0, 1\]"), ([0.5, 1.0], "three")],
)
def test_bad_fractions(fractions: list[float], match: str, blobs: Splits) -> None:
    with pytest.raises(trainwise.ConfigError, match=match):
        learning_curve({"task": "tabular"}, fractions=fractions, train=blobs["train"], val=blobs["val"])


def test_no_validation_set_is_refused(blobs: Splits) -> None:
    with pytest.raises(trainwise.ConfigError, match="validation"):
        learning_curve({"task": "tabular", "data": {"validation_split": 0.0}}, train=blobs["train"])
