"""The report of one run directory, drawn from a real (small) saved run."""

from __future__ import annotations

import base64
import json
import re
import shutil
from html import escape as html_escape
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest
from matplotlib.image import imread

import statelab.train
from statelab import experiment, rundir
from statelab.config import from_mapping
from statelab.report.figures import input_points, results_figure
from statelab.report.html import fmt
from statelab.report.run import write_run_report
from statelab.rundir import load_run

FIGURES = ("input.png", "results.png", "history.png", "memory.png")


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    """A real run: trained, saved by `save_result`, then reported."""
    config = from_mapping({"input_len": 200, "epochs": 2})
    directory = tmp_path_factory.mktemp("runs") / "run"
    directory.mkdir()  # save_result expects the directory to exist, without models/
    rundir.save_result(experiment.run_experiment(config), directory)
    write_run_report(directory)
    return directory


@pytest.fixture
def fresh_copy(run_dir: Path, tmp_path: Path) -> Path:
    """A copy of the run without its report, for tests that change or rewrite files."""
    copy = tmp_path / "run"
    shutil.copytree(run_dir, copy)
    for name in (*FIGURES, "report.html"):
        (copy / name).unlink()
    return copy


def html_of(directory: Path) -> str:
    return (directory / "report.html").read_text(encoding="utf-8")


@pytest.mark.parametrize("name", FIGURES)
def test_figures_are_valid_images_of_plausible_size(run_dir: Path, name: str) -> None:
    pixels = imread(run_dir / name)
    height, width, channels = pixels.shape
    assert 250 <= height <= 1000 and 500 <= width <= 1200
    assert channels in (3, 4)
    assert pixels[..., :3].std() > 0.01  # something is drawn, not a blank canvas


