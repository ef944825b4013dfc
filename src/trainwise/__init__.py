"""trainwise: train, tune and diagnose PyTorch models.

The public API is small and re-exported here; heavy modules (torch) load on first use, so that
`trainwise --version` and `trainwise data ls` start fast.
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

from trainwise._version import __version__
from trainwise.config import Recipe, load_recipe
from trainwise.errors import ConfigError, DataError, RunError, TrainwiseError

if TYPE_CHECKING:
    from trainwise.engine.callbacks import Callback
    from trainwise.tasks import load_task
    from trainwise.training import FitResult, fit
    from trainwise.tune.results import TuneResult
    from trainwise.tune.study import tune

__all__ = [
    "Callback",
    "ConfigError",
    "DataError",
    "FitResult",
    "Recipe",
    "RunError",
    "TrainwiseError",
    "TuneResult",
    "__version__",
    "fit",
    "load_recipe",
    "load_task",
    "tune",
]

_LAZY = {
    "fit": "trainwise.training",
    "FitResult": "trainwise.training",
    "Callback": "trainwise.engine.callbacks",
    "load_task": "trainwise.tasks",
    "TuneResult": "trainwise.tune.results",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'trainwise' has no attribute '{name}'")


class _Module(types.ModuleType):
    """`trainwise.tune` is the function even though `trainwise.tune` is also a package: importing the package
    sets it as an attribute of `trainwise`, which this property keeps from hiding the function."""

    @property
    def tune(self) -> Any:
        from trainwise.tune.study import tune

        return tune

    @tune.setter
    def tune(self, package: Any) -> None:
        self.__dict__["_tune_package"] = package


sys.modules[__name__].__class__ = _Module
