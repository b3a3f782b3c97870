// cpsync dashboard logic (vanilla JS, no build step, no external resources):
// polls GET /status every 2 s for links, platforms and throughput; lists dead
// letters (operator), the open conflict queue, a conflict's candidates, the
// resolve form (steward) and a record's history. Values arrive as Avro JSON:
// unions are unwrapped, decimals decoded with the scale of the schema.
"use strict";

(function () {
  // ---------------------------------------------------------------- i18n
  const TEXT = {
    title: ["数据交换同步", "Data-exchange sync"],
    token: ["令牌 Token", "Token"],
    save: ["保存", "Save"],
    clear: ["清除", "Clear"],
    tab_ops: ["运行监控 Operations", "Operations"],
    tab_steward: ["冲突处理 Conflicts", "Conflicts"],
    tab_record: ["记录查询 Records", "Records"],
    updated: ["更新于", "Updated"],
    platforms: ["平台新鲜度 Platform freshness", "Platform freshness"],
    links: ["链路 Links", "Links"],
    throughput: ["吞吐量 Throughput", "Throughput"],
    last60: ["最近 60 秒，条/秒 (records/s, last 60 s)", "records/s, last 60 s"],
    deadletters: ["死信 Dead letters", "Dead letters"],
    queue: ["待处理冲突 Open conflicts", "Open conflicts"],
    first: ["首页", "First"],
    next: ["下一页", "Next"],
    refresh: ["刷新", "Refresh"],
    pick: ["从左侧选择一个冲突 / pick a conflict", "Pick a conflict from the queue"],
    entity: ["实体 Entity", "Entity"],
    key: ["主键 Key", "Key"],
    show: ["查询", "Show"],
    name: ["名称", "Name"],
    platform: ["平台 Platform", "Platform"],
    direction: ["方向", "Direction"],
    type: ["类型", "Type"],
    state: ["状态 State", "State"],
    lag: ["积压 Lag", "Lag"],
    freshness: ["新鲜度 Freshness", "Freshness"],
    target: ["目标", "Target"],
    records: ["记录数", "Records"],
    errors: ["错误", "Errors"],
    dead: ["死信", "Dead letters"],
    last_success: ["最近成功", "Last success"],
    last_error: ["最近错误", "Last error"],
    per_min: ["每分钟", "Per minute"],
    fresh: ["新鲜", "fresh"],
    stale: ["滞后", "stale"],
    unknown: ["未知", "unknown"],
    field: ["字段 Field", "Field"],
    age: ["时长 Age", "Age"],
    status: ["状态", "Status"],
    id: ["编号", "ID"],
    received: ["接收时间", "Received"],
    origin: ["来源", "Origin"],
    reason: ["原因 Reason", "Reason"],
    size: ["大小", "Size"],
    rule: ["规则 Rule", "Rule"],
    candidates: ["各平台候选值 Candidates", "Candidates"],
    current: ["当前统一值 Unified value", "Current unified value"],
    value: ["值 Value", "Value"],
    effective: ["生效时间 Effective", "Effective time"],
    source_time: ["源时间 Source time", "Source time"],
    position: ["源位置 Position", "Source position"],
    take: ["采用此值 Take this value", "Take this value"],
    resolve: ["处理 Resolve", "Resolve"],
    act_take: ["采用平台值 Take a platform's value", "Take a platform's value"],
    act_enter: ["输入新值 Enter a value", "Enter a value"],
    act_dismiss: ["忽略 Dismiss", "Dismiss"],
    enter_hint: ["Avro JSON，例如 \"13800000000\" 或 null", "Avro JSON, e.g. \"13800000000\" or null"],
    reason_hint: ["必填：处理原因（将写入审计）", "required: why (goes to the audit trail)"],
    submit: ["提交处理 Submit", "Submit"],
    need_reason: ["请填写原因 / a reason is required", "A reason is required"],
    need_platform: ["请选择平台 / choose a platform", "Choose a platform"],
    bad_json: ["输入值不是合法 JSON / the value is not valid JSON", "The value is not valid JSON"],
    resolved: ["已处理，冲突已移出队列 / resolved, it left the queue", "Resolved: it left the queue"],
    record: ["统一记录 Unified record", "Unified record"],
    version: ["版本 Version", "Version"],
    provenance: ["来源 Provenance", "Provenance"],
    history: ["变更历史 History", "History"],
    changed: ["变更字段 Changed", "Changed fields"],
    committed: ["提交时间 Committed", "Committed"],
    op: ["操作", "Op"],
    masked: ["（已脱敏 masked）", "(masked)"],
    open_record: ["查看记录 Record", "Open record"],
    no_token: ["请输入令牌 / enter a token to see API data", "Enter a token to see API data"],
    bad_token: ["令牌无效 / the token was refused (401)", "The token was refused (401)"],
    need_operator: ["需要管理员角色 / needs the operator role", "Needs the operator role"],
    need_steward: ["需要数据管理员角色 / needs the steward role", "Needs the steward role"],
    forbidden: ["无权限 / not allowed for this role", "Not allowed for this role"],
    none: ["无", "none"],
    no_conflicts: ["没有待处理冲突 / no open conflicts", "No open conflicts"],
    no_dlq: ["没有死信 / no dead letters", "No dead letters"],
    unreachable: ["无法连接 cpsync / cpsync is unreachable", "cpsync is unreachable"],
    links_count: ["链路", "Links"],
    running: ["运行中", "running"],
    conflicts_open: ["待处理冲突", "Open conflicts"],
    oldest: ["最早冲突", "Oldest conflict"],
    store: ["存储 Store", "Store"],
    ok: ["正常", "ok"],
    down: ["异常", "down"],
    not_found: ["未找到 / not found", "Not found"],
    resolution: ["处理结果 Resolution", "Resolution"],
    claimed_by: ["认领人", "Claimed by"],
    opened: ["创建时间", "Opened"],
  };
  const STATE_TEXT = {
    RUNNING: ["运行中", "running", "ok"],
    STARTING: ["启动中", "starting", "warn"],
    PAUSED: ["已暂停", "paused", "idle"],
    RETRYING: ["重试中", "retrying", "warn"],
    DEGRADED: ["降级", "degraded", "warn"],
    FAILED: ["失败", "failed", "bad"],
    STOPPED: ["已停止", "stopped", "idle"],
    STANDBY: ["备用", "standby", "standby"],
  };
  let lang = sessionStorage.getItem("cpsync.lang") === "en" ? 1 : 0;
  const t = (k) => (TEXT[k] ? TEXT[k][lang] : k);

  // ---------------------------------------------------------------- DOM helpers
  const $ = (sel, root) => (root || document).querySelector(sel);
  function el(tag, attrs, ...kids) {
    const e = document.createElementNS(
      tag === "svg" || attrs && attrs.svg ? "http://www.w3.org/2000/svg" : "http://www.w3.org/1999/xhtml", tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (k === "svg" || v === undefined || v === null || v === false) continue;
      if (k === "class") e.setAttribute("class", v);
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v === true ? "" : v);
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.appendChild(typeof kid === "object" ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }
  const svg = (tag, attrs, ...kids) => el(tag, Object.assign({ svg: true }, attrs), ...kids);
  function fill(tbody, rows, cols, emptyKey) {
    tbody.replaceChildren();
    if (!rows.length) tbody.appendChild(el("tr", { class: "empty" }, el("td", { colspan: cols }, t(emptyKey || "none"))));
    for (const r of rows) tbody.appendChild(r);
  }
  // a scrolling grid table of its own: head keys as head(), rows as fill()
  function grid(id, keys, rows, cols, emptyKey) {
    const table = el("table", { class: "grid", id }, el("thead"), el("tbody"));
    head(table, keys);
    fill(table.tBodies[0], rows, cols, emptyKey);
    return el("div", { class: "scroll" }, table);
  }
  function head(table, keys) {
    // "#key": a number column; "key?": hidden in a narrow window (.opt)
    table.tHead.replaceChildren(el("tr", null, keys.map((k) => {
      const opt = k.endsWith("?");
      if (opt) k = k.slice(0, -1);
      const num = k.startsWith("#");
      const cls = [num ? "num" : "", opt ? "opt" : ""].join(" ").trim();
      return el("th", { class: cls || null }, t(num ? k.slice(1) : k));
    })));
  }
  const num = (v) => el("td", { class: "num" }, v === null || v === undefined ? "—" : String(v));
  function stateBadge(s) {
    const m = STATE_TEXT[s] || [s, String(s).toLowerCase(), "warn"];
    return el("span", { class: "state " + m[2], "data-state": s, title: s }, lang ? m[1] : m[0] + " " + m[1]);
  }
  function fmtAge(s) {
    if (s === null || s === undefined) return "—";
    if (s < 60) return s + " s";
    if (s < 3600) return Math.floor(s / 60) + " min" + (s % 60 ? " " + (s % 60) + " s" : "");
    if (s < 86400) return Math.floor(s / 3600) + " h " + Math.floor((s % 3600) / 60) + " min";
    if (s < 86400 * 10) return Math.floor(s / 86400) + " d " + Math.floor((s % 86400) / 3600) + " h";
    return Math.floor(s / 86400) + " d";
  }
  function fmtTime(v) {
    if (v === null || v === undefined || v === "") return "—";
    const d = typeof v === "number" ? new Date(v) : new Date(v);
    if (isNaN(d)) return String(v);
    const p = (n) => String(n).padStart(2, "0");
    return d.getFullYear() + "-" + p(d.getMonth() + 1) + "-" + p(d.getDate()) + " " +
      p(d.getHours()) + ":" + p(d.getMinutes()) + ":" + p(d.getSeconds());
  }

  // ---------------------------------------------------------------- Avro values
  // field name -> {logicalType, scale} per entity, from the embedded schemas
  const schemaInfo = {};
  async function loadSchema(entity) {
    if (schemaInfo[entity] || !/^[a-z_]+$/.test(entity)) return schemaInfo[entity] || {};
    schemaInfo[entity] = {};
    try {
      const r = await fetch("/assets/" + entity + ".avsc");
      if (r.ok) walkSchema(await r.json(), schemaInfo[entity], "");
    } catch (e) { /* no schema: values stay raw */ }
    return schemaInfo[entity];
  }
  function walkSchema(s, out, field) {
    if (Array.isArray(s)) { s.forEach((b) => walkSchema(b, out, field)); return; }
    if (!s || typeof s !== "object") return;
    if (s.logicalType && field && !out[field]) out[field] = { logicalType: s.logicalType, scale: s.scale || 0 };
    if (s.type === "record" && Array.isArray(s.fields)) {
      for (const f of s.fields) walkSchema(f.type, out, field ? field + "." + f.name : f.name);
      return;
    }
    if (s.type === "array") walkSchema(s.items, out, field + "[]");
    else if (s.type === "map") walkSchema(s.values, out, field + "{}");
    else if (typeof s.type === "object") walkSchema(s.type, out, field);
  }
  const PRIMS = new Set(["null", "boolean", "int", "long", "float", "double", "bytes", "string"]);
  // {"string": "x"} -> "x"; {"cpsync.Platform": "CITY"} -> "CITY"
  function unwrap(v) {
    if (v && typeof v === "object" && !Array.isArray(v)) {
      const ks = Object.keys(v);
      if (ks.length === 1 && (PRIMS.has(ks[0]) || /^[A-Za-z_][\w]*(\.[A-Za-z_][\w]*)+$/.test(ks[0]) ||
        /^[A-Z]\w*$/.test(ks[0]))) return unwrap(v[ks[0]]);
    }
    return v;
  }
  // bytes as an Avro JSON string (one char per byte), big-endian two's complement
  function decodeDecimal(s, scale) {
    if (typeof s !== "string") return null;
    let n = 0n;
    for (let i = 0; i < s.length; i++) {
      const c = s.charCodeAt(i);
      if (c > 255) return null;
      n = (n << 8n) | BigInt(c);
    }
    if (s.length && s.charCodeAt(0) & 0x80) n -= 1n << BigInt(8 * s.length);
    const neg = n < 0n;
    let digits = (neg ? -n : n).toString();
    if (scale > 0) {
      digits = digits.padStart(scale + 1, "0");
      digits = digits.slice(0, -scale) + "." + digits.slice(-scale);
    }
    return (neg ? "-" : "") + digits;
  }
  // a human-readable string of one Avro JSON value of `field` (may be nested)
  function show(v, info, field) {
    v = unwrap(v);
    const li = info && field ? info[field] : null;
    if (v === null || v === undefined) return "∅";
    if (li && li.logicalType === "decimal") {
      const d = decodeDecimal(v, li.scale);
      if (d !== null) return d;
    }
    if (li && li.logicalType === "date" && typeof v === "number") {
      return new Date(v * 86400000).toISOString().slice(0, 10);
    }
    if (li && /^timestamp-m/.test(li.logicalType) && typeof v === "number") {
      return fmtTime(li.logicalType === "timestamp-micros" ? v / 1000 : v);
    }
    if (typeof v === "boolean") return v ? "是 true" : "否 false";
    if (typeof v === "string") {
      if (/[\u0000-\u0008\u000e-\u001f\u007f-\u00ff]/.test(v) && !/[^\u0000-\u00ff]/.test(v)) {
        return "0x" + Array.from(v, (c) => c.charCodeAt(0).toString(16).padStart(2, "0")).join("");
      }
      return v;
    }
    if (Array.isArray(v)) return "[" + v.map((x) => show(x, info, field + "[]")).join(", ") + "]";
    if (typeof v === "object") {
      return "{" + Object.entries(v).map(([k, x]) => k + ": " + show(x, info, field ? field + "." + k : k)).join(", ") + "}";
    }
    return String(v);
  }
  // brief: platform, rule, steward and reason only (times and position left out)
  function provText(p, brief) {
    if (!p || typeof p !== "object") return "—";
    const parts = [];
    const pf = unwrap(p.platform);
    if (pf) parts.push(String(pf).toLowerCase());
    if (p.rule) parts.push(t("rule").split(" ")[0] + ": " + p.rule);
    const st = unwrap(p.steward);
    if (st) parts.push("steward " + st);
    const reason = unwrap(p.reason);
    if (reason) parts.push("“" + reason + "”");
    const eff = unwrap(p.effective_time !== undefined ? p.effective_time : p.eff);
    if (eff && !brief) parts.push(fmtTime(eff));
    const pos = unwrap(p.source_position !== undefined ? p.source_position : p.pos);
    if (pos && !brief) parts.push(pos);
    return parts.join(" · ") || "—";
  }

  // ---------------------------------------------------------------- API
  let token = sessionStorage.getItem("cpsync.token") || "";
  class ApiError extends Error {
    constructor(status, message) { super(message); this.status = status; }
  }
  async function api(method, path, body) {
    const headers = {};
    if (token) headers.Authorization = "Bearer " + token;
    // a string body is sent as it is, as YAML (rules); anything else as JSON
    if (body !== undefined) headers["Content-Type"] = typeof body === "string" ? "application/yaml" : "application/json";
    let r;
    try {
      r = await fetch(path, { method, headers, cache: "no-store",
        body: body === undefined ? undefined : typeof body === "string" ? body : JSON.stringify(body) });
    } catch (e) {
      throw new ApiError(0, t("unreachable"));
    }
    let doc = null;
    try { doc = await r.json(); } catch (e) { doc = null; }
    if (!r.ok) {
      const msg = doc && doc.error && doc.error.message ? doc.error.message : "HTTP " + r.status;
      throw new ApiError(r.status, msg);
    }
    return doc;
  }
  // the note shown instead of data the token may not see
  function accessNote(e, role) {
    if (!token) return t("no_token");
    if (e.status === 401) return t("bad_token");
    if (e.status === 403) return t(role === "operator" ? "need_operator" : role === "steward" ? "need_steward" : "forbidden");
    return e.message;
  }
  // GET `path` for a view every role reads: the document, or null once
  // `msg` says why not (no token, no access, an error) and `clear()` ran
  async function viewGet(msg, path, clear) {
    if (!token) { note(msg, t("no_token")); clear(); return null; }
    try {
      const doc = await api("GET", path);
      note(msg, "");
      return doc;
    } catch (e) {
      note(msg, accessNote(e, "viewer"), "bad");
      clear();
      return null;
    }
  }
  function note(box, text, kind) {
    box.hidden = !text;
    box.className = "note" + (kind ? " " + kind : "");
    box.textContent = text || "";
  }
  function banner(text, kind) {
    const b = $("#banner");
    b.hidden = !text;
    b.className = "banner" + (kind ? " " + kind : "");
    b.textContent = text || "";
  }

  // ---------------------------------------------------------------- operations
  let lastStatus = null;
  const history = new Map(); // link name -> [{t, records}] when /status has no series
  const COLORS = ["#1f5fbf", "#d9822b", "#2e9e5b", "#a83fb0", "#c23b3b", "#3a8fa8", "#7a6c1e", "#555"];

  async function pollStatus() {
    const b = $("#banner");
    try {
      const st = await api("GET", "/status");
      lastStatus = st;
      renderStatus(st);
      $("#updated").textContent = fmtTime(Date.now());
      if (b.dataset.kind) { banner(""); b.dataset.kind = ""; }
    } catch (e) {
      // /status needs a token of any role; without one the page says so
      banner(e.status ? accessNote(e, "viewer") : t("unreachable"), e.status === 401 ? "" : "bad");
      b.dataset.kind = "status";
    }
  }

  function renderStatus(st) {
    $("#instance").textContent = st.instance ? st.instance + " · v" + st.version : "";
    const links = st.links || [];
    const platforms = st.platforms || [];
    const targets = {};
    for (const p of platforms) targets[p.name] = p.freshness_target_s;
    const running = links.filter((l) => l.state === "RUNNING").length;
    const conf = st.conflicts || {};
    const store = st.store || {};
    const card = (label, value, cls) => el("div", { class: "card" }, el("div", { class: "label" }, label),
      el("div", { class: "value " + (cls || "") }, value));
    $("#summary").replaceChildren(
      card(t("links_count") + " " + t("running"), running + " / " + links.length),
      card(t("conflicts_open"), conf.open === undefined || conf.open === null ? "—" : String(conf.open)),
      card(t("oldest"), fmtAge(conf.oldest_age_s)),
      card(t("store"), el("span", { class: "state " + (store.ok ? "ok" : "bad") }, store.ok ? t("ok") : t("down"))));

    head($("#platforms"), ["platform", "freshness", "target", "#per_min", "#errors", "#dead", "last_error"]);
    fill($("#platforms").tBodies[0], platforms.map((p) => el("tr", { "data-platform": p.name },
      el("td", null, el("b", null, p.name)),
      el("td", null, el("span", { class: "state " + (p.freshness_s === null ? "idle" : p.fresh ? "ok" : "bad") },
        (p.freshness_s === null ? t("unknown") : (p.fresh ? t("fresh") : t("stale")) + " " + fmtAge(p.freshness_s)))),
      el("td", null, p.freshness_target_s === null ? "—" : fmtAge(p.freshness_target_s)),
      num(p.throughput_per_min), num(p.errors), num(p.dead_letters),
      el("td", { class: "err" }, p.last_error || ""))), 7);

    head($("#links"), ["name", "platform", "direction?", "state", "#lag", "freshness", "#records", "#per_min?",
      "#errors", "#dead", "last_success", "last_error"]);
    fill($("#links").tBodies[0], links.map((l) => {
      const target = targets[l.platform];
      const fr = l.freshness_s === null || l.freshness_s === undefined ? "—" :
        fmtAge(l.freshness_s) + (target !== null && target !== undefined ? " / " + fmtAge(target) : "");
      const stale = target !== null && target !== undefined && l.freshness_s > target;
      return el("tr", { "data-link": l.name },
        el("td", { class: "nowrap" }, el("b", null, l.name)),
        el("td", null, l.platform),
        el("td", { class: "opt nowrap" }, l.direction + (l.type ? " · " + l.type : "")),
        el("td", null, stateBadge(l.state)),
        num(l.lag), el("td", { class: "nowrap" + (stale ? " err" : "") }, fr),
        num(l.records), el("td", { class: "num opt" }, String(l.throughput_per_min === undefined ? "—" : l.throughput_per_min)),
        num(l.errors), num(l.dead_letters),
        el("td", { class: "nowrap" }, fmtTime(l.last_success)),
        el("td", { class: "err" }, l.last_error || ""));
    }), 12);
    renderChart(links);
  }

  // per-link series (60 per-second counts) when /status has them; else the
  // page's own history of record counts, one point per poll
  function renderChart(links) {
    const now = Date.now();
    const series = [];
    for (const l of links) {
      let pts;
      if (Array.isArray(l.series) && l.series.length) {
        pts = l.series.map((v, i) => [i - l.series.length + 1, v]);
      } else {
        const h = history.get(l.name) || [];
        h.push({ t: now, records: l.records || 0 });
        while (h.length && now - h[0].t > 62000) h.shift();
        history.set(l.name, h);
        pts = [];
        for (let i = 1; i < h.length; i++) {
          const dt = (h[i].t - h[i - 1].t) / 1000;
          pts.push([(h[i].t - now) / 1000, dt > 0 ? Math.max(0, (h[i].records - h[i - 1].records) / dt) : 0]);
        }
      }
      series.push({ name: l.name, pts });
    }
    const W = 1000, H = 180, L = 44, B = 22, T = 8;
    let max = 1;
    for (const s of series) for (const p of s.pts) max = Math.max(max, p[1]);
    max = niceCeil(max);
    const x = (sec) => L + ((sec + 59) / 59) * (W - L - 6);
    const y = (v) => T + (1 - v / max) * (H - T - B);
    const g = svg("svg", { viewBox: "0 0 " + W + " " + H, preserveAspectRatio: "none", role: "img", "aria-label": t("throughput") });
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      g.appendChild(svg("line", { x1: L, x2: W - 6, y1: y(v), y2: y(v), stroke: "#e3e6eb", "stroke-width": 1 }));
      g.appendChild(svg("text", { x: L - 6, y: y(v) + 4, "text-anchor": "end", "font-size": 11, fill: "#687385" },
        String(Math.round(v * 10) / 10)));
    }
    for (const sec of [-60, -45, -30, -15, 0]) {
      const s = Math.max(sec, -59);
      g.appendChild(svg("text", { x: x(s), y: H - 6, "text-anchor": sec === 0 ? "end" : "middle", "font-size": 11, fill: "#687385" },
        sec === 0 ? "now" : sec + " s"));
    }
    const legend = el("div", { class: "legend" });
    series.forEach((s, i) => {
      const color = COLORS[i % COLORS.length];
      if (s.pts.length) {
        const d = s.pts.filter((p) => p[0] >= -59).map((p, j) => (j ? "L" : "M") + x(p[0]).toFixed(1) + " " + y(p[1]).toFixed(1)).join(" ");
        if (d) g.appendChild(svg("path", { d, fill: "none", stroke: color, "stroke-width": 2, "vector-effect": "non-scaling-stroke", "data-link": s.name }));
      }
      const total = s.pts.reduce((a, p) => a + p[1], 0);
      legend.appendChild(el("span", null, el("i", { class: "sw" + i }), s.name + " (" + Math.round(total) + ")"));
    });
    $("#chart").replaceChildren(g, legend);
    // swatch colours as SVG too (no inline style: CSP style-src 'self')
    legend.querySelectorAll("i").forEach((i, n) => {
      const sw = svg("svg", { width: 12, height: 4, viewBox: "0 0 12 4" }, svg("rect", { width: 12, height: 4, fill: COLORS[n % COLORS.length] }));
      i.replaceWith(sw);
      sw.setAttribute("class", "swatch");
    });
  }
  function niceCeil(v) {
    const p = Math.pow(10, Math.floor(Math.log10(v)));
    for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
    return 10 * p;
  }

  async function loadDeadLetters() {
    const tb = $("#dlq").tBodies[0];
    head($("#dlq"), ["id", "received", "platform", "origin", "entity", "reason", "status", "#size"]);
    if (!token) { note($("#dlq-msg"), t("no_token")); fill(tb, [], 8); return; }
    try {
      const doc = await api("GET", "/api/v1/deadletters?limit=20");
      note($("#dlq-msg"), "");
      fill(tb, doc.items.map((d) => el("tr", { "data-dlq": d.id, onclick: () => inspectDeadLetter(d.id) },
        num(d.id), el("td", { class: "nowrap" }, fmtTime(d.received_at)), el("td", null, d.platform || "—"),
        el("td", { class: "mono" }, d.origin || "—"), el("td", null, d.entity || "—"),
        el("td", { class: "err" }, d.reason || ""), el("td", null, d.status), num(d.size))), 8, "no_dlq");
    } catch (e) {
      note($("#dlq-msg"), accessNote(e, "operator"), e.status === 403 ? "" : "bad");
      fill(tb, [], 8);
    }
  }

  // one dead letter in full: operators only; a click is the explicit inspect
  // of its raw bytes (GET .../raw), which cpsync audits
  async function inspectDeadLetter(id) {
    const box = $("#dlq-detail");
    let d;
    try {
      d = await api("GET", "/api/v1/deadletters/" + encodeURIComponent(id) + "/raw");
    } catch (e) {
      box.replaceChildren(el("div", { class: "note" }, accessNote(e, "operator")));
      return;
    }
    const raw = typeof d.raw === "string" ? d.raw : "";
    box.replaceChildren(el("dl", { class: "kv" },
      ["id", "received", "platform", "origin", "entity", "key", "reason", "status", "size"].map((k) => {
        const v = { received: fmtTime(d.received_at) }[k] || d[k];
        return [el("dt", null, t(k)), el("dd", { class: k === "reason" ? "err" : null }, v === null || v === undefined ? "—" : String(v))];
      }).flat(),
      el("dt", null, "raw (base64, audited)"),
      el("dd", { class: "mono" }, raw.length > 400 ? raw.slice(0, 400) + "… (" + raw.length + ")" : raw)));
  }

  // ---------------------------------------------------------------- conflicts
  let cursor = null, nextCursor = null, selected = null;

  async function loadQueue() {
    const tb = $("#conflicts").tBodies[0];
    head($("#conflicts"), ["id", "entity", "field", "key", "platform", "age"]);
    if (!token) { note($("#queue-msg"), t("no_token")); fill(tb, [], 6); return; }
    try {
      const q = "/api/v1/conflicts?status=open&limit=15" + (cursor ? "&cursor=" + encodeURIComponent(cursor) : "");
      const doc = await api("GET", q);
      note($("#queue-msg"), "");
      nextCursor = doc.next_cursor;
      $("#q-next").disabled = !nextCursor;
      $("#q-first").disabled = !cursor;
      if (lastStatus && lastStatus.conflicts && lastStatus.conflicts.open !== undefined) {
        $("#queue-count").textContent = "(" + lastStatus.conflicts.open + ")";
      }
      fill(tb, doc.items.map((c) => el("tr", {
        "data-conflict": c.id, class: selected === c.id ? "selected" : null,
        onclick: () => openConflict(c.id),
      }, num(c.id), el("td", null, c.entity), el("td", null, el("b", null, c.field)),
      el("td", { class: "mono" }, c.key), el("td", null, (c.platforms || []).join(", ")),
      el("td", { class: "nowrap" }, fmtAge(c.age_s)))), 6, "no_conflicts");
    } catch (e) {
      note($("#queue-msg"), accessNote(e, "steward"), e.status === 403 ? "" : "bad");
      fill(tb, [], 6);
    }
  }

  async function openConflict(id) {
    selected = id;
    document.querySelectorAll("#conflicts tr.selected").forEach((r) => r.classList.remove("selected"));
    const row = document.querySelector('#conflicts tr[data-conflict="' + id + '"]');
    if (row) row.classList.add("selected");
    const box = $("#conflict");
    let c;
    try {
      c = await api("GET", "/api/v1/conflicts/" + encodeURIComponent(id));
    } catch (e) {
      box.replaceChildren(el("div", { class: "note bad" }, accessNote(e, "steward")));
      return;
    }
    const info = await loadSchema(c.entity);
    const cur = c.current || {};
    const curVal = "value" in cur ? show(cur.value, info, c.field) : "∅";
    let chosen = null;
    const cards = (c.candidates || []).map((cand) => {
      const v = show(cand.value, info, c.field);
      return el("div", { class: "cand" + (v === curVal ? " current" : ""), "data-platform": cand.platform },
        el("div", { class: "pf" }, cand.platform),
        el("div", { class: "val mono", "data-value": "" }, v),
        el("dl", null,
          el("dt", null, t("effective")), el("dd", null, fmtTime(cand.effective_ms)),
          el("dt", null, t("source_time")), el("dd", null, fmtTime(cand.source_ms)),
          el("dt", null, t("position")), el("dd", { class: "mono" }, cand.position || "—")),
        c.status === "open" || c.status === "claimed" ?
          el("button", { type: "button", class: "secondary take", onclick: () => {
            chosen = cand.platform;
            $("#act-take").checked = true;
            $("#take-platform").value = cand.platform;
            $("#reason").focus();
          } }, t("take")) : null);
    });
    const closed = !(c.status === "open" || c.status === "claimed");
    const form = closed ? null : el("form", { class: "resolve", id: "resolve-form", novalidate: true },
      el("h3", null, t("resolve")),
      el("div", { class: "row" },
        el("label", null, el("input", { type: "radio", name: "action", value: "take_platform", id: "act-take", checked: true }), " ", t("act_take")),
        el("select", { id: "take-platform" }, (c.candidates || []).map((x) => el("option", { value: x.platform }, x.platform)))),
      el("div", { class: "row" },
        el("label", null, el("input", { type: "radio", name: "action", value: "enter_value", id: "act-enter" }), " ", t("act_enter")),
        el("input", { id: "enter-value", class: "mono", size: 30, placeholder: t("enter_hint") })),
      el("div", { class: "row" },
        el("label", null, el("input", { type: "radio", name: "action", value: "dismiss", id: "act-dismiss" }), " ", t("act_dismiss"))),
      el("label", { for: "reason" }, t("reason")),
      el("textarea", { id: "reason", "aria-required": "true", placeholder: t("reason_hint"), maxlength: 500 }),
      el("div", { class: "row" }, el("button", { type: "submit", id: "resolve-submit" }, t("submit")),
        el("span", { id: "resolve-msg", class: "err" })));
    if (chosen === null && c.candidates && c.candidates.length) chosen = c.candidates[0].platform;
    box.replaceChildren(...[
      el("h2", null, "#" + c.id + " " + c.entity + "." + c.field + " ", stateBadgeConflict(c.status)),
      el("dl", null,
        el("dt", null, t("key")), el("dd", { class: "mono" }, c.key),
        el("dt", null, t("rule")), el("dd", null, c.rule || "—"),
        el("dt", null, t("opened")), el("dd", null, fmtTime(c.opened_at) + " (" + fmtAge(c.age_s) + ")"),
        c.claimed_by ? el("dt", null, t("claimed_by")) : null, c.claimed_by ? el("dd", null, c.claimed_by) : null),
      el("h3", null, t("current")),
      el("dl", null,
        el("dt", null, t("value")), el("dd", { class: "mono", id: "current-value" }, curVal),
        el("dt", null, t("provenance")), el("dd", null, provText(cur.provenance)),
        el("dt", null, t("version")), el("dd", null, cur.record_version === undefined ? "—" : String(cur.record_version))),
      el("h3", null, t("candidates")),
      el("div", { class: "candidates" }, cards),
      c.resolution ? el("div", null, el("h3", null, t("resolution")), el("p", null,
        c.resolution.action + (c.resolution.platform ? " " + c.resolution.platform : "") + " · " +
        (c.resolution.by || "") + " · " + fmtTime(c.resolution.at) + " · “" + (c.resolution.reason || "") + "”")) : null,
      form,
      el("p", null, el("button", { type: "button", class: "secondary", onclick: () => showRecord(c.entity, c.key) }, t("open_record"))),
    ].filter((x) => x)); // replaceChildren would turn null into "null"
    if (form) form.addEventListener("submit", (ev) => { ev.preventDefault(); submitResolve(c); });
  }
  function stateBadgeConflict(s) {
    const cls = s === "open" ? "warn" : s === "claimed" ? "warn" : s === "resolved" ? "ok" : "idle";
    return el("span", { class: "state " + cls, "data-status": s }, s);
  }

  async function submitResolve(c) {
    const msg = $("#resolve-msg");
    const reason = $("#reason").value.trim();
    const action = document.querySelector('#resolve-form input[name="action"]:checked').value;
    const body = { action, reason };
    msg.textContent = "";
    if (!reason) { msg.textContent = t("need_reason"); $("#reason").focus(); return; }
    if (action === "take_platform") {
      body.platform = $("#take-platform").value;
      if (!body.platform) { msg.textContent = t("need_platform"); return; }
    } else if (action === "enter_value") {
      try { body.value = JSON.parse($("#enter-value").value); } catch (e) { msg.textContent = t("bad_json"); return; }
    }
    $("#resolve-submit").disabled = true;
    try {
      await api("POST", "/api/v1/conflicts/" + encodeURIComponent(c.id) + "/resolve", body);
    } catch (e) {
      msg.textContent = e.status === 403 || e.status === 401 ? accessNote(e, "steward") : e.message;
      $("#resolve-submit").disabled = false;
      return;
    }
    banner(t("resolved") + " (#" + c.id + ")", "ok");
    const shown = $("#banner").textContent;
    setTimeout(() => { if ($("#banner").textContent === shown) banner(""); }, 15000);
    selected = null;
    await loadQueue();
    await showRecord(c.entity, c.key, c.field);
  }

  // ---------------------------------------------------------------- records
  async function showRecord(entity, key, highlight) {
    switchTab("record");
    $("#r-entity").value = entity;
    $("#r-key").value = key;
    const box = $("#record");
    if (!token) { box.replaceChildren(el("div", { class: "note" }, t("no_token"))); return; }
    let r;
    try {
      r = await api("GET", "/api/v1/records/" + encodeURIComponent(entity) + "/" + encodeURIComponent(key) + "?history_limit=20");
    } catch (e) {
      box.replaceChildren(el("div", { class: "note bad" }, e.status === 404 ? t("not_found") : accessNote(e, "viewer")));
      return;
    }
    const info = await loadSchema(entity);
    const rec = r.record || {};
    const prov = r.provenance || {};
    const pfs = r.platforms || {};
    const pfNames = Object.keys(pfs);
    const fieldRows = Object.keys(rec).map((f) => el("tr", { "data-field": f, class: highlight === f ? "chg" : null },
      el("td", null, el("b", null, f)), el("td", { class: "mono", "data-value": "" }, show(rec[f], info, f)),
      el("td", { title: provText(prov[f]) }, provText(prov[f], true)),
      pfNames.map((p) => {
        const fv = pfs[p] && pfs[p].fields ? pfs[p].fields[f] : undefined;
        return el("td", { class: "mono" }, fv === undefined ? "" : show(fv && "v" in fv ? fv.v : fv, info, f));
      })));
    const ft = el("table", { class: "grid", id: "record-fields" },
      el("thead", null, el("tr", null, el("th", null, t("field")), el("th", null, t("value")), el("th", null, t("provenance")),
        pfNames.map((p) => el("th", null, p)))),
      el("tbody", null, fieldRows));
    const hist = (r.history || []).map((h) => el("tr", { "data-version": h.version },
      num(h.version), el("td", null, h.op), el("td", { class: "nowrap" }, fmtTime(h.committed_at)),
      el("td", null, (h.changed_fields || []).map((f) => f + " = " + show(h.record ? h.record[f] : null, info, f) +
        (h.provenance && h.provenance[f] ? " (" + provText(h.provenance[f], true) + ")" : "")).join("; "))));
    box.replaceChildren(
      el("h2", null, t("record") + " " + r.entity + " ", el("span", { class: "mono" }, r.key), r.masked ? " " + t("masked") : ""),
      el("dl", { class: "kv" }, el("dt", null, t("version")), el("dd", { id: "record-version" }, String(r.version)),
        el("dt", null, t("updated")), el("dd", null, fmtTime(r.updated_at))),
      el("div", { class: "scroll" }, ft),
      el("h3", null, t("history")),
      el("table", { class: "grid", id: "record-history" },
        el("thead", null, el("tr", null, el("th", { class: "num" }, t("version")), el("th", null, t("op")),
          el("th", null, t("committed")), el("th", null, t("changed")))),
        el("tbody", null, hist)));
  }

  // ---------------------------------------------------------------- views
  // findings.js, sweeps.js and rules.js: each registers a tab of its own name
  // with its labels, a load() run when the tab opens or the token or
  // language changes, and its listeners ({element id: {event: handler}},
  // bound once the page is loaded); they reach the page's helpers through
  // window.cpsync.
  const views = {};
  let roleCache = null;
  // The token's role, as the page can know it: by what the API lets it do
  // (conflicts are a steward's, the audit trail a steward's or an operator's).
  async function role() {
    if (!token) return null;
    if (roleCache && roleCache.token === token) return roleCache.role;
    const can = (p) => api("GET", p).then(() => true, (e) => (e.status === 401 || e.status === 403 ? false : null));
    let r = (await can("/api/v1/conflicts?limit=1")) ? "steward" : (await can("/api/v1/audit?limit=1")) ? "operator" : "viewer";
    if (r === "viewer" && (await can("/api/v1/findings?limit=1")) === false) r = null; // the token was refused
    roleCache = { token, role: r };
    return r;
  }
  window.cpsync = {
    el, t, api, viewGet, head, fill, grid, num, note, banner, accessNote, fmtTime, fmtAge, show, loadSchema, showRecord, role,
    lang: () => lang,
    token: () => token,
    view(name, v) {
      views[name] = v;
      Object.assign(TEXT, v.text || {});
      document.addEventListener("DOMContentLoaded", () => {
        for (const [id, events] of Object.entries(v.on || {}))
          for (const [type, handler] of Object.entries(events)) document.getElementById(id).addEventListener(type, handler);
      });
    },
  };

  // ---------------------------------------------------------------- page
  function switchTab(name) {
    if (!$("#tab-" + name)) name = "ops";
    document.querySelectorAll(".tab").forEach((b) => b.classList.toggle("active", b.dataset.tab === name));
    for (const s of ["ops", "steward", "record", ...Object.keys(views)]) $("#tab-" + s).hidden = s !== name;
    sessionStorage.setItem("cpsync.tab", name);
    if (name === "steward") loadQueue();
    if (name === "ops") loadDeadLetters();
    if (views[name]) views[name].load();
  }
  function applyLang() {
    document.documentElement.lang = lang ? "en" : "zh-CN";
    document.querySelectorAll("[data-i18n]").forEach((e) => { e.textContent = t(e.dataset.i18n); });
    $("#lang").textContent = lang ? "中文" : "EN";
    $("#token").placeholder = lang ? "bearer token" : "访问令牌 bearer token";
  }
  function refreshAll() {
    pollStatus();
    loadDeadLetters();
    loadQueue();
    if (selected) openConflict(selected);
    const tab = sessionStorage.getItem("cpsync.tab");
    if (views[tab]) views[tab].load();
  }

  document.addEventListener("DOMContentLoaded", () => {
    applyLang();
    $("#token").value = token;
    $("#token-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      token = $("#token").value.trim();
      sessionStorage.setItem("cpsync.token", token);
      banner("");
      cursor = null;
      refreshAll();
    });
    $("#token-clear").addEventListener("click", () => {
      token = "";
      $("#token").value = "";
      sessionStorage.removeItem("cpsync.token");
      refreshAll();
    });
    $("#lang").addEventListener("click", () => {
      lang = 1 - lang;
      sessionStorage.setItem("cpsync.lang", lang ? "en" : "zh");
      applyLang();
      refreshAll();
    });
    document.querySelectorAll(".tab").forEach((b) => b.addEventListener("click", () => switchTab(b.dataset.tab)));
    $("#q-next").addEventListener("click", () => { if (nextCursor) { cursor = nextCursor; loadQueue(); } });
    $("#q-first").addEventListener("click", () => { cursor = null; loadQueue(); });
    $("#q-refresh").addEventListener("click", () => loadQueue());
    $("#record-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      const k = $("#r-key").value.trim();
      if (k) showRecord($("#r-entity").value, k);
    });
    switchTab(sessionStorage.getItem("cpsync.tab") || "ops");
    pollStatus();
    setInterval(pollStatus, 2000);
    setInterval(() => { if (!$("#tab-ops").hidden) loadDeadLetters(); }, 10000);
  });
})();
