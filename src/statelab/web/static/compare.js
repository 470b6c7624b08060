// Runs side by side (2 to 8): configs diffed, verdicts and metrics, figures overlaid, run k in
// line style k, which the heading names and every legend shows. The runs are in the URL.
"use strict";

(async () => {
  const {el, api, figures, verdictBox, modelsTable, main, failure, pageData, table} = statelab;
  const root = main();
  const names = pageData().runs;
  root.append(el("p", {}, el("a", {href: "/runs"}, "← Runs")), el("h1", {}, `${names.length} runs compared`));
  const query = names.map((n) => `run=${encodeURIComponent(n)}`).join("&");
  const view = await api(`/api/compare?${query}`).catch((e) => failure(root, e));
  if (!view) return;
  const labels = Object.keys(view.names);
  const show = (v) => (v === null ? "—" : Array.isArray(v) ? v.join(",") : String(v));
  const differing = view.config.filter((r) => r.differs).length;
  const config = view.config.map((r) => ({attrs: {class: r.differs ? "differs" : "dim"},
                                          cells: [r.name, ...r.values.map(show)]}));
  const side = (label) => el("div", {class: "side"},
    el("h3", {}, `${label} (${view.styles[label]}): `,
       el("a", {href: `/runs/${encodeURIComponent(view.names[label])}`}, view.names[label])),
    el("p", {class: "sub"}, view.runs[label].subtitle),
    verdictBox(view.runs[label].verdict), modelsTable(view.runs[label]));
  const styles = labels.map((l) => `${l} ${view.styles[l]}`).join(", ");
  const holder = el("div", {class: "figures", id: "figures"});
  root.append(
    el("div", {class: "columns"}, labels.map(side)),
    el("h2", {}, `Configuration (${differing} parameter${differing === 1 ? "" : "s"} differ)`),
    table(["parameter", ...labels], config, {id: "config-diff"}),
    el("h2", {id: "figures-title"}, `Figures (${styles} lines)`),
    el("p", {class: "note"}, "Each run keeps its line style in every figure; each model keeps its colour."),
    holder);
  figures(holder, view.figures);
})();
