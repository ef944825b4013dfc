"""split_indices: exact sizes, per-class proportions, determinism, and sorted disjoint halves."""

from __future__ import annotations

import numpy as np
import pytest

from trainwise.data.splits import split_indices
from trainwise.errors import DataError


def _check_partition(kept: np.ndarray, held: np.ndarray, n: int) -> None:
    assert np.all(np.diff(kept) > 0) and np.all(np.diff(held) > 0)  # sorted, no repeats
    np.testing.assert_array_equal(np.sort(np.concatenate([kept, held])), np.arange(n))


@pytest.mark.parametrize("stratify", [False, True])
@pytest.mark.parametrize(("n", "fraction"), [(100, 0.1), (7, 0.3), (1797, 0.2), (10, 0.05), (3, 0.5)])
def test_held_out_size_is_round_of_fraction(n: int, fraction: float, stratify: bool) -> None:
    labels = np.arange(n) % 3
    kept, held = split_indices(labels, fraction, seed=0, stratify=stratify)
    assert len(held) == round(fraction * n)
    _check_partition(kept, held, n)
    assert kept.dtype == np.int64 and held.dtype == np.int64


def test_stratified_split_is_proportional_per_class() -> None:
    labels = np.repeat([0, 1, 2], [500, 300, 200])
    _, held = split_indices(labels, 0.1, seed=3, stratify=True)
    np.testing.assert_array_equal(np.bincount(labels[held]), [50, 30, 20])


def test_stratified_split_keeps_exact_total_with_fractional_quotas() -> None:
    labels = np.repeat(["a", "b", "c"], [7, 7, 7])  # 0.5 * 21 = 10.5 -> 10; each class's quota is 3.5
    _, held = split_indices(labels, 0.5, seed=1, stratify=True)
    assert len(held) == 10
    counts = sorted(np.unique(labels[held], return_counts=True)[1].tolist())
    assert counts == [3, 3, 4]


def test_stratified_split_with_a_rare_class_stays_exact() -> None:
    labels = np.array([0] * 97 + [1] * 2 + [2])
    _, held = split_indices(labels, 0.25, seed=0, stratify=True)
    assert len(held) == 25
    # quotas 24.25, 0.5, 0.25: the largest remainder (class 1) gets the 25th slot
    assert np.bincount(labels[held], minlength=3).tolist() == [24, 1, 0]


def test_unstratified_split_ignores_classes() -> None:
    labels = np.repeat([0, 1], [90, 10])
    counts = {
        int(np.bincount(labels[split_indices(labels, 0.5, seed=s, stratify=False)[1]], minlength=2)[1])
        for s in range(20)
    }
    assert len(counts) > 1  # class 1's share of the held-out half varies with the seed


@pytest.mark.parametrize("stratify", [False, True])
def test_same_seed_same_split_other_seed_other_split(stratify: bool) -> None:
    labels = np.arange(200) % 4
    first = split_indices(labels, 0.2, seed=7, stratify=stratify)
    again = split_indices(labels, 0.2, seed=7, stratify=stratify)
    other = split_indices(labels, 0.2, seed=8, stratify=stratify)
    np.testing.assert_array_equal(first[1], again[1])
    assert not np.array_equal(first[1], other[1])


def test_split_uses_its_own_generator() -> None:
    labels = np.arange(50) % 2
    np.random.seed(0)
    first = split_indices(labels, 0.2, seed=5, stratify=True)[1]
    np.random.seed(1)
    np.testing.assert_array_equal(first, split_indices(labels, 0.2, seed=5, stratify=True)[1])


@pytest.mark.parametrize("stratify", [False, True])
def test_fraction_zero_holds_out_nothing(stratify: bool) -> None:
    kept, held = split_indices(np.arange(10) % 2, 0.0, seed=0, stratify=stratify)
    assert len(held) == 0
    np.testing.assert_array_equal(kept, np.arange(10))


def test_fraction_that_holds_out_everything_is_an_error() -> None:
    with pytest.raises(DataError, match="holds out all 3 samples"):
        split_indices(np.array([0, 1, 0]), 0.9, seed=0, stratify=False)


@pytest.mark.parametrize("fraction", [-0.1, 1.0, 1.5])
def test_fraction_out_of_range(fraction: float) -> None:
    with pytest.raises(DataError, match=r"expected 0 <= fraction < 1"):
        split_indices(np.zeros(10), fraction, seed=0, stratify=False)
