"""batch-size: throughput per power of two, then each trained for the same budget with a scaled learning rate."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch

import trainwise
from trainwise.tune.batch_size import batch_size

Splits = dict[str, tuple[torch.Tensor, torch.Tensor]]


def recipe(**settings: object) -> dict[str, object]:
    return {"task": "tabular", "batch_size": 32, "model": {"hidden": [8]}, "threads": 1, **settings}


def test_candidates_scaling_and_recommendation(tmp_path: Path, blobs: Splits) -> None:
    result = batch_size(
        recipe(optimizer={"name": "sgd", "learning_rate": 0.04}),
        budget=0.25,
        min_batch=16,
        max_batch=128,
        train=blobs["train"],
        val=blobs["val"],
        out=tmp_path / "bs",
    )
    sizes = [c.batch_size for c in result.candidates]
    assert sizes == [16, 32, 64, 128]
    for c in result.candidates:
        assert c.samples_per_second is not None and c.samples_per_second > 0
        assert c.learning_rate == pytest.approx(0.04 * math.sqrt(c.batch_size / 32))
        assert c.score is not None and 0 <= c.score <= 1
    top = max(c.score or 0.0 for c in result.candidates)
    tied = [c for c in result.candidates if c.score == top]  # the best score; among ties, the fastest
    assert result.recommended == max(tied, key=lambda c: c.samples_per_second or 0.0).batch_size
    saved = json.loads((tmp_path / "bs" / "batch_size.json").read_text())
    assert saved["summary"]["recommended_batch_size"] == result.recommended
    assert (tmp_path / "bs" / "batch_size.png").read_bytes().startswith(b"\x89PNG")
    assert sorted(p.name for p in (tmp_path / "bs" / "runs").iterdir()) == [f"batch-{b}" for b in (128, 16, 32, 64)]


def test_linear_scaling_and_the_training_set_caps_the_sizes(blobs: Splits) -> None:
    small = (blobs["train"][0][:100], blobs["train"][1][:100])
    result = batch_size(recipe(), budget=0.1, scaling="linear", min_batch=32, train=small, val=blobs["val"])
    assert [c.batch_size for c in result.candidates] == [32, 64]
    assert result.candidates[1].learning_rate == pytest.approx(2e-3)


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"budget": 0}, "budget"),
        ({"scaling": "cubic"}, "scaling"),
        ({"batch_size": "full", "optimizer": "gd"}, "mini-batch"),
        ({"schedule": "cosine"}, "epoch-free"),
        ({"min_batch": 64, "max_batch": 32}, "min_batch"),
    ],
)
def test_bad_requests(kwargs: dict[str, object], match: str, blobs: Splits) -> None:
    with pytest.raises(trainwise.ConfigError, match=match):
        batch_size(recipe(), train=blobs["train"], val=blobs["val"], **kwargs)  # type: ignore[arg-type]
