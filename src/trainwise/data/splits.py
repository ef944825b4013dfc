"""Hold out a fraction of a data set (validation or test), optionally stratified by class, from a seed.

The same labels, fraction and seed always give the same split, whatever else the run does: the split
uses its own generator, `np.random.default_rng(seed)`.
"""

from __future__ import annotations

import numpy as np

from trainwise.errors import DataError


def split_indices(labels: np.ndarray, fraction: float, seed: int, stratify: bool) -> tuple[np.ndarray, np.ndarray]:
    """(kept, held_out) sorted index arrays; held_out has round(fraction * N) samples, per class if stratified.

    >>> kept, held = split_indices(np.array([0, 0, 1, 1]), 0.5, seed=0, stratify=True)
    >>> len(kept), len(held)
    (2, 2)
    """
    n = len(labels)
    if not 0.0 <= fraction < 1.0:
        raise DataError(f"split fraction {fraction} is out of range; expected 0 <= fraction < 1")
    n_held = round(fraction * n)
    if n_held == n and n > 0:
        raise DataError(f"a split of {fraction} holds out all {n} samples; expected a smaller fraction or more data")
    rng = np.random.default_rng(seed)
    if n_held == 0:
        held = np.empty(0, dtype=np.int64)
    elif stratify:
        held = _stratified(np.asarray(labels), n_held, rng)
    else:
        held = rng.permutation(n)[:n_held]
    mask = np.zeros(n, dtype=bool)
    mask[held] = True
    return np.flatnonzero(~mask).astype(np.int64), np.flatnonzero(mask).astype(np.int64)


def _stratified(labels: np.ndarray, n_held: int, rng: np.random.Generator) -> np.ndarray:
    """n_held indices drawn per class in proportion to its size (largest remainders get the rest)."""
    if labels.ndim != 1:
        raise DataError(f"stratified split needs one label per sample (1-D); got shape {labels.shape}")
    _, inverse, counts = np.unique(labels, return_inverse=True, return_counts=True)
    quota = n_held * counts / len(labels)
    take = np.floor(quota).astype(np.int64)
    remainder = n_held - int(take.sum())
    # the classes with the largest fractional parts get one more each; ties are broken at random
    order = np.lexsort((rng.permutation(len(counts)), -(quota - take)))
    take[order[:remainder]] += 1
    chosen = [rng.permutation(np.flatnonzero(inverse == k))[:t] for k, t in enumerate(take) if t > 0]
    return np.concatenate(chosen)
