"""`statelab serve` end to end: the printed URL, the loopback warning, bad flags, Ctrl-C mid-run."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def start(tmp_path: Path, *flags: str) -> subprocess.Popen:
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    return subprocess.Popen(
        [sys.executable, "-m", "statelab", "serve", "--port", "0", "--no-cache", *flags],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as response:
        return json.loads(response.read())


def post(url: str, body: dict) -> dict:
    request = urllib.request.Request(
        url, data=json.dumps(body).encode(), headers={"Content-Type": "application/json"}
    )
    with urllib.request.urlopen(request, timeout=10) as response:
        return json.loads(response.read())


@pytest.mark.slow
def test_ctrl_c_during_a_run_stops_the_server_cleanly_and_writes_nothing(tmp_path):
    server = start(tmp_path, "--runs", "runs")
    try:
        first = server.stdout.readline()
        assert first.startswith("statelab lab at http://127.0.0.1:") and "Ctrl-C" in first
        url = first.split()[3]
        assert get(url + "api/runs") == []
        job = post(url + "api/jobs/run", {"params": {"input_len": "200", "epochs": "20000"}})
        deadline = time.monotonic() + 60
        while get(f"{url}api/jobs/{job['id']}")["events"] < 3:  # queued, running, an epoch
            assert time.monotonic() < deadline, "training did not start"
            time.sleep(0.1)
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=30)
    finally:
        server.kill()
    assert server.returncode == 0, err
    assert out.strip().endswith("statelab: server stopped")
    assert "Traceback" not in err
    runs = tmp_path / "runs"
    assert not runs.exists() or list(runs.iterdir()) == []  # no run directory, not even a hidden one


@pytest.mark.slow
def test_ctrl_c_while_the_server_warms_up_stops_it_cleanly(tmp_path):
    server = start(tmp_path, "--runs", "runs")
    try:
        url = server.stdout.readline().split()[3]
        # The server answers while its worker compiles the reference run in the background.
        assert get(url + "api/jobs") == [] and get(url + "api/params")["fields"]
        server.send_signal(signal.SIGINT)
        out, err = server.communicate(timeout=60)
    finally:
        server.kill()
    assert server.returncode == 0, err
    assert out.strip().endswith("statelab: server stopped") and "Traceback" not in err
    assert not (tmp_path / "runs").exists()  # the warm-up saves nothing


@pytest.mark.slow
def test_a_host_other_than_loopback_prints_a_warning(tmp_path):
    server = start(tmp_path, "--host", "0.0.0.0")
    try:
        warning = server.stderr.readline()
        assert server.stdout.readline().startswith("statelab lab at http://0.0.0.0:")
        server.send_signal(signal.SIGINT)
        server.communicate(timeout=30)
    finally:
        server.kill()
    assert warning.startswith("statelab: warning: --host 0.0.0.0 is not a loopback address")
    assert server.returncode == 0


def test_bad_serve_flags_are_one_line_errors_before_anything_starts(tmp_path, run_cli):
    text_file = tmp_path / "notes.txt"
    text_file.write_text("not a store")
    taken = socket.socket()
    taken.bind(("127.0.0.1", 0))
    taken.listen(1)
    port = taken.getsockname()[1]
    cases = [
        (["--port", "70000"], "port must be an integer in [0, 65535], got '70000'"),
        (["--port", "eighty"], "port must be an integer >= 0, got 'eighty'"),
        (["--port", str(port)], f"port must be free on 127.0.0.1, got {port} (Address already in use)"),
        (["--runs", str(text_file)], f"runs must be a directory, got {str(text_file)!r} (a file)"),
        (["--store", str(text_file)], "store must be an existing statelab sweep store"),
        (["--runs", "", "--port", str(port)], "runs must be a directory, got ''"),  # not this folder
        (["--store", "", "--port", str(port)], "store must be a sweep store's path, got ''"),
        (["--workers", "0"], "workers must be an integer >= 1, got '0'"),
        (["--workers", "1", "--scheduler", "tcp://127.0.0.1:9"], "workers must not be given together"),
        (["--scheduler-timeout", "0"], "scheduler_timeout must be"),
    ]
    try:
        for flags, message in cases:
            code, out, err = run_cli(["serve", "--no-cache", "--runs", str(tmp_path / "runs"), *flags])
            assert code == 2 and out == ""
            assert err.startswith(f"statelab: error: {message}"), err
            assert err.count("\n") == 1
    finally:
        taken.close()
    assert not (tmp_path / "runs").exists()


@pytest.mark.parametrize(("host", "loopback"), [("127.0.0.1", True), ("localhost", True), ("::1", True),
                                                ("0.0.0.0", False), ("192.168.1.5", False)])  # fmt: skip
def test_loopback_addresses_are_told_apart(host, loopback):
    from statelab.web.server import is_loopback

    assert is_loopback(host) is loopback
