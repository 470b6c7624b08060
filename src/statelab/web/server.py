"""Running the lab: bind, print the URL, serve with uvicorn until Ctrl-C, stop cleanly.

The socket is bound here, before the server starts, so a port in use is a one-line error and the
URL printed is the one really listened on (port 0 picks a free one). Ctrl-C (or SIGTERM) stops
the job queue first: a run still training ends at its next epoch with nothing written, a run
being saved finishes its save, a sweep ends after its current group with every finished trial
committed; then uvicorn closes the connections and `serve` returns.
"""

from __future__ import annotations

import ipaddress
import signal
import socket
import sys
import threading
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from types import FrameType
from typing import TextIO

import uvicorn
from fastapi import FastAPI

from statelab.config import ConfigError
from statelab.executors import Executor
from statelab.params import check_count, check_path
from statelab.web.app import create_app
from statelab.web.paths import check_runs_dir

LOOPBACK_NAMES = ("127.0.0.1", "localhost")  # Host headers answered when listening on IPv4 loopback
GRACE_S = 3  # seconds uvicorn gives open connections (event streams end sooner: api.STOPPING_WAIT_S)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_port(value: str | int) -> int:
    port = check_count("port", value, 0)
    if port > 65535:
        raise ConfigError(f"port must be an integer in [0, 65535], got {value!r}")
    return port


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on host:port; ConfigError naming the flag if it cannot be had."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError) as exc:
        raise ConfigError(
            f"host must be an address or a name of this machine, got {host!r} ({exc})"
        ) from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.listen(128)
    except OSError as exc:
        sock.close()
        raise ConfigError(f"port must be free on {host}, got {port} ({exc.strerror})") from None
    sock.set_inheritable(True)
    return sock


def url_of(sock: socket.socket, host: str) -> str:
    port = sock.getsockname()[1]
    shown = f"[{host}]" if ":" in host else host
    return f"http://{shown}:{port}/"


class LabServer(uvicorn.Server):
    """uvicorn's server, stopping the job queue when asked to exit, and not raising the signal
    again once stopped (uvicorn re-raises it by default; the lab has ended cleanly by then)."""

    def __init__(
        self, config: uvicorn.Config, on_stop: Callable[[], None], on_start: Callable[[], None] | None = None
    ):
        super().__init__(config)
        self.on_stop = on_stop
        self.on_start = on_start

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.on_start is not None and self.started:
            self.on_start()  # listening, and Ctrl-C is handled: now the URL is worth printing

    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        self.on_stop()
        if self.should_exit and sig == signal.SIGINT:
            self.force_exit = True  # a second Ctrl-C: do not wait for connections
        else:
            self.should_exit = True


def serve(
    runs: str | Path,
    stores: Sequence[str | Path],
    host: str = "127.0.0.1",
    port: int | str = 8000,
    cache_dir: Path | None = None,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
    executor: Executor | str | None = None,
) -> int:
    """Serve the lab until Ctrl-C; every check (runs directory, stores, where sweeps run, host,
    port) comes first. executor: where the pages' sweeps run (`statelab.executors`)."""
    from statelab.store import Store

    runs = check_runs_dir(runs)
    for path in (check_path("store", s, "a sweep store's path") for s in stores):
        if path.exists() and (not path.is_file() or path.stat().st_size > 0):
            Store.open(path).close()  # ConfigError unless it is a statelab store
    executor = Executor.parse(executor)  # one line now, not at the first sweep
    port = check_port(port)
    loopback = is_loopback(host)
    sock = bind(host, port)
    if not loopback:
        print(
            f"statelab: warning: --host {host} is not a loopback address: anyone who can reach this "
            "machine can read your runs and stores and start trainings",
            file=err,
            flush=True,
        )
    allowed = (*LOOPBACK_NAMES, host) if loopback and ":" not in host else None
    app = create_app(
        runs,
        stores,
        cache_dir=cache_dir,
        allowed_hosts=allowed,
        executor=executor,
        warm=True,  # the reference run's programs compile while the first page loads
    )
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=GRACE_S, lifespan="on")
    url = url_of(sock, host)
    server = LabServer(
        config,
        on_stop=app.state.lab.queue.stop,
        on_start=lambda: print(f"statelab lab at {url}  (Ctrl-C to stop)", file=out, flush=True),
    )
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    print("statelab: server stopped", file=out, flush=True)
    return 0


@contextmanager
def running(app: FastAPI, host: str = "127.0.0.1") -> Iterator[str]:
    """Serve `app` from a background thread on a free port and yield its URL; stop on exit.

    For browser tests and benchmarks that drive a real server in the same process (so the
    compiled programs they share stay warm). No signals are handled off the main thread.
    """
    sock = bind(host, 0)
    config = uvicorn.Config(app, log_level="warning", timeout_graceful_shutdown=GRACE_S, lifespan="on")
    server = LabServer(config, on_stop=app.state.lab.queue.stop)
    thread = threading.Thread(
        target=server.run, kwargs={"sockets": [sock]}, name="statelab-serve", daemon=True
    )
    thread.start()
    try:
        while not server.started and thread.is_alive():
            thread.join(0.02)
        yield url_of(sock, host)
    finally:
        server.on_stop()
        server.should_exit = True
        thread.join(GRACE_S + 10)
        sock.close()
