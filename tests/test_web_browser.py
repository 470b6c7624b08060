"""The lab in a real headless browser (the system's Chromium, driven by Playwright): a run from
the form to its verdict and figures, a heatmap's tooltip and a cell's trials, a sweep launched
from the page whose cells fill in. Screenshots of the three pages are saved as artifacts, into
$STATELAB_SCREENSHOTS if set (docs/screenshots/ holds the committed ones), else a temporary folder.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from playwright.sync_api import sync_playwright

from browser import launch
from statelab import executors, grid, sweeps
from statelab.store import Store
from statelab.web.app import create_app
from statelab.web.server import running

pytestmark = pytest.mark.slow  # a live lab, a sweep and Chromium for the module
TIMEOUT_MS = 90_000  # first compilations on a loaded 2-core machine


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A live lab: an empty runs directory, a store swept beforehand, and an empty one."""
    root = tmp_path_factory.mktemp("site")
    phase = root / "phase.sqlite"
    axes = {"tsteps": "1:3", "lahead": "1:3", "input_len": "200", "epochs": "2"}
    with Store.create(phase) as store:
        sweeps.run_sweep(
            grid.expand(grid.grid_from_inputs(axes, seeds=2)), store, executors.InProcess(threads=1)
        )
    app = create_app(root / "runs", [phase, root / "live.sqlite"])
    with running(app) as url:
        yield url


@pytest.fixture(scope="module")
def shots(tmp_path_factory) -> Path:
    folder = os.environ.get("STATELAB_SCREENSHOTS")
    path = Path(folder) if folder else tmp_path_factory.mktemp("screenshots")
    path.mkdir(parents=True, exist_ok=True)
    return path


@pytest.fixture(scope="module")
def browser():
    with sync_playwright() as playwright:
        context = launch(playwright)
        yield context
        context.close()


@pytest.fixture
def page(browser):
    """A fresh tab that records console errors and uncaught exceptions."""
    tab = browser.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.errors = []
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    yield tab
    tab.close()


def test_the_lab_runs_an_experiment_to_its_verdict_and_draws_its_figures(site, page, shots):
    page.goto(site)
    assert page.locator("#in-delay").is_hidden()  # moving-average shows only its own parameters
    page.select_option("#in-task", "delay")
    assert page.locator("#in-tsteps").is_hidden() and page.input_value("#in-delay") == "1"
    page.select_option("#in-task", "moving-average")
    assert page.input_value("#in-tsteps") == "2"
    page.fill("#in-tsteps", "3")
    page.fill("#in-lahead", "1")
    page.click("#run-button")
    verdict = page.wait_for_selector("#verdict").inner_text()
    assert verdict.startswith("Expected outcome")
    page.wait_for_selector("#run-link")
    drawn = page.eval_on_selector_all(
        "#figures .figure",
        "divs => divs.map(d => [d.id, d.data.length, d.querySelectorAll('.main-svg').length])",
    )
    assert [d[0] for d in drawn] == ["fig-floors", "fig-predictions", "fig-loss", "fig-memory"]
    assert all(traces > 0 and svgs > 0 for _, traces, svgs in drawn)
    assert page.inner_text("#bar-stateful + .epoch-text").startswith("epoch 10/10")
    live = page.evaluate("document.getElementById('live').data.map(t => [t.name, t.x.at(-1), t.y.length])")
    assert live == [["stateful", 10, 10], ["stateless", 10, 10]]  # every epoch drawn as it came
    run = page.inner_text("#run-link").rstrip("/")
    listed = page.request.get(f"{site}api/runs/{run}").json()
    assert listed["verdict"]["text"] == verdict and listed["config"]["task"]["tsteps"] == 3
    assert page.errors == []
    page.screenshot(path=shots / "lab.png", full_page=True)


def test_a_bad_value_gets_the_cli_message_beside_its_field(site, page):
    page.goto(site)
    page.fill("#in-epochs", "0")
    page.click("#run-button")
    page.wait_for_selector("#err-epochs:not(:empty)")
    assert page.inner_text("#err-epochs") == "epochs must be an integer in [1, 1000000], got 0"
    assert page.errors == [] or all("400" in e for e in page.errors)  # the browser logs the 400 itself


def test_the_runs_page_lists_runs_with_verdicts_and_opens_one(site, page, shots):
    page.goto(f"{site}runs")
    link = page.wait_for_selector("#runs tbody tr a")
    assert page.inner_text("#runs tbody tr .pill").startswith("Expected outcome")
    page.screenshot(path=shots / "runs.png", full_page=True)
    link.click()
    page.wait_for_selector("#figures .figure .main-svg")
    assert page.inner_text("#verdict").startswith("Expected outcome")
    assert page.errors == []


def _cell_centre(page, box: str, axis: int, i: int, j: int) -> tuple[float, float]:
    """Page coordinates of heatmap cell (x index i, y index j) of panel `axis` (1, 2, 3)."""
    suffix = "" if axis == 1 else str(axis)
    x, y = page.evaluate(
        """([id, s, i, j]) => { const L = document.getElementById(id)._fullLayout;
            const xa = L['xaxis' + s], ya = L['yaxis' + s];
            return [xa._offset + xa.l2p(i), ya._offset + ya.l2p(j)]; }""",
        [box, suffix, i, j],
    )
    frame = page.locator(f"#{box}").bounding_box()
    return frame["x"] + x, frame["y"] + y


