"""The package's layers: every import goes down (import-linter's contracts in pyproject.toml), no
import cycle exists (function-local and TYPE_CHECKING imports counted), and a planted upward
import is caught, named, by the same check CI runs."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parents[1]


def lint_imports(cwd: Path, src: Path) -> subprocess.CompletedProcess[str]:
    """import-linter over the package under `src`, with the contracts of `cwd`/pyproject.toml."""
    env = {**os.environ, "PYTHONPATH": str(src)}
    script = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports())"
    return subprocess.run(
        [sys.executable, "-c", script], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_every_import_goes_down_the_layers():
    done = lint_imports(ROOT, ROOT / "src")
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Contracts: 2 kept, 0 broken." in done.stdout


def test_an_upward_import_breaks_the_layers_and_is_named(tmp_path):
    shutil.copytree(ROOT / "src" / "statelab", tmp_path / "src" / "statelab")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    metrics = tmp_path / "src" / "statelab" / "metrics.py"
    # A function-local import, as the cycles of round two were closed: it counts all the same.
    metrics.write_text(metrics.read_text() + "\n\ndef planted():\n    from statelab.rundir import RunFiles\n")
    done = lint_imports(tmp_path, tmp_path / "src")
    assert done.returncode == 1
    assert "statelab.metrics is not allowed to import statelab.rundir" in done.stdout
    assert "BROKEN" in done.stdout


def test_a_module_outside_every_layer_is_refused(tmp_path):
    shutil.copytree(ROOT / "src" / "statelab", tmp_path / "src" / "statelab")
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    (tmp_path / "src" / "statelab" / "stray.py").write_text("VALUE = 1\n")
    done = lint_imports(tmp_path, tmp_path / "src")
    assert done.returncode == 1 and "statelab.stray" in done.stdout


def _cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan): each holds a cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for other in graph.find_modules_directly_imported_by(module):
            if other not in graph.modules or not other.startswith("statelab"):
                continue
            if other not in index:
                visit(other)
                low[module] = min(low[module], low[other])
            elif other in on_stack:
                low[module] = min(low[module], index[other])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    sys.setrecursionlimit(max(sys.getrecursionlimit(), 10_000))
    for module in sorted(graph.modules):
        if module.startswith("statelab") and module not in index:
            visit(module)
    return found


def test_no_import_cycle_counting_local_and_type_checking_imports():
    graph = grimp.build_graph("statelab", include_external_packages=False)
    assert _cycles(graph) == []


@pytest.mark.parametrize("module", ["statelab.result", "statelab.metrics", "statelab.store"])
def test_value_objects_and_the_store_import_no_layer_that_saves_or_renders(module):
    graph = grimp.build_graph("statelab", include_external_packages=False)
    above = {
        "statelab.rundir",
        "statelab.report",
        "statelab.display",
        "statelab.frames",
        "statelab.experiment",
    }
    reached = graph.find_upstream_modules(module)  # everything `module` imports, directly or not
    assert not {m for m in reached if any(m == a or m.startswith(a + ".") for a in above)}
