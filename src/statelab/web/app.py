"""The lab's ASGI application: `create_app` puts the API, the pages and the job queue together.

    statelab serve --runs runs/ --store sweep.sqlite    (statelab.web.server runs it with uvicorn)

The app reads only inside its runs directory and its stores (`statelab.web.paths`), takes request
bodies of at most `max_body` bytes (413 beyond), queues at most `max_queued` jobs (429 beyond) and
runs one at a time. Its worker thread first imports the engine and turns on the compilation cache,
and (with `warm`, as `statelab serve` starts it) compiles the reference run's programs, so the
first Run pays none of it; the server answers meanwhile.

Errors: the API answers JSON (`{"detail", "field", "errors"}`); a page answers an HTML page with
the navigation and what went wrong.
"""

from __future__ import annotations

import json
import urllib.parse
from collections.abc import Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from fastapi_offline import FastAPIOffline
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.trustedhost import TrustedHostMiddleware
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from statelab.config import ConfigError
from statelab.executors import Executor, Inline
from statelab.version import __version__
from statelab.web import api, pages
from statelab.web.jobs import MAX_QUEUED, JobOver, JobQueue, QueueFull, field_of
from statelab.web.paths import NotFound, Roots, store_names
from statelab.web.tables import Tables

MAX_BODY = 64 * 1024  # bytes: a run's parameters or a grid take well under 1 kB
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})  # methods that change nothing
STOP_WAIT_S = 10.0  # on shutdown, how long a running job may take to stop (a run's save: ~1 s)


@dataclass
class Lab:
    """What every request handler reaches through `request.app.state.lab`."""

    roots: Roots
    queue: JobQueue
    cache_dir: Path | None  # JAX's compilation cache, or None
    executor: Executor = field(default_factory=Inline)  # where the pages' sweeps run
    tables: Tables = field(default_factory=Tables)  # stores read for the trial tables, until they change


def preload(cache_dir: Path | None, warm: bool = False, stopping: Callable[[], bool] = lambda: False) -> None:
    """Import the engine and the figures, and turn the compilation cache on (JAX's import alone
    takes about a second: better at start-up than after the first click); with `warm`, compile
    the reference run's programs too (`lab.warm_up`)."""
    from statelab import experiment, sweeps, train  # noqa: F401
    from statelab.report import run  # noqa: F401  (matplotlib, for the saved report)
    from statelab.web import lab

    if cache_dir is not None:
        train.enable_compilation_cache(cache_dir)
    if warm:
        lab.warm_up(stopping)


def is_page(request: Request) -> bool:
    """Whether a request is for a page (answered in HTML) rather than the API, a file or /docs."""
    path = request.url.path
    return not path.startswith(("/api/", "/static/", "/openapi.json", "/docs"))


class Answer(JSONResponse):
    """Every JSON answer: non-ASCII characters escaped (`\\u00e9`), so text that is not valid
    Unicode (a lone surrogate sent in a request, a file name that is not UTF-8) is still valid
    JSON instead of a failure to encode it; NaN and infinities are refused."""

    def render(self, content: Any) -> bytes:
        return json.dumps(content, ensure_ascii=True, allow_nan=False, separators=(",", ":")).encode("ascii")


class SameOrigin:
    """Refuse (403) a request that changes something (any method but GET, HEAD and OPTIONS) sent
    by a page of another origin. Its `Origin` header, or without one its `Referer`, must name this
    server: the scheme, host and port the request was sent to (its Host header). A request with
    neither (curl, a script, the API client) is taken: browsers say where a page's requests come
    from, so a web page elsewhere cannot make the lab train or cancel, whatever the browser's own
    cross-origin rules let through."""

    def __init__(self, app: ASGIApp):
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope["method"] not in SAFE_METHODS:
            headers = dict(scope["headers"])
            source = headers.get(b"origin", headers.get(b"referer"))
            if source is not None and not self.own(source, headers.get(b"host"), scope.get("scheme", "http")):
                shown = source.decode("latin-1")[:200]
                which = "origin" if b"origin" in headers else "referer"
                detail = f"{which} must be this server's own page, got {shown!r}"
                await Answer({"detail": detail, "field": None}, 403)(scope, receive, send)
                return
        await self.app(scope, receive, send)

    @staticmethod
    def own(source: bytes, host: bytes | None, scheme: str) -> bool:
        """Whether the URL `source` (an Origin or a Referer) is of this server: the same scheme,
        host name and port as the Host header the request was sent to."""
        if host is None:
            return False
        try:
            theirs = urllib.parse.urlsplit(source.decode("latin-1"))
            mine = urllib.parse.urlsplit(f"{scheme}://{host.decode('latin-1')}")
            default = {"http": 80, "https": 443}
            return (
                theirs.scheme == mine.scheme
                and theirs.hostname is not None
                and theirs.hostname == mine.hostname
                and (theirs.port or default.get(theirs.scheme)) == (mine.port or default.get(mine.scheme))
            )
        except ValueError:  # a port that is not a number, a malformed address
            return False


