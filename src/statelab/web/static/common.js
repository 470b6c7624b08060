// statelab lab: helpers every page uses. The pages ask the JSON API (/api, documented at /docs)
// for everything they show; figures are Plotly specs built by the server, drawn by plotly.js.
"use strict";

const statelab = (() => {
  const FINAL = new Set(["done", "failed", "cancelled"]);

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

  /** JSON from the API; a non-2xx answer throws an Error with .status, .detail and .field. */
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
      throw error;
    }
    return body;
  }

  /** A number with `digits` significant digits; null (a quantity the task has not) as a dash. */
  function fmt(value, digits = 4) {
    if (value === null || value === undefined) return "—";
    if (typeof value !== "number") return String(value);
    return Number(value.toPrecision(digits)).toString();
  }

  function plot(target, figure) {
    return Plotly.react(target, figure.data, figure.layout, {responsive: true, displaylogo: false});
  }

  /** Draw {name: figure} into a container, one div each (class "figure", id "fig-<name>"). */
  function figures(container, specs) {
    container.replaceChildren();
    for (const [name, figure] of Object.entries(specs)) {
      const div = el("div", {class: "figure", id: `fig-${name}`});
      container.append(div);
      plot(div, figure);
    }
  }

  function verdictBox(verdict) {
    const cls = verdict.held === true ? "ok" : verdict.held === false ? "bad" : "na";
    return el("div", {class: `verdict ${cls}`, id: "verdict"}, verdict.text);
  }

  function table(header, rows, attrs) {
    return el("table", attrs || {},
      el("thead", {}, el("tr", {}, header.map((h) => el("th", {}, h)))),
      el("tbody", {}, rows.map((row) => el("tr", row.attrs || {}, (row.cells || row).map((c) => el("td", {}, c))))));
  }

  function said(ok) {
    return ok === null || ok === undefined ? "n/a" : ok ? "converged" : "not converged";
  }

  /** Both models against their floors, then the baselines (which remember nothing). */
  function modelsTable(view) {
    const rows = Object.entries(view.models).map(([name, m]) => ({
      attrs: {class: m.expected_converged !== null && m.converged !== m.expected_converged ? "miss" : null},
      cells: [name, m.diverged ? "diverged" : fmt(m.test_mse), fmt(m.test_nmse), fmt(m.floor_nmse),
              said(m.converged), said(m.expected_converged)],
    }));
    const labels = {last_value: "baseline: last value", linear_ar: "baseline: linear AR on the window"};
    for (const [name, b] of Object.entries(view.baselines || {})) {
      rows.push({attrs: {class: "dim"}, cells: [labels[name] || name, fmt(b.test_mse), fmt(b.test_nmse), "", "", ""]});
    }
    return table(["model", "test MSE", "normalised MSE", "floor (normalised)", "verdict", "expected"], rows,
                 {class: "models"});
  }

  /** Follow a job's server-sent events; `onEvent(event)` for each, the stream closes at the end. */
  function follow(jobId, onEvent) {
    const source = new EventSource(`/api/jobs/${encodeURIComponent(jobId)}/events`);
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

  function pageData() {
    return JSON.parse(document.getElementById("main").dataset.page || "{}");
  }

  function main() {
    return document.getElementById("main");
  }

  function failure(container, error) {
    container.append(el("p", {class: "error"}, error.message || String(error)));
  }

  /** A Cancel button for the job a page starts: `arm(id)` shows it for that job, `disarm()` hides
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

  return {el, api, fmt, plot, figures, verdictBox, table, modelsTable, follow, pageData, main, failure, said,
          cancelButton, FINAL};
})();
