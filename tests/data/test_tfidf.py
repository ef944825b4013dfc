"""TF-IDF weights of a bag of token ids: scikit-learn's sublinear, smooth-idf, L2-normalised vectors."""

from __future__ import annotations

import numpy as np
import pytest

from trainwise.data.tfidf import PAIR_HASH, bag_ids, fit_idf, tfidf_weights


def _dense(bags: np.ndarray, weights: np.ndarray, size: int) -> np.ndarray:
    """The weighted bag sums as dense (N, size) vectors: what a sum-mode EmbeddingBag of one-hots gives."""
    out = np.zeros((len(bags), size))
    for row in range(len(bags)):
        np.add.at(out[row], bags[row], weights[row])
    return out


def test_weighted_bags_are_scikit_learns_tfidf_vectors() -> None:
    text = pytest.importorskip("sklearn.feature_extraction.text")
    train = np.array([[2, 3, 3, 4, 0, 0], [2, 5, 0, 0, 0, 0], [3, 4, 5, 5, 5, 6], [2, 3, 6, 0, 0, 0]])
    idf = fit_idf(train, 7, min_df=1)
    vectorizer = text.TfidfVectorizer(analyzer=lambda ids: [i for i in ids if i], sublinear_tf=True)
    expected = vectorizer.fit_transform(list(train)).toarray()
    columns = [int(c) for c in vectorizer.get_feature_names_out()]  # ids 2..6, in order
    np.testing.assert_allclose(_dense(train, tfidf_weights(train, idf), 7)[:, columns], expected, atol=1e-6)
    assert idf[0] == 0 and idf[1] == 0  # padding, and an id no training text holds


def test_idf_comes_from_the_training_bags_only() -> None:
    train = np.array([[2, 3, 0], [2, 4, 0], [2, 3, 4]])
    idf = fit_idf(train, 8)  # min_df 2: ids in fewer than two training texts weigh nothing
    assert idf[2] < idf[3] == idf[4] and idf[5] == idf[7] == 0
    test = np.array([[7, 7, 3], [7, 5, 0]])  # 7 and 5 are test-only words
    weights = tfidf_weights(test, idf)
    assert weights[0, 0] == weights[0, 1] == 0 and weights[0, 2] == pytest.approx(1.0)
    assert (weights[1] == 0).all()  # nothing known: an all-zero vector, not a division by zero
    np.testing.assert_array_equal(fit_idf(train, 8), idf)  # the same bags give the same idf (exact resume)


def test_pairs_hash_like_the_bag_model_and_skip_padding() -> None:
    ids = np.array([[5, 6, 7, 0]])
    bags = bag_ids(ids, 10, 100)
    assert bags.shape == (1, 7)
    assert bags[0, 4] == (5 * PAIR_HASH + 6) % 100 + 10 and bags[0, 6] == 0  # (7, pad) is no pair
    assert bag_ids(ids, 10, 0) is ids
