"""Text models: output shapes, padding that changes nothing, and clear errors outside the text task."""

from __future__ import annotations

import pytest
import torch

from trainwise.config import ModelConfig
from trainwise.errors import ConfigError
from trainwise.models import build_model

NAMES = ["bag", "text-cnn", "transformer"]


def _config(name: str, **extra: object) -> ModelConfig:
    return ModelConfig(name=name, vocab_size=50, padding_id=0, embedding_dim=16, heads=2, hidden=[16], **extra)


def _ids(rows: int = 3, length: int = 12) -> torch.Tensor:
    ids = torch.randint(2, 50, (rows, length), generator=torch.Generator().manual_seed(0))
    ids[0, 5:] = 0  # one short text, padded
    return ids


@pytest.mark.parametrize("name", NAMES)
def test_logits_per_class(name: str) -> None:
    model = build_model(_config(name), (12,), 4)
    assert model(_ids()).shape == (3, 4)


@pytest.mark.parametrize(("name", "bigrams"), [("bag", 0), ("bag", 64), ("transformer", 0)])
def test_more_padding_changes_nothing(name: str, bigrams: int) -> None:
    torch.manual_seed(0)
    model = build_model(_config(name, bigram_buckets=bigrams) if bigrams else _config(name), (20,), 3).eval()
    ids = _ids(length=12)
    longer = torch.cat([ids, torch.zeros(3, 8, dtype=torch.long)], dim=1)
    with torch.no_grad():
        torch.testing.assert_close(model(ids), model(longer), rtol=1e-4, atol=1e-5)


def test_bigrams_make_word_order_count() -> None:
    torch.manual_seed(0)
    plain = build_model(_config("bag"), (4,), 2).eval()
    torch.manual_seed(0)
    ordered = build_model(_config("bag", bigram_buckets=64), (4,), 2).eval()
    ids = torch.tensor([[2, 3, 4, 5]])
    flipped = ids.flip(1)
    with torch.no_grad():
        torch.testing.assert_close(plain(ids), plain(flipped))
        assert not torch.allclose(ordered(ids), ordered(flipped))


def test_all_padding_row_gives_finite_logits() -> None:
    model = build_model(_config("transformer"), (6,), 2).eval()
    with torch.no_grad():
        assert torch.isfinite(model(torch.zeros(2, 6, dtype=torch.long))).all()


@pytest.mark.parametrize("name", NAMES)
def test_text_models_need_token_ids(name: str) -> None:
    with pytest.raises(ConfigError, match=r'reads token ids: use it with task = "text"'):
        build_model(ModelConfig(name=name), (1, 28, 28), 10)


def test_heads_must_divide_the_embedding() -> None:
    with pytest.raises(ConfigError, match=r"embedding_dim \(16\) must be divisible by model.heads \(3\)"):
        build_model(ModelConfig(name="transformer", vocab_size=50, embedding_dim=16, heads=3), (8,), 2)


def test_tfidf_bag_is_the_weighted_sum_of_its_ids() -> None:
    ids = _ids().float()
    weights = torch.rand(ids.shape, generator=torch.Generator().manual_seed(1)) * (ids != 0)
    linear = build_model(_config("bag", weighting="tfidf").model_copy(update={"hidden": []}), (24,), 4)
    assert sum(p.numel() for p in linear.parameters()) == 50 * 4 + 4  # one logit per id and class, a bias
    torch.nn.init.normal_(linear.bag.weight)
    expected = (linear.bag.weight[ids.long()] * weights.unsqueeze(-1)).sum(dim=1) + linear.bias
    torch.testing.assert_close(linear(torch.cat([ids, weights], dim=1)), expected)
    deep = build_model(_config("bag", weighting="tfidf"), (24,), 4)  # hidden = [16]: embeddings, then an MLP
    assert deep(torch.cat([ids, weights], dim=1)).shape == (3, 4)


def test_tfidf_bag_ids_must_stay_exact_as_floats() -> None:
    with pytest.raises(ConfigError, match=r"model\.bigram_buckets: .*at most 16777216"):
        build_model(_config("bag", weighting="tfidf", bigram_buckets=2**24), (24,), 4)
