"""Which way a logged value improves, read from its name alone (no torch: the run store and CLI use it too)."""

from __future__ import annotations

import re

# accuracy, top5_accuracy, macro_f1 (any split prefix); the ranking metrics hr@k, ndcg@k, recall@k
_UPWARD = re.compile(r"(accuracy|f1)$|(^|_)(hr|ndcg|recall)@\d+$")


def higher_is_better(name: str) -> bool:
    """Whether a logged value improves upward (accuracy, f1, hit rate, NDCG) or downward (loss, errors)."""
    return _UPWARD.search(name) is not None
