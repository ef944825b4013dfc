"""`trainwise data ls` lists the text and tabular built-ins and, when missing, how to install them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from trainwise import cli


def test_lists_the_new_builtins_with_install_steps(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRAINWISE_DATA_DIR", str(tmp_path))  # no R data packages here
    assert cli.main(["data", "ls", "--json"]) == 0
    rows = {row["name"]: row for row in json.loads(capsys.readouterr().out)}
    for name, package in (("food-reviews", "modeldata"), ("austen", "janeaustenr"), ("ames", "modeldata")):
        assert rows[name]["installed"] is False
        assert rows[name]["install"].startswith(f"bash scripts/install-r-data.sh {package}")
    for name in ("diabetes", "breast-cancer", "wine"):
        assert rows[name]["install"] == "pip install scikit-learn"
    assert "(task text)" in rows["food-reviews"]["description"]
    assert "task tabular" in rows["ames"]["description"]
