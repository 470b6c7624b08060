// Runs: the run directories under --runs, as a collection: sort, filter by any config field or by
// verdict, page, group identical configs; tick 2 to 8 and compare them. All of it in the URL.
"use strict";

(async () => {
  const {el, api, fmt, main, failure, state, setState} = statelab;
  const root = main();
  root.append(el("h1", {}, "Runs"));
  const runs = await api("/api/runs").catch((e) => failure(root, e));
  if (!runs) return;
  if (!runs.length) {
    root.append(el("p", {class: "note"}, "No run directories yet: press Run in the Lab, or run `statelab run`."));
    return;
  }
  const PAGE = 25;
  const MAX_COMPARED = 8;
  const query = state();
  const view = {
    q: query.get("q") || "",
    verdict: query.get("verdict") || "",
    sort: query.get("sort") || "written",
    desc: query.has("desc") ? query.get("desc") === "1" : true,
    page: Math.max(0, Number(query.get("page") || 1) - 1),
    group: query.get("group") === "1",
  };
  const picked = [];

  const COLUMNS = {  // key -> [header, value to sort by]
    name: ["run", (r) => r.name],
    written: ["written", (r) => r.modified],
    task: ["task", (r) => r.task || ""],
    stateful: ["stateful nMSE", (r) => r.nmse?.stateful ?? Infinity],
    stateless: ["stateless nMSE", (r) => r.nmse?.stateless ?? Infinity],
    verdict: ["verdict", (r) => verdictKey(r)],
  };

  function verdictKey(run) {
    if (run.error) return "unreadable";
    return run.verdict.held === true ? "held" : run.verdict.held === false ? "not-held" : "no-claim";
  }

  function text(value) {
    return Array.isArray(value) ? value.join(",") : String(value);
  }

  /** Whether a run matches the search: every word must; `field=value` compares a config field,
   *  any other word is looked for in the name, the config line and the verdict. */
  function matches(run, words) {
    return words.every((word) => {
      const pair = word.match(/^([a-z_]+)[=:](.*)$/i);
      if (pair && run.config && pair[1] in run.config) return text(run.config[pair[1]]) === pair[2];
      const haystack = `${run.name} ${run.subtitle || ""} ${run.verdict?.text || ""} ${run.error || ""}`.toLowerCase();
      return haystack.includes(word.toLowerCase());
    });
  }

  const search = el("input", {type: "search", id: "run-search", value: view.q, size: 28,
                              placeholder: "tsteps=3 cell=gru or any word", "aria-label": "Filter runs"});
  const verdictSelect = el("select", {id: "run-verdict", "aria-label": "Verdict"},
    [["", "any verdict"], ["held", "claim held"], ["not-held", "claim not held"], ["no-claim", "no claim"],
     ["unreadable", "unreadable"]].map(([v, t]) => el("option", {value: v, selected: v === view.verdict}, t)));
  const group = el("input", {type: "checkbox", id: "run-group", checked: view.group});
  const compare = el("button", {type: "button", id: "compare-button", disabled: true, onclick: () => {
    location.href = `/compare?${picked.map((n) => `run=${encodeURIComponent(n)}`).join("&")}`;
  }}, "Compare the picked");
  const count = el("span", {class: "note", id: "run-count"});
  const body = el("div", {id: "runs-body"});
  const pager = el("div", {class: "toolbar", id: "run-pager"});
  root.append(
    el("div", {class: "toolbar"},
      el("label", {}, "Filter ", search), verdictSelect,
      el("label", {}, group, "group identical configs"), compare, count),
    body, pager);

  function remember() {
    const params = new URLSearchParams();
    if (view.q) params.set("q", view.q);
    if (view.verdict) params.set("verdict", view.verdict);
    if (view.sort !== "written") params.set("sort", view.sort);
    if (!view.desc) params.set("desc", "0");
    if (view.page) params.set("page", String(view.page + 1));
    if (view.group) params.set("group", "1");
    setState(params);
  }

  function pick(name, box) {
    if (box.checked) picked.push(name); else picked.splice(picked.indexOf(name), 1);
    while (picked.length > MAX_COMPARED) {
      const dropped = picked.shift();
      const other = document.querySelector(`input[data-run="${CSS.escape(dropped)}"]`);
      if (other) other.checked = false;
    }
    compare.disabled = picked.length < 2;
    compare.textContent = picked.length >= 2 ? `Compare the ${picked.length} picked` : "Compare the picked";
  }

  function row(run, others) {
    const box = el("input", {type: "checkbox", "data-run": run.name, checked: picked.includes(run.name),
                             "aria-label": `pick ${run.name}`});
    box.addEventListener("change", () => pick(run.name, box));
    const verdict = run.error
      ? el("span", {class: "error"}, run.error)
      : el("span", {class: `pill ${run.verdict.held === true ? "ok" : run.verdict.held === false ? "bad" : "na"}`},
           run.verdict.text);
    const nmse = run.nmse ? Object.entries(run.nmse).map(([m, v]) => `${m} ${fmt(v, 3)}`).join(", ") : "";
    const name = [el("a", {href: `/runs/${encodeURIComponent(run.name)}`}, run.name)];
    if (others && others.length) {
      name.push(el("details", {class: "same"}, el("summary", {}, `and ${others.length} more of this config`),
        el("ul", {}, others.map((o) => el("li", {}, el("a", {href: `/runs/${encodeURIComponent(o.name)}`}, o.name),
                                               ` ${fmt(o.nmse?.stateful, 3)} / ${fmt(o.nmse?.stateless, 3)}`)))));
    }
    return [box, name, run.modified, el("span", {class: "small"}, run.subtitle || ""), nmse, verdict];
  }

  function draw() {
    remember();
    const words = view.q.split(/\s+/).filter(Boolean);
    let shown = runs.filter((r) => matches(r, words) && (!view.verdict || verdictKey(r) === view.verdict));
    const [, key] = COLUMNS[view.sort] || COLUMNS.written;
    shown.sort((a, b) => {
      const [x, y] = [key(a), key(b)];
      const order = typeof x === "number" && typeof y === "number" ? x - y : String(x).localeCompare(String(y));
      return view.desc ? -order : order;
    });
    let groups = shown.map((r) => [r, []]);
    if (view.group) {  // identical configs (the same config hash): one line, the first in this order
      const by = new Map();
      for (const r of shown) {
        const k = r.config_hash || r.name;
        if (by.has(k)) by.get(k)[1].push(r); else by.set(k, [r, []]);
      }
      groups = [...by.values()];
    }
    const pages = Math.max(1, Math.ceil(groups.length / PAGE));
    view.page = Math.min(view.page, pages - 1);
    const slice = groups.slice(view.page * PAGE, (view.page + 1) * PAGE);
    count.textContent = `${shown.length} of ${runs.length} runs` +
      (view.group ? `, ${groups.length} distinct configs` : "");
    const header = [["", null], ...[["name"], ["written"], [null, "config"], ["stateful", "normalised MSE"], ["verdict"]]
      .map(([k, label]) => [label || COLUMNS[k][0], k])].map(([label, k]) => {
      if (!k) return label;
      const sorted = view.sort === k ? (view.desc ? "descending" : "ascending") : null;
      return el("button", {type: "button", class: "sort", "data-sort": k, "aria-sort": sorted, onclick: () => {
        view.desc = view.sort === k ? !view.desc : k === "written";
        view.sort = k;
        draw();
      }}, label);
    });
    body.replaceChildren(statelab.table(header, slice.map(([r, others]) => row(r, others)), {id: "runs"}));
    pager.replaceChildren(
      el("button", {type: "button", class: "plain", id: "runs-prev", disabled: view.page === 0,
                    onclick: () => { view.page -= 1; draw(); }}, "← previous"),
      el("span", {id: "runs-page"}, `page ${view.page + 1} of ${pages}`),
      el("button", {type: "button", class: "plain", id: "runs-next", disabled: view.page >= pages - 1,
                    onclick: () => { view.page += 1; draw(); }}, "next →"));
  }

  search.addEventListener("input", () => { view.q = search.value.trim(); view.page = 0; draw(); });
  verdictSelect.addEventListener("change", () => { view.verdict = verdictSelect.value; view.page = 0; draw(); });
  group.addEventListener("change", () => { view.group = group.checked; view.page = 0; draw(); });
  draw();
})();
