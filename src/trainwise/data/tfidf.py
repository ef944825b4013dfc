"""TF-IDF weights for a bag of token ids: idf fitted on the training split only, computed once per run.

The bag of a text is its token ids plus, optionally, hashed ids of neighbouring token pairs (fastText's
trick, the same hash as `trainwise.models.text.BagOfEmbeddings`). Each occurrence gets a weight such that a
bag's weighted sum is the text's TF-IDF vector as scikit-learn's `TfidfVectorizer(sublinear_tf=True)`
makes it: (1 + ln count) * idf per distinct id, idf = ln((1 + n) / (1 + df)) + 1, L2-normalised per text.
Ids seen in fewer than `min_df` training texts (and so every id never seen in training) weigh 0.
"""

from __future__ import annotations

import numpy as np

from trainwise.data.tokenizer import PAD_ID

PAIR_HASH = 1_000_003  # keep equal to the hash in BagOfEmbeddings


def bag_ids(ids: np.ndarray, vocab_size: int, buckets: int, padding_id: int = PAD_ID) -> np.ndarray:
    """Token ids (N, L) with hashed pair ids (N, L - 1) appended when `buckets` > 0; padding stays padding."""
    if not buckets:
        return ids
    left, right = ids[:, :-1], ids[:, 1:]
    pairs = (left * PAIR_HASH + right) % buckets + vocab_size
    pairs[(left == padding_id) | (right == padding_id)] = padding_id
    return np.concatenate([ids, pairs], axis=1)


def _distinct(bags: np.ndarray, size: int, padding_id: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(row, id, count) of each distinct non-padding id of each row, and each position's index into them."""
    rows = np.repeat(np.arange(len(bags), dtype=np.int64), bags.shape[1])
    keys = rows * size + bags.reshape(-1)
    unique, inverse, counts = np.unique(keys, return_inverse=True, return_counts=True)
    return unique // size, unique % size, counts, inverse.reshape(bags.shape)


def fit_idf(bags: np.ndarray, size: int, min_df: int = 2, padding_id: int = PAD_ID) -> np.ndarray:
    """Smooth idf (float32, `size` entries) of every id over the training bags; 0 below `min_df` texts."""
    _, ids, _, _ = _distinct(bags, size, padding_id)
    df = np.bincount(ids, minlength=size)
    idf = np.log((1.0 + len(bags)) / (1.0 + df)) + 1.0
    idf[df < max(min_df, 1)] = 0.0
    idf[padding_id] = 0.0
    return idf.astype(np.float32)


def tfidf_weights(bags: np.ndarray, idf: np.ndarray, padding_id: int = PAD_ID) -> np.ndarray:
    """Per-position weights (N, T) float32 whose weighted bag sums are the texts' L2-normalised TF-IDF vectors."""
    rows, ids, counts, inverse = _distinct(bags, len(idf), padding_id)
    values = (1.0 + np.log(counts)) * idf[ids].astype(np.float64)
    norms = np.sqrt(np.bincount(rows, values**2, minlength=len(bags)))
    per_distinct = values / np.maximum(norms[rows], 1e-12) / counts  # split over the id's occurrences
    return per_distinct[inverse].astype(np.float32)
