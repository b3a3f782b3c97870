#!/usr/bin/python3
"""rules.lifecycle: `cpsync rules diff` predicts exactly what `rules apply` does.

Runs `cpsync demo --people 150` on a fresh store database and, once its
initial load from the three platforms is stored:
1. with the platform sources paused and the workers idle, diffs a changed
   rule set (as a steward: keys and values; as an operator: masked; a viewer
   is refused), applies it (operator), and compares: the apply's report
   equals the diff's per entity (records, new versions, rewritten states,
   fields, conflicts), and the change log holds exactly those new versions
   with those fields, their provenance naming the new rule set's number;
2. with the sources resumed, applies the first rules again while streaming
   goes on (and the sets in turn until the reconcile workers commit a batch
   during an apply), and
   afterwards every key's versions are gapless (1..n in the change log) and
   its stored version is its newest;
3. a reload with an invalid configuration file (POST /api/v1/reload and
   SIGHUP) changes nothing and says why; a valid one swaps the API tokens.
Needs CPSYNC_TEST_PG; /usr/bin/python3 with python3-psycopg2.
"""
import argparse
import copy
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cpsynctest as C  # noqa: E402

VIEWER, STEWARD, OPERATOR = "demo-viewer-token", "demo-steward-token", "demo-operator-token"
PLATFORMS = ("province", "city", "shenshan")
COMPARED = ("records", "changed", "rewritten", "fields", "conflicts_opened",
            "conflicts_closed")


def q(conn, sql, args=()):
    with conn.cursor() as cur:
        cur.execute(sql, args)
        return cur.fetchall()


def call(port, method, path, token, body=None, raw=None, timeout=120):
    return C.http_call(port, method, path, token=token, body=body, raw=raw, timeout=timeout)


def changed_rules(rules):
    """Rules that decide some stored fields otherwise (precedence where the
    demo's rules take the newest fact; flag where they open a conflict)."""
    r = copy.deepcopy(rules)
    r["person"]["fields"]["phone"] = {"rule": "precedence", "on_disagree": "flag",
                                      "platforms": ["province", "city", "shenshan"]}
    r["person"]["fields"]["residence_address"] = {
        "rule": "precedence", "on_disagree": "accept",
        "platforms": ["shenshan", "province", "city"]}
    r["household"]["fields"]["per_capita_monthly_income"] = {
        "rule": "precedence", "on_disagree": "flag",
        "platforms": ["city", "province", "shenshan"]}
    return r


def source_links(port):
    st, doc = C.http_get(port, "/status", token=VIEWER)
    return [l["name"] for l in (doc or {}).get("links", [])
            if l.get("platform") in PLATFORMS and l.get("direction") == "source"]


def reconcile_records(port):
    st, doc = C.http_get(port, "/status", token=VIEWER)
    for l in (doc or {}).get("links", []):
        if l.get("name") == "reconcile":
            return l.get("records", 0)
    return 0


def wait_steady(conn, sql, seconds, failure, timeout=90):
    """Until the figure `sql` reads is nonzero and has not changed for
    `seconds`; that figure."""
    deadline, last, since = time.monotonic() + timeout, None, time.monotonic()
    while time.monotonic() < deadline:
        n = q(conn, sql)[0][0]
        if n != last:
            last, since = n, time.monotonic()
        elif n and time.monotonic() - since >= seconds:
            return n
        time.sleep(0.5)
    C.fail(failure)


def wait_settled(conn):
    """Until persons stated by more than one platform are stored and their
    number has not grown for 3 s (the initial load taken in)."""
    return wait_steady(conn, "SELECT count(*) FROM cpsync.records WHERE entity = 'person' AND "
                       "(SELECT count(*) FROM jsonb_object_keys(cpsync.facts_json(facts))) > 1",
                       3, "the demo's initial load never settled in the store")


def wait_quiet(conn):
    """Until the change log has not grown for 4 s."""
    return wait_steady(conn, "SELECT COALESCE(max(seq), 0) FROM cpsync.changes", 4,
                       "the store never went quiet with the sources paused")


def assert_gapless(conn):
    bad = q(conn, "SELECT count(*) FROM (SELECT entity, key, count(*) n, min(version) mn, "
                  "max(version) mx FROM cpsync.changes GROUP BY 1, 2) v "
                  "WHERE mn <> 1 OR n <> mx - mn + 1")[0][0]
    if bad:
        C.fail("%d key(s) with a gap or a repeat in their versions" % bad)
    bad = q(conn, "SELECT count(*) FROM cpsync.records r WHERE r.version <> COALESCE(("
                  "SELECT max(version) FROM cpsync.changes c WHERE c.entity = r.entity "
                  "AND c.key = r.key), 0)")[0][0]
    if bad:
        C.fail("%d stored state(s) whose version is not their newest change" % bad)


