"""Benchmark of the test suite as CI runs it: `.ci/run` in a clean clone, timed.

    python bench/bench_suite.py                       # this checkout's HEAD
    python bench/bench_suite.py --commit main         # another commit, for a before/after pair
    python bench/bench_suite.py --pytest "-m 'not slow'"   # the quick subset (PYTEST_ADDOPTS)

The clone is made with `git clone` from this repository into a temporary directory and checked
out at `--commit`; `.ci/run` then builds its virtualenv from pyproject.toml's `test` extra and runs
the README's test command. Measured: the whole of `.ci/run` (install included) and pytest's own
time from its summary line, with the load average before and after (other work on the machine
slows the suite down; the figure means little without it).
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from machine import describe  # bench/machine.py (scripts run from bench/)

ROOT = Path(__file__).resolve().parent.parent


def load() -> str:
    return " / ".join(f"{x:.2f}" for x in os.getloadavg())


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--commit", default="HEAD", help="the commit to clone and test (default: HEAD)")
    parser.add_argument(
        "--pytest", default="", metavar="ARGS", help="extra pytest arguments (PYTEST_ADDOPTS)"
    )
    args = parser.parse_args()
    commit = subprocess.run(
        ["git", "-C", str(ROOT), "rev-parse", "--short", args.commit],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as tmp:
        clone = Path(tmp) / "statelab"
        subprocess.run(["git", "clone", "-q", str(ROOT), str(clone)], check=True)
        subprocess.run(["git", "-C", str(clone), "checkout", "-q", commit], check=True)
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
        env["PYTEST_ADDOPTS"] = f"{args.pytest} -p no:cacheprovider".strip()
        before = load()
        t0 = time.perf_counter()
        done = subprocess.run(
            [str(clone / ".ci" / "run")], cwd=clone, env=env, capture_output=True, text=True
        )
        took = time.perf_counter() - t0
        after = load()
    summary = [line for line in done.stdout.splitlines() if re.match(r"^=+ .*\d+ (passed|failed)", line)]
    print(f"## Test suite (`bench/bench_suite.py`, {time.strftime('%Y-%m-%d %H:%M')})\n")
    print(f"Machine: {describe()}\n")
    print(
        f"- commit {commit}, `.ci/run` from a clean clone"
        + (f", pytest {args.pytest}" if args.pytest else "")
    )
    print(f"- `.ci/run` (venv, install and tests): {took / 60:.1f} min, exit code {done.returncode}")
    print(f"- pytest: {summary[-1].strip('= ') if summary else 'no summary line'}")
    print(f"- load average (1 / 5 / 15 min) before: {before}; after: {after}")
    if done.returncode != 0:
        print(done.stdout[-5000:], done.stderr[-5000:], sep="\n", file=sys.stderr)


if __name__ == "__main__":
    main()
