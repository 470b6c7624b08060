// statelab lab: helpers every page uses. The pages ask the JSON API (/api, documented at /docs)
// for everything they show; figures are Plotly specs built by the server, drawn by plotly.js.
// What a page shows is kept in its URL (`state`), so a view can be bookmarked and shared.
"use strict";

const statelab = (() => {
  const FINAL = new Set(["done", "failed", "cancelled"]);
  const ACTIVE = new Set(["queued", "running"]);

  /** A DOM element: el("p", {class: "note"}, "text", child, ...). */
  function el(tag, attrs, ...children) {
    const node = document.createElement(tag);
    for (const [key, value] of Object.entries(attrs || {})) {
      if (value === undefined || value === null || value === false) continue;
      if (key.startsWith("on")) node.addEventListener(key.slice(2), value);
      else if (key === "class") node.className = value;
      else node.setAttribute(key, value === true ? "" : value);
    }
    for (const child of children.flat()) {
      if (child === null || child === undefined) continue;
      node.append(child instanceof Node ? child : document.createTextNode(String(child)));
    }
    return node;
  }

  /** JSON from the API; a non-2xx answer throws an Error with .status, .detail, .field and
   *  .errors (every invalid field of a form: [{field, detail}]). */
  async function api(path, options) {
    const init = Object.assign({headers: {}}, options || {});
    if (init.json !== undefined) {
      init.method = init.method || "POST";
      init.headers["Content-Type"] = "application/json";
      init.body = JSON.stringify(init.json);
      delete init.json;
    }
    const response = await fetch(path, init);
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const error = new Error(body.detail || `${response.status} ${response.statusText}`);
      error.status = response.status;
      error.detail = body.detail;
      error.field = body.field || null;
      error.errors = body.errors || [{field: error.field, detail: error.message}];
      throw error;
    }
    return body;
  }

  /** A number with `digits` significant digits; null (a quantity the task has not) as a dash. */
  function fmt(value, digits = 4) {
    if (value === null || value === undefined) return "—";
    if (typeof value !== "number") return Array.isArray(value) ? value.join(",") : String(value);
    return Number(value.toPrecision(digits)).toString();
  }

  // ---- The URL: what the page shows ------------------------------------------------------------

  /** The page's query parameters. */
  function state() {
    return new URLSearchParams(location.search);
  }

  /** Replace the page's query parameters (no new history entry: the back button leaves the page). */
  function setState(params) {
    const text = params.toString();
    const url = `${location.pathname}${text ? `?${text}` : ""}${location.hash}`;
    if (url !== `${location.pathname}${location.search}${location.hash}`) history.replaceState(null, "", url);
  }

  // ---- Figures ---------------------------------------------------------------------------------

  // Nothing on a figure may reach another host: no "Share chart" (an upload to a cloud service),
  // no link to an editor, no logo linking out. Downloading a PNG stays: it is made in the page.
  const CONFIG = {
    responsive: true,
    displaylogo: false,
    showSendToCloud: false,
    showEditInChartStudio: false,
    showLink: false,
    plotlyServerURL: "",
    showTips: false,
    modeBarButtonsToRemove: ["sendDataToCloud", "editInChartStudio"],
  };
  const scheme = window.matchMedia("(prefers-color-scheme: dark)");
  const DARK = {bg: "#0d1117", panel: "#161b22", fg: "#e6edf3", grid: "#30363d", dim: "#8b949e"};

  function dark() {
    return scheme.matches;
  }

  /** A layout in the page's colour scheme: the server's specs are drawn for a light page. */
  function themed(layout) {
    if (!dark()) return layout;
    const out = structuredClone(layout);
    out.paper_bgcolor = DARK.bg;
    out.plot_bgcolor = DARK.panel;
    out.font = Object.assign({}, out.font, {color: DARK.fg});
    out.legend = Object.assign({}, out.legend, {bgcolor: "rgba(0,0,0,0)"});
    for (const key of Object.keys(out)) {
      if (/^[xy]axis\d*$/.test(key)) {
        out[key] = Object.assign({gridcolor: DARK.grid, linecolor: DARK.grid, zerolinecolor: DARK.grid}, out[key]);
      }
    }
    for (const shape of out.shapes || []) {
      if (shape.line && shape.line.color === "#111111") shape.line.color = DARK.fg;  // the phase boundary
    }
    for (const note of out.annotations || []) note.font = Object.assign({}, note.font, {color: DARK.fg});
    return out;
  }

  const NARROW_PX = 640;  // a figure narrower than this gets its legend beneath and its titles wrapped

  /** `text` broken into lines of at most `width` characters, at spaces (Plotly does not wrap). */
  function wrap(text, width) {
    return String(text).split("<br>").map((line) => {
      const out = [];
      let current = "";
      for (const word of line.split(" ")) {
        if (current && (current + " " + word).length > width) { out.push(current); current = word; }
        else current = current ? `${current} ${word}` : word;
      }
      out.push(current);
      return out.join("<br>");
    }).join("<br>");
  }

  /** A layout that fits a figure `width` pixels wide: on a narrow screen the legend goes beneath
   *  the plot and long titles wrap, so that nothing reaches past the figure's edge. */
  function fitted(layout, width) {
    if (!width || width >= NARROW_PX) return layout;
    const out = structuredClone(layout);
    const chars = Math.max(20, Math.floor(width / 7));
    let added = 0;
    if (out.title?.text) {
      out.title = Object.assign({}, out.title, {text: wrap(out.title.text, chars)});
      added += 16 * (out.title.text.split("<br>").length - 1);
      out.margin = Object.assign({}, out.margin, {t: (out.margin?.t ?? 40) + added});
    }
    for (const note of out.annotations || []) note.text = wrap(note.text, chars);
    out.legend = Object.assign({}, out.legend, {orientation: "h", x: 0, xanchor: "left", y: -0.15, yanchor: "top"});
    if (out.height) out.height += added + 90;  // room for the legend beneath
    return out;
  }

  function plot(target, figure) {
    target.spec = figure;  // kept to draw it again when the colour scheme or the width changes
    target.fittedTo = target.clientWidth < NARROW_PX;
    return Plotly.react(target, figure.data, themed(fitted(figure.layout, target.clientWidth)), CONFIG);
  }

  function redraw(div) {
    if (div.spec) plot(div, div.spec);
    else Plotly.relayout(div, themed(div.layout));
  }

  scheme.addEventListener("change", () => {
    for (const div of document.querySelectorAll(".js-plotly-plot")) redraw(div);
  });
  window.addEventListener("resize", () => {
    for (const div of document.querySelectorAll(".js-plotly-plot")) {
      if (div.spec && div.fittedTo !== div.clientWidth < NARROW_PX) redraw(div);
    }
  });

  /** Draw {name: figure} into a container, one div each (class "figure", id "fig-<name>"). */
  function figures(container, specs) {
    container.replaceChildren();
    for (const [name, figure] of Object.entries(specs)) {
      const div = el("div", {class: "figure", id: `fig-${name}`});
      container.append(div);
      plot(div, figure);
    }
  }

  // ---- Shared pieces ---------------------------------------------------------------------------

  function verdictBox(verdict) {
    const cls = verdict.held === true ? "ok" : verdict.held === false ? "bad" : "na";
    return el("div", {class: `verdict ${cls}`, id: "verdict", role: "status"}, verdict.text);
  }

  /** A table inside a box that scrolls sideways on its own, so that the page never does. */
  function table(header, rows, attrs) {
    return el("div", {class: "table-wrap"},
      el("table", attrs || {},
        el("thead", {}, el("tr", {}, header.map((h) => el("th", {scope: "col"}, h)))),
        el("tbody", {}, rows.map((row) => el("tr", row.attrs || {}, (row.cells || row).map((c) => el("td", {}, c)))))));
  }

  function said(ok) {
    return ok === null || ok === undefined ? "n/a" : ok ? "converged" : "not converged";
  }

  /** What theory expects of a model, in words: promised, impossible or not promised (older runs:
   *  from expected_converged). */
  function expectedText(m) {
    if (m.expected) return m.expected;
    return m.expected_converged === true ? "promised" : m.expected_converged === false ? "impossible" : "n/a";
  }

  /** Both models against their floors, then the baselines (which remember nothing); beneath, why
   *  theory expects what it does of each model, and a missed model's diagnosis with its change. */
  function modelsTable(view) {
    const rows = Object.entries(view.models).map(([name, m]) => ({
      attrs: {class: m.expected_converged !== null && m.converged !== m.expected_converged ? "miss" : null},
      cells: [name, m.diverged ? "diverged" : fmt(m.test_mse), fmt(m.test_nmse), fmt(m.floor_nmse),
              said(m.converged), expectedText(m)],
    }));
    const labels = {last_value: "baseline: last value", linear_ar: "baseline: linear AR on the window"};
    for (const [name, b] of Object.entries(view.baselines || {})) {
      rows.push({attrs: {class: "dim"}, cells: [labels[name] || name, fmt(b.test_mse), fmt(b.test_nmse), "", "", ""]});
    }
    const box = el("div", {class: "models-box"},
      table(["model", "test MSE", "normalised MSE", "floor (normalised)", "verdict", "expected"], rows,
            {class: "models"}));
    const notes = [];
    for (const [name, m] of Object.entries(view.models)) {
      if (m.expected_reason) {
        notes.push(el("li", {class: "expected"}, el("b", {}, `${name}: ${expectedText(m)}. `), m.expected_reason));
      }
      const d = m.diagnosis;
      if (d) {
        notes.push(el("li", {class: "diagnosis"}, el("b", {}, `${name}, diagnosis: ${d.kind}. `),
          [d.evidence, d.suggestion].filter(Boolean).join(" ")));
      }
    }
    if (notes.length) box.append(el("ul", {class: "outcomes", id: "outcomes"}, notes));
    return box;
  }

  /** Follow a job's server-sent events from number `after` (0: replay every one); `onEvent(event)`
   *  for each, the stream closes after the last. A dropped connection resumes by itself. */
  function follow(jobId, onEvent, after = 0) {
    const source = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events?after=${after}`);
    source.onmessage = (message) => {
      const event = JSON.parse(message.data);
      onEvent(event);
      if (FINAL.has(event.type)) source.close();
    };
    source.onerror = () => {
      if (source.readyState === EventSource.CLOSED) return;
    };
    return source;
  }

  /** A job that is still queued or running, of `kind`, passing `test(job)`; null if none. */
  async function activeJob(kind, test) {
    const jobs = await api("/api/jobs").catch(() => []);
    return jobs.find((j) => j.kind === kind && ACTIVE.has(j.status) && (!test || test(j))) || null;
  }

  /** A live "compiling… 2.3 s" counted from `since` (seconds, the server's clock, `offset` from
   *  ours) until `stop()`. */
  function ticker(node, prefix, since, offset) {
    const tick = () => {
      const seconds = Math.max(0, Date.now() / 1000 - offset - since);
      node.textContent = `${prefix} ${seconds.toFixed(1)} s`;
    };
    tick();
    const id = setInterval(tick, 100);
    return {stop: () => clearInterval(id)};
  }

  function pageData() {
    return JSON.parse(document.getElementById("main").dataset.page || "{}");
  }

  function main() {
    return document.getElementById("main");
  }

  function failure(container, error) {
    container.append(el("p", {class: "error", role: "alert"}, error.message || String(error)));
  }

  /** A Cancel button for the job a page shows: `arm(id)` shows it for that job, `disarm()` hides
   *  it once the job's last event has come. A click asks the server to cancel: a waiting job leaves
   *  the queue, a running one stops where it safely can and says so in its last event. */
  function cancelButton(id) {
    let job = null;
    const button = el("button", {type: "button", id, class: "cancel", hidden: true}, "Cancel");
    button.addEventListener("click", async () => {
      if (job === null) return;
      button.disabled = true;
      await api(`/api/jobs/${encodeURIComponent(job)}/cancel`, {method: "POST"}).catch(() => null);
    });
    button.arm = (jobId) => { job = jobId; button.disabled = false; button.hidden = false; };
    button.disarm = () => { job = null; button.hidden = true; };
    return button;
  }

  /** The Jobs link in the navigation counts the jobs queued or running, while there are any. */
  async function jobsBadge() {
    const link = document.querySelector('header nav a[href="/jobs"]');
    if (!link) return;
    const jobs = await api("/api/jobs").catch(() => null);
    if (!jobs) return;
    const active = jobs.filter((j) => ACTIVE.has(j.status)).length;
    link.textContent = active ? `Jobs (${active})` : "Jobs";
    link.title = active ? `${active} job(s) queued or running` : "";
    setTimeout(jobsBadge, active ? 2000 : 10000);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", jobsBadge);
  else jobsBadge();

  return {el, api, fmt, plot, figures, verdictBox, table, modelsTable, follow, pageData, main, failure, said,
          cancelButton, activeJob, ticker, state, setState, themed, dark, CONFIG, FINAL, ACTIVE};
})();
