// One run: its verdict, both models against their floors, the figures, the config, the files;
// "Open in Lab" fills the Lab's form with its config; Delete removes it, once confirmed.
"use strict";

(async () => {
  const {el, api, fmt, figures, verdictBox, modelsTable, main, failure, pageData, table} = statelab;
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

  root.append(
    el("div", {class: "actions"}, openInLab, remove),
    confirm,
    el("p", {class: "sub"}, run.subtitle),
    verdictBox(run.verdict),
    modelsTable(run),
    holder,
    el("h2", {}, "Configuration"), table(["section", "parameter", "value"], config),
    el("h2", {}, "Timings"), table(["stage", "time"], timings),
    el("h2", {}, "Files"), table(["file", "size"], files, {id: "files"}),
    el("p", {class: "note"}, `config hash ${run.config_hash}`));
  figures(holder, run.figures);
})();