def compare(diff, apply):
    for ent in set(diff["entities"]) | set(apply["entities"]):
        d, a = diff["entities"].get(ent, {}), apply["entities"].get(ent, {})
        for k in COMPARED:
            if d.get(k) != a.get(k):
                C.fail("entity %s: the diff predicted %s = %r, the apply made %r"
                       % (ent, k, d.get(k), a.get(k)))


def phase_exact(port, conn, rules0):
    new = changed_rules(rules0)
    names = source_links(port)
    if len(names) != 3:
        C.fail("expected three platform sources, got %r" % names)
    for n in names:
        st, _ = call(port, "POST", "/api/v1/connectors/%s/pause" % n, OPERATOR,
                     body={"reason": "rules.lifecycle"})
        if st != 200:
            C.fail("pause of %s: HTTP %s" % (n, st))
    wait_quiet(conn)
    st, _ = call(port, "POST", "/api/v1/rules/diff", VIEWER, body={"rules": new})
    if st != 403:
        C.fail("a viewer's diff: HTTP %s, expected 403" % st)
    st, bad = call(port, "POST", "/api/v1/rules/diff", STEWARD,
                   raw=b"person:\n  default: {rule: sometimes}\n")
    if st != 400 or "rule must be" not in json.dumps(bad):
        C.fail("a diff of invalid rules: HTTP %s %r, expected 400 with the reason" % (st, bad))
    st, diff = call(port, "POST", "/api/v1/rules/diff", STEWARD, body={"rules": new})
    if st != 200:
        C.fail("steward diff: HTTP %s %r" % (st, diff))
    rep = diff["report"]
    if rep["changed"] == 0 or not rep["entities"]["person"]["fields"]:
        C.fail("the changed rules predict no change: %r" % rep)
    smp = rep["entities"]["person"]["samples"][0]
    if not isinstance(smp["fields"], dict) or len(smp["key"]) != 18 or "*" in smp["key"]:
        C.fail("a steward's sample lacks its key or values: %r" % smp)
    st, odiff = call(port, "POST", "/api/v1/rules/diff", OPERATOR, body={"rules": new})
    osmp = odiff["report"]["entities"]["person"]["samples"][0]
    if st != 200 or "*" not in osmp["key"] or not isinstance(osmp["fields"], list):
        C.fail("an operator's sample is not masked: %r" % osmp)
    compare(rep, odiff["report"])  # the same figures whoever asks
    seq0 = q(conn, "SELECT max(seq) FROM cpsync.changes")[0][0]
    st, app = call(port, "POST", "/api/v1/rules/apply", OPERATOR, body={"rules": new})
    if st != 200:
        C.fail("apply: HTTP %s %r" % (st, app))
    compare(rep, app["report"])
    set_id = app["rule_set"]["id"]
    rows = q(conn, "SELECT entity, changed_fields, cpsync.provenance_json(prov) "
                   "FROM cpsync.changes "
                   "WHERE seq > %s", (seq0,))
    per_entity, fields = {}, {}
    for ent, cf, prov in rows:
        per_entity[ent] = per_entity.get(ent, 0) + 1
        for f in cf:
            fields.setdefault(ent, {})[f] = fields.setdefault(ent, {}).get(f, 0) + 1
            pv = prov.get(f) or {}
            if pv.get("rule_version") != set_id and not pv.get("steward"):
                C.fail("a changed field's provenance names rule set %r, not %r"
                       % (pv.get("rule_version"), set_id))
    for ent, e in rep["entities"].items():
        if per_entity.get(ent, 0) != e["changed"] or fields.get(ent, {}) != e["fields"]:
            C.fail("entity %s: the change log holds %r new versions with fields %r; the diff "
                   "predicted %r with %r" % (ent, per_entity.get(ent, 0), fields.get(ent),
                                            e["changed"], e["fields"]))
    st, cur = C.http_get(port, "/api/v1/rules", token=VIEWER)
    if cur.get("id") != set_id or not cur.get("applied_at"):
        C.fail("GET /api/v1/rules after the apply: %r" % {k: cur.get(k) for k in
                                                          ("id", "applied_at")})
    assert_gapless(conn)
    C.info("exact: %d new versions, %d rewritten, as predicted" % (rep["changed"],
                                                                     rep["rewritten"]))
    for n in names:
        call(port, "POST", "/api/v1/connectors/%s/resume" % n, OPERATOR, body={})
    return rep["changed"]


