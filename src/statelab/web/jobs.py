"""The lab's job queue: one job at a time in one worker thread, a bounded queue, live events.

A job is a run or a sweep. It runs in this server process, so the compiled programs of one job
stay warm for the next (a same-shape rerun is training only). Jobs run one at a time because a
training uses every core it can get. The queue holds at most `max_queued` waiting jobs; one more
is refused (`QueueFull`, which the API answers with 429).

A job reports through events, appended in order and numbered from 0: a page follows them as
server-sent events and may reconnect with the number of the last one it saw. The last event of
every job says how it ended: `done` (with its result), `failed` (with a one-line error, and the
field it names when it is a parameter's) or `cancelled`.

The server holds each job's parameters (what the page sent), its latest progress and every event,
so a page that reloads, or the same page in another tab, finds the job (`GET /api/jobs`) and
reattaches: it refills its form from `params` and replays the events from the first.

Cancelling a job (the page's Cancel, `POST /api/jobs/{id}/cancel`): a waiting job leaves the queue;
a running one is asked to stop at its next epoch (run: nothing is written) or after its next group
(sweep: the trials finished so far stay in the store). Stopping the server (Ctrl-C) cancels every
job that way, and wakes every follower so its stream ends.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import itertools
import secrets
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from statelab.config import FIELD_SECTION, ConfigError

MAX_QUEUED = 4  # waiting jobs; one more is refused with 429
KEEP_FINISHED = 50  # finished jobs kept for GET /api/jobs
THROTTLE_S = 0.05  # progress events closer together than this are dropped (never the last word)
PROGRESS = ("epoch", "start", "progress", "status")  # the events a job's `progress` shows the latest of


class QueueFull(RuntimeError):
    """The queue already holds its maximum of waiting jobs."""


class Cancelled(Exception):
    """The job was cancelled, or the server is stopping: it ends where it stands, leaving nothing
    half-written."""


class JobOver(RuntimeError):
    """The job has already ended: there is nothing to cancel."""


def one_line(exc: BaseException) -> str:
    """A job's error as the CLI would print it: a ConfigError's message, else 'Type: message'."""
    text = str(exc) if isinstance(exc, ConfigError) else f"{type(exc).__name__}: {exc}"
    return text.splitlines()[0] if text else type(exc).__name__


def field_of(message: str) -> str | None:
    """The parameter a one-line error names first (`tsteps must be ...`), if it is a config field."""
    word = message.split(" ", 1)[0]
    return word if word in FIELD_SECTION else None


@dataclass
class Job:
    """One queued piece of work and everything it has reported so far."""

    id: str  # "<number>-<server>": the server part differs from one `statelab serve` to the next
    kind: str  # "run" or "sweep"
    label: str  # what it is, in a few words
    work: Callable[[Job], dict[str, Any]] = field(repr=False)  # runs in the worker; returns the result
    params: dict[str, Any] = field(default_factory=dict)  # what was asked, as the page sent it
    status: str = "queued"  # queued, running, done, failed, cancelled
    result: dict[str, Any] | None = None
    error: str | None = None
    created: float = field(default_factory=time.time)
    started: float | None = None
    finished: float | None = None
    events: list[dict[str, Any]] = field(default_factory=list, repr=False)
    cancelled: threading.Event = field(default_factory=threading.Event, repr=False)
    why: str = "cancelled"  # who asked it to stop, for its last word: "cancelled", "the server stopped"
    _changed: threading.Condition = field(default_factory=threading.Condition, repr=False)
    _followers: list[tuple[asyncio.AbstractEventLoop, asyncio.Event]] = field(
        default_factory=list, repr=False
    )
    _last_progress: float = field(default=0.0, repr=False)
    progress: dict[str, Any] | None = None  # the latest news of its work: an epoch, a sweep's progress

    @property
    def over(self) -> bool:
        return self.status in ("done", "failed", "cancelled")

    def emit(self, event: dict[str, Any], throttle: bool = False) -> None:
        """Append an event and wake the followers. `throttle`: drop it if the previous throttled
        event was less than THROTTLE_S ago (epochs and sweep progress can come by the thousand).
        Once the job has ended nothing is appended: its last word stays the last."""
        now = time.perf_counter()
        if throttle:
            if now - self._last_progress < THROTTLE_S:
                return
            self._last_progress = now
        with self._changed:
            if self.over:
                return
            # numbered, and stamped with the server's clock (a page counts "compiling… 3 s" from it)
            self.events.append({"seq": len(self.events), "time": time.time(), **event})
            if event["type"] in PROGRESS:
                self.progress = self.events[-1]
        self.wake()

    def wait(self, after: int, timeout: float) -> list[dict[str, Any]]:
        """The events numbered `after` and later, waiting up to `timeout` s for one to come."""
        with self._changed:
            if len(self.events) <= after and not self.over:
                self._changed.wait(timeout)
            return self.events[after:]

    async def follow(self, after: int, timeout: float) -> list[dict[str, Any]]:
        """`wait` for an event loop: the worker thread wakes it directly, holding no thread."""
        flag = asyncio.Event()
        follower = (asyncio.get_running_loop(), flag)
        with self._changed:
            if len(self.events) > after or self.over:
                return self.events[after:]
            self._followers.append(follower)
        try:
            await asyncio.wait_for(flag.wait(), timeout)
        except TimeoutError:
            pass
        finally:
            with self._changed:
                self._followers.remove(follower)
        with self._changed:
            return self.events[after:]

    def wake(self) -> None:
        """Wake every follower, threads and event loops alike."""
        with self._changed:
            self._changed.notify_all()
            followers = list(self._followers)
        for loop, flag in followers:
            with contextlib.suppress(RuntimeError):  # a closed loop: nobody is listening any more
                loop.call_soon_threadsafe(flag.set)

    def finish(self, status: str, result: dict[str, Any] | None = None, error: str | None = None) -> None:
        event: dict[str, Any] = {"type": status}
        if result is not None:
            event["result"] = result
        if error is not None:
            event["error"] = error
            event["field"] = field_of(error)
        with self._changed:  # its last word and over at once: a cancel sees both or neither
            self.emit(event)
            self.status, self.result, self.error = status, result, error
            self.finished = self.events[-1]["time"]  # when its last word was said

    def summary(self) -> dict[str, Any]:
        """The job as the API shows it (its events are streamed separately)."""
        return {
            "id": self.id,
            "kind": self.kind,
            "label": self.label,
            "status": self.status,
            "result": self.result,
            "error": self.error,
            "field": field_of(self.error) if self.error else None,
            "created": self.created,
            "started": self.started,
            "finished": self.finished,
            "now": time.time(),  # the server's clock: a page counts "compiling… 3 s" from `started`
            "events": len(self.events),
            "params": self.params,
            "progress": self.progress,
        }


def number(job: Job) -> int:
    """The job's place in its server's order of submission."""
    return int(job.id.split("-", 1)[0])


class JobQueue:
    """A bounded FIFO of jobs and the one worker thread that runs them."""

    def __init__(self, max_queued: int = MAX_QUEUED):
        self.max_queued = max_queued
        self._waiting: collections.deque[Job] = collections.deque()
        self._jobs: dict[str, Job] = {}
        self._ids = itertools.count(1)
        # A page left open across a restart of the server must not follow another job by the
        # same number: ids carry a token of this queue (this server process).
        self._token = secrets.token_hex(3)
        self._lock = threading.Condition()
        self._stopping = threading.Event()
        self._current: Job | None = None
        self._worker: threading.Thread | None = None
        self._warming = threading.Event()  # set while the worker runs `before` (the warm-up)

    @property
    def stopping(self) -> bool:
        return self._stopping.is_set()

    @property
    def warming(self) -> bool:
        """Whether the worker is still in `before` (importing the engine, compiling the reference
        shapes): a job submitted meanwhile waits for it."""
        return self._warming.is_set()

    def start(self, before: Callable[[], None] | None = None) -> None:
        """Start the worker; it calls `before` first (jobs submitted meanwhile wait for it)."""
        # A daemon: a sweep's group still training when the server stops must not keep the
        # process alive (its finished trials are committed; the store stays whole).
        if before is not None:
            self._warming.set()
        self._worker = threading.Thread(target=self._loop, args=(before,), name="statelab-jobs", daemon=True)
        self._worker.start()

    def submit(
        self,
        kind: str,
        label: str,
        work: Callable[[Job], dict[str, Any]],
        params: dict[str, Any] | None = None,
    ) -> Job:
        """Queue a job; QueueFull if `max_queued` jobs are already waiting. `params`: what was
        asked, kept with the job so that a page can show it again."""
        with self._lock:
            if self.stopping:
                raise QueueFull("the server is stopping")
            if len(self._waiting) >= self.max_queued:
                raise QueueFull(f"{len(self._waiting)} jobs are waiting, the most the queue holds")
            job = Job(
                id=f"{next(self._ids)}-{self._token}", kind=kind, label=label, work=work, params=params or {}
            )
            ahead = len(self._waiting) + (self._current is not None)
            job.emit({"type": "queued", "position": ahead, "warming": self.warming})
            self._jobs[job.id] = job
            self._waiting.append(job)
            self._forget_old()
            self._lock.notify_all()
            return job

    def get(self, job_id: str) -> Job:
        with self._lock:
            return self._jobs[job_id]

    def jobs(self) -> list[Job]:
        """Every job kept, newest first."""
        with self._lock:
            return sorted(self._jobs.values(), key=lambda j: -number(j))

    def cancel(self, job_id: str) -> Job:
        """Take a waiting job off the queue, or ask the running one to stop where it safely can
        (its last event then says what was kept); JobOver if it has already ended."""
        with self._lock:
            job = self._jobs[job_id]
            with job._changed:  # it ends holding this: "cancelling" never follows its last word
                if job.over:
                    raise JobOver(f"job {job.id} has already ended ({job.status})")
                if job in self._waiting:
                    self._waiting.remove(job)
                    job.finish("cancelled", error="cancelled before it started")
                else:
                    job.cancelled.set()
                    job.emit({"type": "cancelling"})
        return job

    def stop(self) -> None:
        """Cancel what waits, ask the running job to stop, wake every follower."""
        with self._lock:
            self._stopping.set()
            waiting = list(self._waiting)
            self._waiting.clear()
            current = self._current
            self._lock.notify_all()
        for job in waiting:
            job.finish("cancelled", error="the server stopped before the job started")
        if current is not None:
            current.why = "the server stopped"
            current.cancelled.set()
        for job in self.jobs():
            job.wake()

    def join(self, timeout: float) -> bool:
        """Wait for the worker to end; whether it did within `timeout` s."""
        if self._worker is None:
            return True
        self._worker.join(timeout)
        return not self._worker.is_alive()

    def _forget_old(self) -> None:
        finished = [j for j in self._jobs.values() if j.over]
        for job in sorted(finished, key=number)[:-KEEP_FINISHED]:
            del self._jobs[job.id]

    def _next(self) -> Job | None:
        with self._lock:
            while not self._waiting and not self.stopping:
                self._lock.wait()
            if self.stopping:
                return None
            self._current = self._waiting.popleft()
            return self._current

    def _loop(self, before: Callable[[], None] | None) -> None:
        if before is not None:
            try:
                before()
            except Exception:  # a job will meet the same problem and report it
                traceback.print_exc(file=sys.stderr)
            finally:
                self._warming.clear()
        while (job := self._next()) is not None:
            self._run(job)
            with self._lock:
                self._current = None

    def _run(self, job: Job) -> None:
        if job.cancelled.is_set():  # cancelled as it left the queue: it does not start
            job.finish("cancelled", error="cancelled before it started")
            return
        job.status, job.started = "running", time.time()
        job.emit({"type": "running"})
        try:
            result = job.work(job)
        except Cancelled as exc:
            job.finish("cancelled", error=str(exc) or f"{job.why} during the job")
        except ConfigError as exc:
            job.finish("failed", error=one_line(exc))
        except Exception as exc:  # the server goes on; the page shows the line, the log the rest
            traceback.print_exc(file=sys.stderr)
            job.finish("failed", error=one_line(exc))
        else:
            job.finish("done", result=result)
