"""Findings read from a run's history: what went wrong, the evidence, and config changes that would help.

Each rule is one small function from the curves (and what is known about the run) to a Finding or None,
registered by name in `RULES`. Remedies are pasteable `--set key=value` changes computed from the run's own
recipe (a lower learning rate relative to the one it used, dropout only for a model that has the key).
Nothing here imports torch: `trainwise diagnose` starts fast.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from trainwise.diagnose.facts import SEVERITIES, Curves, Finding, RunFacts
from trainwise.diagnose.remedies import PLATEAU_REL, STUCK_REL, capacity, fmt, last_lr, regularize, set_value

# A classification loss this far above chance (log C, the loss of a uniform guess; a fresh network starts
# within a few percent of it) means confidently wrong predictions: only oversized steps get a network there.
EXPLODE_CHANCE_FACTOR = 1.5
# An epoch whose training loss is this many times the lowest earlier one (and above the first epoch's) has
# blown up rather than wobbled: epoch means of a healthy run never jump like that.
EXPLODE_RISE_FACTOR = 3.0
# Best training loss at or above this fraction of chance: the model learned (almost) nothing.
CHANCE_FRACTION = 0.9
# Best training loss at or above this fraction of chance: it learned something but fits the data poorly
# (a healthy 10-class image MLP ends well below 0.25 x chance).
HIGH_LOSS_FRACTION = 0.5
# Validation loss this much above its best, at least OVERFIT_MIN_EPOCHS after it, while the training loss
# kept falling by at least OVERFIT_TRAIN_FALL: the model now learns the training set, not the task.
OVERFIT_RISE = 0.10
OVERFIT_MIN_EPOCHS = 2
OVERFIT_TRAIN_FALL = 0.10
# Train accuracy this far above validation accuracy is a generalization gap worth acting on.
GAP_ACCURACY = 0.10
# Oscillation: an epoch's training loss counts as "up" when it rises by this fraction of the previous one;
# so many ups (a fraction of the epoch-to-epoch moves, at least OSCILLATION_MIN_UPS) means the steps are
# too large to settle. Checked from OSCILLATION_MIN_EPOCHS epochs on.
OSCILLATION_RISE = 0.05
OSCILLATION_FRACTION = 0.3
OSCILLATION_MIN_UPS = 2
OSCILLATION_MIN_EPOCHS = 4
# Plateau: over the last PLATEAU_WINDOW epochs the training loss fell by less than PLATEAU_REL of itself
# and validation did not improve either. A run whose whole history improved less than STUCK_REL is stuck
# from the start (typically a learning rate far too low).
# (PLATEAU_REL = 0.01 and STUCK_REL = 0.02 live in remedies.py, which shares them.)
PLATEAU_WINDOW = 3
# A training loss below this fraction of chance (or train accuracy at least DONE_ACCURACY) has converged:
# a flat curve there is the end of training, not a problem.
DONE_FRACTION = 0.05
DONE_ACCURACY = 0.99
# Noisy validation: the binomial standard error of the validation accuracy, sqrt(p (1 - p) / n), above this
# means two epochs (or two runs) must differ by about 2 x this before the difference means anything.
NOISY_SE = 0.02
TARGET_SE = 0.01  # what the remedy aims for
MIN_VAL_SIZE = 100  # without an accuracy to compute a standard error from: fewer samples than this is noisy
MAX_VALIDATION_SPLIT = 0.3


Rule = Callable[[Curves, RunFacts], Finding | None]


def diagnose_history(history: Sequence[dict[str, Any]], facts: RunFacts | None = None) -> list[Finding]:
    """Every finding the rules make on this history, most severe first; a healthy run gets none."""
    facts = facts or RunFacts()
    curves = Curves.from_history(history)
    if not curves.epochs:
        return []
    findings = [finding for rule in RULES.values() if (finding := rule(curves, facts)) is not None]
    found = {f.kind for f in findings}
    if "divergence" in found:  # one cause: its wobble and flat tail are symptoms
        findings = [f for f in findings if f.kind not in ("oscillation", "plateau")]
    elif "oscillation" in found:  # a loss that goes up and down also looks flat over a window
        findings = [f for f in findings if f.kind != "plateau"]
    return sorted(findings, key=lambda f: SEVERITIES.index(f.severity))


# --- rules ---------------------------------------------------------------------------------------------


def divergence(curves: Curves, facts: RunFacts) -> Finding | None:
    """NaN/Inf losses, or a finite loss that blew up (far above chance, or far above where it had been)."""
    lr = last_lr(curves, facts)
    remedies = [set_value("optimizer.learning_rate", lr / 10, "a tenth of the learning rate that blew up")]
    recipe = facts.recipe
    if recipe is None or recipe.regularization.grad_clip is None:
        remedies.append("--set regularization.grad_clip=1.0  # cap the gradient norm, so one bad batch cannot blow up")
    remedies.append("--autopilot  # trainwise fit rolls back to the last good epoch and cuts the learning rate")
    if curves.not_finite:
        epoch, key = curves.not_finite[0]
        return Finding(
            "divergence",
            "critical",
            f"diverged: {key} became NaN/Inf in epoch {epoch}",
            f"{key} is not a finite number in epoch {epoch} (learning rate {fmt(lr)})",
            remedies,
            [epoch],
            {"lr": lr},
        )
    exploded = exploded_epoch(curves.train_loss, facts.chance_loss)
    if exploded is None:
        return None
    i, why = exploded
    return Finding(
        "divergence",
        "critical",
        f"exploding loss in epoch {curves.epochs[i]}",
        f"train_loss {fmt(curves.train_loss[i])} in epoch {curves.epochs[i]}: {why} (learning rate {fmt(lr)})",
        remedies,
        [curves.epochs[i]],
        {"train_loss": curves.train_loss[i], "lr": lr},
    )


def exploded_epoch(train_loss: Sequence[float], chance: float | None) -> tuple[int, str] | None:
    """The first epoch whose finite training loss blew up, and why (the autopilot is handed this test)."""
    for i, value in enumerate(train_loss):
        if math.isnan(value):
            continue
        if chance is not None and value > EXPLODE_CHANCE_FACTOR * chance:
            return i, f"{fmt(value / chance)}x the loss of a uniform guess ({fmt(chance)})"
        earlier = [v for v in train_loss[:i] if not math.isnan(v)]
        if earlier and value > EXPLODE_RISE_FACTOR * min(earlier) and value > earlier[0]:
            return i, f"{fmt(value / min(earlier))}x its lowest earlier value ({fmt(min(earlier))})"
    return None


def overfitting(curves: Curves, facts: RunFacts) -> Finding | None:
    """Validation loss rising while training loss falls; else a large train/validation accuracy gap."""
    val = curves.val_loss
    finite = [i for i, v in enumerate(val) if not math.isnan(v)]
    if len(finite) < 2:
        return None
    best = min(finite, key=lambda i: val[i])
    last = finite[-1]
    remedies = regularize(curves, facts, best)
    train_best, train_last = curves.train_loss[best], curves.train_loss[last]
    rise = val[last] / val[best] - 1 if val[best] > 0 else 0.0
    if last - best >= OVERFIT_MIN_EPOCHS and rise > OVERFIT_RISE and train_last < (1 - OVERFIT_TRAIN_FALL) * train_best:
        e_best, e_last = curves.epochs[best], curves.epochs[last]
        return Finding(
            "overfitting",
            "warning",
            f"overfitting since epoch {e_best}",
            f"val_loss rose {rise:.0%} from {fmt(val[best])} (epoch {e_best}) to {fmt(val[last])} (epoch {e_last}) "
            f"while train_loss fell from {fmt(train_best)} to {fmt(train_last)}",
            remedies,
            [e_best, e_last],
            {"val_loss_best": val[best], "val_loss_last": val[last], "train_loss_last": train_last},
        )
    gap = curves.train_acc[last] - curves.val_acc[last]
    if not math.isnan(gap) and gap >= GAP_ACCURACY:
        epoch = curves.epochs[last]
        return Finding(
            "overfitting",
            "warning",
            f"generalization gap of {gap:.0%} accuracy",
            f"train_accuracy {curves.train_acc[last]:.3f} vs val_accuracy {curves.val_acc[last]:.3f} in epoch {epoch}",
            remedies,
            [epoch],
            {"train_accuracy": curves.train_acc[last], "val_accuracy": curves.val_acc[last]},
        )
    return None


def underfitting(curves: Curves, facts: RunFacts) -> Finding | None:
    """The best training loss stays near chance, or high against it (classification only: chance is known)."""
    chance = facts.chance_loss
    finite = [(v, i) for i, v in enumerate(curves.train_loss) if not math.isnan(v)]
    if chance is None or not finite:
        return None
    best, i = min(finite)
    ratio = best / chance
    if ratio < HIGH_LOSS_FRACTION:
        return None
    accuracy = curves.train_acc[i]
    classes = facts.num_classes or 2
    # near chance by the loss, unless the accuracy says it already learned something (2x a uniform guess's)
    near_chance = ratio >= CHANCE_FRACTION and (math.isnan(accuracy) or accuracy < 2 / classes)
    blew_up = exploded_epoch(curves.train_loss, chance) is not None
    epoch = curves.epochs[i]
    evidence = (
        f"best train_loss {fmt(best)} (epoch {epoch}) is {ratio:.0%} of chance level {fmt(chance)} "
        f"(log of {classes} classes)"
    )
    if not math.isnan(accuracy):
        evidence += f"; train_accuracy {accuracy:.3f}"
    title = "learning nothing: training loss at chance level" if near_chance else "underfitting: training loss high"
    if not near_chance and ratio >= CHANCE_FRACTION:
        title = "barely learning: training loss still near chance level"
    return Finding(
        "underfitting",
        "critical" if near_chance else "warning",
        title,
        evidence,
        capacity(curves, facts, blew_up=blew_up),
        [epoch],
        {"train_loss": best, "chance_loss": chance},
    )


def oscillation(curves: Curves, facts: RunFacts) -> Finding | None:
    """The epoch's training loss goes up again and again: steps too large to settle."""
    values = curves.train_loss
    if len(values) < OSCILLATION_MIN_EPOCHS:
        return None
    ups = [
        curves.epochs[i]
        for i in range(1, len(values))
        if not math.isnan(values[i])
        and not math.isnan(values[i - 1])
        and values[i] > (1 + OSCILLATION_RISE) * values[i - 1]
    ]
    if len(ups) < max(OSCILLATION_MIN_UPS, OSCILLATION_FRACTION * (len(values) - 1)):
        return None
    lr = last_lr(curves, facts)
    remedies = [set_value("optimizer.learning_rate", lr / 3, "a third of the current learning rate")]
    recipe = facts.recipe
    if recipe is not None and recipe.schedule.name == "none":
        remedies.append("--set schedule.name=cosine  # decay the learning rate so late steps settle")
    if recipe is not None and isinstance(recipe.batch_size, int):
        remedies.append(f"--set batch_size={recipe.batch_size * 2}  # larger batches: less noisy steps")
    return Finding(
        "oscillation",
        "warning",
        "training loss oscillates: learning rate too high",
        f"train_loss rose by more than {OSCILLATION_RISE:.0%} in {len(ups)} of {len(values) - 1} epochs "
        f"(epochs {', '.join(map(str, ups))}) at learning rate {fmt(lr)}",
        remedies,
        ups,
        {"ups": float(len(ups)), "lr": lr},
    )


