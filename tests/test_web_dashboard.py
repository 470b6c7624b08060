"""The lab as a dashboard, in a real headless browser (the system's Chromium, driven by Playwright):
jobs that survive a reload, views restored from their URL, the trial table against `load_results`,
curves of selected trials, parallel coordinates, runs as a collection, a 360 px screen, the
keyboard, the dark scheme, and no request to any host but the server.

Screenshots of the table, the overlay and the narrow layout are saved into $STATELAB_SCREENSHOTS
if set (docs/screenshots/ holds the committed ones), else a temporary folder.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from pathlib import Path

import pandas as pd
import pytest
from playwright.sync_api import sync_playwright

import statelab
from browser import launch
from statelab import executors, grid, rundir, sweeps
from statelab.config import from_mapping
from statelab.identity import config_hash
from statelab.store import Store
from statelab.web.app import create_app
from statelab.web.server import running

TIMEOUT_MS = 120_000  # first compilations on a loaded 2-core machine
SMALL = {"input_len": 200, "epochs": 2}
MANY = 10_000


def sweep_into(path: Path, axes: dict[str, str], seeds: int = 1) -> None:
    with Store.create(path) as store:
        configs = grid.expand(grid.grid_from_inputs(axes, seeds=seeds))
        sweeps.run_sweep(configs, store, executors.InProcess(threads=1))


def copies(source: Path, target: Path, n: int) -> None:
    """A store of `n` trials made of the trials of `source`, each under another model seed (so
    another config and hash): as many rows as a large sweep, without training them."""
    with Store.open(source) as store:
        records, history = store.records(), store.history()
    made = []
    for k in range(n):
        record = records[k % len(records)]
        config = from_mapping({**record.config, "model": {**record.config["model"], "model_seed": 1000 + k}})
        rows = [
            {c: h[c] for c in h if c != "config_hash"}
            for h in history
            if h["config_hash"] == record.config_hash
        ]
        made.append(
            dataclasses.replace(
                record, config=config.to_dict(), config_hash=config_hash(config), position=k, history=rows
            )
        )
    with Store.create(target) as store:
        store.record_all(made)


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A live lab: three saved runs, a store swept beforehand (2 x 2 x 2 seeds), one of 10,000
    trials, one to follow live, one whose facets appear as it is written."""
    root = tmp_path_factory.mktemp("dashboard")
    runs = root / "runs"
    for tsteps in (2, 3, 4):
        statelab.run_experiment({**SMALL, "tsteps": tsteps}, out=runs / f"run-t{tsteps}")
    # the stateful model cannot learn x[t-2] at bptt 1: a diagnosis, and the doctor's work
    statelab.run_experiment({**SMALL, "task": "delay", "delay": 2}, out=runs / "delay-failed")
    sweep_into(
        root / "phase.sqlite", {"tsteps": "1:3", "lahead": "1:3", "input_len": "200", "epochs": "2"}, 2
    )
    copies(root / "phase.sqlite", root / "many.sqlite", MANY)
    sweep_into(root / "facets.sqlite", {"tsteps": "1:3", "input_len": "200", "epochs": "1"})
    stores = [root / name for name in ("phase.sqlite", "many.sqlite", "live.sqlite", "facets.sqlite")]
    app = create_app(runs, stores)
    with running(app) as url:
        yield url, root


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


def new_tab(browser):
    tab = browser.new_page()
    tab.set_default_timeout(TIMEOUT_MS)
    tab.errors = []
    tab.on("console", lambda m: tab.errors.append(m.text) if m.type == "error" else None)
    tab.on("pageerror", lambda e: tab.errors.append(str(e)))
    return tab


@pytest.fixture
def page(browser):
    """A fresh tab that records console errors and uncaught exceptions."""
    tab = new_tab(browser)
    yield tab
    tab.close()


def text_of(page, selector: str) -> str:
    return page.eval_on_selector(selector, "e => e.textContent")


# ---------------------------------------------------------------------------------------------
# Jobs that survive a reload


