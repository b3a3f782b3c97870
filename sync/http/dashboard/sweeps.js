// cpsync dashboard, the sweep-report view (GET /api/v1/sweeps, GET
// /api/v1/sweeps/{id}/differences, every role): the three-way sweeps with
// their counts per platform, entity and kind, what each platform's full read
// held, the duration, and a run's differences (the stewards' tasks, keys
// masked by cpsync for non-stewards); "run now" (POST) for operators only.
"use strict";

(function () {
  const C = window.cpsync;
  const KINDS = {
    missing_at_platform: ["平台缺失", "missing at the platform"],
    stale_value: ["平台值已变", "stale value"],
    unknown_to_store: ["统一库未知", "unknown to the store"],
  };
  let shown = null, after = null, nextAfter = null, polling = null;
  const $ = (id) => document.getElementById(id);
  const kindName = (k) => (KINDS[k] ? KINDS[k][C.lang()] : k);
  const total = (run) => (run.counts || []).reduce((a, c) => a + (c.count || 0), 0);
  function badge(state) {
    const cls = state === "done" ? "ok" : state === "running" ? "warn" : "bad";
    return C.el("span", { class: "state " + cls, "data-state": state }, C.t(state === "running" ? "sw_in_progress" : "sw_" + state));
  }
  function every(ms) {
    if (!ms) return C.t("sw_on_demand");
    return C.t("sw_every") + " " + C.fmtAge(Math.round(ms / 1000));
  }

  async function load() {
    const table = $("sweeps"), msg = $("sweeps-msg");
    C.head(table, ["id", "sw_started", "sw_state", "sw_trigger", "#sw_duration", "#sw_total"]);
    $("sweep-run").hidden = true;
    const doc = await C.viewGet(msg, "/api/v1/sweeps?limit=20", () => C.fill(table.tBodies[0], [], 6));
    if (!doc) return;
    $("sweeps-info").textContent = C.t("sw_schedule") + ": " + every(doc.schedule_ms) +
      (doc.running ? " · " + C.t("sw_running") : "");
    $("sweep-run").hidden = (await C.role()) !== "operator";
    $("sweep-run").disabled = !!doc.running;
    C.fill(table.tBodies[0], doc.items.map((r) => C.el("tr", {
      "data-sweep": r.id, class: shown === r.id ? "selected" : null, onclick: () => open(r, true),
    }, C.num(r.id), C.el("td", { class: "nowrap" }, C.fmtTime(r.started_at)), C.el("td", null, badge(r.state)),
    C.el("td", null, r.trigger + (r.requested_by ? " · " + r.requested_by : "")),
    C.num(r.duration_ms === null || r.duration_ms === undefined ? null : r.duration_ms + " ms"),
    C.num(r.state === "running" ? null : total(r)))), 6, "sw_none");
    const cur = doc.items.find((r) => r.id === shown) || doc.items[0];
    if (cur) open(cur, cur.id !== shown);
    else $("sweep").replaceChildren();
  }

  // one run: counts, per-platform reads, then its differences page by page
  function open(run, fresh) {
    if (fresh) { after = null; nextAfter = null; }
    shown = run.id;
    document.querySelectorAll("#sweeps tr[data-sweep]").forEach((tr) =>
      tr.classList.toggle("selected", Number(tr.dataset.sweep) === run.id));
    const counts = (run.counts || []).map((c) => C.el("tr", { "data-count": c.platform + "/" + c.entity + "/" + c.kind },
      C.el("td", null, c.platform), C.el("td", null, c.entity), C.el("td", null, kindName(c.kind) + " (" + c.kind + ")"),
      C.num(c.count)));
    const pf = run.platforms || {};
    const reads = Object.keys(pf).sort().map((p) => C.el("tr", { "data-read": p },
      C.el("td", null, C.el("b", null, p)), C.num(pf[p].records), C.num(pf[p].undecodable),
      C.el("td", null, (pf[p].entities || []).join(", ")), C.el("td", { class: "err" }, pf[p].error || "")));
    const box = $("sweep");
    box.replaceChildren(
      C.el("h2", null, C.t("sw_run_n") + " #" + run.id + " ", badge(run.state)),
      C.el("dl", { class: "kv" },
        C.el("dt", null, C.t("sw_started")), C.el("dd", null, C.fmtTime(run.started_at)),
        C.el("dt", null, C.t("sw_finished")), C.el("dd", null, C.fmtTime(run.finished_at)),
        C.el("dt", null, C.t("sw_duration")), C.el("dd", { id: "sweep-duration" },
          run.duration_ms === null || run.duration_ms === undefined ? "—" : run.duration_ms + " ms"),
        run.error ? C.el("dt", null, C.t("last_error")) : null, run.error ? C.el("dd", { class: "err" }, run.error) : null),
      C.el("h3", null, C.t("sw_counts")),
      C.grid("sweep-counts", ["platform", "entity", "sw_kind", "#sw_count"], counts, 4, "sw_no_diff"),
      C.el("h3", null, C.t("sw_reads")),
      C.grid("sweep-reads", ["platform", "#records", "#sw_undecodable", "sw_entities", "last_error"], reads, 5),
      C.el("h3", null, C.t("sw_tasks")),
      C.el("div", { id: "sweep-diffs" }));
    if (run.state !== "running") differences(run.id);
  }

  async function differences(id) {
    const box = $("sweep-diffs");
    let doc;
    try {
      doc = await C.api("GET", "/api/v1/sweeps/" + id + "/differences?limit=50" + (after ? "&after=" + after : ""));
    } catch (e) {
      box.replaceChildren(C.el("div", { class: "note bad" }, C.accessNote(e, "viewer")));
      return;
    }
    if (id !== shown) return;
    nextAfter = doc.next_after;
    const rows = doc.items.map((d) => C.el("tr", { "data-diff": d.id, "data-kind": d.kind },
      C.num(d.id), C.el("td", null, d.platform), C.el("td", null, d.entity),
      C.el("td", { class: "mono", "data-key": "" }, d.key), C.el("td", null, d.field || "—"),
      C.el("td", null, kindName(d.kind)), C.el("td", null, d.status)));
    box.replaceChildren(
      C.grid("sweep-differences", ["id", "platform", "entity", "key", "field", "sw_kind", "status"], rows, 7, "sw_no_diff"),
      C.el("div", { class: "pager" },
        C.el("button", { type: "button", class: "secondary", disabled: !after, onclick: () => { after = null; differences(id); } }, C.t("first")),
        C.el("button", { type: "button", class: "secondary", disabled: !nextAfter, onclick: () => { after = nextAfter; differences(id); } }, C.t("next"))));
  }

  // POST /api/v1/sweeps, then the list until the run is no longer running
  async function runNow() {
    const msg = $("sweeps-msg");
    $("sweep-run").disabled = true;
    let r;
    try {
      r = await C.api("POST", "/api/v1/sweeps");
    } catch (e) {
      C.note(msg, e.status === 409 ? e.message : C.accessNote(e, "operator"), "bad");
      $("sweep-run").disabled = false;
      return;
    }
    shown = r.run_id;
    C.note(msg, C.t("sw_started_n") + " #" + r.run_id, "ok");
    clearInterval(polling);
    let n = 0;
    polling = setInterval(async () => {
      if ($("tab-sweeps").hidden || ++n > 300) { clearInterval(polling); return; }
      await load();
      const tr = document.querySelector('#sweeps tr[data-sweep="' + r.run_id + '"] .state');
      if (tr && tr.dataset.state !== "running") clearInterval(polling);
    }, 1000);
  }

  C.view("sweeps", {
    load,
    on: { "sweep-run": { click: runNow }, "sweep-refresh": { click: load } },
    text: {
      tab_sweeps: ["三方比对 Sweeps", "Sweeps"],
      sw_run: ["立即比对 Run now", "Run now"],
      sw_schedule: ["计划", "Schedule"],
      sw_on_demand: ["仅按需 on demand only", "on demand only"],
      sw_every: ["每", "every"],
      sw_running: ["正在比对 a sweep is running", "a sweep is running"],
      sw_started: ["开始时间 Started", "Started"],
      sw_finished: ["结束时间 Finished", "Finished"],
      sw_state: ["状态 State", "State"],
      sw_trigger: ["触发 Trigger", "Trigger"],
      sw_duration: ["耗时 Duration", "Duration"],
      sw_total: ["差异数 Differences", "Differences"],
      sw_none: ["还没有比对 / no sweeps yet", "No sweeps yet"],
      sw_run_n: ["比对", "Sweep"],
      sw_counts: ["差异统计（平台、实体、类型） Counts", "Differences per platform, entity and kind"],
      sw_reads: ["各平台全量读取 Full reads", "What each platform's full read held"],
      sw_tasks: ["差异明细（待处理任务） Differences", "Differences (steward tasks)"],
      sw_kind: ["类型 Kind", "Kind"],
      sw_count: ["数量", "Count"],
      sw_undecodable: ["无法解码", "Undecodable"],
      sw_entities: ["比对实体", "Entities compared"],
      sw_no_diff: ["没有差异 / no differences", "No differences"],
      sw_started_n: ["已开始比对 / sweep started", "Sweep started"],
      sw_in_progress: ["进行中", "running"],
      sw_done: ["完成", "done"],
      sw_failed: ["失败", "failed"],
    },
  });
})();