def plateau(curves: Curves, facts: RunFacts) -> Finding | None:
    """Stuck from the start (learning rate far too low), or stalled later while the loss is still high."""
    values = [v for v in curves.train_loss if not math.isnan(v)]
    if len(values) < 2 or _converged(curves, facts):
        return None
    lr = last_lr(curves, facts)
    first, best = values[0], min(values)
    if first > 0 and (first - best) / first < STUCK_REL:
        return Finding(
            "plateau",
            "warning",
            "stuck from the start: learning rate too low?",
            f"train_loss moved from {fmt(first)} to at best {fmt(best)} ({(first - best) / first:.1%}) "
            f"over {len(values)} epochs at learning rate {fmt(lr)}",
            [
                set_value("optimizer.learning_rate", lr * 10, "ten times the learning rate"),
                "trainwise lr-find CONFIG  # measure a good learning rate instead of guessing",
            ],
            [curves.epochs[0], curves.epochs[-1]],
            {"train_loss_first": first, "train_loss_best": best, "lr": lr},
        )
    if len(curves.train_loss) <= PLATEAU_WINDOW:
        return None
    start, end = curves.train_loss[-PLATEAU_WINDOW - 1], curves.train_loss[-1]
    if math.isnan(start) or math.isnan(end) or start <= 0 or (start - end) / start >= PLATEAU_REL:
        return None
    if curves.has_val and _val_improved_lately(curves):
        return None
    since = curves.epochs[-PLATEAU_WINDOW - 1]
    recipe = facts.recipe
    remedies = []
    if recipe is None or recipe.schedule.name != "plateau":
        remedies.append("--set schedule.name=plateau  # cut the learning rate when progress stalls")
    remedies.append(set_value("optimizer.learning_rate", lr / 10, "smaller steps to settle into the minimum"))
    remedies.extend(r for r in capacity(curves, facts, blew_up=False) if "model.hidden" in r)
    return Finding(
        "plateau",
        "warning",
        f"progress stalled since epoch {since}",
        f"train_loss went from {fmt(start)} (epoch {since}) to {fmt(end)} (epoch {curves.epochs[-1]}), "
        f"{(start - end) / start:.1%}, and validation did not improve",
        remedies,
        [since, curves.epochs[-1]],
        {"train_loss_start": start, "train_loss_end": end},
    )


