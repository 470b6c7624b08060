// The Lab: every run parameter (each task showing only its own), Run, live epochs, the result.
// The form lives in the URL (?tsteps=3&lahead=1), and so does the job it follows (?job=ID): a
// reload, or the page opened in another tab, reattaches to the job and replays what it missed.
"use strict";

(async () => {
  const {el, api, fmt, figures, verdictBox, modelsTable, follow, main, failure, cancelButton, state, setState,
         activeJob, ticker, plot, FINAL} = statelab;
  const root = main();
  const spec = await api("/api/params").catch((e) => failure(root, e));
  if (!spec) return;
  const fields = Object.fromEntries(spec.fields.map((f) => [f.name, f]));
  const tasks = Object.fromEntries(spec.tasks.map((t) => [t.name, t]));
  const inputs = {};
  const errors = {};
  const notes = {};
  const rows = {};

  function input(field) {
    const attrs = {name: field.name, id: `in-${field.name}`, "aria-describedby": `help-${field.name} err-${field.name}`};
    if (field.choices.length) {
      return el("select", attrs, field.choices.map((c) => el("option", {value: c, selected: c === field.default}, c)));
    }
    return el("input", {...attrs, value: field.default, autocomplete: "off", spellcheck: "false",
                        placeholder: field.default || (field.kind === "str" ? "" : field.kind)});
  }

  const sections = {task: "Task", model: "Model", train: "Training"};
  const form = el("form", {id: "lab-form", onsubmit: (e) => { e.preventDefault(); run(); }});
  for (const [section, title] of Object.entries(sections)) {
    const box = el("fieldset", {class: "section"}, el("legend", {}, title));
    for (const field of spec.fields.filter((f) => f.section === section)) {
      inputs[field.name] = input(field);
      errors[field.name] = el("span", {class: "field-error", id: `err-${field.name}`, role: "alert"});
      notes[field.name] = el("span", {class: "field-note", id: `note-${field.name}`});
      rows[field.name] = el("label", {class: "field", "data-field": field.name},
        el("span", {class: "name"}, field.name),
        inputs[field.name],
        errors[field.name],
        notes[field.name],
        el("span", {class: "help", id: `help-${field.name}`}, field.help));
      box.append(rows[field.name]);
    }
    form.append(box);
  }
  const button = el("button", {type: "submit", id: "run-button"}, "Run");
  const status = el("span", {class: "status", id: "status", role: "status", "aria-live": "polite"});
  const cancel = cancelButton("cancel-button");
  form.append(el("div", {class: "actions"}, button, cancel, status));

  const taskNote = el("p", {class: "note", id: "task-summary"});
  const progress = el("div", {id: "progress"});
  const result = el("section", {id: "result"});
  const recent = el("section", {id: "recent-jobs"});
  root.append(
    el("h1", {}, "Lab"),
    el("p", {class: "sub"}, "Change a parameter and press Run: both models train in this server, " +
       "where compiled programs stay warm, and the run is saved as `statelab run` saves it."),
    taskNote, form, progress, result, recent);

  /** The default of a field for the selected task. */
  function defaultOf(name) {
    const field = fields[name];
    return field.tasks === null ? field.default : (field.tasks[inputs.task.value] ?? "");
  }

  /** Show the selected task's own parameters (with its defaults), hide every other task's. */
  function showTask(reset) {
    const task = tasks[inputs.task.value] || tasks[spec.tasks[0].name];
    taskNote.textContent = `${task.name}: ${task.summary}`;
    for (const field of spec.fields) {
      if (field.tasks === null) continue;
      const takes = task.name in field.tasks;
      rows[field.name].hidden = !takes;
      if (takes && reset) inputs[field.name].value = field.tasks[task.name];
      if (takes) inputs[field.name].placeholder = field.tasks[task.name];
    }
  }
  inputs.task.addEventListener("change", () => { showTask(true); remember(); });

  /** The form's values that differ from their defaults, in the URL (with the job it follows). */
  function remember(jobId) {
    const params = new URLSearchParams();
    for (const [name, node] of Object.entries(inputs)) {
      if (rows[name].hidden) continue;
      const value = node.value.trim();
      if (value !== "" && value !== defaultOf(name)) params.set(name, value);
    }
    const job = jobId === undefined ? state().get("job") : jobId;
    if (job) params.set("job", job);
    setState(params);
  }
  form.addEventListener("input", () => remember());

  /** Fill the form from {field: text}: the task first, so that its own parameters show. */
  function fill(values) {
    if (values.task && tasks[values.task]) inputs.task.value = values.task;
    showTask(true);
    for (const [name, value] of Object.entries(values)) {
      if (name !== "task" && inputs[name]) inputs[name].value = value;
    }
  }

  function clearErrors() {
    for (const span of Object.values(errors)) span.textContent = "";
    for (const span of Object.values(notes)) span.textContent = "";
    for (const row of Object.values(rows)) row.classList.remove("invalid");
    status.textContent = "";
    status.className = "status";
  }

  /** Every invalid field's message beside it; the first also in the status line. */
  function showErrors(problems) {
    for (const {field, detail} of problems) {
      if (field && errors[field] && !rows[field].hidden) {
        errors[field].textContent = detail;
        rows[field].classList.add("invalid");
      }
    }
    const more = problems.length > 1 ? ` (and ${problems.length - 1} more, beside their fields)` : "";
    status.textContent = `${problems[0].detail}${more}`;
    status.className = "status error";
    const first = problems.find((p) => p.field && inputs[p.field] && !rows[p.field].hidden);
    if (first) inputs[first.field].focus();
  }

  const COLOURS = {stateful: "#1f77b4", stateless: "#ff7f0e"};

  /** A progress bar per model, and a chart of each model's validation error as the epochs come. */
  function bars(epochs) {
    progress.replaceChildren(el("h2", {}, "Training"));
    const out = {};
    for (const model of ["stateful", "stateless"]) {
      const bar = el("progress", {max: epochs, value: 0, id: `bar-${model}`, "aria-label": `${model} epochs`});
      const text = el("span", {class: "epoch-text"}, "waiting");
      progress.append(el("div", {class: `progress-row ${model}`}, el("span", {class: "model"}, model), bar, text));
      out[model] = {bar, text};
    }
    const live = el("div", {class: "figure live", id: "live"});
    progress.append(live);
    const traces = Object.keys(out).map((model) => ({
      type: "scatter", mode: "lines+markers", x: [], y: [], name: model, line: {color: COLOURS[model]},
    }));
    plot(live, {data: traces, layout: {
      height: 240, margin: {l: 60, r: 10, t: 30, b: 40}, font: {size: 12},
      title: {text: "Validation error as it trains (normalised MSE)", font: {size: 13}},
      xaxis: {title: {text: "epoch"}, range: [0.5, epochs + 0.5]}, yaxis: {type: "log"},
      hoverlabel: {namelength: -1},
    }});
    return out;
  }

  function extendLive(events) {
    const models = ["stateful", "stateless"];
    // event.epoch counts from 0 (the data's convention); the page counts from 1, as Keras prints
    Plotly.extendTraces("live", {
      x: models.map(() => events.map((e) => e.epoch + 1)),
      y: models.map((m) => events.map((e) => e.logs[m].val_nmse)),
    }, [0, 1]);
  }

  function showResult(event) {
    result.replaceChildren(
      el("h2", {}, "Result"),
      el("p", {class: "sub"}, event.subtitle),
      verdictBox(event.verdict),
      modelsTable(event),
      el("p", {class: "note"}, `Converged means normalised MSE below the best any model can reach + ` +
         `${event.threshold_nmse}. Each model is judged against the floor of its kind.`),
      el("p", {id: "saved", class: "note"}, "Saving the run directory…"));
    const holder = el("div", {class: "figures", id: "figures"});
    result.append(holder);
    figures(holder, event.figures);
  }

  function showSaved(outcome) {
    const saved = document.getElementById("saved");
    const href = `/runs/${encodeURIComponent(outcome.run)}`;
    saved.replaceChildren("Saved to ", el("a", {href, id: "run-link"}, `${outcome.run}/`),
      " (", el("a", {href: `/api/runs/${encodeURIComponent(outcome.run)}/files/report.html`}, "report.html"), ")");
  }

  /** Empty fields run at their defaults: put the default in the field and say so beside it. */
  function fillDefaults() {
    for (const [name, node] of Object.entries(inputs)) {
      if (rows[name].hidden || node.value.trim() !== "") continue;
      const value = defaultOf(name);
      if (value === "") continue;
      node.value = value;
      notes[name].textContent = `was empty: runs at its default, ${value}`;
    }
  }

  async function run() {
    clearErrors();
    fillDefaults();
    const params = {};
    for (const [name, node] of Object.entries(inputs)) {
      if (!rows[name].hidden && node.value.trim() !== "") params[name] = node.value.trim();
    }
    button.disabled = true;
    let job;
    try {
      job = await api("/api/jobs/run", {json: {params}});
    } catch (error) {
      showErrors(error.errors);
      button.disabled = false;
      return;
    }
    attach(job, false);
  }

  let clock = null;  // the "compiling…" ticker of the job followed
  let source = null;

  /** Follow `job` (a summary from the API): Cancel, progress, live chart and result, replaying
   *  every event it has had so far. `refill`: fill the form with what the job was asked. */
  function attach(job, refill) {
    if (refill) {
      fill(job.params.params || {});
      clearErrors();
    }
    remember(job.id);
    source?.close();
    clock?.stop();
    progress.replaceChildren();
    result.replaceChildren();
    const offset = Date.now() / 1000 - job.now;  // our clock minus the server's
    button.disabled = !FINAL.has(job.status);
    if (!FINAL.has(job.status)) cancel.arm(job.id);
    status.textContent = job.status;
    let shown = null;
    let pending = [];  // epochs not drawn yet: drawn together, once per frame
    const draw = () => {
      if (pending.length) extendLive(pending);
      pending = [];
    };
    const stopClock = () => { clock?.stop(); clock = null; };
    source = follow(job.id, (event) => {
      if (event.type === "queued") {
        status.textContent = event.warming ? "waiting: the server is compiling the reference run's programs…"
          : event.position > 0 ? `queued behind ${event.position} job(s)` : "queued";
      }
      if (event.type === "running") {
        // The first epoch comes once the data are made and the programs compiled.
        clock = ticker(status, "compiling…", event.time, offset);
      }
      if (event.type === "cancelling") {
        stopClock();
        status.textContent = "cancelling: training stops at the next epoch…";
      }
      if (event.type === "epoch") {
        if (clock) { stopClock(); status.textContent = "training…"; }
        shown = shown || bars(event.epochs);
        for (const [model, parts] of Object.entries(shown)) {
          const logs = event.logs[model];
          parts.bar.value = event.epoch + 1;
          parts.text.textContent = `epoch ${event.epoch + 1}/${event.epochs}  loss ${fmt(logs.loss, 3)}  ` +
            `val ${fmt(logs.val_loss, 3)}  normalised ${fmt(logs.val_nmse, 3)}`;
        }
        if (!pending.length) requestAnimationFrame(draw);
        pending.push(event);
      }
      if (event.type === "result") {
        stopClock();
        draw();
        status.textContent = "done";
        showResult(event);
      }
      if (event.type === "done") {
        stopClock();
        button.disabled = false;
        cancel.disarm();
        status.textContent = "done";
        showSaved(event.result);
        showRecent();
      }
      if (event.type === "failed" || event.type === "cancelled") {
        stopClock();
        button.disabled = false;
        cancel.disarm();
        showErrors([{field: event.field, detail: event.error}]);
        const saved = document.getElementById("saved");
        if (saved) saved.textContent = `Not saved: ${event.error}`;
        showRecent();
      }
    });
  }

  /** The server's latest jobs, each a link to its own page: one finished unseen is a click away. */
  async function showRecent() {
    const jobs = await api("/api/jobs").catch(() => []);
    recent.replaceChildren();
    if (!jobs.length) return;
    recent.append(el("h2", {}, "Recent jobs"),
      el("ul", {class: "job-list"}, jobs.slice(0, 5).map((j) => el("li", {},
        el("a", {href: `/jobs/${encodeURIComponent(j.id)}`}, j.label), " ",
        el("span", {class: `pill ${j.status === "done" ? "ok" : j.status === "failed" ? "bad" : "na"}`}, j.status)))),
      el("p", {class: "note"}, el("a", {href: "/jobs"}, "Every job of this server")));
  }

  // ---- Start: the job in the URL, else a job still running, else the form in the URL -------------
  const query = state();
  const values = Object.fromEntries([...query].filter(([name]) => name in fields));
  fill(values);
  let job = null;
  if (query.get("job")) {
    job = await api(`/api/jobs/${encodeURIComponent(query.get("job"))}`).catch(() => null);
    if (!job) {
      status.textContent = `Job ${query.get("job")} is not on this server (it may have restarted).`;
      status.className = "status error";
      query.delete("job");
      setState(query);
    }
  } else if (!Object.keys(values).length) {
    job = await activeJob("run");
  }
  if (job) attach(job, true);
  showRecent();
})();
