"""Exactly `--trials` trials however many workers share a study: a worker starts a trial only in a free slot.

A slot is taken by every trial that counts (COMPLETE, PRUNED, or FAIL because the trial itself raised) and by
every RUNNING one. A worker looks and starts its trial while holding the study's lock (a PostgreSQL advisory
lock, or a lock file beside a SQLite database), so two workers never take the last slot at once. A trial whose
worker died keeps its slot until the heartbeat's grace period fails it; then its retry takes the slot. Workers
without a free slot wait and look again, because a running trial may still die and need them.
"""

from __future__ import annotations

import hashlib
import math
import os
import time
from pathlib import Path
from typing import Any

WAIT_SECONDS = 0.5  # how often an idle worker looks again for a free slot (one SELECT of the study's trials)


def counts(trial: Any) -> bool:
    """Whether a finished trial counts toward --trials: complete, pruned, or failed by an error it raised.

    Trials failed by Ctrl-C (`interrupted`) or by a dead worker (heartbeat) do not: they are run again."""
    from optuna.trial import TrialState

    if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
        return True
    return trial.state == TrialState.FAIL and "error" in trial.user_attrs


def occupancy(study: Any) -> tuple[int, int]:
    """(trials that count, trials running) in the study now."""
    from optuna.trial import TrialState

    trials = study.get_trials(deepcopy=False)
    return sum(counts(t) for t in trials), sum(t.state == TrialState.RUNNING for t in trials)


class StudyLock:
    """A lock shared by every worker of one study, on any machine that reaches its database.

    PostgreSQL: a session advisory lock (the server drops it when the holder's connection dies, kill -9
    included). SQLite: an exclusive `flock` on `<database>-tune.lock` (the kernel drops it with the process).
    Other databases: no lock; a race may then start one trial too many."""

    def __init__(self, storage: Any, url: str, study: str) -> None:
        self.engine: Any = getattr(storage, "engine", None)
        self.backend = self.engine.url.get_backend_name() if self.engine is not None else ""
        digest = hashlib.blake2b(f"trainwise.tune:{study}".encode(), digest_size=8).digest()
        self.key = int.from_bytes(digest, "big", signed=True)
        self.path = _sqlite_lock_path(url) if self.backend == "sqlite" else None
        self._held: Any = None

    def acquire(self) -> None:
        if self._held is not None:
            return
        if self.backend == "postgresql":
            from sqlalchemy import text

            conn = self.engine.connect()
            conn.execute(text("SELECT pg_advisory_lock(:key)"), {"key": self.key})
            conn.commit()  # the lock is the session's: no transaction stays open while we hold it
            self._held = conn
        elif self.path is not None and os.name == "posix":  # elsewhere (Windows): no lock, as for other databases
            import fcntl

            handle = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            fcntl.flock(handle, fcntl.LOCK_EX)
            self._held = handle
        else:
            self._held = True

    def __enter__(self) -> StudyLock:
        self.acquire()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()

    def release(self) -> None:
        """Idempotent: the objective releases as soon as its trial exists, `finally` again after it."""
        held, self._held = self._held, None
        if held is None or held is True:
            return
        if self.backend == "postgresql":
            from sqlalchemy import text

            try:
                held.execute(text("SELECT pg_advisory_unlock(:key)"), {"key": self.key})
                held.commit()
            finally:
                held.close()
        else:
            os.close(held)  # closing the file drops its flock


def _sqlite_lock_path(url: str) -> Path | None:
    rest = url.split(":///", 1)[1] if ":///" in url else ""
    if not rest or rest.startswith(":memory:"):
        return None
    return Path(rest.split("?", 1)[0] + "-tune.lock")  # beside trainwise.db-wal, -shm: one ignore pattern


