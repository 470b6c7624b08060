// Jobs: every job this server holds, newest first, each with its own page (/jobs/ID, the Lab or
// the store attached to it) and, once finished, what it made.
"use strict";

(async () => {
  const {el, api, fmt, main, failure, ACTIVE} = statelab;
  const root = main();
  const list = el("div", {id: "jobs"});
  root.append(el("h1", {}, "Jobs"),
    el("p", {class: "sub"}, "Runs and sweeps started from these pages. A job keeps running when its page " +
       "closes: open it again to see where it is, or what it made."), list);

  function when(seconds) {
    return seconds ? new Date(seconds * 1000).toLocaleTimeString() : "";
  }

  function progress(job) {
    const p = job.progress;
    if (!p) return "";
    if (p.type === "epoch") return `epoch ${p.epoch + 1}/${p.epochs}`;  // from 0 in the data, from 1 on the page
    if (p.type === "progress") return `${p.finished}/${p.pending} trials`;
    if (p.type === "start") return `${p.pending} trials to run`;
    return p.text || "";
  }

  function made(job) {
    if (job.error) return el("span", {class: "error"}, job.error);
    const r = job.result;
    if (!r) return "";
    if (r.run) return el("a", {href: `/runs/${encodeURIComponent(r.run)}`}, r.run);
    if (job.kind === "doctor") {
      return el("a", {href: `/runs/${encodeURIComponent(job.params.run)}`}, r.recommended || "no change converged");
    }
    if (job.kind === "sweep") {
      return el("a", {href: `/sweeps/${encodeURIComponent(job.params.store)}`},
                `${r.ran} trials in ${fmt(r.wall_s, 3)} s`);
    }
    return "";
  }

  async function draw() {
    const jobs = await api("/api/jobs").catch((e) => failure(root, e));
    if (!jobs) return;
    if (!jobs.length) {
      list.replaceChildren(el("p", {class: "note"}, "No jobs yet: press Run in the Lab, or launch a sweep from a store's page."));
    } else {
      list.replaceChildren(statelab.table(["job", "what", "status", "progress", "queued", "made"],
        jobs.map((j) => ({attrs: {"data-job": j.id}, cells: [
          el("a", {href: `/jobs/${encodeURIComponent(j.id)}`}, j.id), j.label,
          el("span", {class: `pill ${j.status === "done" ? "ok" : j.status === "failed" ? "bad" : "na"}`}, j.status),
          progress(j), when(j.created), made(j)]})), {id: "job-table"}));
    }
    if (jobs.some((j) => ACTIVE.has(j.status))) setTimeout(draw, 1000);
  }
  await draw();
})();
