"""Split interactions for the recommend task and turn them into index tensors.

Explicit ratings: a seeded random test part (or one of k folds), then a validation part from the rest.
Implicit feedback: leave-last-out by timestamp (then file order): each user's last interaction is the test,
the one before it the validation. Ids get contiguous indices from the training split only; ids the training
split never shows become -1 and are counted.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from trainwise.data.interactions import Interactions
from trainwise.errors import ConfigError, DataError


@dataclass
class Vocabulary:
    """Sorted training ids; `encode` maps ids to indices, -1 for ids training never saw."""

    ids: np.ndarray

    def __len__(self) -> int:
        return len(self.ids)

    def encode(self, values: np.ndarray) -> np.ndarray:
        if not len(self.ids):
            return np.full(len(values), -1, dtype=np.int64)
        at = np.searchsorted(self.ids, values).clip(max=len(self.ids) - 1)
        return np.where(self.ids[at] == values, at, -1).astype(np.int64)


def random_parts(
    n: int, test_split: float, validation_split: float, folds: int, fold: int, seed: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(train, val, test) row indices: a random test fraction, or fold `fold` of `folds`; val from the rest."""
    order = np.random.default_rng(seed).permutation(n)
    if folds > 1:
        if fold >= folds:
            raise ConfigError(f"fold {fold} does not exist; expected 0..{folds - 1}", key="data.fold")
        parts = np.array_split(order, folds)
        test, rest = parts[fold], np.concatenate([p for i, p in enumerate(parts) if i != fold])
    else:
        n_test = round(test_split * n)
        test, rest = order[:n_test], order[n_test:]
    n_val = round(validation_split * len(rest))
    val, train = rest[:n_val], rest[n_val:]
    if not len(train):
        raise DataError(f"no training interactions left out of {n}; expected smaller test and validation splits")
    return np.sort(train), np.sort(val), np.sort(test)


def leave_last_out(data: Interactions, with_val: bool) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
    """(train, val, test) row indices and the number of users too short to hold any out (kept in train).

    A user needs 2 interactions to give one to the test (3 when a validation one is held out as well).
    """
    stamps = data.timestamps if data.timestamps is not None else np.zeros(len(data))
    order = np.lexsort((data.lines, stamps, data.users))  # by user, then time, then file order
    users = data.users[order]
    starts = np.flatnonzero(np.r_[True, users[1:] != users[:-1]])
    sizes = np.diff(np.r_[starts, len(users)])
    ends = np.repeat(starts + sizes, sizes)
    from_end = ends - 1 - np.arange(len(users))  # 0 for a user's last interaction
    size = np.repeat(sizes, sizes)
    need = 3 if with_val else 2
    test = order[(from_end == 0) & (size >= need)]
    val = order[(from_end == 1) & (size >= need)] if with_val else np.empty(0, dtype=np.int64)
    held = np.zeros(len(data), dtype=bool)
    held[test] = True
    held[val] = True
    return np.flatnonzero(~held), np.sort(val), np.sort(test), int((sizes < need).sum())


def pairs(users: np.ndarray, items: np.ndarray) -> torch.Tensor:
    """(N, 2) int64 tensor of (user index, item index)."""
    return torch.from_numpy(np.stack([users, items], axis=1).astype(np.int64))


def ranking_rows(
    users: np.ndarray,
    held_items: np.ndarray,
    seen_users: np.ndarray,
    seen_items: np.ndarray,
    num_users: int,
    num_items: int,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Evaluation rows for full ranking: x = (R, 1) user indices; y = (R, items + 1) marks.

    y is -1 on items the user has seen in training (masked), 1 on the held-out item, and its last column
    counts held-out items unknown to training (index -1), which the model cannot rank: they count as misses.
    Users unknown to training never occur here (leave-last-out keeps earlier interactions in train).
    """
    if num_items and len(users) * (num_items + 1) > 500_000_000:
        raise DataError(
            f"{len(users)} users x {num_items} items is too large for a dense evaluation matrix; "
            "expected fewer evaluation users or items"
        )
    rows = np.unique(users)
    row_of = np.full(num_users, -1, dtype=np.int64)
    row_of[rows] = np.arange(len(rows))
    marks = torch.zeros((len(rows), num_items + 1), dtype=torch.int16)
    seen = row_of[seen_users] >= 0
    marks[row_of[seen_users[seen]], seen_items[seen]] = -1
    known = held_items >= 0
    marks[row_of[users[known]], held_items[known]] = 1
    unknown = np.bincount(row_of[users[~known]], minlength=len(rows))
    marks[:, num_items] = torch.from_numpy(unknown.astype(np.int16))
    return torch.from_numpy(rows.reshape(-1, 1)), marks
