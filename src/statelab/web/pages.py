"""The HTML pages: Lab, Runs (a run, runs compared), Sweeps (a store) and Jobs.

Each page is a small shell (navigation, a container, its script); the script asks the JSON API for
everything it shows and draws the figures with plotly.js, which the server serves from the
installed `plotly` package (never from a CDN: the lab works offline). A page keeps what it shows
in its URL (the form, the axes, the filters, the selected cell, the compared runs), so a view can
be bookmarked and shared. A page that does not exist, or fails, is an HTML page with the
navigation (`error_page`); the API answers JSON.
"""

from __future__ import annotations

import html
import importlib.util
import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse

from statelab.version import __version__

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
NAV = (
    ("/", "Lab", "lab"),
    ("/runs", "Runs", "runs"),
    ("/sweeps", "Sweeps", "sweeps"),
    ("/jobs", "Jobs", "jobs"),
    ("/docs", "API", "api"),
)


def plotly_js() -> Path:
    """plotly.min.js inside the installed plotly package (found without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise RuntimeError("the plotly package is not installed; reinstall statelab")
    return Path(spec.origin).parent / "package_data" / "plotly.min.js"


def shell(
    title: str,
    section: str,
    script: str | None,
    data: dict[str, Any] | None = None,
    content: str = "",
    status: int = 200,
    headers: Mapping[str, str] | None = None,
) -> HTMLResponse:
    """A page: navigation, the main element (`content`, or empty for its script to fill from the
    API), and the scripts."""
    links = "".join(
        f'<a href="{href}"{" class=here aria-current=page" if key == section else ""}>{label}</a>'
        for href, label, key in NAV
    )
    page_data = html.escape(json.dumps(data or {}), quote=True)
    scripts = (
        '<script src="/static/plotly.min.js"></script><script src="/static/common.js"></script>'
        f'<script src="/static/{script}"></script>'
        if script
        else '<script src="/static/common.js"></script>'
    )
    body = (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        '<meta name=color-scheme content="light dark">'
        f"<title>{html.escape(title)} · statelab</title>"
        '<link rel=icon href="data:,">'
        '<link rel=stylesheet href="/static/lab.css">'
        "</head><body>"
        '<a class=skip href="#main">Skip to the page</a>'
        f"<header><span class=brand>statelab</span><nav aria-label=Pages>{links}</nav>"
        f"<span class=version>{__version__}</span></header>"
        f'<main id=main tabindex=-1 data-page="{page_data}">{content}</main>'
        f"{scripts}"
        "</body></html>\n"
    )
    return HTMLResponse(body, status, headers=dict(headers or {}))


def error_page(
    status: int, title: str, message: str, headers: Mapping[str, str] | None = None
) -> HTMLResponse:
    """An error as a page: what went wrong, and where to go from here."""
    content = (
        f"<h1>{html.escape(title)}</h1><p class=error id=error-message>{html.escape(message)}</p>"
        "<p>Go to the <a href=/>Lab</a>, the <a href=/runs>runs</a>, the <a href=/sweeps>sweeps</a> "
        "or the <a href=/jobs>jobs</a>.</p>"
    )
    return shell(title, "", None, content=content, status=status, headers=headers)


@router.get("/")
def lab_page() -> HTMLResponse:
    return shell("Lab", "lab", "lab.js")


@router.get("/runs")
def runs_page() -> HTMLResponse:
    return shell("Runs", "runs", "runs.js")


@router.get("/runs/{name}")
def run_page(request: Request, name: str) -> HTMLResponse:
    request.app.state.lab.roots.run_dir(name)  # 404 unless it is a run under --runs
    return shell(name, "runs", "run.js", {"run": name})


@router.get("/compare")
def compare_page(request: Request) -> HTMLResponse:
    """Runs overlaid: /compare?run=A&run=B[&run=C ...] (or the older ?a=A&b=B)."""
    query = request.query_params
    names = query.getlist("run") or [n for n in (query.get("a"), query.get("b")) if n]
    return shell(" vs ".join(names) or "Compare", "runs", "compare.js", {"runs": names})


@router.get("/sweeps")
def sweeps_page() -> HTMLResponse:
    return shell("Sweeps", "sweeps", "sweeps.js")


@router.get("/sweeps/{name}")
def store_page(request: Request, name: str) -> HTMLResponse:
    request.app.state.lab.roots.store(name)  # 404 unless it was given with --store
    return shell(name, "sweeps", "store.js", {"store": name})


@router.get("/jobs")
def jobs_page() -> HTMLResponse:
    return shell("Jobs", "jobs", "jobs.js")


@router.get("/jobs/{job_id}")
def job_page(request: Request, job_id: str) -> RedirectResponse:
    """A job's own URL: the page that shows it, attached to it (the Lab for a run, the store's
    page for a sweep, the run's page for its doctor)."""
    from statelab.web.paths import NotFound

    try:
        job = request.app.state.lab.queue.get(job_id)
    except KeyError:
        raise NotFound(job_id) from None
    where = {
        "run": "/",
        "sweep": f"/sweeps/{quote(job.params.get('store', ''), safe='')}",
        "doctor": f"/runs/{quote(job.params.get('run', ''), safe='')}",
    }[job.kind]
    return RedirectResponse(f"{where}?job={quote(job.id, safe='')}", 303)


@router.get("/static/plotly.min.js")
def plotly_script() -> FileResponse:
    return FileResponse(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})
