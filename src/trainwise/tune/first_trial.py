"""A new study's first trial: the recipe's own values, with a learning rate measured rather than assumed.

The recipe is what `trainwise fit` would train, so it is the baseline the search has to beat and, with
good defaults, a strong first point (Keras Tuner users ask for the same: start from the given defaults).
A learning rate the recipe does not set is only the generic default (Adam's 1e-3), which is often several
times too small for the model and batch at hand; when the learning rate is searched, a short LR range
test on the recipe picks the first trial's instead, and, unless the recipe names a schedule, the trial
anneals it to zero over its epochs with a cosine (the range test finds a peak rate: fastai's habit is to
find the rate, then train with it annealed; held constant, a rate that high ends the run on a noisy plateau).
"""

from __future__ import annotations

import sys
from typing import Any

from trainwise.config import Recipe
from trainwise.tune.objective import ATTR_CHANGES, data_for
from trainwise.tune.space import LEARNING_RATE, SearchSpace, apply, decode, encode

# a short sweep: 120 steps from 1e-6 to 10 stop at the loss's blow-up (about 100 steps for Adam), ~0.1-0.3 s
SWEEP_FROM, SWEEP_TO, SWEEP_STEPS = 1e-6, 10.0, 120
SCHEDULE = "schedule.name"
ANNEALED = {SCHEDULE: "cosine"}  # the schedule a measured learning rate is trained with, when the recipe names none


def start_from_recipe(
    study: Any, space: SearchSpace, recipe: Recipe, progress: bool = False, seed: int | None = None
) -> None:
    """Queue the recipe's point as the study's next trial (after any warm start): `start_from_recipe = false`
    in [search] turns it off. The trial carries `from_recipe` (and `learning_rate_from` when the range test
    chose its learning rate) in its user attributes, so the leaderboard can say so; a schedule it adds is in
    `recipe_changes` (outside the search space, so not a parameter) and in its recorded recipe."""
    if not space.start_from_recipe:
        return
    point = space.recipe_point(recipe)
    attrs: dict[str, Any] = {"from_recipe": True}
    if _tests_learning_rate(space, recipe):
        completed = _completed(space, recipe, point, seed)  # the range test then trains what the trial will
        if LEARNING_RATE not in point:
            completed.pop(LEARNING_RATE, None)  # drawn to complete the point; the test's or the sampler's to set
        point = completed
        measured = _measured_learning_rate(space, recipe, point)
        if measured is not None:
            point[LEARNING_RATE] = measured
            attrs["learning_rate_from"] = "lr_find"
            changes = _annealing(space, recipe)
            if changes:
                attrs[ATTR_CHANGES] = changes
            if progress:
                annealed = ", cosine-annealed" if changes else ""
                print(
                    f"first trial: the recipe, learning rate {measured:.3g} from an LR range test{annealed}",
                    file=sys.stderr,
                )
    if point:
        study.enqueue_trial(point, user_attrs=attrs, skip_if_exists=True)


def _annealing(space: SearchSpace, recipe: Recipe) -> dict[str, Any]:
    """The cosine schedule for a measured learning rate, unless the recipe names a schedule or it is searched."""
    return left_open(ANNEALED, space, recipe)


def left_open(changes: dict[str, Any], space: SearchSpace, recipe: Recipe) -> dict[str, Any]:
    """The `changes` (recipe keys outside the space) whose section the recipe does not set and the space does
    not search: where the recipe or the search has a word on, say, the schedule, that word wins."""
    searched = {p.key.split(".", 1)[0] for p in space.params}
    kept = {}
    for key, value in changes.items():
        section = key.split(".", 1)[0]
        if section not in recipe.model_fields_set and section not in searched:
            kept[key] = value
    return kept


def _tests_learning_rate(space: SearchSpace, recipe: Recipe) -> bool:
    """Whether the first trial's learning rate comes from a range test: it is searched and the recipe sets none."""
    return LEARNING_RATE in space.keys and "learning_rate" not in recipe.optimizer.model_fields_set


def _completed(space: SearchSpace, recipe: Recipe, point: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """The point with the keys the recipe leaves open (outside the space, e.g. a hidden size not among the
    choices) drawn at random now, as the sampler's first draws are, instead of when the trial starts."""
    import optuna

    draft = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    draft.enqueue_trial(point)
    values = space.sample(draft.ask(), recipe)
    return {key: encode(value) for key, value in values.items()}


def _measured_learning_rate(space: SearchSpace, recipe: Recipe, point: dict[str, Any]) -> float | None:
    """The LR range test's suggestion for the point, inside the searched range; None when the test cannot tell.
    Only for a searched learning rate (`_tests_learning_rate`)."""
    from trainwise.errors import TrainwiseError
    from trainwise.tune.lr_find import lr_find

    param = next(p for p in space.params if p.key == LEARNING_RATE)
    values = {key: decode(value) for key, value in point.items() if key != LEARNING_RATE}
    tested = apply(recipe, values)
    try:
        data = data_for(tested)  # the point's own data (a searched data key may differ from the plain recipe's)
        found = lr_find(
            tested,
            train=data.train,
            val=data.val,
            out=None,
            start_lr=SWEEP_FROM,
            end_lr=SWEEP_TO,
            steps=SWEEP_STEPS,
        )
    except TrainwiseError:  # e.g. the loss blew up at once, or the point's data: the trial will tell
        return None
    low, high = float(param.low), float(param.high)
    return min(max(found.suggestion, low), high)
