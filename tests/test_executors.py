"""executors.py: local and existing Dask clusters compute what an in-process sweep computes."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time

import pytest

from statelab import executors as ex
from statelab import grid as gr
from statelab import sweeps as sw
from statelab.store import Store
from test_sweeps import SMALL_FLAGS, run_cli, store_rows  # the sweep tests' helpers

DASK_GRID = {"tsteps": "1:3", "lahead": "1:3", **SMALL_FLAGS}


@pytest.fixture(scope="module")
def in_process_metrics(tmp_path_factory) -> dict[str, str]:
    """The small Dask grid run in-process: {config hash: metrics JSON}."""
    path = tmp_path_factory.mktemp("reference") / "s.sqlite"
    with Store.create(path) as store:
        sw.run_sweep(gr.expand(gr.grid_from_inputs(DASK_GRID)), store, ex.InProcess(threads=1))
    return {h: r["metrics"] for h, r in store_rows(path).items()}


@pytest.mark.slow
def test_a_local_dask_cluster_gives_the_metrics_of_an_in_process_sweep(tmp_path, in_process_metrics, capsys):
    store = tmp_path / "s.sqlite"
    flags = [f"--{k.replace('_', '-')}" if i == 0 else v for k, v in DASK_GRID.items() for i in (0, 1)]
    assert run_cli("sweep", *flags, "--workers", "2", "--no-cache", "--store", str(store)) == 0
    starting, ready = capsys.readouterr().err.splitlines()[:2]  # the wait for the cluster is shown
    assert starting == "Starting a local Dask cluster of 2 worker processes ..."
    assert ready.startswith("Cluster ready in ") and ready.endswith(" s.")
    rows = store_rows(store)
    assert {h: r["metrics"] for h, r in rows.items()} == in_process_metrics  # bit for bit
    workers = {r["worker"] for r in rows.values()}
    assert f"{os.uname().nodename}:{os.getpid()}" not in workers  # computed in worker processes


@pytest.mark.slow
def test_an_existing_cluster_reruns_the_trials_of_a_worker_that_died(tmp_path, in_process_metrics):
    import logging

    from distributed import Client, LocalCluster

    with (
        LocalCluster(
            n_workers=1,
            threads_per_worker=1,
            processes=True,
            dashboard_address=":0",
            silence_logs=logging.CRITICAL,
        ) as cluster,
        Client(cluster) as client,
    ):
        (victim,) = client.run(os.getpid).values()
        killed = threading.Event()

        def kill_once_busy() -> None:
            deadline = time.monotonic() + 120
            while time.monotonic() < deadline and not any(client.processing().values()):
                time.sleep(0.02)
            time.sleep(0.3)  # inside the task: importing JAX and compiling take longer than this
            os.kill(victim, signal.SIGKILL)
            killed.set()

        killer = threading.Thread(target=kill_once_busy)
        killer.start()
        store = tmp_path / "s.sqlite"
        flags = [f"--{k.replace('_', '-')}" if i == 0 else v for k, v in DASK_GRID.items() for i in (0, 1)]
        status = run_cli(
            "sweep", *flags, "--scheduler", cluster.scheduler_address, "--no-cache", "--store", str(store)
        )
        killer.join()
    assert killed.is_set() and status == 0
    rows = store_rows(store)
    assert {h: r["metrics"] for h, r in rows.items()} == in_process_metrics
    assert all(not r["worker"].endswith(f":{victim}") for r in rows.values())  # redone by the new worker


@pytest.mark.parametrize("answer", [b"", b"HTTP/1.1 400 Bad Request\r\n\r\n"], ids=["silent", "http"])
@pytest.mark.slow
def test_a_port_held_by_another_program_is_bad_input_within_the_wait(tmp_path, answer):
    """Something listens at the address but is no scheduler: it never answers the handshake (Dask's
    Client would wait for it forever, holding the lab's job queue too), or answers in another protocol."""
    listener = socket.create_server(("127.0.0.1", 0))
    held = []

    def accept() -> None:
        while True:
            try:
                conn, _ = listener.accept()
            except OSError:  # closed: the test is over
                return
            held.append(conn)
            if answer:
                conn.recv(100)
                conn.sendall(answer * 4)

    threading.Thread(target=accept, daemon=True).start()
    address = f"tcp://127.0.0.1:{listener.getsockname()[1]}"
    store = tmp_path / "s.sqlite"
    argv = [sys.executable, "-m", "statelab", "sweep", "--scheduler", address, "--scheduler-timeout", "1"]
    try:
        done = subprocess.run([*argv, "--store", str(store)], capture_output=True, text=True, timeout=60)
    finally:
        listener.close()
        for conn in held:
            conn.close()
    assert done.returncode == 2, done.stderr
    assert done.stderr.splitlines()[-1].startswith(
        "statelab: error: scheduler must be the address of a running Dask scheduler reachable within 1 s "
        f"(--scheduler-timeout), got {address!r} ("
    )
    assert "Traceback" not in done.stderr and not store.exists()


def test_an_unreachable_scheduler_is_bad_input_after_the_wait_it_announced(tmp_path, capsys):
    store = tmp_path / "s.sqlite"
    with pytest.raises(SystemExit) as exit_:
        run_cli(
            "sweep", "--scheduler", "tcp://127.0.0.1:9", "--scheduler-timeout", "1", "--store", str(store)
        )
    assert exit_.value.code == 2
    waiting, error = capsys.readouterr().err.splitlines()
    assert waiting == "Connecting to the Dask scheduler at tcp://127.0.0.1:9 (waiting up to 1 s) ..."
    assert error.startswith(
        "statelab: error: scheduler must be the address of a running Dask scheduler reachable within 1 s "
        "(--scheduler-timeout), got 'tcp://127.0.0.1:9'"
    )
    assert not store.exists()
