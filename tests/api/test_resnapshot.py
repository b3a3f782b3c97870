#!/usr/bin/python3
"""api.resnapshot: a re-snapshot of city.person while the city streams
(issue 13 item 2), POST /api/v1/connectors/{name}/snapshot and
`cpsync connectors snapshot`, and a table mapped later snapshotted by itself
(issue 11). One cpsync (embedded broker) with the city as a PostgreSQL
database captured through a replication slot (tests/threeway/city.sql);
chunks of 40 rows, and a 300 ms pause between each chunk's read and its high
watermark (snapshot_chunk_delay_ms) so that the steady stream of updates
changes rows of a chunk inside its watermark window. Asserted:
- the initial snapshot applies the 400 rows at version 1;
- refusals: a viewer 403, an unmapped or malformed table 400, an unknown
  link 404, a link that is no postgres replication source 409, a second
  request while one runs 409; the request is audited (connector.snapshot);
- with ~50 updates/s of residence_address (a counter) on a hot quarter of
  the rows, the re-snapshot runs to "done" in /status (table, chunks, rows);
  after the updates stop: every store record equals its city row (every
  mapped field), the rows never updated kept their version (no version for
  unchanged rows), and no key's history ever went back to an older address
  (a chunk row older than a stream change the window dropped would);
- a second re-snapshot (chunks of a second), its cpsync SIGKILLed after 3
  recorded chunks,
  resumes after them on restart (chunks and rows in all about one pass)
  and leaves every version as it was;
- restarted with city.household mapped too, the household rows (never
  snapshotted for this slot) reach the store without a request, and the
  persons' versions do not move.

usage: test_resnapshot.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import datetime
import os
import random
import subprocess
import sys
import threading
import time

import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "threeway"))
import twlib as T  # noqa: E402
from twlib import L  # noqa: E402

TOKENS = {"viewer": "viewer-token-0123456789abcdef",
          "operator": "operator-token-0123456789abcdef"}
EPOCH = datetime.date(1970, 1, 1)
N_PERSONS = 400
N_HOUSEHOLDS = 30
CHUNK = 40


def nid(i):
    return L.national_id("440305", "19%02d%02d%02d" % (40 + i % 60, 1 + i % 12, 1 + i % 28), i)


HOT = [nid(i) for i in range(N_PERSONS) if i % 4 == 1]  # updated during the re-snapshot


def write_config(path, *, schemas, store, city, household, delay_ms=300):
    tables = "        city.person: {entity: person}\n"
    if household:
        tables += "        city.household: {entity: household}\n"
    text = """\
instance: resnap-{pid}
log:
  level: info
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded: {{partitions: 1}}
store:
  conninfo: "{store}"
  batch_ms: 20
http:
  listen: 127.0.0.1:0
  open_routes: [/healthz, /readyz, /metrics, /status]
  tokens:
    view-console: {{token: {viewer}, role: viewer}}
    ops-console: {{token: {operator}, role: operator}}
reconcile:
  workers: 1
platforms:
  city:
    connector: postgres
    source:
      framing: raw
      conninfo: "{city}"
      schema_dir: {schemas}
      slot: {slot}
      publication: {publication}
      ignore_origin: {origin}
      status_interval_ms: 500
      snapshot_batch: {chunk}
      snapshot_chunk_delay_ms: {delay}
      table:
{tables}  province:
    connector: kafka
    enabled: false
  shenshan:
    connector: files
    enabled: false