def test_a_reloaded_lab_reattaches_to_its_run_and_another_tab_finds_it(site, page, browser):
    url, _ = site
    # Every text the status line shows, kept as it changes ("compiling… 0.4 s" lasts a moment).
    page.add_init_script(
        "addEventListener('DOMContentLoaded', () => { window.said = []; new MutationObserver(() => {"
        " const s = document.getElementById('status'); if (s) window.said.push(s.textContent); })"
        ".observe(document.body, {subtree: true, childList: true, characterData: true}); })"
    )
    page.goto(url)
    page.fill("#in-input_len", "200")
    page.fill("#in-units", "7")  # a shape no other test compiles: its compilation is seen
    page.fill("#in-epochs", "100000")
    page.click("#run-button")
    page.wait_for_function("() => (document.getElementById('bar-stateful') || {}).value > 3")
    assert any(t.startswith("compiling… ") and t.endswith(" s") for t in page.evaluate("window.said"))
    assert "job=" in page.url and "epochs=100000" in page.url and "units=7" in page.url
    page.reload()
    page.wait_for_function("() => (document.getElementById('bar-stateful') || {}).value > 3")
    assert page.input_value("#in-epochs") == "100000" and page.input_value("#in-units") == "7"
    assert page.is_visible("#cancel-button") and page.is_disabled("#run-button")
    live = page.evaluate("document.getElementById('live').data.map(t => [t.x[0], t.x.length])")
    assert [first for first, _ in live] == [1, 1] and all(
        n > 3 for _, n in live
    )  # the missed epochs, replayed
    other = new_tab(browser)
    try:
        other.goto(url)  # no job in its URL: it finds the one running
        other.wait_for_selector("#cancel-button:not([hidden])")
        assert other.input_value("#in-epochs") == "100000" and "job=" in other.url
        other.click("#cancel-button")
        page.wait_for_function(
            "() => document.getElementById('status').textContent.startsWith('cancelled during training')"
        )
        assert page.is_enabled("#run-button") and page.is_hidden("#cancel-button")
        assert other.errors == []
    finally:
        other.close()
    assert page.errors == []


def test_a_reloaded_store_page_reattaches_to_its_sweep_with_its_added_axes(site, page):
    url, _ = site
    page.goto(f"{url}sweeps/live.sqlite")
    page.wait_for_selector("#axes .axis")
    rows = page.locator("#axes .axis")
    rows.nth(0).locator(".axis-values").fill("1:4")
    rows.nth(1).locator(".axis-values").fill("1:4")
    for name, value in (("input_len", "200"), ("epochs", "3000")):
        page.click("text=add axis")
        row = page.locator("#axes .axis").last
        row.locator(".axis-name").select_option(name)
        row.locator(".axis-values").fill(value)
    page.click("#launch-button")
    page.wait_for_function(
        "() => document.getElementById('launch-status').textContent.startsWith('9 trials')"
    )
    page.reload()
    page.wait_for_selector("#cancel-sweep:not([hidden])")
    axes = page.eval_on_selector_all(
        "#axes .axis",
        "rows => rows.map(r => [r.querySelector('.axis-name').value, r.querySelector('.axis-values').value])",
    )
    assert axes == [["tsteps", "1:4"], ["lahead", "1:4"], ["input_len", "200"], ["epochs", "3000"]]
    assert page.is_disabled("#launch-button") and page.is_visible("#sweep-bar") and "job=" in page.url
    assert "trials" in text_of(page, "#launch-status")
    page.click("#cancel-sweep")
    page.wait_for_function(
        "() => document.getElementById('launch-status').textContent.startsWith('cancelled during the sweep')",
        timeout=TIMEOUT_MS * 2,
    )
    assert page.is_enabled("#launch-button")
    assert page.errors == []


