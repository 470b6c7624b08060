// Two runs side by side: configs diffed, verdicts and metrics, figures overlaid (A solid, B dashed).
"use strict";

(async () => {
  const {el, api, figures, verdictBox, modelsTable, main, failure, pageData, table} = statelab;
  const root = main();
  const {a, b} = pageData();
  root.append(el("p", {}, el("a", {href: "/runs"}, "← Runs")), el("h1", {}, "Two runs compared"));
  const view = await api(`/api/compare?a=${encodeURIComponent(a)}&b=${encodeURIComponent(b)}`)
    .catch((e) => failure(root, e));
  if (!view) return;
  const show = (v) => (v === null ? "—" : Array.isArray(v) ? v.join(",") : String(v));
  const differing = view.config.filter((r) => r.differs).length;
  const config = view.config.map((r) => ({attrs: {class: r.differs ? "differs" : "dim"},
                                          cells: [r.name, show(r.a), show(r.b)]}));
  const side = (label) => el("div", {class: "side"},
    el("h3", {}, `${label}: `, el("a", {href: `/runs/${encodeURIComponent(view.names[label])}`}, view.names[label])),
    el("p", {class: "sub"}, view.runs[label].subtitle),
    verdictBox(view.runs[label].verdict), modelsTable(view.runs[label]));
  const holder = el("div", {class: "figures", id: "figures"});
  root.append(
    el("div", {class: "columns"}, side("A"), side("B")),
    el("h2", {}, `Configuration (${differing} parameter${differing === 1 ? "" : "s"} differ)`),
    table(["parameter", "A", "B"], config, {id: "config-diff"}),
    el("h2", {}, "Figures (A solid, B dashed)"), holder);
  figures(holder, view.figures);
})();
