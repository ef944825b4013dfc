"""trainwise: train, tune and diagnose PyTorch models.

The public API is small and re-exported here; heavy modules (torch, pydantic) load on first use, so that
`trainwise --version` and `trainwise data ls` start fast.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from trainwise._version import __version__
from trainwise.errors import ConfigError, DataError, RunError, TrainwiseError

if TYPE_CHECKING:
    from trainwise.config import Recipe, load_recipe
    from trainwise.diagnose.run import diagnose
    from trainwise.engine.callbacks import Callback
    from trainwise.report.html import report
    from trainwise.tasks import load_task
    from trainwise.training import FitResult, fit
    from trainwise.tune.compare import CompareResult, compare
    from trainwise.tune.lr_find import LRFindResult, lr_find

__all__ = [
    "Callback",
    "CompareResult",
    "ConfigError",
    "DataError",
    "FitResult",
    "LRFindResult",
    "Recipe",
    "RunError",
    "TrainwiseError",
    "__version__",
    "compare",
    "diagnose",
    "fit",
    "load_recipe",
    "load_task",
    "lr_find",
    "report",
]

_LAZY = {
    "Recipe": "trainwise.config",
    "load_recipe": "trainwise.config",
    "fit": "trainwise.training",
    "FitResult": "trainwise.training",
    "Callback": "trainwise.engine.callbacks",
    "load_task": "trainwise.tasks",
    "lr_find": "trainwise.tune.lr_find",
    "LRFindResult": "trainwise.tune.lr_find",
    "compare": "trainwise.tune.compare",
    "CompareResult": "trainwise.tune.compare",
    "diagnose": "trainwise.diagnose.run",
    "report": "trainwise.report.html",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainwise' has no attribute '{name}'")


class _Api(types.ModuleType):
    """`trainwise.diagnose` and `trainwise.report` are functions that share their names with subpackages:
    importing `trainwise.report.plots` must not replace the function with the package on this module."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Api
