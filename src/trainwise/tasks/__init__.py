"""Tasks: what kind of data a run reads and which built-in models fit it, registered by name."""

from __future__ import annotations

from trainwise.config import Recipe
from trainwise.errors import ConfigError, did_you_mean
from trainwise.tasks.base import Task, TaskData, check_targets, to_tensors
from trainwise.tasks.image import ImageTask
from trainwise.tasks.recommend import RecommendTask
from trainwise.tasks.tabular import TabularTask
from trainwise.tasks.text import TextTask

TASKS: dict[str, Task] = {"image": ImageTask(), "tabular": TabularTask()}
TASKS["text"] = TextTask()
TASKS["recommend"] = RecommendTask()


def get_task(name: str) -> Task:
    """The registered task called `name`."""
    if name not in TASKS:
        raise ConfigError(f"unknown task '{name}'; {did_you_mean(name, TASKS)}", key="task")
    return TASKS[name]


def load_task(recipe: Recipe) -> TaskData:
    """The recipe's data as tensors, the way `fit` would read it (targets shaped for the recipe's loss)."""
    from trainwise.engine.optim import build_loss

    return get_task(recipe.task).load(recipe, build_loss(recipe.loss, recipe.regularization).targets)


__all__ = ["TASKS", "Task", "TaskData", "check_targets", "get_task", "load_task", "to_tensors"]