def run_in_slots(
    study: Any,
    objective: Any,
    lock: StudyLock,
    *,
    trials: int | None,
    deadline: float | None,
    callbacks: list[Any],
    stale_now: bool = True,
) -> None:
    """Run trials one after another until the study holds `trials` that count or the deadline passes.

    Each trial goes through Optuna's `study.optimize(n_trials=1)`: its heartbeat thread, the failing of stale
    trials (and their retries, popped first by `ask`), and the telling of the outcome stay Optuna's. Stale trials
    are looked for before the first trial unless `stale_now` is False (a study this session created has none:
    its first look waits one heartbeat interval)."""

    def gated(trial: Any) -> Any:
        lock.release()  # the trial exists (RUNNING): it holds its slot, the others may look now
        return objective(trial)

    every = _stale_check_seconds(study)
    checked = -math.inf if stale_now else time.monotonic()
    while deadline is None or time.time() < deadline:
        lock.acquire()
        try:
            if time.monotonic() - checked >= every:  # a dead worker's trial waits out its grace period anyway
                _fail_stale(study)
                checked = time.monotonic()
            free = True
            if trials is not None:  # only a trial count needs the study's trials read before each trial
                done, running = occupancy(study)
                if done >= trials:
                    return
                free = done + running < trials
            if free:
                _optimize_one(study, gated, callbacks)
        finally:
            lock.release()
        if not free:
            time.sleep(WAIT_SECONDS)


def _stale_check_seconds(study: Any) -> float:
    """How often a worker looks for dead workers' trials: once per heartbeat interval (each look reads the
    study's running trials and the heartbeat table, a cost a short trial should not pay every time)."""
    backend = getattr(study._storage, "_backend", study._storage)
    return float(getattr(backend, "heartbeat_interval", None) or 0)


def _optimize_one(study: Any, objective: Any, callbacks: list[Any]) -> None:
    """One trial through Optuna. If another worker gave it up meanwhile (no heartbeat within the grace period:
    a machine too loaded for its --grace), Optuna refuses to tell it; its retry runs it again, and we go on."""
    import warnings

    try:
        study.optimize(objective, n_trials=1, callbacks=callbacks, catch=(Exception,), gc_after_trial=False)
    except ValueError as exc:
        if "Cannot tell a FAIL trial" not in str(exc):
            raise
        warnings.warn(
            "a trial of this worker was failed by another one for a missing heartbeat and will be retried; "
            "raise --grace if this machine is this busy",
            RuntimeWarning,
            stacklevel=2,
        )


def _fail_stale(study: Any) -> None:
    """Mark trials whose worker stopped beating as FAIL now (their retry is queued by the storage's callback)."""
    import warnings

    import optuna

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
        optuna.storages.fail_stale_trials(study)
        _fail_never_beaten(study)


def _fail_never_beaten(study: Any) -> None:
    """Fail RUNNING trials that never wrote a heartbeat and started longer than the grace period ago.

    A worker killed between creating its trial and its heartbeat thread's first beat leaves such a trial; Optuna's
    `fail_stale_trials` skips trials without a heartbeat, so its slot would stay taken and the study never end.
    Reads Optuna's heartbeat table (there is no public API for it); with another storage this does nothing."""
    from datetime import datetime, timedelta

    from optuna.exceptions import UpdateFinishedTrialError
    from optuna.trial import TrialState

    storage = study._storage
    backend = getattr(storage, "_backend", storage)
    grace = getattr(backend, "grace_period", None) or 2 * (getattr(backend, "heartbeat_interval", None) or 0)
    if not grace or not hasattr(backend, "scoped_session"):
        return
    try:
        from optuna.storages._rdb import models
        from sqlalchemy import select

        session = backend.scoped_session()
        try:
            beaten = {
                trial_id
                for (trial_id,) in session.execute(
                    select(models.TrialHeartbeatModel.trial_id)
                    .join(models.TrialModel)
                    .where(models.TrialModel.study_id == study._study_id)
                )
            }
        finally:
            session.close()
    except Exception:  # another Optuna's schema: leave it to Optuna's own check
        return
    limit = datetime.now() - timedelta(seconds=grace)  # datetime_start is the worker's local clock (Optuna's)
    for trial in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        if trial._trial_id in beaten or trial.datetime_start is None or trial.datetime_start > limit:
            continue
        try:
            if not storage.set_trial_state_values(trial._trial_id, state=TrialState.FAIL):
                continue
        except UpdateFinishedTrialError:  # another worker got there first
            continue
        callback = storage.get_heartbeat_stale_trial_callback()
        if callback is not None:
            callback(study, storage.get_trial(trial._trial_id))
