"""`trainwise runs ...` and the store's bad input, as a user meets them: the real script in a subprocess.

Bad input (unknown run id, a file that is not a database, a newer schema, a port in use) gives one line
`error: ...`, exit status 2, and leaves the store exactly as it was (compared as a full SQL dump).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from trainwise.cli import main as cli_main
from trainwise.store.runs import RunStore

TRAINWISE = Path(sys.executable).with_name("trainwise")
SLOWFIT = Path(__file__).parents[1] / "store" / "slowfit.py"


def cli(*args: str | Path, url: str, cwd: Path, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "TRAINWISE_STORAGE": url}
    return subprocess.run(
        [str(TRAINWISE), *map(str, args)], capture_output=True, text=True, cwd=cwd, env=env, input=stdin, timeout=300
    )


def main(*args: str | Path, capsys: pytest.CaptureFixture[str], stdin: str = "") -> tuple[int, str, str]:
    """The same command through `cli.main` in this process (no interpreter start): for the wider coverage."""
    import io

    capsys.readouterr()
    old = sys.stdin
    sys.stdin = io.StringIO(stdin)
    try:
        code = cli_main([str(a) for a in args])
    finally:
        sys.stdin = old
    out, err = capsys.readouterr()
    return code, out, err


def dump(path: Path) -> str:
    """Every row of every table: what "nothing changed" is checked against (WAL files included)."""
    with sqlite3.connect(path) as conn:
        return "\n".join(conn.iterdump())


def populate(url: str, tmp: Path) -> list[int]:
    store = RunStore(url)
    ids = []
    for i, (task, acc) in enumerate([("image", 0.7), ("text", 0.9), ("image", 0.8)]):
        run_id = store.start_run(name=f"run{i}", run_dir=tmp / f"run{i}", task=task, config={"seed": i, "epochs": 2})
        for epoch in (1, 2):
            logs = {
                "epoch": epoch,
                "train_loss": 1 / epoch + i,
                "val_loss": 1.1 / epoch,
                "val_accuracy": acc * epoch / 2,
            }
            store.record_epoch(run_id, logs)
        store.finish_run(run_id, "finished", stopped_reason="completed")
        ids.append(run_id)
    return ids


def test_fit_records_the_run_unless_no_store(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    lines = ["a,b,label", *(f"{i % 3 + 0.1 * i % 1:.2f},{(i * 7) % 5},{i % 3}" for i in range(60))]
    (tmp_path / "data.csv").write_text("\n".join(lines) + "\n")
    config = 'task = "tabular"\nepochs = 2\nbatch_size = 16\n\n[data]\npath = "data.csv"\nlabel = "label"\n'
    (tmp_path / "tab.toml").write_text(config + "\n[model]\nhidden = [8]\n")
    assert main("fit", "tab.toml", "--out", "kept", "--quiet", capsys=capsys)[0] == 0
    assert main("fit", "tab.toml", "--out", "skipped", "--quiet", "--no-store", capsys=capsys)[0] == 0
    listed = json.loads(cli("runs", "ls", "--json", url=storage_url, cwd=tmp_path).stdout)  # the real script
    assert [r["name"] for r in listed["runs"]] == ["kept"]
    assert listed["runs"][0]["status"] == "finished" and listed["runs"][0]["epochs"] == 2


def test_runs_commands(
    tmp_path: Path, storage_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    ids = populate(storage_url, tmp_path)

    def run(*args: str, stdin: str = "") -> tuple[int, str, str]:
        return main("runs", *args, capsys=capsys, stdin=stdin)

    def js(*args: str) -> Any:
        code, out, err = run(*args, "--json")
        assert code == 0, err
        return json.loads(out)

    assert [r["id"] for r in js("ls", "--sort", "val_accuracy")["runs"]] == [ids[1], ids[2], ids[0]]
    assert [r["id"] for r in js("ls", "--task", "image", "--limit", "1")["runs"]] == [ids[2]]
    assert js("ls", "--status", "killed")["total"] == 0
    code, table, _ = run("ls")
    assert code == 0 and "3 runs" in table and "run1" in table
    shown = js("show", str(ids[1]))
    assert shown["config"] == {"seed": 1, "epochs": 2} and len(shown["history"]) == 2
    assert run("show", str(ids[1]))[1].startswith(f"run {ids[1]} run1")
    assert js("tag", str(ids[0]), "baseline")["added"] is True
    assert [r["id"] for r in js("ls", "--tag", "baseline")["runs"]] == [ids[0]]
    csv_out = run("export", str(ids[0]), "--format", "csv")[1].splitlines()
    assert csv_out[0] == "epoch,train_loss,val_loss,val_accuracy" and len(csv_out) == 3
    assert json.loads(run("export", str(ids[0]), "--format", "json")[1])["tags"] == ["baseline"]
    compared = js("compare", str(ids[0]), str(ids[1]), "--out", "cmp")
    assert compared["config"] == {"seed": [0, 1]}  # epochs is the same in both: not shown
    assert compared["metrics"]["val_accuracy"] == [0.7, 0.9] and compared["summary"]["best val_accuracy run"] == ids[1]
    png = tmp_path / "cmp" / "runs_compare.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and (tmp_path / "cmp" / "runs_compare.json").is_file()
    assert run("rm", str(ids[2]), stdin="n\n")[0] == 1 and js("ls")["total"] == 3
    assert run("rm", str(ids[2]), "--yes")[0] == 0 and [r["id"] for r in js("ls")["runs"]] == [ids[1], ids[0]]
    # the real script, once: same answers
    real = cli("runs", "ls", "--json", "--sort", "val_accuracy", url=storage_url, cwd=tmp_path)
    assert [r["id"] for r in json.loads(real.stdout)["runs"]] == [ids[1], ids[0]]


UNKNOWN_ID_COMMANDS = [
    ("runs", "show", "99"),
    ("runs", "rm", "99", "--yes"),
    ("runs", "tag", "99", "x"),
    ("runs", "export", "99", "--format", "csv"),
    ("runs", "compare", "1", "99"),
]


@pytest.mark.parametrize("args", UNKNOWN_ID_COMMANDS, ids=[a[1] for a in UNKNOWN_ID_COMMANDS])
def test_unknown_run_id(
    args: tuple[str, ...],
    tmp_path: Path,
    storage_url: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.chdir(tmp_path)
    populate(storage_url, tmp_path)
    before = dump(tmp_path / "trainwise.db")
    if args[1] == "show":  # the real script once; the others through cli.main
        proc = cli(*args, url=storage_url, cwd=tmp_path)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        code, out, err = main(*args, "--storage", storage_url, capsys=capsys)
    assert code == 2 and out == ""
    assert err.count("\n") == 1 and err.startswith("error: ") and "unknown run id 99" in err
    assert dump(tmp_path / "trainwise.db") == before
    assert not (tmp_path / "runs_compare.png").exists()


def bad_store(kind: str, tmp: Path) -> tuple[Path, str]:
    if kind == "not-a-database":
        path = tmp / "notes.db"
        path.write_text("my notes\n" * 500)
        return path, "not a database"
    path = tmp / "newer.db"
    RunStore(f"sqlite:///{path}")
    with sqlite3.connect(path) as conn:
        conn.execute("UPDATE tw_schema_version SET version = 42")
    with sqlite3.connect(path) as conn:
        conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # all in the main file: its bytes are the whole store
    return path, "schema version 42, newer than this trainwise knows"


@pytest.mark.parametrize("kind", ["not-a-database", "newer-schema"])
@pytest.mark.parametrize("command", [("runs", "ls"), ("runs", "show", "1"), ("runs", "tag", "1", "x"), ("dashboard",)])
def test_a_bad_store_file(
    kind: str, command: tuple[str, ...], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path, expected = bad_store(kind, tmp_path)
    before = path.read_bytes()
    args = (*command, "--storage", f"sqlite:///{path}")
    if command == ("runs", "ls"):  # the real script for the command users run most; cli.main for the others
        proc = cli(*args, url="sqlite:///unused.db", cwd=tmp_path)
        code, out, err = proc.returncode, proc.stdout, proc.stderr
    else:
        code, out, err = main(*args, capsys=capsys)
    assert code == 2 and out == ""
    assert err.startswith("error: ") and err.count("\n") == 1 and expected in err
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir() if not p.name.startswith(path.name)) == []


def test_dashboard_on_a_port_in_use(tmp_path: Path, storage_url: str) -> None:
    populate(storage_url, tmp_path)
    before = dump(tmp_path / "trainwise.db")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        out = cli("dashboard", "--port", str(port), url=storage_url, cwd=tmp_path)
    assert out.returncode == 2 and out.stderr == f"error: port {port} on 127.0.0.1 is in use; pass another --port\n"
    assert dump(tmp_path / "trainwise.db") == before


def test_a_run_killed_with_sigkill_shows_killed_at_the_next_ls(tmp_path: Path, storage_url: str) -> None:
    env = {**os.environ, "TRAINWISE_STORAGE": storage_url}
    proc = subprocess.Popen([sys.executable, str(SLOWFIT), str(tmp_path / "run"), "200", "0.2"], env=env)
    try:
        deadline, run = time.time() + 120, None
        while time.time() < deadline:
            rows, _ = RunStore(storage_url).list_runs()
            if rows and rows[0]["epochs"] >= 2:
                run = rows[0]
                break
            time.sleep(0.2)
        assert run is not None and run["status"] == "running"
        listed = json.loads(cli("runs", "ls", "--json", url=storage_url, cwd=tmp_path).stdout)
        assert listed["runs"][0]["status"] == "running"  # alive: the pid check leaves it alone
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.wait()
    assert proc.returncode == -signal.SIGKILL
    listed = json.loads(cli("runs", "ls", "--json", url=storage_url, cwd=tmp_path).stdout)
    run = listed["runs"][0]
    assert run["status"] == "killed" and 2 <= run["epochs"] < 200
    assert RunStore(storage_url).status(run["id"]) == "killed"  # written, not only shown


def test_narrow_terminals_leave_columns_out_instead_of_cutting_values() -> None:
    from trainwise.cli_runs import fit_columns

    columns = {
        "id": ["12", "3"],
        "name": ["digits-long-name", "b"],
        "task": ["image", "image"],
        "status": ["finished", "killed"],
        "started": ["2026-11-26 08:53:18", "-"],
        "epochs": ["10", "3"],
        "val_accuracy": ["0.9756", "0.8"],
        "val_loss": ["0.1234", "0.5"],
        "train_loss": ["0.0123", "0.7"],
        "tags": ["", ""],
    }
    metrics = ["val_accuracy", "val_loss", "train_loss"]
    kept, hidden = fit_columns(columns, [1.8e9, None], metrics, 200)
    assert kept == columns and hidden == []
    kept, hidden = fit_columns(columns, [1.8e9, None], metrics, 90)
    assert hidden == ["tags", "task", "train_loss"]  # the start time was shortened before a metric went
    assert kept["started"][1] == "-" and len(kept["started"][0]) == len("11-26 08:53")
    assert all(kept[name] == columns[name] for name in kept if name != "started")  # values are whole
    kept, hidden = fit_columns(columns, [1.8e9, None], metrics, 40)
    assert list(kept) == ["id", "name", "status", "val_accuracy"]  # what always stays
    empty = {name: [] for name in columns}
    assert fit_columns(empty, [], metrics, 80)[0]["id"] == []  # an empty store lists its headers


def test_runs_ls_in_an_80_column_terminal_shows_every_value_whole(tmp_path: Path, storage_url: str) -> None:
    """A real terminal (a pty) 80 columns wide: the table used to cut names, dates and numbers to `0.86…`."""
    populate(storage_url, tmp_path)
    out = in_terminal(["runs", "ls"], storage_url, tmp_path, columns=80)
    assert "…" not in out and all(len(line) <= 80 for line in out.splitlines())
    for name, value in (("run0", "0.7"), ("run1", "0.9"), ("run2", "0.8")):
        assert any(name in line and value in line for line in out.splitlines())
    assert "not shown at 80 columns" in out and "--json has every field" in out


def test_runs_compare_in_an_80_column_terminal_cuts_nothing(tmp_path: Path, storage_url: str) -> None:
    """Five runs side by side: a long key folds onto the next line instead of `model.dro…`, and config floats
    read like the metrics (0.1651, not 0.16513642...)."""
    store = RunStore(storage_url)
    ids = []
    for i in range(5):
        config = {"optimizer": {"learning_rate": 0.0032923 * (i + 1)}, "regularization": {"label_smoothing": 0.1 * i}}
        run_id = store.start_run(name=f"trial-{i}", run_dir=tmp_path / f"r{i}", task="image", config=config)
        store.record_epoch(run_id, {"epoch": 1, "val_accuracy": 0.8 + i / 100, "train_loss": 1.0 / (i + 1)})
        store.finish_run(run_id, "finished", stopped_reason="completed")
        ids.append(str(run_id))
    out = in_terminal(["runs", "compare", *ids, "--out", "cmp.png"], storage_url, tmp_path, columns=80)
    assert "…" not in out and all(len(line) <= 80 for line in out.splitlines())
    assert "0.003292 " in out and "0.01646 " in out  # four significant digits, as the metrics have
    keys = "".join(line.split("│")[1].strip() for line in out.splitlines() if line.startswith("│"))
    assert "regularization.label_smoothing" in keys and "optimizer.learning_rate" in keys  # folded, not cut
    same = [str(store.start_run(name=f"same-{i}", run_dir=tmp_path / f"s{i}", task="image", config={})) for i in "ab"]
    assert "runs compared" in in_terminal(["runs", "compare", *same], storage_url, tmp_path, columns=80)  # no rows


def in_terminal(args: list[str], url: str, cwd: Path, columns: int) -> str:
    """The real script's output in a pseudo-terminal `columns` wide (rich then sizes its tables to it)."""
    import pty

    master, slave = pty.openpty()
    env = {**os.environ, "TRAINWISE_STORAGE": url, "COLUMNS": str(columns), "TERM": "dumb", "NO_COLOR": "1"}
    done = subprocess.run(
        [str(TRAINWISE), *args], stdout=slave, stderr=subprocess.PIPE, cwd=cwd, env=env, timeout=120, check=False
    )
    os.close(slave)
    chunks = []
    while True:
        try:
            chunk = os.read(master, 65536)
        except OSError:  # the other end is closed and everything was read
            break
        if not chunk:
            break
        chunks.append(chunk)
    os.close(master)
    assert done.returncode == 0, done.stderr
    return b"".join(chunks).decode()