def test_a_job_finished_unseen_is_a_click_away_on_the_jobs_page(site, page):
    url, _ = site
    response = page.request.post(f"{url}api/jobs/run", data={"params": {"input_len": "200", "epochs": "2"}})
    job = response.json()["id"]
    page.goto(f"{url}jobs")
    page.wait_for_function(
        f"() => (document.querySelector('tr[data-job=\"{job}\"]') || {{}}).textContent?.includes('done')"
    )
    page.click(f'tr[data-job="{job}"] a[href="/jobs/{job}"]')
    page.wait_for_selector("#run-link")  # the Lab, attached to it: its verdict and saved run
    assert page.url.endswith(f"/?input_len=200&epochs=2&job={job}")
    assert text_of(page, "#verdict").startswith("Expected outcome")
    assert page.errors == []


def test_every_invalid_field_is_shown_at_once_and_an_emptied_field_shows_its_default(site, page):
    url, _ = site
    jobs = len(page.request.get(f"{url}api/jobs").json())
    page.goto(url)
    page.fill("#in-tsteps", "0")
    page.fill("#in-epochs", "0")
    page.fill("#in-units", "")
    page.click("#run-button")
    page.wait_for_selector("#err-epochs:not(:empty)")
    assert text_of(page, "#err-tsteps") == "tsteps must be an integer >= 1, got 0"
    assert text_of(page, "#err-epochs") == "epochs must be an integer in [1, 1000000], got 0"
    assert (
        page.input_value("#in-units") == "20"
        and text_of(page, "#note-units") == "was empty: runs at its default, 20"
    )
    assert text_of(page, "#status").endswith("(and 1 more, beside their fields)")
    assert page.is_enabled("#run-button")
    assert len(page.request.get(f"{url}api/jobs").json()) == jobs  # nothing was queued
    assert all("400" in e for e in page.errors)  # the browser logs the 400 itself


# ---------------------------------------------------------------------------------------------
# Views in the URL


def test_a_url_restores_the_labs_form_and_open_in_lab_fills_it_from_a_run(site, page):
    url, root = site
    page.goto(f"{url}?task=delay&delay=3&cell=gru&epochs=7")
    page.wait_for_selector("#in-delay")
    assert [page.input_value(f"#in-{n}") for n in ("task", "delay", "cell", "epochs")] == [
        "delay",
        "3",
        "gru",
        "7",
    ]
    assert page.is_hidden("#in-tsteps")
    page.fill("#in-units", "9")
    page.wait_for_function("() => location.search.includes('units=9') && location.search.includes('delay=3')")
    page.goto(f"{url}runs/run-t4")
    page.click("#open-in-lab")
    page.wait_for_selector("#in-tsteps")
    config = rundir.read_summary(root / "runs" / "run-t4")[0]
    assert page.input_value("#in-tsteps") == "4" and page.input_value("#in-input_len") == "200"
    assert page.input_value("#in-epochs") == "2" and page.input_value("#in-seed") == str(config.task.seed)
    assert page.errors == []


def test_a_url_restores_a_stores_cell_table_selection_colour_and_axes(site, page):
    url, root = site
    frame = statelab.load_results(root / "phase.sqlite")
    chosen = frame.config_hash.iloc[1]
    query = (
        "cell=0.0.1&filter=tsteps:2&sort=stateless_test_nmse&desc=1&cols=tsteps,lahead,seed,stateless_test_nmse"
        f"&sel={chosen}&color=stateless_test_nmse&axis=cell:gru&axis=epochs:7&seeds=3"
    )
    page.goto(f"{url}sweeps/phase.sqlite?{query}")
    page.wait_for_selector("#cell-trials")
    assert len(page.query_selector_all("#cell-trials tbody tr")) == 2  # tsteps 2, lahead 1: two seeds
    page.wait_for_selector("#trial-table tbody tr")
    header = page.eval_on_selector_all(
        "#trial-table thead tr:first-child th", "ths => ths.map(t => t.textContent)"
    )
    assert header[2:] == ["tsteps", "lahead", "seed", "stateless_test_nmse"]
    shown = page.eval_on_selector_all(
        "#trial-table tbody tr", "rows => rows.map(r => Number(r.dataset.trial))"
    )
    expected = statelab.load_results(root / "phase.sqlite", where={"tsteps": 2})
    assert shown == list(expected.sort_values("stateless_test_nmse", ascending=False, kind="stable").index)
    page.wait_for_function("() => (document.getElementById('curves') || {}).data?.length === 4")
    page.wait_for_function(
        "() => document.getElementById('parcoords-color')?.value === 'stateless_test_nmse'"
    )
    axes = page.eval_on_selector_all(
        "#axes .axis",
        "rows => rows.map(r => [r.querySelector('.axis-name').value, r.querySelector('.axis-values').value])",
    )
    assert axes == [["cell", "gru"], ["epochs", "7"]] and page.input_value("#in-seeds") == "3"
    assert page.errors == []


