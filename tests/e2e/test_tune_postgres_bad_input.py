"""Bad input against a real PostgreSQL server: one line, exit 2, and the existing study exactly as it was.

An unreachable server, a wrong password, and a config that asks an existing study for another search space or
another direction. Each test has a fresh database (tests/pgdb.py) holding one finished study.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import optuna
import pytest
from sqlalchemy.engine import make_url

from trainwise import cli
from trainwise.storage import driver_url

TRAINWISE = Path(sys.executable).with_name("trainwise")

CONFIG = """
task = "image"
epochs = 1
batch_size = 128
threads = 1

[data]
name = "digits"
validation_split = 0.2

[model]
name = "mlp"
hidden = [8]

[search]
{search}
"""
SPACE = """metric = "val_accuracy"
"optimizer.learning_rate" = { low = 1e-3, high = 3e-2, log = true }"""


@pytest.fixture
def study(postgres_url: str, tmp_path: Path) -> Iterator[str]:
    """A study 'kept' with one complete trial in a fresh database; yields the URL."""
    before = Path.cwd()
    os.chdir(tmp_path)
    (tmp_path / "good.toml").write_text(CONFIG.format(search=SPACE))
    args = ["tune", "good.toml", "--storage", postgres_url, "--study", "kept", "--trials", "1", "--json"]
    assert cli.main(args) == 0
    yield postgres_url
    os.chdir(before)


def snapshot(url: str) -> list[Any]:
    study = optuna.load_study(study_name="kept", storage=driver_url(url))
    trials = [(t.number, t.state.name, t.values, t.params, t.user_attrs) for t in study.get_trials()]
    return [json.dumps(study.user_attrs, sort_keys=True), trials, sorted(os.listdir("runs/kept"))]


@pytest.mark.parametrize(
    ("search", "expected"),
    [
        (
            SPACE.replace("low = 1e-3", "low = 1e-4"),
            "changes optimizer.learning_rate (float 0.001..0.03 log -> float 0.0001..0.03 log)",
        ),
        (
            SPACE + '\n"model.dropout" = { low = 0.0, high = 0.3 }',
            "searches another space: the config adds model.dropout",
        ),
        (
            SPACE.replace("val_accuracy", "val_loss"),
            "study 'kept' in postgresql+psycopg://trainwise:***@",
        ),
    ],
    ids=["changed-range", "added-key", "other-direction"],
)
def test_a_study_with_another_space_or_direction_is_refused(
    study: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], search: str, expected: str
) -> None:
    before = snapshot(study)
    capsys.readouterr()
    (tmp_path / "other.toml").write_text(CONFIG.format(search=search))
    assert cli.main(["tune", "other.toml", "--storage", study, "--study", "kept", "--trials", "3"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1, err
    assert "minimize" in err if "val_loss" in search else "another space" in err
    assert snapshot(study) == before


def test_a_wrong_password_and_an_unreachable_server_are_one_line(study: str, tmp_path: Path) -> None:
    before = snapshot(study)
    url = make_url(study)
    wrong = url.set(password="not-the-password").render_as_string(hide_password=False)
    closed = url.set(port=1).render_as_string(hide_password=False)
    for bad, expected in [(wrong, "password authentication failed"), (closed, "Connection refused")]:
        done = subprocess.run(
            [str(TRAINWISE), "tune", "good.toml", "--storage", bad, "--study", "kept", "--trials", "3"],
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert done.returncode == 2, done.stderr
        assert done.stderr.startswith("error: cannot open storage postgresql+psycopg://trainwise:***@")
        assert expected in done.stderr and done.stderr.count("\n") == 1 and "Traceback" not in done.stderr
        assert "not-the-password" not in done.stderr and str(url.password) not in done.stderr
    assert snapshot(study) == before
