"""The package is typed: `mypy` (pyproject.toml's [tool.mypy], not strict) reports nothing on
src/statelab, and `mypy --strict` passes a script that uses the public API and catches errors
planted in a copy of that script. The strict run is scoped by its own mypy.ini (only the two scripts
are checked; JAX, matplotlib, Dask and the like are not followed; statelab is read as the installed
package pytest imports, with its own errors not reported). Each run keeps its cache in pytest's
cache directory."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import statelab

ROOT = Path(__file__).resolve().parents[1]
EXAMPLE = ROOT / "examples" / "typed_api.py"
MYPY_CONFIG = """\
[mypy]
strict = True
[mypy-jax.*,jaxlib.*,optax.*,matplotlib.*,dask.*,distributed.*,statsmodels.*,pyarrow.*,rich.*,tqdm.*,ipykernel.*,IPython.*]
follow_imports = skip
"""
PLANTED = """

def planted() -> None:
    nmse: str = one_run().models["stateful"].test_nmse  # PLANTED: a float or None, not a str
    statelab.sweep({"tsteps": [1, 2]}, seeds="5")  # PLANTED: seeds is an integer
    rows: list[int] = statelab.load_results(STORE)  # PLANTED: a DataFrame
    history: int = one_run().history  # PLANTED: a DataFrame
    print(nmse, rows, history)
"""


def _cache(request, tmp_path, name):
    # pytest's cache directory keeps mypy's cache between runs (a fresh one without the plugin)
    return request.config.cache.mkdir(name) if hasattr(request.config, "cache") else tmp_path / f".{name}"


@pytest.mark.slow
def test_mypy_reports_nothing_on_the_package(tmp_path, request):
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "pyproject.toml",
            "--cache-dir",
            str(_cache(request, tmp_path, "mypy-package")),
            "src/statelab",
        ],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("Success: no issues found"), result.stdout


@pytest.mark.slow
def test_mypy_strict_passes_the_example_and_catches_every_planted_error(tmp_path, request):
    good = tmp_path / "typed_api.py"
    shutil.copy(EXAMPLE, good)
    bad = tmp_path / "typed_api_planted.py"
    bad.write_text(EXAMPLE.read_text() + PLANTED)
    (tmp_path / "mypy.ini").write_text(MYPY_CONFIG)
    # mypy finds statelab where pytest found it (this checkout's src/ under PYTHONPATH=src, say),
    # not where the environment installed it
    env = {**os.environ, "PYTHONPATH": str(Path(statelab.__file__).parents[1])}
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "mypy",
            "--config-file",
            "mypy.ini",
            "--cache-dir",
            str(_cache(request, tmp_path, "mypy")),
            good.name,
            bad.name,
        ],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
    )
    errors = [line for line in result.stdout.splitlines() if ": error:" in line]
    assert not [e for e in errors if e.startswith("typed_api.py")], result.stdout
    planted = {i for i, line in enumerate(bad.read_text().splitlines(), 1) if "# PLANTED" in line}
    caught = {int(re.match(r"typed_api_planted\.py:(\d+):", e).group(1)) for e in errors}
    assert caught == planted, result.stdout
    assert result.returncode == 1 and f"Found {len(errors)} errors in 1 file" in result.stdout
