// Runs: the run directories under --runs, newest first, with their verdicts; pick two to compare.
"use strict";

(async () => {
  const {el, api, fmt, main, failure} = statelab;
  const root = main();
  root.append(el("h1", {}, "Runs"));
  const runs = await api("/api/runs").catch((e) => failure(root, e));
  if (!runs) return;
  if (!runs.length) {
    root.append(el("p", {class: "note"}, "No run directories yet: press Run in the Lab, or run `statelab run`."));
    return;
  }
  const picked = [];
  const compare = el("button", {id: "compare-button", disabled: true, onclick: () => {
    const [a, b] = picked;
    location.href = `/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`;
  }}, "Compare the two picked");
  function pick(name, box) {
    if (box.checked) picked.push(name); else picked.splice(picked.indexOf(name), 1);
    while (picked.length > 2) {
      const dropped = picked.shift();
      document.querySelector(`input[data-run="${CSS.escape(dropped)}"]`).checked = false;
    }
    compare.disabled = picked.length !== 2;
  }
  const rows = runs.map((r) => {
    const box = el("input", {type: "checkbox", "data-run": r.name});
    box.addEventListener("change", () => pick(r.name, box));
    const verdict = r.error
      ? el("span", {class: "error"}, r.error)
      : el("span", {class: `pill ${r.verdict.held === true ? "ok" : r.verdict.held === false ? "bad" : "na"}`},
           r.verdict.text);
    const nmse = r.nmse ? Object.entries(r.nmse).map(([m, v]) => `${m} ${fmt(v, 3)}`).join(", ") : "";
    return [box, el("a", {href: `/runs/${encodeURIComponent(r.name)}`}, r.name), r.modified,
            el("span", {class: "small"}, r.subtitle || ""), nmse, verdict];
  });
  root.append(el("p", {}, compare),
              statelab.table(["", "run", "written", "config", "normalised MSE", "verdict"], rows, {id: "runs"}));
})();
