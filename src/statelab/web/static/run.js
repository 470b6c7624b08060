// One run: its verdict, both models against their floors, the figures, the config, the files.
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
  root.append(
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
