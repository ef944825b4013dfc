"""Text classification: labelled texts -> subword ids (a tokenizer trained on the training split) -> a model.

The tokenizer's vocabulary size and padding id reach the model through `TaskData.model_settings`; the
tokenizer itself is kept in the run directory (`tokenizer.json`) and reloaded from there on resume.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import torch

from trainwise.config import Recipe
from trainwise.data.text import TextSplits, load_texts
from trainwise.data.tokenizer import (
    PAD_ID,
    TOKENIZER_FILE,
    encode,
    load_tokenizer,
    tokenizer_json,
    train_tokenizer,
)
from trainwise.engine.optim import TargetKind
from trainwise.engine.runtime import resolve_device
from trainwise.errors import ConfigError
from trainwise.tasks.base import TaskData

Pair = Callable[[list[str] | None, np.ndarray | None], tuple[torch.Tensor, torch.Tensor] | None]
"""A split's texts and labels -> its (x, y) tensors, or None for a missing split."""


class TextTask:
    """Samples are token id rows of `data.max_length`; models `bag`, `text-cnn` or `transformer`.

    With model `minilm` (optional extra) samples are instead the frozen MiniLM encoder's sentence embeddings,
    computed once and cached, and the model is the trained head on top of them. With `minilm-bag` a sample is
    both: its embedding followed by its token ids (as floats), for a head that adds a fastText-style bag.
    """

    name: str = "text"
    models: tuple[str, ...] = ("bag", "text-cnn", "transformer", "minilm", "minilm-bag")

    def load(self, recipe: Recipe, targets: TargetKind) -> TaskData:
        if targets == "real":
            raise ConfigError(
                f"the text task classifies texts; loss '{recipe.loss}' is for regression: expected cross_entropy",
                key="loss",
            )
        if recipe.model.weighting == "tfidf" and recipe.model.name not in ("bag", "minilm-bag"):
            raise ConfigError(
                f"weighting 'tfidf' weighs a bag of tokens: use it with model bag or minilm-bag, not "
                f"'{recipe.model.name}'",
                key="model.weighting",
            )
        cfg = recipe.data
        splits = load_texts(cfg)
        if targets == "binary" and len(splits.classes) != 2:
            raise ConfigError(f"loss 'bce' needs 2 classes, the data has {len(splits.classes)}", key="loss")
        if recipe.model.name == "minilm":
            return _sentence_data(recipe, splits, targets)
        saved = Path(recipe.resume_dir) / TOKENIZER_FILE if recipe.resume_dir else None
        if saved is not None and saved.is_file():
            tokenizer = load_tokenizer(saved)
        else:
            tokenizer = train_tokenizer(splits.train_texts, cfg.tokenizer, cfg.vocab_size)

        def ids_pair(texts: list[str] | None, labels: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor] | None:
            if texts is None or labels is None:
                return None
            ids = torch.from_numpy(encode(tokenizer, texts, cfg.max_length))
            y = torch.from_numpy(labels)
            return ids, (y.float() if targets == "binary" else y)

        pair: Pair = ids_pair
        if recipe.model.weighting == "tfidf":
            pair = _tfidf_pairs(recipe, splits.train_texts, ids_pair, int(tokenizer.get_vocab_size()))
        data = TaskData(
            name=splits.name,
            train=pair(splits.train_texts, splits.train_y),
            val=pair(splits.val_texts, splits.val_y),
            test=pair(splits.test_texts, splits.test_y),
            input_shape=data_shape(recipe, cfg.max_length),
            num_classes=len(splits.classes),
            classes=splits.classes,
            source=splits.source,
            model_settings={"vocab_size": int(tokenizer.get_vocab_size()), "padding_id": PAD_ID},
            artifacts={TOKENIZER_FILE: tokenizer_json(tokenizer)},
        )
        return _with_sentences(recipe, splits, data, targets) if recipe.model.name == "minilm-bag" else data


def data_shape(recipe: Recipe, max_length: int) -> tuple[int]:
    """A token sample's width: max_length ids, or with TF-IDF weighting bag ids (tokens, pairs) then weights."""
    if recipe.model.weighting != "tfidf":
        return (max_length,)
    return (2 * (max_length + (max_length - 1 if recipe.model.bigram_buckets else 0)),)


def _tfidf_pairs(recipe: Recipe, train_texts: list[str], pair: Pair, vocab_size: int) -> Pair:
    """`pair` with samples as [bag ids | TF-IDF weights] floats, idf fitted once on the training split's bags."""
    from trainwise.data.tfidf import bag_ids, fit_idf, tfidf_weights

    buckets = recipe.model.bigram_buckets
    train = pair(train_texts, np.zeros(len(train_texts), dtype=np.int64))
    assert train is not None
    idf = fit_idf(bag_ids(train[0].numpy(), vocab_size, buckets), vocab_size + buckets)

    def weighted(texts: list[str] | None, labels: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        ids = pair(texts, labels)
        if ids is None:
            return None
        bags = bag_ids(ids[0].numpy(), vocab_size, buckets)
        x = np.concatenate([bags.astype(np.float32), tfidf_weights(bags, idf)], axis=1)
        return torch.from_numpy(x), ids[1]

    return weighted


def _sentence_data(recipe: Recipe, splits: TextSplits, targets: TargetKind) -> TaskData:
    """Each split as (N, 384) frozen MiniLM embeddings (cached) with its labels."""
    from trainwise.data.sentence import EMBEDDING_DIM, cached_embed, check_max_length, encoder_path, load_encoder

    encoder_path()  # the missing extra is reported before any work
    check_max_length(recipe.data.max_length)
    device = resolve_device(recipe.device)

    def pair(texts: list[str] | None, labels: np.ndarray | None) -> tuple[torch.Tensor, torch.Tensor] | None:
        if texts is None or labels is None:
            return None
        x = torch.from_numpy(cached_embed(texts, recipe.data.max_length, lambda: load_encoder(device)))
        y = torch.from_numpy(labels)
        return x, (y.float() if targets == "binary" else y)

    return TaskData(
        name=splits.name,
        train=pair(splits.train_texts, splits.train_y),
        val=pair(splits.val_texts, splits.val_y),
        test=pair(splits.test_texts, splits.test_y),
        input_shape=(EMBEDDING_DIM,),
        num_classes=len(splits.classes),
        classes=splits.classes,
        source=splits.source,
    )


def _with_sentences(recipe: Recipe, splits: TextSplits, data: TaskData, targets: TargetKind) -> TaskData:
    """Token id samples with each text's MiniLM embedding in front: (N, 384 + max_length) floats."""
    sentences = _sentence_data(recipe, splits, targets)
    for split in ("train", "val", "test"):
        ids, embedded = getattr(data, split), getattr(sentences, split)
        if ids is not None:
            setattr(data, split, (torch.cat([embedded[0], ids[0].float()], dim=1), ids[1]))
    data.input_shape = (sentences.input_shape[0] + data.input_shape[0],)
    return data
