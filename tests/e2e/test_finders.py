"""The finder commands at the command line (lr-find, ...): a real subprocess for the good path, and bad input
as one line `error: ...` with exit status 2 that writes nothing (run in-process through `cli.main`)."""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

from trainwise import cli

TRAINWISE = Path(sys.executable).with_name("trainwise")

CONFIG = """# digits, small and fast
task = "image"
epochs = 2
batch_size = 64
threads = 1

[data]
name = "digits"
validation_split = 0.2

[model]
hidden = [16]

[optimizer]
name = "sgd"
learning_rate = 0.5  # a guess
"""


@pytest.fixture
def config(tmp_path: Path) -> Path:
    path = tmp_path / "digits.toml"
    path.write_text(CONFIG)
    return path


def test_lr_find_cli_json_apply_and_files(tmp_path: Path, config: Path) -> None:
    done = subprocess.run(
        [str(TRAINWISE), "lr-find", str(config), "--steps", "40", "--apply", "--json"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    out = tmp_path / "runs" / "digits-lr-find"
    assert result["out"] == str(Path("runs") / "digits-lr-find")
    assert (out / "lr_find.png").is_file() and (out / "config.toml").is_file()
    assert json.loads((out / "lr_find.json").read_text())["suggestion"] == result["suggestion"]
    applied = tomllib.loads(config.read_text())["optimizer"]["learning_rate"]
    assert applied == pytest.approx(result["suggestion"], rel=1e-2)
    assert config.read_text() == CONFIG.replace("learning_rate = 0.5", f"learning_rate = {applied!r}")


def run_main(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str]:
    code = cli.main(args)
    return code, capsys.readouterr().err


@pytest.mark.parametrize(
    ("args", "expect"),
    [
        (["--set", "optimizer.name=sdg"], "optimizer.name"),
        (["--set", "model.nonsense=1"], "model.nonsense"),
        (["--start-lr", "1", "--end-lr", "0.1"], "start_lr"),
        (["--steps", "3"], "steps"),
        (["--set", "data.name=nope"], "nope"),
    ],
)
def test_lr_find_bad_input(
    args: list[str],
    expect: str,
    tmp_path: Path,
    config: Path,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    code, err = run_main(["lr-find", str(config), *args], capsys)
    assert code == 2
    assert err.startswith("error: ") and expect in err and len(err.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()
    assert config.read_text() == CONFIG


def test_lr_find_missing_config(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, err = run_main(["lr-find", str(tmp_path / "none.toml")], capsys)
    assert code == 2 and "not found" in err
