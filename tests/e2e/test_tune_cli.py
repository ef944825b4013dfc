"""`trainwise tune` and `trainwise report STUDY` as a user runs them: bad input is one line and exit 2, Ctrl-C
saves and exits 130, kill -9 loses no completed trial, and two workers really run at once."""

from __future__ import annotations

import itertools
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from trainwise import cli

TRAINWISE = Path(sys.executable).with_name("trainwise")

CONFIG = """
task = "image"
epochs = {epochs}
batch_size = 128
seed = 0
threads = 1

[data]
name = "digits"
validation_split = 0.2

[model]
name = "mlp"
hidden = [16]

[search]
metric = "val_accuracy"
"optimizer.learning_rate" = {{ low = 1e-3, high = 3e-2, log = true }}
{extra}
"""


def write_config(folder: Path, epochs: int = 2, extra: str = "", name: str = "study.toml") -> Path:
    path = folder / name
    path.write_text(CONFIG.format(epochs=epochs, extra=extra))
    return path


def run(args: list[str], cwd: Path, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(TRAINWISE), *args], cwd=cwd, capture_output=True, text=True, timeout=timeout)


def trials_of(url: str, study: str = "study") -> list[optuna.trial.FrozenTrial]:
    return optuna.load_study(study_name=study, storage=url).get_trials()


# --- bad input: one line, exit 2, nothing stored ---------------------------------------------------------


