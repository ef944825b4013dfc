"""The dashboard served for real: pages, JSON, escaping of every user string, the artifact route against path
traversal (plain, encoded, double-encoded, absolute, symlinked), read-only routes, headers, offline plotly.js."""

from __future__ import annotations

import http.client
import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import plotly
import pytest

from tests.dashboard.server import TRAINWISE, dashboard, free_port
from trainwise.dashboard.server import is_loopback
from trainwise.store.runs import RunStore

EVIL = "<script>alert(1)</script>"
SECRET = "top secret: never served"


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("dash")
    url = f"sqlite:///{root / 'trainwise.db'}"
    (root / "secret.txt").write_text(SECRET)
    run_dir = root / "runs" / "r1"
    (run_dir / "checkpoints").mkdir(parents=True)
    (run_dir / "report.html").write_text("<html><body><h1>report of r1</h1></body></html>")
    (run_dir / "summary.json").write_text('{"ok": true}')
    (run_dir / "config.toml").write_text("epochs = 2\n")  # in the run directory, but not an artifact
    (run_dir / "curve.png").write_bytes(b"\x89PNG\r\n\x1a\nfake")
    (run_dir / "leak.json").symlink_to(root / "secret.txt")  # listed as an artifact, but points outside
    store = RunStore(url)
    good = store.start_run(name="good", run_dir=run_dir, task="image", config={"seed": 1})
    for epoch in (1, 2, 3):
        logs: dict[str, Any] = {
            "epoch": epoch,
            "train_loss": 1.0 / epoch,
            "val_loss": 1.2 / epoch,
            "val_accuracy": 0.3 * epoch,
        }
        if epoch == 2:
            logs["autopilot"] = [{"action": "lower_lr", "reason": f"plateau {EVIL}", "step": 20, "factor": 0.5}]
        store.record_epoch(good, logs)
    from trainwise.store.rundir_scan import scan_artifacts

    finding = {"kind": "overfit", "severity": "warning", "title": EVIL, "evidence": EVIL, "remedies": [EVIL]}
    store.finish_run(good, "finished", artifacts=scan_artifacts(run_dir), findings=[finding])
    evil = store.start_run(name=EVIL, run_dir=root / "runs" / "evil", task=EVIL, config={EVIL: EVIL})
    store.record_epoch(evil, {"epoch": 1, "train_loss": 0.5})
    store.tag(evil, EVIL)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    optuna.create_study(study_name="s1", storage=url).optimize(lambda t: t.suggest_float("x", 0, 1), n_trials=3)
    trial = store.start_run(name="trial-0", run_dir=root / "runs" / "t0", study="s1", trial=0, study_storage=url)
    with dashboard(url, root) as base:
        yield {"base": base, "good": good, "evil": evil, "trial": trial, "root": root, "url": url}


def get(site: dict[str, Any], path: str, method: str = "GET") -> tuple[int, dict[str, str], bytes]:
    """A raw request: the path goes on the wire exactly as written (no client-side normalization)."""
    host, port = site["base"].removeprefix("http://").split(":")
    conn = http.client.HTTPConnection(host, int(port), timeout=30)
    conn.putrequest(method, path, skip_accept_encoding=True)
    conn.endheaders()
    response = conn.getresponse()
    body = response.read()
    conn.close()
    return response.status, {k.lower(): v for k, v in response.getheaders()}, body


def test_pages_answer(site: dict[str, Any]) -> None:
    for path in ("/", f"/runs/{site['good']}", f"/compare?ids={site['good']},{site['evil']}", "/studies"):
        status, headers, body = get(site, path)
        assert status == 200, path
        assert headers["content-type"].startswith("text/html") and b"</html>" in body
        assert "script-src 'self'" in headers["content-security-policy"]  # no inline script can run
        assert b"<script>" not in body.replace(b'<script src="/static/', b"")  # our own scripts are files


def test_every_user_string_is_escaped(site: dict[str, Any]) -> None:
    for path in ("/", f"/runs/{site['evil']}", f"/runs/{site['good']}", f"/compare?ids={site['evil']}"):
        _, _, body = get(site, path)
        assert EVIL.encode() not in body, path
    _, _, index = get(site, "/")
    assert index.count(b"&lt;script&gt;alert(1)&lt;/script&gt;") >= 3  # name, task, tag
    _, _, good = get(site, f"/runs/{site['good']}")
    assert good.count(b"&lt;script&gt;alert(1)&lt;/script&gt;") >= 4  # finding title, evidence, remedy, autopilot


def test_runs_table_filters_and_sorts(site: dict[str, Any]) -> None:
    _, _, body = get(site, "/?task=image")
    assert b'data-run-id="%d"' % site["good"] in body and b'data-run-id="%d"' % site["evil"] not in body
    _, _, body = get(site, "/?sort=val_accuracy")
    assert body.index(b'data-run-id="%d"' % site["good"]) < body.index(b'data-run-id="%d"' % site["evil"])
    data = json.loads(get(site, "/api/runs?status=finished")[2])
    assert [r["id"] for r in data["runs"]] == [site["good"]]


