#!/usr/bin/env python3
"""api.pause_persist: a paused sink stays paused across SIGKILL and a restart.

Starts `cpsync run -c CONFIG` (embedded Kafka, a fresh database on
$CPSYNC_TEST_PG) with a province Kafka source and a Shenshan files sink
(outbox in a temp dir), then:
- the operator pauses shenshan-sink: PAUSED in /status and
  /api/v1/connectors, a row in cpsync.paused_links, an audit row; a person
  produced then reaches the store but no outbox file;
- SIGKILL, restart: shenshan-sink is PAUSED from the first /status on (never
  RUNNING), the log says why; another person reaches the store and the
  publisher, still no outbox file;
- resume: RUNNING, the row is gone, the person's outbox file appears;
- restart of the sink answers 200; the reconcile workers pause (PAUSED, an
  ingested event is not applied) and resume (it is), but do not restart
  (409); the publisher pauses (PAUSED, changes wait in the outbox) and
  resumes (they go out); viewers get 403.

usage: test_pause_persist.py CPSYNC_BIN SOURCE_DIR
"""
import glob
import json
import os
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cpsynctest as C  # noqa: E402

TOKENS = {"viewer": "viewer-token-0123456789abcdef",
          "operator": "operator-token-0123456789abcdef"}

CONFIG = """\
instance: pause-{pid}
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded: {{partitions: 1}}
  consumer:
    session.timeout.ms: 6000
    heartbeat.interval.ms: 500
store:
  conninfo: "{conninfo}"
  batch_ms: 20
http:
  listen: 127.0.0.1:1   # overridden by --http
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
  shenshan:
    connector: files
    sink:
      outbox: {outbox}
      schema_dir: {schemas}
      roll_records: 1
      roll_ms: 100
      allow:
        person: "national_id, name, gender, birth_date, registration_region_code, residence_region_code, residence_address, has_residence_permit, disabled, disability_grade, seriously_ill, labour_capacity, phone, household_id, deceased"
rules:
  person:
    default: {{rule: precedence, platforms: [province, shenshan]}}
"""


def check(cond, msg):
    if not cond:
        C.fail(msg)


def call(port, method, path, role="operator", body=None):
    return C.http_call(port, method, path, TOKENS[role], body)

def links(port):
    st, doc = call(port, "GET", "/status", role="viewer")
    return ({l["name"]: l for l in doc["links"]}, doc) if st == 200 else ({}, None)


def state(port, name):
    return links(port)[0].get(name, {}).get("state")


def people(source_dir):
    with open(os.path.join(source_dir, "tests/interop/records/person.jsonl")) as f:
        return [l for l in f if l.strip()]


def produce(cpsync, source_dir, bootstrap, line):
    key = json.loads(line)["national_id"]
    value = subprocess.run([cpsync, "encode", "--entity", "person", "--framing", "single-object",
                            "--schemas", os.path.join(source_dir, "schemas")],
                           input=line.encode(), stdout=subprocess.PIPE, check=True).stdout
    with tempfile.NamedTemporaryFile() as f:
        f.write(value)
        f.flush()
        subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "province.person", "-k", key, f.name],
                       check=True, timeout=30)
    return key


def outbox_files(outbox):
    return sorted(glob.glob(os.path.join(outbox, "person-*.avro")))


def stored(db, key):
    return db.query("SELECT count(*) FROM cpsync.records WHERE entity = 'person' AND key = %s",
                    (key,))[0][0] == 1


def published(port):
    _, doc = links(port)
    return doc and doc["store"].get("outbox_pending") == 0


