// One run: its verdict, both models against their floors, the figures, the config, the files;
// "Open in Lab" fills the Lab's form with its config; Delete removes it, once confirmed. A run
// where a model missed what theory said has Diagnose: the doctor trains candidate fixes as a job
// (in the URL, ?job=ID, so a reload follows it) and shows them with the recommended command.
"use strict";

(async () => {
  const {el, api, fmt, figures, verdictBox, modelsTable, main, failure, pageData, table, follow, cancelButton,
         state, setState, activeJob, ticker, FINAL} = statelab;
  const root = main();
  const name = pageData().run;
  root.append(el("p", {}, el("a", {href: "/runs"}, "← Runs")), el("h1", {}, name));
  const run = await api(`/api/runs/${encodeURIComponent(name)}`).catch((e) => failure(root, e));
  if (!run) return;
  const holder = el("div", {class: "figures", id: "figures"});
  const files = run.files.map((f) => [
    el("a", {href: `/api/runs/${encodeURIComponent(name)}/files/${f.path.split("/").map(encodeURIComponent).join("/")}`},
       f.path),
    `${fmt(f.bytes / 1024, 3)} kB`]);
  const config = Object.entries(run.config).flatMap(([section, part]) =>
    Object.entries(part).filter(([, v]) => v !== null).map(([k, v]) => [section, k, Array.isArray(v) ? v.join(",") : v]));
  const timings = Object.entries(run.timings).map(([k, v]) => [k.replace(/_s$/, ""), `${v.toFixed(3)} s`]);

  const openInLab = el("a", {href: `/?${new URLSearchParams(run.form)}`, id: "open-in-lab", class: "button-link"},
                       "Open in Lab");
  const confirm = el("div", {class: "confirm", id: "delete-confirm", hidden: true});
  const remove = el("button", {type: "button", class: "danger", id: "delete-button", onclick: () => {
    const yes = el("button", {type: "button", class: "danger", id: "delete-yes", onclick: async () => {
      yes.disabled = true;
      try {
        await api(`/api/runs/${encodeURIComponent(name)}`, {method: "DELETE"});
        location.href = "/runs";
      } catch (error) {
        confirm.replaceChildren(el("p", {class: "error", role: "alert"}, error.message));
      }
    }}, "Delete it");
    const no = el("button", {type: "button", class: "plain", id: "delete-no", onclick: () => {
      confirm.hidden = true;
      remove.focus();
    }}, "Keep it");
    confirm.replaceChildren(
      el("p", {}, `Delete the run directory ${name}/ and every file in it? This cannot be undone.`), yes, " ", no);
    confirm.hidden = false;
    no.focus();
  }}, "Delete…");

  const doctorBox = el("section", {id: "doctor"});
  root.append(
    el("div", {class: "actions"}, openInLab, remove),
    confirm,
    el("p", {class: "sub"}, run.subtitle),
    verdictBox(run.verdict),
    modelsTable(run),
    doctorBox,
    holder,
    el("h2", {}, "Configuration"), table(["section", "parameter", "value"], config),
    el("h2", {}, "Timings"), table(["stage", "time"], timings),
    el("h2", {}, "Files"), table(["file", "size"], files, {id: "files"}),
    el("p", {class: "note"}, `config hash ${run.config_hash}`));
  figures(holder, run.figures);

  // ---- The doctor ------------------------------------------------------------------------------
  const found = await api(`/api/runs/${encodeURIComponent(name)}/doctor`).catch(() => null);
  if (!found || !found.models.length) return;  // nothing missed: nothing to treat
  const start = el("button", {type: "button", id: "diagnose-button"}, "Diagnose");
  const cancel = cancelButton("cancel-doctor");
  const bar = el("progress", {id: "doctor-bar", max: 1, value: 0, hidden: true, "aria-label": "doctor progress"});
  const status = el("span", {class: "status", id: "doctor-status", role: "status", "aria-live": "polite"});
  const results = el("div", {id: "doctor-results"});
  doctorBox.append(el("h2", {}, "Diagnose"),
    el("p", {class: "note"}, `The doctor trains candidate changes for the ${found.models.join(" and ")} model ` +
       "(a longer truncation, more epochs, a smaller step, other initial weights), each with 3 model " +
       "seeds, side by side as a sweep into this run's doctor.sqlite, and recommends the cheapest change " +
       "that converges on every seed (what `statelab doctor` does)."),
    el("div", {class: "actions"}, start, cancel, bar, status), results);

  /** The candidates as a table, the recommended one marked, and its command to paste. */
  function showFound(view) {
    results.replaceChildren();
    const tried = view.candidates.filter((c) => c.tried);
    if (!tried.length) return;
    const models = view.models;
    const rows = view.candidates.map((c) => ({
      attrs: {class: c.recommended ? "selected" : c.tried ? null : "dim", "data-candidate": c.candidate},
      cells: [el("code", {}, c.candidate), c.reason, `${fmt(c.cost, 3)}×`,
              ...models.map((m) => c.tried ? `${c[`${m}_converged`]}/${c.seeds}` : "—"),
              ...models.map((m) => fmt(c[`${m}_nmse_median`], 3)),
              c.fixes ? "yes" : "no", c.recommended ? "recommended" : ""]}));
    results.append(
      table(["change", "why", "cost", ...models.map((m) => `${m} converged`), ...models.map((m) => `${m} nMSE (median)`),
             "fixes", ""], rows, {id: "doctor-table"}),
      view.command
        ? el("p", {id: "doctor-command"}, "The smallest change that converges: ", el("code", {}, view.command))
        : el("p", {class: "note", id: "doctor-command"}, "No change converged on every seed."));
  }
  showFound(found);

  function attach(job) {
    const query = state();
    query.set("job", job.id);
    setState(query);
    const offset = Date.now() / 1000 - job.now;
    let clock = null;
    const stopClock = () => { clock?.stop(); clock = null; };
    start.disabled = !FINAL.has(job.status);
    if (!FINAL.has(job.status)) cancel.arm(job.id);
    bar.hidden = false;
    status.className = "status";
    follow(job.id, (event) => {
      if (event.type === "queued") status.textContent = event.position > 0 ? `queued behind ${event.position} job(s)` : "queued";
      if (event.type === "running") status.textContent = "planning…";
      if (event.type === "cancelling") { stopClock(); status.textContent = "cancelling: the doctor stops at the next epoch…"; }
      if (event.type === "start") {
        bar.max = Math.max(event.pending, 1);
        clock = ticker(status, `${event.candidates} changes, ${event.trials} trials (${event.trials - event.pending} ` +
                       "already trained): compiling…", event.time, offset);
      }
      if (event.type === "progress") {
        stopClock();
        bar.value = event.completed;
        status.textContent = `${event.finished}/${bar.max} trials, ${event.failed} failed`;
      }
      if (event.type === "done") {
        stopClock();
        bar.value = bar.max;
        status.textContent = "done";
        start.disabled = false;
        cancel.disarm();
        showFound(event.result);
      }
      if (event.type === "failed" || event.type === "cancelled") {
        stopClock();
        status.textContent = event.error;
        status.className = "status error";
        start.disabled = false;
        cancel.disarm();
      }
    });
  }

  start.addEventListener("click", async () => {
    start.disabled = true;
    try {
      attach(await api("/api/jobs/doctor", {json: {run: name}}));  // 3 seeds, as `statelab doctor`
    } catch (error) {
      status.textContent = error.message;
      status.className = "status error";
      start.disabled = false;
    }
  });
  const asked = state().get("job");
  const job = asked ? await api(`/api/jobs/${encodeURIComponent(asked)}`).catch(() => null)
    : await activeJob("doctor", (j) => j.params.run === name);
  if (job && job.kind === "doctor") attach(job);
})();
