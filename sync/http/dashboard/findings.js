// cpsync dashboard, the policy-findings view (GET /api/v1/findings, every
// role): the findings of 深民〔2021〕80号's checks, grouped by check code with
// a count per code, filtered by code and status, each with its record key
// (masked by cpsync for non-stewards), the fields at fault and the rule text.
"use strict";

(function () {
  const C = window.cpsync;
  // check code -> [中文, English] (deploy/policy.default.yaml)
  const CHECKS = {
    GRADUAL_EXIT_NOT_SIX_MONTHS: ["渐退期不是 6 个月", "Gradual exit not 6 months"],
    EXITED_DURING_GRADUAL_EXIT: ["渐退期内退出", "Exited during the gradual exit"],
    INCOME_ABOVE_STANDARD_ACTIVE: ["收入超标仍在保", "Income above the standard, still ACTIVE"],
    TEKUN_STANDARD_TOO_LOW: ["特困标准低于 1.6 倍低保", "特困 standard below 1.6 × 低保"],
    VERIFICATION_COUNTS_EXCLUDED: ["计入了不应计入的收入", "Counts an excluded income"],
    VERIFICATION_TOTAL_MISMATCH: ["计入收入合计不符", "Counted total is not the sum"],
    VERIFICATION_PER_CAPITA: ["人均收入计算不符", "Per-capita income miscomputed"],
    DECEASED_ENROLLED: ["已故人员在保", "Deceased person enrolled"],
    SINGLE_PERSON_NOT_ELIGIBLE: ["单人保不符合条件", "单人保 not eligible"],
    TEMPORARY_WRONG_REGION: ["临时救助审批地不符", "Temporary assistance, wrong region"],
    PERMIT_HOLDER_WRONG_REGION: ["居住证持有人审批地不符", "Permit holder, wrong region"],
  };
  let cursor = null, nextCursor = null;

  const checkName = (code) => (CHECKS[code] ? CHECKS[code][C.lang()] : code);

  function fillChecks() {
    const sel = document.getElementById("f-check");
    const keep = sel.value;
    sel.replaceChildren(C.el("option", { value: "" }, C.t("f_all")),
      ...Object.keys(CHECKS).map((k) => C.el("option", { value: k }, k + " · " + checkName(k))));
    sel.value = keep;
  }

  // one row per finding, under a header row per check code
  function rows(items) {
    const groups = new Map();
    for (const f of items) {
      if (!groups.has(f.check)) groups.set(f.check, []);
      groups.get(f.check).push(f);
    }
    const out = [];
    for (const [code, fs] of [...groups].sort((a, b) => (a[0] < b[0] ? -1 : 1))) {
      out.push(C.el("tr", { class: "group", "data-group": code }, C.el("td", { colspan: 8 },
        C.el("b", null, code), " · " + checkName(code) + " (" + fs.length + ")")));
      for (const f of fs) {
        out.push(C.el("tr", { "data-finding": f.id, "data-check": f.check },
          C.num(f.id), C.el("td", null, f.entity),
          C.el("td", { class: "mono nowrap", "data-key": "" }, f.key),
          C.el("td", { class: "mono" }, (f.fields || []).join(", ")),
          C.el("td", { class: "rule-text" }, f.text || "", f.detail ? C.el("div", { class: "muted" }, f.detail) : null),
          C.el("td", null, C.el("span", { class: "state " + (/HIGH|URGENT/.test(f.severity) ? "bad" : "warn") }, f.severity || "—")),
          C.el("td", { class: "opt" }, f.category || "—"),
          C.el("td", { class: "nowrap" }, C.fmtTime(f.opened_at))));
      }
    }
    return out;
  }

  // counts per check code of the page shown, as chips that filter by code
  function chips(items) {
    const n = {};
    for (const f of items) n[f.check] = (n[f.check] || 0) + 1;
    document.getElementById("findings-groups").replaceChildren(...Object.keys(n).sort().map((code) =>
      C.el("button", { type: "button", class: "chip secondary", "data-check": code, title: checkName(code),
        onclick: () => { document.getElementById("f-check").value = code; cursor = null; load(); } },
      code + " " + n[code])));
  }

  async function load() {
    fillChecks();
    const table = document.getElementById("findings");
    const msg = document.getElementById("findings-msg");
    C.head(table, ["id", "entity", "key", "fields", "f_rule", "f_severity", "f_category?", "opened"]);
    const status = document.getElementById("f-status").value || "open";
    const check = document.getElementById("f-check").value;
    let q = "/api/v1/findings?limit=100&status=" + encodeURIComponent(status);
    if (check) q += "&check=" + encodeURIComponent(check);
    if (cursor) q += "&cursor=" + encodeURIComponent(cursor);
    const doc = await C.viewGet(msg, q, () => C.fill(table.tBodies[0], [], 8));
    if (!doc) return;
    nextCursor = doc.next_cursor;
    document.getElementById("f-next").disabled = !nextCursor;
    document.getElementById("f-first").disabled = !cursor;
    chips(doc.items);
    C.fill(table.tBodies[0], rows(doc.items), 8, "f_none");
  }

  C.view("findings", {
    load,
    on: {
      "findings-form": { submit: (ev) => { ev.preventDefault(); cursor = null; load(); } },
      "f-next": { click: () => { if (nextCursor) { cursor = nextCursor; load(); } } },
      "f-first": { click: () => { cursor = null; load(); } },
    },
    text: {
      tab_findings: ["政策核查 Findings", "Policy findings"],
      f_status: ["状态 Status", "Status"],
      f_open: ["未关闭 open", "open"],
      f_closed: ["已关闭 closed", "closed"],
      f_check: ["核查项 Check", "Check"],
      f_all: ["全部 all", "all"],
      f_rule: ["政策规定 Rule", "Rule"],
      f_severity: ["严重度 Severity", "Severity"],
      f_category: ["类别 Category", "Category"],
      f_none: ["没有核查发现 / no findings", "No findings"],
      fields: ["字段 Fields", "Fields"],
    },
  });
})();
