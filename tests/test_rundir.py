"""The run directory's owner: deleting a run statelab wrote, and refusing everything else.

A real run (200 rows, 2 epochs) is written once and copied for each test."""

from __future__ import annotations

import os
import shutil

import pytest

import statelab
from statelab import rundir, scratch
from statelab.config import ConfigError


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    out = tmp_path_factory.mktemp("written") / "run"
    statelab.run_experiment({"input_len": 200, "epochs": 2}, out=out)
    return out


@pytest.fixture
def runs(written, tmp_path):
    root = tmp_path / "runs"
    root.mkdir()
    shutil.copytree(written, root / "r1")
    return root


def test_everything_a_saved_run_holds_is_what_statelab_writes(runs):
    assert rundir.foreign_entries(runs / "r1") == []
    assert {"report.html", "metrics.json", "models/stateful.npz"} <= set(rundir.run_files(runs / "r1"))


def test_deleting_a_run_statelab_wrote_removes_it_whole_and_nothing_beside_it(runs):
    (runs / "notes.txt").write_text("mine")
    shutil.copytree(runs / "r1", runs / "r2")
    assert rundir.delete_run(runs, "r1") == runs / "r1"
    assert sorted(p.name for p in runs.iterdir()) == ["notes.txt", "r2"]  # no temporary left either
    assert rundir.list_runs(runs) == [runs / "r2"]


@pytest.mark.parametrize(
    ("name", "why"),
    [
        ("", "run must be the name of a run directory"),
        ("..", "run must be the name of a run directory"),
        ("r1/models", "run must be the name of a run directory"),
        (".hidden", "run must be the name of a run directory"),
        ("nope", "run must be the name of a run directory"),
        ("notes.txt", "run must be the name of a run directory"),
    ],
)
def test_a_name_that_is_not_a_run_directly_under_the_root_is_refused(runs, name, why):
    (runs / "notes.txt").write_text("mine")
    (runs / ".hidden").mkdir()
    before = sorted(p.name for p in runs.rglob("*"))
    with pytest.raises(ConfigError) as caught:
        rundir.delete_run(runs, name)
    assert str(caught.value).startswith(why) and str(caught.value).endswith(f"got {name!r}")
    assert sorted(p.name for p in runs.rglob("*")) == before


def test_a_run_holding_a_file_statelab_did_not_write_is_refused_untouched(runs):
    (runs / "r1" / "my-notes.md").write_text("keep me")
    (runs / "r1" / "models" / "extra.npz").write_bytes(b"x")
    with pytest.raises(ConfigError) as caught:
        rundir.delete_run(runs, "r1")
    assert str(caught.value) == (
        "run must hold only what statelab wrote to be deleted, got 'r1' "
        "(it also holds models/extra.npz, my-notes.md)"
    )
    assert (runs / "r1" / "my-notes.md").read_text() == "keep me" and (runs / "r1" / "metrics.json").exists()


def test_a_link_to_a_run_or_a_link_inside_one_is_refused_and_its_target_kept(runs, tmp_path):
    elsewhere = tmp_path / "elsewhere"
    shutil.copytree(runs / "r1", elsewhere)
    os.symlink(elsewhere, runs / "linked")
    with pytest.raises(ConfigError, match="run must be the name of a run directory"):
        rundir.delete_run(runs, "linked")
    os.symlink(tmp_path / "elsewhere" / "config.json", runs / "r1" / "input.png.link")
    with pytest.raises(ConfigError, match=r"it also holds input\.png\.link"):
        rundir.delete_run(runs, "r1")
    assert (elsewhere / "metrics.json").exists() and (runs / "r1").is_dir()


def test_a_damaged_run_is_refused_with_the_file_that_is_wrong(runs):
    (runs / "r1" / "config.json").write_text("{")
    with pytest.raises(
        ConfigError,
        match=r"run must be a run directory written by `statelab run`, got 'r1' \(JSONDecodeError",
    ):
        rundir.delete_run(runs, "r1")
    assert (runs / "r1" / "metrics.json").exists()


def test_a_report_temporary_of_statelab_is_its_own_and_goes_with_the_run(runs):
    partial = scratch.temporary(runs / "r1" / "report.html")
    partial.write_text("half")
    assert rundir.foreign_entries(runs / "r1") == []
    rundir.delete_run(runs, "r1")
    assert not (runs / "r1").exists()