def test_hovering_a_heatmap_cell_shows_its_numbers_and_clicking_lists_its_trials(site, page, shots):
    page.goto(f"{site}sweeps/phase.sqlite")
    page.wait_for_selector("#facet-0 .main-svg")
    x, y = _cell_centre(page, "facet-0", 2, 1, 0)  # stateless panel, tsteps 2, lahead 1
    page.mouse.move(x, y)
    tooltip = page.wait_for_selector("#facet-0 .hoverlayer .hovertext").text_content()  # SVG text
    assert "stateless" in tooltip and "tsteps 2, lahead 1" in tooltip
    assert "median" in tooltip and "[min, max]" in tooltip and "seeds 2" in tooltip and "floor 0.5" in tooltip
    page.screenshot(path=shots / "sweeps.png", full_page=True)
    page.mouse.click(x, y)
    rows = page.wait_for_selector("#cell-trials").query_selector_all("tbody tr")
    assert len(rows) == 2
    assert page.errors == []


def test_the_memory_map_beneath_a_phase_diagram_shows_a_cells_profile_error_and_span(site, page):
    page.goto(f"{site}sweeps/phase.sqlite")
    page.wait_for_selector("#memory-0 .main-svg")
    names = page.evaluate("document.getElementById('memory-0').data.map(t => t.name)")
    assert names == ["stateful", "stateless"]
    x, y = _cell_centre(page, "memory-0", 2, 1, 0)  # stateless, tsteps 2, lahead 1
    page.mouse.move(x, y)
    tooltip = page.wait_for_selector("#memory-0 .hoverlayer .hovertext").text_content()
    assert "stateless: memory" in tooltip and "tsteps 2, lahead 1" in tooltip
    assert "profile error: median" in tooltip and "span: median 0" in tooltip and "seeds 2" in tooltip
    assert page.errors == []


def test_a_sweep_launched_from_the_page_fills_its_cells_in(site, page):
    page.goto(f"{site}sweeps/live.sqlite")
    page.wait_for_selector("#axes .axis")
    rows = page.locator("#axes .axis")
    rows.nth(0).locator(".axis-values").fill("1:3")
    rows.nth(1).locator(".axis-values").fill("1:3")
    for name, value in (("input_len", "200"), ("epochs", "1")):
        page.click("text=add axis")
        row = page.locator("#axes .axis").last
        row.locator(".axis-name").select_option(name)
        row.locator(".axis-values").fill(value)
    page.click("#launch-button")
    page.wait_for_function(
        "() => { const d = document.getElementById('facet-0'); "
        "return d && d.data && d.data[0].z.flat().filter(v => v !== null).length === 4; }"
    )
    page.wait_for_function(
        "() => document.getElementById('launch-status').textContent.startsWith('Ran 4 trials')"
    )
    assert page.inner_text("#store-counts").startswith("4 finished trials over 4 grid points")
    assert page.errors == []


def test_a_run_cancelled_from_the_page_stops_between_epochs_and_writes_nothing(site, page):
    runs = page.request.get(f"{site}api/runs").json()
    page.goto(site)
    page.fill("#in-input_len", "200")
    page.fill("#in-epochs", "5000")
    page.click("#run-button")
    page.wait_for_function("() => (document.getElementById('bar-stateful') || {}).value > 0")
    assert page.is_visible("#cancel-button")
    page.click("#cancel-button")
    page.wait_for_function(
        "() => document.getElementById('status').textContent"
        ".startsWith('cancelled during training; nothing was written')"
    )
    assert page.is_hidden("#cancel-button") and page.is_enabled("#run-button")
    assert page.evaluate("document.getElementById('bar-stateful').value") < 5000
    assert page.request.get(f"{site}api/runs").json() == runs
    assert page.errors == []


def test_the_api_documentation_renders_under_its_content_security_policy(site, page):
    page.goto(f"{site}docs")
    page.get_by_text("/api/jobs/{job_id}/cancel", exact=True).wait_for()
    assert page.errors == []


@pytest.fixture
def elsewhere(tmp_path):
    """A page of another origin (another port of this host) that tries to make the lab train: a
    fetch that needs no preflight, an auto-submitted form, and a JSON fetch that does."""
    import http.server
    import threading

    class Page(http.server.SimpleHTTPRequestHandler):
        def __init__(self, *args, **kwargs):
            super().__init__(*args, directory=str(tmp_path), **kwargs)

        def log_message(self, *args):  # quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Page)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield tmp_path, f"http://127.0.0.1:{server.server_address[1]}/"
    server.shutdown()
    server.server_close()


def test_a_page_of_another_origin_cannot_make_the_lab_train(site, page, elsewhere):
    """The server refuses (403) what the browser lets a page of another origin send, whatever the
    browser's own rules: nothing is queued."""
    folder, origin = elsewhere
    body = '{"params": {"epochs": "1", "input_len": "200"}}'
    (folder / "evil.html").write_text(
        f"""<!doctype html><html><body>
<form id="f" method="post" action="{site}api/jobs/run" enctype="text/plain" target="sink">
<input name='{body[:-1]}, "x": "' value='"}}'></form><iframe name="sink"></iframe>
<script>
const plain = {{"Content-Type": "text/plain"}}, json = {{"Content-Type": "application/json"}};
fetch("{site}api/jobs/run", {{method: "POST", mode: "no-cors", headers: plain, body: '{body}'}});
fetch("{site}api/jobs/run", {{method: "POST", headers: json, body: '{body}'}}).catch(() => {{}});
document.getElementById("f").submit();
</script></body></html>"""
    )
    before = len(page.request.get(f"{site}api/jobs").json())
    answers = []
    page.on(
        "response",
        lambda r: answers.append((r.request.method, r.status)) if "/api/jobs/run" in r.url else None,
    )
    page.goto(f"{origin}evil.html")
    page.wait_for_timeout(1500)
    posts = [status for method, status in answers if method == "POST"]
    assert posts and all(status == 403 for status in posts), answers  # the form and the simple fetch
    assert len(page.request.get(f"{site}api/jobs").json()) == before  # nothing queued