def test_epochs_endpoint_returns_only_new_epochs(site: dict[str, Any]) -> None:
    data = json.loads(get(site, f"/api/runs/{site['good']}/epochs?after=1")[2])
    assert [e["epoch"] for e in data["epochs"]] == [2, 3] and data["status"] == "finished"
    assert get(site, "/api/runs/999/epochs")[0] == 404


def test_a_dead_running_run_shows_killed_without_writing(site: dict[str, Any]) -> None:
    data = json.loads(get(site, f"/api/runs/{site['evil']}")[2])
    assert data["status"] == "running"  # its pid is this test process: alive
    done = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True)
    store = RunStore(site["url"])
    ghost = store.start_run(name="ghost", run_dir=site["root"] / "ghost", pid=int(done.stdout))
    data = json.loads(get(site, f"/api/runs/{ghost}")[2])
    assert data["status"] == "killed" and store.status(ghost) == "running"
    store.delete(ghost)


def test_artifacts_are_served_and_reports_sandboxed(site: dict[str, Any]) -> None:
    status, headers, body = get(site, f"/files/{site['good']}/summary.json")
    assert status == 200 and body == b'{"ok": true}'
    status, headers, body = get(site, f"/files/{site['good']}/report.html")
    assert status == 200 and b"report of r1" in body and headers["content-security-policy"].startswith("sandbox")
    _, _, page = get(site, f"/runs/{site['good']}")
    assert b'href="/files/%d/report.html"' % site["good"] in page  # the run page links its report


@pytest.mark.parametrize(
    "path",
    [
        "../secret.txt",
        "../../secret.txt",
        "..%2fsecret.txt",
        "..%2F..%2Fsecret.txt",
        "%2e%2e/secret.txt",
        "%2e%2e%2f%2e%2e%2fsecret.txt",
        "%252e%252e%252fsecret.txt",
        "..%252f..%252fsecret.txt",
        "checkpoints/../../secret.txt",
        "/etc/passwd",
        "%2fetc%2fpasswd",
        "config.toml",
        "leak.json",
        "..\\..\\secret.txt",
    ],
)
def test_no_path_traversal(site: dict[str, Any], path: str) -> None:
    status, _, body = get(site, f"/files/{site['good']}/{path}")
    assert status in (400, 404), (path, status)
    assert SECRET.encode() not in body and b"root:" not in body and b"epochs = 2" not in body


def test_no_path_traversal_in_whole_urls(site: dict[str, Any]) -> None:
    for path in (
        "/files/../secret.txt",
        "/static/../../secret.txt",
        "/static/%2e%2e%2fapp.py",
        "/static/..%2f__init__.py",
    ):
        status, _, body = get(site, path)
        assert status == 404 and SECRET.encode() not in body and b"import" not in body, path


@pytest.mark.parametrize("method", ["POST", "PUT", "DELETE", "PATCH"])
def test_read_only(site: dict[str, Any], method: str) -> None:
    for path in ("/", f"/runs/{site['good']}", f"/api/runs/{site['good']}", f"/files/{site['good']}/summary.json"):
        assert get(site, path, method)[0] == 405, (method, path)
    assert RunStore(site["url"]).status(site["good"]) == "finished"


def test_a_study_page_links_its_trial_runs(site: dict[str, Any]) -> None:
    status, _, body = get(site, "/studies/s1")
    assert status == 200 and b'<a href="/runs/%d">#%d trial-0</a>' % (site["trial"], site["trial"]) in body
    figures = json.loads(get(site, "/api/studies/s1")[2])
    assert figures["history"]["data"][0]["y"] and "message" in figures["pareto"]
    _, _, run_page = get(site, f"/runs/{site['trial']}")
    assert b'href="/studies/s1"' in run_page
    assert get(site, "/studies/nope")[0] == 404 and get(site, "/api/studies/nope")[0] == 404


def test_plotly_js_comes_from_the_installed_package(site: dict[str, Any]) -> None:
    status, headers, body = get(site, "/static/plotly.min.js")
    bundled = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert status == 200 and body == bundled.read_bytes() and "javascript" in headers["content-type"]


def test_loopback_by_default_and_a_warning_otherwise(tmp_path: Path, storage_url: str) -> None:
    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.168.1.5")
    port = free_port()
    env = {**os.environ, "TRAINWISE_STORAGE": storage_url}
    proc = subprocess.Popen(
        [str(TRAINWISE), "dashboard", "--host", "0.0.0.0", "--port", str(port)],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        first = proc.stderr.readline()
        assert first.startswith("warning: the dashboard listens on 0.0.0.0")
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    default = subprocess.run([str(TRAINWISE), "dashboard", "--help"], capture_output=True, text=True, timeout=60)
    assert "default 127.0.0.1" in default.stdout
