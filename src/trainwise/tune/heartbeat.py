"""Crash safety of a study shared by many workers: Optuna's trial heartbeat, its grace period, and retries.

Each running trial writes a heartbeat every `interval` seconds. A trial whose heartbeat is older than `grace`
seconds (its process was killed, its machine lost) is marked FAIL by whichever worker looks next, and a copy
with the same parameters is queued (Optuna's retry callback: the copy's system attributes `failed_trial` and
`retry_history` name the trial it retries), so another worker runs it again, up to MAX_RETRY times.
"""

from __future__ import annotations

import inspect
import os
from dataclasses import dataclass
from typing import Any

from trainwise.errors import ConfigError

DEFAULT_INTERVAL = 10  # seconds between heartbeats: one small UPDATE per running trial
GRACE_BEATS = 4  # a trial is given up after this many missed heartbeats
MAX_RETRY = 3  # a trial that keeps killing its worker (say, out of memory) is not retried forever
ENV = "TRAINWISE_TUNE_HEARTBEAT"  # "SECONDS" or "SECONDS/GRACE", when --heartbeat/--grace are not given


@dataclass(frozen=True)
class Heartbeat:
    """Seconds between a running trial's heartbeats, and of silence after which it counts as dead."""

    interval: int = DEFAULT_INTERVAL
    grace: int = DEFAULT_INTERVAL * GRACE_BEATS


def heartbeat_settings(interval: int | None = None, grace: int | None = None) -> Heartbeat:
    """The settings from the arguments, else `$TRAINWISE_TUNE_HEARTBEAT`, else 10 s (grace: 4 heartbeats)."""
    key = "--heartbeat"
    if interval is None and grace is None and os.environ.get(ENV, "").strip():
        text, key = os.environ[ENV].strip(), ENV
        first, _, second = text.partition("/")
        try:
            interval, grace = int(first), (int(second) if second else None)
        except ValueError:
            expected = "SECONDS or SECONDS/GRACE in whole seconds, e.g. 10/40"
            raise ConfigError(f"expected {expected}, got {text!r}", key=key) from None
    interval = DEFAULT_INTERVAL if interval is None else interval
    if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
        raise ConfigError(f"the heartbeat must be a whole number of seconds >= 1, got {interval!r}", key=key)
    grace = interval * GRACE_BEATS if grace is None else grace
    if isinstance(grace, bool) or not isinstance(grace, int) or grace <= interval:
        raise ConfigError(
            f"the grace period must be whole seconds longer than the heartbeat ({interval} s), got {grace!r}",
            key="--grace" if key == "--heartbeat" else key,
        )
    return Heartbeat(interval, grace)


def storage_options(heartbeat: Heartbeat) -> dict[str, Any]:
    """Keyword arguments of Optuna's RDBStorage for these settings, retries of stale trials included."""
    import optuna

    storages: Any = optuna.storages
    retry_class = getattr(storages, "RetryHeartbeatStaleTrialCallback", None) or storages.RetryFailedTrialCallback
    # Optuna 4.9 renamed failed_trial_callback to heartbeat_stale_trial_callback
    names = inspect.signature(optuna.storages.RDBStorage).parameters
    name = "heartbeat_stale_trial_callback" if "heartbeat_stale_trial_callback" in names else "failed_trial_callback"
    return {
        "heartbeat_interval": heartbeat.interval,
        "grace_period": heartbeat.grace,
        name: retry_class(max_retry=MAX_RETRY),
    }


def retried_from(trial: Any) -> int | None:
    """The number of the trial that `trial` re-runs after its worker died (None: not a retry)."""
    value = trial.system_attrs.get("failed_trial")
    return int(value) if value is not None else None