def phase_streaming(port, conn, rules0):
    r0 = reconcile_records(port)
    C.wait_for("streaming after the resume", lambda: reconcile_records(port) > r0 + 20,
               timeout=60)
    # An apply can be over before the workers' next commit (0.1 s on a
    # quiet machine, under a batch's time on a loaded one): apply the sets
    # in turn (back to the first, to the changed, ...) until one overlaps
    # with reconciling, at most six times.
    sets = [rules0, changed_rules(rules0)]
    for attempt in range(6):
        before = reconcile_records(port)
        t0 = time.monotonic()
        st, app = call(port, "POST", "/api/v1/rules/apply", OPERATOR,
                       body={"rules": sets[attempt % 2]})
        took = time.monotonic() - t0
        after = reconcile_records(port)
        if st != 200 or app["report"]["changed"] == 0:
            C.fail("apply %d while streaming: HTTP %s %r" % (attempt + 1, st, app))
        if after > before:
            break
    else:
        C.fail("no event reconciled during any of six applies")
    C.info("streaming: %d events reconciled during apply %d of %.2f s (%d new versions)"
           % (after - before, attempt + 1, took, app["report"]["changed"]))
    r1 = reconcile_records(port)
    C.wait_for("streaming after the apply", lambda: reconcile_records(port) > r1 + 5,
               timeout=60)
    for n in source_links(port):
        call(port, "POST", "/api/v1/connectors/%s/pause" % n, OPERATOR, body={})
    wait_quiet(conn)
    assert_gapless(conn)


def phase_reload(port, proc, cfg_path, log_path):
    good = open(cfg_path).read()
    st, cur = C.http_get(port, "/api/v1/rules", token=VIEWER)
    with open(cfg_path, "w") as f:
        f.write(good.replace("rule: manual", "rule: sometimes", 1)
                .replace(VIEWER, "demo-viewer-token-2"))
    st, body = call(port, "POST", "/api/v1/reload", OPERATOR)
    if st != 400 or "sometimes" not in json.dumps(body) and "rule" not in json.dumps(body):
        C.fail("reload of an invalid file: HTTP %s %r, expected 400 with the reason"
               % (st, body))
    proc.send_signal(signal.SIGHUP)
    C.wait_for("the SIGHUP refusal in the log",
               lambda: open(log_path, errors="replace").read().count("refused, nothing "
                                                                     "changed") >= 2,
               timeout=20)
    st, now = C.http_get(port, "/api/v1/rules", token=VIEWER)  # the old token still works
    if st != 200 or now.get("id") != cur.get("id"):
        C.fail("an invalid reload changed something: HTTP %s, rule set %r -> %r"
               % (st, cur.get("id"), (now or {}).get("id")))
    with open(cfg_path, "w") as f:
        f.write(good.replace(VIEWER, "demo-viewer-token-2"))
    st, body = call(port, "POST", "/api/v1/reload", OPERATOR)
    if st != 200:
        C.fail("reload of a valid file: HTTP %s %r" % (st, body))
    if C.http_get(port, "/api/v1/rules", token=VIEWER)[0] != 401 or \
            C.http_get(port, "/api/v1/rules", token="demo-viewer-token-2")[0] != 200:
        C.fail("the reload did not swap the viewer's token")
    if proc.poll() is not None:
        C.fail("cpsync exited after the reloads")


def main():
    C.set_name("rules.lifecycle")
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    base = C.require_pg()
    db = "cps_rules_%d" % os.getpid()
    store_ci = C.conninfo_with_db(base, db)
    admin = psycopg2.connect(base)
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE "%s"' % db)
    tmp = C.tmpdir("rules")
    cfg_path, log_path = os.path.join(tmp, "demo.yaml"), os.path.join(tmp, "cpsync.log")
    shutil.copy(os.path.join(args.source, "deploy", "demo.yaml"), cfg_path)
    port = C.free_port()
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [args.cpsync, "demo", "--people", "150", "--pg", store_ci, "--shenshan-dir",
         os.path.join(tmp, "shenshan"), "--http", "127.0.0.1:%d" % port],
        stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ, CPSYNC_DEMO_CONFIG=cfg_path))
    ok, conn = False, None
    try:
        C.wait_for("the store", lambda: C.http_get(port, "/api/v1/rules", token=VIEWER)[0]
                   == 200, timeout=60)
        conn = psycopg2.connect(store_ci)
        conn.autocommit = True
        C.wait_for("150 people stored", lambda: q(
            conn, "SELECT count(*) FROM cpsync.records WHERE entity = 'person'")[0][0] >= 150,
            timeout=90)
        # the rules' diff needs the platforms' disagreements in the store: the
        # whole initial load written by the demo and taken in, not only the
        # first platform's share of it (a fast engine stores 150 people first)
        C.wait_for("the demo's initial load", lambda: "initial load acknowledged" in
                   open(log_path, errors="replace").read(), timeout=90)
        wait_settled(conn)
        rules0 = C.http_get(port, "/api/v1/rules", token=VIEWER)[1]["rules"]
        phase_exact(port, conn, rules0)
        phase_streaming(port, conn, rules0)
        phase_reload(port, proc, cfg_path, log_path)
        ok = True
    finally:
        if conn:
            conn.close()
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        if not ok:
            with open(log_path, errors="replace") as f:
                print("---- cpsync output (end) ----\n" + f.read()[-6000:], flush=True)
        admin.cursor().execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
        admin.close()
        shutil.rmtree(tmp, ignore_errors=True)
    print("PASS rules.lifecycle", flush=True)


if __name__ == "__main__":
    main()
