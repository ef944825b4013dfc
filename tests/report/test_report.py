"""The HTML report: one self-contained file (nothing fetched, every string escaped) with the run's outcome,
findings, autopilot actions, curves, the other commands' results and the facts; and it renders in Chromium."""

from __future__ import annotations

import base64
import json
import re
import shutil
from pathlib import Path
from typing import Any

import pytest

import trainwise
from trainwise.errors import RunError
from trainwise.report.plots import run_plots

CHROMIUM = Path("/usr/bin/chromium")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A short digits run that overfits, with an autopilot action written into one epoch's line, a hostile
    name, and an lr_find result (JSON with a summary + PNG) beside it."""
    folder = tmp_path_factory.mktemp("report") / "run"
    trainwise.fit(
        {
            "task": "image",
            "name": "<script>alert(1)</script>",
            "epochs": 4,
            "threads": 1,
            "data": {"name": "digits", "validation_split": 0.8},
            "model": {"hidden": [256]},
            "optimizer": {"learning_rate": 3e-3},
        },
        out=folder,
        progress="off",
    )
    lines = [json.loads(line) for line in (folder / "history.jsonl").read_text().splitlines()]
    lines[2]["autopilot"] = [
        {"action": "cut_lr", "reason": "plateau <b>&</b>", "step": 9, "lr_before": 3e-3, "lr_after": 3e-4}
    ]
    (folder / "history.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    summary = {"suggested_learning_rate": 0.0042, "rule": "<i>steepest</i> / 10"}
    (folder / "lr_find.json").write_text(json.dumps({"summary": summary, "lrs": [1e-5, 1e-1]}))
    (folder / "lr_find.png").write_bytes(run_plots(lines, 2)["loss"])
    (folder / "notes.json").write_text(json.dumps({"no": "summary"}))  # not a command's result: left out
    finding = {
        "kind": "overfitting",
        "severity": "warning",
        "title": "overfitting since epoch <2>",
        "evidence": "val_loss rose 12% & more",
        "remedies": ["--set model.dropout=0.3  # randomly silence hidden units"],
    }
    (folder / "findings.json").write_text(json.dumps({"findings": [finding]}))
    return folder


def test_the_report_is_one_self_contained_file(run_dir: Path, tmp_path: Path) -> None:
    out = trainwise.report(run_dir, tmp_path / "r.html")
    assert out == tmp_path / "r.html"
    html = out.read_text(encoding="utf-8")
    text = re.sub(r"data:image/png;base64,[A-Za-z0-9+/=]+", "", html)
    for address in ("http:", "https:", "//", "url(", "@import", "<link", "<script", "<iframe"):
        assert address not in text.lower(), address  # nothing that could make the browser fetch
    sources = re.findall(r"src='([^']*)'", html)
    assert sources and all(s.startswith("data:image/png;base64,") for s in sources)
    for source in sources:
        assert base64.b64decode(source.split(",", 1)[1]).startswith(PNG_MAGIC)


def test_the_report_shows_outcome_findings_actions_results_config_and_facts(run_dir: Path) -> None:
    html = trainwise.report(run_dir).read_text(encoding="utf-8")
    assert (run_dir / "report.html").is_file()
    summary = json.loads((run_dir / "summary.json").read_text())
    assert "overfitting since epoch &lt;2&gt;" in html and "val_loss rose 12% &amp; more" in html
    assert "--set model.dropout=0.3  # randomly silence hidden units" in html
    assert f"<b>{summary['best_epoch']} (val_loss " in html
    assert "plateau &lt;b&gt;&amp;&lt;/b&gt;" in html and "0.003 → 0.0003" in html  # the action, escaped
    assert "lr find" in html and "suggested_learning_rate" in html and "0.0042" in html
    assert "&lt;i&gt;steepest&lt;/i&gt;" in html and "notes" not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html  # the run's name, in the config, escaped
    facts = json.loads((run_dir / "facts.json").read_text())
    assert facts["system"]["torch"] in html and facts["system"]["host"] in html
    assert html.count("<img") == 2 + 1 + 1  # loss, accuracy, learning rate, lr_find


def test_a_run_directory_without_history_is_refused(tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(RunError, match=r"no history\.jsonl"):
        trainwise.report(tmp_path / "empty")
    assert not (tmp_path / "empty" / "report.html").exists()


def test_the_report_renders_in_chromium(run_dir: Path, tmp_path: Path) -> None:
    if not CHROMIUM.is_file():
        pytest.skip("Debian's chromium is not installed at /usr/bin/chromium (CI installs it)")
    playwright = pytest.importorskip("playwright.sync_api")
    page_file = trainwise.report(run_dir, tmp_path / "report.html")
    failed: list[str] = []
    errors: list[str] = []
    requests: list[str] = []
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(
            executable_path=str(CHROMIUM),
            args=[
                "--no-sandbox",
                "--disable-gpu",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--no-first-run",
            ],
        )
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("requestfailed", lambda request: failed.append(request.url))
            page.on("request", lambda request: requests.append(request.url))
            page.on("console", lambda message: errors.append(message.text) if message.type == "error" else None)
            page.on("pageerror", lambda error: errors.append(str(error)))
            page.goto(page_file.as_uri(), wait_until="load")
            widths: list[Any] = page.eval_on_selector_all("img", "images => images.map(i => i.naturalWidth)")
            title = page.title()
            page.screenshot(path=str(tmp_path / "report.png"), full_page=True)
        finally:
            browser.close()
    assert failed == [] and errors == []
    assert [url for url in requests if not url.startswith("data:")] == [page_file.as_uri()]
    assert len(widths) == 4 and all(width > 0 for width in widths)
    assert title.startswith("trainwise report")
    assert (tmp_path / "report.png").read_bytes().startswith(PNG_MAGIC)


def test_the_report_survives_a_run_without_facts_or_findings(run_dir: Path, tmp_path: Path) -> None:
    bare = tmp_path / "bare"
    bare.mkdir()
    shutil.copy(run_dir / "history.jsonl", bare / "history.jsonl")
    html = trainwise.report(bare).read_text(encoding="utf-8")
    assert "Diagnosis" in html and "Curves" in html and "Data and system" not in html
