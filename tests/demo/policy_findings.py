#!/usr/bin/python3
"""demo.policy_findings: a running `cpsync demo` gives stewards policy findings.

Runs `cpsync demo --people 3000` (embedded Kafka, a fresh store and city
database, its own slot and Shenshan directory) and asserts, within 90 s,
that the demo's deliberate breaches of 深民〔2021〕80号 surface as open
findings of at least five different check codes in GET /api/v1/findings
(viewer token), and as OPEN alerts of at least five checks on the unified
alert topic (cpsync.unified.alert on the embedded broker, whose bootstrap
/status names), decoded by python3-avro with e2elib's helpers. The
verification arithmetic the generator keeps must never be a finding.
Needs CPSYNC_TEST_PG (deploy/test.sh exports it); fails without it.
"""
import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2elib as L  # noqa: E402

DEADLINE_S = 90
# The initial load carries six kinds of breach (sync/demo/demo_int.h); the
# issue's acceptance is four, and five must show.
WANT_KINDS = 5
TOKEN = "demo-viewer-token"
NEVER = ("VERIFICATION_TOTAL_MISMATCH", "VERIFICATION_PER_CAPITA", "GRADUAL_EXIT_NOT_SIX_MONTHS")


def get(port, path):
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path),
                                 headers={"Authorization": "Bearer " + TOKEN})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.load(r)


def api_kinds(port):
    """{check: open findings} from GET /api/v1/findings, every page."""
    kinds, cursor = {}, None
    for _ in range(200):
        doc = get(port, "/api/v1/findings?status=open&limit=500" +
                  ("&cursor=" + urllib.parse.quote(cursor) if cursor else ""))
        for f in doc["items"]:
            kinds[f["check"]] = kinds.get(f["check"], 0) + 1
        cursor = doc.get("next_cursor")
        if not cursor:
            break
    return kinds


def alert_kinds(schemas, bootstrap):
    """{check: OPEN policy alerts} from the unified alert topic."""
    kinds = {}
    for _t, _p, _o, key, value, _h in L.consume_all(bootstrap, ["cpsync.unified.alert"],
                                                     timeout_s=30):
        ev = schemas.decode_unified(value)
        if not ev["key"].startswith("POLICY-") or not ev["record"]:
            continue
        # POLICY-<CHECK>-<entity>-<hash of the record key>
        check = ev["key"][len("POLICY-"):].rsplit("-", 2)[0]
        if ev["record"]["status"] == "OPEN":
            kinds[check] = kinds.get(check, 0) + 1
    return kinds


def main():
    L.set_name("demo.policy_findings")
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    schemas = L.Schemas(args.cpsync, os.path.join(args.source, "schemas"))

    base = L.require_pg()
    pid = os.getpid()
    store_db, city_db, slot = ("cps_demopol_store_%d" % pid, "cps_demopol_city_%d" % pid,
                               "cps_demopol_slot_%d" % pid)
    store_ci, city_ci = L.conninfo_with_db(base, store_db), L.conninfo_with_db(base, city_db)
    admin = psycopg2.connect(base)
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE "%s"' % store_db)
    tmp = tempfile.mkdtemp(prefix="cps_demopol_")
    port = L.free_port()
    log_path = os.path.join(tmp, "cpsync.log")
    env = dict(os.environ, CPSYNC_DEMO_CITY_SLOT=slot,
               CPSYNC_DEMO_CONFIG=os.path.join(args.source, "deploy", "demo.yaml"))
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [args.cpsync, "demo", "--people", "3000", "--pg", store_ci, "--city-pg", city_ci,
         "--shenshan-dir", os.path.join(tmp, "shenshan"), "--http", "127.0.0.1:%d" % port],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    ok = False
    try:
        run_checks(proc, port, schemas)
        ok = True
    finally:
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
                print("".join([l for l in f if "CONFWARN" not in l][-40:]), flush=True)
        cur = admin.cursor()
        cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE slot_name = %s AND NOT active", (slot,))
        for db in (store_db, city_db):
            cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
        admin.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if proc.returncode != 0:
        L.fail("cpsync exited with %s after SIGTERM" % proc.returncode)
    print("PASS demo.policy_findings", flush=True)


def run_checks(proc, port, schemas):
    deadline = time.monotonic() + DEADLINE_S
    kinds = {}
    while len(kinds) < WANT_KINDS:
        if proc.poll() is not None:
            L.fail("cpsync demo exited early with %s" % proc.returncode)
        if time.monotonic() > deadline:
            L.fail("open findings of %d kinds after %d s, want %d: %s" % (
                len(kinds), DEADLINE_S, WANT_KINDS, kinds))
        time.sleep(2)
        try:
            kinds = api_kinds(port)
        except OSError:
            continue
    print("GET /api/v1/findings after %.0f s: %s" % (
        time.monotonic() - (deadline - DEADLINE_S), kinds), flush=True)
    for check in NEVER:
        if kinds.get(check):
            L.fail("%d %s findings: the generator keeps that rule" % (kinds[check], check))
    bootstrap = get(port, "/status")["kafka"]["bootstrap"]
    alerts = {}
    while len(alerts) < WANT_KINDS:
        alerts = alert_kinds(schemas, bootstrap)
        if len(alerts) >= WANT_KINDS:
            break
        if time.monotonic() > deadline:
            L.fail("OPEN policy alerts of %d kinds on cpsync.unified.alert, want %d: %s" % (
                len(alerts), WANT_KINDS, alerts))
        time.sleep(2)
    print("cpsync.unified.alert (python3-avro): %s" % alerts, flush=True)
    unknown = [c for c in alerts if c not in kinds and c not in api_kinds(port)]
    if unknown:
        L.fail("alerts of checks with no finding: %s" % unknown)


if __name__ == "__main__":
    main()
