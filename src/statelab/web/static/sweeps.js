// Sweeps: the stores given with --store, each with its trial counts.
"use strict";

(async () => {
  const {el, api, main, failure, table} = statelab;
  const root = main();
  root.append(el("h1", {}, "Sweeps"));
  const stores = await api("/api/stores").catch((e) => failure(root, e));
  if (!stores) return;
  const rows = stores.map((s) => [
    el("a", {href: `/sweeps/${encodeURIComponent(s.name)}`}, s.name), s.path,
    s.error ? el("span", {class: "error"}, s.error) : s.exists ? `${s.ok} finished, ${s.failed} failed` : "not created yet",
  ]);
  root.append(table(["store", "file", "trials"], rows, {id: "stores"}),
    el("p", {class: "note"}, "Give stores with `statelab serve --store FILE` (repeat for several). " +
       "A store's page follows it while any process writes it, and launches sweeps into it."));
})();
