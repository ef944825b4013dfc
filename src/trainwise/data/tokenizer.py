"""Subword tokenizers (Hugging Face `tokenizers`) trained on the training texts only, as padded id arrays.

The padding token is always id 0 and the unknown token id 1. A trained tokenizer is saved as JSON in the
run directory (`tokenizer.json`) and reloaded from there on resume, so a resumed run sees the same ids.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from trainwise.errors import DataError

PAD, UNK = "[PAD]", "[UNK]"
PAD_ID = 0
TOKENIZER_FILE = "tokenizer.json"


def _tokenizers() -> Any:
    try:
        import tokenizers
    except ImportError:
        raise DataError(
            "the text task needs the 'tokenizers' package; install it with: pip install 'trainwise[text]'"
        ) from None
    return tokenizers


def train_tokenizer(texts: list[str], kind: str, vocab_size: int) -> Any:
    """A lowercasing WordPiece, BPE or whole-word tokenizer with a vocabulary learnt from `texts`: the same
    texts give the same ids in every process (see `_wordpiece`).

    "word" keeps the `vocab_size` most frequent words (and punctuation marks); rarer words become [UNK].
    """
    tk = _tokenizers()
    if kind == "wordpiece":
        return _wordpiece(tk, texts, vocab_size)
    if kind == "bpe":
        tokenizer = tk.Tokenizer(tk.models.BPE(unk_token=UNK))
        trainer = tk.trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=[PAD, UNK], show_progress=False)
    elif kind == "word":
        tokenizer = tk.Tokenizer(tk.models.WordLevel(unk_token=UNK))
        trainer = tk.trainers.WordLevelTrainer(vocab_size=vocab_size, special_tokens=[PAD, UNK], show_progress=False)
    else:
        raise DataError(f"unknown tokenizer '{kind}'; expected wordpiece, bpe or word", key="data.tokenizer")
    tokenizer.normalizer, tokenizer.pre_tokenizer = _splitting(tk)
    tokenizer.train_from_iterator(texts, trainer)
    return tokenizer


def _splitting(tk: Any) -> tuple[Any, Any]:
    """Lowercase (and clean) the text, then split it into words and punctuation marks, as BERT does."""
    return tk.normalizers.BertNormalizer(lowercase=True), tk.pre_tokenizers.BertPreTokenizer()


def _wordpiece(tk: Any, texts: list[str], vocab_size: int) -> Any:
    """WordPiece, trained so that its ids do not change from one process to the next.

    The trainer gives the "##c" continuation pieces their ids in hash-map order, which differs per process, and
    breaks ties between equally frequent merges by id, so the vocabulary itself could differ (tokenizers issue
    1794). Listing those pieces, sorted, after [PAD] and [UNK] fixes their ids; the model is then rebuilt from the
    vocabulary so that only [PAD] and [UNK] are special tokens."""
    normalizer, pre_tokenizer = _splitting(tk)
    inner: set[str] = set()
    for text in texts:
        for word, _ in pre_tokenizer.pre_tokenize_str(normalizer.normalize_str(text)):
            inner.update(word[1:])
    pieces = [PAD, UNK, *("##" + c for c in sorted(inner))]
    draft = tk.Tokenizer(tk.models.WordPiece(unk_token=UNK))
    draft.normalizer, draft.pre_tokenizer = normalizer, pre_tokenizer
    draft.train_from_iterator(
        texts, tk.trainers.WordPieceTrainer(vocab_size=vocab_size, special_tokens=pieces, show_progress=False)
    )
    tokenizer = tk.Tokenizer(tk.models.WordPiece(vocab=draft.get_vocab(), unk_token=UNK))
    tokenizer.normalizer, tokenizer.pre_tokenizer = normalizer, pre_tokenizer
    tokenizer.add_special_tokens([PAD, UNK])
    return tokenizer


def load_tokenizer(path: Path) -> Any:
    """A tokenizer saved by `save_tokenizer`; a corrupt file is a DataError naming it."""
    tk = _tokenizers()
    try:
        tokenizer = tk.Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises its own exception type for any unreadable JSON
        raise DataError(f"not a readable tokenizer ({exc})", source=str(path)) from None
    if tokenizer.token_to_id(PAD) != PAD_ID:
        raise DataError(f"expected the padding token {PAD} to have id {PAD_ID}", source=str(path))
    return tokenizer


def tokenizer_json(tokenizer: Any) -> str:
    """The tokenizer as the JSON text `load_tokenizer` reads."""
    return str(tokenizer.to_str())


def encode(tokenizer: Any, texts: list[str], max_length: int) -> np.ndarray:
    """Token ids (N, max_length) int64: cut to max_length, padded with PAD_ID on the right."""
    ids = np.full((len(texts), max_length), PAD_ID, dtype=np.int64)
    for row, encoding in enumerate(tokenizer.encode_batch(texts, add_special_tokens=False)):
        tokens = encoding.ids[:max_length] or [tokenizer.token_to_id(UNK)]  # never an all-padding row
        ids[row, : len(tokens)] = tokens
    return ids