@pytest.mark.parametrize(
    ("extra", "expected"),
    [
        ('"model.dropout" = { low = 0.5, high = 0.1 }', "search.model.dropout: low must be < high"),
        ('"optimizer.eps" = { low = 0.0, high = 1e-6, log = true }', "search.optimizer.eps: a log range needs low > 0"),
        ('"optimizer.name" = { choices = [] }', "search.optimizer.name: choices must be a non-empty list"),
        ('"model.dropout" = { low = 0.0, hi = 0.5 }', "search.model.dropout: unknown key 'hi'"),
        ('"model.dropuot" = { low = 0.0, high = 0.5 }', "the recipe has no key 'model.dropuot'"),
    ],
)
def test_search_space_errors(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str], extra: str, expected: str
) -> None:
    config = write_config(tmp_path, extra=extra)
    assert cli.main(["tune", str(config), "--trials", "1"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1
    assert "study.toml" in err  # names the file too
    assert not Path(storage_url.removeprefix("sqlite:///")).exists()  # nothing stored


@pytest.mark.parametrize(
    ("args", "expected"),
    [
        (["--storage", "sqlite:////nonexistent/dir/x.db"], "folder /nonexistent/dir does not exist"),
        (["--storage", "nonsense://"], "cannot open storage nonsense://"),
        (["--storage", "postgresql://nobody:secret@127.0.0.1:1/x"], "cannot open storage postgresql://nobody:***@"),
        (["--budget", "soon"], "budget must be a time such as 90s"),
        (["--sampler", "tpee"], "did you mean 'tpe'"),
        (["--pruner", "medain"], "did you mean 'median'"),
        (["--trials", "0"], "trials must be >= 1"),
        (["--workers", "0"], "workers must be >= 1"),
    ],
)
def test_bad_options_and_storage_urls(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], args: list[str], expected: str
) -> None:
    config = write_config(tmp_path)
    assert cli.main(["tune", str(config), "--trials", "1", *args]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: ") and expected in err and err.count("\n") == 1
    assert "secret" not in err


def test_bad_storage_url_from_the_real_script_has_no_traceback(tmp_path: Path) -> None:
    config = write_config(tmp_path)
    done = run(["tune", str(config), "--storage", "postgresql://nobody@127.0.0.1:1/x"], tmp_path, timeout=120)
    assert done.returncode == 2
    assert done.stderr.startswith("error: cannot open storage postgresql://nobody@127.0.0.1:1/x")
    assert "Traceback" not in done.stderr and done.stderr.count("\n") == 1
    assert not (tmp_path / "runs").exists()


def test_report_of_an_unknown_study(storage_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert cli.main(["report", "nope", "--storage", storage_url]) == 2
    assert "no study 'nope'" in capsys.readouterr().err


# --- the real thing ------------------------------------------------------------------------------------


@pytest.mark.slow
def test_tune_json_export_fit_and_report(tmp_path: Path, storage_url: str) -> None:
    config = write_config(tmp_path)
    done = run(["tune", str(config), "--trials", "3", "--pruner", "none", "--export", "best.toml", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["counts"]["complete"] == 3 and result["exported"] == "best.toml"
    assert result["summary"]["best trial"] == result["best"]["number"]
    refit = run(["fit", "best.toml", "--json", "--out", "refit"], tmp_path)
    assert refit.returncode == 0, refit.stderr
    history = json.loads(refit.stdout)["history"]
    assert max(e["val_accuracy"] for e in history) == result["best"]["values"][0]
    report = run(["report", "study", "--storage", storage_url], tmp_path)
    assert report.returncode == 0, report.stderr
    page = Path(tmp_path / report.stdout.strip())
    assert page.name == "report.html" and "data:image/png;base64," in page.read_text()


def _wait_for(predicate: object, timeout: float = 180) -> None:
    end = time.time() + timeout
    while time.time() < end:
        if predicate():  # type: ignore[operator]
            return
        time.sleep(0.3)
    raise AssertionError("timed out")


def _complete(url: str) -> list[optuna.trial.FrozenTrial]:
    try:
        return [t for t in trials_of(url) if t.state.name == "COMPLETE"]
    except KeyError:
        return []


@pytest.mark.slow
def test_kill_9_loses_no_completed_trial_and_the_same_command_continues(tmp_path: Path, storage_url: str) -> None:
    config = write_config(tmp_path, epochs=3)
    args = ["tune", str(config), "--trials", "40", "--pruner", "none", "--json"]
    proc = subprocess.Popen([str(TRAINWISE), *args], cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        _wait_for(lambda: len(_complete(storage_url)) >= 3)
        before = {t.number: t.value for t in _complete(storage_url)}
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    after = {t.number: t.value for t in _complete(storage_url)}
    assert before.items() <= after.items()  # every trial completed before the kill is still there, unchanged
    total = len(trials_of(storage_url))
    stuck = [t.number for t in trials_of(storage_url) if t.state.name == "RUNNING"]  # killed mid-trial (if it was)
    # the killed trial holds its slot until its heartbeat is --grace seconds old (here: at once), then it is retried
    again = ["--trials", str(len(after) + 1), "--pruner", "none", "--json", "--heartbeat", "1", "--grace", "2"]
    resumed = run(["tune", str(config), *again], tmp_path)
    assert resumed.returncode == 0, resumed.stderr
    final = trials_of(storage_url)
    assert len(final) == total + 1  # one new trial: the done ones counted, the killed one failed and retried
    assert final[-1].state.name == "COMPLETE"
    assert [t.system_attrs["failed_trial"] for t in final if "failed_trial" in t.system_attrs] == stuck


@pytest.mark.slow
def test_ctrl_c_saves_the_study_and_exits_130(tmp_path: Path, storage_url: str) -> None:
    config = write_config(tmp_path, epochs=30)
    proc = subprocess.Popen(
        [str(TRAINWISE), "tune", str(config), "--trials", "50", "--pruner", "none"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        _wait_for(lambda: len(_complete(storage_url)) >= 1)
        time.sleep(0.5)
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 130, err
    assert "interrupted: study 'study' is saved" in err and "Traceback" not in err
    trials = trials_of(storage_url)
    assert all(t.state.name != "RUNNING" for t in trials)
    abandoned = [t for t in trials if t.state.name == "FAIL"]
    assert len(abandoned) <= 1 and all(t.user_attrs.get("interrupted") for t in abandoned)
    assert (tmp_path / "runs" / "study" / "tune.json").is_file()


@pytest.mark.slow
def test_two_workers_run_trials_at_the_same_time_and_lose_nothing(tmp_path: Path, storage_url: str) -> None:
    config = write_config(tmp_path, epochs=6)
    done = run(["tune", str(config), "--trials", "8", "--workers", "2", "--pruner", "none", "--json"], tmp_path)
    assert done.returncode == 0, done.stderr
    trials = trials_of(storage_url)
    assert len(trials) == 8 and all(t.state.name == "COMPLETE" for t in trials)  # exactly: workers take slots
    spans = sorted((t.datetime_start, t.datetime_complete) for t in trials)
    overlapping = sum(1 for a, b in itertools.pairwise(spans) if b[0] < a[1])
    assert overlapping >= 2, "trials of two processes overlap in time"
    for t in trials:
        run_dir = tmp_path / t.user_attrs["run_dir"]
        assert json.loads((run_dir / "summary.json").read_text())["epochs_completed"] == 6
    assert os.cpu_count()


def test_leaderboard_labels_are_short_and_unambiguous() -> None:
    from trainwise.cli_tune import short_names

    keys = ["optimizer.learning_rate", "optimizer.name", "model.dropout", "batch_size", "data.dropout", "model.name"]
    assert short_names(keys) == {
        "optimizer.learning_rate": "lr",
        "optimizer.name": "optimizer",
        "model.name": "model",
        "batch_size": "batch_size",
        "model.dropout": "model.dropout",  # two keys end in dropout: both keep their full names
        "data.dropout": "data.dropout",
    }


def test_the_leaderboard_shows_every_value_in_an_80_column_terminal(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The learning rate was cut to `optimizer.learning_…` at 80 columns: the one value a user looks for. Every
    value shows, whole (a number folded over two lines would not be found below)."""
    monkeypatch.setenv("COLUMNS", "80")
    extra = '"model.dropout" = { low = 0.0, high = 0.5 }\n"optimizer.name" = { choices = ["adam", "sgd"] }'
    config = write_config(tmp_path, epochs=1, extra=extra)
    assert cli.main(["tune", str(config), "--trials", "2", "--pruner", "none"]) == 0
    out = capsys.readouterr().out
    table = out[: out.index("trials:")]
    assert "…" not in table
    lines = [line for line in table.splitlines() if " lr=" in line]
    assert len(lines) == 2 and all(line.split(" lr=")[1][:2] == "0." for line in lines)
    assert all(len(line) <= 80 for line in table.splitlines())
    rates = {f"{t.params['optimizer.learning_rate']:.3g}" for t in trials_of(storage_url)}
    assert all(rate in table for rate in rates)
