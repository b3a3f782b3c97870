// browser.dashboard, the browser half: drives Debian's /usr/bin/chromium
// (playwright-core, fresh profile) through the dashboard of a running cpsync
// seeded by run_dashboard.py: headers, every link with its state, role
// limits (viewer 403), dead letters (operator), a conflict's candidates,
// resolve with a reason, the queue and the unified record after it, the
// policy findings (grouped, filtered by check), the rules in force and a
// diff (steward; none for a viewer), a sweep run from the page (operator's
// button only) with its counts and differences, EN/中文, 900px width.
// Saves PNG screenshots into CPS_OUT; prints "RESULT {json}".
"use strict";

const fs = require("fs");
const os = require("os");
const path = require("path");
const { chromium } = require("playwright-core");

const URL_ = process.env.CPS_URL;
const TOK = {
  steward: process.env.CPS_STEWARD_TOKEN,
  operator: process.env.CPS_OPERATOR_TOKEN,
  viewer: process.env.CPS_VIEWER_TOKEN,
};
const LINKS = JSON.parse(process.env.CPS_LINKS || "[]");
const UNKNOWN_KEY = process.env.CPS_UNKNOWN_KEY;
const OUT = process.env.CPS_OUT;
const failures = [];
const shots = [];
let shot = null; // (page, file name, full page): a PNG into CPS_OUT, set in main()

function check(cond, msg) {
  if (!cond) {
    failures.push(msg);
    console.log("browser.dashboard: FAIL: " + msg);
  }
}
const log = (m) => console.log("browser.dashboard: " + m);

async function apiGet(p, token) {
  const r = await fetch(new URL(p, URL_), { headers: token ? { Authorization: "Bearer " + token } : {} });
  return { status: r.status, doc: await r.json().catch(() => null), headers: r.headers };
}
const unwrap = (v) => (v && typeof v === "object" && !Array.isArray(v) && Object.keys(v).length === 1
  ? Object.values(v)[0] : v);

