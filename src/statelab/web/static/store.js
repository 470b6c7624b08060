// A store: the phase diagram (hover a cell for its numbers, click it or press Enter on it for its
// trials), every trial in a table (sort, filter, choose columns, download, select to overlay
// curves), the trials in parallel coordinates, and a form that launches a sweep into the store.
// It follows the store while anything writes it. The cell, the table's view, the selection and
// the sweep's axes live in the URL, and so does the sweep it follows (?job=ID).
"use strict";

(async () => {
  const {el, api, fmt, plot, main, failure, pageData, table, follow, said, cancelButton, state, setState,
         activeJob, ticker, FINAL} = statelab;
  const root = main();
  const name = pageData().store;
  const base = `/api/stores/${encodeURIComponent(name)}`;
  const POLL_MS = 1500;
  const NARROW_PX = 640;  // below this a diagram's panels stack
  const PAGE = 100;
  const query = state();

  const heading = el("p", {class: "sub", id: "store-counts"}, "Reading the store…");
  const verdict = el("div", {id: "sweep-verdict"});
  const diagrams = el("div", {id: "facets"});
  const readout = el("p", {class: "keys", id: "cell-readout", "aria-live": "polite"});
  const trials = el("section", {id: "trials"});
  const failures = el("section", {id: "failures"});
  const tableBox = el("section", {id: "table-section"});
  const curvesBox = el("section", {id: "curves-section"});
  const parcoordsBox = el("section", {id: "parcoords-section"});
  root.append(el("p", {}, el("a", {href: "/sweeps"}, "← Sweeps")), el("h1", {}, name), heading, verdict);

  // ---- What the URL holds ---------------------------------------------------------------------
  const view = {
    cell: query.get("cell"),  // "facet.j.i"
    filters: Object.fromEntries(query.getAll("filter").map((f) => [f.slice(0, f.indexOf(":")), f.slice(f.indexOf(":") + 1)])),
    sort: query.get("sort") || "",
    desc: query.get("desc") === "1",
    page: Math.max(0, Number(query.get("page") || 1) - 1),
    cols: query.get("cols") ? query.get("cols").split(",") : null,  // null: the default choice
    sel: query.get("sel") ? query.get("sel").split(",") : [],
    color: query.get("color") || "stateful_test_nmse",
    job: query.get("job"),
  };

  function remember() {
    const params = new URLSearchParams();
    if (view.job) params.set("job", view.job);
    for (const row of axisRows.children) {
      const value = row.parts.text.value.trim();
      if (value) params.append("axis", `${row.parts.select.value}:${value}`);
    }
    if (seeds.value.trim() && seeds.value.trim() !== "1") params.set("seeds", seeds.value.trim());
    if (view.cell) params.set("cell", view.cell);
    for (const [column, text] of Object.entries(view.filters)) if (text) params.append("filter", `${column}:${text}`);
    if (view.sort) params.set("sort", view.sort);
    if (view.desc) params.set("desc", "1");
    if (view.page) params.set("page", String(view.page + 1));
    if (view.cols) params.set("cols", view.cols.join(","));
    if (view.sel.length) params.set("sel", view.sel.join(","));
    if (view.color !== "stateful_test_nmse") params.set("color", view.color);
    setState(params);
  }

  // ---- Launching a sweep ----------------------------------------------------------------------
  const spec = await api("/api/params").catch((e) => failure(root, e));
  if (!spec) return;
  const axisRows = el("div", {id: "axes"});
  const seeds = el("input", {name: "seeds", id: "in-seeds", value: query.get("seeds") || "1", size: 4,
                             "aria-label": "seeds"});
  const seedsError = el("span", {class: "field-error", id: "err-seeds", role: "alert"});
  const launchStatus = el("span", {class: "status", id: "launch-status", role: "status", "aria-live": "polite"});
  const launch = el("button", {type: "submit", id: "launch-button"}, "Launch sweep");
  const bar = el("progress", {id: "sweep-bar", max: 1, value: 0, hidden: true, "aria-label": "sweep progress"});
  const cancel = cancelButton("cancel-sweep");

  function axisRow(param, values) {
    const select = el("select", {class: "axis-name", "aria-label": "parameter"},
      spec.fields.map((f) => el("option", {value: f.name, selected: f.name === param}, f.name)));
    const text = el("input", {class: "axis-values", value: values, size: 18, spellcheck: "false",
                              placeholder: "1:6 or 1,16 or lstm,gru", "aria-label": "values"});
    const error = el("span", {class: "field-error", role: "alert"});
    const row = el("div", {class: "axis"}, select, text,
      el("button", {type: "button", class: "small", onclick: () => { row.remove(); remember(); }}, "remove"), error);
    row.parts = {select, text, error};
    return row;
  }
  function setAxes(axes) {
    axisRows.replaceChildren(...Object.entries(axes).map(([p, v]) => axisRow(p, String(v))));
  }
  const urlAxes = query.getAll("axis").map((a) => [a.slice(0, a.indexOf(":")), a.slice(a.indexOf(":") + 1)]);
  setAxes(urlAxes.length ? Object.fromEntries(urlAxes) : {tsteps: "1:6", lahead: "1:6"});
  const form = el("form", {id: "sweep-form", onsubmit: (e) => { e.preventDefault(); start(); },
                           oninput: () => remember(), onchange: () => remember()},
    el("p", {class: "note"}, "Axes in the grid syntax of `statelab sweep`: a value, a comma list (1,16), " +
       "a range a:b[:step] (1:6 is 1..5), or a mix (1:4,8). Finished trials are skipped."),
    axisRows,
    el("p", {}, el("button", {type: "button", class: "small", onclick: () => { axisRows.append(axisRow("batch_size", "")); remember(); }},
       "add axis"),
       " seeds ", seeds, seedsError),
    el("div", {class: "actions"}, launch, cancel, bar, launchStatus));

  root.append(diagrams, readout, trials, failures, tableBox, curvesBox, parcoordsBox,
              el("h2", {}, "Launch a sweep into this store"), form);

  async function start() {
    const axes = {};
    for (const row of axisRows.children) {
      row.parts.error.textContent = "";
      row.classList.remove("invalid");
      if (row.parts.text.value.trim() !== "") axes[row.parts.select.value] = row.parts.text.value.trim();
    }
    seedsError.textContent = "";
    launchStatus.textContent = "";
    launchStatus.className = "status";
    launch.disabled = true;
    let job;
    try {
      job = await api("/api/jobs/sweep", {json: {store: name, axes, seeds: seeds.value.trim()}});
    } catch (error) {
      showLaunchErrors(error.errors);
      launch.disabled = false;
      return;
    }
    attach(job);
  }

  let lastFinished = -1;
  let source = null;
  let clock = null;

  /** Follow a sweep job: its axes in the form, Cancel, the bar and the status, replaying its
   *  events from the first. */
  function attach(job) {
    view.job = job.id;
    if (job.params && job.params.axes) {
      setAxes(job.params.axes);
      seeds.value = String(job.params.seeds ?? 1);
    }
    remember();
    source?.close();
    const offset = Date.now() / 1000 - job.now;
    const stopClock = () => { clock?.stop(); clock = null; };
    bar.hidden = false;
    bar.value = 0;
    launch.disabled = !FINAL.has(job.status);
    if (!FINAL.has(job.status)) cancel.arm(job.id);
    launchStatus.textContent = job.status;
    let running = null;  // the start event: the trials to run
    source = follow(job.id, (event) => {
      if (event.type === "queued") {
        launchStatus.textContent = event.warming ? "waiting: the server is compiling the reference run's programs…"
          : event.position > 0 ? `queued behind ${event.position} job(s)` : "queued";
      }
      if (event.type === "running") launchStatus.textContent = "starting…";
      if (event.type === "status") launchStatus.textContent = event.text;  // a cluster starting, connecting
      if (event.type === "cancelling") {
        stopClock();
        launchStatus.textContent = "cancelling: the sweep stops when a group ends…";
      }
      if (event.type === "start") {
        running = event;
        bar.max = Math.max(event.pending, 1);
        const already = event.trials - event.pending;
        const prefix = `${event.trials} trials, ${already} already in the store; running ${event.pending} ` +
          `(${event.executor}): compiling…`;
        if (event.pending > 0) clock = ticker(launchStatus, prefix, event.time, offset);
        else launchStatus.textContent = `${event.trials} trials, all already in the store`;
      }
      if (event.type === "progress") {
        stopClock();
        bar.value = event.completed;
        launchStatus.textContent = `${event.finished}/${event.pending} trials, ${event.failed} failed`;
        if (event.finished !== lastFinished) {
          lastFinished = event.finished;
          refresh();
        }
      }
      if (event.type === "done") {
        stopClock();
        const r = event.result;
        bar.value = bar.max;
        launchStatus.textContent = `Ran ${r.ran} trials in ${r.wall_s.toFixed(1)} s; skipped ${r.skipped}; ` +
          `failed ${r.failed}.`;
        launch.disabled = false;
        cancel.disarm();
        refresh();
      }
      if (event.type === "failed" || event.type === "cancelled") {
        stopClock();
        showLaunchErrors([{field: event.field, detail: event.error}]);
        launch.disabled = false;
        cancel.disarm();
        refresh();
      }
      void running;
    });
  }

  /** Every refused axis's message beside it (and seeds'), the first in the status line. */
  function showLaunchErrors(problems) {
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more, beside their axes)` : "";
    launchStatus.textContent = `${problems[0].detail}${more}`;
    launchStatus.className = "status error";
    for (const {field, detail} of problems) {
      if (field === "seeds" || (!field && detail.startsWith("seeds "))) seedsError.textContent = detail;
      for (const row of axisRows.children) {
        if (field && row.parts.select.value === field) {
          row.parts.error.textContent = detail;
          row.classList.add("invalid");
        }
      }
    }
  }

  // ---- The phase diagram ----------------------------------------------------------------------
  let version = null;  // of the store as drawn: the server answers "unchanged" while it holds
  let busy = false;
  let narrow = null;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const versionQuery = version === null ? "" : `?version=${encodeURIComponent(version)}`;
      const store = await api(`${base}${versionQuery}`);
      if (!store.unchanged) {
        version = store.version;
        draw(store);
        loadTable().then(() => loadParcoords());
      }
    } catch (error) {
      heading.textContent = error.message;
    } finally {
      busy = false;
    }
  }

  /** A figure of side-by-side heatmap panels with its panels stacked, for a narrow screen: each
   *  panel the full width, its title above it, its colour bar beside it. */
  function stacked(figure) {
    const layout = structuredClone(figure.layout);
    const n = figure.data.length;
    const panel = 230, gap = 80, top = 70, bottom = 50;
    const height = top + n * panel + (n - 1) * gap + bottom;
    const plotHeight = height - top - bottom;
    const domain = (k) => {
      const hi = 1 - (k * (panel + gap)) / plotHeight;
      return [Math.max(0, hi - panel / plotHeight), hi];
    };
    figure.data.forEach((trace, k) => {
      const axis = k === 0 ? "" : String(k + 1);
      layout[`xaxis${axis}`] = Object.assign({}, layout[`xaxis${axis}`], {domain: [0, 1]});
      layout[`yaxis${axis}`] = Object.assign({}, layout[`yaxis${axis}`], {domain: domain(k)});
      layout[`yaxis${axis}`].title = {text: layout.yaxis.title?.text || ""};
      if (layout.annotations && layout.annotations[k]) {
        Object.assign(layout.annotations[k], {x: 0.5, y: domain(k)[1], yref: "paper", yanchor: "bottom"});
      }
    });
    // each colour axis's bar beside the first panel that uses it
    for (const key of ["coloraxis", "coloraxis2"]) {
      if (!layout[key]) continue;
      const first = figure.data.findIndex((t) => (t.coloraxis || "coloraxis") === key);
      const d = domain(Math.max(first, 0));
      layout[key].colorbar = Object.assign({}, layout[key].colorbar,
        {x: 1.01, xanchor: "left", y: (d[0] + d[1]) / 2, yanchor: "middle", len: d[1] - d[0]});
    }
    layout.height = height;
    layout.margin = Object.assign({}, layout.margin, {l: 50, r: 60, t: top, b: bottom});
    if (layout.title) layout.title = Object.assign({}, layout.title, {font: {size: 11}});
    return {data: figure.data, layout};
  }

  function drawDiagram(box, figure) {
    box.figure = figure;
    const drawn = plot(box, narrow ? stacked(figure) : figure);
    // A redraw (new trials, a resize) clears Plotly's tooltip: a keyboard cursor shows again.
    if (box.cursor && box.contains(document.activeElement)) Promise.resolve(drawn).then(() => showCursor(box));
    return drawn;
  }

  /** Parallel coordinates on a narrow screen: the colour bar untitled (the title names it). */
  function slim(figure) {
    if (parcoordsBox.clientWidth >= NARROW_PX) return figure;
    const data = structuredClone(figure.data);
    data[0].line.colorbar.title = {text: ""};
    data[0].labelangle = -30;
    return {data, layout: figure.layout};
  }

  function draw(store) {
    narrow = diagrams.clientWidth < NARROW_PX;
    heading.textContent = store.exists
      ? `${store.ok} finished trials over ${store.points} grid points, ${store.failed} failed · ${store.path}`
      : `${store.path} does not exist yet: launch a sweep below to create it.`;
    verdict.replaceChildren();
    if (store.verdict.lines.length) {
      const cls = store.verdict.held ? "ok" : "bad";
      verdict.append(el("div", {class: `verdict ${cls}`}, store.verdict.lines.map((l) => el("div", {}, l))));
    }
    const present = new Set();
    store.facets.forEach((facet, index) => {
      const id = `facet-${index}`;
      present.add(id);
      let box = document.getElementById(id);
      const title = facet.label ? `Phase diagram: ${facet.label}` : "Phase diagram";
      if (!box) {
        box = el("div", {class: "figure heatmap", id, tabindex: 0, role: "application",
                         "aria-roledescription": "heatmap", "aria-describedby": "heatmap-keys",
                         "aria-label": `${title}: arrow keys move between cells, [ and ] between panels, ` +
                                       "Enter lists the cell's trials"});
        box.facet = index;
        diagrams.append(el("h2", {id: `${id}-title`}, title), box);
        drawDiagram(box, facet.figure).then(() => box.on("plotly_click", (e) => {
          const [j, i] = e.points[0].pointNumber;
          openCell(box, j, i);
        }));
        box.addEventListener("keydown", (e) => onKey(e, box));
        box.addEventListener("focus", () => showCursor(box));
      } else {
        document.getElementById(`${id}-title`).textContent = title;  // a facet that appeared shifts the rest
        drawDiagram(box, facet.figure);
      }
      box.cells = facet.cells;
      box.label = facet.label;
      drawMemory(`memory-${index}`, facet.memory, box, present);
    });
    for (const box of diagrams.querySelectorAll(".heatmap, .memory")) {
      if (!present.has(box.id)) { document.getElementById(`${box.id}-title`)?.remove(); box.remove(); }
    }
    if (!document.getElementById("heatmap-keys") && store.facets.length) {
      diagrams.prepend(el("p", {class: "keys", id: "heatmap-keys"},
        "Keyboard: Tab to a diagram, arrow keys move between cells, [ and ] between panels, Enter lists the cell's trials."));
    }
    failures.replaceChildren();
    if (store.failures.length) {
      failures.append(el("h2", {}, `Failed trials (${store.failed})`),
        table(["trial", "error", "finished"], store.failures.map((f) => [f.config_hash.slice(0, 12), f.error, f.finished_at])));
    }
    if (view.cell && !trials.childElementCount) {
      const [f, j, i] = view.cell.split(".").map(Number);
      const box = document.getElementById(`facet-${f}`);
      if (box) openCell(box, j, i, false);
    }
  }

  /** The facet's memory figure (profile error per model, span beneath), once its trials have
   *  profiles, right after the facet's phase diagram. */
  function drawMemory(id, figure, after, present) {
    if (!figure) return;
    present.add(id);
    let box = document.getElementById(id);
    if (!box) {
      box = el("div", {class: "figure memory", id});
      after.after(box);
    }
    drawDiagram(box, figure);
  }

  window.addEventListener("resize", () => {
    const now = diagrams.clientWidth < NARROW_PX;
    if (now === narrow) return;
    narrow = now;
    for (const box of diagrams.querySelectorAll(".heatmap, .memory")) if (box.figure) drawDiagram(box, box.figure);
  });

  // ---- Keyboard: a cursor over the heatmap's cells ----------------------------------------------
  function showCursor(box) {
    const ny = box.cells.length, nx = ny ? box.cells[0].length : 0;
    if (!nx) return;
    box.cursor = box.cursor || {k: 0, i: 0, j: 0};
    const c = box.cursor;
    c.i = Math.min(Math.max(c.i, 0), nx - 1);
    c.j = Math.min(Math.max(c.j, 0), ny - 1);
    const subplot = c.k === 0 ? "xy" : `x${c.k + 1}y${c.k + 1}`;
    Plotly.Fx.hover(box, {xval: c.i, yval: c.j}, [subplot]);
    const trace = box.data[c.k];
    const text = (trace.customdata || trace.text)?.[c.j]?.[c.i] || "";
    readout.textContent = `Cell: ${text.replace(/<br>/g, "; ").replace(/<[^>]+>/g, "")}` +
      (box.cells[c.j][c.i] ? " (Enter lists its trials)" : " (no trials)");
  }

  function onKey(event, box) {
    const c = box.cursor || (box.cursor = {k: 0, i: 0, j: 0});
    const moves = {ArrowLeft: [-1, 0], ArrowRight: [1, 0], ArrowUp: [0, 1], ArrowDown: [0, -1]};
    if (event.key in moves) {
      c.i += moves[event.key][0];
      c.j += moves[event.key][1];
    } else if (event.key === "[" || event.key === "]") {
      c.k = (c.k + (event.key === "]" ? 1 : box.data.length - 1)) % box.data.length;
    } else if (event.key === "Enter" || event.key === " ") {
      openCell(box, c.j, c.i);
    } else if (event.key === "Escape") {
      Plotly.Fx.unhover(box);
      return;
    } else {
      return;
    }
    event.preventDefault();
    showCursor(box);
  }

  async function openCell(box, j, i, scroll = true) {
    const hashes = (box.cells[j] || [])[i];
    if (!hashes) return;
    view.cell = `${box.facet}.${j}.${i}`;
    remember();
    const hashQuery = hashes.map((h) => `hash=${encodeURIComponent(h)}`).join("&");
    const rows = await api(`${base}/trials?${hashQuery}`).catch((e) => failure(trials, e));
    if (!rows) return;
    const varying = Object.keys(rows[0].params).filter((k) => ["seed", "model_seed"].includes(k) ||
      rows.some((r) => JSON.stringify(r.params[k]) !== JSON.stringify(rows[0].params[k])));
    const where = Object.entries(rows[0].params).filter(([k]) => !varying.includes(k))
      .map(([k, v]) => `${k}=${v}`).join(", ");
    trials.replaceChildren(
      el("h2", {id: "cell-title", tabindex: -1}, `Trials of the cell (${rows.length})`),
      el("p", {class: "sub small"}, where),
      table([...varying, "stateful nMSE", "stateless nMSE", "stateless floor", "stateful", "stateless",
             "claim held", "train s", "status"],
        rows.map((r) => [...varying.map((k) => r.params[k]),
          fmt(r.models.stateful.test_nmse), fmt(r.models.stateless.test_nmse), fmt(r.models.stateless.floor_nmse),
          said(r.models.stateful.converged), said(r.models.stateless.converged),
          r.claim_held === null ? "n/a" : r.claim_held ? "yes" : "no",
          r.train_s === null ? "—" : r.train_s.toFixed(3), r.error || r.status]),
        {id: "cell-trials"}));
    if (scroll) trials.scrollIntoView({behavior: "smooth", block: "nearest"});
  }

  // ---- Every trial in a table ----------------------------------------------------------------------
  const DEFAULT_COLUMNS = ["status", "stateful_test_nmse", "stateless_test_nmse", "stateful_converged",
    "stateless_converged", "claim_held", "stateful_span", "stateless_span", "stateful_profile_error",
    "stateless_profile_error", "train_s"];
  const GROUPS = {config: "configuration", stateful: "stateful", stateless: "stateless", memory: "memory",
                  baselines: "baselines", trial: "trial", timings: "timings"};
  let columns = [];  // [{name, group, kind}] of the results
  let tableSeq = 0;
  const tableStatus = el("span", {class: "note", id: "table-count", role: "status"});
  const chooser = el("details", {class: "chooser", id: "column-chooser"}, el("summary", {}, "Columns"));
  const downloads = el("span", {class: "downloads"});
  const selection = el("span", {id: "selection"});
  const tableHolder = el("div", {id: "trial-table-holder"});
  const tablePager = el("div", {class: "toolbar", id: "table-pager"});
  tableBox.append(el("h2", {}, "Every trial"),
    el("p", {class: "note"}, "Filters: a configuration value in the grid syntax (1:3, gru,lstm), or an operator " +
       "and a value for any column (<0.1, >=2, =error, ~nan). Tick trials to overlay their per-epoch curves."),
    el("div", {class: "toolbar"}, tableStatus, downloads, selection), chooser, tableHolder, tablePager);

  function filterParams() {
    const params = new URLSearchParams();
    for (const [column, text] of Object.entries(view.filters)) if (text) params.append("filter", `${column}:${text}`);
    return params;
  }

  function visible(varying) {
    const known = new Set(columns.map((c) => c.name));
    const chosen = view.cols || [...varying, ...DEFAULT_COLUMNS];
    return chosen.filter((c) => known.has(c));
  }

  function cellText(value, kind) {
    if (value === null || value === undefined) return "—";
    if (kind === "bool") return value ? "yes" : "no";
    if (typeof value === "number") return fmt(value, 4);
    return Array.isArray(value) ? value.join(",") : String(value);
  }

  async function loadTable() {
    const seq = ++tableSeq;
    const params = filterParams();
    if (view.sort) params.set("sort", view.sort);
    if (view.desc) params.set("desc", "true");
    params.set("offset", String(view.page * PAGE));
    params.set("limit", String(PAGE));
    let page;
    try {
      page = await api(`${base}/table?${params}`);
    } catch (error) {
      if (seq === tableSeq) tableStatus.replaceChildren(el("span", {class: "error", role: "alert"}, error.message));
      return;
    }
    if (seq !== tableSeq) return;  // a newer request is on its way
    columns = page.columns;
    drawTable(page);
  }

  function drawTable(page) {
    const shown = visible(page.varying);
    const kinds = Object.fromEntries(columns.map((c) => [c.name, c.kind]));
    const index = Object.fromEntries(columns.map((c, k) => [c.name, k + 1]));  // rows: [trial, ...values]
    const hashAt = index.config_hash;
    const last = Math.min(page.offset + page.rows.length, page.matching);
    tableStatus.textContent = page.matching
      ? `trials ${page.offset + 1}–${last} of ${page.matching} matching (${page.total} in the store)`
      : `no trial matches (${page.total} in the store)`;
    const filters = filterParams().toString();
    downloads.replaceChildren("Download: ",
      el("a", {href: `${base}/results.csv${filters ? `?${filters}` : ""}`, id: "download-csv", download: ""}, "CSV"), " · ",
      el("a", {href: `${base}/results.parquet${filters ? `?${filters}` : ""}`, id: "download-parquet", download: ""}, "Parquet"));
    // the chooser: every column, by group
    const groups = {};
    for (const c of columns) (groups[c.group] = groups[c.group] || []).push(c.name);
    chooser.replaceChildren(chooser.firstChild, ...Object.entries(groups).map(([g, names]) =>
      el("fieldset", {}, el("legend", {}, GROUPS[g] || g), names.map((n) => {
        const box = el("input", {type: "checkbox", "data-column": n, checked: shown.includes(n)});
        box.addEventListener("change", () => {
          const now = visible(page.varying).filter((c) => c !== n);
          if (box.checked) now.push(n);
          view.cols = columns.map((c) => c.name).filter((c) => now.includes(c));
          remember();
          drawTable(page);
        });
        return el("label", {}, box, n);
      }))));
    const sortButton = (column) => {
      const sorted = view.sort === column ? (view.desc ? "descending" : "ascending") : null;
      return el("button", {type: "button", class: "sort", "data-sort": column, "aria-sort": sorted, onclick: () => {
        view.desc = view.sort === column ? !view.desc : false;
        view.sort = column;
        view.page = 0;
        remember();
        loadTable();
      }}, column);
    };
    const filterBox = (column) => {
      const input = el("input", {class: "filter", "data-filter": column, value: view.filters[column] || "",
                                 "aria-label": `filter ${column}`, size: 6, spellcheck: "false",
                                 placeholder: kinds[column] === "number" ? "<0.1" : kinds[column] === "bool" ? "=true" : "="});
      if (columns.find((c) => c.name === column)?.group === "config") input.placeholder = "1:3";
      let timer = null;
      input.addEventListener("input", () => {
        clearTimeout(timer);
        timer = setTimeout(() => {
          view.filters[column] = input.value.trim();
          view.page = 0;
          remember();
          loadTable();
          loadParcoords();
        }, 350);
      });
      return input;
    };
    const pageHashes = page.rows.map((r) => r[hashAt]);
    const all = el("input", {type: "checkbox", id: "select-page", "aria-label": "select the trials of this page",
                             checked: pageHashes.length > 0 && pageHashes.every((h) => view.sel.includes(h))});
    all.addEventListener("change", () => {
      for (const h of pageHashes) {
        const at = view.sel.indexOf(h);
        if (all.checked && at < 0) view.sel.push(h);
        if (!all.checked && at >= 0) view.sel.splice(at, 1);
      }
      selectionChanged(page);
    });
    const head = el("thead", {},
      el("tr", {}, el("th", {scope: "col"}, all), el("th", {scope: "col"}, "trial"),
         shown.map((c) => el("th", {scope: "col"}, sortButton(c)))),
      el("tr", {class: "filters"}, el("th", {}), el("th", {}), shown.map((c) => el("th", {}, filterBox(c)))));
    const body = el("tbody", {}, page.rows.map((row) => {
      const hash = row[hashAt];
      const box = el("input", {type: "checkbox", "data-hash": hash, checked: view.sel.includes(hash),
                               "aria-label": `select trial ${row[0]}`});
      box.addEventListener("change", () => {
        const at = view.sel.indexOf(hash);
        if (box.checked && at < 0) view.sel.push(hash);
        if (!box.checked && at >= 0) view.sel.splice(at, 1);
        selectionChanged(page);
      });
      return el("tr", {class: view.sel.includes(hash) ? "selected" : null, "data-trial": row[0]},
        el("td", {}, box), el("td", {}, String(row[0])),
        shown.map((c) => el("td", {}, cellText(row[index[c]], kinds[c]))));
    }));
    const focused = document.activeElement?.dataset?.filter;
    tableHolder.replaceChildren(el("div", {class: "table-wrap"}, el("table", {id: "trial-table"}, head, body)));
    if (focused) {  // typing in a filter box goes on in the redrawn one
      const again = tableHolder.querySelector(`input[data-filter="${CSS.escape(focused)}"]`);
      if (again) { again.focus(); again.setSelectionRange(again.value.length, again.value.length); }
    }
    const pages = Math.max(1, Math.ceil(page.matching / PAGE));
    tablePager.replaceChildren(
      el("button", {type: "button", class: "plain", id: "table-prev", disabled: view.page === 0,
                    onclick: () => { view.page -= 1; remember(); loadTable(); }}, "← previous"),
      el("span", {id: "table-page"}, `page ${view.page + 1} of ${pages}`),
      el("button", {type: "button", class: "plain", id: "table-next", disabled: view.page >= pages - 1,
                    onclick: () => { view.page += 1; remember(); loadTable(); }}, "next →"));
    drawSelection();
  }

  function drawSelection() {
    selection.replaceChildren();
    if (!view.sel.length) return;
    selection.append(`${view.sel.length} selected `,
      el("button", {type: "button", class: "small", id: "clear-selection", onclick: () => {
        view.sel = [];
        remember();
        loadTable();
        loadCurves();
      }}, "clear"));
  }

  function selectionChanged(page) {
    remember();
    drawTable(page);
    loadCurves();
  }

  // ---- Curves of the selected trials, and parallel coordinates -------------------------------------
  const curves = el("div", {class: "figure", id: "curves"});
  let curvesSeq = 0;
  async function loadCurves() {
    const seq = ++curvesSeq;
    if (!view.sel.length) {
      curvesBox.replaceChildren();
      return;
    }
    const hashQuery = view.sel.map((h) => `hash=${encodeURIComponent(h)}`).join("&");
    const figure = await api(`${base}/curves?${hashQuery}`).catch((e) => {
      curvesBox.replaceChildren(el("p", {class: "error", role: "alert"}, e.message));
      return null;
    });
    if (!figure || seq !== curvesSeq) return;
    if (!curves.isConnected) {
      curvesBox.replaceChildren(el("h2", {}, "Curves of the selected trials"),
        el("p", {class: "note"}, "Each trial in its colour; the stateful model solid, the stateless dashed."), curves);
    }
    plot(curves, figure);
  }

  const colour = el("select", {id: "parcoords-color", "aria-label": "colour the lines by"});
  const parcoords = el("div", {class: "figure", id: "parcoords"});
  let parcoordsSeq = 0;
  async function loadParcoords() {
    const seq = ++parcoordsSeq;
    if (!columns.length) await loadTable();
    const numeric = columns.filter((c) => c.kind !== "text").map((c) => c.name);
    if (!numeric.includes(view.color)) view.color = "stateful_test_nmse";
    colour.replaceChildren(...numeric.map((n) => el("option", {value: n, selected: n === view.color}, n)));
    const params = filterParams();
    params.set("color", view.color);
    const figure = await api(`${base}/parcoords?${params}`).catch(() => null);
    if (!figure || seq !== parcoordsSeq) return;
    if (!parcoords.isConnected) {
      parcoordsBox.replaceChildren(el("h2", {}, "Parallel coordinates"),
        el("div", {class: "toolbar"}, el("label", {}, "colour by ", colour),
           el("span", {class: "note"}, "Drag along an axis to keep a range of it.")), parcoords);
    }
    plot(parcoords, slim(figure));
  }
  colour.addEventListener("change", () => { view.color = colour.value; remember(); loadParcoords(); });

  // ---- Start ---------------------------------------------------------------------------------------
  await refresh();
  if (view.sel.length) loadCurves();
  let job = null;
  if (view.job) {
    job = await api(`/api/jobs/${encodeURIComponent(view.job)}`).catch(() => null);
    if (!job) {
      launchStatus.textContent = `Job ${view.job} is not on this server (it may have restarted).`;
      launchStatus.className = "status error";
      view.job = null;
      remember();
    }
  } else {
    job = await activeJob("sweep", (j) => j.params.store === name);
  }
  if (job) attach(job);
  setInterval(refresh, POLL_MS);  // follows a store that another process is writing
})();
