"""The compilation cache: one per-user directory, on by default from the CLI and from Python, and
the ways to turn it off."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from statelab import cache


@pytest.fixture
def clean_env(monkeypatch, tmp_path):
    for name in ("STATELAB_CACHE_DIR", "STATELAB_NO_CACHE", "XDG_CACHE_HOME"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    return monkeypatch


def test_the_cache_directory_is_per_user_and_can_be_moved(clean_env, tmp_path):
    assert cache.cache_dir() == tmp_path / "home" / ".cache" / "statelab" / "jax"
    clean_env.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.cache_dir() == tmp_path / "xdg" / "statelab" / "jax"
    clean_env.setenv("STATELAB_CACHE_DIR", str(tmp_path / "mine"))
    assert cache.cache_dir() == tmp_path / "mine"
    assert cache.compilation_cache() == tmp_path / "mine"


@pytest.mark.parametrize(("value", "off"), [("1", True), ("yes", True), ("0", False), ("", False)])
def test_the_cache_is_turned_off_by_the_flag_or_the_environment(clean_env, value, off):
    assert cache.compilation_cache(enabled=False) is None
    clean_env.setenv("STATELAB_NO_CACHE", value)
    assert (cache.compilation_cache() is None) is off


@pytest.mark.slow
def test_run_experiment_and_sweep_fill_the_cache_by_default_and_not_with_cache_false(tmp_path):
    # A process of its own: JAX sets its cache up once per process.
    directory = tmp_path / "cache"
    code = (
        "import sys, statelab\n"
        "from pathlib import Path\n"
        "statelab.run_experiment({'input_len': 200, 'epochs': 1}, cache=False)\n"
        "print(len(list(Path(sys.argv[1]).rglob('*'))))\n"
        "statelab.run_experiment({'input_len': 200, 'epochs': 1, 'lahead': 2})  # new programs\n"
        "print(len(list(Path(sys.argv[1]).rglob('*'))))\n"
        "statelab.sweep({'input_len': 200, 'epochs': 1, 'lahead': 3}, store=sys.argv[2], progress=False)\n"
        "print(len(list(Path(sys.argv[1]).rglob('*'))))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "STATELAB_NO_CACHE"}
    env["STATELAB_CACHE_DIR"] = str(directory)
    out = subprocess.run(
        [sys.executable, "-c", code, str(directory), str(tmp_path / "s.sqlite")],
        capture_output=True,
        text=True,
        env=env,
        check=True,
    )
    without, with_run, with_sweep = (int(n) for n in out.stdout.split())
    assert without == 0 and 0 < with_run < with_sweep  # each call compiled programs of new shapes
