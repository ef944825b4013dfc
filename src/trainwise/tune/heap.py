"""Keep Python's cyclic garbage collector off the objects that are loaded before a study starts.

With torch, Optuna and SQLAlchemy imported a process holds millions of objects, and a full (generation 2)
collection walks them all: 0.3 s on this machine, to find nothing. One lands in the first second of
every study, a third of the time before the first epoch. `gc.freeze()` moves the objects alive now into the
permanent generation, which collections skip; they are still freed by reference counting, and `frozen_heap`
returns them to the collector when the study ends (unless they were frozen before it began).

Blocks nest (`tune`, then the worker it runs in this process): each freezes what is alive at its start (the
worker's, what tune loaded meanwhile: the storage's ORM, the data), the outermost alone unfreezes, and only it
asks whether anything was frozen before, as that count walks the frozen objects one by one (30 ms once a
study is loaded, paid before the first trial when the worker's block asked again).
"""

from __future__ import annotations

import functools
import gc
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import ParamSpec, TypeVar

P = ParamSpec("P")
R = TypeVar("R")


_depth = 0  # frozen_heap blocks open in this process


@contextmanager
def frozen_heap() -> Iterator[None]:
    """Freeze the objects alive now for the duration of the block (see the module's docstring)."""
    global _depth
    outermost = _depth == 0
    already = outermost and gc.get_freeze_count() > 0
    gc.freeze()
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if outermost and not already:
            gc.unfreeze()


def with_frozen_heap(func: Callable[P, R]) -> Callable[P, R]:
    """`func` runs inside `frozen_heap()`."""

    @functools.wraps(func)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        with frozen_heap():
            return func(*args, **kwargs)

    return wrapper