class BodyLimit:
    """Refuse request bodies over `limit` bytes with 413, by their declared length or as they come."""

    def __init__(self, app: ASGIApp, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = dict(scope["headers"]).get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await Answer(self._detail(), 413)(scope, receive, send)
            return
        seen = 0

        async def counted() -> Message:
            nonlocal seen
            message = await receive()
            seen += len(message.get("body", b""))
            if seen > self.limit:
                raise HTTPException(413, self._detail()["detail"])
            return message

        await self.app(scope, counted, send)

    def _detail(self) -> dict[str, str]:
        return {"detail": f"request body must be at most {self.limit} bytes"}


class SecurityHeaders:
    """No content sniffing, no framing by other sites, no referrer sent to other sites, and a
    content security policy: scripts, styles, data and fonts from this server only, and nothing
    sent elsewhere. The lab's pages hold no inline script; Plotly sets styles inline, which the
    policy allows. The API's documentation page (/docs) starts its bundled viewer with an inline
    script, so there inline scripts are allowed too. A store's page draws its trials in parallel
    coordinates, which plotly.js renders with WebGL shaders it builds with the Function
    constructor: that page alone also allows eval (still only of the server's own scripts)."""

    POLICY = (
        "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
        "img-src 'self' data: blob:; connect-src 'self'; object-src 'none'; base-uri 'none'; "
        "form-action 'self'; frame-ancestors 'none'"
    )
    DOCS = ("/docs",)
    HEADERS = (
        (b"x-content-type-options", b"nosniff"),
        (b"x-frame-options", b"DENY"),
        (b"referrer-policy", b"no-referrer"),
    )
    PAGE_HEADERS = (*HEADERS, (b"content-security-policy", POLICY.encode()))
    DOCS_HEADERS = (
        *HEADERS,
        (
            b"content-security-policy",
            POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'").encode(),
        ),
    )
    STORE_PAGE = "/sweeps/"  # /sweeps/{name}: the parallel coordinates
    STORE_HEADERS = (
        *HEADERS,
        (
            b"content-security-policy",
            POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-eval'").encode(),
        ),
    )

    def __init__(self, app: ASGIApp):
        self.app = app

    @classmethod
    def for_page(cls) -> dict[str, str]:
        """The headers of a page's answer, for a response made outside this middleware (a 500:
        Starlette answers those from outside every middleware added to the app)."""
        return {k.decode(): v.decode() for k, v in cls.PAGE_HEADERS}

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        path = scope.get("path", "")
        headers = (
            self.DOCS_HEADERS
            if path.startswith(self.DOCS)
            else self.STORE_HEADERS
            if path.startswith(self.STORE_PAGE)
            else self.PAGE_HEADERS
        )

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message = {**message, "headers": [*message.get("headers", []), *headers]}
            await send(message)

        await self.app(scope, receive, with_headers if scope["type"] == "http" else send)


def request_error(exc: RequestValidationError) -> str:
    """A malformed request in the one-line form of every other error: what, the rule, the value."""
    first = exc.errors()[0] if exc.errors() else {}
    kind = first.get("type", "")
    loc = tuple(first.get("loc", ()))
    where = ".".join(
        str(part) for part in (loc[1:] if loc[:1] in (("body",), ("query",), ("path",)) else loc)
    )
    if kind == "json_invalid" or not where:
        return "body must be a JSON object sent as application/json"
    if kind == "missing":
        return f"{where} must be given, got nothing"
    if kind == "extra_forbidden":
        return f"unknown field {where} = {first.get('input')!r}"
    rule = str(first.get("msg", "valid")).removeprefix("Input should be ")
    return f"{where} must be {rule}, got {first.get('input')!r}"


def openapi_without_422(app: FastAPI) -> dict:
    """FastAPI's schema, less the 422 answers it documents by default: this app answers invalid
    requests with 400 and the one-line message, as it answers bad parameters."""
    if app.openapi_schema is None:
        from fastapi.openapi.utils import get_openapi

        schema = get_openapi(
            title=app.title, version=app.version, description=app.description, routes=app.routes
        )
        for path in schema.get("paths", {}).values():
            for operation in path.values():
                operation.get("responses", {}).pop("422", None)
        for name in ("HTTPValidationError", "ValidationError"):
            schema.get("components", {}).get("schemas", {}).pop(name, None)
        app.openapi_schema = schema
    return app.openapi_schema


def create_app(
    runs: str | Path = "runs",
    stores: Sequence[str | Path] = (),
    cache_dir: str | Path | None = None,
    max_queued: int = MAX_QUEUED,
    max_body: int = MAX_BODY,
    allowed_hosts: Sequence[str] | None = None,
    executor: Executor | str | None = None,
    warm: bool = False,
) -> FastAPI:
    """The lab for run directories under `runs` and the sweep stores `stores` (files that do not
    exist yet are listed empty; a sweep launched into one creates it).

    executor: where the sweeps launched from the pages run (`statelab.executors.Executor`, or its
    spec as `statelab sweep --executor` takes it: a local Dask cluster started for each sweep, a
    running cluster); by default in the server process. Runs always train in the server process,
    where their compiled programs stay warm.

    allowed_hosts: Host headers to answer (the server passes the loopback names when it listens
    on loopback, so a web page elsewhere cannot reach it by DNS rebinding); None answers any.

    warm: compile the reference run's programs in the worker at start-up (`statelab serve` does),
    so that the first Run is as fast as a rerun; jobs submitted meanwhile wait for it.
    """
    roots = Roots(Path(runs), store_names([Path(s) for s in stores]))
    where = Executor.parse(executor)  # checked now: one line at start-up, not at the first sweep
    lab = Lab(roots, JobQueue(max_queued), Path(cache_dir) if cache_dir is not None else None, where)

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        lab.queue.start(before=lambda: preload(lab.cache_dir, warm, lambda: lab.queue.stopping))
        yield
        lab.queue.stop()
        lab.queue.join(STOP_WAIT_S)

    app = FastAPIOffline(
        title="statelab lab",
        version=__version__,
        description="Runs, sweeps and jobs of a statelab lab. Every parameter is a `statelab run` "
        "flag without its dashes; errors are the command line's one-line messages.",
        lifespan=lifespan,
        default_response_class=Answer,
        static_url="/static/docs",
        # No /redoc: its bundle draws a logo from cdn.redoc.ly and searches in a blob: worker, which
        # the policy refuses (console errors); /docs documents the same schema from installed files.
        redoc_url=None,
    )
    app.state.lab = lab
    # replacing the method is FastAPI's documented way to customise the schema
    app.openapi = lambda: openapi_without_422(app)  # type: ignore[method-assign]
    app.include_router(api.router)
    app.include_router(pages.router)
    app.mount("/static", StaticFiles(directory=pages.STATIC), name="static")

    @app.exception_handler(ConfigError)
    async def bad_input(request: Request, exc: ConfigError) -> Answer:
        problems = getattr(exc, "problems", None) or [(field_of(str(exc)), str(exc))]
        errors = [{"field": name, "detail": message} for name, message in problems]
        return Answer({"detail": str(exc), "field": problems[0][0], "errors": errors}, 400)

    @app.exception_handler(RequestValidationError)
    async def bad_request(request: Request, exc: RequestValidationError) -> Answer:
        return Answer({"detail": request_error(exc), "field": None}, 400)

    @app.exception_handler(NotFound)
    async def not_found(request: Request, exc: NotFound) -> Answer | HTMLResponse:
        if is_page(request):
            return pages.error_page(404, "Not found", f"Nothing here goes by {request.url.path!r}.")
        return Answer({"detail": "not found"}, 404)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Answer | HTMLResponse:
        headers = getattr(exc, "headers", None)
        if is_page(request):
            title = "Not found" if exc.status_code == 404 else f"Error {exc.status_code}"
            message = (
                f"Nothing here goes by {request.url.path!r}." if exc.status_code == 404 else str(exc.detail)
            )
            return pages.error_page(exc.status_code, title, message, headers)
        return Answer({"detail": exc.detail}, exc.status_code, headers=headers)

    @app.exception_handler(QueueFull)
    async def queue_full(request: Request, exc: QueueFull) -> Answer:
        return Answer({"detail": f"the job queue is full ({exc}); try again when a job ends"}, 429)

    @app.exception_handler(JobOver)
    async def job_over(request: Request, exc: JobOver) -> Answer:
        return Answer({"detail": str(exc)}, 409)

    @app.exception_handler(Exception)
    async def failure(request: Request, exc: Exception) -> Answer | HTMLResponse:
        # An unexpected failure (a bug): one line here, the traceback in the server's log.
        detail = f"the server failed: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
        if is_page(request):
            return pages.error_page(500, "The server failed", detail.rstrip(": "), SecurityHeaders.for_page())
        return Answer({"detail": detail.rstrip(": ")}, 500, headers=SecurityHeaders.for_page())

    app.add_middleware(BodyLimit, limit=max_body)
    app.add_middleware(SameOrigin)  # before the body is read: a refused request costs nothing
    if allowed_hosts is not None:
        app.add_middleware(TrustedHostMiddleware, allowed_hosts=list(allowed_hosts))
    app.add_middleware(SecurityHeaders)  # the outermost: a refused Host's 400 carries them too
    return app
