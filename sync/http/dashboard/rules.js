// cpsync dashboard, the rules view: the rule set in force (GET /api/v1/rules:
// number, hash, first loaded, last applied, the canonical rules) and, for
// stewards and operators, a dry run of pasted rules (POST /api/v1/rules/diff,
// YAML): per entity the records that would change, each changed field, the
// conflicts that would open and close, samples (values for stewards only).
"use strict";

(function () {
  const C = window.cpsync;
  const $ = (id) => document.getElementById(id);
  const kv = (pairs) => C.el("dl", { class: "kv" }, pairs.filter((p) => p).map(([k, v, id]) =>
    [C.el("dt", null, C.t(k)), C.el("dd", { class: /hash/.test(k) ? "mono" : null, id }, v === null || v === undefined || v === "" ? "—" : String(v))]).flat());

  let inForce = null; // the canonical rules in force, a starting point to edit

  async function load() {
    const msg = $("rules-msg"), box = $("rules-current");
    $("rules-diff-box").hidden = true;
    const r = await C.viewGet(msg, "/api/v1/rules", () => box.replaceChildren());
    if (!r) return;
    inForce = r.rules;
    const ents = Object.keys(r.rules || {}); // canonical form: entity -> {default, fields, cases}
    box.replaceChildren(
      C.el("h2", null, C.t("ru_current")),
      kv([["ru_number", r.id, "rules-id"], ["ru_hash", r.hash, "rules-hash"],
        ["ru_first_loaded", C.fmtTime(r.first_loaded_at) + (r.loaded_by ? " · " + r.loaded_by : ""), "rules-loaded"],
        ["ru_applied", r.applied_at ? C.fmtTime(r.applied_at) + (r.applied_by ? " · " + r.applied_by : "") : C.t("ru_never"), "rules-applied"],
        ents.length ? ["entity", ents.join(", ")] : null]),
      C.el("details", null, C.el("summary", null, C.t("ru_canonical")),
        C.el("pre", { class: "mono rules-json" }, JSON.stringify(r.rules, null, 2))));
    const role = await C.role();
    $("rules-diff-box").hidden = !(role === "steward" || role === "operator");
    if (role === "viewer") C.note(msg, C.t("ru_viewer"));
  }

  async function diff() {
    const text = $("rules-yaml").value;
    const out = $("rules-report"), msg = $("rules-diff-msg");
    msg.textContent = "";
    if (!text.trim()) { msg.textContent = C.t("ru_need_yaml"); return; }
    $("rules-diff").disabled = true;
    out.replaceChildren(C.el("p", { class: "muted" }, C.t("ru_working")));
    let d;
    try {
      d = await C.api("POST", "/api/v1/rules/diff", text);
    } catch (e) {
      out.replaceChildren();
      msg.textContent = e.status === 401 || e.status === 403 ? C.accessNote(e, "steward") : e.message;
      return;
    } finally {
      $("rules-diff").disabled = false;
    }
    await render(d, out);
  }

  async function render(d, out) {
    const rep = d.report || {};
    const ents = rep.entities || {};
    const entRows = Object.keys(ents).sort().map((n) => {
      const e = ents[n];
      return C.el("tr", { "data-entity": n }, C.el("td", null, C.el("b", null, n)), C.num(e.records), C.num(e.changed),
        C.num(e.rewritten), C.num(e.conflicts_opened), C.num(e.conflicts_closed),
        C.el("td", { class: "mono" }, Object.entries(e.fields || {}).map(([f, k]) => f + " " + k).join(", ") || "—"));
    });
    const samples = [];
    for (const n of Object.keys(ents).sort()) {
      const info = await C.loadSchema(n);
      for (const s of ents[n].samples || []) {
        samples.push(C.el("tr", { "data-sample": n + "/" + s.key }, C.el("td", null, n), C.el("td", { class: "mono", "data-key": "" }, s.key),
          C.el("td", { class: "num nowrap" }, s.from === s.to ? String(s.from) : s.from + " → " + s.to),
          C.el("td", { class: "mono" }, sampleFields(s, info))));
      }
    }
    const p = d.proposed || {};
    out.replaceChildren(
      C.el("h3", null, C.t("ru_report")),
      kv([["ru_proposed_hash", p.hash], ["ru_same", p.same ? C.t("ru_yes") : C.t("ru_no"), "rules-same"],
        ["ru_examined", rep.records, "rules-examined"], ["ru_changed", rep.changed, "rules-changed"],
        ["ru_rewritten", rep.rewritten, "rules-rewritten"]]),
      C.grid("rules-entities", ["entity", "#records", "#ru_changed", "#ru_rewritten", "#ru_opened", "#ru_closed", "ru_fields"], entRows, 7),
      C.el("h3", null, C.t("ru_samples")),
      C.grid("rules-samples", ["entity", "key", "#version", "ru_fields"], samples, 4, "none"));
  }

  // a sample's changes: values before → after (stewards), then the fields
  // whose provenance alone changes (the rule that decides them), conflicts
  function sampleFields(s, info) {
    const parts = [];
    if (Array.isArray(s.fields)) {
      if (s.fields.length) parts.push(C.el("div", { "data-part": "fields" }, s.fields.join(", ")));
    } else {
      const vals = [], prov = [];
      for (const [f, v] of Object.entries(s.fields || {})) {
        const b = C.show(v.before, info, f), a = C.show(v.after, info, f);
        if (b === a) prov.push(f);
        else vals.push(f + ": " + b + " → " + a);
      }
      if (vals.length) parts.push(C.el("div", { "data-part": "values" }, vals.join("; ")));
      if (prov.length) parts.push(C.el("div", { class: "muted", "data-part": "provenance" }, C.t("ru_prov_only") + ": " + prov.join(", ")));
    }
    if (s.conflicts_opened) parts.push(C.el("div", { "data-part": "opened" }, C.t("ru_opened") + ": " + s.conflicts_opened.join(", ")));
    if (s.conflicts_closed) parts.push(C.el("div", { "data-part": "closed" }, C.t("ru_closed") + ": " + s.conflicts_closed.join(", ")));
    return parts.length ? parts : C.t("ru_rewritten");
  }

  C.view("rules", {
    load,
    on: {
      "rules-diff": { click: diff },
      // JSON is YAML: the canonical form as a `rules:` section loads as it is
      "rules-fill": { click: () => { if (inForce) $("rules-yaml").value = JSON.stringify({ rules: inForce }, null, 2); } },
    },
    text: {
      tab_rules: ["合并规则 Rules", "Rules"],
      ru_current: ["当前生效的规则集 Rule set in force", "The rule set in force"],
      ru_number: ["编号 Number", "Number"],
      ru_hash: ["哈希 SHA-256", "Hash (SHA-256)"],
      ru_first_loaded: ["首次加载 First loaded", "First loaded"],
      ru_applied: ["最近应用 Last applied", "Last applied"],
      ru_never: ["从未 never", "never"],
      ru_canonical: ["规范形式 Canonical form (JSON)", "Canonical form (JSON)"],
      ru_viewer: ["预览规则变更需要数据管理员或管理员角色 / a diff needs the steward or operator role",
        "A diff needs the steward or operator role"],
      ru_diff_title: ["预览规则变更 Rules diff (dry run)", "What new rules would change (dry run)"],
      ru_diff_hint: ["粘贴 YAML：配置文件的 rules: 部分或整个文件；不会改变任何数据。",
        "Paste YAML: a configuration's rules: section or a whole file. Nothing is changed."],
      ru_diff: ["预览 Diff", "Diff"],
      ru_fill: ["载入当前规则 Start from the rules in force", "Start from the rules in force"],
      ru_need_yaml: ["请粘贴规则 / paste the rules", "Paste the rules first"],
      ru_working: ["正在逐条重新判定… / deciding every stored record again…", "Deciding every stored record again…"],
      ru_report: ["预览结果 Report", "Report"],
      ru_proposed_hash: ["新规则哈希 Proposed hash", "Proposed hash"],
      ru_same: ["与当前相同 Same as in force", "Same as in force"],
      ru_yes: ["是 yes", "yes"],
      ru_no: ["否 no", "no"],
      ru_examined: ["检查记录 Examined", "Records examined"],
      ru_changed: ["将变更 Would change", "Would get a new version"],
      ru_rewritten: ["仅冲突/标记变化 Rewritten", "Conflicts or markers only"],
      ru_opened: ["新增冲突", "Conflicts opened"],
      ru_closed: ["关闭冲突", "Conflicts closed"],
      ru_fields: ["变更字段 Fields", "Changed fields"],
      ru_samples: ["样例 Samples", "Samples"],
      ru_prov_only: ["仅来源规则变化 provenance only", "provenance only"],
    },
  });
})();