def test_html_shows_each_model_nmse_as_in_the_table(run_dir: Path) -> None:
    html = html_of(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    for name, m in metrics["models"].items():
        row = re.search(rf"<tr><td>{name}</td>(.*?)</tr>", html)
        assert row is not None, name
        cells = re.findall(r"<td>(.*?)</td>", row.group(1))
        numbers = [fmt(m[key]) for key in ("test_mse", "test_nmse", "test_nmse_all", "floor_nmse")]
        verdicts = ["converged" if m["converged"] else "not converged", m["expected"]]
        assert cells == numbers + verdicts


def test_verdict_box_states_the_claim_and_each_models_expected_outcome_and_why(run_dir: Path) -> None:
    html = html_of(run_dir)
    metrics = json.loads((run_dir / "metrics.json").read_text())
    held = metrics["claim_held"]
    box = re.search(r'<div class="verdict (ok|bad|open)">(.*?)</div>', html, re.DOTALL)
    assert box is not None
    assert box.group(1) == {True: "ok", False: "bad", None: "open"}[held]
    first = {True: "Expected outcome held", False: "Expected outcome did NOT hold", None: "No outcome"}[held]
    assert box.group(2).startswith(f"<p><b>{first}")
    for name, m in metrics["models"].items():
        assert f"<b>{name}</b> ({m['expected']}): " in box.group(2)
        assert html_escape(m["expected_reason"]) in box.group(2)


def test_verdict_follows_metrics_json_not_a_recomputation(fresh_copy: Path) -> None:
    metrics = json.loads((fresh_copy / "metrics.json").read_text())
    metrics["claim_held"] = False
    metrics["models"]["stateful"]["converged"] = False
    metrics["models"]["stateful"]["expected"] = "promised"
    metrics["models"]["stateful"]["expected_reason"] = "Promised by an edited file."
    (fresh_copy / "metrics.json").write_text(json.dumps(metrics))
    write_run_report(fresh_copy)
    box = re.search(r'<div class="verdict (ok|bad|open)">(.*?)</div>', html_of(fresh_copy), re.DOTALL)
    assert box is not None and box.group(1) == "bad"
    assert "Expected outcome did NOT hold: stateful not converged (promised)" in box.group(2)
    assert "Promised by an edited file." in box.group(2)


def test_html_is_self_contained(run_dir: Path) -> None:
    html = html_of(run_dir)
    assert "<script" not in html.lower()
    assert not re.search(r"""(src|href)\s*=\s*["']?\s*(https?:)?//""", html, re.IGNORECASE)
    sources = re.findall(r'<img [^>]*src="([^"]*)"', html)
    assert len(sources) == len(FIGURES)
    prefix = "data:image/png;base64,"
    assert all(src.startswith(prefix) for src in sources)
    embedded = {base64.b64decode(src[len(prefix) :]) for src in sources}
    assert embedded == {(run_dir / name).read_bytes() for name in FIGURES}


def test_html_lists_config_and_files(run_dir: Path) -> None:
    html = html_of(run_dir)
    assert "tsteps 2 · lahead 1 · batch size 1 · 2 epochs · streams layout" in html
    assert "<tr><td>task</td><td>input_len</td><td>200</td></tr>" in html
    assert "<tr><td>train</td><td>epochs</td><td>2</td></tr>" in html
    for name in ("config.json", "metrics.json", "predictions.csv", "models/stateful.npz", "report.html"):
        assert f"<td>{name}</td>" in html


def test_a_run_without_floors_still_reports(fresh_copy: Path) -> None:
    """Real series have no analytic floor: the report shows a dash instead of failing."""
    metrics = json.loads((fresh_copy / "metrics.json").read_text())
    for m in metrics["models"].values():
        m["floor_mse"] = m["floor_nmse"] = None
    (fresh_copy / "metrics.json").write_text(json.dumps(metrics))
    write_run_report(fresh_copy)
    assert html_of(fresh_copy).count("<td>—</td>") == len(metrics["models"])
    assert imread(fresh_copy / "history.png").shape[0] > 250


def test_html_shows_the_baselines_and_unknown_verdicts_as_not_applicable(fresh_copy: Path) -> None:
    metrics = json.loads((fresh_copy / "metrics.json").read_text())
    for m in metrics["models"].values():
        m["expected_converged"] = m["expected"] = None
    (fresh_copy / "metrics.json").write_text(json.dumps(metrics))
    write_run_report(fresh_copy)
    html = html_of(fresh_copy)
    ar = metrics["baselines"]["linear_ar"]["test_nmse"]
    assert (
        f"<td>baseline: linear AR on the window</td><td>{fmt(metrics['baselines']['linear_ar']['test_mse'])}"
        in html
    )
    assert fmt(ar) in html and "baseline: last value" in html
    assert html.count("<td>n/a</td>") == len(metrics["models"])


def test_report_reads_files_and_never_trains(fresh_copy: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_training(*args, **kwargs):
        raise AssertionError("the report must not train")

    monkeypatch.setattr(statelab.train, "fit_trials", no_training)
    monkeypatch.setattr(statelab.train, "fit", no_training)
    monkeypatch.setattr(experiment, "run_experiment", no_training)
    write_run_report(fresh_copy)
    assert all((fresh_copy / name).stat().st_size > 0 for name in (*FIGURES, "report.html"))
    assert not list(fresh_copy.glob(".*"))  # no temporary files left behind


def test_unreadable_run_writes_nothing(fresh_copy: Path) -> None:
    (fresh_copy / "predictions.csv").write_text("row,target\n1,not-a-number\n")
    with pytest.raises(ValueError):
        write_run_report(fresh_copy)
    assert not any((fresh_copy / name).exists() for name in (*FIGURES, "report.html"))


@pytest.mark.parametrize("order", ["oldest-first", "newest-first"])
@pytest.mark.parametrize(("tsteps", "lahead"), [(2, 1), (3, 5)])
def test_input_points_are_each_windows_newest_input(order: str, tsteps: int, lahead: int) -> None:
    config = from_mapping({"input_len": 100, "tsteps": tsteps, "lahead": lahead, "window_order": order})
    dataset = experiment.prepare(config)
    newest = dataset.windows[:, -1, 0] if order == "oldest-first" else dataset.windows[:, 0, 0]
    x, y, _ = input_points(SimpleNamespace(config=config, predictions={}))
    np.testing.assert_array_equal(x, newest[:10])
    np.testing.assert_array_equal(y, dataset.target[:10])


def test_error_panels_share_y_limits_and_skip_the_warm_up(run_dir: Path) -> None:
    run = load_run(run_dir)
    models = run.metrics["models"]
    fig = results_figure(run.predictions, models)
    _, stateful, stateless = fig.axes
    assert stateful.get_ylim() == stateless.get_ylim()
    warmup = models["stateful"]["warmup_excluded"]
    assert warmup == 1  # tsteps - 1 with the default tsteps 2
    first_x = stateful.lines[0].get_xdata()[0]
    assert first_x == run.predictions["row"][warmup]
    assert stateless.lines[0].get_xdata()[0] == run.predictions["row"][0]


def test_from_result_is_what_load_run_reads_back_after_saving(tmp_path: Path) -> None:
    from statelab.rundir import from_result

    result = experiment.run_experiment({"input_len": 200, "epochs": 2})
    before = from_result(result)
    saved = load_run(experiment.save_run(result, tmp_path / "run"))
    assert before.config == saved.config
    assert json.dumps(before.metrics) == json.dumps(saved.metrics)
    assert list(before.predictions) == list(saved.predictions)
    for column, values in saved.predictions.items():
        assert np.array_equal(before.predictions[column], values), column
    for model, columns in saved.history.items():
        for key, values in columns.items():
            assert np.array_equal(before.history[model][key], values), (model, key)


# --------------------------------------------------------------------------------------------
# The report worker of `statelab run`


def test_the_report_worker_draws_exactly_what_write_run_report_draws(tmp_path: Path) -> None:
    from statelab.report.worker import ReportWorker

    result = experiment.run_experiment(from_mapping({"input_len": 200, "epochs": 2}))
    with ReportWorker(result.config) as worker:
        by_worker = experiment.save_run(result, tmp_path / "worker", draw=worker.draw)
    in_process = experiment.save_run(result, tmp_path / "here")
    names = sorted(p.name for p in by_worker.iterdir())
    assert names == sorted(p.name for p in in_process.iterdir())
    for name in ("input.png", "results.png", "history.png", "memory.png", "report.html"):
        assert (by_worker / name).read_bytes() == (in_process / name).read_bytes(), name


def test_a_report_worker_that_died_leaves_the_drawing_to_this_process(tmp_path: Path) -> None:
    from statelab.report.worker import ReportWorker

    result = experiment.run_experiment(from_mapping({"input_len": 200, "epochs": 2}))
    worker = ReportWorker(result.config)
    worker._proc.kill()  # the worker is gone before it is asked
    saved = experiment.save_run(result, tmp_path / "run", draw=worker.draw)
    assert (saved / "report.html").stat().st_size > 10_000 and (saved / "memory.png").is_file()
    assert worker._proc is None  # and it was cleaned up


def test_the_report_worker_draws_into_a_directory_whose_name_holds_a_newline(
    fresh_copy, tmp_path, monkeypatch
):
    from statelab.report import run as report_run
    from statelab.report.worker import ReportWorker

    odd = tmp_path / "a\nb"
    fresh_copy.rename(odd)
    monkeypatch.setattr(report_run, "write_run_report", lambda *a, **k: pytest.fail("drawn in-process"))
    with ReportWorker(load_run(odd).config) as worker:
        worker.draw(odd)  # in the helper process: this one's write_run_report is not called
    assert (odd / "report.html").stat().st_size > 1000 and all((odd / f).is_file() for f in FIGURES)
