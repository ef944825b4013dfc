"""A new study's first trial: the recipe's own values, with a learning rate measured rather than assumed.

The recipe is what `trainwise fit` would train, so it is the baseline the search has to beat and, with
good defaults, a strong first point (Keras Tuner users ask for the same: start from the given defaults).
A learning rate the recipe does not set is only the generic default (Adam's 1e-3), which is often several
times too small for the model and batch at hand; when the learning rate is searched, a short LR range
test on the recipe picks the first trial's instead, and the trial trains it the way current recipes train a
found peak rate (fastai's fit with a found rate, torchvision's reference recipes), for what the recipe and the
search leave open: annealed to zero with a cosine (held constant, a rate that high ends the run on a noisy
plateau) and, for a cross-entropy classifier judged on something other than a loss, with labels smoothed by
0.1 (a peak rate drives the logits of a small model to over-confidence; smoothing caps them, see
`benchmarks/tune_efficiency.py --ablation`).
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
SMOOTHING = "regularization.label_smoothing"
# how a measured learning rate is trained, where the recipe and the search leave it open (`left_open`)
MEASURED_RATE_TRAINING = {SCHEDULE: "cosine", SMOOTHING: 0.1}
# the part of the recipe that, set or searched, has a word on a change: naming any schedule key picks the schedule
OWNER = {SCHEDULE: "schedule"}


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
        changes = left_open(MEASURED_RATE_TRAINING, space, recipe)
        measured = _measured_learning_rate(space, recipe, point, changes)
        if measured is not None:
            point[LEARNING_RATE] = measured
            attrs["learning_rate_from"] = "lr_find"
            if changes:
                attrs[ATTR_CHANGES] = changes
            if progress:
                print(
                    f"first trial: the recipe, learning rate {measured:.3g} from an LR range test{_said(changes)}",
                    file=sys.stderr,
                )
    if point:
        study.enqueue_trial(point, user_attrs=attrs, skip_if_exists=True)


def _said(changes: dict[str, Any]) -> str:
    """The changes as the progress line names them."""
    words = []
    if SCHEDULE in changes:
        words.append(f"{changes[SCHEDULE]}-annealed")
    if SMOOTHING in changes:
        words.append(f"label smoothing {changes[SMOOTHING]:g}")
    return "".join(f", {word}" for word in words)


def left_open(changes: dict[str, Any], space: SearchSpace, recipe: Recipe) -> dict[str, Any]:
    """The `changes` (recipe keys outside the space) that the recipe and the search leave open: where either
    has a word on a change's owner (the whole schedule; the label smoothing itself), that word wins. Label
    smoothing is kept only for a cross-entropy loss and a study that judges no loss (a smoothed loss is not
    comparable with the other trials' losses)."""
    kept = {}
    for key, value in changes.items():
        owner = OWNER.get(key, key)
        if _recipe_sets(recipe, owner) or any(_within(p.key, owner) for p in space.params):
            continue
        if key == SMOOTHING and (recipe.loss != "cross_entropy" or any("loss" in o.metric for o in space.objectives)):
            continue
        kept[key] = value
    return kept


def _within(key: str, owner: str) -> bool:
    """Whether the dotted `key` is the owner or lies inside it (`schedule.name` inside `schedule`)."""
    return key == owner or key.startswith(owner + ".")


def _recipe_sets(recipe: Recipe, dotted: str) -> bool:
    """Whether the recipe's file (or dict) wrote the dotted key, or anything under it."""
    node: Any = recipe
    for part in dotted.split("."):
        fields = getattr(node, "model_fields_set", None)
        if fields is None or part not in fields:
            return False
        node = getattr(node, part)
    return True


def _tests_learning_rate(space: SearchSpace, recipe: Recipe) -> bool:
    """Whether the first trial's learning rate comes from a range test: it is searched and the recipe sets none."""
    return LEARNING_RATE in space.keys and not _recipe_sets(recipe, LEARNING_RATE)


def _completed(space: SearchSpace, recipe: Recipe, point: dict[str, Any], seed: int | None) -> dict[str, Any]:
    """The point with the keys the recipe leaves open (outside the space, e.g. a hidden size not among the
    choices) drawn at random now, as the sampler's first draws are, instead of when the trial starts."""
    import optuna

    draft = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=seed))
    draft.enqueue_trial(point)
    values = space.sample(draft.ask(), recipe)
    return {key: encode(value) for key, value in values.items()}


def _measured_learning_rate(
    space: SearchSpace, recipe: Recipe, point: dict[str, Any], changes: dict[str, Any]
) -> float | None:
    """The LR range test's suggestion for the point trained with `changes` (a smoothed loss moves the blow-up),
    inside the searched range; None when the test cannot tell. Only for a searched learning rate."""
    from trainwise.errors import TrainwiseError
    from trainwise.tune.lr_find import lr_find

    param = next(p for p in space.params if p.key == LEARNING_RATE)
    values = {key: decode(value) for key, value in point.items() if key != LEARNING_RATE}
    tested = apply(recipe, {**values, **changes})
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