def test_the_runs_list_filters_sorts_groups_pages_and_compares_three_from_its_url(site, page, shots):
    url, root = site
    shutil.copytree(root / "runs" / "run-t3", root / "runs" / "run-t3-again")  # the same config twice
    try:
        page.goto(f"{url}runs?q=tsteps=3")
        page.wait_for_selector("#runs tbody tr")
        names = page.eval_on_selector_all(
            "#runs tbody tr td:nth-child(2) > a", "as => as.map(a => a.textContent)"
        )
        assert sorted(names) == ["run-t3", "run-t3-again"]
        page.goto(f"{url}runs?q=run-t&sort=name&desc=0&group=1")
        page.wait_for_selector("#runs tbody tr")
        names = page.eval_on_selector_all(
            "#runs tbody tr td:nth-child(2) > a", "as => as.map(a => a.textContent)"
        )
        assert names == ["run-t2", "run-t3", "run-t4"]  # run-t3-again grouped under run-t3
        assert "and 1 more of this config" in text_of(page, "#runs")
        page.click("button[data-sort=name]")  # now largest first
        names = page.eval_on_selector_all(
            "#runs tbody tr td:nth-child(2) > a", "as => as.map(a => a.textContent)"
        )
        assert (
            names == ["run-t4", "run-t3-again", "run-t2"]
            and "sort=name" in page.url
            and "desc=0" not in page.url
        )
        for name in ("run-t2", "run-t3-again", "run-t4"):
            page.check(f'input[data-run="{name}"]')
        page.click("#compare-button")
        page.wait_for_selector("#figures #fig-loss .main-svg")
        assert page.evaluate("location.pathname") == "/compare"
        assert text_of(page, "#figures-title") == "Figures (A solid, B dashed, C dotted lines)"
        dashes = page.evaluate(
            "document.getElementById('fig-loss').data.filter(t => t.showlegend !== false"
            " && !t.name.includes('floor') && !t.name.includes('threshold'))"
            ".map(t => [t.name.slice(0, 1), t.line.dash])"
        )
        assert {label: dash for label, dash in dashes} == {"A": "solid", "B": "dash", "C": "dot"}
        page.screenshot(path=shots / "overlay.png", full_page=True)
        assert page.errors == []
    finally:
        shutil.rmtree(root / "runs" / "run-t3-again")


def test_a_run_is_deleted_from_its_page_once_confirmed(site, page):
    url, root = site
    shutil.copytree(root / "runs" / "run-t2", root / "runs" / "doomed")
    page.goto(f"{url}runs/doomed")
    page.click("#delete-button")
    page.wait_for_selector("#delete-confirm:not([hidden])")
    assert (root / "runs" / "doomed").exists()  # asking is not deleting
    page.click("#delete-no")
    assert page.is_hidden("#delete-confirm") and (root / "runs" / "doomed").exists()
    page.click("#delete-button")
    page.click("#delete-yes")
    page.wait_for_url(f"{url}runs")
    assert not (root / "runs" / "doomed").exists() and (root / "runs" / "run-t2" / "metrics.json").exists()
    assert page.errors == []


