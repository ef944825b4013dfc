"""`StoreRecorder`: the callback that records a run in the store as it happens.

The engine never imports the store; `fit` adds this callback (unless `store=False`). A store that cannot be
written warns once and is then left alone: recording never breaks training. A daemon thread touches the
run's heartbeat, so `runs ls` on another host can tell a long epoch from a dead process.
"""

from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

from trainwise.engine.callbacks import Callback
from trainwise.engine.state import Loop
from trainwise.store import liveness
from trainwise.store.rundir_scan import read_findings, read_trial, scan_artifacts
from trainwise.store.runs import RunStore

HEARTBEAT_SECONDS = liveness.HEARTBEAT_SECONDS  # seconds between heartbeats (a module setting tests may lower)

STATUS_OF_REASON = {"diverged": "diverged", "interrupted": "interrupted"}  # anything else that ends is finished


class StoreRecorder(Callback):
    """Records config, task, status, epochs, findings, artifacts and the tuning trial of one run."""

    def __init__(
        self,
        run_dir: str | Path,
        config: dict[str, Any],
        *,
        url: str | None = None,
        name: str | None = None,
        heartbeat_seconds: float | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.config = config
        self.url = url
        self.name = name or self.run_dir.name
        self.heartbeat_seconds = HEARTBEAT_SECONDS if heartbeat_seconds is None else heartbeat_seconds
        self.store: RunStore | None = None
        self.run_id: int | None = None
        self.failed = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _safely(self, what: str, action: Any, *args: Any, **kwargs: Any) -> Any:
        """Run one store operation; the first failure warns, and the recorder stops writing."""
        if self.failed:
            return None
        try:
            return action(*args, **kwargs)
        except Exception as exc:
            self.failed = True
            self._stop.set()
            warnings.warn(f"run store: cannot {what} ({exc}); training goes on without recording", stacklevel=2)
            return None

    def on_fit_start(self, loop: Loop) -> None:
        if self.run_id is not None:
            return
        self.store = self._safely("open the store", RunStore, self.url)
        if self.store is None:
            return
        self.run_id = self._safely(
            "record the run",
            self.store.start_run,
            name=self.name,
            run_dir=self.run_dir,
            task=str(self.config.get("task", "")),
            config=self.config,
            **read_trial(self.run_dir),
        )
        for logs in loop.state.history:  # a resumed run: its earlier epochs
            self._safely("record an epoch", self.store.record_epoch, self.run_id, logs)
        if self.run_id is not None and self.heartbeat_seconds > 0:
            self._thread = threading.Thread(target=self._beat, name="trainwise-store-heartbeat", daemon=True)
            self._thread.start()

    def _beat(self) -> None:
        while not self._stop.wait(self.heartbeat_seconds):
            if self.store is not None and self.run_id is not None:
                self._safely("write the heartbeat", self.store.heartbeat, self.run_id)

    def on_epoch_end(self, loop: Loop) -> None:
        if self.store is not None and self.run_id is not None:
            self._safely("record an epoch", self.store.record_epoch, self.run_id, dict(loop.state.logs))

    def finish(
        self, status: str, *, reason: str | None = None, test: dict[str, Any] | None = None, error: str | None = None
    ) -> None:
        """Record the end: status, test metrics, and what the run directory holds now (artifacts, findings)."""
        self._stop.set()
        if self.store is None or self.run_id is None:
            return
        self._safely(
            "record the end of the run",
            self.store.finish_run,
            self.run_id,
            status,
            stopped_reason=reason,
            test=test,
            artifacts=scan_artifacts(self.run_dir),
            findings=read_findings(self.run_dir),
            error=error,
        )

    def finish_from(self, stopped_reason: str, test: dict[str, Any] | None) -> None:
        """`finish` with the status a stop reason stands for."""
        self.finish(STATUS_OF_REASON.get(stopped_reason, "finished"), reason=stopped_reason, test=test)
