// The Lab: every run parameter (each task showing only its own), Run, live epochs, the result.
"use strict";

(async () => {
  const {el, api, fmt, figures, verdictBox, modelsTable, follow, main, failure, cancelButton} = statelab;
  const root = main();
  const spec = await api("/api/params").catch((e) => failure(root, e));
  if (!spec) return;
  const fields = Object.fromEntries(spec.fields.map((f) => [f.name, f]));
  const tasks = Object.fromEntries(spec.tasks.map((t) => [t.name, t]));
  const inputs = {};
  const errors = {};
  const rows = {};

  function input(field) {
    if (field.choices.length) {
      return el("select", {name: field.name, id: `in-${field.name}`},
        field.choices.map((c) => el("option", {value: c, selected: c === field.default}, c)));
    }
    return el("input", {name: field.name, id: `in-${field.name}`, value: field.default, autocomplete: "off",
                        spellcheck: "false", placeholder: field.kind === "str" ? "" : field.kind});
  }

  const sections = {task: "Task", model: "Model", train: "Training"};
  const form = el("form", {id: "lab-form", onsubmit: (e) => { e.preventDefault(); run(); }});
  for (const [section, title] of Object.entries(sections)) {
    const box = el("fieldset", {class: "section"}, el("legend", {}, title));
    for (const field of spec.fields.filter((f) => f.section === section)) {
      inputs[field.name] = input(field);
      errors[field.name] = el("span", {class: "field-error", id: `err-${field.name}`});
      rows[field.name] = el("label", {class: "field", "data-field": field.name},
        el("span", {class: "name"}, field.name),
        inputs[field.name],
        errors[field.name],
        el("span", {class: "help"}, field.help));
      box.append(rows[field.name]);
    }
    form.append(box);
  }
  const button = el("button", {type: "submit", id: "run-button"}, "Run");
  const status = el("span", {class: "status", id: "status"});
  const cancel = cancelButton("cancel-button");
  form.append(el("div", {class: "actions"}, button, cancel, status));

  const taskNote = el("p", {class: "note", id: "task-summary"});
  const progress = el("div", {id: "progress"});
  const result = el("section", {id: "result"});
  root.append(
    el("h1", {}, "Lab"),
    el("p", {class: "sub"}, "Change a parameter and press Run: both models train in this server, " +
       "where compiled programs stay warm, and the run is saved as `statelab run` saves it."),
    taskNote, form, progress, result);

  /** Show the selected task's own parameters (with its defaults), hide every other task's. */
  function showTask(reset) {
    const task = tasks[inputs.task.value];
    taskNote.textContent = `${task.name}: ${task.summary}`;
    for (const field of spec.fields) {
      if (field.tasks === null) continue;
      const takes = task.name in field.tasks;
      rows[field.name].hidden = !takes;
      if (takes && reset) inputs[field.name].value = field.tasks[task.name];
    }
  }
  inputs.task.addEventListener("change", () => showTask(true));
  showTask(true);

  function clearErrors() {
    for (const span of Object.values(errors)) span.textContent = "";
    for (const row of Object.values(rows)) row.classList.remove("invalid");
    status.textContent = "";
    status.className = "status";
  }

  function showError(message, field) {
    if (field && errors[field] && !rows[field].hidden) {
      errors[field].textContent = message;
      rows[field].classList.add("invalid");
    }
    status.textContent = message;
    status.className = "status error";
  }

  const COLOURS = {stateful: "#1f77b4", stateless: "#ff7f0e"};

  /** A progress bar per model, and a chart of each model's validation error as the epochs come. */
  function bars(epochs) {
    progress.replaceChildren(el("h2", {}, "Training"));
    const out = {};
    for (const model of ["stateful", "stateless"]) {
      const bar = el("progress", {max: epochs, value: 0, id: `bar-${model}`});
      const text = el("span", {class: "epoch-text"}, "waiting");
      progress.append(el("div", {class: `progress-row ${model}`}, el("span", {class: "model"}, model), bar, text));
      out[model] = {bar, text};
    }
    const live = el("div", {class: "figure live", id: "live"});
    progress.append(live);
    const traces = Object.keys(out).map((model) => ({
      type: "scatter", mode: "lines+markers", x: [], y: [], name: model, line: {color: COLOURS[model]},
    }));
    Plotly.newPlot(live, traces, {
      height: 240, margin: {l: 60, r: 10, t: 30, b: 40}, font: {size: 12},
      title: {text: "Validation error as it trains (normalised MSE)", font: {size: 13}},
      xaxis: {title: {text: "epoch"}, range: [0.5, epochs + 0.5]}, yaxis: {type: "log"},
    }, {displaylogo: false, responsive: true});
    return out;
  }

  function extendLive(event) {
    const models = ["stateful", "stateless"];
    const y = models.map((m) => [event.logs[m].val_nmse]);
    // event.epoch counts from 0 (the data's convention); the page counts from 1, as Keras prints
    Plotly.extendTraces("live", {x: models.map(() => [event.epoch + 1]), y}, [0, 1]);
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

  async function run() {
    clearErrors();
    const params = {};
    for (const [name, node] of Object.entries(inputs)) {
      if (!rows[name].hidden && node.value.trim() !== "") params[name] = node.value.trim();
    }
    button.disabled = true;
    let job;
    try {
      job = await api("/api/jobs/run", {json: {params}});
    } catch (error) {
      showError(error.message, error.field);
      button.disabled = false;
      return;
    }
    status.textContent = job.status === "queued" ? "queued" : job.status;
    cancel.arm(job.id);
    let shown = null;
    follow(job.id, (event) => {
      if (event.type === "queued" && event.position > 0) status.textContent = `queued behind ${event.position} job(s)`;
      if (event.type === "running") status.textContent = "training…";
      if (event.type === "cancelling") status.textContent = "cancelling: training stops at the next epoch…";
      if (event.type === "epoch") {
        shown = shown || bars(event.epochs);
        for (const [model, parts] of Object.entries(shown)) {
          const logs = event.logs[model];
          parts.bar.value = event.epoch + 1;
          parts.text.textContent = `epoch ${event.epoch + 1}/${event.epochs}  loss ${fmt(logs.loss, 3)}  ` +
            `val ${fmt(logs.val_loss, 3)}  normalised ${fmt(logs.val_nmse, 3)}`;
        }
        extendLive(event);
      }
      if (event.type === "result") {
        status.textContent = "done";
        showResult(event);
      }
      if (event.type === "done") {
        button.disabled = false;
        cancel.disarm();
        showSaved(event.result);
      }
      if (event.type === "failed" || event.type === "cancelled") {
        button.disabled = false;
        cancel.disarm();
        showError(event.error, event.field);
        const saved = document.getElementById("saved");
        if (saved) saved.textContent = `Not saved: ${event.error}`;
      }
    });
  }
})();
