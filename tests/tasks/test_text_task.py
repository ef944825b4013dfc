"""The text task: a tokenizer trained on the training split only, padded ids, fit end to end, resume."""

from __future__ import annotations

import json
import random
import subprocess
import sys
from pathlib import Path

import pytest
import torch

import trainwise
from trainwise.config import build_recipe
from trainwise.errors import ConfigError, DataError
from trainwise.tasks import load_task

pytest.importorskip("tokenizers", reason="the text task needs 'tokenizers' (pip install 'trainwise[text]')")

GOOD = ["wonderful", "delicious", "great", "tasty", "lovely", "fresh"]
BAD = ["awful", "stale", "bland", "rotten", "soggy", "horrible"]


def make_reviews(path: Path, rows: int, seed: int = 0, extra: str = "") -> Path:
    """A learnable sentiment set: filler words plus two words from the label's list."""
    rng = random.Random(seed)
    filler = ["the", "snack", "was", "very", "box", "of", "bar", "and", "it", "my", "kids"]
    lines = []
    for i in range(rows):
        label = "great" if i % 2 else "other"
        words = rng.sample(filler, 5) + rng.sample(GOOD if i % 2 else BAD, 2)
        rng.shuffle(words)
        lines.append(json.dumps({"review": " ".join(words) + extra, "score": label}))
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


def recipe(tmp_path: Path, **data: object) -> object:
    train = make_reviews(tmp_path / "train.jsonl", 160)
    test = make_reviews(tmp_path / "test.jsonl", 40, seed=1, extra=" zyzzyva")
    raw = {
        "task": "text",
        "epochs": 3,
        "batch_size": 16,
        "metrics": ["accuracy", "macro_f1"],
        "data": {
            "path": str(train),
            "test_path": str(test),
            "text": "review",
            "label": "score",
            "max_length": 16,
            "vocab_size": 100,
            **data,
        },
        "model": {"name": "bag", "embedding_dim": 16, "hidden": [16], "heads": 2, "channels": [16], "layers": 1},
        "optimizer": {"learning_rate": 0.01},
    }
    return build_recipe(raw)


def test_ids_are_padded_rows_with_the_vocabulary_in_model_settings(tmp_path: Path) -> None:
    data = load_task(recipe(tmp_path))
    x, y = data.train
    assert x.dtype == torch.int64 and x.shape == (144, 16) and y.shape == (144,)
    assert data.input_shape == (16,)
    assert data.classes == ["great", "other"] and data.num_classes == 2
    vocab = data.model_settings["vocab_size"]
    assert data.model_settings["padding_id"] == 0
    assert 10 < vocab <= 100 and int(x.max()) < vocab
    assert (x[:, -1] == 0).all()  # 7 words never fill 16 positions
    assert "tokenizer.json" in data.artifacts


def test_tokenizer_sees_the_training_split_only(tmp_path: Path) -> None:
    data = load_task(recipe(tmp_path))
    tokenizer = json.loads(data.artifacts["tokenizer.json"])
    assert "zyzzyva" not in tokenizer["model"]["vocab"]  # only the test texts have it
    test_x, _ = data.test
    assert (test_x == 1).any(dim=1).all()  # so every test text holds [UNK] (id 1)


def test_long_texts_are_cut_to_max_length(tmp_path: Path) -> None:
    data = load_task(recipe(tmp_path, max_length=4))
    x, _ = data.train
    assert x.shape[1] == 4 and (x != 0).all()


@pytest.mark.parametrize("model", ["bag", "text-cnn", "transformer"])
def test_every_text_model_learns(tmp_path: Path, model: str) -> None:
    result = trainwise.fit(
        recipe(tmp_path), model={"name": model}, epochs=5, threads=1, out=tmp_path / "run", progress="off"
    )
    assert result.test is not None and result.test["accuracy"] > 0.8
    assert (tmp_path / "run" / "tokenizer.json").is_file()


def test_resume_reuses_the_saved_tokenizer(tmp_path: Path) -> None:
    first = trainwise.fit(recipe(tmp_path), epochs=1, out=tmp_path / "run", progress="off")
    saved = (first.run_dir / "tokenizer.json").read_text()
    resumed = trainwise.fit(recipe(tmp_path), epochs=2, out=tmp_path / "run", resume=True, progress="off")
    assert len(resumed.history) == 2
    assert (first.run_dir / "tokenizer.json").read_text() == saved
    (first.run_dir / "tokenizer.json").write_text("{not json")
    with pytest.raises(DataError, match=r"tokenizer\.json: not a readable tokenizer"):
        trainwise.fit(recipe(tmp_path), epochs=3, out=tmp_path / "run", resume=True, progress="off")


