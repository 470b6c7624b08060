"""The lab's job queue and path rules, without the web layer around them."""

from __future__ import annotations

import contextlib
import os
import threading
import time
from pathlib import Path

import pytest

from statelab.config import ConfigError, from_mapping
from statelab.web import lab as lab_work
from statelab.web.jobs import Cancelled, JobOver, JobQueue, QueueFull
from statelab.web.paths import NotFound, Roots, inside, store_names


def wait_over(job, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while not job.over:
        job.wait(len(job.events), 0.2)
        assert time.monotonic() < deadline, "job did not end"


@pytest.fixture
def queue():
    q = JobQueue(max_queued=3)
    q.start()
    yield q
    q.stop()
    q.join(5)


def test_jobs_run_one_at_a_time_in_submission_order(queue):
    spans = []

    def work(job):
        start = time.perf_counter()
        time.sleep(0.05)
        spans.append((job.id, start, time.perf_counter()))
        return {"id": job.id}

    jobs = [queue.submit("run", f"job {i}", work) for i in range(3)]
    for job in jobs:
        wait_over(job)
    assert [s[0] for s in spans] == [j.id for j in jobs]
    assert all(spans[i][2] <= spans[i + 1][1] for i in range(2)), "two jobs overlapped"
    assert [j.result for j in jobs] == [{"id": j.id} for j in jobs]
    assert [j.id.split("-")[0] for j in jobs] == ["1", "2", "3"]
    assert JobQueue().submit("run", "another server", lambda job: {}).id != jobs[0].id  # same number


def test_the_queue_refuses_a_job_beyond_its_bound(queue):
    gate = threading.Event()
    running = queue.submit("run", "blocking", lambda job: gate.wait(10) and {})
    while running.status != "running":
        time.sleep(0.01)
    for i in range(3):
        queue.submit("run", f"waits {i}", lambda job: {})
    with pytest.raises(QueueFull):
        queue.submit("run", "one too many", lambda job: {})
    gate.set()


def test_a_failing_job_keeps_one_line_and_names_its_field_and_the_next_runs(queue):
    def bad(job):
        raise ConfigError("tsteps must be an integer >= 1, got 0")

    def crash(job):
        raise RuntimeError("first line\nsecond line")

    failed, crashed = queue.submit("run", "bad", bad), queue.submit("run", "crash", crash)
    wait_over(failed)
    wait_over(crashed)
    assert (failed.status, failed.error) == ("failed", "tsteps must be an integer >= 1, got 0")
    assert failed.events[-1] == {
        "seq": len(failed.events) - 1,
        "time": failed.finished,
        "type": "failed",
        "error": failed.error,
        "field": "tsteps",
    }
    assert crashed.error == "RuntimeError: first line" and crashed.events[-1]["field"] is None
    after = queue.submit("run", "fine", lambda job: {"ok": True})
    wait_over(after)
    assert after.status == "done"


def test_stop_cancels_waiting_jobs_and_asks_the_running_one_to_stop(queue):
    def until_cancelled(job):
        while not job.cancelled.is_set():
            time.sleep(0.01)
        raise Cancelled("stopped at an epoch boundary")

    running = queue.submit("run", "long", until_cancelled)
    waiting = queue.submit("run", "never", lambda job: {"ran": True})
    while running.status != "running":
        time.sleep(0.01)
    queue.stop()
    assert queue.join(5)
    assert (running.status, running.error) == ("cancelled", "stopped at an epoch boundary")
    assert waiting.status == "cancelled" and waiting.result is None
    with pytest.raises(QueueFull):
        queue.submit("run", "late", lambda job: {})


def test_a_follower_wakes_on_each_event_and_sees_them_in_order(queue):
    gate = threading.Event()

    def work(job):
        gate.wait(10)
        for i in range(3):
            job.emit({"type": "epoch", "epoch": i})
        return {}

    job = queue.submit("run", "events", work)
    seen = job.wait(0, 0.05)
    assert [e["type"] for e in seen] == ["queued", *(["running"] if len(seen) > 1 else [])]
    gate.set()
    wait_over(job)
    assert [e["type"] for e in job.wait(0, 0)] == ["queued", "running", "epoch", "epoch", "epoch", "done"]
    assert job.wait(len(job.events), 0.01) == []


def test_progress_events_are_thinned_but_the_last_word_is_kept():
    q = JobQueue()
    job = q.submit("run", "thin", lambda job: {})
    for i in range(100):
        job.emit({"type": "epoch", "epoch": i}, throttle=True)
    job.emit({"type": "epoch", "epoch": 100})
    epochs = [e["epoch"] for e in job.events if e["type"] == "epoch"]
    assert epochs[0] == 0 and epochs[-1] == 100 and len(epochs) < 10


def test_a_run_cancelled_during_training_writes_nothing(tmp_path):
    config = from_mapping({"input_len": 200, "epochs": 50})
    roots = Roots(tmp_path / "runs")
    q = JobQueue()
    job = q.submit("run", "cancel me", lab_work.run_work(config, roots))
    job.emit = _cancel_after_first_epoch(job)
    q.start()
    wait_over(job, 120)
    q.stop()
    assert job.status == "cancelled" and "nothing was written" in job.error
    assert not (tmp_path / "runs").exists() or list((tmp_path / "runs").iterdir()) == []


def _cancel_after_first_epoch(job):
    emit = job.emit

    def wrapped(event, throttle=False):
        emit(event, throttle)
        if event["type"] == "epoch":
            job.cancelled.set()

    return wrapped


def test_a_sweep_cancelled_while_its_cluster_starts_trains_nothing_and_creates_no_store(
    tmp_path, monkeypatch
):
    from statelab import executors, grid

    configs = grid.expand(grid.grid_from_inputs({"tsteps": "2,3", "input_len": "200", "epochs": "1"}, 1))
    store = tmp_path / "s.sqlite"
    q = JobQueue()
    job = q.submit("sweep", "cancelled while its cluster starts", lab_work.sweep_work(configs, store, None))

    @contextlib.contextmanager
    def slow_cluster(self, cache_dir=None, on_status=None):
        on_status("Starting a local Dask cluster of 1 worker processes ...")
        q.cancel(job.id)  # the page's Cancel, while the cluster starts
        yield executors.InProcess(threads=1)

    monkeypatch.setattr(executors.Inline, "open", slow_cluster)
    q.start()
    wait_over(job, 120)
    q.stop()
    assert (job.status, job.error) == ("cancelled", "cancelled before the sweep started; nothing was written")
    assert not store.exists()


@pytest.mark.slow
def test_a_cancelled_sweep_stops_the_groups_still_training_beside_the_one_it_kept(tmp_path, monkeypatch):
    """Two groups train side by side; the sweep is cancelled at its start: the short group is
    committed, and the long one stops at its next epoch instead of training on after the job
    ended (beside the next job, and adding events after the job's last word)."""
    from statelab import executors, grid
    from statelab.store import Store

    short = grid.expand(grid.grid_from_inputs({"input_len": "200", "epochs": "2"}, 1))
    long = grid.expand(grid.grid_from_inputs({"input_len": "201", "epochs": "50000"}, 1))
    store = tmp_path / "s.sqlite"

    @contextlib.contextmanager
    def two_threads(self, cache_dir=None, on_status=None):
        yield executors.InProcess(threads=2)

    monkeypatch.setattr(executors.Inline, "open", two_threads)
    q = JobQueue()
    job = q.submit("sweep", "cancelled at its start", lab_work.sweep_work(short + long, store, None))
    emit = job.emit

    def cancel_at_start(event, throttle=False):
        emit(event, throttle)
        if event["type"] == "start":
            job.cancelled.set()

    job.emit = cancel_at_start
    q.start()
    wait_over(job, 120)
    ended = len(job.events)
    deadline = time.monotonic() + 30
    while any(t.name.startswith("statelab-group") for t in threading.enumerate()):
        assert time.monotonic() < deadline, "a group went on training after its sweep was cancelled"
        time.sleep(0.05)
    q.stop()
    assert job.status == "cancelled" and len(job.events) == ended
    with Store.open(store) as opened:
        assert opened.count() == {"ok": 1, "error": 0}  # the short group's trial, kept


# ---------------------------------------------------------------------------------------------
# Paths


def test_inside_keeps_paths_under_the_root_and_refuses_every_way_out(tmp_path):
    root = tmp_path / "root"
    (root / "run" / "models").mkdir(parents=True)
    (root / "run" / "models" / "a.npz").write_bytes(b"x")
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink(tmp_path / "outside.txt", root / "run" / "out.txt")
    os.symlink(root / "run" / "models" / "a.npz", root / "run" / "in.npz")
    assert inside(root, "run/models/a.npz") == (root / "run" / "models" / "a.npz").resolve()
    assert inside(root, "run/in.npz") == (root / "run" / "models" / "a.npz").resolve()
    ways_out = ["", "/etc/passwd", "../outside.txt", "run/../../outside.txt", "run/./models", "run//a"]
    ways_out += ["run/", "run/out.txt", ".hidden", "run/.a.npz.tmp", "run\\..\\x", "a\x00b"]
    for bad in ways_out:
        with pytest.raises(NotFound):
            inside(root, bad)


def test_run_dirs_are_direct_children_with_metrics_and_stores_only_those_given(tmp_path):
    runs = tmp_path / "runs"
    (runs / "good").mkdir(parents=True)
    (runs / "good" / "metrics.json").write_text("{}")
    (runs / "empty").mkdir()
    roots = Roots(runs, store_names([Path("a/s.sqlite"), Path("b/s.sqlite")]))
    assert roots.run_dir("good") == (runs / "good").resolve()
    for bad in ("empty", "missing", "good/..", "../runs/good"):
        with pytest.raises(NotFound):
            roots.run_dir(bad)
    assert roots.stores == {"s.sqlite": Path("a/s.sqlite"), "s.sqlite-2": Path("b/s.sqlite")}
    with pytest.raises(NotFound):
        roots.store("c.sqlite")


def test_an_event_loop_follower_is_woken_by_the_worker_thread(queue):
    import asyncio

    gate = threading.Event()
    job = queue.submit("run", "async", lambda job: gate.wait(10) and {"ok": True})

    async def follow() -> list[str]:
        seen: list[dict] = []
        while not (seen and seen[-1]["type"] == "done"):
            seen += await job.follow(len(seen), 5.0)
        return [e["type"] for e in seen]

    async def main() -> list[str]:
        follower = asyncio.ensure_future(follow())
        await asyncio.sleep(0.05)
        gate.set()
        return await asyncio.wait_for(follower, 10)

    assert asyncio.run(main()) == ["queued", "running", "done"]


def test_cancel_takes_a_waiting_job_off_the_queue_and_stops_the_running_one(queue):
    def until_cancelled(job):
        while not job.cancelled.is_set():
            time.sleep(0.01)
        raise Cancelled(f"{job.why} at an epoch boundary")

    ran = []
    running = queue.submit("run", "long", until_cancelled)
    waiting = queue.submit("run", "never", lambda job: ran.append(job.id) or {})
    while running.status != "running":
        time.sleep(0.01)
    assert queue.cancel(waiting.id) is waiting
    assert (waiting.status, waiting.error) == ("cancelled", "cancelled before it started")
    queue.cancel(running.id)
    wait_over(running)
    assert (running.status, running.error) == ("cancelled", "cancelled at an epoch boundary")
    assert [e["type"] for e in running.events][-2:] == ["cancelling", "cancelled"]
    with pytest.raises(JobOver):
        queue.cancel(running.id)
    with pytest.raises(KeyError):
        queue.cancel("404")
    after = queue.submit("run", "after", lambda job: {"ok": True})  # cancelling is not stopping
    wait_over(after)
    assert after.result == {"ok": True} and ran == []


def test_a_job_cancelled_as_it_leaves_the_queue_does_not_start(queue, monkeypatch):
    ran = []
    real_run = queue._run

    def cancelled_as_it_starts(job):
        queue.cancel(job.id)  # the page's Cancel, just after the worker took the job
        real_run(job)

    monkeypatch.setattr(queue, "_run", cancelled_as_it_starts)
    job = queue.submit("sweep", "cancelled at once", lambda job: ran.append(job.id) or {})
    wait_over(job)
    assert ran == [] and (job.status, job.error) == ("cancelled", "cancelled before it started")
    assert [e["type"] for e in job.events] == ["queued", "cancelling", "cancelled"]


def test_a_cancel_as_the_job_ends_never_comes_after_its_last_word(queue):
    gate = threading.Event()
    job = queue.submit("run", "ends as it is cancelled", lambda job: gate.wait(10) and {})
    while job.status != "running":
        time.sleep(0.01)

    class EndsMeanwhile(threading.Event):
        def set(self) -> None:  # the job ends between the cancel's look at it and its word
            gate.set()
            deadline = time.monotonic() + 10  # left as soon as the job is over; slow on a busy machine
            while not job.over and time.monotonic() < deadline:
                time.sleep(0.01)
            super().set()

    job.cancelled = EndsMeanwhile()
    queue.cancel(job.id)
    wait_over(job)
    kinds = [e["type"] for e in job.events]
    assert kinds[-2:] == ["cancelling", "done"] and job.status == "done"
    with pytest.raises(JobOver):
        queue.cancel(job.id)


def test_a_lab_run_whose_name_another_run_takes_while_it_saves_is_saved_beside_it(tmp_path, monkeypatch):
    """The lab names a run as `statelab run` does and takes the name when its directory is renamed
    into place: another process committing the same name meanwhile (the same config, the same
    second) leaves this run at NAME-2, never a failed job (round two named it ahead of time)."""
    from statelab import rundir

    monkeypatch.setattr(rundir, "default_run_dir", lambda config, root="runs": Path(root) / "same")
    real = rundir.save_result

    def another_run_commits_meanwhile(result, directory):
        real(result, directory)
        (tmp_path / "runs" / "same").mkdir()  # another process's run, renamed into place
        (tmp_path / "runs" / "same" / "metrics.json").write_text("{}")

    monkeypatch.setattr(rundir, "save_result", another_run_commits_meanwhile)
    config = from_mapping({"input_len": 120, "epochs": 1, "units": 4})
    q = JobQueue()
    job = q.submit("run", "saved beside", lab_work.run_work(config, Roots(tmp_path / "runs")))
    q.start()
    wait_over(job, 120)
    q.stop()
    assert job.status == "done", job.error
    assert job.result["run"] == "same-2"
    assert (tmp_path / "runs" / "same-2" / "report.html").is_file()
    assert sorted(p.name for p in (tmp_path / "runs").iterdir()) == ["same", "same-2"]  # no temporary left
