"""Headless Chromium for the lab's browser tests and bench/bench_web.py: the system's own
(Debian's /usr/bin/chromium, which .ci/run installs), driven by Playwright's Python package."""

from __future__ import annotations

import tempfile
from pathlib import Path

CHROMIUM = Path("/usr/bin/chromium")
FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
VIEWPORT = {"width": 1280, "height": 900}


def launch(playwright, user_data_dir: str | Path | None = None):
    """A browser context of the system's Chromium with a fresh profile (a new temporary
    --user-data-dir unless one is given). Playwright's own browser download is never used."""
    if not CHROMIUM.exists():
        raise RuntimeError(f"{CHROMIUM} is missing: apt-get install -y chromium (.ci/run does)")
    profile = user_data_dir or tempfile.mkdtemp(prefix="statelab-chromium-")
    return playwright.chromium.launch_persistent_context(
        str(profile), executable_path=str(CHROMIUM), headless=True, args=FLAGS, viewport=VIEWPORT
    )
