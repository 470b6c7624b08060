"""The lab's JSON API through an in-process client: every endpoint, bad input, traversal, limits.

Jobs here train for real (small configs), in the app's own worker thread, as `statelab serve` does.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import sqlite3
import statistics
import threading
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

import statelab
from statelab import tasks
from statelab.config import FIELD_SECTION, ConfigError
from statelab.confighelp import field_help
from statelab.evaluate import verdict
from statelab.executors import LocalDask
from statelab.store import Store
from statelab.web import lab as lab_work
from statelab.web.app import create_app

SMALL = {"input_len": "200", "epochs": "2"}
RUN_FILES = {"config.json", "metrics.json", "history.csv", "predictions.csv", "timings.json", "report.html"}


def events_of(client: TestClient, job_id: str, **headers: str) -> list[dict]:
    """Every event of a job, read from its server-sent event stream (which ends with the job)."""
    response = client.get(f"/api/jobs/{job_id}/events", headers=headers)
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("text/event-stream")
    return [json.loads(line[6:]) for line in response.text.splitlines() if line.startswith("data: ")]


def run_job(client: TestClient, **params: str) -> list[dict]:
    response = client.post("/api/jobs/run", json={"params": {**SMALL, **params}})
    assert response.status_code == 202, response.text
    return events_of(client, response.json()["id"])


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """A lab over an empty runs directory and two stores, one of them not created yet."""
    root = tmp_path_factory.mktemp("lab")
    runs = root / "runs"
    runs.mkdir()
    app = create_app(runs, [root / "a.sqlite", root / "new.sqlite"], max_queued=4)
    with TestClient(app) as client:
        client.root = root
        client.runs = runs
        yield client


@pytest.fixture(scope="module")
def two_runs(lab) -> list[list[dict]]:
    return [run_job(lab, tsteps="2"), run_job(lab, tsteps="3")]


def cli_error(run_cli, argv: list[str]) -> str:
    code, _, err = run_cli(argv)
    assert code == 2 and err.startswith("statelab: error: ")
    return err.removeprefix("statelab: error: ").strip()


# ---------------------------------------------------------------------------------------------
# The form


def test_params_list_every_field_with_the_help_line_of_dash_dash_help(lab):
    spec = lab.get("/api/params").json()
    fields = {f["name"]: f for f in spec["fields"]}
    assert list(fields) == list(FIELD_SECTION)
    for name, f in fields.items():
        assert f["help"] == field_help(name)
        assert f["section"] == FIELD_SECTION[name]
    assert fields["cell"]["choices"] == ["lstm", "gru", "simple"] and fields["cell"]["default"] == "lstm"
    assert fields["epochs"]["default"] == "10" and fields["epochs"]["tasks"] is None


def test_each_task_lists_only_its_own_parameters_with_its_own_defaults(lab):
    spec = lab.get("/api/params").json()
    fields = {f["name"]: f for f in spec["fields"]}
    by_task = {t["name"]: t for t in spec["tasks"]}
    assert set(by_task) == set(tasks.TASKS)
    for name, record in tasks.TASKS.items():
        own = [p.name for p in record.params]
        assert by_task[name]["params"] == [*own, "lahead", "train_fraction"]
        for p in record.params:
            default = (
                ""
                if p.default is None
                else ",".join(map(str, p.default))
                if isinstance(p.default, tuple)
                else str(p.default)
            )
            assert fields[p.name]["tasks"][name] == default
    assert "delay" not in fields["tsteps"]["tasks"] and fields["tsteps"]["tasks"]["moving-average"] == "2"


# ---------------------------------------------------------------------------------------------
# Bad input: the command line's message, nothing queued, nothing written


@pytest.mark.parametrize(
    ("params", "argv", "field"),
    [
        ({"tsteps": "0"}, ["--tsteps", "0"], "tsteps"),
        ({"tsteps": "two"}, ["--tsteps", "two"], "tsteps"),
        ({"task": "delay", "tsteps": "3"}, ["--task", "delay", "--tsteps", "3"], "tsteps"),
        ({"learning_rate": "-1"}, ["--learning-rate", "-1"], "learning_rate"),
        ({"cell": "transformer"}, ["--cell", "transformer"], "cell"),
        ({"lahead": "900", "input_len": "1000"}, ["--lahead", "900", "--input-len", "1000"], "lahead"),
    ],
)
def test_bad_parameters_get_400_with_the_cli_message_beside_their_field(
    lab, run_cli, tmp_path, params, argv, field
):
    expected = cli_error(run_cli, ["run", *argv, "--out", str(tmp_path / "r")])
    jobs_before = len(lab.get("/api/jobs").json())
    response = lab.post("/api/jobs/run", json={"params": params})
    assert response.status_code == 400
    assert response.json() == {
        "detail": expected,
        "field": field,
        "errors": [{"field": field, "detail": expected}],
    }
    assert len(lab.get("/api/jobs").json()) == jobs_before
    assert not any(p.name.startswith(".") for p in lab.runs.iterdir())
    assert not (tmp_path / "r").exists()


def test_an_unknown_parameter_or_a_malformed_body_is_a_400_too(lab):
    response = lab.post("/api/jobs/run", json={"params": {"tstep": "3"}})
    assert response.status_code == 400 and response.json()["detail"] == "unknown parameter tstep = '3'"
    response = lab.post("/api/jobs/run", json={"params": "tsteps=3"})
    assert response.status_code == 400
    assert response.json()["detail"] == "params must be a valid dictionary, got 'tsteps=3'"
    response = lab.post("/api/jobs/run", content=b"{not json", headers={"content-type": "application/json"})
    assert response.status_code == 400
    # a form another web site posts (text/plain needs no permission) queues nothing
    response = lab.post("/api/jobs/run", content=b'{"params": {}}', headers={"content-type": "text/plain"})
    assert response.json()["detail"] == "body must be a JSON object sent as application/json"
    # a misspelt key is refused, not a run of the defaults (nor a sweep of its grid)
    response = lab.post("/api/jobs/run", json={"param": {"tsteps": "3"}})
    assert (
        response.status_code == 400 and response.json()["detail"] == "unknown field param = {'tsteps': '3'}"
    )
    response = lab.post("/api/jobs/sweep", json={"store": "new.sqlite", "axis": {"tsteps": "1:3"}})
    assert (
        response.status_code == 400 and response.json()["detail"] == "unknown field axis = {'tsteps': '1:3'}"
    )


def test_a_data_file_outside_the_runs_directory_is_refused(lab, tmp_path):
    outside = tmp_path / "series.csv"
    outside.write_text("x\n" + "\n".join(str(i % 7) for i in range(100)) + "\n")
    for data in (str(outside), "../series.csv", f"../{outside.parent.name}/series.csv"):
        response = lab.post("/api/jobs/run", json={"params": {"task": "file", "data": data, "target": "x"}})
        assert response.status_code == 400
        assert response.json()["field"] == "data"
        assert response.json()["detail"].startswith("data must be a file inside the runs directory")


@pytest.mark.slow
def test_a_run_whose_data_or_memory_the_command_would_refuse_is_a_400_and_queues_nothing(lab, run_cli):
    data = lab.runs / "short.csv"
    data.write_text("a,y\n" + "".join(f"{i % 7},{i % 5}\n" for i in range(30)))
    jobs = len(lab.get("/api/jobs").json())
    for params, field in [
        ({"task": "file", "data": data.name, "target": "q"}, "target"),
        ({"task": "file", "data": data.name, "target": "y", "horizon": "40"}, "data"),
        ({"units": "8192", "layers": "64"}, "units"),
    ]:
        argv = [f"--{k.replace('_', '-')}={str(data) if k == 'data' else v}" for k, v in params.items()]
        expected = cli_error(run_cli, ["run", *argv])
        response = lab.post("/api/jobs/run", json={"params": params})
        assert response.status_code == 400, response.text
        # The memory the machine has free moves between the two asks; the rest is the same line.
        free = re.compile(r"[\d.]+ GB available")
        got = response.json()
        assert free.sub("N GB available", got["detail"]) == free.sub("N GB available", expected)
        assert got["field"] == field
    assert len(lab.get("/api/jobs").json()) == jobs


def test_request_bodies_over_the_limit_get_413(lab):
    response = lab.post("/api/jobs/run", json={"params": {"data": "x" * 70_000}})
    assert response.status_code == 413


# ---------------------------------------------------------------------------------------------
# A run job


def test_a_run_job_reports_each_epoch_then_the_verdict_then_its_saved_directory(lab, two_runs):
    events = two_runs[0]
    kinds = [e["type"] for e in events]
    assert kinds[:2] == ["queued", "running"] and kinds[-2:] == ["result", "done"]
    epochs = [e for e in events if e["type"] == "epoch"]
    # epochs as data count from 0, as on_epoch's (the page shows them from 1)
    assert [e["epoch"] for e in epochs] == [0, 1] and epochs[-1]["epochs"] == 2
    assert set(epochs[-1]["logs"]) == {"stateful", "stateless"}
    assert [e["seq"] for e in events] == list(range(len(events)))
    result, done = events[-2], events[-1]
    run_dir = lab.runs / done["result"]["run"]
    metrics = json.loads((run_dir / "metrics.json").read_text())
    assert result["verdict"] == {"text": verdict(metrics).text, "held": verdict(metrics).held}
    for name, m in result["models"].items():
        assert m["test_nmse"] == pytest.approx(metrics["models"][name]["test_nmse"])
        assert m["floor_nmse"] == metrics["models"][name]["floor_nmse"]
    assert set(result["figures"]) == {"floors", "predictions", "loss", "memory"}
    memory = {trace["name"]: trace for trace in result["figures"]["memory"]["data"]}
    for name, m in metrics["models"].items():
        held, reach = m["memory"]["capacity"], m["memory"]["gradient_reach"]
        r2 = memory[f"{name}: r² (total {held['total']:.2f} of 40)"]
        assert r2["yaxis"] == "y2" and r2["y"] == pytest.approx(held["r2"])
        trained = memory[f"{name}: gradient reach, trained weights"]
        assert trained["yaxis"] == "y3" and trained["y"][0] == 1.0
        assert [v or 0.0 for v in trained["y"]] == pytest.approx(reach["trained"])  # 0: not drawn (log)
    assert result["figures"]["memory"]["layout"]["yaxis3"]["type"] == "log"


def test_the_saved_run_directory_is_the_one_statelab_run_writes(lab, two_runs, run_cli, tmp_path):
    run_dir = lab.runs / two_runs[0][-1]["result"]["run"]
    code, _, err = run_cli(["run", "--input-len", "200", "--epochs", "2", "--out", str(tmp_path / "cli")])
    assert code == 0, err
    files = {p.relative_to(run_dir).as_posix() for p in run_dir.rglob("*") if p.is_file()}
    cli_files = {
        p.relative_to(tmp_path / "cli").as_posix() for p in (tmp_path / "cli").rglob("*") if p.is_file()
    }
    assert files == cli_files and files >= RUN_FILES
    assert (run_dir / "metrics.json").read_text() == (tmp_path / "cli" / "metrics.json").read_text()
    assert not [p for p in lab.runs.iterdir() if p.name.startswith(".")]


def test_the_same_config_twice_gets_two_run_directories(lab, two_runs):
    again = run_job(lab, tsteps="2")
    names = {two_runs[0][-1]["result"]["run"], again[-1]["result"]["run"]}
    assert len(names) == 2 and all((lab.runs / n / "metrics.json").is_file() for n in names)


def test_a_failing_job_shows_its_one_line_error_and_the_next_job_runs(lab, run_cli, tmp_path, monkeypatch):
    # A real series too short for the window is refused by the form, as the command refuses it
    # before training (the series is read and let go at the request).
    argv = ["run", "--task", "sunspots", "--lahead", "300", "--epochs", "1", "--out", str(tmp_path / "r")]
    expected = cli_error(run_cli, argv)
    response = lab.post(
        "/api/jobs/run", json={"params": {"task": "sunspots", "lahead": "300", "epochs": "1"}}
    )
    assert response.status_code == 400 and response.json()["detail"] == expected
    assert response.json()["field"] == "lahead"
    # What only the job can find (here: the data gone between the request and the job) fails it.
    from statelab import experiment

    def gone(config):
        raise ConfigError(expected)

    monkeypatch.setattr(experiment, "prepare", gone)
    failed = run_job(lab, tsteps="2")
    assert failed[-1]["type"] == "failed"
    assert failed[-1]["error"] == expected
    assert failed[-1]["field"] == "lahead"
    job = lab.get("/api/jobs").json()[0]
    assert job["status"] == "failed" and job["error"] == failed[-1]["error"]
    monkeypatch.undo()
    assert run_job(lab, tsteps="2")[-1]["type"] == "done"


def test_events_resume_after_the_last_event_id(lab, two_runs):
    job_id = lab.get("/api/jobs").json()[-1]["id"]
    everything = events_of(lab, job_id)
    rest = events_of(lab, job_id, **{"Last-Event-ID": "2"})
    assert rest == everything[3:]
    assert lab.get(f"/api/jobs/{job_id}").json()["status"] == "done"
    assert lab.get("/api/jobs/999").status_code == 404
    after = lab.get(f"/api/jobs/{job_id}/events", params={"after": "3"}).text
    assert [json.loads(line[6:]) for line in after.splitlines() if line.startswith("data: ")] == everything[
        3:
    ]
    negative = lab.get(f"/api/jobs/{job_id}/events", params={"after": "-3"})  # not the last three, twice
    assert negative.status_code == 400 and negative.json()["detail"].startswith("after must be greater than")


# ---------------------------------------------------------------------------------------------
# Runs


def test_runs_are_listed_newest_first_with_their_verdicts(lab, two_runs):
    listed = lab.get("/api/runs").json()
    names = [r["name"] for r in listed]
    expected = sorted(
        (p for p in lab.runs.iterdir() if (p / "metrics.json").is_file()),
        key=lambda p: (p / "metrics.json").stat().st_mtime,
        reverse=True,
    )
    assert names == [p.name for p in expected]
    first = next(r for r in listed if r["name"] == two_runs[1][-1]["result"]["run"])
    metrics = json.loads((lab.runs / first["name"] / "metrics.json").read_text())
    assert first["verdict"]["text"] == verdict(metrics).text
    assert "tsteps 3" in first["subtitle"]


def test_a_run_shows_its_config_figures_and_files_and_serves_them(lab, two_runs):
    name = two_runs[0][-1]["result"]["run"]
    run = lab.get(f"/api/runs/{name}").json()
    assert run["config"] == json.loads((lab.runs / name / "config.json").read_text())
    files = {f["path"] for f in run["files"]}
    assert files >= RUN_FILES and "models/stateful.npz" in files
    predictions = run["figures"]["predictions"]
    expected = next(t for t in predictions["data"] if t["name"] == "expected")
    assert len(expected["y"]) == json.loads((lab.runs / name / "metrics.json").read_text())["n_test"]
    report = lab.get(f"/api/runs/{name}/files/report.html")
    assert report.status_code == 200 and "<html" in report.text
    assert lab.get(f"/api/runs/{name}/files/models/config.json").json() == run["config"]
    assert lab.get(f"/runs/{name}").status_code == 200


def test_two_runs_compare_with_their_differing_parameters_flagged_and_figures_overlaid(lab, two_runs):
    a, b = (events[-1]["result"]["run"] for events in two_runs)
    for query in ({"a": a, "b": b}, {"run": [a, b]}):  # the older form and the list
        view = lab.get("/api/compare", params=query).json()
        differing = {row["name"]: tuple(row["values"]) for row in view["config"] if row["differs"]}
        assert differing == {"tsteps": (2, 3)}
        assert set(view["runs"]) == {"A", "B"} and view["names"] == {"A": a, "B": b}
    assert lab.get("/api/compare", params={"a": a, "b": "nope"}).status_code == 404
    assert (
        lab.get("/api/compare", params={"run": [a]}).json()["detail"]
        == "run must be given 2 to 8 times, got 1"
    )


def test_n_runs_overlay_their_losses_each_in_the_line_style_its_legend_names(lab, two_runs):
    a, b = (events[-1]["result"]["run"] for events in two_runs)
    view = lab.get("/api/compare", params={"run": [a, b, a]}).json()
    assert view["styles"] == {"A": "solid", "B": "dashed", "C": "dotted"}
    loss = view["figures"]["loss"]["data"]
    style = {"solid": "solid", "dashed": "dash", "dotted": "dot"}
    for label, words in view["styles"].items():
        curves = [t for t in loss if t["name"] in (f"{label}: stateful", f"{label}: stateless")]
        assert len(curves) == 4  # training and validation of each model
        assert {t["line"]["dash"] for t in curves} == {style[words]}
        assert sum(t["showlegend"] for t in curves) == 2  # one legend entry per model, its sample the style
    memory = [t for t in view["figures"]["memory"]["data"] if t["type"] == "scatter"]
    assert {t["line"]["dash"] for t in memory if t["name"].startswith("C: ")} == {"dot"}


# ---------------------------------------------------------------------------------------------
# What the server may read: traversal, absolute paths, symlinks out, hidden files -> 404


def test_traversal_absolute_paths_symlinks_out_and_hidden_files_are_404(lab, two_runs, tmp_path):
    name = two_runs[0][-1]["result"]["run"]
    secret = lab.root / "secret.txt"
    secret.write_text("not for the web")
    run_dir = lab.runs / name
    os.symlink(secret, run_dir / "link-out.txt")
    os.symlink(lab.root, lab.runs / "linked-run")
    (lab.runs / ".hidden-run.partial").mkdir()
    (lab.runs / ".hidden-run.partial" / "metrics.json").write_text("{}")
    try:
        _every_way_out_is_404(lab, name, secret)
    finally:  # the run goes back to what statelab wrote (later tests copy and delete it)
        (run_dir / "link-out.txt").unlink()
        (lab.runs / "linked-run").unlink()
        shutil.rmtree(lab.runs / ".hidden-run.partial")


def _every_way_out_is_404(lab, name: str, secret: Path) -> None:
    for path in [
        f"/api/runs/{name}/files/..%2F..%2Fsecret.txt",
        f"/api/runs/{name}/files/%2E%2E/%2E%2E/secret.txt",
        f"/api/runs/{name}/files/%2F{str(secret).lstrip('/').replace('/', '%2F')}",
        f"/api/runs/{name}/files/link-out.txt",
        f"/api/runs/{name}/files/.metrics.json.tmp",
        "/api/runs/..%2Fsecret.txt",
        "/api/runs/%2E%2E",
        "/api/runs/linked-run",
        "/api/runs/.hidden-run.partial",
        "/runs/..%2F..%2Fetc",
        "/api/stores/..%2Fa.sqlite",
        "/api/stores/nope.sqlite",
        "/sweeps/nope.sqlite",
    ]:
        response = lab.get(path)
        assert response.status_code == 404, path
        assert "not for the web" not in response.text
    assert "linked-run" not in {r["name"] for r in lab.get("/api/runs").json()}


def test_a_host_header_other_than_loopback_is_refused_when_asked(tmp_path):
    app = create_app(tmp_path, [], allowed_hosts=("127.0.0.1", "localhost"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        assert client.get("/api/runs").status_code == 200
        assert client.get("/api/runs", headers={"host": "attacker.example:8000"}).status_code == 400


def test_a_refused_host_header_is_answered_with_the_security_headers_too(tmp_path):
    app = create_app(tmp_path, [], allowed_hosts=("127.0.0.1", "localhost"))
    with TestClient(app, base_url="http://127.0.0.1:8000") as client:
        refused = client.get("/", headers={"host": "attacker.example:8000"})
    headers = refused.headers
    assert refused.status_code == 400
    assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
    assert headers["content-security-policy"].startswith("default-src 'self'; script-src 'self';")


# ---------------------------------------------------------------------------------------------
# The job queue: bounded, one at a time


def test_a_full_queue_answers_429_and_takes_jobs_again_once_one_ends(tmp_path, monkeypatch):
    release = threading.Event()
    started = threading.Event()

    def blocked(config, roots):
        def work(job):
            started.set()
            release.wait(30)
            return {"run": None}

        return work

    monkeypatch.setattr(lab_work, "run_work", blocked)
    app = create_app(tmp_path, [], max_queued=1)
    with TestClient(app) as client:
        first = client.post("/api/jobs/run", json={"params": {}})
        assert first.status_code == 202 and started.wait(30)  # running: the queue is empty again
        second = client.post("/api/jobs/run", json={"params": {}})
        assert second.status_code == 202  # waits
        full = client.post("/api/jobs/run", json={"params": {}})
        assert full.status_code == 429 and "queue is full" in full.json()["detail"]
        statuses = [j["status"] for j in client.get("/api/jobs").json()]
        assert statuses == ["queued", "running"]  # newest first; one training at a time
        release.set()
        events_of(client, second.json()["id"])
        assert client.post("/api/jobs/run", json={"params": {}}).status_code == 202


def test_a_damaged_run_is_a_400_naming_the_file_and_what_is_wrong(two_runs, lab):
    import shutil

    source = lab.runs / two_runs[0][-1]["result"]["run"]
    damaged = lab.runs / "damaged"
    shutil.copytree(source, damaged)
    try:
        (damaged / "predictions.csv").write_text("row,target\n1,0.5\n")
        for url in ("/api/runs/damaged", f"/api/compare?a=damaged&b={source.name}"):
            response = lab.get(url)
            assert response.status_code == 400
            assert response.json()["detail"] == (
                "run must be a run directory written by `statelab run`, got 'damaged' "
                "(predictions.csv: ValueError: no column pred_stateful)"
            )
    finally:
        shutil.rmtree(damaged)


# ---------------------------------------------------------------------------------------------
# Stores and sweeps


@pytest.fixture(scope="module")
def swept(lab) -> list[dict]:
    """A 2 x 2 grid with 2 seeds, launched through the API into a store that did not exist."""
    body = {
        "store": "new.sqlite",
        "axes": {"tsteps": "1:3", "lahead": "1:3", "input_len": "200", "epochs": "1"},
        "seeds": "2",
    }
    response = lab.post("/api/jobs/sweep", json=body)
    assert response.status_code == 202, response.text
    return events_of(lab, response.json()["id"])


def test_a_sweep_job_reports_progress_as_groups_commit(swept, lab):
    kinds = [e["type"] for e in swept]
    assert kinds[-1] == "done" and "start" in kinds
    start = next(e for e in swept if e["type"] == "start")
    assert start["trials"] == start["pending"] == 8
    finished = [e["finished"] for e in swept if e["type"] == "progress"]
    assert finished[-1] == 8 and finished == sorted(finished)
    assert swept[-1]["result"]["ran"] == 8 and swept[-1]["result"]["failed"] == 0
    with Store.open(lab.root / "new.sqlite") as store:
        assert store.count() == {"ok": 8, "error": 0}


def test_a_store_maps_each_models_memory_profile_error_with_its_span(swept, lab):
    import statelab

    (facet,) = lab.get("/api/stores/new.sqlite").json()["facets"]
    memory = facet["memory"]["data"]
    assert [h["name"] for h in memory] == ["stateful", "stateless"]
    trials = statelab.load_results(lab.root / "new.sqlite")
    for heatmap in memory:
        model = heatmap["name"]
        for j, lahead in enumerate((1, 2)):  # y = lahead, x = tsteps, as the phase diagram
            for i, tsteps in enumerate((1, 2)):
                cell = trials[(trials.tsteps == tsteps) & (trials.lahead == lahead)]
                error = cell[f"{model}_profile_error"]
                assert heatmap["z"][j][i] == pytest.approx(statistics.median(error))
                span = statistics.median(cell[f"{model}_span"])
                assert heatmap["text"][j][i].endswith(f"span {span:g}")
                hover = heatmap["customdata"][j][i]
                assert f"tsteps {tsteps}, lahead {lahead}" in hover and "seeds 2" in hover
                assert f"[{error.min():.3g}, {error.max():.3g}]" in hover
                assert "span: the oldest lag k whose weight is at least 10% of the task's largest" in hover
    # A stateless model never reaches beyond its window: at lahead 1 its span is 0.
    assert memory[1]["text"][0][1].endswith("span 0")


def test_a_store_shows_heatmaps_whose_hover_has_median_range_seeds_and_floor(swept, lab):
    view = lab.get("/api/stores/new.sqlite").json()
    assert (view["ok"], view["failed"], view["points"]) == (8, 0, 4)
    (facet,) = view["facets"]
    heatmaps = facet["figure"]["data"]
    assert [h["name"] for h in heatmaps] == ["stateful", "stateless", "difference"]
    stateless = heatmaps[1]
    # y = lahead (1, 2), x = tsteps (1, 2): lahead 1 < tsteps 2 is the one cell held at its floor
    hover = stateless["text"][0][1]
    assert "tsteps 2, lahead 1" in hover and "seeds 2" in hover and "floor 0.5" in hover
    assert "median" in hover and "[min, max]" in hover
    with Store.open(lab.root / "new.sqlite") as store:
        nmse = [
            r.metrics["models"]["stateless"]["test_nmse"]
            for r in store.records()
            if (r.config["task"]["tsteps"], r.config["task"]["lahead"]) == (2, 1)
        ]
    assert stateless["z"][0][1] == pytest.approx(statistics.median(nmse))
    assert f"[{min(nmse):.3g}, {max(nmse):.3g}]" in hover
    assert sum(len(h) for row in facet["cells"] for h in row) == 8
    assert facet["figure"]["layout"]["shapes"], "the predicted boundary is drawn"


def test_a_cells_trials_are_listed_with_their_metrics(swept, lab):
    cell = lab.get("/api/stores/new.sqlite").json()["facets"][0]["cells"][0][1]
    trials = lab.get("/api/stores/new.sqlite/trials", params=[("hash", h) for h in cell]).json()
    assert sorted(t["config_hash"] for t in trials) == sorted(cell)
    assert {(t["params"]["tsteps"], t["params"]["lahead"]) for t in trials} == {(2, 1)}
    assert {t["params"]["model_seed"] for t in trials} == {0, 1}
    assert all(t["models"]["stateless"]["floor_nmse"] == 0.5 for t in trials)
    assert len(lab.get("/api/stores/new.sqlite/trials").json()) == 8


def test_the_store_view_follows_another_writer(swept, lab):
    path = lab.root / "a.sqlite"
    assert lab.get("/api/stores/a.sqlite").json()["exists"] is False
    listed = {s["name"]: s for s in lab.get("/api/stores").json()}
    assert listed["new.sqlite"]["ok"] == 8 and listed["a.sqlite"]["exists"] is False
    with Store.open(lab.root / "new.sqlite") as source:
        records = source.records()
    with Store.create(path) as writer:  # another connection, as another process would hold
        writer.record(records[0])
        first = lab.get("/api/stores/a.sqlite").json()
        assert first["ok"] == 1 and first["version"] == "1-0"
        assert lab.get("/api/stores/a.sqlite", params={"version": "1-0"}).json()["unchanged"] is True
        writer.record(records[1])
        again = lab.get("/api/stores/a.sqlite", params={"version": "1-0"}).json()
        assert again["unchanged"] is False and again["ok"] == 2


def test_a_bad_grid_gets_the_sweep_commands_message(lab, run_cli, tmp_path):
    expected = cli_error(run_cli, ["sweep", "--tsteps", "1:x", "--store", str(tmp_path / "s.sqlite")])
    response = lab.post("/api/jobs/sweep", json={"store": "new.sqlite", "axes": {"tsteps": "1:x"}})
    assert response.status_code == 400
    assert (response.json()["detail"], response.json()["field"]) == (expected, "tsteps")
    seeds = lab.post("/api/jobs/sweep", json={"store": "new.sqlite", "axes": {}, "seeds": "0"})
    assert seeds.status_code == 400 and seeds.json()["detail"] == "seeds must be an integer >= 1, got '0'"
    for value in (True, 1.5, [2]):  # the command's rule, not a coercion (true was one seed)
        seeds = lab.post("/api/jobs/sweep", json={"store": "new.sqlite", "axes": {}, "seeds": value})
        assert seeds.status_code == 400
        assert seeds.json()["detail"] == f"seeds must be an integer >= 1, got {value!r}"
    assert lab.post("/api/jobs/sweep", json={"store": "../x.sqlite", "axes": {}}).status_code == 404
    assert not (tmp_path / "s.sqlite").exists()


def test_a_second_sweep_into_a_store_skips_what_it_holds_and_runs_the_rest(swept, lab):
    body = {
        "store": "new.sqlite",
        "axes": {"tsteps": "1:4", "lahead": "1", "input_len": "200", "epochs": "1"},
    }
    response = lab.post("/api/jobs/sweep", json=body)
    assert response.status_code == 202, response.text
    done = events_of(lab, response.json()["id"])[-1]
    assert done["type"] == "done", done
    assert (done["result"]["skipped"], done["result"]["ran"], done["result"]["failed"]) == (2, 1, 0)


def test_a_sweep_over_a_bad_data_file_is_refused_with_the_commands_message_and_nothing_written(
    lab, run_cli, tmp_path
):
    data = lab.runs / "two-columns.csv"
    data.write_text("a,y\n" + "".join(f"{i % 7},{i % 5}\n" for i in range(60)))
    axes = {"task": "file", "data": data.name, "target": "q", "epochs": "1"}
    store = tmp_path / "s.sqlite"
    argv = ["sweep", "--task", "file", "--data", str(data), "--target", "q", "--epochs", "1"]
    argv += ["--store", str(store)]
    expected = cli_error(run_cli, argv)
    target = lab.root / "a.sqlite"
    before = target.read_bytes() if target.exists() else None
    response = lab.post("/api/jobs/sweep", json={"store": "a.sqlite", "axes": axes})
    assert response.status_code == 400
    assert (response.json()["detail"], response.json()["field"]) == (expected, "target")
    assert (target.read_bytes() if target.exists() else None) == before and not store.exists()


# ---------------------------------------------------------------------------------------------
# Pages, scripts and the API's documentation


def test_pages_and_plotly_are_served_from_installed_files(lab):
    import plotly

    for page in ("/", "/runs", "/sweeps", "/sweeps/new.sqlite", "/compare?a=x&b=y"):
        response = lab.get(page)
        assert response.status_code == 200 and '<script src="/static/plotly.min.js">' in response.text
        assert "http" not in response.text.split("<main")[1]  # no script from elsewhere
    script = lab.get("/static/plotly.min.js")
    installed = Path(plotly.__file__).parent / "package_data" / "plotly.min.js"
    assert script.status_code == 200 and script.content == installed.read_bytes()
    assert lab.get("/static/lab.js").status_code == 200
    assert lab.get("/static/../app.py").status_code == 404


def test_the_openapi_page_documents_every_endpoint_without_a_cdn(lab):
    paths = lab.get("/openapi.json").json()["paths"]
    assert {
        "/api/params",
        "/api/runs",
        "/api/runs/{name}",
        "/api/runs/{name}/files/{path}",
        "/api/compare",
        "/api/stores",
        "/api/stores/{name}",
        "/api/stores/{name}/trials",
        "/api/stores/{name}/table",
        "/api/stores/{name}/results.{kind}",
        "/api/stores/{name}/curves",
        "/api/stores/{name}/parcoords",
        "/api/jobs",
        "/api/jobs/run",
        "/api/jobs/sweep",
        "/api/jobs/doctor",
        "/api/runs/{name}/doctor",
        "/api/jobs/{job_id}",
        "/api/jobs/{job_id}/events",
        "/api/jobs/{job_id}/cancel",
    } == set(paths)
    run = paths["/api/jobs/run"]["post"]["responses"]
    assert {"202", "400", "413", "429"} <= set(run) and "422" not in run  # invalid requests are 400s here
    docs = lab.get("/docs").text
    assert "swagger-ui-bundle.js" in docs and "cdn" not in docs
    bundle = docs.split('src="')[1].split('"')[0]
    assert lab.get(bundle).status_code == 200


def test_the_api_is_documented_at_docs_only_not_by_a_viewer_that_reaches_a_cdn(lab):
    # The ReDoc bundle FastAPI offers at /redoc loads its logo from cdn.redoc.ly, which the content
    # security policy refuses (a console error); /docs serves the same schema from installed files.
    assert lab.get("/redoc").status_code == 404
    assert lab.get("/docs").status_code == 200


def _job_running_epochs(client: TestClient, job_id: str) -> None:
    """Wait until the job has reported an epoch (it is training)."""
    for _ in range(2000):
        job = client.get(f"/api/jobs/{job_id}").json()
        assert job["status"] in ("queued", "running"), job
        if job["events"] >= 3:  # queued, running, an epoch
            return
        threading.Event().wait(0.01)
    raise AssertionError("the job never started training")


def test_cancel_stops_a_run_between_epochs_and_a_waiting_run_before_it_starts(lab):
    before = sorted(p.name for p in lab.runs.iterdir())
    long = {"input_len": "200", "epochs": "5000"}
    first = lab.post("/api/jobs/run", json={"params": long}).json()
    second = lab.post("/api/jobs/run", json={"params": long}).json()
    _job_running_epochs(lab, first["id"])
    cancelled = lab.post(f"/api/jobs/{second['id']}/cancel")
    assert cancelled.status_code == 202
    assert (cancelled.json()["status"], cancelled.json()["error"]) == (
        "cancelled",
        "cancelled before it started",
    )
    assert lab.post(f"/api/jobs/{first['id']}/cancel").status_code == 202
    events = events_of(lab, first["id"])
    assert [e["type"] for e in events][-2:] == ["cancelling", "cancelled"]
    assert events[-1]["error"] == "cancelled during training; nothing was written"
    assert sum(e["type"] == "epoch" for e in events) < 5000
    assert sorted(p.name for p in lab.runs.iterdir()) == before  # no run directory, no temporary
    again = lab.post(f"/api/jobs/{first['id']}/cancel")
    assert again.status_code == 409 and "already ended (cancelled)" in again.json()["detail"]
    assert lab.post("/api/jobs/999999/cancel").status_code == 404
    assert run_job(lab)[-1]["type"] == "done"  # the lab goes on


def test_when_the_server_stops_a_jobs_stream_still_carries_its_last_word(tmp_path):
    """Ctrl-C asks the running job to stop; it takes a moment (a run finishing its save, a sweep
    its group): the page following it still hears how it ended, so its buttons come back."""
    from statelab.web.jobs import Cancelled

    def stops_after_a_moment(job):
        while not job.cancelled.is_set():
            threading.Event().wait(0.01)
        threading.Event().wait(0.5)
        raise Cancelled("the server stopped during the sweep; the trials finished so far are in the store")

    app = create_app(tmp_path, [])
    with TestClient(app) as client:
        queue = app.state.lab.queue
        job = queue.submit("sweep", "stops after a moment", stops_after_a_moment)
        while job.status != "running":
            threading.Event().wait(0.01)
        seen: list[list[dict]] = []
        follower = threading.Thread(target=lambda: seen.append(events_of(client, job.id)))
        follower.start()
        threading.Event().wait(0.2)
        queue.stop()
        follower.join(10)
    assert [e["type"] for e in seen[0]] == ["queued", "running", "cancelled"]


@pytest.mark.slow
def test_a_cancelled_sweep_keeps_the_groups_it_committed_and_a_relaunch_finishes_it(lab):
    body = {
        "store": "a.sqlite",
        "axes": {"tsteps": "2", "lahead": "1:9", "input_len": "211", "epochs": "300"},  # trials of its own
        "seeds": "1",
    }
    before = 0
    if (lab.root / "a.sqlite").exists():  # earlier tests may have filled it
        with Store.open(lab.root / "a.sqlite") as store:
            before = store.count()["ok"]
    job = lab.post("/api/jobs/sweep", json=body).json()
    _job_running_epochs(lab, job["id"])  # its start event is out: the groups are training
    assert lab.post(f"/api/jobs/{job['id']}/cancel").status_code == 202
    events = events_of(lab, job["id"])
    assert events[-1]["type"] == "cancelled"
    assert events[-1]["error"] == "cancelled during the sweep; the trials finished so far are in the store"
    with Store.open(lab.root / "a.sqlite") as store:
        kept = store.count()["ok"] - before
    assert 1 <= kept < 8
    again = events_of(lab, lab.post("/api/jobs/sweep", json=body).json()["id"])
    assert again[-1]["type"] == "done" and again[-1]["result"]["skipped"] == kept
    assert again[-1]["result"]["ran"] == 8 - kept


def test_every_answer_carries_the_security_headers_and_pages_allow_no_inline_script(lab):
    for path in ("/", "/sweeps", "/api/runs", "/static/lab.js", "/api/jobs/999999"):
        headers = lab.get(path).headers
        assert headers["x-content-type-options"] == "nosniff" and headers["x-frame-options"] == "DENY"
        policy = dict(part.strip().split(" ", 1) for part in headers["content-security-policy"].split(";"))
        assert policy["default-src"] == "'self'" and policy["script-src"] == "'self'", path
        assert policy["frame-ancestors"] == "'none'" and policy["object-src"] == "'none'"
    page = lab.get("/").text
    assert "<script>" not in page and "<script src=" in page  # every script of a page is a file
    docs = lab.get("/docs").headers["content-security-policy"]
    assert "script-src 'self' 'unsafe-inline'" in docs  # the bundled Swagger UI starts inline


@pytest.mark.slow
def test_a_lab_started_with_workers_runs_its_sweeps_on_a_local_dask_cluster(tmp_path):
    app = create_app(tmp_path / "runs", [tmp_path / "dask.sqlite"], executor="local:1")
    assert app.state.lab.executor == LocalDask(1)
    body = {"store": "dask.sqlite", "axes": {"tsteps": "1:3", **SMALL, "epochs": "1"}, "seeds": "1"}
    with TestClient(app) as client:
        response = client.post("/api/jobs/sweep", json=body)
        assert response.status_code == 202, response.text
        events = events_of(client, response.json()["id"])
    kinds = [e["type"] for e in events]
    assert kinds[-1] == "done", events[-1]
    statuses = [e["text"] for e in events if e["type"] == "status"]
    assert statuses[0] == "Starting a local Dask cluster of 1 worker processes ..."
    start = next(e for e in events if e["type"] == "start")
    assert start["executor"].startswith("Dask at tcp://") and start["executor"].endswith("1 workers")
    with Store.open(tmp_path / "dask.sqlite") as store:
        assert store.count() == {"ok": 2, "error": 0}


@pytest.mark.parametrize(
    ("spec", "words"),
    [
        ("local:0", "executor must be an integer >= 1, got '0'"),
        ("local:x", "executor must be an integer >= 1, got 'x'"),
        ("dask://x:1?timeout=-1", "timeout must be in (0, 3600] seconds, got -1.0"),
        ("ray://x:1", "executor must be one of "),
    ],
)
def test_where_the_labs_sweeps_run_is_checked_when_it_starts(tmp_path, spec, words):
    with pytest.raises(ConfigError, match=re.escape(words)):
        create_app(tmp_path / "runs", [], executor=spec)


def test_an_unexpected_failure_is_a_500_that_carries_the_security_headers_too(tmp_path, monkeypatch):
    from statelab.web import stores

    def broken(*args, **kwargs):
        raise RuntimeError("a bug")

    monkeypatch.setattr(stores, "stores_view", broken)
    app = create_app(tmp_path / "runs", [tmp_path / "s.sqlite"])
    with TestClient(app, raise_server_exceptions=False) as client:
        answer = client.get("/api/stores")
    assert answer.status_code == 500
    assert "script-src 'self'" in answer.headers["content-security-policy"]
    assert answer.headers["x-content-type-options"] == "nosniff"


# ---------------------------------------------------------------------------------------------
# Hostile requests and odd files: a 4xx, or a listing that shows the odd entry and serves the rest


def test_runs_and_files_whose_names_are_not_utf8_are_listed_escaped_and_the_rest_still_served(lab, two_runs):
    import shutil

    source = lab.runs / two_runs[0][-1]["result"]["run"]
    odd = Path(os.fsdecode(bytes(lab.runs) + b"/odd-\xff-run"))  # a name a file system allows
    shutil.copytree(source, odd)
    (source / os.fsdecode(b"notes-\xfe.txt")).write_text("a file of the user's")
    try:
        client = lab  # a 500 raises here: the test fails on it
        listing = client.get("/api/runs")
        assert listing.status_code == 200
        entries = {entry["name"]: entry for entry in listing.json()}
        assert "odd-\\xff-run" in entries and entries["odd-\\xff-run"]["error"].startswith("unreadable")
        assert source.name in entries and "verdict" in entries[source.name]  # the rest as ever
        detail = client.get(f"/api/runs/{source.name}")
        assert detail.status_code == 200
        assert "notes-\\xfe.txt" in [f["path"] for f in detail.json()["files"]]
        assert client.get("/").status_code == 200
    finally:
        shutil.rmtree(odd)
        (source / os.fsdecode(b"notes-\xfe.txt")).unlink()


def test_a_lone_surrogate_in_a_parameter_name_is_a_400(lab):
    body = '{"params": {"\\ud800": "1"}}'  # valid JSON; not valid Unicode
    client = lab  # a 500 raises here: the test fails on it
    answer = client.post("/api/jobs/run", content=body, headers={"content-type": "application/json"})
    assert answer.status_code == 400 and answer.json()["detail"].startswith("unknown parameter")
    answer = client.post(
        "/api/jobs/sweep",
        content='{"store": "a.sqlite", "axes": {"\\udfff": "1"}}',
        headers={"content-type": "application/json"},
    )
    assert answer.status_code in (400, 404), answer.text


@pytest.mark.parametrize("last", ["²", "1" * 5000, "-1", "1e3", " 2"])
def test_a_malformed_last_event_id_is_a_400(lab, two_runs, last):
    job_id = lab.get("/api/jobs").json()[-1]["id"]
    client = lab  # a 500 raises here: the test fails on it
    answer = client.get(f"/api/jobs/{job_id}/events", headers={"Last-Event-ID": last.encode()})
    assert answer.status_code == 400, answer.text
    assert answer.json()["detail"].startswith("Last-Event-ID must be the id of an event")
    huge = client.get(f"/api/jobs/{job_id}/events", params={"after": "9" * 5000})
    assert huge.status_code in (200, 400), huge.text


def test_a_store_with_a_damaged_row_is_a_400_naming_the_trial_and_still_listed(lab, swept):
    import shutil

    source = lab.root / "new.sqlite"
    damaged = lab.root / "a.sqlite"  # the lab's other store
    shutil.copy(source, damaged)
    db = sqlite3.connect(damaged)
    (ok,) = db.execute("SELECT count(*) FROM trials WHERE status = 'ok'").fetchone()
    (key,) = db.execute("SELECT config_hash FROM trials LIMIT 1").fetchone()
    db.execute("UPDATE trials SET metrics = '{\"models\": 5}' WHERE config_hash = ?", (key,))
    db.commit()
    db.close()
    try:
        client = lab  # a 500 raises here: the test fails on it
        for url in ("/api/stores/a.sqlite", "/api/stores/a.sqlite/trials"):
            answer = client.get(url)
            assert answer.status_code == 400, answer.text
            assert key[:16] in answer.json()["detail"]
        listing = {s["name"]: s for s in client.get("/api/stores").json()}
        assert listing["a.sqlite"]["ok"] == listing["new.sqlite"]["ok"] == ok  # counted without reading rows
        assert client.get("/api/stores/new.sqlite").status_code == 200
    finally:
        damaged.unlink()


# ---------------------------------------------------------------------------------------------
# Requests from pages of other origins


@pytest.mark.parametrize(
    ("headers", "status"),
    [
        ({"Origin": "http://evil.example"}, 403),
        ({"Origin": "null"}, 403),
        ({"Origin": "http://testserver.evil.example"}, 403),
        ({"Origin": "https://testserver"}, 403),  # another scheme is another origin
        ({"Origin": "http://testserver:8001"}, 403),
        ({"Referer": "http://evil.example/page.html"}, 403),
        ({"Origin": "http://evil.example", "Referer": "http://testserver/"}, 403),  # Origin decides
        ({"Origin": "http://testserver"}, 202),
        ({"Referer": "http://testserver/runs"}, 202),
        ({}, 202),  # no browser: curl, a script
    ],
)
def test_a_request_that_changes_something_from_another_origin_is_403_and_queues_nothing(
    tmp_path, headers, status
):
    app = create_app(tmp_path / "runs", [tmp_path / "s.sqlite"], max_queued=4)
    with TestClient(app) as client:
        answer = client.post("/api/jobs/run", json={"params": {**SMALL, "epochs": "1"}}, headers=headers)
        assert answer.status_code == status, answer.text
        jobs = client.get("/api/jobs").json()
        assert len(jobs) == (1 if status == 202 else 0)
        if status == 403:
            assert answer.json()["detail"].endswith("must be this server's own page, got " + repr(
                headers.get("Origin", headers.get("Referer"))
            ))  # fmt: skip
        else:
            events_of(client, jobs[0]["id"])  # let it finish before the app stops
        cancel = client.post("/api/jobs/x/cancel", headers={"Origin": "http://evil.example"})
        assert cancel.status_code == 403
        assert client.get("/api/runs", headers={"Origin": "http://evil.example"}).status_code == 200  # reads


def test_a_real_series_run_shows_its_peers_verdict_and_times_in_the_lab(lab):
    events = run_job(lab, task="sunspots", lahead="2", epochs="1", input_len="")
    name = events[-1]["result"]["run"]
    run = lab.get(f"/api/runs/{name}").json()
    real = run["real_series"]
    metrics = json.loads((lab.runs / name / "metrics.json").read_text())
    assert real["peers"] == metrics["peers"] and set(real["peers"]) == {"seasonal-naive", "ets", "arima"}
    assert real["verdict"]["text"] == run["verdict"]["text"] == metrics["verdict"]["text"]
    assert real["time"] == "YEAR" and real["cut"]["test"][1] == "2008" and real["transform"] == "none"
    assert run["models"]["stateful"]["rmse"] == metrics["models"]["stateful"]["rmse"]
    expected = next(t for t in run["figures"]["predictions"]["data"] if t["name"] == "expected")
    assert expected["x"][-1] == "2008"  # along the file's years, not row numbers
    bars = [t for t in run["figures"]["floors"]["data"] if t["name"] == "baselines and peers"]
    assert len(bars[0]["x"]) == 5  # two baselines and three peers beside the networks


# ---------------------------------------------------------------------------------------------
# The dashboard: jobs that keep what they were asked, every invalid field, the trial table


def test_a_job_keeps_what_it_was_asked_and_its_latest_progress(lab, two_runs):
    asked = {"params": {**SMALL, "tsteps": "2"}}  # the first of two_runs
    kept = [lab.get(f"/api/jobs/{j['id']}").json() for j in lab.get("/api/jobs").json()]
    job = next(j for j in kept if j["params"] == asked)
    job_id = job["id"]
    progress = job["progress"]
    # The last epoch's event: epochs count from 0 in the data, so the last of 2 is epoch 1.
    assert progress["type"] == "epoch" and progress["epoch"] + 1 == progress["epochs"] == 2
    assert job["status"] == "done" and job["started"] <= job["finished"] <= job["now"]
    events = events_of(lab, job_id)
    assert [e["time"] for e in events] == sorted(e["time"] for e in events)
    assert events[-1]["time"] == job["finished"]


def test_every_invalid_field_of_a_run_is_named_at_once_in_the_forms_order(lab, run_cli, tmp_path):
    params = {"epochs": "0", "tsteps": "two", "units": "-1", "lahead": "0"}
    response = lab.post("/api/jobs/run", json={"params": params})
    assert response.status_code == 400
    body = response.json()
    assert [e["field"] for e in body["errors"]] == ["tsteps", "lahead", "units", "epochs"]
    for e in body["errors"]:  # each as `statelab run` says it, given alone
        flag = f"--{e['field'].replace('_', '-')}"
        assert e["detail"] == cli_error(
            run_cli, ["run", flag, params[e["field"]], "--out", str(tmp_path / "r")]
        )
    assert (body["detail"], body["field"]) == (body["errors"][0]["detail"], "tsteps")


def test_a_bad_task_takes_its_own_parameters_out_of_the_judgement(lab):
    response = lab.post("/api/jobs/run", json={"params": {"task": "nope", "tsteps": "3", "epochs": "0"}})
    fields = [e["field"] for e in response.json()["errors"]]
    assert fields == ["task", "epochs"]  # tsteps cannot be judged without its task


def test_every_invalid_axis_of_a_sweep_is_named_at_once(lab):
    body = {"store": "a.sqlite", "axes": {"tsteps": "0:2", "epochs": "x", "lahead": "1"}, "seeds": 0}
    jobs = len(lab.get("/api/jobs").json())
    response = lab.post("/api/jobs/sweep", json=body)
    assert response.status_code == 400
    errors = {e["field"]: e["detail"] for e in response.json()["errors"]}
    assert set(errors) == {"seeds", "epochs", "tsteps"}
    assert errors["seeds"] == "seeds must be an integer >= 1, got 0"
    assert len(lab.get("/api/jobs").json()) == jobs  # nothing queued


def table_of(lab, store: str, **query) -> dict:
    response = lab.get(f"/api/stores/{store}/table", params=query)
    assert response.status_code == 200, response.text
    return response.json()


def test_the_trial_table_pages_sorts_and_filters_the_rows_of_load_results(swept, lab):
    store = lab.root / "new.sqlite"
    frame = statelab.load_results(store)
    page = table_of(lab, "new.sqlite", limit=3, offset=2)
    names = [c["name"] for c in page["columns"]]
    assert names == list(frame.columns)
    assert page["total"] == page["matching"] == len(frame)
    assert [r[0] for r in page["rows"]] == list(frame.index[2:5])  # grid order; the trial number first
    assert [r[1 + names.index("config_hash")] for r in page["rows"]] == list(frame.config_hash[2:5])
    assert {"tsteps", "lahead", "seed", "model_seed"} <= set(page["varying"])
    where = {"tsteps": 2}
    wanted = statelab.load_results(store, where=where)
    wanted = wanted.sort_values("stateless_test_nmse", ascending=False, kind="stable")
    page = table_of(lab, "new.sqlite", filter="tsteps:2", sort="stateless_test_nmse", desc=True)
    assert page["matching"] == len(wanted) > 0 and page["total"] == len(frame)
    assert [r[0] for r in page["rows"]] == list(wanted.index)
    metric = table_of(lab, "new.sqlite", filter=["stateful_test_nmse:<0.5", "status:=ok"])
    assert [r[0] for r in metric["rows"]] == list(frame[frame.stateful_test_nmse < 0.5].index)


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_download_holds_the_rows_of_load_results_with_the_same_filters(swept, lab, tmp_path, kind):
    import pandas as pd

    response = lab.get(
        f"/api/stores/new.sqlite/results.{kind}", params={"filter": ["lahead:1", "tsteps:1,2"]}
    )
    assert response.status_code == 200
    assert response.headers["content-disposition"] == f'attachment; filename="new-results.{kind}"'
    (tmp_path / f"r.{kind}").write_bytes(response.content)
    expected = statelab.load_results(lab.root / "new.sqlite", where={"lahead": 1, "tsteps": [1, 2]})
    if kind == "parquet":
        pd.testing.assert_frame_equal(pd.read_parquet(tmp_path / "r.parquet"), expected)
    else:
        back = pd.read_csv(tmp_path / "r.csv", index_col="trial")
        assert list(back.index) == list(expected.index) and list(back.config_hash) == list(
            expected.config_hash
        )
        assert back.stateless_test_nmse.tolist() == expected.stateless_test_nmse.tolist()


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ({"filter": "tsteps:0"}, "tsteps must be an integer >= 1, got 0"),
        ({"filter": "nope:<1"}, "filter must name a column of the results, got 'nope'"),
        (
            {"filter": "tsteps"},
            "filter must be COLUMN:VALUE (tsteps:1:3, stateful_test_nmse:<0.1), got 'tsteps'",
        ),
        ({"sort": "nope"}, "sort must name a column of the results, got 'nope'"),
    ],
)
def test_a_bad_filter_or_sort_is_a_400_naming_it(swept, lab, query, message):
    response = lab.get("/api/stores/new.sqlite/table", params=query)
    assert response.status_code == 400 and response.json()["detail"] == message


def test_selected_trials_curves_are_their_stored_histories(swept, lab):
    frame = statelab.load_results(lab.root / "new.sqlite")
    chosen = list(frame.config_hash[:2])
    figure = lab.get("/api/stores/new.sqlite/curves", params={"hash": chosen}).json()
    assert len(figure["data"]) == 2 * 2 * 2  # trials x models x (train, validation)
    history = statelab.load_history(lab.root / "new.sqlite")
    for trace in figure["data"]:
        trial = int(trace["name"].split(" ")[0].lstrip("#"))
        model = trace["name"].split(" ")[-1]
        rows = history[(history.trial == trial) & (history.model == model)]
        key = "train_loss" if trace["yaxis"] == "y" else "val_nmse"
        assert trace["y"] == rows[key].tolist()
        assert trace["x"] == (rows.epoch + 1).tolist()  # from 0 in the store, from 1 on the page
        assert trace["line"]["dash"] == {"stateful": "solid", "stateless": "dash"}[model]
    assert sum(t["showlegend"] for t in figure["data"]) == 4  # one legend entry per trial and model
    response = lab.get("/api/stores/new.sqlite/curves", params={"hash": ["f" * 64]})
    assert response.status_code == 400 and response.json()["detail"].startswith("hash must name a trial")


def test_parallel_coordinates_have_an_axis_per_varying_field_and_the_chosen_colour(swept, lab):
    figure = lab.get("/api/stores/new.sqlite/parcoords", params={"color": "stateless_profile_error"}).json()
    trace = figure["data"][0]
    labels = [d["label"] for d in trace["dimensions"]]
    assert trace["type"] == "parcoords" and labels[-3:] == [
        "stateful_test_nmse",
        "stateless_test_nmse",
        "stateless_profile_error",
    ]
    assert {"tsteps", "lahead"} <= set(labels)
    frame = statelab.load_results(lab.root / "new.sqlite")
    assert trace["line"]["color"] == frame.stateless_profile_error.tolist()
    response = lab.get("/api/stores/new.sqlite/parcoords", params={"color": "task"})
    assert response.status_code == 400 and response.json()["detail"].startswith("color must name a number")


def test_a_run_statelab_wrote_is_deleted_and_anything_else_is_refused(lab, two_runs):
    a = two_runs[0][-1]["result"]["run"]
    victim = lab.runs / f"{a}-copy"
    shutil.copytree(lab.runs / a, victim)
    (victim / "notes.txt").write_text("mine")
    response = lab.delete(f"/api/runs/{victim.name}")
    assert response.status_code == 400 and "notes.txt" in response.json()["detail"]
    assert (victim / "notes.txt").read_text() == "mine"
    (victim / "notes.txt").unlink()
    assert lab.delete(f"/api/runs/{victim.name}").json() == {"deleted": victim.name}
    assert not victim.exists() and (lab.runs / a / "metrics.json").exists()
    assert lab.delete("/api/runs/..%2Fa.sqlite").status_code == 404
    assert lab.delete("/api/runs/nope").status_code == 404


def test_a_page_that_does_not_exist_is_an_html_page_with_navigation_and_the_api_answers_json(lab):
    for path in ("/nope", "/runs/nope", "/sweeps/nope.sqlite", "/jobs/1-000000"):
        response = lab.get(path)
        assert response.status_code == 404 and response.headers["content-type"].startswith("text/html")
        assert '<a href="/runs">Runs</a>' in response.text and "id=error-message" in response.text
        assert "content-security-policy" in response.headers
    for path in ("/api/nope", "/api/runs/nope", "/api/jobs/1-000000"):
        response = lab.get(path)
        assert response.status_code == 404 and response.headers["content-type"] == "application/json"


def test_a_jobs_own_url_leads_to_the_page_that_follows_it(lab, two_runs):
    job = lab.get("/api/jobs").json()[-1]
    response = lab.get(f"/jobs/{job['id']}", follow_redirects=False)
    assert response.status_code == 303 and response.headers["location"] == f"/?job={job['id']}"
    assert lab.get("/jobs").status_code == 200


def test_only_a_stores_page_allows_eval_for_its_parallel_coordinates(lab):
    for path, evals in (("/sweeps/a.sqlite", True), ("/sweeps", False), ("/", False), ("/runs", False)):
        policy = lab.get(path).headers["content-security-policy"]
        script = dict(part.strip().split(" ", 1) for part in policy.split(";"))["script-src"]
        assert script == ("'self' 'unsafe-eval'" if evals else "'self'"), path


def test_a_lab_started_warm_compiles_the_reference_run_before_its_first_job(tmp_path):
    import jax

    compiled: list[str] = []

    def heard(event: str, *args, **kwargs) -> None:
        if event == "/jax/core/compile/backend_compile_duration":
            compiled.append(event)

    jax.clear_caches()  # programs compiled by earlier tests in this process would hide a cold start
    jax.monitoring.register_event_duration_secs_listener(heard)
    try:
        app = create_app(tmp_path / "runs", warm=True)
        with TestClient(app) as client:
            queue = client.app.state.lab.queue
            while queue.warming:
                threading.Event().wait(0.1)
            warmed = len(compiled)
            response = client.post("/api/jobs/run", json={"params": {}})  # the reference run
            events = events_of(client, response.json()["id"])
    finally:
        jax.monitoring.unregister_event_duration_listener(heard)
    assert events[-1]["type"] == "done"
    assert warmed > 0 and len(compiled) == warmed  # the first Run compiled nothing
    assert [p.name for p in (tmp_path / "runs").iterdir()] == [
        events[-1]["result"]["run"]
    ]  # warm-up saved nothing


def test_a_runs_expected_outcome_and_diagnosis_are_those_of_its_metrics_json(lab, two_runs):
    a = two_runs[0][-1]["result"]["run"]
    judged = lab.runs / f"{a}-judged"
    shutil.copytree(lab.runs / a, judged)
    metrics = json.loads((judged / "metrics.json").read_text())
    diagnosis = {"kind": "stuck", "evidence": "a flat loss", "suggestion": "a smaller step", "change": {}}
    metrics["models"]["stateless"]["diagnosis"] = diagnosis
    (judged / "metrics.json").write_text(json.dumps(metrics))
    try:
        models = lab.get(f"/api/runs/{judged.name}").json()["models"]
        for name, m in models.items():
            assert (
                m["expected"]
                == metrics["models"][name]["expected"]
                in ("promised", "impossible", "not promised")
            )
            assert m["expected_reason"] == metrics["models"][name]["expected_reason"]
        assert models["stateless"]["diagnosis"] == diagnosis
    finally:
        shutil.rmtree(judged)


def test_figures_write_whole_trace_names_on_hover_and_explain_a_span(lab, two_runs):
    from statelab.report.html import span_text

    run = lab.get(f"/api/runs/{two_runs[0][-1]['result']['run']}").json()
    for figure in run["figures"].values():
        assert figure["layout"]["hoverlabel"]["namelength"] == -1  # never cut short
    metrics = json.loads((lab.runs / run["name"] / "metrics.json").read_text())
    profiles = [  # the sensitivity profiles (beneath them: what the state holds, the gradient reach)
        t for t in run["figures"]["memory"]["data"] if t["type"] == "scatter" and t.get("xaxis", "x") == "x"
    ]
    for trace in profiles:
        memory = metrics["models"][trace["name"].split(" ")[0]]["memory"]
        assert trace["name"].endswith(f"(span {span_text(memory)})")
        assert "oldest lag" in trace["hovertemplate"]


def test_the_doctor_of_a_failed_run_is_a_job_whose_table_is_the_doctors(lab):
    from statelab import doctors

    failed = lab.runs / "delay-failed"
    statelab.run_experiment({"task": "delay", "delay": 2, "input_len": 200, "epochs": 2}, out=failed)
    before = lab.get("/api/runs/delay-failed/doctor", params={"seeds": 1}).json()
    assert before["models"] == ["stateful"] and not any(c["tried"] for c in before["candidates"])
    response = lab.post("/api/jobs/doctor", json={"run": "delay-failed", "seeds": "1"})
    assert response.status_code == 202, response.text
    job = response.json()
    assert job["kind"] == "doctor" and job["params"] == {"run": "delay-failed", "seeds": 1}
    events = events_of(lab, job["id"])
    assert [e["type"] for e in events][-1] == "done"
    start = next(e for e in events if e["type"] == "start")
    assert start["trials"] == start["pending"] == len(before["candidates"])  # one seed each
    shown = events[-1]["result"]
    frame = doctors.load(failed, seeds=1).frame()  # what `statelab doctor --seeds 1` finds in its store
    assert [c["candidate"] for c in shown["candidates"]] == list(frame.index)
    assert [c["fixes"] for c in shown["candidates"]] == frame["fixes"].tolist()
    assert shown["command"] == frame.attrs["command"] and all(c["tried"] for c in shown["candidates"])
    again = lab.get("/api/runs/delay-failed/doctor", params={"seeds": 1}).json()
    assert again == shown  # found again without training
    assert (failed / "doctor.sqlite").is_file()
    assert lab.get(f"/jobs/{job['id']}", follow_redirects=False).headers["location"] == (
        f"/runs/delay-failed?job={job['id']}"
    )
    # a run statelab wrote, doctor store included, is still one it deletes
    assert lab.delete("/api/runs/delay-failed").json() == {"deleted": "delay-failed"}


def test_a_doctor_for_a_run_with_nothing_to_treat_or_bad_seeds_is_refused(lab, two_runs):
    ok = two_runs[0][-1]["result"]["run"]
    metrics = json.loads((lab.runs / ok / "metrics.json").read_text())
    if not any(m.get("diagnosis") for m in metrics["models"].values()):
        response = lab.post("/api/jobs/doctor", json={"run": ok})
        assert response.status_code == 400 and response.json()["detail"].startswith(
            "run must have a model to treat"
        )
    for seeds, message in (
        (0, "seeds must be an integer >= 1, got 0"),
        (17, "seeds must be an integer in [1, 16]"),
    ):
        response = lab.post("/api/jobs/doctor", json={"run": ok, "seeds": seeds})
        assert response.status_code == 400 and response.json()["detail"].startswith(message)
    assert lab.post("/api/jobs/doctor", json={"run": "nope"}).status_code == 404
