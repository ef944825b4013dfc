"""scripts/install-r-data.sh: skips what is in place, and is a clear no-op where apt-get is missing."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

SCRIPT = Path(__file__).resolve().parents[2] / "scripts" / "install-r-data.sh"


def _run(tmp_path: Path, path_env: str, *packages: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRAINWISE_DATA_DIR": str(tmp_path), "PATH": path_env}
    return subprocess.run(
        ["/bin/bash", str(SCRIPT), *packages], env=env, capture_output=True, text=True, timeout=60, check=False
    )


def test_without_apt_get_it_says_so_and_succeeds(tmp_path: Path) -> None:
    done = _run(tmp_path, str(tmp_path / "no-tools-here"), "modeldata")
    assert done.returncode == 0
    assert "apt-get/dpkg not found" in done.stderr
    assert "modeldata" in done.stderr
    assert not (tmp_path / "r").exists()


def test_installed_packages_are_skipped(tmp_path: Path) -> None:
    for package in ("modeldata", "janeaustenr", "dslabs"):
        (tmp_path / "r" / package / "data").mkdir(parents=True)
    done = _run(tmp_path, os.environ["PATH"])
    assert done.returncode == 0, done.stderr
    assert "already in" in done.stdout
    assert sorted(p.name for p in (tmp_path / "r").iterdir()) == ["dslabs", "janeaustenr", "modeldata"]