# many equally frequent pieces: where tokenizers' WordPiece trainer broke ties by ids it drew in hash order
TIED = """
import json
from trainwise.data.tokenizer import train_tokenizer
texts = [f"the quick brown fox {i % 7} jumps over the lazy dog number {i % 13} again" for i in range(300)]
texts += ["lorem ipsum dolor sit amet consectetur adipiscing elit sed do eiusmod tempor"] * 20
print(json.dumps(sorted(train_tokenizer(texts, "{kind}", 200).get_vocab().items(), key=lambda kv: kv[1])))
"""


@pytest.mark.parametrize("kind", ["wordpiece", "bpe", "word"])
def test_the_same_texts_give_the_same_ids_in_every_process(kind: str) -> None:
    """Each process hashes differently (tokenizers issue 1794): three fresh ones must agree on every id."""
    script = TIED.replace("{kind}", kind)
    vocabularies = {
        subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=True).stdout
        for _ in range(3)
    }
    assert len(vocabularies) == 1
    vocab = dict(json.loads(vocabularies.pop()))
    assert vocab["[PAD]"] == 0 and vocab["[UNK]"] == 1


def test_regression_loss_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"loss: the text task classifies texts"):
        trainwise.fit(recipe(tmp_path), loss="mse", metrics=["rmse"], out=tmp_path / "run", progress="off")


def tfidf_recipe(tmp_path: Path) -> object:
    raw = recipe(tmp_path).model_dump()  # type: ignore[attr-defined]
    raw["model"] |= {"weighting": "tfidf", "hidden": [], "bigram_buckets": 64}
    return build_recipe(raw)


def test_tfidf_bag_weighs_by_the_training_split_and_learns(tmp_path: Path) -> None:
    data = load_task(tfidf_recipe(tmp_path))
    x, _ = data.train
    width = 16 + 15  # tokens, then pairs of neighbours
    assert x.dtype == torch.float32 and data.input_shape == (2 * width,) and x.shape == (144, 2 * width)
    norms = torch.zeros(len(x))
    for row in range(len(x)):  # each text's TF-IDF vector has unit length
        vector = torch.zeros(data.model_settings["vocab_size"] + 64).index_add_(
            0, x[row, :width].long(), x[row, width:]
        )
        norms[row] = vector.norm()
    torch.testing.assert_close(norms, torch.ones(len(x)))
    test_x, _ = data.test
    unknown = test_x[:, :width] == 1  # "zyzzyva" exists only in the test texts: [UNK] was never in training
    assert unknown.any(dim=1).all() and (test_x[:, width:][unknown] == 0).all()
    result = trainwise.fit(tfidf_recipe(tmp_path), epochs=5, threads=1, out=tmp_path / "run", progress="off")
    assert sum(p.numel() for p in result.model.parameters()) == (data.model_settings["vocab_size"] + 64) * 2 + 2
    assert result.test is not None and result.test["accuracy"] > 0.8


def test_tfidf_weights_on_resume_are_the_runs_own(tmp_path: Path) -> None:
    """On resume, idf is refitted from the run's saved tokenizer (not a retrained one), so it matches."""
    first = load_task(tfidf_recipe(tmp_path))
    (tmp_path / "run").mkdir()
    (tmp_path / "run" / "tokenizer.json").write_text(first.artifacts["tokenizer.json"])
    resumed_recipe = tfidf_recipe(tmp_path)
    resumed_recipe._resume_dir = str(tmp_path / "run")  # type: ignore[attr-defined]  # what fit(resume=True) sets
    again = load_task(resumed_recipe)
    for split in ("train", "val", "test"):
        assert torch.equal(getattr(again, split)[0], getattr(first, split)[0])
    resumed = trainwise.fit(tfidf_recipe(tmp_path), epochs=1, threads=1, out=tmp_path / "fit", progress="off")
    more = trainwise.fit(tfidf_recipe(tmp_path), epochs=2, threads=1, out=resumed.run_dir, resume=True, progress="off")
    assert len(more.history) == 2 and more.history[0] == resumed.history[0]


@pytest.mark.parametrize("model", ["text-cnn", "transformer", "minilm"])
def test_tfidf_weighting_needs_a_bag(tmp_path: Path, model: str) -> None:
    raw = recipe(tmp_path).model_dump()  # type: ignore[attr-defined]
    raw["model"] |= {"name": model, "weighting": "tfidf"}
    with pytest.raises(ConfigError, match=r"model\.weighting: weighting 'tfidf' weighs a bag of tokens"):
        load_task(build_recipe(raw))


def test_word_tokenizer_keeps_whole_words(tmp_path: Path) -> None:
    data = load_task(recipe(tmp_path, tokenizer="word"))
    vocab = json.loads(data.artifacts["tokenizer.json"])["model"]["vocab"]
    assert {"wonderful", "horrible", "snack"} <= set(vocab) and "zyzzyva" not in vocab
    x, _ = data.train
    assert ((x != 0).sum(dim=1) == 7).all()  # seven words, seven tokens
