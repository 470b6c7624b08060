"""A result in Python and in a notebook: a short repr with the verdict and the key numbers, and
HTML with the result table and the test figure."""

from __future__ import annotations

import base64
import re
import sys

import pytest

import statelab
from statelab import display


@pytest.fixture(scope="module")
def small_result() -> statelab.ExperimentResult:
    return statelab.run_experiment({"tsteps": 3, "input_len": 200, "epochs": 2})


def test_repr_is_short_and_holds_the_verdict_and_each_models_numbers(small_result):
    text = repr(small_result)
    assert len(text) < 1000 and "array" not in text and len(text.splitlines()) <= 8
    first = text.splitlines()[0]
    assert first.startswith("<ExperimentResult moving-average tsteps=3 lahead=1; 1 x LSTM(20); 2 epochs")
    held = "expected outcome held" if small_result.claim_held else "expected outcome did NOT hold"
    assert first.endswith(held)
    for name, m in small_result.models.items():
        line = next(line for line in text.splitlines() if line.strip().startswith(name))
        converged = "yes" if m.converged else "no"
        assert re.search(rf"{m.test_mse:.4e}\s+{m.test_nmse:.4f}\s+{m.floor_nmse:.4f}\s+{converged}", line)
    ar = small_result.baselines["linear_ar"]
    assert re.search(rf"linear AR\s+{ar.test_mse:.4e}\s+{ar.test_nmse:.4f}", text)
    assert f"var(y) = {small_result.var_y:.4e}" in text


def test_html_shows_the_verdict_the_result_table_and_the_test_figure(small_result):
    html = display.result_html(small_result)
    assert html.count("<table>") == 1 and "stateful" in html and "stateless" in html
    assert f"{small_result.models['stateless'].test_nmse:.4g}" in html
    assert 'class="verdict' in html
    png = re.search(r'src="data:image/png;base64,([^"]+)"', html).group(1)
    assert base64.b64decode(png).startswith(b"\x89PNG\r\n\x1a\n")


def test_a_real_series_says_it_has_no_floor():
    result = statelab.run_experiment({"task": "sunspots", "lahead": 2, "epochs": 1})
    text = repr(result)
    assert "no analytic floor (a real series)" in text.splitlines()[0]
    assert re.search(r"stateful\s+\S+\s+\S+\s+n/a\s+n/a\s+n/a", text)  # no floor: no verdict
    assert "no analytic floor" in display.result_html(result)


def test_in_a_notebook_importing_statelab_makes_results_show_as_html(small_result, monkeypatch):
    """The result is a plain value without a rendering method of its own: statelab registers its
    HTML with IPython's formatter when it runs in a kernel, and IPython then shows it."""
    from IPython.core.interactiveshell import InteractiveShell

    shell = InteractiveShell.instance()
    monkeypatch.setattr(display, "in_notebook", lambda: True)
    monkeypatch.setattr(sys.modules["IPython"], "get_ipython", lambda: shell)
    assert display.register_notebook()
    bundle, _ = shell.display_formatter.format(small_result)
    assert bundle["text/html"] == display.result_html(small_result)
    assert bundle["text/plain"] == repr(small_result)
    monkeypatch.setattr(display, "in_notebook", lambda: False)
    assert not display.register_notebook()  # a script: nothing to register
