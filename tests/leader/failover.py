#!/usr/bin/python3
"""leader.failover: a single-reader source (a Shenshan file inbox) read by
one cpsync instance at a time, chosen by a PostgreSQL advisory lock in the
store. Two `cpsync run` processes share the store database, the standalone
broker and the inbox. Asserted:
- exactly one instance shows shenshan-source RUNNING, the other STANDBY in
  /status; the standby is ready (/readyz 200) and exports
  cpsync_link_standby 1 / cpsync_link_up 0 for the link; the store shows
  the lock held by the leader's session (application_name
  'cpsync <instance> shenshan');
- files dropped in the inbox are applied (cpsync.records);
- the leader's lock session is terminated (pg_terminate_backend): it closes
  the source at once, one instance leads again and files still flow;
- the leader is SIGKILLed: within 15 s the other instance's link is
  RUNNING, and files dropped afterwards are applied;
- no file is applied twice: every key at version 1 with one record_history
  row, one done/ receipt per file, no duplicate, nothing rejected, the
  inbox empty.

usage: failover.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import datetime
import os
import sys
import time
import urllib.request

import avro.datafile
import avro.io

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2elib as L  # noqa: E402

EPOCH = datetime.date(1970, 1, 1)
LINK = "shenshan-source"
FILES_BEFORE = 3
FILES_AFTER = 3
PER_FILE = 4
FAILOVER_S = 15


def write_config(path, *, instance, schemas, source, store, bootstrap, ssdir):
    text = """\
instance: {instance}
log:
  level: info
schemas:
  dir: {schemas}
kafka:
  brokers: {bootstrap}
  ingest_topic: cpsync.ingest
  unified_topic_prefix: cpsync.unified.
  dead_letter_topic: cpsync.deadletter
  group_id: leader-reconcile
  consumer:
    session.timeout.ms: 6000
    heartbeat.interval.ms: 500
store:
  conninfo: "{store}"
  batch_size: 1000
  batch_ms: 50
  leader_retry_ms: 500
http:
  listen: 127.0.0.1:0
  tokens:
    e2e: {{token: "{token}", role: viewer}}
reconcile:
  workers: 1
platforms:
  shenshan:
    connector: files
    source:
      inbox: {ss}/inbox
      stable_ms: 300
  province:
    connector: kafka
    enabled: false
  city:
    connector: postgres
    enabled: false