def test_a_failed_run_shows_its_diagnosis_and_diagnose_trains_the_doctors_candidates(site, page):
    from statelab import doctors

    url, root = site
    page.goto(f"{url}runs/delay-failed")
    page.wait_for_selector("#outcomes .diagnosis")
    assert text_of(page, "#outcomes .diagnosis").startswith("stateful, diagnosis: truncation.")
    page.click("#diagnose-button")
    page.wait_for_selector("#cancel-doctor", state="visible")  # once the job is queued
    page.wait_for_selector("#doctor-table", timeout=TIMEOUT_MS * 3)
    frame = doctors.load(root / "runs" / "delay-failed").frame()  # what `statelab doctor` finds
    rows = page.eval_on_selector_all("#doctor-table tbody tr", "rows => rows.map(r => r.dataset.candidate)")
    assert rows == list(frame.index)
    command = frame.attrs["command"]
    assert text_of(page, "#doctor-command") == (
        f"The smallest change that converges: {command}" if command else "No change converged on every seed."
    )
    assert "job=" in page.url and page.is_enabled("#diagnose-button")
    assert page.errors == []


# ---------------------------------------------------------------------------------------------
# The trial table


def test_the_trial_table_sorts_filters_and_downloads_the_rows_of_load_results(site, page, tmp_path, shots):
    url, root = site
    page.goto(f"{url}sweeps/phase.sqlite")
    page.wait_for_selector("#trial-table tbody tr")
    assert text_of(page, "#table-count") == "trials 1–8 of 8 matching (8 in the store)"
    page.fill('input[data-filter="tsteps"]', "2")
    page.wait_for_function(
        "() => document.getElementById('table-count').textContent.startsWith('trials 1–4 of 4')"
    )
    page.click('button[data-sort="stateless_test_nmse"]')
    page.wait_for_selector('button[data-sort="stateless_test_nmse"][aria-sort=ascending]')
    page.click('button[data-sort="stateless_test_nmse"]')
    page.wait_for_selector('button[data-sort="stateless_test_nmse"][aria-sort=descending]')
    expected = statelab.load_results(root / "phase.sqlite", where={"tsteps": 2})
    shown = page.eval_on_selector_all(
        "#trial-table tbody tr", "rows => rows.map(r => Number(r.dataset.trial))"
    )
    assert shown == list(expected.sort_values("stateless_test_nmse", ascending=False, kind="stable").index)
    for link, kind in (("#download-csv", "csv"), ("#download-parquet", "parquet")):
        with page.expect_download() as download:
            page.click(link)
        path = tmp_path / f"rows.{kind}"
        download.value.save_as(path)
        if kind == "parquet":
            pd.testing.assert_frame_equal(pd.read_parquet(path), expected)
        else:
            back = pd.read_csv(path, index_col="trial")
            assert list(back.index) == list(expected.index) and list(back.columns) == list(expected.columns)
            assert back.stateful_test_nmse.tolist() == expected.stateful_test_nmse.tolist()
    errors = sorted(expected.stateful_test_nmse)
    cut = float(errors[1] + errors[2]) / 2  # the two best of four; a float repr
    page.fill('input[data-filter="stateful_test_nmse"]', f"<{cut!r}")
    page.wait_for_function(
        "() => document.getElementById('table-count').textContent.includes('of 2 matching')"
    )
    with page.expect_download() as download:
        page.click("#download-csv")
    download.value.save_as(tmp_path / "metric.csv")
    back = pd.read_csv(tmp_path / "metric.csv", index_col="trial")
    assert list(back.index) == list(expected[expected.stateful_test_nmse < cut].index) and len(back) == 2
    assert page.errors == []


