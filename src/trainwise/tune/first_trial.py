"""A new study's first trial: the recipe's own values, with a learning rate measured rather than assumed.

The recipe is what `trainwise fit` would train, so it is the baseline the search has to beat and, with
good defaults, a strong first point (Keras Tuner users ask for the same: start from the given defaults).
A learning rate the recipe does not set is only the generic default (Adam's 1e-3), which is often several
times too small for the model and batch at hand; when the learning rate is searched, a short LR range
test on the recipe picks the first trial's instead (fastai's habit: find the rate, then train).
"""

from __future__ import annotations

import sys
from typing import Any

from trainwise.config import Recipe
from trainwise.tune.space import LEARNING_RATE, SearchSpace, apply, decode

# a short sweep: 120 steps from 1e-6 to 10 stop at the loss's blow-up (about 100 steps for Adam), ~0.1-0.3 s
SWEEP_FROM, SWEEP_TO, SWEEP_STEPS = 1e-6, 10.0, 120


def start_from_recipe(study: Any, space: SearchSpace, recipe: Recipe, data: Any, progress: bool = False) -> None:
    """Queue the recipe's point as the study's next trial (after any warm start): `start_from_recipe = false`
    in [search] turns it off. The trial carries `from_recipe` (and `learning_rate_from` when the range test
    chose its learning rate) in its user attributes, so the leaderboard can say so."""
    if not space.start_from_recipe:
        return
    point = space.recipe_point(recipe)
    attrs: dict[str, Any] = {"from_recipe": True}
    measured = _measured_learning_rate(space, recipe, point, data)
    if measured is not None:
        point[LEARNING_RATE] = measured
        attrs["learning_rate_from"] = "lr_find"
        if progress:
            print(f"first trial: the recipe, learning rate {measured:.3g} from an LR range test", file=sys.stderr)
    if point:
        study.enqueue_trial(point, user_attrs=attrs, skip_if_exists=True)


def _measured_learning_rate(space: SearchSpace, recipe: Recipe, point: dict[str, Any], data: Any) -> float | None:
    """The LR range test's suggestion for the recipe's point, inside the searched range; None when the
    recipe sets its learning rate, the learning rate is not searched, or the test cannot tell."""
    from trainwise.errors import TrainwiseError
    from trainwise.tune.lr_find import lr_find

    param = next((p for p in space.params if p.key == LEARNING_RATE), None)
    if param is None or "learning_rate" in recipe.optimizer.model_fields_set:
        return None
    values = {key: decode(value) for key, value in point.items() if key != LEARNING_RATE}
    try:
        found = lr_find(
            apply(recipe, values),
            train=data.train,
            val=data.val,
            out=None,
            start_lr=SWEEP_FROM,
            end_lr=SWEEP_TO,
            steps=SWEEP_STEPS,
        )
    except TrainwiseError:  # e.g. the loss blew up at once: the sampler will draw the learning rate instead
        return None
    low, high = float(param.low), float(param.high)
    return min(max(found.suggestion, low), high)
