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
    from trainwise.fitresult import FitResult
    from trainwise.report.html import report
    from trainwise.tasks import load_task
    from trainwise.training import fit
    from trainwise.tune.compare import CompareResult, compare
    from trainwise.tune.lr_find import LRFindResult, lr_find
    from trainwise.tune.results import TuneResult
    from trainwise.tune.study import tune

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
    "TuneResult",
    "__version__",
    "compare",
    "diagnose",
    "fit",
    "load_recipe",
    "load_task",
    "lr_find",
    "report",
    "tune",
]

_LAZY = {
    "Recipe": "trainwise.config",
    "load_recipe": "trainwise.config",
    "fit": "trainwise.training",
    "FitResult": "trainwise.fitresult",
    "Callback": "trainwise.engine.callbacks",
    "load_task": "trainwise.tasks",
    "TuneResult": "trainwise.tune.results",
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


class _CallablePackage(types.ModuleType):
    """The `trainwise.tune` package, callable as the API function `trainwise.tune(...)`: the two share a name,
    so `trainwise.tune(config)` and `import trainwise.tune.space` both work."""

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from trainwise.tune.study import tune

        return tune(*args, **kwargs)


class _Api(types.ModuleType):
    """API functions that share their names with subpackages (`diagnose`, `report`, `tune`): importing
    `trainwise.report.plots` must not put the package in the function's place; `trainwise.tune` is the package
    made callable (the import system sets it as an attribute on its first import)."""

    def __setattr__(self, name: str, value: Any) -> None:
        if name == "tune" and isinstance(value, types.ModuleType):
            value.__class__ = _CallablePackage  # the property below returns it
            return
        if name in _LAZY and isinstance(value, types.ModuleType):
            return
        super().__setattr__(name, value)

    @property
    def tune(self) -> Any:
        import importlib

        package = importlib.import_module("trainwise.tune")
        package.__class__ = _CallablePackage
        return package


sys.modules[__name__].__class__ = _Api