def test_selected_trials_overlay_their_curves_and_parcoords_colour_by_any_metric(site, page, shots):
    url, root = site
    page.set_viewport_size({"width": 1280, "height": 900})
    page.goto(f"{url}sweeps/phase.sqlite")
    page.wait_for_selector("#trial-table tbody tr")
    boxes = page.locator("#trial-table tbody input[type=checkbox]")
    boxes.nth(0).check()
    boxes.nth(3).check()
    page.wait_for_function("() => (document.getElementById('curves') || {}).data?.length === 8")
    history = statelab.load_history(root / "phase.sqlite")
    traces = page.evaluate(
        "document.getElementById('curves').data.map(t => [t.name, t.yaxis, t.y, t.line.dash])"
    )
    for name, axis, ys, dash in traces:
        trial, model = int(name.split(" ")[0].lstrip("#")), name.split(" ")[-1]
        rows = history[(history.trial == trial) & (history.model == model)]
        assert ys == rows["train_loss" if axis == "y" else "val_nmse"].tolist()
        assert dash == {"stateful": "solid", "stateless": "dash"}[model]
    assert {int(t[0].split(" ")[0].lstrip("#")) for t in traces} == {0, 3}
    assert "sel=" in page.url
    # parallel coordinates: drawn (WebGL canvases), coloured by the chosen column
    page.wait_for_function(
        "() => (document.getElementById('parcoords') || {}).data?.[0]?.type === 'parcoords'"
    )
    assert page.evaluate("document.querySelectorAll('#parcoords canvas').length") > 0
    frame = statelab.load_results(root / "phase.sqlite")
    page.select_option("#parcoords-color", "stateless_profile_error")
    page.wait_for_function(
        "() => document.getElementById('parcoords').data[0].line.colorbar.title.text"
        " === 'stateless_profile_error'"
    )
    colours = page.evaluate("document.getElementById('parcoords').data[0].line.color")
    assert colours == frame.stateless_profile_error.tolist()
    assert "color=stateless_profile_error" in page.url
    page.locator("#table-section").scroll_into_view_if_needed()
    page.screenshot(path=shots / "table.png", full_page=True)
    assert page.errors == []


def test_a_store_of_ten_thousand_trials_pages_through_them(site, page):
    url, _ = site
    page.goto(f"{url}sweeps/many.sqlite")
    page.wait_for_selector("#trial-table tbody tr")
    assert text_of(page, "#table-count") == f"trials 1–100 of {MANY} matching ({MANY} in the store)"
    assert len(page.query_selector_all("#trial-table tbody tr")) == 100
    page.click("#table-next")
    page.wait_for_function(
        "() => document.getElementById('table-count').textContent.startsWith('trials 101–200')"
    )
    assert page.eval_on_selector("#trial-table tbody tr", "r => r.dataset.trial") == "100"
    assert text_of(page, "#table-page") == f"page 2 of {MANY // 100}" and "page=2" in page.url
    assert page.errors == []


def test_a_facet_that_appears_live_retitles_the_diagrams_it_shifts(site, page):
    url, root = site
    page.goto(f"{url}sweeps/facets.sqlite")
    page.wait_for_selector("#facet-0 .main-svg")
    assert text_of(page, "#facet-0-title") == "Phase diagram"
    with Store.create(root / "facets.sqlite") as store:  # as a sweep in another process would
        configs = grid.expand(
            grid.grid_from_inputs({"tsteps": "1:3", "input_len": "200", "epochs": "1", "cell": "gru"})
        )
        sweeps.run_sweep(configs, store, executors.InProcess(threads=1))
    page.wait_for_selector("#facet-1 .main-svg")
    facets = page.request.get(f"{url}api/stores/facets.sqlite").json()["facets"]
    titles = [text_of(page, f"#facet-{k}-title") for k in range(len(facets))]
    assert titles == [f"Phase diagram: {f['label']}" for f in facets] and len(set(titles)) == 2
    assert page.errors == []


# ---------------------------------------------------------------------------------------------
# Any screen, any hand


PAGES = (
    "",
    "runs",
    "runs/run-t2",
    "compare?run=run-t2&run=run-t3",
    "sweeps",
    "sweeps/phase.sqlite",
    "jobs",
    "nope",
)


