"""How a tune trial's run is recorded in the run store: like any fit run, but its epochs go in batches.

A trial's epochs are short (tens of milliseconds on small models), so a store transaction per epoch was a
large share of a study's time. `TrialRecorder` writes the epochs every `FLUSH_SECONDS` and when the trial
ends; the run row (status running, heartbeat, study and trial number) is written at the start as before, so
a trial killed mid-way still shows up, with at most the last few seconds of epochs missing.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

from trainwise.engine.state import Loop
from trainwise.store.recorder import StoreRecorder

FLUSH_SECONDS = 2.0  # at most this long between writes of a trial's epochs to the store


class TrialRecorder(StoreRecorder):
    """A StoreRecorder that buffers epochs and writes them in one transaction every `flush_seconds`."""

    def __init__(
        self, run_dir: str | Path, config: dict[str, Any], *, url: str | None = None, flush_seconds: float | None = None
    ) -> None:
        super().__init__(run_dir, config, url=url)
        self.flush_seconds = FLUSH_SECONDS if flush_seconds is None else flush_seconds
        self.pending: list[dict[str, Any]] = []
        self.flushed_at = time.monotonic()

    def on_epoch_end(self, loop: Loop) -> None:
        if self.store is None or self.run_id is None:
            return
        self.pending.append(dict(loop.state.logs))
        if time.monotonic() - self.flushed_at >= self.flush_seconds:
            self.flush()

    def flush(self) -> None:
        """Write the buffered epochs now (one transaction)."""
        if self.pending and self.store is not None and self.run_id is not None:
            self._safely("record epochs", self.store.record_epochs, self.run_id, self.pending)
        self.pending = []
        self.flushed_at = time.monotonic()

    def finish(
        self, status: str, *, reason: str | None = None, test: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        self.flush()
        super().finish(status, reason=reason, test=test, error=error)
