"""The HTML pages: Lab, Runs (a run, two runs compared) and Sweeps (a store).

Each page is a small shell (navigation, a container, its script); the script asks the JSON API for
everything it shows and draws the figures with plotly.js, which the server serves from the
installed `plotly` package (never from a CDN: the lab works offline).
"""

from __future__ import annotations

import html
import importlib.util
import json
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request
from fastapi.responses import FileResponse, HTMLResponse

from statelab.version import __version__

router = APIRouter(include_in_schema=False)
STATIC = Path(__file__).parent / "static"
NAV = (
    ("/", "Lab", "lab"),
    ("/runs", "Runs", "runs"),
    ("/sweeps", "Sweeps", "sweeps"),
    ("/docs", "API", "api"),
)


def plotly_js() -> Path:
    """plotly.min.js inside the installed plotly package (found without importing plotly)."""
    spec = importlib.util.find_spec("plotly")
    if spec is None or spec.origin is None:
        raise RuntimeError("the plotly package is not installed; reinstall statelab")
    return Path(spec.origin).parent / "package_data" / "plotly.min.js"


def shell(title: str, section: str, script: str, data: dict[str, Any] | None = None) -> HTMLResponse:
    """A page: navigation, an empty main element, and the scripts that fill it from the API."""
    links = "".join(
        f'<a href="{href}"{" class=here" if key == section else ""}>{label}</a>' for href, label, key in NAV
    )
    page_data = html.escape(json.dumps(data or {}), quote=True)
    body = (
        "<!DOCTYPE html>\n<html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width, initial-scale=1">'
        f"<title>{html.escape(title)} · statelab</title>"
        '<link rel=icon href="data:,">'
        '<link rel=stylesheet href="/static/lab.css">'
        "</head><body>"
        f"<header><span class=brand>statelab</span><nav>{links}</nav>"
        f"<span class=version>{__version__}</span></header>"
        f'<main id=main data-page="{page_data}"></main>'
        '<script src="/static/plotly.min.js"></script>'
        '<script src="/static/common.js"></script>'
        f'<script src="/static/{script}"></script>'
        "</body></html>\n"
    )
    return HTMLResponse(body)


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
def compare_page(a: str, b: str) -> HTMLResponse:
    return shell(f"{a} vs {b}", "runs", "compare.js", {"a": a, "b": b})


@router.get("/sweeps")
def sweeps_page() -> HTMLResponse:
    return shell("Sweeps", "sweeps", "sweeps.js")


@router.get("/sweeps/{name}")
def store_page(request: Request, name: str) -> HTMLResponse:
    request.app.state.lab.roots.store(name)  # 404 unless it was given with --store
    return shell(name, "sweeps", "store.js", {"store": name})


@router.get("/static/plotly.min.js")
def plotly_script() -> FileResponse:
    return FileResponse(plotly_js(), media_type="text/javascript", headers={"Cache-Control": "max-age=86400"})