def test_no_page_scrolls_sideways_at_360_px_and_run_stays_in_reach(site, page, shots):
    url, _ = site
    page.set_viewport_size({"width": 360, "height": 740})
    for path in PAGES:
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        if path.startswith(("runs/", "compare", "sweeps/")):
            page.wait_for_selector(".figure .main-svg")
        wide = page.evaluate("[document.documentElement.scrollWidth, innerWidth]")
        assert wide[0] <= wide[1], (path, wide)
    page.goto(url)
    page.wait_for_selector("#run-button")
    box = page.locator("#run-button").bounding_box()
    assert box["height"] >= 40 and box["y"] >= 0 and box["y"] + box["height"] <= 740  # in reach, unscrolled
    hit = page.evaluate(
        "(() => { const b = document.getElementById('run-button').getBoundingClientRect();"
        " return document.elementFromPoint(b.x + b.width / 2, b.y + b.height / 2).id; })()"
    )
    assert hit == "run-button"  # nothing lies over it
    page.screenshot(path=shots / "narrow.png")
    assert page.errors == [] or all("404" in e for e in page.errors)  # the 404 page's own answer


def test_the_keyboard_reaches_a_heatmap_cell_and_opens_its_trials(site, page):
    url, _ = site
    page.goto(f"{url}sweeps/phase.sqlite")
    page.wait_for_selector("#facet-0 .main-svg")
    for _ in range(60):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.id") == "facet-0":
            break
    assert page.evaluate("document.activeElement.id") == "facet-0"
    page.keyboard.press("]")  # the stateless panel
    page.keyboard.press("ArrowRight")  # tsteps 2, lahead 1
    assert text_of(page, "#cell-readout").startswith(
        "Cell: stateless: normalised test MSE; tsteps 2, lahead 1"
    )
    page.wait_for_function(  # the tooltip, as a pointer would show it (Plotly draws it within 50 ms)
        "() => { const t = document.querySelector('#facet-0 .hoverlayer .hovertext')?.textContent || '';"
        " return t.includes('stateless') && t.includes('tsteps 2, lahead 1'); }"
    )
    page.keyboard.press("Enter")
    page.wait_for_selector("#cell-trials")
    assert len(page.query_selector_all("#cell-trials tbody tr")) == 2
    assert "cell=0.0.1" in page.url
    assert page.errors == []


def test_the_dark_scheme_follows_the_system_figures_included(site, page):
    url, _ = site
    for scheme, background, paper in (
        ("dark", "rgb(13, 17, 23)", "#0d1117"),
        ("light", "rgb(255, 255, 255)", "#fff"),
    ):
        page.emulate_media(color_scheme=scheme)
        page.goto(f"{url}runs/run-t2")
        page.wait_for_selector("#fig-loss .main-svg")
        assert page.evaluate("getComputedStyle(document.body).backgroundColor") == background
        assert page.evaluate("document.getElementById('fig-loss')._fullLayout.paper_bgcolor") == paper
    page.emulate_media(color_scheme="dark")  # a figure already drawn follows a change of scheme
    page.wait_for_function(
        "() => document.getElementById('fig-loss')._fullLayout.paper_bgcolor === '#0d1117'"
    )
    assert page.errors == []


def test_no_page_sends_a_request_to_any_host_but_the_server(site, page):
    url, _ = site
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    page.goto(url)
    page.fill("#in-input_len", "200")
    page.fill("#in-epochs", "2")
    page.click("#run-button")
    page.wait_for_selector("#run-link")
    for path in (*PAGES, "sweeps/phase.sqlite?sel=&cell=0.0.0", "docs"):
        page.goto(url + path)
        page.wait_for_load_state("networkidle")
        for figure in page.query_selector_all(".js-plotly-plot")[:3]:
            figure.hover()  # shows the toolbar
        titles = page.eval_on_selector_all(".modebar-btn", "bs => bs.map(b => b.dataset.title || '')")
        assert not [
            t for t in titles if "share" in t.lower() or "cloud" in t.lower() or "studio" in t.lower()
        ]
        assert not page.query_selector_all(".modebar a[href^=http]")  # no logo linking out
    elsewhere = [r for r in requested if not r.startswith(url) and not r.startswith(("data:", "blob:"))]
    assert requested and elsewhere == []