""".format(instance=instance, schemas=schemas, bootstrap=bootstrap, store=store,
           token=L.TOKEN, ss=ssdir)
    text += L.load_rules(source)
    with open(path, "w") as f:
        f.write(text)


def person(nid, i):
    return {"national_id": nid, "name": "测试%d" % i, "gender": "FEMALE",
            "birth_date": (datetime.date(1975, 5, 20) - EPOCH).days + i,
            "registration_region_code": "441500", "residence_region_code": "441500",
            "residence_address": "深汕特别合作区鹅埠镇%d号" % i, "has_residence_permit": False,
            "disabled": False, "disability_grade": None, "seriously_ill": False,
            "labour_capacity": "FULL", "phone": None, "household_id": None,
            "deceased": False}


def write_inbox_file(schemas, inbox, name, records):
    tmp = os.path.join(inbox, name + ".tmp")
    with open(tmp, "wb") as f:
        w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), schemas.entity["person"])
        for r in records:
            w.append(r)
        w.flush()
        w.close()
    os.rename(tmp, os.path.join(inbox, name))


def link_state(cps):
    doc = cps.status()
    if not doc:
        return None
    for link in doc.get("links", []):
        if link["name"] == LINK:
            return link["state"]
    return None


def metrics_text(cps):
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % cps.port,
                                 headers={"Authorization": "Bearer " + L.TOKEN})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


def metric(text, name):
    """The value of `name` for the shenshan-source link, or None."""
    for line in text.splitlines():
        if line.startswith(name + "{") and 'link="%s"' % LINK in line:
            return float(line.rsplit(" ", 1)[1])
    return None


def versions(store, keys):
    rows = store.query("SELECT key, version FROM cpsync.records WHERE entity = 'person' "
                       "AND key = ANY(%s)", (keys,))
    return dict(rows)


def drop_files(schemas, inbox, tag, first, n, keys):
    names = []
    for f in range(n):
        recs = []
        for j in range(PER_FILE):
            i = first + f * PER_FILE + j
            nid = L.national_id("441500", "19750520", 100 + i)
            keys.append(nid)
            recs.append(person(nid, i))
        name = "%s-%d.avro" % (tag, f)
        write_inbox_file(schemas, inbox, name, recs)
        names.append(name)
    return names


def run(args, schemas, store, a, b, ssdir):
    inbox = os.path.join(ssdir, "inbox")
    done = os.path.join(inbox, "done")
    both = (a, b)

    # -- exactly one leader, the other on standby
    states = L.wait_for("one RUNNING and one STANDBY shenshan-source",
                        lambda: (lambda s: s if sorted(s) == ["RUNNING", "STANDBY"] else None)(
                            [link_state(a), link_state(b)]), 60, procs=both)
    leader, standby = (a, b) if states[0] == "RUNNING" else (b, a)
    L.info("leader %s, standby %s" % (leader.name, standby.name))
    for _ in range(10):  # it stays that way
        s = [link_state(leader), link_state(standby)]
        if s != ["RUNNING", "STANDBY"]:
            L.fail("shenshan-source states changed to %s" % s)
        time.sleep(0.2)
    text = metrics_text(standby)
    if metric(text, "cpsync_link_standby") != 1 or metric(text, "cpsync_link_up") != 0:
        L.fail("standby metrics: cpsync_link_standby %s, cpsync_link_up %s" % (
            metric(text, "cpsync_link_standby"), metric(text, "cpsync_link_up")))
    text = metrics_text(leader)
    if metric(text, "cpsync_link_standby") != 0 or metric(text, "cpsync_link_up") != 1:
        L.fail("leader metrics: cpsync_link_standby %s, cpsync_link_up %s" % (
            metric(text, "cpsync_link_standby"), metric(text, "cpsync_link_up")))
    holders = store.query(
        "SELECT a.application_name FROM pg_locks l JOIN pg_stat_activity a USING (pid) "
        "WHERE l.locktype = 'advisory' AND l.granted AND l.database = "
        "(SELECT oid FROM pg_database WHERE datname = current_database()) "
        "AND ((l.classid::bigint << 32) | l.objid::bigint) = "
        "hashtextextended('cpsync.source.shenshan', 0)")
    if [h[0] for h in holders] != ["cpsync %s shenshan" % leader.name]:
        L.fail("the advisory lock of shenshan is held by %s" % holders)

    # -- files are applied by the leader
    keys = []
    names = drop_files(schemas, inbox, "before", 0, FILES_BEFORE, keys)
    L.wait_for("the first files applied",
               lambda: len(versions(store, keys)) == len(keys), 90, procs=both)
    L.wait_for("the first files' receipts",
               lambda: all(os.path.exists(os.path.join(done, n + ".receipt.json"))
                           for n in names), 30, procs=both)
    L.info("%d files applied by the leader" % len(names))
    # ready (its reconcile worker has committed a batch by now): STANDBY is healthy
    ready = []
    L.wait_for("/readyz 200 on the standby",
               lambda: ready.append(L.http_get(standby.port, "/readyz")) or
               ready[-1][0] == 200, 60, procs=both,
               detail=lambda: "last /readyz: %s" % (ready[-1:],))
    if link_state(standby) != "STANDBY":
        L.fail("the standby became %s" % link_state(standby))

    # -- the leader's lock session is terminated: it closes the source at once
    # (either instance may then win the lock), and files still flow once
    killed = store.query("SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
                         "WHERE application_name = %s", ("cpsync %s shenshan" % leader.name,))
    if killed != [(True,)]:
        L.fail("terminating the leader's lock session: %s" % killed)
    L.wait_for("the leader to notice its lost lock session",
               lambda: "the advisory lock's store session is lost" in leader.tail(100000),
               15, procs=both)
    states = L.wait_for("one RUNNING and one STANDBY again",
                        lambda: (lambda s: s if sorted(s) == ["RUNNING", "STANDBY"] else None)(
                            [link_state(a), link_state(b)]), FAILOVER_S, procs=both)
    leader, standby = (a, b) if states[0] == "RUNNING" else (b, a)
    L.info("after the lost lock session: leader %s" % leader.name)
    names += drop_files(schemas, inbox, "relock", FILES_BEFORE * PER_FILE, FILES_BEFORE, keys)
    L.wait_for("the files dropped after the lost session applied",
               lambda: len(versions(store, keys)) == len(keys), 90, procs=both)

    # -- the leader dies: the standby takes over
    leader.kill()
    t0 = time.monotonic()
    L.wait_for("the standby to take over", lambda: link_state(standby) == "RUNNING",
               FAILOVER_S, procs=(standby,))
    L.info("failover after %.1f s" % (time.monotonic() - t0))
    names += drop_files(schemas, inbox, "after", 2 * FILES_BEFORE * PER_FILE, FILES_AFTER, keys)
    L.wait_for("the files dropped after the failover applied",
               lambda: len(versions(store, keys)) == len(keys), 120, procs=(standby,))
    L.wait_for("every receipt",
               lambda: all(os.path.exists(os.path.join(done, n + ".receipt.json"))
                           for n in names), 30, procs=(standby,))
    time.sleep(2)  # anything applied twice would show by now

    # -- nothing twice
    v = versions(store, keys)
    if set(v.values()) != {1}:
        L.fail("records applied more than once: %s" % sorted(set(v.values())))
    hist = store.query("SELECT key, count(*) FROM cpsync.record_history WHERE entity = "
                       "'person' AND key = ANY(%s) GROUP BY key", (keys,))
    if len(hist) != len(keys) or any(c != 1 for _, c in hist):
        L.fail("record_history: %d keys, counts %s" % (len(hist), sorted({c for _, c in hist})))
    receipts = sorted(n for n in os.listdir(done) if n.endswith(".receipt.json"))
    if receipts != sorted(n + ".receipt.json" for n in names):
        L.fail("done/ receipts: %s" % receipts)
    dups = [n for n in os.listdir(done) if "duplicate" in n]
    if dups:
        L.fail("files processed twice: %s" % dups)
    rejected = os.path.join(inbox, "rejected")
    if os.path.isdir(rejected) and os.listdir(rejected):
        L.fail("rejected files: %s" % os.listdir(rejected))
    left = [n for n in os.listdir(inbox) if n.endswith(".avro")]
    if left:
        L.fail("files left in the inbox: %s" % left)
    L.info("%d files, %d records, each applied once" % (len(names), len(keys)))


def main():
    args = L.parse_args("leader.failover")
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("leader")
    ssdir = os.path.join(work, "shenshan")
    os.makedirs(os.path.join(ssdir, "inbox"))
    topics = ["cpsync.ingest:2", "cpsync.deadletter:1"] + \
        ["cpsync.unified.%s:1" % e for e in L.ENTITIES]
    broker = L.Broker(args.broker, 2, topics)
    store = L.Database(args.pg, "leader_store")
    procs = []
    try:
        for name in ("leader-a", "leader-b"):
            cfg = os.path.join(work, name + ".yaml")
            write_config(cfg, instance=name, schemas=args.schemas, source=args.source,
                         store=store.conninfo, bootstrap=broker.bootstrap, ssdir=ssdir)
            cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, name + ".log"))
            cps.name = name
            procs.append(cps)
            cps.start()  # one after the other: the first migrates the store
        run(args, schemas, store, procs[0], procs[1], ssdir)
        for cps in procs:
            if cps.alive():
                rc = cps.stop()
                if rc != 0:
                    L.fail("%s exited with %s after SIGTERM\n%s" % (cps.name, rc, cps.tail()))
    finally:
        for cps in procs:
            cps.kill()
        broker.stop()
        store.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
