"""The sweep report: heatmaps, table, CSV and HTML drawn from a store alone, never training."""

from __future__ import annotations

import csv
import io
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from statelab import executors as ex
from statelab import grid as gr
from statelab import sweeps as sw
from statelab import trials
from statelab.cli import main
from statelab.config import from_mapping
from statelab.identity import config_hash
from statelab.report import sweep as rs
from statelab.store import Store, TrialRecord, utc_now


@pytest.fixture(scope="module")
def real_store(tmp_path_factory) -> Path:
    """A small real sweep: tsteps x lahead 1..2, two seeds, one failed trial added by hand."""
    path = tmp_path_factory.mktemp("sweep") / "s.sqlite"
    grid = gr.grid_from_inputs({"tsteps": "1:3", "lahead": "1:3", "input_len": "200", "epochs": "1"}, seeds=2)
    with Store.create(path) as store:
        sw.run_sweep(gr.expand(grid), store, ex.InProcess(threads=1))
        broken = from_mapping(dict(tsteps=2, lahead=2, input_len=200, epochs=1, seed=7))
        store.record(trials.failure_record(broken, RuntimeError("disk on fire")))
    return path


def fake_record(nmse: tuple[float, float], seed: int = 0, **params) -> TrialRecord:
    """A record as a sweep writes it, with chosen normalised MSEs (stateful, stateless)."""
    config = from_mapping(dict(seed=1986 + seed, model_seed=seed, **params))
    models = {
        name: {
            "test_mse": value,
            "test_nmse": value,
            "floor_nmse": 0.0,
            "converged": value < 0.1,
            "expected_converged": True,
        }
        for name, value in zip(rs.MODELS, nmse)
    }
    return TrialRecord(
        config_hash=config_hash(config),
        config=config.to_dict(),
        status="ok",
        metrics={"models": models, "claim_held": True},
        error=None,
        traceback=None,
        timings={"train_s": 0.1},
        statelab_version="0.1.0",
        worker="h:1",
        finished_at=utc_now(),
    )


def test_report_command_redraws_everything_from_the_store_without_importing_jax(real_store, tmp_path):
    out = tmp_path / "report"
    code = (
        "import sys; from statelab.cli import main; status = main(sys.argv[1:]); "
        "assert 'jax' not in sys.modules, 'the report imported JAX'; raise SystemExit(status)"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "report", str(real_store), "--out", str(out)],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"Report: {out / 'report.html'}"
    assert sorted(p.name for p in out.iterdir()) == [
        ".statelab-report",  # the mark of a report directory statelab wrote
        "heatmap.png",
        "memory.png",
        "report.html",
        "summary.csv",
        "trials.csv",
    ]
    assert (out / "heatmap.png").read_bytes().startswith(b"\x89PNG")

    html = (out / "report.html").read_text()
    assert "<script" not in html and "http://" not in html and "https://" not in html
    assert html.count('src="data:image/png;base64,') == 2  # the phase diagram and the memory map
    assert "Failed trials (1)" in html and "RuntimeError: disk on fire" in html

    with open(out / "summary.csv") as fh:
        summary = list(csv.DictReader(fh))
    assert len(summary) == 4 and {r["seeds"] for r in summary} == {"2"}
    with open(out / "trials.csv") as fh:
        trials = list(csv.DictReader(fh))
    assert len(trials) == 9
    assert [t["error"] for t in trials if t["status"] == "error"] == ["RuntimeError: disk on fire"]


def test_report_default_directory_sits_beside_the_store(real_store, capsys):
    assert main(["report", str(real_store)]) == 0
    assert (real_store.parent / "s-report" / "report.html").exists()


def test_report_on_a_missing_store_is_one_line_exit_2_and_writes_nothing(tmp_path):
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "statelab",
            "report",
            str(tmp_path / "none.sqlite"),
            "--out",
            str(tmp_path / "r"),
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 2
    assert done.stderr.startswith("statelab: error: store must be an existing statelab sweep store")
    assert done.stderr.count("\n") == 1
    assert list(tmp_path.iterdir()) == []


def test_summarise_takes_median_quartiles_and_range_over_seeds():
    records = [fake_record((s / 10, 0.5 + s / 10), seed=s, tsteps=2, lahead=1) for s in range(5)]
    records.append(fake_record((0.0, 0.0), tsteps=1, lahead=1))
    summary = rs.summarise(records)
    (one, five) = sorted(summary.points, key=lambda p: p.n)
    assert (five.x, five.lahead, five.n) == (2, 1, 5)
    assert five.nmse["stateful"] == rs.Spread(median=0.2, q1=0.1, q3=0.3, lo=0.0, hi=0.4)
    assert five.nmse["difference"].median == pytest.approx(-0.5)
    assert five.converged == {"stateful": 1, "stateless": 0}
    assert one.n == 1 and summary.facet_params == []


def test_seeds_are_pooled_and_other_varying_parameters_become_facets():
    records = [
        fake_record((0.1, 0.2), seed=s, tsteps=t, lahead=1, batch_size=b)
        for s in range(2)
        for t in (1, 2)
        for b in (1, 16)
    ]
    summary = rs.summarise(records)
    assert summary.facet_params == ["batch_size"]
    assert {p.facet for p in summary.points} == {(("batch_size", 1),), (("batch_size", 16),)}
    files = rs.render(records, "test")
    assert {"heatmap-batch_size=1.png", "heatmap-batch_size=16.png"} <= set(files)
    assert b"batch_size=16" in files["report.html"]


