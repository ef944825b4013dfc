"""The store, its CLI commands and the dashboard never import torch: `trainwise runs ls` starts fast."""

from __future__ import annotations

import subprocess
import sys

CHECK = """
import sys
{body}
heavy = sorted(m for m in ("torch", "optuna", "matplotlib", "numpy") if m in sys.modules)
print("HEAVY:" + ",".join(heavy))
"""


def imported_heavy(body: str) -> list[str]:
    out = subprocess.run([sys.executable, "-c", CHECK.format(body=body)], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    line = out.stdout.strip().splitlines()[-1]
    return [m for m in line.removeprefix("HEAVY:").split(",") if m]


def test_the_store_modules_do_not_import_torch() -> None:
    heavy = imported_heavy(
        "import trainwise.store.runs, trainwise.store.db, trainwise.store.migrate, trainwise.store.rundir_scan\n"
        "import trainwise.store.compare, trainwise.dashboard.app, trainwise.dashboard.server"
    )
    assert "torch" not in heavy and "optuna" not in heavy


def test_runs_ls_imports_neither_torch_nor_optuna() -> None:
    heavy = imported_heavy("from trainwise import cli\nassert cli.main(['runs', 'ls']) == 0")
    assert heavy == []


def test_the_recorder_is_the_one_store_module_that_needs_the_engine() -> None:
    assert "torch" in imported_heavy("import trainwise.store.recorder")  # a Callback subclass: torch is expected
