"""What `statelab run` prints, on a narrow terminal: every line fits, text wraps between words,
and no number is cut short (the preview and result tables give up columns or turn on their side
instead). Off a terminal, a long line of facts stays one line."""

from __future__ import annotations

import io
import re

import pytest
from rich.console import Console

from conftest import panel_frame, write_frame
from statelab import experiment, terminal
from statelab.config import from_mapping
from statelab.names import MODELS
from statelab.result import result_rows

CONTROL = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")  # cursor and line codes of a live display


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """(config, dataset, result) of a real series (standardised: the longest heading) and of a
    file of several series and features (the widest preview)."""
    panel = write_frame(tmp_path_factory.mktemp("panel") / "panel.csv", panel_frame(6, 60, seed=3))
    configs = [
        from_mapping({"task": "sunspots", "lahead": 2, "epochs": 1}),
        from_mapping(
            {"task": "file", "data": str(panel), "target": "y", "features": "a,b", "series": "id"}
            | {"time": "time", "lahead": 2, "epochs": 1}
        ),
    ]
    out = []
    for config in configs:
        dataset = experiment.prepare(config)
        out.append((config, dataset, experiment.run_experiment(config, dataset=dataset)))
    return out


def printed(width: int, terminal_: bool, draw) -> str:
    buffer = io.StringIO()
    console = Console(width=width, file=buffer, force_terminal=terminal_, color_system=None, highlight=False)
    draw(console)
    return CONTROL.sub("", buffer.getvalue())


def whole_run(config, dataset, result):
    def draw(console: Console) -> None:
        terminal.banner(console, config)
        terminal.data_preview(console, config, dataset)
        with terminal.epoch_progress(console, config, MODELS) as show:
            show(0, {m: {"loss": result.train_loss[m][0], "val_loss": result.val_loss[m][0]} for m in MODELS})
        terminal.results(console, result)
        terminal.last_line(console, result, "runs/20261129-070303-bb1a1283")

    return draw


@pytest.mark.parametrize("width", [40, 50, 60])
def test_on_a_narrow_terminal_every_line_fits_and_no_number_is_cut(runs, width):
    for config, dataset, result in runs:
        text = printed(width, True, whole_run(config, dataset, result))
        lines = text.splitlines()
        assert max(len(line) for line in lines) <= width, max(lines, key=len)
        assert "…" not in text
        # The preview's heading is one line, not wrapped at its table's width.
        for label in ("head", "tail"):
            assert any(line.startswith(f"Input and target (standardised), {label}") for line in lines)
        # Every number of the result table is there whole.
        for row in result_rows(result):
            for cell in row[1:3]:
                assert cell in text, cell
        assert "*" * width in lines and "*" * (width + 1) not in text
        words = " ".join(text.split())
        assert "epoch 1/1" in words  # a line per epoch: the bars would not fit


def test_a_terminal_wide_enough_shows_the_result_table_and_the_bars(runs):
    config, dataset, result = runs[0]
    text = printed(100, True, whole_run(config, dataset, result))
    assert "┃ model" in text and "━" in text  # the boxed table; the progress bars
    assert max(len(line) for line in text.splitlines()) <= 100


def test_off_a_terminal_a_long_line_of_facts_stays_one_line(runs):
    result = runs[0][2]
    text = printed(40, False, lambda console: terminal.memory_lines(console, result))
    lines = text.splitlines()
    assert len(lines) == 3  # the heading, then a line per model
    assert lines[0].startswith("Memory: d prediction / d x[t-k] for k = 0..") and len(lines[0]) > 100


@pytest.mark.parametrize("width", [40, 60])
def test_the_sweep_bar_fits_a_narrow_terminal_with_its_counts(width):
    def draw(console: Console) -> None:
        with terminal.sweep_progress(console, 125) as update:
            update(60.5, 60, 1)

    last = printed(width, True, draw).replace("\r", "\n").strip().splitlines()[-1]
    assert len(last) <= width and "60/125" in last and "1 failed" in last and "…" not in last
