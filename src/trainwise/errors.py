"""User-facing errors: one root, a few subclasses, one-line messages.

Raise where the fault is found, saying what/where/expected; the CLI alone turns them into `error: ...` and
exit status 2. Anything that is not a TrainwiseError is a bug in trainwise and keeps its traceback.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class TrainwiseError(Exception):
    """Root of every error a user can cause and fix."""

    def __init__(self, message: str, *, source: str | None = None, key: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.source = source  # the file the fault is in, when there is one
        self.key = key  # the config key path, e.g. "optimizer.learning_rate"

    def __str__(self) -> str:
        where = ": ".join(part for part in (self.source, self.key) if part)
        return f"{where}: {self.message}" if where else self.message


class ConfigError(TrainwiseError):
    """A config file, `--set` override or keyword argument is malformed or out of range."""


class DataError(TrainwiseError):
    """A data file or data set is missing, corrupt, or does not fit the model."""


class RunError(TrainwiseError):
    """A run directory cannot be used as asked (exists already, nothing to resume, ...)."""


def did_you_mean(name: str, choices: Iterable[str]) -> str:
    """A short hint naming the valid choices and the closest one, for unknown-name errors."""
    options = sorted(choices)
    close = difflib.get_close_matches(name, options, n=1, cutoff=0.5)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"expected one of {', '.join(options)}{hint}"
