"""Recommendation models: cold-start fallback, clipping, sampled negatives, and full-ranking scores."""

from __future__ import annotations

import pytest
import torch

from trainwise.models import mf
from trainwise.models.mf import MatrixFactorization, NeuMF


def _mf(**kwargs: object) -> MatrixFactorization:
    torch.manual_seed(0)
    return MatrixFactorization(4, 5, 3, **kwargs)  # type: ignore[arg-type]


def test_explicit_prediction_is_mean_plus_biases_plus_dot_product() -> None:
    model = _mf(mean=3.5)
    with torch.no_grad():
        model.user_bias.weight[1] = 0.25
        model.item_bias.weight[2] = -0.5
    expected = 3.5 + 0.25 - 0.5 + (model.user_factors.weight[1] * model.item_factors.weight[2]).sum()
    assert model(torch.tensor([[1, 2]])).item() == pytest.approx(expected.item())


def test_unknown_ids_fall_back_to_the_mean_and_the_known_bias() -> None:
    model = _mf(mean=3.5).eval()
    with torch.no_grad():
        model.user_bias.weight[0] = 1.0  # row 0 is where a clamped -1 would read from
        model.item_bias.weight[0] = 1.0
        model.item_bias.weight[2] = -0.5
    out = model(torch.tensor([[-1, 2], [-1, -1]]))
    assert out.tolist() == pytest.approx([3.0, 3.5])


def test_predictions_are_clipped_to_the_rating_range_in_eval_mode_only() -> None:
    model = _mf(mean=10.0, low=1.0, high=5.0)
    x = torch.tensor([[0, 0], [1, 1]])
    assert (model(x) > 5).all()  # training: no clipping, so the gradient still flows
    assert model.eval()(x).tolist() == [5.0, 5.0]


def test_implicit_training_draws_seeded_negatives_after_the_positive() -> None:
    model = _mf(implicit=True, negatives=3).train()
    x = torch.tensor([[0, 1], [2, 4]])
    torch.manual_seed(7)
    first = model(x)
    torch.manual_seed(7)
    again = model(x)
    assert first.shape == (2, 4)
    assert torch.equal(first, again)
    assert first[:, 0].tolist() == pytest.approx(model.eval()(x).tolist())


@pytest.mark.parametrize("kind", ["mf", "neumf"])
def test_scores_of_all_items_match_the_pair_scores(kind: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(mf, "_PAIRS_PER_CHUNK", 7)  # NeuMF scores in several chunks
    torch.manual_seed(0)
    model = _mf(implicit=True) if kind == "mf" else NeuMF(4, 5, 3, [6], implicit=True)
    model.eval()
    users = torch.tensor([[3], [0], [2]])
    everything = model(users)
    assert everything.shape == (3, 5)
    for row, user in enumerate(users[:, 0].tolist()):
        pairs = torch.stack([torch.full((5,), user), torch.arange(5)], dim=1)
        assert everything[row].tolist() == pytest.approx(model(pairs).tolist(), abs=1e-6)