def noisy_validation(curves: Curves, facts: RunFacts) -> Finding | None:
    """A validation set so small that its accuracy moves by chance more than the changes one looks at."""
    n = facts.val_size
    if not n or not curves.has_val:
        return None
    accuracies = [a for a in curves.val_acc if not math.isnan(a)]
    if accuracies:
        p = accuracies[-1]
        se = math.sqrt(max(p * (1 - p), 1e-12) / n)
        if se <= NOISY_SE:
            return None
        evidence = (
            f"{n} validation samples at accuracy {p:.3f}: standard error {se:.3f}, so differences under "
            f"{2 * se:.1%} between epochs or runs are noise"
        )
        needed = math.ceil(max(p * (1 - p), 0.01) / TARGET_SE**2)
    else:
        if n >= MIN_VAL_SIZE:
            return None
        se = math.nan
        evidence = f"only {n} validation samples (fewer than {MIN_VAL_SIZE}): its loss is a noisy estimate"
        needed = MIN_VAL_SIZE * 4
    remedies = []
    recipe = facts.recipe
    total = (facts.train_size or 0) + n
    if recipe is not None and (recipe.data.name or recipe.data.path) and total:
        split = min(MAX_VALIDATION_SPLIT, max(needed / total, recipe.data.validation_split + 0.05))
        if split > recipe.data.validation_split:
            remedies.append(
                f"--set data.validation_split={split:.2f}  # about {round(split * total)} validation samples"
            )
    remedies.append(f"use a validation set of about {needed} samples (standard error {TARGET_SE:.0%})")
    remedies.append("compare runs over several seeds (trainwise compare --seeds 5) before trusting small differences")
    numbers = {"val_size": float(n)} | ({"standard_error": se} if not math.isnan(se) else {})
    return Finding(
        "noisy_validation", "info", "validation set too small: noisy scores", evidence, remedies, [], numbers
    )


RULES: dict[str, Rule] = {
    "divergence": divergence,
    "overfitting": overfitting,
    "underfitting": underfitting,
    "oscillation": oscillation,
    "plateau": plateau,
    "noisy_validation": noisy_validation,
}


def _converged(curves: Curves, facts: RunFacts) -> bool:
    chance = facts.chance_loss
    finite = [v for v in curves.train_loss if not math.isnan(v)]
    if chance is not None and finite and min(finite) < DONE_FRACTION * chance:
        return True
    accuracies = [a for a in curves.train_acc if not math.isnan(a)]
    return bool(accuracies) and max(accuracies) >= DONE_ACCURACY


def _val_improved_lately(curves: Curves) -> bool:
    val = curves.val_loss
    before = [v for v in val[:-PLATEAU_WINDOW] if not math.isnan(v)]
    recent = [v for v in val[-PLATEAU_WINDOW:] if not math.isnan(v)]
    return bool(before and recent) and min(recent) < (1 - PLATEAU_REL) * min(before)