def test_boundary_is_the_staircase_between_lahead_below_and_at_or_above_tsteps():
    records = [fake_record((0.0, 0.0), tsteps=t, lahead=lahead) for t in (1, 2, 3) for lahead in (1, 2, 3)]
    points = rs.summarise(records).points
    grid = np.full((3, 3), None, dtype=object)
    for p in points:
        grid[p.lahead - 1, p.x - 1] = rs.predicted_side(p)
    segments = sorted(tuple(map(tuple, s)) for s in rs.boundary_segments(grid))
    assert segments == [
        ((0.5, -0.5), (0.5, 0.5)),  # lahead 1: between tsteps 1 (sees all) and 2
        ((0.5, 0.5), (1.5, 0.5)),  # tsteps 2: between lahead 1 and 2
        ((1.5, 0.5), (1.5, 1.5)),  # lahead 2: between tsteps 2 and 3
        ((1.5, 1.5), (2.5, 1.5)),  # tsteps 3: between lahead 2 and 3
    ]


def test_heatmap_draws_three_panels_with_the_boundary():
    records = [fake_record((0.0, 0.5), tsteps=t, lahead=lahead) for t in (1, 2) for lahead in (1, 2)]
    fig = rs.heatmap_figure(rs.summarise(records).points, "")
    panels = [ax for ax in fig.axes if ax.get_title()]
    assert [ax.get_title() for ax in panels] == [
        "stateful: normalised test MSE",
        "stateless: normalised test MSE",
        "stateful − stateless",
    ]
    assert all(len(ax.collections) == 1 for ax in panels)  # the boundary's LineCollection
    assert rs.png_bytes(fig).startswith(b"\x89PNG")


def test_trials_csv_has_a_row_per_trial_with_config_and_metrics():
    records = [fake_record((0.25, 0.5), tsteps=3, lahead=2)]
    rows = list(csv.DictReader(io.StringIO(rs.trials_csv(records))))
    assert len(rows) == 1
    assert (rows[0]["tsteps"], rows[0]["lahead"], rows[0]["stateful_test_nmse"]) == ("3", "2", "0.25")


def test_tasks_facet_the_report_and_parameters_a_task_does_not_take_do_not(tmp_path):
    records = [fake_record((0.0, 0.5), tsteps=t, lahead=1) for t in (1, 2)]
    records += [fake_record((0.0, 0.5), task="delay", delay=d, lahead=1) for d in (1, 2)]
    summary = rs.summarise(records)
    assert summary.facet_params == ["task"]  # not tsteps or delay, which are None for the other task
    assert {(p.facet, p.x_param) for p in summary.points} == {
        ((("task", "moving-average"),), "tsteps"),
        ((("task", "delay"),), "delay"),
    }
    rs.write_report(records, tmp_path)
    assert {p.name for p in tmp_path.glob("heatmap*")} == {
        "heatmap-task=delay.png",
        "heatmap-task=moving-average.png",
    }
    rs.write_report(records[:2], tmp_path)  # one task left: one heatmap, the others' files go
    assert {p.name for p in tmp_path.glob("heatmap*")} == {"heatmap.png"}


def test_each_grid_point_keeps_the_keys_of_exactly_its_trials():
    records = [fake_record((0.1, 0.5), seed=s, tsteps=2, lahead=1) for s in range(3)]
    records += [fake_record((0.1, 0.1), seed=s, tsteps=2, lahead=2) for s in range(2)]
    points = {p.y: p for p in rs.summarise(records).points}
    assert set(points[1].config_hashes) == {r.config_hash for r in records[:3]}
    assert set(points[2].config_hashes) == {r.config_hash for r in records[3:]}


def test_verdict_lines_count_the_grid_points_where_the_median_matched_theory():
    records = [fake_record((0.05, 0.5), tsteps=2, lahead=1), fake_record((0.05, 0.05), tsteps=2, lahead=2)]
    lines, held = rs.verdict_lines(rs.summarise(records).points)
    # fake_record says every model is expected to converge: the stateless one at lahead 1 did not
    assert lines == [
        "stateful: the median over seeds converged exactly as theory expects at 2 of the 2 grid points "
        "where it promised or ruled out convergence",
        "stateless: the median over seeds converged exactly as theory expects at 1 of the 2 grid points "
        "where it promised or ruled out convergence",
    ]
    assert held is False


@pytest.mark.parametrize(
    "damage",
    [
        "json_set(metrics, '$.models.stateful.memory.span', 'abc')",
        "json_remove(metrics, '$.models.stateless')",
        "json_set(metrics, '$.models', json('[1, 2]'))",
    ],
)
def test_a_trial_damaged_by_hand_is_a_one_line_error_in_report_and_the_lab(
    real_store, tmp_path, run_cli, damage
):
    import shutil
    import sqlite3

    from fastapi.testclient import TestClient

    from statelab.web.app import create_app

    store = tmp_path / "damaged.sqlite"
    shutil.copy(real_store, store)
    with sqlite3.connect(store) as db:
        (victim,) = db.execute("SELECT config_hash FROM trials WHERE status = 'ok' LIMIT 1").fetchone()
        db.execute(f"UPDATE trials SET metrics = {damage} WHERE config_hash = ?", (victim,))
    db.close()
    before = store.read_bytes()
    code, out, err = run_cli(["report", str(store), "--out", str(tmp_path / "r")])
    assert code == 2 and out == "" and err.count("\n") == 1
    assert err.startswith(
        f"statelab: error: store must hold trials as statelab records them, got trial '{victim}'"
    )
    assert not (tmp_path / "r").exists() and store.read_bytes() == before
    with TestClient(create_app(tmp_path / "runs", [store])) as client:
        answer = client.get("/api/stores/damaged.sqlite")
    assert answer.status_code == 400 and victim in answer.json()["detail"]
    assert "content-security-policy" in answer.headers