async function checkHeaders() {
  const r = await fetch(URL_);
  const body = await r.text();
  check(r.status === 200, "GET / answered " + r.status);
  check(/^text\/html/.test(r.headers.get("content-type") || ""), "GET / content-type " + r.headers.get("content-type"));
  check(/default-src 'self'/.test(r.headers.get("content-security-policy") || ""), "CSP: " + r.headers.get("content-security-policy"));
  check(r.headers.get("x-content-type-options") === "nosniff", "X-Content-Type-Options");
  check(r.headers.get("x-frame-options") === "DENY", "X-Frame-Options");
  check(!/https?:\/\//.test(body.replace(/http:\/\/www\.w3\.org\/[0-9]+\/(svg|xhtml)/g, "")), "the page names an external resource");
  const etag = r.headers.get("etag");
  check(!!etag && r.headers.get("cache-control") === "no-cache", "ETag/Cache-Control on /");
  const again = await fetch(URL_, { headers: { "If-None-Match": etag } });
  check(again.status === 304, "If-None-Match on / answered " + again.status);
  for (const [name, type] of [["app.js", "text/javascript"], ["style.css", "text/css"], ["person.avsc", "application/json"]]) {
    const a = await fetch(new URL("/assets/" + name, URL_));
    const text = await a.text();
    check(a.status === 200 && (a.headers.get("content-type") || "").startsWith(type),
      "/assets/" + name + ": " + a.status + " " + a.headers.get("content-type"));
    if (name !== "person.avsc") check(!/https?:\/\/(?!www\.w3\.org\/)/.test(text), name + " names an external resource");
  }
  const missing = await fetch(new URL("/assets/nope.js", URL_));
  check(missing.status === 404, "/assets/nope.js answered " + missing.status);
}

async function setToken(page, token) {
  await page.fill("#token", token);
  await page.click("#token-save");
}
async function apiPost(p, token, body, type) {
  const r = await fetch(new URL(p, URL_), { method: "POST", body,
    headers: { Authorization: "Bearer " + token, "Content-Type": type || "application/json" } });
  return { status: r.status, doc: await r.json().catch(() => null) };
}
const texts = (page, sel) => page.locator(sel).evaluateAll((es) => es.map((e) => e.textContent.trim()));

// the findings view (steward): every open finding of the API, grouped by
// check code with its key, fields and rule text; a check code filters
async function checkFindings(page) {
  const api = await apiGet("/api/v1/findings?status=open&limit=100", TOK.steward);
  check(api.status === 200 && api.doc.items.length >= 3, "GET /api/v1/findings: " + api.status);
  const codes = [...new Set(api.doc.items.map((f) => f.check))].sort();
  check(codes.length >= 3, "seeded findings of 3 check codes: " + codes);
  await page.click('.tab[data-tab="findings"]');
  await page.locator("#findings tr[data-finding]").first().waitFor();
  const ids = await page.locator("#findings tr[data-finding]").evaluateAll((rs) => rs.map((r) => Number(r.dataset.finding)));
  check(ids.length === api.doc.items.length && api.doc.items.every((f) => ids.includes(f.id)),
    "findings shown " + ids + ", API has " + api.doc.items.map((f) => f.id));
  const groups = await page.locator("#findings tr[data-group]").evaluateAll((rs) => rs.map((r) => r.dataset.group).sort());
  check(JSON.stringify(groups) === JSON.stringify(codes), "groups " + groups + " want " + codes);
  for (const code of codes) {
    const n = api.doc.items.filter((f) => f.check === code).length;
    const h = await page.locator(`#findings tr[data-group="${code}"]`).textContent();
    check(h.startsWith(code + " · ") && h.endsWith("(" + n + ")"), `group header of ${code}: ${h}`);
    const under = await page.locator(`#findings tr[data-group="${code}"] ~ tr`).evaluateAll((rs) => {
      const out = [];
      for (const r of rs) { if (r.dataset.group) break; out.push(r.dataset.check); }
      return out;
    });
    check(under.length === n && under.every((c) => c === code), `the rows under ${code}: ${under}`);
  }
  for (const f of api.doc.items) {
    const row = await page.locator(`#findings tr[data-finding="${f.id}"]`).textContent();
    check(row.includes(f.key) && row.includes(f.text) && f.fields.every((x) => row.includes(x)),
      `finding ${f.id} (${f.check}) shows key, fields and rule text: ${row}`);
  }
  check((await page.locator("#findings-groups").textContent()).includes("EXITED_DURING_GRADUAL_EXIT"), "the per-code chips");
  await shot(page, "dashboard-findings.png", true);
  await page.click('#findings-groups .chip[data-check="VERIFICATION_COUNTS_EXCLUDED"]');
  await page.waitForFunction(() => [...document.querySelectorAll("#findings tr[data-finding]")]
    .every((r) => r.dataset.check === "VERIFICATION_COUNTS_EXCLUDED"));
  const one = api.doc.items.filter((f) => f.check === "VERIFICATION_COUNTS_EXCLUDED").length;
  check(await page.locator("#findings tr[data-finding]").count() === one, "the filter by check code");
  check((await page.locator("#f-check").inputValue()) === "VERIFICATION_COUNTS_EXCLUDED", "the check select follows the chip");
  await page.selectOption("#f-check", "");
  await page.click('#findings-form button[type="submit"]');
  await page.waitForFunction((n) => document.querySelectorAll("#findings tr[data-finding]").length === n, api.doc.items.length);
}

// the rules view: the set in force as the API has it; a steward's diff of
// pasted YAML shows the API's own report; a viewer gets no diff form
async function checkRules(page) {
  const cur = await apiGet("/api/v1/rules", TOK.steward);
  check(cur.status === 200 && /^[0-9a-f]{64}$/.test(cur.doc.hash), "GET /api/v1/rules: " + cur.status);
  await page.click('.tab[data-tab="rules"]');
  await page.waitForFunction((h) => (document.querySelector("#rules-hash") || {}).textContent === h, cur.doc.hash);
  check((await page.locator("#rules-id").textContent()) === String(cur.doc.id), "the rule set's number");
  check((await page.locator("#rules-current").textContent()).includes("person"), "the rules' entities");
  await page.locator("#rules-yaml").waitFor();
  // the rules in force as the starting point: a diff of them changes nothing
  await page.click("#rules-fill");
  check(JSON.parse(await page.inputValue("#rules-yaml")).rules.person !== undefined, "the rules in force in the text box");
  await page.click("#rules-diff");
  await page.waitForFunction(() => (document.querySelector("#rules-same") || {}).textContent === "是 yes");
  check((await page.locator("#rules-changed").textContent()) === "0", "the rules in force change nothing");
  // the phone by precedence instead of manual: which order changes phones
  // depends on which platform's value each record holds (the faster
  // source), so the one that changes more phones is pasted
  const yamlOf = (order) => "rules:\n  person:\n    default:\n      rule: precedence\n" +
    "      platforms: [" + order.join(", ") + "]\n";
  const tries = [];
  for (const order of [["province", "city", "shenshan"], ["city", "province", "shenshan"]]) {
    const r = await apiPost("/api/v1/rules/diff", TOK.steward, yamlOf(order), "application/yaml");
    check(r.status === 200, "POST /api/v1/rules/diff: " + r.status + " " + JSON.stringify(r.doc));
    const p = r.doc && r.doc.report.entities.person;
    tries.push([p && p.fields.phone || 0, yamlOf(order)]);
  }
  tries.sort((a, b) => b[0] - a[0]);
  const yaml = tries[0][1];
  check(tries[0][0] > 0, "one precedence order changes phones: " + tries.map((x) => x[0]));
  await page.fill("#rules-yaml", yaml);
  await page.click("#rules-diff");
  await page.waitForFunction(() => (document.querySelector("#rules-same") || {}).textContent === "否 no");
  const want = await apiPost("/api/v1/rules/diff", TOK.steward, yaml, "application/yaml");
  const rep = want.doc.report, person = rep.entities.person;
  check(person.conflicts_closed > 0, "a manual phone rule dropped closes conflicts: " + JSON.stringify(person));
  check((await page.locator("#rules-examined").textContent()) === String(rep.records), "records examined");
  check((await page.locator("#rules-changed").textContent()) === String(rep.changed), "records changed");
  const cells = await texts(page, '#rules-entities tr[data-entity="person"] td');
  check(cells[2] === String(person.changed) && cells[5] === String(person.conflicts_closed),
    "person row " + cells + " vs " + JSON.stringify(person));
  const samples = await page.locator("#rules-samples tr[data-sample]").evaluateAll((rs) => rs.map((r) => ({
    cells: [...r.cells].map((c) => c.textContent),
    values: (r.querySelector('[data-part="values"]') || {}).textContent || "",
    prov: (r.querySelector('[data-part="provenance"]') || {}).textContent || "",
    closed: (r.querySelector('[data-part="closed"]') || {}).textContent || "",
  })));
  check(samples.length === person.samples.length && person.samples.length > 0, "samples shown " + samples.length);
  let phones = 0;
  person.samples.forEach((want, i) => {
    const got = samples[i] || { cells: [] };
    check(got.cells[1] === want.key, "a sample's key, unmasked for a steward: " + got.cells);
    check(got.cells[2] === (want.to > want.from ? want.from + " → " + want.to : String(want.from)), "a sample's versions: " + got.cells);
    for (const [f, v] of Object.entries(want.fields)) {
      const b = String(unwrap(v.before)), a = String(unwrap(v.after));
      if (b !== a) check(got.values.includes(f + ": " + b + " → " + a), `sample ${want.key}: ${f} ${b} → ${a} in "${got.values}"`);
      else check(got.prov.includes(f) && !got.values.includes(f + ":"), `sample ${want.key}: ${f} provenance only`);
      if (f === "phone" && b !== a) phones++;
    }
    if (want.conflicts_closed) check(got.closed.includes("phone"), "a sample's closed conflict: " + got.closed);
    if (want.to === want.from) check(got.cells[3].includes(want.conflicts_closed ? "phone" : "仅冲突"), "a rewritten sample: " + got.cells);
  });
  log("rules diff: " + rep.changed + " new versions, " + person.conflicts_closed + " conflicts closed, " +
    phones + " of " + samples.length + " samples with a phone before → after");
  await shot(page, "dashboard-rules.png", true);
  return rep;
}

// the sweeps view: no run-now button for a viewer; an operator runs one from
// the page and sees its counts, per-platform reads and differences
async function checkSweeps(page) {
  await setToken(page, TOK.viewer);
  await page.click('.tab[data-tab="sweeps"]');
  await page.waitForFunction(() => document.querySelector("#sweeps-info").textContent.length > 0);
  await page.waitForTimeout(500);
  check(await page.locator("#sweep-run").isHidden(), "a viewer sees no run-now button");
  await page.click('.tab[data-tab="rules"]');
  await page.locator("#rules-hash").waitFor();
  await page.waitForFunction(() => document.querySelector("#rules-msg").textContent.includes("steward"));
  check(await page.locator("#rules-diff-box").isHidden(), "a viewer gets no diff form");

  await setToken(page, TOK.operator);
  await page.click('.tab[data-tab="sweeps"]');
  await page.locator("#sweep-run").waitFor({ state: "visible" });
  const before = await apiGet("/api/v1/sweeps", TOK.viewer);
  await page.click("#sweep-run");
  await page.waitForFunction(() => /#\d+/.test(document.querySelector("#sweeps-msg").textContent));
  const id = Number(/#(\d+)/.exec(await page.locator("#sweeps-msg").textContent())[1]);
  check(!before.doc.items.some((r) => r.id === id), "a new run " + id);
  await page.locator(`#sweeps tr[data-sweep="${id}"] .state[data-state="done"]`).waitFor({ timeout: 120000 });
  await page.locator("#sweep-differences tr[data-diff]").first().waitFor();
  const run = (await apiGet("/api/v1/sweeps", TOK.viewer)).doc.items.find((r) => r.id === id);
  check(run && run.state === "done" && run.requested_by === "ops-oncall", "the run in the API: " + JSON.stringify(run));
  const counts = await page.locator("#sweep-counts tr[data-count]").evaluateAll((rs) => rs.map((r) =>
    r.dataset.count + "=" + r.lastElementChild.textContent));
  const want = run.counts.map((c) => c.platform + "/" + c.entity + "/" + c.kind + "=" + c.count);
  check(JSON.stringify(counts.sort()) === JSON.stringify(want.sort()), "counts " + counts + " want " + want);
  check(want.includes("province/person/unknown_to_store=1"), "the planted difference: " + want);
  check((await page.locator("#sweep-duration").textContent()) === run.duration_ms + " ms", "the duration");
  for (const p of ["province", "city", "shenshan"]) {
    const read = await texts(page, `#sweep-reads tr[data-read="${p}"] td`);
    check(read.length && read[1] === String(run.platforms[p].records), `${p} read ${read} vs ${JSON.stringify(run.platforms[p])}`);
  }
  const diff = await texts(page, "#sweep-differences tr[data-diff] td");
  const key = diff[3];
  check(diff[1] === "province" && key !== UNKNOWN_KEY && key.startsWith(UNKNOWN_KEY.slice(0, 6)) &&
    key.endsWith(UNKNOWN_KEY.slice(-1)), "the difference, its key masked for an operator: " + diff);
  await shot(page, "dashboard-sweeps.png", true);
  await setToken(page, TOK.steward);
  return id;
}

async function main() {
  await checkHeaders();
  const profile = fs.mkdtempSync(path.join(os.tmpdir(), "cpsync-chromium-"));
  const ctx = await chromium.launchPersistentContext(profile, {
    executablePath: "/usr/bin/chromium",
    headless: true,
    args: ["--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
      "--disable-background-networking", "--disable-component-update", "--disable-sync"],
    viewport: { width: 1280, height: 900 },
    locale: "zh-CN",
  });
  shot = async (page, name, full) => {
    const p = path.join(OUT, name);
    await page.screenshot({ path: p, fullPage: !!full });
    shots.push(p);
  };
  const pageErrors = [];
  let result = null;
  try {
    const page = ctx.pages()[0] || (await ctx.newPage());
    page.setDefaultTimeout(20000);
    page.on("pageerror", (e) => pageErrors.push("page error: " + e.message));
    // the 401/403 the test provokes on purpose show up as "Failed to load resource"
    page.on("console", (m) => {
      if (m.type() === "error" && !/^Failed to load resource: the server responded with a status of 40[13]/.test(m.text())) {
        pageErrors.push("console: " + m.text());
      }
    });
    page.on("request", (req) => {
      const u = new URL(req.url());
      if (u.origin !== new URL(URL_).origin) pageErrors.push("external request: " + u.origin);
    });
    await page.goto(URL_);

    // ---- no token: the page asks for one (even /status needs a token)
    await page.waitForFunction(() => document.querySelector("#banner").textContent.includes("令牌"));
    check((await page.locator("#dlq-msg").textContent()).includes("令牌"), "dead letters ask for a token");

    // ---- a viewer: every link with its state, the operator's limit on dead letters
    await setToken(page, TOK.viewer);
    for (const name of LINKS) {
      const badge = page.locator(`#links tr[data-link="${name}"] .state`);
      await badge.waitFor();
      const state = await badge.getAttribute("data-state");
      const text = (await badge.textContent()).trim();
      check(!!state && text.length > 0, `link ${name}: state "${state}" text "${text}"`);
    }
    const shown = await page.locator("#links tbody tr[data-link]").count();
    check(shown === LINKS.length, `links shown ${shown}, /status has ${LINKS.length}`);
    const running = await page.locator('#links .state[data-state="RUNNING"]').first().textContent();
    check(running.includes("运行中"), "RUNNING badge in Chinese: " + running);
    await page.locator('#platforms tr[data-platform="province"]').waitFor();
    await page.locator("#chart svg path[data-link]").first().waitFor();
    check(await page.locator("#banner").isHidden(), "the token banner stays after a token");
    await page.locator("#dlq tr[data-dlq]").first().waitFor(); // viewers may list them
    await page.click('.tab[data-tab="steward"]');
    await page.waitForFunction(() => document.querySelector("#queue-msg").textContent.includes("needs the steward role"));
    await page.click('.tab[data-tab="ops"]');
    const stored = await page.evaluate(() => sessionStorage.getItem("cpsync.token"));
    check(stored === TOK.viewer, "the token is kept in sessionStorage");

    // ---- operator: dead letters
    await setToken(page, TOK.operator);
    await page.locator("#dlq tr[data-dlq]").first().waitFor();
    const dlqReason = await page.locator("#dlq tr[data-dlq] td.err").first().textContent();
    check(dlqReason.trim().length > 0, "a dead letter shows its reason");
    await page.locator("#dlq tr[data-dlq]").first().click();
    await page.locator("#dlq-detail dd.mono").waitFor();
    check((await page.locator("#dlq-detail").textContent()).includes(dlqReason.trim()), "dead letter detail");
    const raw = (await page.locator("#dlq-detail dd.mono").textContent()).trim();
    check(Buffer.from(raw, "base64").toString("latin1").includes("not avro at all"), "dead letter raw bytes: " + raw);
    await page.waitForTimeout(2500); // a second /status poll for the chart
    await shot(page, "dashboard-operations.png", true);

    // ---- steward: no dead letters (operator's), the queue, a conflict, resolve
    await setToken(page, TOK.steward);
    await page.waitForFunction(() => document.querySelector("#dlq-msg").textContent.includes("needs the operator role"));
    check((await page.locator("#dlq-msg").textContent()).includes("需要管理员角色"), "403 note in Chinese");
    await page.click('.tab[data-tab="steward"]');
    const firstRow = page.locator("#conflicts tr[data-conflict]").first();
    await firstRow.waitFor();
    const rows = await page.locator("#conflicts tr[data-conflict]").count();
    check(rows === 15, "first queue page has 15 rows: " + rows);
    // pagination: the next page holds other conflicts
    const page1 = await page.locator("#conflicts tr[data-conflict]").evaluateAll((rs) => rs.map((r) => r.dataset.conflict));
    await page.click("#q-next");
    await page.waitForFunction((first) => {
      const r = document.querySelector("#conflicts tr[data-conflict]");
      return r && r.dataset.conflict !== first;
    }, page1[0]);
    const page2 = await page.locator("#conflicts tr[data-conflict]").evaluateAll((rs) => rs.map((r) => r.dataset.conflict));
    check(page2.length > 0 && page2.every((id) => !page1.includes(id)), "page 2 repeats page 1: " + page2);
    await page.click("#q-first");
    await page.waitForFunction((first) => {
      const r = document.querySelector("#conflicts tr[data-conflict]");
      return r && r.dataset.conflict === first;
    }, page1[0]);

    const id = page1[0];
    await page.click(`#conflicts tr[data-conflict="${id}"]`);
    await page.locator("#conflict .cand").nth(1).waitFor();
    const api0 = await apiGet("/api/v1/conflicts/" + id, TOK.steward);
    check(api0.status === 200, "GET conflict " + id + ": " + api0.status);
    const c = api0.doc;
    const cands = await page.locator("#conflict .cand").evaluateAll((els) => els.map((e) => ({
      platform: e.dataset.platform,
      value: e.querySelector("[data-value]").textContent,
      text: e.textContent,
    })));
    check(cands.length === c.candidates.length, "candidates shown: " + cands.length);
    for (const want of c.candidates) {
      const got = cands.find((x) => x.platform === want.platform);
      check(got && got.value === String(unwrap(want.value)), `candidate ${want.platform}: ${got && got.value}`);
      check(got && got.text.includes(want.position), `candidate ${want.platform} shows its position`);
    }
    check((await page.locator("#conflict").textContent()).includes(c.rule), "the rule is shown");
    // take the candidate the record does not hold yet (which platform's value
    // was applied first depends on which source was faster)
    const recBefore = await apiGet(`/api/v1/records/${c.entity}/${encodeURIComponent(c.key)}`, TOK.steward);
    const current = String(unwrap(recBefore.doc.record[c.field]));
    const take = c.candidates.find((x) => String(unwrap(x.value)) !== current);
    check(!!take, "a candidate other than the record's value: " + current);
    const takenValue = String(unwrap(take.value));

    // a reason is required
    await page.click(`#conflict .cand[data-platform="${take.platform}"] button.take`);
    await page.click("#resolve-submit");
    check((await page.locator("#resolve-msg").textContent()).includes("原因"), "submit without a reason is refused");
    const reason = "dashboard test: the " + take.platform + " value was verified " + Date.now();
    await page.fill("#reason", reason);
    await shot(page, "dashboard-conflict.png", true);
    await page.click("#resolve-submit");
    await page.waitForFunction(() => document.querySelector("#banner").textContent.includes("已处理"));

    // it left the queue
    await page.click('.tab[data-tab="steward"]');
    await page.locator("#conflicts tr[data-conflict]").first().waitFor();
    check(await page.locator(`#conflicts tr[data-conflict="${id}"]`).count() === 0, "the resolved conflict is still in the queue");
    const after = await apiGet("/api/v1/conflicts/" + id, TOK.steward);
    check(after.doc.status === "resolved" && after.doc.resolution && after.doc.resolution.reason === reason,
      "conflict after: " + JSON.stringify(after.doc.status) + " " + JSON.stringify(after.doc.resolution));
    let open = [], cur = null;
    do {
      const q = await apiGet("/api/v1/conflicts?status=open&limit=500" + (cur ? "&cursor=" + cur : ""), TOK.steward);
      open = open.concat(q.doc.items.map((x) => String(x.id)));
      cur = q.doc.next_cursor;
    } while (cur);
    check(!open.includes(String(id)), "the API still lists the conflict as open");

    // the unified record changed, in the API and on the page
    const recAfter = await apiGet(`/api/v1/records/${c.entity}/${encodeURIComponent(c.key)}`, TOK.steward);
    check(String(unwrap(recAfter.doc.record[c.field])) === takenValue, "record after: " + JSON.stringify(recAfter.doc.record[c.field]));
    check(recAfter.doc.version > recBefore.doc.version, `version ${recBefore.doc.version} -> ${recAfter.doc.version}`);
    await page.click('.tab[data-tab="record"]');
    await page.fill("#r-key", c.key);
    await page.click('#record-form button[type="submit"]');
    await page.waitForFunction(([f, v]) => {
      const td = document.querySelector(`#record-fields tr[data-field="${f}"] [data-value]`);
      return td && td.textContent === v;
    }, [c.field, takenValue]);
    const prov = await page.locator(`#record-fields tr[data-field="${c.field}"]`).textContent();
    check(prov.includes("steward"), "the record's provenance names the steward decision: " + prov);
    check(await page.locator(`#record-history tr[data-version="${recAfter.doc.version}"]`).count() === 1, "history shows the new version");
    await shot(page, "dashboard-record.png", true);

    // ---- the policy findings, the rules (steward), the sweeps (viewer, operator)
    await checkFindings(page);
    await checkRules(page);
    const sweepId = await checkSweeps(page);

    // ---- English, and a narrower window
    await page.click("#lang");
    check((await page.locator('.tab[data-tab="ops"]').textContent()) === "Operations", "EN labels");
    await page.click('.tab[data-tab="ops"]');
    await page.setViewportSize({ width: 900, height: 800 });
    await page.waitForTimeout(300);
    const overflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(overflow <= 0, "page overflows a 900px window by " + overflow + "px");
    await shot(page, "dashboard-900px.png", false);
    await page.click('.tab[data-tab="steward"]');
    await page.locator("#conflicts tr[data-conflict]").first().waitFor();
    const qOverflow = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    check(qOverflow <= 0, "the conflict tab overflows a 900px window by " + qOverflow + "px");

    for (const tab of ["findings", "sweeps", "rules"]) {
      await page.click(`.tab[data-tab="${tab}"]`);
      await page.waitForTimeout(300);
      const o = await page.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
      check(o <= 0, `the ${tab} tab overflows a 900px window by ${o}px`);
    }
    check((await page.locator('.tab[data-tab="sweeps"]').textContent()) === "Sweeps", "EN label of the sweeps tab");
    check((await page.locator("#sweep-run").textContent()) === "Run now", "EN run-now button");

    result = { conflict_id: Number(id), key: c.key, reason, sweep_id: sweepId };
  } finally {
    await ctx.close();
    fs.rmSync(profile, { recursive: true, force: true });
  }
  for (const e of pageErrors) check(false, e);
  for (const s of shots) log("screenshot " + s);
  if (result) console.log("RESULT " + JSON.stringify(result));
  if (failures.length) {
    log(failures.length + " failure(s)");
    process.exit(1);
  }
  log("OK");
}

main().catch((e) => {
  console.log("browser.dashboard: FAIL: " + (e && e.stack || e));
  process.exit(1);
});
