#!/usr/bin/python3
"""threeway.sweeps: a three-way sweep (sync/sweep/) compares each platform's
full data with the store, with the three platforms on their real transports
(city PostgreSQL, Shenshan inbox files, province Kafka; chunks of 2 records,
so every read and comparison runs in several chunks and batches).
Asserted:
- with every platform's data applied and a Shenshan FULL file that matches,
  a sweep finds no difference at all (none where there are none);
- three planted differences, each found exactly, and nothing else:
  a city row changed while the city's capture is paused (stale_value of
  that field), a Shenshan record missing from a new FULL file
  (missing_at_platform), a province record sent while the province source
  is paused (unknown_to_store);
- POST /api/v1/sweeps is an operator's (403 for a viewer), answers 202 with
  the run id; GET /api/v1/sweeps shows the run's counts per platform,
  entity and kind and its duration; the differences page shows a steward
  the keys and a viewer masked keys; /metrics has
  cpsync_sweep_differences{platform,kind};
- the FULL file and its manifest are never read as changes by the streaming
  Shenshan source (they stay in the inbox, no dead letter);
- `cpsync sweep run --wait` and `cpsync sweep report` drive the same API.

usage: sweeps.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import json
import os
import subprocess
import time

import avro.datafile
import avro.io

import twlib as T
from twlib import L
from city_change_flows import city_insert, person, produce_province, write_inbox_file

OPERATOR = "sweeps-operator-token-0123456789"
STEWARD = "sweeps-steward-token-0123456789"
VIEWER = "sweeps-viewer-token-0123456789"


def add_sections(cfg):
    with open(cfg) as f:
        text = f.read()
    text = text.replace("http:\n  listen: 127.0.0.1:0\n", (
        "http:\n  listen: 127.0.0.1:0\n  tokens:\n"
        "    ops: {token: \"%s\", role: operator}\n"
        "    stew: {token: \"%s\", role: steward}\n"
        "    view: {token: \"%s\", role: viewer}\n") % (OPERATOR, STEWARD, VIEWER), 1)
    text += "sweeps:\n  chunk_rows: 2\n"
    with open(cfg, "w") as f:
        f.write(text)


def write_full(schemas, inbox, name, records):
    """A FULL snapshot of persons: the manifest first, then the data file
    (renamed into place), as the inbox protocol says."""
    with open(os.path.join(inbox, name + ".manifest.json"), "w") as f:
        json.dump({"kind": "FULL", "entity": "person", "records": len(records),
                   "file": name}, f)
    write_inbox_file(schemas, inbox, name, records, "deflate")


def run_sweep(cps, cps_bin, cfg):
    st, body = L.http_call(cps.port, "POST", "/api/v1/sweeps", token=OPERATOR)
    if st != 202 or not isinstance(body, dict) or not body.get("run_id"):
        L.fail("POST /api/v1/sweeps: %s %s" % (st, body))
    run_id = body["run_id"]

    def finished():
        st, doc = L.http_get(cps.port, "/api/v1/sweeps", token=VIEWER)
        runs = [r for r in (doc or {}).get("items", []) if r["id"] == run_id]
        return runs[0] if runs and runs[0]["state"] != "running" else None
    run = T.wait_for("sweep %d finished" % run_id, finished, 120, cps)
    if run["state"] != "done":
        L.fail("sweep %d: %s (%s)" % (run_id, run["state"], run.get("error")))
    return run


def differences(cps, run_id, token):
    out, after = [], 0
    while True:
        st, doc = L.http_get(cps.port, "/api/v1/sweeps/%d/differences?limit=2&after=%d"
                             % (run_id, after), token=token)
        if st != 200:
            L.fail("differences of sweep %d: %s %s" % (run_id, st, doc))
        out += doc["items"]
        if doc["next_after"] is None:
            return out
        after = doc["next_after"]


def pause(cps, link):
    st, body = L.http_call(cps.port, "POST", "/api/v1/connectors/%s/pause" % link,
                           token=OPERATOR, body={"reason": "sweep test"})
    if st not in (200, 202):
        L.fail("pausing %s: %s %s" % (link, st, body))
    T.wait_for("%s PAUSED" % link, lambda: T.link_states(cps).get(link) == "PAUSED", 30, cps)


def run(args, schemas, store, city, cps, cfg, ssdir):
    inbox = os.path.join(ssdir, "inbox")
    T.wait_links_running(cps)
    bootstrap = cps.status()["kafka"]["bootstrap"]
    now_ms = int(time.time() * 1000)
    C = [L.national_id("440305", "1970010%d" % (i + 1), 300 + i) for i in range(3)]
    P = [L.national_id("440304", "1980020%d" % (i + 1), 400 + i) for i in range(3)]
    S = [L.national_id("441521", "1990030%d" % (i + 1), 500 + i) for i in range(3)]
    for k in C:
        city_insert(city, person(k))
    for k in P:
        produce_province(schemas, bootstrap, person(k, phone="13800000001"), now_ms)
    ss = [person(k, registration_region_code="441521", residence_region_code="441521")
          for k in S]
    write_inbox_file(schemas, inbox, "ss-changes-001.avro", ss, "null")
    for k in C + P + S:
        T.wait_for("record in cpsync.records", lambda: store.query(
            "SELECT 1 FROM cpsync.records WHERE entity = 'person' AND key = %s", (k,)), 60, cps)
    T.wait_for("the changes file done", lambda: "ss-changes-001.avro" in
               os.listdir(os.path.join(inbox, "done")), 30, cps)

    # a FULL file that matches what Shenshan sent: no difference anywhere
    write_full(schemas, inbox, "ss-full-001.avro", ss)
    st, _ = L.http_call(cps.port, "POST", "/api/v1/sweeps", token=VIEWER)
    if st != 403:
        L.fail("POST /api/v1/sweeps with a viewer token: %s (want 403)" % st)
    clean = run_sweep(cps, args.cpsync, cfg)
    if clean["counts"] != [] or differences(cps, clean["id"], STEWARD):
        L.fail("a sweep over equal data found differences: %s" % clean["counts"])
    plats = clean["platforms"]
    for p, ents in (("city", ["person", "household"]), ("province", ["person", "household"]),
                    ("shenshan", ["person"])):
        if plats.get(p, {}).get("records") != 3 or plats[p].get("entities") != ents:
            L.fail("sweep %d read of %s: %s" % (clean["id"], p, plats.get(p)))
    L.info("clean sweep %d: no difference (%s)" % (clean["id"], plats))

    # three planted differences
    pause(cps, "city-source")
    city.execute("UPDATE city.person SET residence_address = %s WHERE national_id = %s",
                 ("南山区招商街道9号", C[0]))
    pause(cps, "province-source")
    Q = L.national_id("440304", "19850505", 777)
    produce_province(schemas, bootstrap, person(Q, phone="13800000009"), now_ms)
    time.sleep(1)
    write_full(schemas, inbox, "ss-full-002.avro", [ss[0], ss[2]])
    time.sleep(0.05)
    os.utime(os.path.join(inbox, "ss-full-002.avro.manifest.json"))
    planted = run_sweep(cps, args.cpsync, cfg)
    got = sorted((d["platform"], d["entity"], d["key"], d["field"], d["kind"])
                 for d in differences(cps, planted["id"], STEWARD))
    want = sorted([("city", "person", C[0], "residence_address", "stale_value"),
                   ("shenshan", "person", S[1], None, "missing_at_platform"),
                   ("province", "person", Q, None, "unknown_to_store")])
    if got != want:
        L.fail("sweep %d differences:\n  %s\nwant\n  %s" % (planted["id"], got, want))
    counts = sorted((c["platform"], c["entity"], c["kind"], c["count"])
                    for c in planted["counts"])
    if counts != sorted((p, e, k, 1) for p, e, _, _, k in want):
        L.fail("sweep %d counts: %s" % (planted["id"], counts))
    if not isinstance(planted["duration_ms"], int) or planted["duration_ms"] < 0:
        L.fail("sweep %d without a duration: %s" % (planted["id"], planted))
    L.info("planted sweep %d: exactly the three differences, in %d ms"
           % (planted["id"], planted["duration_ms"]))

    viewed = differences(cps, planted["id"], VIEWER)
    if any(d["key"] in C + P + S + [Q] for d in viewed) or len(viewed) != 3:
        L.fail("a viewer sees a difference's national ID unmasked: %s" % viewed)
    st, _, body = L.http_fetch(cps.port, "/metrics")
    text = body.decode()
    for p, _, _, _, k in want:
        line = 'cpsync_sweep_differences{platform="%s",kind="%s"} 1' % (p, k)
        if line not in text:
            L.fail("/metrics lacks %s" % line)
    names = set(os.listdir(inbox))
    if not {"ss-full-001.avro", "ss-full-002.avro.manifest.json"} <= names:
        L.fail("the streaming source took a FULL file or manifest: inbox %s" % sorted(names))
    dead = store.query("SELECT count(*) FROM cpsync.dead_letters")[0][0]
    if dead:
        L.fail("%d dead letters (a FULL file read as changes?)" % dead)

    env = dict(os.environ, CPSYNC_TOKEN=OPERATOR,
               CPSYNC_URL="http://127.0.0.1:%d" % cps.port)
    r = subprocess.run([args.cpsync, "sweep", "run", "--wait"], env=env,
                       capture_output=True, text=True, timeout=180)
    if r.returncode != 0 or "missing_at_platform" not in r.stdout:
        L.fail("cpsync sweep run --wait: rc %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    r = subprocess.run([args.cpsync, "sweep", "report"], env=env, capture_output=True,
                       text=True, timeout=60)
    if r.returncode != 0 or "stale_value" not in r.stdout or "done" not in r.stdout:
        L.fail("cpsync sweep report: rc %d\n%s%s" % (r.returncode, r.stdout, r.stderr))
    L.info("cpsync sweep run --wait / report:\n" + r.stdout)


def main():
    args = L.parse_args("threeway.sweeps")
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("tw-sweeps")
    ssdir = os.path.join(work, "shenshan")
    for d in ("inbox", "outbox"):
        os.makedirs(os.path.join(ssdir, d))
    store = L.Database(args.pg, "tw_store_sweeps")
    city = T.City(args.pg, "sweeps", args.source)
    cps = None
    try:
        cfg = os.path.join(work, "threeway.yaml")
        T.write_config(cfg, instance="tw-sweeps", schemas=args.schemas, source=args.source,
                       store_conninfo=store.conninfo, city=city, shenshan_dir=ssdir)
        add_sections(cfg)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        run(args, schemas, store, city, cps, cfg, ssdir)
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        if cps:
            cps.kill()
        city.drop()
        store.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
