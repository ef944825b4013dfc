"""The dashboard in a real browser (Debian's Chromium driven by Playwright) while a real run trains.

A dashboard subprocess and a slowed `trainwise.fit` subprocess share a store that also holds a tiny real Optuna
study (single- and multi-objective). The runs table must list the run, its curve must gain points while it
trains, the study pages must draw their plotly charts, a run named `<script>alert(1)</script>` must render as
text, and the browser console must stay free of errors. A screenshot of each page is saved (see SHOTS).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest

from tests.dashboard.server import dashboard
from trainwise.store.runs import RunStore

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SLOWFIT = Path(__file__).parents[1] / "store" / "slowfit.py"
EVIL = "<script>alert(1)</script>"

pytestmark = [
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Debian's chromium is not installed at /usr/bin/chromium"),
    pytest.mark.slow,
]


def make_studies(url: str) -> None:
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    single = optuna.create_study(study_name="tiny", storage=url, sampler=optuna.samplers.RandomSampler(seed=0))
    single.optimize(lambda t: (t.suggest_float("x", -3, 3) - 1) ** 2 + t.suggest_float("y", 0, 1), n_trials=10)
    multi = optuna.create_study(
        study_name="two goals",
        storage=url,
        directions=["minimize", "minimize"],
        sampler=optuna.samplers.RandomSampler(0),
    )
    multi.optimize(
        lambda t: (t.suggest_float("a", 0, 1), (1 - t.params["a"]) ** 2 + t.suggest_float("b", 0, 1)), n_trials=10
    )


def points(page: Any) -> int:
    return int(page.get_attribute("#curves", "data-points") or 0)


def test_dashboard_in_a_real_browser(tmp_path: Path, storage_url: str) -> None:
    from playwright.sync_api import sync_playwright

    shots = Path(os.environ.get("TRAINWISE_SHOTS", tmp_path))
    shots.mkdir(parents=True, exist_ok=True)
    make_studies(storage_url)
    store = RunStore(storage_url)
    evil = store.start_run(name=EVIL, run_dir=tmp_path / "evil", task="image")
    store.finish_run(evil, "finished")
    env = {**os.environ, "TRAINWISE_STORAGE": storage_url}
    fit = subprocess.Popen(
        [sys.executable, str(SLOWFIT), str(tmp_path / "live"), "12", "1.0", "live"],
        env=env,
        cwd=tmp_path,
        stderr=subprocess.PIPE,
        text=True,
    )
    errors: list[str] = []
    dialogs: list[str] = []
    try:
        with dashboard(storage_url, tmp_path) as base, sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
            page.on("pageerror", lambda exc: errors.append(str(exc)))
            page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))

            # the runs table lists the live run (it appears once fit has started recording)
            deadline = time.time() + 120
            while time.time() < deadline:
                page.goto(base + "/")
                if page.locator("#runs td.name", has_text="live").count():
                    break
                time.sleep(0.5)
            row = page.locator("#runs tr", has_text="live")
            assert row.locator("td.status").inner_text() == "running"
            assert page.locator("#runs td.name a", has_text="alert").inner_text() == EVIL  # text, not markup
            page.screenshot(path=str(shots / "dashboard-runs.png"), full_page=True)

            # its curve gains points while it trains
            row.locator("td.name a").click()
            page.wait_for_url("**/runs/*")
            page.wait_for_function("Number(document.getElementById('curves').dataset.points) >= 1", timeout=60_000)
            first = points(page)
            page.wait_for_function(
                f"Number(document.getElementById('curves').dataset.points) >= {first + 2}", timeout=60_000
            )
            drawn = page.evaluate("document.getElementById('curve-loss').data[0].x.length")
            assert drawn >= first + 2 and page.inner_text("#run-status") == "running"
            page.screenshot(path=str(shots / "dashboard-run-live.png"), full_page=True)
            fit.wait(timeout=120)
            assert fit.returncode == 0, fit.stderr.read() if fit.stderr else ""
            page.wait_for_function("document.getElementById('curves').dataset.status === 'finished'", timeout=30_000)
            assert points(page) == 12

            # the overlay of several runs
            page.goto(base + "/")
            for box in page.locator("#runs input[type=checkbox]").all():
                box.check()
            page.locator("#overlay button").click()
            page.wait_for_url("**/compare?*")
            page.wait_for_function("document.getElementById('overlay-charts').dataset.points !== undefined")
            assert page.evaluate("document.getElementById('overlay-loss').data.length") >= 2

            # study pages draw their plotly charts
            page.goto(base + "/studies")
            assert page.locator("#studies a", has_text="tiny").count() == 1
            page.locator("#studies a", has_text="tiny").click()
            page.wait_for_url("**/studies/tiny")
            page.wait_for_selector("#study[data-loaded='1']", timeout=60_000)
            for key in ("history", "importance", "parallel"):
                assert page.get_attribute(f"#study-{key}", "data-drawn") == "1", key
                assert page.locator(f"#study-{key} .main-svg").count() >= 1, key
            assert "single-objective" in page.inner_text("#study-pareto")
            page.screenshot(path=str(shots / "dashboard-study.png"), full_page=True)
            page.goto(base + "/studies/two%20goals")
            page.wait_for_selector("#study[data-loaded='1']", timeout=60_000)
            assert page.get_attribute("#study-pareto", "data-drawn") == "1"
            assert page.evaluate("document.getElementById('study-pareto').data[0].x.length") >= 1
            page.screenshot(path=str(shots / "dashboard-pareto.png"), full_page=True)

            # the escaped run page
            page.goto(f"{base}/runs/{evil}")
            assert page.inner_text("h1 .name") == EVIL
            browser.close()
    finally:
        if fit.poll() is None:
            fit.kill()
            fit.wait()
    assert dialogs == []  # no injected script ran
    assert errors == []
    shutil.copy(shots / "dashboard-run-live.png", tmp_path / "last-screenshot.png")
