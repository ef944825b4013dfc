"""How fast does the dashboard's first page load over 1,000 runs? Printed beside a baseline from the same server.

A fresh store gets N runs (benchmarks/store_fill.py), `trainwise dashboard` starts on a free port, and then:
  GET /static/style.css           baseline: one round trip to the same server (a small static file)
  GET /  (cold)                   the runs table, first request after start (engine, tables, first query)
  GET /  (warm, median)           the runs table (newest 200 of N, with metrics and tags)
  GET /?sort=val_accuracy         sorted by a metric
  browser: goto / until "load"    Debian's Chromium via Playwright (when /usr/bin/chromium exists)
  browser: a run page, charts drawn (plotly.min.js included)
The goal: the first page in under 2 s.

    python benchmarks/dashboard_speed.py [--runs 1000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))

from store_fill import fill

TRAINWISE = str(Path(sys.executable).with_name("trainwise"))
CHROMIUM = Path("/usr/bin/chromium")
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
        "--disable-sync", "--no-first-run"]  # fmt: skip


def get(url: str) -> float:
    start = time.perf_counter()
    with urllib.request.urlopen(url, timeout=60) as response:
        response.read()
    return time.perf_counter() - start


def browser_times(base: str, repeats: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    out: dict[str, list[float]] = {"browser: / until load": [], "browser: run page, charts drawn": []}
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=str(CHROMIUM), args=ARGS)
        context = browser.new_context()  # one profile: plotly.min.js is fetched once, then cached, as for a user
        for _ in range(repeats):
            page = context.new_page()
            start = time.perf_counter()
            page.goto(base + "/", wait_until="load")
            out["browser: / until load"].append(time.perf_counter() - start)
            page.close()
            page = context.new_page()
            start = time.perf_counter()
            page.goto(base + "/runs/1", wait_until="load")
            page.wait_for_function("document.getElementById('curves').dataset.points !== undefined")
            out["browser: run page, charts drawn"].append(time.perf_counter() - start)
            page.close()
        browser.close()
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=1000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'trainwise.db'}"
        fill(url, args.runs)
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "TRAINWISE_STORAGE": url}
        server = subprocess.Popen([TRAINWISE, "dashboard", "--port", str(port)], env=env, stderr=subprocess.PIPE)
        base = f"http://127.0.0.1:{port}"
        try:
            started = time.perf_counter()
            while True:
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.02)
            print(f"dashboard process to listening: {time.perf_counter() - started:.2f} s")
            times: dict[str, list[float]] = {"GET / (cold: first request)": [get(base + "/")]}
            times["GET /static/style.css (baseline)"] = []
            times["GET / (warm)"] = []
            times["GET /?sort=val_accuracy"] = []
            for _ in range(args.repeats):
                times["GET /static/style.css (baseline)"].append(get(base + "/static/style.css"))
                times["GET / (warm)"].append(get(base + "/"))
                times["GET /?sort=val_accuracy"].append(get(base + "/?sort=val_accuracy"))
            if CHROMIUM.exists():
                times.update(browser_times(base, args.repeats))
        finally:
            server.terminate()
            server.wait(timeout=30)
    baseline = statistics.median(times["GET /static/style.css (baseline)"])
    print(f"\n{'what (' + str(args.runs) + ' runs)':40s} {'median s':>9s} {'x baseline':>11s}")
    for name, values in times.items():
        median = statistics.median(values)
        print(f"{name:40s} {median:9.3f} {median / baseline:11.1f}")
    first = max(times["GET / (cold: first request)"][0], statistics.median(times.get("browser: / until load", [0])))
    print(f"\nfirst page: {first:.3f} s ({'under' if first < 2 else 'OVER'} the 2 s goal)")
    print(f"load average while measuring: {os.getloadavg()[0]:.1f} on {os.cpu_count()} cores")


if __name__ == "__main__":
    main()
