"""Ranking metrics over full item rankings (seen items masked) and the BPR loss, against hand-worked cases."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from trainwise.engine.direction import higher_is_better
from trainwise.engine.metrics import build_metric
from trainwise.engine.ranking import RankingMetric, bpr_loss


def _score(name: str, outputs: torch.Tensor, targets: torch.Tensor) -> float:
    metric = build_metric(name)
    metric.update(outputs, targets)
    return metric.compute()


# Two users, five items. Last column: held-out items the model cannot rank.
OUTPUTS = torch.tensor([[5.0, 4.0, 3.0, 2.0, 1.0], [1.0, 2.0, 3.0, 4.0, 5.0]])
TARGETS = torch.tensor(
    [
        [-1, 0, 1, 0, 0, 0],  # user 0 saw item 0 (masked): ranking 1, 2, 3, 4 -> the positive (2) is 2nd
        [0, 1, 0, -1, -1, 0],  # user 1 saw items 3 and 4: ranking 2, 1, 0 -> the positive (1) is 2nd
    ],
    dtype=torch.int16,
)


def test_hit_rate_counts_a_positive_in_the_top_k_after_masking_seen_items() -> None:
    assert _score("hr@2", OUTPUTS, TARGETS) == 1.0
    assert _score("hr@1", OUTPUTS, TARGETS) == 0.0  # without the mask, user 0's top item would be item 0


def test_ndcg_discounts_by_rank() -> None:
    assert _score("ndcg@10", OUTPUTS, TARGETS) == pytest.approx(1 / math.log2(3))


def test_recall_is_the_share_of_held_out_items_found_and_unrankable_ones_are_misses() -> None:
    targets = TARGETS.clone()
    targets[0, -1] = 1  # user 0 also held out an item unknown to training: 1 of 2 found at k=2
    assert _score("recall@2", OUTPUTS, targets) == pytest.approx((0.5 + 1.0) / 2)
    assert _score("hr@2", OUTPUTS, targets) == 1.0


def test_ndcg_with_several_positives_uses_the_ideal_ranking() -> None:
    outputs = torch.tensor([[3.0, 2.0, 1.0]])
    targets = torch.tensor([[1, 0, 1, 0]], dtype=torch.int16)  # positives at ranks 1 and 3
    ideal = 1 + 1 / math.log2(3)
    assert _score("ndcg@3", outputs, targets) == pytest.approx((1 + 1 / math.log2(4)) / ideal)


def test_users_without_any_held_out_item_are_not_averaged_in() -> None:
    targets = torch.cat([TARGETS, torch.zeros(1, 6, dtype=torch.int16)])
    outputs = torch.cat([OUTPUTS, torch.zeros(1, 5)])
    assert _score("hr@2", outputs, targets) == 1.0


def test_metrics_accumulate_over_batches() -> None:
    metric = build_metric("hr@1")
    metric.update(OUTPUTS[:1], torch.tensor([[-1, 1, 0, 0, 0, 0]], dtype=torch.int16))  # hit
    metric.update(OUTPUTS[1:], TARGETS[1:])  # miss
    assert metric.compute() == 0.5
    assert math.isnan(RankingMetric("hr", 10).compute())


def test_names_and_direction() -> None:
    assert [build_metric(n).name for n in ("hr@10", "ndcg@5", "recall@20")] == ["hr@10", "ndcg@5", "recall@20"]
    assert higher_is_better("val_ndcg@10") and higher_is_better("val_hr@10")
    with pytest.raises(Exception, match="unknown metric 'ndcg@0'"):
        build_metric("ndcg@0")


def test_bpr_training_loss_is_softplus_of_negative_minus_positive() -> None:
    scores = torch.tensor([[2.0, 1.0, 3.0]])  # positive first, then two sampled negatives
    expected = (F.softplus(torch.tensor(-1.0)) + F.softplus(torch.tensor(1.0))) / 2
    assert bpr_loss(scores, torch.ones(1)).item() == pytest.approx(expected.item())


def test_bpr_evaluation_loss_ranks_the_held_out_item_against_every_unseen_item() -> None:
    # user 0: positive item 2 (score 3) vs unseen items 1, 3, 4 (scores 4, 2, 1); item 0 is seen and left out
    pairs = torch.tensor([4.0, 2.0, 1.0]) - 3.0
    expected = F.softplus(pairs).mean()
    assert bpr_loss(OUTPUTS[:1], TARGETS[:1]).item() == pytest.approx(expected.item())
