"""The JSON API under /api: parameters, runs, stores and their trials, jobs and their events.

Every answer is JSON except a run's files, a store's downloads and the job event stream
(server-sent events). Errors are JSON too: 400 with the one-line message the command line prints
(and the parameter it names, as `field`; every invalid field of a form, as `errors`), 404 for
anything the server may not read, 429 when the job queue is full. FastAPI documents every route
at /docs (served from installed files) and /openapi.json.
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import AsyncIterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request, Response
from fastapi.responses import FileResponse, StreamingResponse
from pydantic import BaseModel, ConfigDict, Field

from statelab import rundir, sweeps
from statelab.config import ConfigError
from statelab.params import check_count
from statelab.web import lab as lab_work
from statelab.web import stores, tables, views
from statelab.web.jobs import Job
from statelab.web.paths import NotFound


class FieldProblem(BaseModel):
    """One invalid field of a form."""

    field: str | None = Field(examples=["tsteps"])
    detail: str = Field(examples=["tsteps must be an integer >= 1, got 0"])


class Problem(BaseModel):
    """An error: the one-line message, the parameter it names (for a bad parameter), and for a
    form every invalid field at once."""

    detail: str = Field(examples=["tsteps must be an integer >= 1, got 0"])
    field: str | None = Field(default=None, examples=["tsteps"])
    errors: list[FieldProblem] | None = None


ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": Problem, "description": "bad input: the command line's one-line message"},
    404: {"model": Problem, "description": "nothing this server may read goes by that name"},
}
QUEUE_ERRORS: dict[int | str, dict[str, Any]] = {
    413: {"model": Problem, "description": "the request body is over the limit"},
    429: {"model": Problem, "description": "the job queue is full"},
}
router = APIRouter(prefix="/api", responses=ERRORS)
FOLLOW_WAIT_S = 1.0  # a follower's wait for the next event before it checks whether to go on
STOPPING_WAIT_S = 2.0  # once the server stops, how long a stream waits for its job's last word (uvicorn: 3)

Value = str | int | float | bool | list[str | int | float] | None


class RunRequest(BaseModel):
    """A run: parameters by name (as the command line's flags, without the dashes). Text values
    are read as the command line reads them; empty or missing ones keep their defaults."""

    model_config = ConfigDict(extra="forbid")  # a misspelt key is an error, not a default run

    params: dict[str, Value] = Field(default_factory=dict, examples=[{"tsteps": "3", "lahead": "1"}])


class DoctorRequest(BaseModel):
    """The doctor of a run: the run by name, and the model seeds each candidate is tried with."""

    model_config = ConfigDict(extra="forbid")

    run: str = Field(examples=["20261203-081009-02304bb8"])
    seeds: Value = Field(default=3, examples=[3])


class SweepRequest(BaseModel):
    """A sweep into one of the server's stores: axes in the grid syntax of `statelab sweep`
    (a value, a comma list, a range a:b[:step], or a mix) and replicates per grid point."""

    model_config = ConfigDict(extra="forbid")

    store: str = Field(examples=["sweep.sqlite"])
    axes: dict[str, Value] = Field(default_factory=dict, examples=[{"tsteps": "1:6", "lahead": "1:6"}])
    # Any JSON value, checked by the rule `--seeds` follows (JSON's true is not a count).
    seeds: Value = Field(default=1, examples=[2])


def state(request: Request) -> Any:
    return request.app.state.lab


def find_job(request: Request, job_id: str) -> Job:
    try:
        return state(request).queue.get(job_id)
    except KeyError:
        raise NotFound(job_id) from None


@router.get("/params", tags=["lab"], summary="Every run parameter and every task, for the lab's form")
def get_params() -> dict[str, Any]:
    return views.params_view()


@router.get("/runs", tags=["runs"], summary="The run directories under --runs, newest first, with verdicts")
def list_runs(request: Request) -> list[dict[str, Any]]:
    roots = state(request).roots
    return [views.run_summary(path) for path in views.run_dirs(roots)]


@router.get("/runs/{name}", tags=["runs"], summary="One run: verdict, metrics, config, figures, files")
def get_run(request: Request, name: str) -> dict[str, Any]:
    return views.run_detail(state(request).roots, name)


@router.get("/runs/{name}/files/{path:path}", tags=["runs"], summary="A file of a run directory")
def get_run_file(request: Request, name: str, path: str) -> FileResponse:
    return FileResponse(state(request).roots.run_file(name, path))


@router.get("/runs/{name}/doctor", tags=["runs"], summary="What the doctor found for a run last time")
def get_doctor(
    request: Request,
    name: str,
    seeds: Annotated[int, Query(ge=1, le=16, description="model seeds per change, as it was run")] = 3,
) -> dict[str, Any]:
    from statelab import doctors

    run_dir = state(request).roots.run_dir(name)
    return lab_work.doctor_view(doctors.load(run_dir, seeds=seeds))


@router.delete(
    "/runs/{name}",
    tags=["runs"],
    summary="Delete a run directory statelab wrote (400 for anything else; nothing else is touched)",
)
def delete_run(request: Request, name: str) -> dict[str, Any]:
    roots = state(request).roots
    roots.run_dir(name)  # 404 unless it is a run under --runs that the server may read
    rundir.delete_run(roots.runs, name)
    return {"deleted": name}


@router.get("/compare", tags=["runs"], summary="Runs side by side: configs diffed, metrics, figures overlaid")
def compare(
    request: Request,
    run: Annotated[list[str] | None, Query(description="2 to 8 run names, in order")] = None,
    a: Annotated[str | None, Query(description="the first of two runs (older form)")] = None,
    b: Annotated[str | None, Query(description="the second of two runs (older form)")] = None,
) -> dict[str, Any]:
    names = run or [n for n in (a, b) if n]
    return views.compare_view(state(request).roots, names)


@router.get("/stores", tags=["sweeps"], summary="The stores given with --store, with their trial counts")
def list_stores(request: Request) -> list[dict[str, Any]]:
    return stores.stores_view(state(request).roots)


@router.get("/stores/{name}", tags=["sweeps"], summary="A store's phase diagram, facet by facet")
def get_store(
    request: Request,
    name: str,
    version: Annotated[
        str | None, Query(description="the `version` last seen: unchanged -> no figures")
    ] = None,
) -> dict[str, Any]:
    return stores.store_view(state(request).roots, name, version)


@router.get("/stores/{name}/trials", tags=["sweeps"], summary="A store's trials (those with the keys given)")
def get_trials(
    request: Request, name: str, hash: Annotated[list[str] | None, Query(description="config hashes")] = None
) -> list[dict[str, Any]]:
    return stores.trials_view(state(request).roots, name, hash or [])


Filters = Annotated[
    list[str] | None,
    Query(
        alias="filter",
        description="COLUMN:VALUE, repeatable: a config field in the grid syntax (tsteps:1:3) or any "
        "column with an operator (stateful_test_nmse:<0.1, status:=error, error:~nan)",
    ),
]


@router.get("/stores/{name}/table", tags=["sweeps"], summary="A page of a store's trial table")
def get_table(
    request: Request,
    name: str,
    filters: Filters = None,
    sort: Annotated[str | None, Query(description="the column to sort by")] = None,
    desc: Annotated[bool, Query(description="largest first")] = False,
    offset: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=tables.MAX_PAGE)] = tables.PAGE,
) -> dict[str, Any]:
    lab = state(request)
    path = lab.roots.store(name)
    return tables.table_view(lab.tables, path, filters or [], sort, desc, offset, limit)


@router.get(
    "/stores/{name}/results.{kind}",
    tags=["sweeps"],
    summary="The filtered trials as a file (csv or parquet): the rows of load_results, in grid order",
    response_class=Response,
)
def download_results(request: Request, name: str, kind: str, filters: Filters = None) -> Response:
    lab = state(request)
    path = lab.roots.store(name)
    body = tables.download(lab.tables, path, filters or [], kind)
    media = "text/csv; charset=utf-8" if kind == "csv" else "application/vnd.apache.parquet"
    stem = name.rsplit(".", 1)[0] or "store"
    disposition = f'attachment; filename="{stem}-results.{kind}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get("/stores/{name}/curves", tags=["sweeps"], summary="The per-epoch curves of trials, overlaid")
def get_curves(
    request: Request, name: str, hash: Annotated[list[str] | None, Query(description="config hashes")] = None
) -> dict[str, Any]:
    lab = state(request)
    return tables.curves_figure(lab.tables, lab.roots.store(name), hash or [])


@router.get("/stores/{name}/parcoords", tags=["sweeps"], summary="The trials in parallel coordinates")
def get_parcoords(
    request: Request,
    name: str,
    filters: Filters = None,
    color: Annotated[str, Query(description="the column that colours the lines")] = "stateful_test_nmse",
) -> dict[str, Any]:
    lab = state(request)
    return tables.parcoords_figure(lab.tables, lab.roots.store(name), filters or [], color)


@router.get("/jobs", tags=["jobs"], summary="The jobs of this server, newest first")
def list_jobs(request: Request) -> list[dict[str, Any]]:
    return [job.summary() for job in state(request).queue.jobs()]


@router.post(
    "/jobs/run",
    tags=["jobs"],
    status_code=202,
    responses=QUEUE_ERRORS,
    summary="Queue a run (400: bad parameter)",
)
def submit_run(request: Request, body: RunRequest) -> dict[str, Any]:
    from statelab import experiment

    lab = state(request)
    config = views.config_from_form(body.params, lab.roots)
    experiment.check(config)  # as `statelab run` refuses it before training: memory, the data file
    work = lab_work.run_work(config, lab.roots)
    job = lab.queue.submit("run", lab_work.run_label(config), work, {"params": body.params})
    return job.summary()


@router.post(
    "/jobs/sweep",
    tags=["jobs"],
    status_code=202,
    responses=QUEUE_ERRORS,
    summary="Queue a sweep into a store",
)
def submit_sweep(request: Request, body: SweepRequest) -> dict[str, Any]:
    lab = state(request)
    path = lab.roots.store(body.store)
    configs = lab_work.sweep_configs(body.axes, body.seeds, lab.roots)
    sweeps.check_sweep(path, configs)  # what `statelab sweep` checks: the store, memory, data files
    label = f"sweep of {len(configs)} trials into {body.store}"
    work = lab_work.sweep_work(configs, path, lab.cache_dir, lab.executor)
    job = lab.queue.submit(
        "sweep", label, work, {"store": body.store, "axes": body.axes, "seeds": body.seeds}
    )
    return job.summary()


@router.post(
    "/jobs/doctor",
    tags=["jobs"],
    status_code=202,
    responses=QUEUE_ERRORS,
    summary="Queue the doctor of a failed run: its candidate fixes trained, the cheapest that converges",
)
def submit_doctor(request: Request, body: DoctorRequest) -> dict[str, Any]:
    from statelab import doctors

    lab = state(request)
    run_dir = lab.roots.run_dir(body.run)
    seeds = check_count("seeds", body.seeds)
    if seeds > doctors.MAX_SEEDS:
        raise ConfigError(f"seeds must be an integer in [1, {doctors.MAX_SEEDS}], got {seeds}")
    if not doctors.to_treat(rundir.read_summary(run_dir)[1]):
        raise ConfigError(
            f"run must have a model to treat (one that missed what theory said), got {body.run!r}"
        )
    work = lab_work.doctor_work(run_dir, seeds, lab.cache_dir, lab.executor)
    job = lab.queue.submit("doctor", f"doctor of {body.run}", work, {"run": body.run, "seeds": seeds})
    return job.summary()


@router.get("/jobs/{job_id}", tags=["jobs"], summary="One job: status, result or one-line error")
def get_job(request: Request, job_id: str) -> dict[str, Any]:
    return find_job(request, job_id).summary()


@router.post(
    "/jobs/{job_id}/cancel",
    tags=["jobs"],
    status_code=202,
    responses={409: {"description": "The job has already ended"}},
    summary="Cancel a job: a waiting one leaves the queue, a running one stops where it safely can",
)
def cancel_job(request: Request, job_id: str) -> dict[str, Any]:
    try:
        return state(request).queue.cancel(job_id).summary()
    except KeyError:
        raise NotFound(job_id) from None


@router.get(
    "/jobs/{job_id}/events",
    tags=["jobs"],
    summary="A job's events as server-sent events, from `after` (or Last-Event-ID) on; ends with the job",
    response_class=StreamingResponse,
)
async def job_events(
    request: Request,
    job_id: str,
    after: Annotated[int, Query(ge=0, description="the number of events already seen")] = 0,
) -> StreamingResponse:
    job = find_job(request, job_id)
    queue = state(request).queue
    last = request.headers.get("last-event-id")
    if last is not None and not re.fullmatch(r"[0-9]{1,18}", last):  # "²" is a digit to str.isdigit
        raise ConfigError(f"Last-Event-ID must be the id of an event (an integer >= 0), got {last[:40]!r}")
    start = int(last) + 1 if last else after

    async def stream() -> AsyncIterator[str]:
        seen = start
        give_up: float | None = None  # once the server stops, when to end without the last word
        while True:
            events = await job.follow(seen, FOLLOW_WAIT_S)
            for event in events:
                yield f"id: {event['seq']}\ndata: {json.dumps(event, allow_nan=False)}\n\n"
            seen += len(events)
            if job.over and seen >= len(job.events):
                return  # (a client that leaves is noticed by Starlette, which ends this stream)
            if queue.stopping:  # the job was asked to stop: its last word (what it kept) comes soon
                give_up = give_up or time.monotonic() + STOPPING_WAIT_S
                if time.monotonic() >= give_up:
                    return
            if not events:
                yield ": waiting\n\n"  # a comment line: keeps the connection visibly alive

    headers = {"Cache-Control": "no-store", "X-Accel-Buffering": "no"}
    return StreamingResponse(stream(), media_type="text/event-stream", headers=headers)
