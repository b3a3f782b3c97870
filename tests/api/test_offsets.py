#!/usr/bin/python3
"""api.offsets: a platform source's offsets shown and reset (KIP-875-like),
GET/PUT /api/v1/connectors/{name}/offsets and `cpsync connectors offsets`.
One cpsync (embedded broker, one partition) with the province on Kafka and
the city as a PostgreSQL database captured through a replication slot
(tests/threeway/city.sql). Asserted:
- province-source: its group's committed offset reaches the log end (lag 0);
  a reset while running answers 409, a viewer's 403, bad bodies 400; paused,
  a reset to a timestamp between two bursts answers 200 with the offset of
  the first message at or after it, and audits connector.offsets_reset;
  resumed, exactly the messages after it come again (the link's record count
  grows by exactly that many), the group ends at the log end again, and no
  version changes (cpsync.records versions and cpsync.changes rows equal);
  the same for an explicit offset set with `cpsync connectors offsets
  --offset` (exactly one message again);
- city-source: the slot's confirmed_flush_lsn and lag are shown; earliest, a
  timestamp and an LSN behind the slot answer 400 with the reason; paused,
  changes made in the city are skipped by a reset to latest (the slot at the
  server's LSN) and never applied; changes after the resume are;
- a city source paused across SIGKILL and a restart resets as well (the
  runner takes the advisory lock it never asked for);
- reconcile and city-sink: the workers' stored ingest offsets and the sink's
  group offsets reach their log ends; the publisher has none (409), a sink
  cannot be reset (409), an unknown link is 404.

usage: test_offsets.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import datetime
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "threeway"))
import twlib as T  # noqa: E402
from twlib import L  # noqa: E402

TOKENS = {"viewer": "viewer-token-0123456789abcdef",
          "operator": "operator-token-0123456789abcdef"}
EPOCH = datetime.date(1970, 1, 1)


def write_config(path, *, schemas, source, store, city):
    text = """\
instance: offsets-{pid}
log:
  level: info
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded: {{partitions: 1}}
  consumer:
    session.timeout.ms: 6000
    heartbeat.interval.ms: 500
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
  province:
    connector: kafka
    source:
      framing: single-object
      topics: [province.person]
      topic:
        province.person: {{entity: person}}
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
      table:
        city.person: {{entity: person}}
    sink:
      conninfo: "{city}"
      origin: {origin}
      table:
        person: inbound.person
      allow:
        person: {allow}
  shenshan:
    connector: files
    enabled: false
