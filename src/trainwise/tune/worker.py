"""`python -m trainwise.tune.worker JOB.json`: one tune worker process (started by `tune(workers=K)`)."""

from __future__ import annotations

import sys

from trainwise.tune.study import _main_worker

if __name__ == "__main__":
    raise SystemExit(_main_worker(sys.argv[1]))
