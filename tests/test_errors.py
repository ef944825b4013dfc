"""The error root: one-line messages with where (file, key) first, and the CLI turning them into exit 2."""

from __future__ import annotations

from pathlib import Path

import pytest

import trainwise
from trainwise import cli
from trainwise.errors import ConfigError, DataError, RunError, TrainwiseError, did_you_mean


@pytest.mark.parametrize(
    ("source", "key", "expected"),
    [
        (None, None, "went wrong"),
        ("run.toml", None, "run.toml: went wrong"),
        (None, "optimizer.name", "optimizer.name: went wrong"),
        ("run.toml", "optimizer.name", "run.toml: optimizer.name: went wrong"),
    ],
)
def test_message_starts_with_where(source: str | None, key: str | None, expected: str) -> None:
    error = TrainwiseError("went wrong", source=source, key=key)
    assert str(error) == expected
    assert (error.message, error.source, error.key) == ("went wrong", source, key)


def test_where_can_be_filled_in_later() -> None:
    error = ConfigError("unknown optimizer 'x'", key="optimizer.name")
    error.source = "run.toml"
    assert str(error) == "run.toml: optimizer.name: unknown optimizer 'x'"


@pytest.mark.parametrize("kind", [ConfigError, DataError, RunError])
def test_every_user_error_has_one_root(kind: type[TrainwiseError]) -> None:
    assert issubclass(kind, TrainwiseError)
    assert not issubclass(kind, (ValueError, KeyError, OSError))  # nothing else catches them by accident
    assert getattr(trainwise, kind.__name__) is kind


def test_did_you_mean_lists_sorted_choices_and_the_closest() -> None:
    assert did_you_mean("adamm", ["sgd", "adam", "adamw"]) == "expected one of adam, adamw, sgd; did you mean 'adam'?"


def test_did_you_mean_without_a_close_choice_lists_them_only() -> None:
    assert did_you_mean("zzz", {"sgd": 1, "adam": 2}) == "expected one of adam, sgd"


def test_cli_turns_a_user_error_into_one_line_and_exit_2(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    assert cli.main(["fit", "absent.toml", "--out", "run"]) == cli.EXIT_USAGE == 2
    captured = capsys.readouterr()
    assert captured.err == "error: absent.toml: config file not found\n"
    assert captured.out == ""
    assert not (tmp_path / "run").exists()


def test_cli_prints_a_multiline_message_on_one_line(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "good.toml").write_text("epochs = 1\n", encoding="utf-8")
    assert cli.main(["fit", "good.toml", "--set", "two\nlines=1"]) == 2  # the key itself holds a line break
    assert capsys.readouterr().err == "error: --set: two lines: unknown key\n"


def test_cli_usage_error_is_one_line_and_exit_2(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as caught:
        cli.main(["fit", "x.toml", "--no-such-flag"])
    assert caught.value.code == 2
    assert capsys.readouterr().err == (
        "error: trainwise: unrecognized arguments: --no-such-flag (see trainwise --help)\n"
    )