""".format(pid=os.getpid(), schemas=schemas, store=store.conninfo, city=city.db.conninfo,
           slot=city.slot, publication=city.publication, origin=city.origin,
           allow=T.allow(T.PERSON_FIELDS), **TOKENS)
    text += L.load_rules(source)
    with open(path, "w") as f:
        f.write(text)


def call(port, method, path, role="operator", body=None):
    return L.http_call(port, method, path, TOKENS[role], body, timeout=90)

def check(cond, msg):
    if not cond:
        L.fail(msg)


def person(nid, i, **kw):
    rec = {"national_id": nid, "name": "测试%d" % i, "gender": "FEMALE",
           "birth_date": (datetime.date(1975, 5, 20) - EPOCH).days + i,
           "registration_region_code": "440305", "residence_region_code": "440305",
           "residence_address": "南山区桃源街道%d号" % i, "has_residence_permit": False,
           "disabled": False, "disability_grade": None, "seriously_ill": False,
           "labour_capacity": "FULL", "phone": None, "household_id": None, "deceased": False}
    rec.update(kw)
    return rec


def city_insert(city, rec):
    cols = T.PERSON_FIELDS
    vals = [rec[c] for c in cols]
    vals[cols.index("birth_date")] = EPOCH + datetime.timedelta(days=rec["birth_date"])
    city.execute("INSERT INTO city.person (%s) VALUES (%s)"
                 % (", ".join(cols), ", ".join(["%s"] * len(cols))), vals)


def versions(store):
    return dict(store.query("SELECT key, version FROM cpsync.records WHERE entity = 'person'"))


def changes(store):
    return store.query("SELECT key, version FROM cpsync.changes WHERE entity = 'person' "
                       "ORDER BY key, version")


def link(port, name):
    st, doc = call(port, "GET", "/status", role="viewer")
    return next((x for x in doc["links"] if x["name"] == name), {}) if st == 200 else {}


def offsets(port, name):
    st, doc = call(port, "GET", "/api/v1/connectors/%s/offsets" % name, role="viewer")
    check(st == 200, "GET offsets of %s: %s %s" % (name, st, doc))
    return doc


def pause(port, name):
    st, doc = call(port, "POST", "/api/v1/connectors/%s/pause" % name)
    check(st == 200 and doc["state"] == "PAUSED", "pause %s: %s %s" % (name, st, doc))


def resume(port, name):
    st, doc = call(port, "POST", "/api/v1/connectors/%s/resume" % name)
    check(st in (200, 202), "resume %s: %s %s" % (name, st, doc))


def produce(schemas, bootstrap, recs, ts_ms):
    return L.produce_all(L.producer(bootstrap), [
        ("province.person", r["national_id"].encode(), schemas.single_object("person", r),
         [("effective_time", str(ts_ms + i).encode())], ts_ms + i) for i, r in enumerate(recs)])


def province_part(args, schemas, store, cps):
    port = cps.port
    bootstrap = cps.status()["kafka"]["bootstrap"]
    keys = [L.national_id("440305", "19750520", 400 + i) for i in range(4)]
    t0 = int(time.time() * 1000) - 60_000
    produce(schemas, bootstrap, [person(keys[0], 0), person(keys[1], 1)], t0)
    t1 = t0 + 30_000
    produce(schemas, bootstrap, [person(keys[2], 2), person(keys[0], 0, labour_capacity="NONE")],
            t1)
    T.wait_for("the province's 4 messages applied",
               lambda: versions(store) == {keys[0]: 2, keys[1]: 1, keys[2]: 1}, 60, cps)

    def at_end():
        e = offsets(port, "province-source")["offsets"]
        return e if len(e) == 1 and e[0]["offset"] == 4 and e[0]["lag"] == 0 else None
    e = T.wait_for("province-source committed at the log end", at_end, 30, cps,
                   detail=lambda: offsets(port, "province-source"))[0]
    check(e["kind"] == "partition" and e["stream"] == "province.person" and e["partition"] == 0
          and e["end"] == 4, "province-source offsets: %s" % e)
    before_v, before_c = versions(store), changes(store)
    records_before = link(port, "province-source")["records"]

    path = "/api/v1/connectors/province-source/offsets"
    st, doc = call(port, "PUT", path, body={"to": {"timestamp": t1}})
    check(st == 409 and "not paused" in doc["error"]["message"], "a reset while running: %s %s" % (st, doc))
    pause(port, "province-source")
    check(call(port, "PUT", path, role="viewer", body={"to": "earliest"})[0] == 403,
          "a viewer may reset offsets")
    for bad in ({"to": "yesterday"}, {"to": {"timestamp": -1}}, {}, {"to": "latest", "x": 1},
                {"to": {"offsets": [{"stream": "province.person", "partition": 0,
                                     "offset": 99}]}},
                {"to": {"offsets": [{"stream": "other", "partition": 0, "offset": 1}]}}):
        st, doc = call(port, "PUT", path, body=bad)
        check(st == 400, "a bad reset %s answered %s %s" % (bad, st, doc))
    st, doc = call(port, "PUT", path, body={"to": {"timestamp": t1}, "reason": "replay burst 2"})
    check(st == 200 and [x["offset"] for x in doc["offsets"]] == [2],
          "reset to the timestamp: %s %s" % (st, doc))
    check(offsets(port, "province-source")["offsets"][0]["offset"] == 2,
          "the group's committed offset after the reset")
    # every reset asked for is audited before it is tried (the refused ones too)
    audit = store.query("SELECT actor, reason, after, before FROM cpsync.audit "
                        "WHERE action = 'connector.offsets_reset' AND key = 'province-source' "
                        "ORDER BY at DESC LIMIT 1")
    check(len(audit) == 1 and audit[0][0] == "ops-console" and audit[0][1] == "replay burst 2"
          and audit[0][2] == {"to": {"timestamp": t1}}
          and audit[0][3]["offsets"][0]["offset"] == 4, "audit of the reset: %s" % audit)
    resume(port, "province-source")
    T.wait_for("2 messages re-applied",
               lambda: link(port, "province-source")["records"] - records_before >= 2, 60, cps)
    T.wait_for("province-source at the log end again", at_end, 30, cps)
    time.sleep(1.0)
    got = link(port, "province-source")["records"] - records_before
    check(got == 2, "%d messages re-read after the reset to the timestamp, want 2" % got)
    check(versions(store) == before_v and changes(store) == before_c,
          "versions changed by the re-read: %s -> %s" % (before_v, versions(store)))
    L.info("province-source: reset to a timestamp re-applied exactly 2 messages, no version")

    # the CLI shows the same, and resets to an explicit offset
    def cli(role, *extra):
        return subprocess.run([args.cpsync, "connectors", "offsets", "province-source",
                               "--url", "http://127.0.0.1:%d" % port, "--token", TOKENS[role]]
                              + list(extra), stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                              text=True, timeout=90)
    out = cli("viewer")
    check(out.returncode == 0 and "province.person" in out.stdout and "PARTITION" in out.stdout,
          "cpsync connectors offsets: %s\n%s" % (out.returncode, out.stdout))
    check(cli("operator", "--to", "latest", "--timestamp", "1").returncode == 2,
          "two targets at once were accepted")
    pause(port, "province-source")
    out = cli("operator", "--offset", "province.person:0=3", "--reason", "replay the last")
    check(out.returncode == 0 and "reopens" in out.stdout,
          "cpsync connectors offsets --offset: %s\n%s" % (out.returncode, out.stdout))
    check(offsets(port, "province-source")["offsets"][0]["offset"] == 3,
          "the committed offset after the explicit reset")
    records_before = link(port, "province-source")["records"]
    resume(port, "province-source")
    T.wait_for("province-source at the log end after the explicit reset", at_end, 30, cps)
    time.sleep(1.0)
    got = link(port, "province-source")["records"] - records_before
    check(got == 1, "%d messages re-read after the reset to offset 3, want 1" % got)
    check(versions(store) == before_v and changes(store) == before_c,
          "versions changed by the explicit re-read")
    L.info("province-source: reset to an explicit offset (CLI) re-applied exactly 1 message")


def others_part(cps):
    """The reconcile workers' stored offsets and the city sink's group
    offsets, each at its log end once everything is applied and delivered;
    the publisher has none (409); a sink cannot be reset (409)."""
    port = cps.port

    def at_end(name, stream):
        e = offsets(port, name)["offsets"]
        ok = e and all(x["stream"] == stream and x["offset"] == x["end"] and x["lag"] == 0
                       for x in e) and sum(x["end"] for x in e) > 0
        return e if ok else None
    T.wait_for("reconcile at the ingest topic's end", lambda: at_end("reconcile", "cpsync.ingest"),
               30, cps, detail=lambda: offsets(port, "reconcile"))
    T.wait_for("city-sink at the unified topic's end",
               lambda: at_end("city-sink", "cpsync.unified.person"), 30, cps,
               detail=lambda: offsets(port, "city-sink"))
    st, doc = call(port, "GET", "/api/v1/connectors/publisher/offsets", role="viewer")
    check(st == 409, "publisher offsets: %s %s" % (st, doc))
    st, doc = call(port, "GET", "/api/v1/connectors/nosuch/offsets", role="viewer")
    check(st == 404, "offsets of an unknown link: %s %s" % (st, doc))
    st, doc = call(port, "PUT", "/api/v1/connectors/city-sink/offsets", body={"to": "latest"})
    check(st == 409, "a sink reset: %s %s" % (st, doc))
    L.info("reconcile and city-sink offsets at their log ends")


def city_part(args, store, city, cps):
    port = cps.port
    path = "/api/v1/connectors/city-source/offsets"
    x, y, z = (L.national_id("440306", "19800101", 500 + i) for i in range(3))
    city_insert(city, person(x, 10))
    T.wait_for("X from the city", lambda: versions(store).get(x) == 1, 60, cps)

    def slot():
        e = offsets(port, "city-source")["offsets"]
        check(len(e) == 1 and e[0]["kind"] == "slot" and e[0]["stream"] == city.slot,
              "city-source offsets: %s" % e)
        return e[0]
    s = slot()
    check(s["offset"] > 0 and "/" in s["position"] and s["end"] >= s["offset"],
          "the slot's position: %s" % s)
    pause(port, "city-source")
    city_insert(city, person(y, 11))
    city.execute("UPDATE city.person SET labour_capacity = 'NONE' WHERE national_id = %s", (x,))
    s = slot()
    check(s["lag"] > 0, "a slot behind the city's changes shows no lag: %s" % s)
    for bad, why in (({"to": "earliest"}, "cannot go back"),
                     ({"to": {"timestamp": 1}}, "cannot go back"),
                     ({"to": {"offsets": [{"stream": city.slot, "offset": "0/1"}]}},
                      "cannot go back"),
                     ({"to": {"offsets": [{"stream": city.slot, "offset": "nonsense"}]}},
                      "not an LSN")):
        st, doc = call(port, "PUT", path, body=bad)
        check(st == 400 and why in doc["error"]["message"], "city reset %s: %s %s" % (bad, st, doc))
    server_lsn = int(city.query("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0])
    st, doc = call(port, "PUT", path, body={"to": "latest"})
    check(st == 200 and doc["offsets"][0]["offset"] >= server_lsn,
          "reset of the slot to latest: %s %s (server at %d)" % (st, doc, server_lsn))
    row = city.slot_row()
    check(row[1] >= server_lsn, "the slot's confirmed_flush_lsn %d is behind %d" % (row[1],
                                                                                  server_lsn))
    resume(port, "city-source")
    city_insert(city, person(z, 12))
    T.wait_for("Z from the city after the resume", lambda: versions(store).get(z) == 1, 60, cps)
    time.sleep(1.0)
    v = versions(store)
    check(y not in v and v.get(x) == 1,
          "changes skipped by the reset were applied: Y %s, X v%s" % (y in v, v.get(x)))
    L.info("city-source: reset to latest skipped the paused changes; later ones applied")


def restart_part(store, city, cps):
    """A city source paused across a restart (it never took its advisory
    lock) is reset all the same: the runner takes the lock for it."""
    pause(cps.port, "city-source")
    cps.kill()
    cps.start()
    port = cps.port
    T.wait_for("city-source PAUSED after the restart",
               lambda: link(port, "city-source").get("state") == "PAUSED", 60, cps)
    u, w = (L.national_id("440306", "19800101", 600 + i) for i in range(2))
    city_insert(city, person(u, 20))
    st, doc = call(port, "PUT", "/api/v1/connectors/city-source/offsets", body={"to": "latest"})
    check(st == 200, "reset of a city source paused since the start: %s %s" % (st, doc))
    resume(port, "city-source")
    city_insert(city, person(w, 21))
    T.wait_for("W from the city after the resume", lambda: versions(store).get(w) == 1, 60, cps)
    check(u not in versions(store), "a change skipped by the reset was applied")
    L.info("city-source paused across a restart: reset to latest, later changes applied")


def main():
    args = L.parse_args("api.offsets")
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("offsets")
    store = L.Database(args.pg, "offsets_store")
    city = T.City(args.pg, "offs", args.source)
    cps = None
    try:
        cfg = os.path.join(work, "cpsync.yaml")
        write_config(cfg, schemas=args.schemas, source=args.source, store=store, city=city)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        T.wait_links_running(cps, names=["province-source", "city-source", "city-sink",
                                         "reconcile"])
        province_part(args, schemas, store, cps)
        city_part(args, store, city, cps)
        others_part(cps)
        restart_part(store, city, cps)
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
