"""Benchmark of `statelab serve`, measured through a real browser (the system's headless Chromium).

    python bench/bench_web.py [--screenshots docs/screenshots]   # prints a section for RESULTS.md

For a cold and then a warm JAX compilation cache, a fresh `statelab serve` process is started,
and Chromium (driven by Playwright) measures from the click on Run to the verdict on the page:
- the first reference run (the form's defaults: `statelab run` with no flags), clicked once the
  server has been up UP_S seconds (it compiles the reference run's programs in the background as
  it starts: with a cold cache, this is the warm start's figure);
- repeats of a same-shape config: the same config again, and another model seed (median of 5);
- the 25-point sweep (the store page's default axes, tsteps 1:6 x lahead 1:6, one seed, reference
  size) from the click on Launch until all 25 cells of its heatmap are drawn.
Wall times include the browser's round trips; the server prints nothing timed itself.

    python bench/bench_web.py --warm-start 5    # only the first click, each on a new cold cache

measures the warm start alone: a fresh server on an empty compilation cache, the page opened at
once, Run clicked once the server has been up UP_S seconds; printed one line per repeat.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from playwright.sync_api import sync_playwright

from machine import describe  # bench/machine.py (scripts run from bench/)

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from browser import launch  # tests/browser.py: the system's Chromium with a fresh profile

REPEATS = 5
TIMEOUT_MS = 120_000
UP_S = 10.0  # how long the server has been up at the first click


def start_server(workdir: Path, cache: Path) -> tuple[subprocess.Popen, str, float]:
    """The server process, its URL, and when it was started (time.monotonic())."""
    env = {**os.environ, "STATELAB_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}
    started = time.monotonic()
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "statelab",
            "serve",
            "--port",
            "0",
            "--runs",
            "runs",
            "--store",
            "sweep.sqlite",
        ],
        cwd=workdir,
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    url = server.stdout.readline().split()[3]
    return server, url, started


def click_to_verdict(page, params: dict[str, str]) -> float:
    """Seconds from the click on Run to the verdict on the page; then waits for the saved link."""
    for name, value in params.items():
        page.fill(f"#in-{name}", value)
    page.evaluate("document.getElementById('result').replaceChildren()")
    t0 = time.perf_counter()
    page.click("#run-button")
    page.wait_for_selector("#verdict")
    elapsed = time.perf_counter() - t0
    page.wait_for_selector("#run-link")
    return elapsed


def launch_to_heatmap(page, url: str, shots: Path | None) -> float:
    """Seconds from the click on Launch (default axes: 25 points) to all 25 cells drawn."""
    page.goto(url + "sweeps/sweep.sqlite")
    page.wait_for_selector("#launch-button")
    t0 = time.perf_counter()
    page.click("#launch-button")
    page.wait_for_function(
        "() => { const d = document.getElementById('facet-0'); "
        "return d && d.data && d.data[0].z.flat().filter(v => v !== null).length === 25; }",
        timeout=TIMEOUT_MS,
    )
    elapsed = time.perf_counter() - t0
    if shots is not None:
        page.wait_for_function("() => document.getElementById('launch-status').textContent.startsWith('Ran')")
        page.screenshot(path=shots / "sweep-25.png", full_page=True)
    return elapsed


def measure(cache: Path, shots: Path | None) -> dict[str, float]:
    with tempfile.TemporaryDirectory() as work:
        server, url, started = start_server(Path(work), cache)
        try:
            with sync_playwright() as playwright:
                context = launch(playwright)
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(url)
                page.wait_for_selector("#run-button")
                # The server imports the engine and compiles the reference run as it starts; a user
                # reads the form meanwhile.
                time.sleep(max(0.0, started + UP_S - time.monotonic()))
                first = click_to_verdict(page, {})
                same = [click_to_verdict(page, {}) for _ in range(REPEATS)]
                seeds = [click_to_verdict(page, {"model_seed": str(s)}) for s in range(1, REPEATS + 1)]
                sweep = launch_to_heatmap(page, url, shots)
                context.close()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    return {
        "first": first,
        "same": statistics.median(same),
        "seed": statistics.median(seeds),
        "sweep": sweep,
    }


def warm_start() -> float:
    """Seconds from the first click on Run to its verdict, on an empty compilation cache, once the
    server has been up UP_S seconds."""
    with tempfile.TemporaryDirectory() as work, tempfile.TemporaryDirectory() as cache:
        server, url, started = start_server(Path(work), Path(cache))
        try:
            with sync_playwright() as playwright:
                context = launch(playwright)
                page = context.new_page()
                page.set_default_timeout(TIMEOUT_MS)
                page.goto(url)
                page.wait_for_selector("#run-button")
                time.sleep(max(0.0, started + UP_S - time.monotonic()))
                first = click_to_verdict(page, {})
                context.close()
        finally:
            server.send_signal(signal.SIGINT)
            server.wait(30)
    return first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--screenshots", type=Path, help="save the 25-point heatmap page here (sweep-25.png)")
    parser.add_argument("--warm-start", type=int, metavar="N", help="measure only the first click, N times")
    args = parser.parse_args()
    if args.warm_start:
        print(f"Machine: {describe()}", flush=True)
        for _ in range(args.warm_start):
            before = os.getloadavg()[0]
            seconds = warm_start()
            print(
                f"first click to verdict, cold cache, server up {UP_S:g} s: {seconds:.2f} s "
                f"(load average {before:.1f} before, {os.getloadavg()[0]:.1f} after)",
                flush=True,
            )
        return
    before = os.getloadavg()[0]
    with tempfile.TemporaryDirectory() as cache_dir:
        cache = Path(cache_dir)
        cold = measure(cache, None)  # an empty compilation cache, filled by this run
        warm = measure(cache, args.screenshots)  # a new server process reusing it
    load = os.getloadavg()[0]
    print(f"## `statelab serve`, measured through Chromium ({time.strftime('%Y-%m-%d')})\n")
    print(f"Machine: {describe()}; load average {before:.1f} before, {load:.1f} at the end\n")
    print("| measure | cold compilation cache | warm compilation cache | target |")
    print("|---|---|---|---|")
    rows = [
        (f"first reference run, click to verdict (server up {UP_S:g} s)", "first", "≤ 1 s"),
        (f"same config again, click to verdict (median of {REPEATS})", "same", "≤ 0.5 s"),
        (f"same shape, another model seed (median of {REPEATS})", "seed", "≤ 0.5 s"),
        ("25-point sweep, launch to complete heatmap", "sweep", "≤ 15 s"),
    ]
    for label, key, target in rows:
        print(f"| {label} | {cold[key]:.2f} s | {warm[key]:.2f} s | {target} |")


if __name__ == "__main__":
    main()
