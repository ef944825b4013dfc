"""Recommendation models: biased matrix factorization (explicit ratings or BPR) and NeuMF (GMF + MLP).

Inputs are int64 index columns. `(N, 2)` holds (user, item) pairs: explicit models return one predicted
rating each (clipped to the rating range in eval mode); implicit models, in training mode, draw
`negatives` random items per pair from torch's global RNG (seeded by the run, saved in checkpoints) and
return `(N, 1 + negatives)` scores, the positive first. `(N, 1)` holds users: the scores of every item,
`(N, items)`, for full ranking. Index -1 is an id the training split never showed: its factors and bias
count as zero, so an unknown user falls back to the global mean plus the item's bias (cold start).
"""

from __future__ import annotations

import torch
from torch import nn

_PAIRS_PER_CHUNK = 1 << 18  # NeuMF scores all items in chunks of at most this many (user, item) pairs


def _lookup(table: nn.Embedding, index: torch.Tensor) -> torch.Tensor:
    """Rows of `table` at `index`, zero where the index is -1 (an id unknown to training)."""
    known = (index >= 0).unsqueeze(-1)
    return table(index.clamp(min=0)) * known


class _Recommender(nn.Module):
    """Shared input handling: pairs -> predictions, pairs in training (implicit) -> sampled scores, users -> all."""

    def __init__(self, users: int, items: int, implicit: bool, negatives: int, low: float, high: float) -> None:
        super().__init__()
        self.users, self.items = users, items
        self.implicit, self.negatives = implicit, negatives
        self.low, self.high = low, high

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def all_scores(self, users: torch.Tensor) -> torch.Tensor:
        raise NotImplementedError

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x.long()
        if x.shape[-1] == 1:
            return self.all_scores(x[:, 0])
        users, items = x[:, 0], x[:, 1]
        if self.implicit and self.training:
            drawn = torch.randint(0, self.items, (len(x), self.negatives), device=x.device)
            candidates = torch.cat([items.unsqueeze(1), drawn], dim=1)
            return self.pair_scores(users.unsqueeze(1).expand_as(candidates), candidates)
        scores = self.pair_scores(users, items)
        if not self.implicit and not self.training:
            scores = scores.clamp(self.low, self.high)
        return scores


class MatrixFactorization(_Recommender):
    """score(u, i) = mean + b_u + b_i + p_u . q_i; the biases and factors are embeddings (L2 via the recipe)."""

    mean: torch.Tensor

    def __init__(
        self,
        users: int,
        items: int,
        factors: int,
        *,
        mean: float = 0.0,
        implicit: bool = False,
        negatives: int = 1,
        low: float = float("-inf"),
        high: float = float("inf"),
        init_std: float = 0.05,
    ) -> None:
        super().__init__(users, items, implicit, negatives, low, high)
        self.user_factors = nn.Embedding(users, factors)
        self.item_factors = nn.Embedding(items, factors)
        self.user_bias = nn.Embedding(users, 1)
        self.item_bias = nn.Embedding(items, 1)
        self.register_buffer("mean", torch.tensor(float(mean)))
        for table in (self.user_factors, self.item_factors):
            nn.init.normal_(table.weight, std=init_std)
        for table in (self.user_bias, self.item_bias):
            nn.init.zeros_(table.weight)

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        dot = (_lookup(self.user_factors, users) * _lookup(self.item_factors, items)).sum(-1)
        bias = _lookup(self.user_bias, users).squeeze(-1) + _lookup(self.item_bias, items).squeeze(-1)
        return self.mean + bias + dot

    def all_scores(self, users: torch.Tensor) -> torch.Tensor:
        dot = _lookup(self.user_factors, users) @ self.item_factors.weight.T
        return self.mean + _lookup(self.user_bias, users) + self.item_bias.weight.T + dot


class NeuMF(_Recommender):
    """Neural collaborative filtering: a GMF branch (p_u * q_i) and an MLP on [p_u, q_i], joined by a linear layer."""

    mean: torch.Tensor

    def __init__(
        self,
        users: int,
        items: int,
        factors: int,
        hidden: list[int],
        *,
        dropout: float = 0.0,
        mean: float = 0.0,
        implicit: bool = True,
        negatives: int = 1,
        low: float = float("-inf"),
        high: float = float("inf"),
        init_std: float = 0.05,
    ) -> None:
        super().__init__(users, items, implicit, negatives, low, high)
        self.gmf_user, self.gmf_item = nn.Embedding(users, factors), nn.Embedding(items, factors)
        self.mlp_user, self.mlp_item = nn.Embedding(users, factors), nn.Embedding(items, factors)
        for table in (self.gmf_user, self.gmf_item, self.mlp_user, self.mlp_item):
            nn.init.normal_(table.weight, std=init_std)
        layers: list[nn.Module] = []
        width = 2 * factors
        for size in hidden:
            layers += [nn.Linear(width, size), nn.ReLU()]
            if dropout:
                layers.append(nn.Dropout(dropout))
            width = size
        self.mlp = nn.Sequential(*layers)
        self.out = nn.Linear(factors + width, 1)
        self.register_buffer("mean", torch.tensor(float(mean)))

    def pair_scores(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        gmf = _lookup(self.gmf_user, users) * _lookup(self.gmf_item, items)
        mlp = self.mlp(torch.cat([_lookup(self.mlp_user, users), _lookup(self.mlp_item, items)], dim=-1))
        return self.mean + self.out(torch.cat([gmf, mlp], dim=-1)).squeeze(-1)

    def all_scores(self, users: torch.Tensor) -> torch.Tensor:
        items = torch.arange(self.items, device=users.device)
        step = max(1, _PAIRS_PER_CHUNK // max(1, self.items))
        rows = []
        for begin in range(0, len(users), step):
            chunk = users[begin : begin + step]
            rows.append(self.pair_scores(chunk.unsqueeze(1).expand(-1, self.items), items.expand(len(chunk), -1)))
        return torch.cat(rows) if rows else torch.empty(0, self.items, device=users.device)
