// A store: the phase diagram (hover a cell for its numbers, click it for its trials), following
// the store while anything writes it, and a form that launches a sweep into it.
"use strict";

(async () => {
  const {el, api, fmt, plot, main, failure, pageData, table, follow, said, cancelButton} = statelab;
  const root = main();
  const name = pageData().store;
  const POLL_MS = 1500;
  const heading = el("p", {class: "sub", id: "store-counts"});
  const verdict = el("div", {id: "sweep-verdict"});
  const diagrams = el("div", {id: "facets"});
  const trials = el("section", {id: "trials"});
  const failures = el("section", {id: "failures"});
  root.append(el("p", {}, el("a", {href: "/sweeps"}, "← Sweeps")), el("h1", {}, name), heading, verdict);

  // ---- Launching a sweep ----------------------------------------------------------------------
  const spec = await api("/api/params").catch((e) => failure(root, e));
  if (!spec) return;
  const axisRows = el("div", {id: "axes"});
  const seeds = el("input", {name: "seeds", id: "in-seeds", value: "1", size: 4});
  const seedsError = el("span", {class: "field-error", id: "err-seeds"});
  const launchStatus = el("span", {class: "status", id: "launch-status"});
  const launch = el("button", {type: "submit", id: "launch-button"}, "Launch sweep");
  const bar = el("progress", {id: "sweep-bar", max: 1, value: 0, hidden: true});
  const cancel = cancelButton("cancel-sweep");

  function axisRow(param, values) {
    const select = el("select", {class: "axis-name"},
      spec.fields.map((f) => el("option", {value: f.name, selected: f.name === param}, f.name)));
    const text = el("input", {class: "axis-values", value: values, size: 18, spellcheck: "false",
                              placeholder: "1:6 or 1,16 or lstm,gru"});
    const error = el("span", {class: "field-error"});
    const row = el("div", {class: "axis"}, select, text,
      el("button", {type: "button", class: "small", onclick: () => row.remove()}, "remove"), error);
    row.parts = {select, text, error};
    return row;
  }
  axisRows.append(axisRow("tsteps", "1:6"), axisRow("lahead", "1:6"));
  const form = el("form", {id: "sweep-form", onsubmit: (e) => { e.preventDefault(); start(); }},
    el("p", {class: "note"}, "Axes in the grid syntax of `statelab sweep`: a value, a comma list (1,16), " +
       "a range a:b[:step] (1:6 is 1..5), or a mix (1:4,8). Finished trials are skipped."),
    axisRows,
    el("p", {}, el("button", {type: "button", class: "small", onclick: () => axisRows.append(axisRow("batch_size", ""))},
       "add axis"),
       " seeds ", seeds, seedsError),
    el("div", {class: "actions"}, launch, cancel, bar, launchStatus));

  root.append(diagrams, trials, failures, el("h2", {}, "Launch a sweep into this store"), form);

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
      showLaunchError(error.message, error.field);
      launch.disabled = false;
      return;
    }
    bar.hidden = false;
    bar.value = 0;
    launchStatus.textContent = "queued";
    cancel.arm(job.id);
    follow(job.id, (event) => {
      if (event.type === "running") launchStatus.textContent = "starting…";
      if (event.type === "status") launchStatus.textContent = event.text;  // a cluster starting, connecting
      if (event.type === "cancelling") launchStatus.textContent = "cancelling: the sweep stops when a group ends…";
      if (event.type === "start") {
        bar.max = Math.max(event.pending, 1);
        launchStatus.textContent = `${event.trials} trials, ${event.trials - event.pending} already in the store; ` +
          `running ${event.pending} (${event.executor})`;
      }
      if (event.type === "progress") {
        bar.value = event.completed;
        launchStatus.textContent = `${event.finished}/${event.pending} trials, ${event.failed} failed`;
        if (event.finished !== lastFinished) {
          lastFinished = event.finished;
          refresh();
        }
      }
      if (event.type === "done") {
        const r = event.result;
        bar.value = bar.max;
        launchStatus.textContent = `Ran ${r.ran} trials in ${r.wall_s.toFixed(1)} s; skipped ${r.skipped}; ` +
          `failed ${r.failed}.`;
        launch.disabled = false;
        cancel.disarm();
        refresh();
      }
      if (event.type === "failed" || event.type === "cancelled") {
        showLaunchError(event.error, event.field);
        launch.disabled = false;
        cancel.disarm();
        refresh();
      }
    });
  }
  let lastFinished = -1;

  function showLaunchError(message, field) {
    launchStatus.textContent = message;
    launchStatus.className = "status error";
    if (message.startsWith("seeds ")) seedsError.textContent = message;
    for (const row of axisRows.children) {
      if (field && row.parts.select.value === field) {
        row.parts.error.textContent = message;
        row.classList.add("invalid");
      }
    }
  }

  // ---- The phase diagram ----------------------------------------------------------------------
  let version = null;  // of the store as drawn: the server answers "unchanged" while it holds
  let busy = false;

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const query = version === null ? "" : `?version=${encodeURIComponent(version)}`;
      const view = await api(`/api/stores/${encodeURIComponent(name)}${query}`);
      if (!view.unchanged) {
        version = view.version;
        draw(view);
      }
    } catch (error) {
      heading.textContent = error.message;
    } finally {
      busy = false;
    }
  }

  function draw(view) {
    heading.textContent = view.exists
      ? `${view.ok} finished trials over ${view.points} grid points, ${view.failed} failed · ${view.path}`
      : `${view.path} does not exist yet: launch a sweep below to create it.`;
    verdict.replaceChildren();
    if (view.verdict.lines.length) {
      const cls = view.verdict.held ? "ok" : "bad";
      verdict.append(el("div", {class: `verdict ${cls}`}, view.verdict.lines.map((l) => el("div", {}, l))));
    }
    const present = new Set();
    view.facets.forEach((facet, index) => {
      const id = `facet-${index}`;
      present.add(id);
      let box = document.getElementById(id);
      if (!box) {
        box = el("div", {class: "figure heatmap", id});
        diagrams.append(el("h2", {id: `${id}-title`}, facet.label ? `Phase diagram: ${facet.label}` : "Phase diagram"),
                        box);
        plot(box, facet.figure).then(() => box.on("plotly_click", (e) => openCell(e, box)));
      } else {
        plot(box, facet.figure);
      }
      box.cells = facet.cells;
      drawMemory(`memory-${index}`, facet.memory, box, present);
    });
    for (const box of diagrams.querySelectorAll(".heatmap, .memory")) {
      if (!present.has(box.id)) { document.getElementById(`${box.id}-title`)?.remove(); box.remove(); }
    }
    failures.replaceChildren();
    if (view.failures.length) {
      failures.append(el("h2", {}, `Failed trials (${view.failed})`),
        table(["trial", "error", "finished"], view.failures.map((f) => [f.config_hash.slice(0, 12), f.error, f.finished_at])));
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
    plot(box, figure);
  }

  async function openCell(event, box) {
    const point = event.points[0];
    const [j, i] = point.pointNumber;
    const hashes = (box.cells[j] || [])[i];
    if (!hashes) return;
    const query = hashes.map((h) => `hash=${encodeURIComponent(h)}`).join("&");
    const rows = await api(`/api/stores/${encodeURIComponent(name)}/trials?${query}`).catch((e) => failure(trials, e));
    if (!rows) return;
    const varying = Object.keys(rows[0].params).filter((k) => ["seed", "model_seed"].includes(k) ||
      rows.some((r) => JSON.stringify(r.params[k]) !== JSON.stringify(rows[0].params[k])));
    const where = Object.entries(rows[0].params).filter(([k]) => !varying.includes(k))
      .map(([k, v]) => `${k}=${v}`).join(", ");
    trials.replaceChildren(
      el("h2", {}, `Trials of the cell (${rows.length})`),
      el("p", {class: "sub small"}, where),
      table([...varying, "stateful nMSE", "stateless nMSE", "stateless floor", "stateful", "stateless",
             "claim held", "train s", "status"],
        rows.map((r) => [...varying.map((k) => r.params[k]),
          fmt(r.models.stateful.test_nmse), fmt(r.models.stateless.test_nmse), fmt(r.models.stateless.floor_nmse),
          said(r.models.stateful.converged), said(r.models.stateless.converged),
          r.claim_held === null ? "n/a" : r.claim_held ? "yes" : "no",
          r.train_s === null ? "—" : r.train_s.toFixed(3), r.error || r.status]),
        {id: "cell-trials"}));
    trials.scrollIntoView({behavior: "smooth", block: "nearest"});
  }

  await refresh();
  setInterval(refresh, POLL_MS);  // follows a store that another process is writing
})();
