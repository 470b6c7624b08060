"""The examples run: the typed script, and the quickstart notebook top to bottom in a Jupyter
kernel (nbclient), so neither can rot."""

from __future__ import annotations

import re
import runpy
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


def test_the_typed_script_runs(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    runpy.run_path(str(EXAMPLES / "typed_api.py"), run_name="__main__")
    out = capsys.readouterr().out
    assert "saved to typed-api-run" in out and (tmp_path / "typed-api-run" / "report.html").is_file()
    assert "2 trials at lahead 2; 8 history rows at lahead 1" in out
    assert "tsteps must be an integer >= 1, got 0" in out


def _text(cell: nbformat.NotebookNode, name: str = "stdout") -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream" and o.name == name)


@pytest.mark.slow
def test_the_quickstart_notebook_runs_top_to_bottom_and_answers_its_questions(tmp_path):
    notebook = nbformat.read(EXAMPLES / "quickstart.ipynb", as_version=4)
    client = NotebookClient(
        notebook, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    )
    client.execute()  # raises CellExecutionError on the first cell that fails
    code = [c for c in notebook.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code)
    assert not [o for c in code for o in c.outputs if o.output_type == "error"]
    out = "".join(_text(c) for c in code)
    # 1. the stateful curve; 2. GRU against LSTM over 5 seeds; 3. 8 model seeds of the reference
    assert re.search(r"stateful NMSE \d\.\d{3} after 20 epochs, first below 0\.1 after \d+ epochs;", out)
    assert re.search(r"gru: stateful median NMSE \d\.\d{3}, worst \d\.\d{3}, converged in \d of 5 seeds", out)
    assert re.search(
        r"lstm: stateful median NMSE \d\.\d{3}, worst \d\.\d{3}, converged in \d of 5 seeds", out
    )
    assert re.search(r"stateful converged for \d of 8 model seeds .* stateless for \d ", out)
    # The result shows as HTML with its figure; the sweeps drew a progress bar; plots were drawn.
    outputs = [o for c in code for o in c.outputs]
    assert any("data:image/png;base64" in o.get("data", {}).get("text/html", "") for o in outputs)
    assert sum("trials 100%" in _text(c, "stderr") for c in code) == 2
    assert sum("image/png" in o.get("data", {}) for o in outputs) >= 2
    assert (tmp_path / "quickstart.sqlite").is_file()
