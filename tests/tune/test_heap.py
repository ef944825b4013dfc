"""A study runs with the loaded modules frozen out of the garbage collector's full collections."""

from __future__ import annotations

import gc
from typing import Any

import pytest

import trainwise
import trainwise.tune.study as study_module
from tests.tune.recipes import digits_recipe
from trainwise.tune.heap import frozen_heap


def test_frozen_heap_freezes_for_the_block_and_gives_the_objects_back() -> None:
    gc.unfreeze()
    held = [object()]
    with frozen_heap():
        assert gc.get_freeze_count() > 0
        with frozen_heap():  # nested: the inner block leaves the outer one's freeze alone
            pass
        assert gc.get_freeze_count() > 0
    assert gc.get_freeze_count() == 0
    assert held  # the objects themselves are untouched


def test_a_nested_block_freezes_what_came_since_without_counting_the_frozen(monkeypatch: pytest.MonkeyPatch) -> None:
    """Counting the frozen objects walks them all (30 ms in a loaded study): only the outermost block asks."""
    gc.unfreeze()
    counts: list[int] = []
    real = gc.get_freeze_count
    monkeypatch.setattr(gc, "get_freeze_count", lambda: counts.append(1) or real())
    with frozen_heap():
        outer = real()
        made_since = [[object()] for _ in range(1000)]
        with frozen_heap():
            assert real() >= outer + len(made_since)  # the worker's block freezes what tune loaded meanwhile
        assert real() > 0
    assert len(counts) == 1
    assert real() == 0


def test_a_freeze_made_before_the_block_is_kept() -> None:
    gc.freeze()
    try:
        with frozen_heap():
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()


@pytest.mark.usefixtures("sandbox", "storage_url")
def test_trials_run_with_the_heap_frozen_and_the_study_leaves_it_as_it_found_it(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    gc.unfreeze()
    seen: list[int] = []
    real = study_module.run_trial

    def spy(trial: Any, ctx: Any) -> Any:
        seen.append(gc.get_freeze_count())
        return real(trial, ctx)

    monkeypatch.setattr(study_module, "run_trial", spy)
    trainwise.tune(digits_recipe(epochs=1), trials=2)
    assert len(seen) == 2 and all(count > 0 for count in seen)
    assert gc.get_freeze_count() == 0