def main():
    C.set_name("api.pause_persist")
    if len(sys.argv) != 3:
        C.fail("usage: test_pause_persist.py CPSYNC_BIN SOURCE_DIR")
    cpsync, source_dir = sys.argv[1], sys.argv[2]
    db = C.Database(C.require_pg(), "pause")
    tmp = tempfile.mkdtemp(prefix="cps-pause-")
    outbox = os.path.join(tmp, "outbox")
    os.makedirs(outbox)
    cfg = os.path.join(tmp, "cpsync.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(pid=os.getpid(), schemas=os.path.join(source_dir, "schemas"),
                              conninfo=db.conninfo, outbox=outbox, **TOKENS))
    cps = C.Cpsync(cpsync, cfg, os.path.join(tmp, "cpsync.log"))
    persons = people(source_dir)
    try:
        cps.start()
        port = cps.port
        C.wait_for("shenshan-sink RUNNING", lambda: state(port, "shenshan-sink") == "RUNNING",
                   cps=cps)
        check(call(port, "POST", "/api/v1/connectors/shenshan-sink/pause", role="viewer")[0]
              == 403, "a viewer may pause")
        st, doc = call(port, "POST", "/api/v1/connectors/shenshan-sink/pause",
                       body={"reason": "zone maintenance"})
        check(st == 200 and doc["state"] == "PAUSED" and doc["paused"] is True,
              "pause shenshan-sink: %s %s" % (st, doc))
        check(db.query("SELECT link, paused_by, reason FROM cpsync.paused_links")
              == [("shenshan-sink", "ops-console", "zone maintenance")],
              "paused_links: %r" % db.query("SELECT * FROM cpsync.paused_links"))
        check(db.query("SELECT count(*) FROM cpsync.audit WHERE action = 'connector.paused' "
                       "AND key = 'shenshan-sink'")[0][0] == 1, "no audit row for the pause")
        bootstrap = links(port)[1]["kafka"]["bootstrap"]
        k1 = produce(cpsync, source_dir, bootstrap, persons[0])
        C.wait_for("person 1 in the store", lambda: stored(db, k1), cps=cps)
        C.wait_for("person 1 published", lambda: published(port), cps=cps)
        time.sleep(2)
        check(outbox_files(outbox) == [], "a paused sink wrote %s" % outbox_files(outbox))

        cps.kill()
        cps.start(wait_healthy=False)
        port = cps.port
        seen = set()

        def sink_state():
            s = state(port, "shenshan-sink")
            if s:
                seen.add(s)
            return s
        C.wait_for("/status after the restart", lambda: sink_state(), cps=cps)
        check(seen == {"PAUSED"}, "after SIGKILL and restart shenshan-sink was %s" % seen)
        check("link 'shenshan-sink' starts PAUSED" in cps.tail(20000),
              "the log does not say why the sink starts paused")
        bootstrap = links(port)[1]["kafka"]["bootstrap"]
        k2 = produce(cpsync, source_dir, bootstrap, persons[1])
        C.wait_for("person 2 in the store", lambda: stored(db, k2), cps=cps)
        C.wait_for("person 2 published", lambda: published(port), cps=cps)
        for _ in range(10):
            sink_state()
            time.sleep(0.2)
        check(seen == {"PAUSED"} and outbox_files(outbox) == [],
              "the restarted paused sink ran (%s) or wrote %s" % (seen, outbox_files(outbox)))

        st, doc = call(port, "POST", "/api/v1/connectors/shenshan-sink/resume")
        check(st in (200, 202) and doc["paused"] is False, "resume: %s %s" % (st, doc))
        C.wait_for("shenshan-sink RUNNING", lambda: state(port, "shenshan-sink") == "RUNNING",
                   cps=cps)
        check(db.query("SELECT count(*) FROM cpsync.paused_links")[0][0] == 0,
              "the resumed sink is still kept paused")
        # the embedded broker starts empty: person 2's version is the one
        # published after the restart
        C.wait_for("person 2's outbox file", lambda: outbox_files(outbox), cps=cps, timeout=30)

        st, doc = call(port, "POST", "/api/v1/connectors/shenshan-sink/restart")
        check(st == 200 and doc["state"] == "RUNNING", "restart shenshan-sink: %s %s" % (st, doc))
        # the reconcile workers: events wait on the ingest topic while paused
        st, doc = call(port, "POST", "/api/v1/connectors/reconcile/restart")
        check(st == 409, "restart reconcile answered %s" % st)
        st, doc = call(port, "POST", "/api/v1/connectors/reconcile/pause")
        check(st == 200 and doc["state"] == "PAUSED", "pause reconcile: %s %s" % (st, doc))
        k4 = produce(cpsync, source_dir, bootstrap, persons[3])
        C.wait_for("person 4 ingested", lambda: links(port)[0]["province-source"]["records"] >= 2,
                   cps=cps)
        time.sleep(2)
        check(not stored(db, k4), "paused workers applied an event")
        st, doc = call(port, "POST", "/api/v1/connectors/reconcile/resume")
        check(st == 200 and doc["state"] == "RUNNING", "resume reconcile: %s %s" % (st, doc))
        C.wait_for("person 4 in the store", lambda: stored(db, k4), cps=cps)

        # the publisher: changes wait in the outbox while it is paused
        st, doc = call(port, "POST", "/api/v1/connectors/publisher/pause")
        check(st == 200 and doc["state"] == "PAUSED", "pause publisher: %s %s" % (st, doc))
        k3 = produce(cpsync, source_dir, bootstrap, persons[2])
        C.wait_for("person 3 in the store", lambda: stored(db, k3), cps=cps)
        time.sleep(1)
        check(not published(port), "a paused publisher published")
        st, doc = call(port, "POST", "/api/v1/connectors/publisher/resume")
        check(st in (200, 202), "resume publisher: %s %s" % (st, doc))
        C.wait_for("person 3 published", lambda: published(port), cps=cps)
        C.wait_for("person 3's outbox file", lambda: len(outbox_files(outbox)) >= 2, cps=cps,
                   timeout=30)
        check(cps.stop() == 0, "cpsync did not stop cleanly\n" + cps.tail())
    finally:
        cps.kill()
        db.drop()
    print("api.pause_persist: OK")


if __name__ == "__main__":
    main()
