"""Top-N ranking: the BPR loss and the metrics HR@k, NDCG@k and Recall@k over full rankings of all items.

Evaluation batches pair users with a target row of width items + 1 (the recommend task builds them):
-1 marks an item the user has already seen in training (masked out, never recommended), 1 a held-out
positive, 0 any other item; the last column counts held-out positives the model cannot rank (items the
training split never showed), which count as misses. The model scores every item for each user, so the
ranking is over all unseen items, with no sampled-negative shortcut.
"""

from __future__ import annotations

import math
import re

import torch
import torch.nn.functional as F

from trainwise.engine.metrics import Metric

RANKING_METRIC = re.compile(r"(hr|ndcg|recall)@(\d+)")


def split_targets(outputs: torch.Tensor, targets: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """(scores with seen items at -inf, positives mask, positives per user including unrankable ones)."""
    items = outputs.shape[-1]
    if targets.ndim != 2 or targets.shape[-1] != items + 1:
        raise ValueError(f"ranking targets must be (users, {items + 1}), got {tuple(targets.shape)}")
    marks = targets[:, :items]
    positives = marks > 0
    scores = outputs.float().masked_fill(marks < 0, -math.inf)
    return scores, positives, positives.sum(dim=1) + targets[:, items].clamp(min=0)


class RankingMetric(Metric):
    """HR@k (any positive in the top k), NDCG@k (rank-discounted), or Recall@k (share of positives in the top k)."""

    def __init__(self, kind: str, k: int) -> None:
        self.kind, self.k = kind, k
        self.name = f"{kind}@{k}"
        self.reset()

    def reset(self) -> None:
        self.total: torch.Tensor | int = 0
        self.count = 0

    def update(self, outputs: torch.Tensor, targets: torch.Tensor) -> None:
        scores, positives, wanted = split_targets(outputs, targets)
        k = min(self.k, scores.shape[-1])
        top = scores.topk(k, dim=-1).indices
        hits = positives.gather(1, top).float()
        rows = wanted > 0
        if self.kind == "hr":
            value = (hits.sum(dim=1) > 0).float()
        elif self.kind == "recall":
            value = hits.sum(dim=1) / wanted.clamp(min=1)
        else:
            discount = 1.0 / torch.log2(torch.arange(2, k + 2, device=scores.device, dtype=torch.float32))
            ideal = torch.cumsum(discount, 0)[(wanted.clamp(1, k) - 1).long()]
            value = (hits * discount).sum(dim=1) / ideal
        self.total = self.total + value[rows].sum()
        self.count += int(rows.sum())

    def compute(self) -> float:
        return float(self.total) / self.count if self.count else math.nan


def build_ranking_metric(name: str) -> Metric | None:
    """`hr@10`, `ndcg@10`, `recall@20`, ... or None when `name` is not a ranking metric."""
    match = RANKING_METRIC.fullmatch(name)
    if match is None or int(match.group(2)) < 1:
        return None
    return RankingMetric(match.group(1), int(match.group(2)))


def bpr_loss(outputs: torch.Tensor, targets: torch.Tensor) -> torch.Tensor:
    """Bayesian personalised ranking: mean softplus(s_neg - s_pos).

    In training, `outputs` are (N, 1 + negatives) scores with the positive first. On evaluation rows
    (targets of width items + 1) it is the same loss over every held-out positive against every unseen item.
    """
    if targets.ndim == 1:
        return F.softplus(outputs[:, 1:] - outputs[:, :1]).mean()
    scores, positives, _ = split_targets(outputs, targets)
    counted = positives.sum(dim=1)
    rows = counted > 0
    if not rows.any():
        return outputs.sum() * 0.0
    scores, positives, counted = scores[rows], positives[rows], counted[rows]
    positive_score = (scores.masked_fill(~positives, 0.0)).sum(dim=1, keepdim=True) / counted.unsqueeze(1)
    negatives = torch.isfinite(scores) & ~positives
    pair_loss = F.softplus(scores - positive_score).masked_fill(~negatives, 0.0)
    return (pair_loss.sum(dim=1) / negatives.sum(dim=1).clamp(min=1)).mean()
