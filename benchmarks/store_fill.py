"""Fill a run store with N realistic finished runs quickly (shared by the store benchmarks).

One transaction through SQLAlchemy Core into the store's own tables (recording 10,000 runs one by one through
`RunStore`, as fit does, would measure fsyncs, not `runs ls`). Each run: a config, 3 epochs, 5 final metrics,
a status drawn from all statuses, one of four tasks, a tag on every tenth.
"""

from __future__ import annotations

import json
import random
import time
from pathlib import Path

from sqlalchemy import insert

from trainwise.store import schema
from trainwise.store.runs import RunStore

TASKS = ("image", "text", "tabular", "recommend")


def fill(url: str, runs: int, seed: int = 0) -> None:
    rng = random.Random(seed)
    store = RunStore(url)
    assert store.engine is not None
    now = time.time()
    run_rows, epoch_rows, metric_rows, tag_rows = [], [], [], []
    for i in range(1, runs + 1):
        task = TASKS[i % len(TASKS)]
        config = {"task": task, "epochs": 3, "seed": i, "optimizer": {"name": "adam", "learning_rate": rng.random()}}
        run_rows.append(
            {
                "id": i,
                "name": f"run-{i}",
                "run_dir": str(Path("runs") / f"run-{i}"),
                "task": task,
                "status": schema.STATUSES[1 + i % (len(schema.STATUSES) - 1)],
                "config": json.dumps(config),
                "started_at": now - (runs - i) * 60,
                "ended_at": now - (runs - i) * 60 + 30,
                "heartbeat_at": now - (runs - i) * 60 + 30,
                "host": "bench",
                "pid": 1,
                "epochs": 3,
            }
        )
        for epoch in (1, 2, 3):
            logs = {"epoch": epoch, "train_loss": rng.random(), "val_loss": rng.random(), "val_accuracy": rng.random()}
            epoch_rows.append({"run_id": i, "epoch": epoch, "logs": json.dumps(logs)})
        for key in ("train_loss", "val_loss", "val_accuracy", "train_accuracy", "test_accuracy"):
            metric_rows.append({"run_id": i, "key": key, "value": rng.random()})
        if i % 10 == 0:
            tag_rows.append({"run_id": i, "name": "tenth"})
    with store.engine.begin() as conn:
        for table, rows in (
            (schema.runs, run_rows),
            (schema.epochs, epoch_rows),
            (schema.final_metrics, metric_rows),
            (schema.tags, tag_rows),
        ):
            conn.execute(insert(table), rows)