""".format(pid=os.getpid(), schemas=schemas, store=store.conninfo, city=city.db.conninfo,
           slot=city.slot, publication=city.publication, origin=city.origin, chunk=CHUNK,
           delay=delay_ms,
           tables=tables, **TOKENS)
    with open(path, "w") as f:
        f.write(text)


def call(port, method, path, role="operator", body=None):
    return L.http_call(port, method, path, TOKENS[role], body, timeout=90)


def check(cond, msg):
    if not cond:
        L.fail(msg)


def seed_city(city):
    city.execute(
        "INSERT INTO city.person SELECT k, 'name-' || i, 'MALE', date '1960-01-01' + i::int, "
        "'440305', '440305', 'addr-0', false, false, NULL, false, 'FULL', "
        "'1380000' || lpad(i::text, 4, '0'), NULL, false "
        "FROM unnest(%s::text[]) WITH ORDINALITY AS t(k, i)", ([nid(i) for i in range(N_PERSONS)],))
    city.execute(
        "INSERT INTO city.household SELECT 'H' || lpad(i::text, 6, '0'), %s, "
        "'[]'::jsonb, 1, '440305', 'URBAN', 1000.50 + i, 'DIBAO', NULL "
        "FROM generate_series(1, %s) i", (nid(0), N_HOUSEHOLDS))


class Updater(threading.Thread):
    """About 50 updates a second of residence_address = 'addr-<n>' (n grows)
    on random hot rows, one a transaction, until stopped."""

    def __init__(self, conninfo):
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.rng = random.Random(int(os.environ.get("CPSYNC_TW_SEED", "13")))
        self.stop_flag = threading.Event()
        self.count = 0
        self.touched = set()
        self.error = None

    def run(self):
        try:
            conn = psycopg2.connect(self.conninfo)
            conn.autocommit = True
            with conn.cursor() as c:
                while not self.stop_flag.is_set():
                    key = self.rng.choice(HOT)
                    self.count += 1
                    c.execute("UPDATE city.person SET residence_address = %s "
                              "WHERE national_id = %s", ("addr-%d" % self.count, key))
                    self.touched.add(key)
                    time.sleep(0.02)
            conn.close()
        except Exception as e:  # reported by the main thread
            self.error = repr(e)


def versions(store, entity="person"):
    return dict(store.query("SELECT key, version FROM cpsync.records WHERE entity = %s",
                            (entity,)))


def city_rows(city):
    cols = T.PERSON_FIELDS
    out = {}
    for row in city.query("SELECT %s FROM city.person" % ", ".join(cols)):
        rec = dict(zip(cols, row))
        rec["birth_date"] = (rec["birth_date"] - EPOCH).days
        out[rec["national_id"]] = rec
    return out


def store_rows(store):
    return {k: T.plain(r) for k, r in store.query(
        "SELECT key, record FROM cpsync.records WHERE entity = 'person' AND NOT deleted")}


def differences(city, store):
    want, got = city_rows(city), store_rows(store)
    diff = []
    for k, rec in want.items():
        have = got.get(k)
        if have is None:
            diff.append((k, "missing"))
            continue
        bad = [f for f in T.PERSON_FIELDS if have.get(f) != rec[f]]
        if bad:
            diff.append((k, {f: (rec[f], have.get(f)) for f in bad}))
    diff.extend((k, "not in the city") for k in got if k not in want)
    return diff


def link(port, name="city-source"):
    st, doc = call(port, "GET", "/status", role="viewer")
    return next((x for x in doc["links"] if x["name"] == name), {}) if st == 200 else {}


def refusals(port):
    path = "/api/v1/connectors/city-source/snapshot"
    st, doc = call(port, "POST", path, role="viewer", body={"tables": ["city.person"]})
    check(st == 403, "a viewer asked for a snapshot: %s %s" % (st, doc))
    for bad, why in (({"tables": ["city.nosuch"]}, "not mapped"),
                     ({"tables": ["city.household"]}, "not mapped"),
                     ({"tables": ["person"]}, "schema.table"),
                     ({"tables": []}, "tables"), ({"table": "city.person"}, "tables"),
                     ({"tables": ["city.person", "city.person"]}, "twice")):
        st, doc = call(port, "POST", path, body=bad)
        check(st == 400 and why in doc["error"]["message"],
              "snapshot %s: %s %s (want 400 '%s')" % (bad, st, doc, why))
    st, doc = call(port, "POST", "/api/v1/connectors/nosuch/snapshot",
                   body={"tables": ["city.person"]})
    check(st == 404, "snapshot of an unknown link: %s %s" % (st, doc))
    st, doc = call(port, "POST", "/api/v1/connectors/reconcile/snapshot",
                   body={"tables": ["city.person"]})
    check(st == 409, "snapshot of the reconcile workers: %s %s" % (st, doc))
    L.info("refusals: 403 viewer, 400 unmapped/malformed, 404 unknown link, 409 not a source")


def resnapshot_part(args, store, city, cps):
    port = cps.port
    T.wait_for("the initial snapshot (%d persons at version 1)" % N_PERSONS,
               lambda: versions(store) and len(versions(store)) == N_PERSONS
               and set(versions(store).values()) == {1}, 120, cps)
    check(not differences(city, store), "after the initial snapshot: %s"
          % differences(city, store)[:3])
    refusals(port)
    before = versions(store)
    upd = Updater(city.db.conninfo)
    upd.start()
    T.wait_for("updates under way", lambda: upd.count >= 50 or upd.error, 30, cps)
    out = subprocess.run([args.cpsync, "connectors", "snapshot", "city-source",
                          "--table", "city.person", "--reason", "re-read after an incident",
                          "--url", "http://127.0.0.1:%d" % port, "--token", TOKENS["operator"]],
                         stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, timeout=90)
    check(out.returncode == 0 and "city.person" in out.stdout and "requested" in out.stdout,
          "cpsync connectors snapshot: %s\n%s" % (out.returncode, out.stdout))
    st, doc = call(port, "POST", "/api/v1/connectors/city-source/snapshot",
                   body={"tables": ["city.person"]})
    check(st == 409 and "already" in doc["error"]["message"],
          "a second snapshot while one runs: %s %s" % (st, doc))
    audit = store.query("SELECT actor, reason, after FROM cpsync.audit WHERE action = "
                        "'connector.snapshot' AND key = 'city-source'")
    check(audit == [("ops-console", "re-read after an incident", {"tables": ["city.person"]})],
          "audit of the snapshot request: %s" % audit)
    seen = set()

    def done():
        s = link(port).get("snapshot") or {}
        seen.add(s.get("state"))
        return s if s.get("table") == "city.person" and s.get("state") == "done" else None
    t0 = time.monotonic()
    snap = T.wait_for("the re-snapshot done in /status", done, 180, cps,
                      detail=lambda: str(link(port).get("snapshot")))
    took = time.monotonic() - t0
    check("running" in seen or took < 1, "the snapshot was never seen running: %s" % seen)
    upd.stop_flag.set()
    upd.join(10)
    check(upd.error is None, "the updater failed: %s" % upd.error)
    want_chunks = (N_PERSONS + CHUNK - 1) // CHUNK
    check(snap["chunks"] >= want_chunks and 0 < snap["rows"] <= N_PERSONS,
          "snapshot figures: %s (want >= %d chunks, <= %d rows)" % (snap, want_chunks,
                                                                   N_PERSONS))
    dropped = N_PERSONS - snap["rows"]
    L.info("re-snapshot done in %.1f s: %d chunks, %d rows emitted, %d dropped as changed by the "
           "stream inside their window; %d updates on %d hot rows meanwhile"
           % (took, snap["chunks"], snap["rows"], dropped, upd.count, len(upd.touched)))
    T.wait_for("the store equal to the city table", lambda: not differences(city, store), 90,
               cps, detail=lambda: str(differences(city, store)[:3]))
    time.sleep(1.5)
    diff = differences(city, store)
    check(not diff, "store differs from the city after quiescence: %d rows, e.g. %s"
          % (len(diff), diff[:3]))
    after = versions(store)
    untouched = [k for k in before if k not in upd.touched]
    moved = [(k, before[k], after.get(k)) for k in untouched if after.get(k) != before[k]]
    check(len(untouched) >= N_PERSONS * 3 // 4 and not moved,
          "versions of %d never-updated rows changed, e.g. %s" % (len(moved), moved[:3]))
    # a chunk row older than a stream change would write an older address
    # after a newer one: every key's history only moves forward
    back = []
    for key, addrs in history_addresses(store).items():
        nums = [int(a.split("-")[1]) for a in addrs]
        if any(b < a for a, b in zip(nums, nums[1:])):
            back.append((key, nums))
    check(not back, "%d keys went back to an older address, e.g. %s" % (len(back), back[:2]))
    L.info("store equals the city (%d rows); %d never-updated rows kept their version; no "
           "history went backwards" % (N_PERSONS, len(untouched)))


def history_addresses(store):
    out = {}
    for key, addr in store.query(
            "SELECT key, record->'residence_address' FROM cpsync.record_history "
            "WHERE entity = 'person' ORDER BY key, version"):
        out.setdefault(key, []).append(T.plain(addr))
    return out


def progress_row(city, table):
    rows = city.query("SELECT state, chunks, rows_read FROM public.cpsync_snapshot "
                      "WHERE slot = %s AND tbl = %s", (city.slot, table))
    return rows[0] if rows else None


def resume_part(args, store, city, cps, cfg):
    """A re-snapshot whose cpsync is SIGKILLed half-way resumes after the
    last chunk the store has, instead of starting over (chunks of a second
    here, so that the kill lands in the middle)."""
    check(cps.stop() == 0, "cpsync did not stop cleanly\n%s" % cps.tail())
    write_config(cfg, schemas=args.schemas, store=store, city=city, household=False,
                 delay_ms=1000)
    cps.start()
    T.wait_links_running(cps, names=["city-source", "reconcile"])
    before = versions(store)
    st, doc = call(cps.port, "POST", "/api/v1/connectors/city-source/snapshot",
                   body={"tables": ["city.person"]})
    check(st == 202 and doc["state"] == "requested", "second snapshot: %s %s" % (st, doc))
    row = T.wait_for("3 chunks recorded", lambda: (lambda r: r if r and r[0] == "running"
                                                   and r[1] >= 3 else None)(
        progress_row(city, "city.person")), 60, cps,
        detail=lambda: str(progress_row(city, "city.person")))
    cps.kill()
    check(progress_row(city, "city.person")[0] == "running",
          "the snapshot ended before the kill: the test kills too late")
    cps.start()
    T.wait_for("the resumed snapshot done", lambda: (progress_row(city, "city.person") or
                                                     ("",))[0] == "done", 120, cps,
               detail=lambda: str(progress_row(city, "city.person")))
    state, chunks, rows = progress_row(city, "city.person")
    want = (N_PERSONS + CHUNK - 1) // CHUNK
    check(want <= chunks <= want + 3 and N_PERSONS <= rows <= N_PERSONS + 3 * CHUNK,
          "after the kill: %d chunks, %d rows (want about %d and %d: resumed, not restarted)"
          % (chunks, rows, want, N_PERSONS))
    check("incremental snapshot of 'city.person' resumed" in cps.tail(200000),
          "the log does not say the snapshot resumed")
    T.wait_for("the store equal to the city table after the kill",
               lambda: not differences(city, store), 90, cps,
               detail=lambda: str(differences(city, store)[:3]))
    check(versions(store) == before, "versions moved with the resumed snapshot")
    L.info("killed after %d recorded chunks, the snapshot resumed there: %d chunks, %d rows "
           "in all; no version moved" % (row[1], chunks, rows))


def mapping_part(args, store, city, cps, cfg):
    """A table mapped after the slot's snapshot is snapshotted by itself."""
    before = versions(store)
    rc = cps.stop()
    check(rc == 0, "cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    write_config(cfg, schemas=args.schemas, store=store, city=city, household=True)
    cps.start()
    T.wait_for("%d households from the newly mapped table" % N_HOUSEHOLDS,
               lambda: len(versions(store, "household")) == N_HOUSEHOLDS, 120, cps)
    snap = T.wait_for("the household snapshot done",
                      lambda: (lambda s: s if s.get("table") == "city.household"
                               and s.get("state") == "done" else None)(
                          link(cps.port).get("snapshot") or {}), 60, cps,
                      detail=lambda: str(link(cps.port).get("snapshot")))
    rows = city.query("SELECT tbl, state, cause FROM public.cpsync_snapshot WHERE slot = %s "
                      "ORDER BY tbl", (city.slot,))
    check(rows == [("city.household", "done", "mapping"), ("city.person", "done", "request")],
          "snapshot progress rows: %s" % rows)
    h = dict(store.query("SELECT key, (record->>'member_count') FROM cpsync.records "
                         "WHERE entity = 'household'"))
    check(len(h) == N_HOUSEHOLDS and all(v == "1" for v in h.values()),
          "household records: %s" % list(h.items())[:3])
    city.execute("UPDATE city.household SET household_type = 'RURAL' WHERE household_id = "
                 "'H000001'")
    T.wait_for("a household change streamed", lambda: store.query(
        "SELECT record->>'household_type' FROM cpsync.records WHERE entity = 'household' "
        "AND key = 'H000001'") == [("RURAL",)], 60, cps)
    check(versions(store) == before, "person versions moved with the new mapping")
    L.info("city.household mapped later: %d rows snapshotted by themselves (%d chunk(s)); its "
           "changes stream; person versions unchanged" % (N_HOUSEHOLDS, snap["chunks"]))


def main():
    args = L.parse_args("api.resnapshot")
    work = L.tmpdir("resnap")
    store = L.Database(args.pg, "resnap_store")
    city = T.City(args.pg, "resnap", args.source)
    cps = None
    try:
        seed_city(city)
        cfg = os.path.join(work, "cpsync.yaml")
        write_config(cfg, schemas=args.schemas, store=store, city=city, household=False)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        T.wait_links_running(cps, names=["city-source", "reconcile"])
        resnapshot_part(args, store, city, cps)
        resume_part(args, store, city, cps, cfg)
        mapping_part(args, store, city, cps, cfg)
        rc = cps.stop()
        check(rc == 0, "cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        if cps:
            cps.kill()
        city.drop()
        store.drop()
    L.info("ok")


if __name__ == "__main__":
    main()
