#!/usr/bin/env python3
"""engine.run_smoke: `cpsync run -c CONFIG` end to end, start to stop.

Creates a fresh database on $CPSYNC_TEST_PG, writes a configuration with an
embedded Kafka broker and one kafka platform source, starts cpsync on a free
HTTP port, waits for /healthz, checks that /status shows every link RUNNING,
a Kafka bootstrap, a migrated store and no personal data, that /readyz says
ready, then sends SIGTERM and asserts a clean exit 0 within 10 s. One
person record (single-object framing, produced with kcat to the platform's
topic) goes through the whole pipeline on the way: ingest, reconcile, store,
outbox, publisher, cpsync.unified.person.

usage: run_smoke.py CPSYNC_BIN SOURCE_DIR
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cpsynctest as C  # noqa: E402


CONFIG = """\
instance: smoke-{pid}
log:
  level: info
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded:
    partitions: 2
store:
  conninfo: "{conninfo}"
  batch_ms: 20
http:
  listen: 127.0.0.1:1   # overridden by --http
  open_routes: [/healthz, /readyz, /status]
reconcile:
  workers: 1
platforms:
  province:
    connector: kafka
    source:
      framing: single-object
      topics: [province.person, province.household]
      topic:
        province.person: {{entity: person}}
        province.household: {{entity: household}}
  shenshan:
    connector: kafka
    enabled: false
    source:
      topics: [shenshan.person]
rules:
  person:
    default:
      rule: precedence
      platforms: [province, shenshan]
"""


def main():
    C.set_name("engine.run_smoke")
    if len(sys.argv) != 3:
        C.fail("usage: run_smoke.py CPSYNC_BIN SOURCE_DIR")
    cpsync, source_dir = sys.argv[1], sys.argv[2]
    db = C.Database(C.require_pg(), "engine_smoke")
    conninfo = db.conninfo
    proc = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "smoke.yaml")
            with open(cfg, "w") as f:
                f.write(CONFIG.format(pid=os.getpid(), schemas=os.path.join(source_dir, "schemas"),
                                      conninfo=conninfo))
            port = C.free_port()
            log = open(os.path.join(tmp, "cpsync.log"), "w+")
            proc = subprocess.Popen([cpsync, "run", "-c", cfg, "--http", "127.0.0.1:%d" % port],
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                national_id = check_running(proc, port, log, cpsync, source_dir)
                proc.send_signal(signal.SIGTERM)
                try:
                    rc = proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                    C.fail("cpsync did not exit within 10 s of SIGTERM\n" + C.log_tail(log))
                if rc != 0:
                    C.fail("cpsync exited with %d after SIGTERM\n%s" % (rc, C.log_tail(log)))
                out = C.log_tail(log)
                if "stopped" not in out:
                    C.fail("no 'stopped' line in the log\n" + out)
                if national_id in out or re.search(r"\d{17}[\dX]", out):
                    C.fail("something shaped like a national ID in the log")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    finally:
        db.drop()
    print("engine.run_smoke: OK")


def status_links(port):
    status, doc = C.http_get(port, "/status", token=None)
    if status != 200:
        C.fail("/status answered %s" % status)
    return doc, {l["name"]: l for l in doc["links"]}


def produce_person(cpsync, source_dir, bootstrap):
    """One sample person, single-object framed, keyed by its national ID."""
    with open(os.path.join(source_dir, "tests/interop/records/person.jsonl")) as f:
        line = f.readline()
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


def check_running(proc, port, log, cpsync, source_dir):
    deadline = time.monotonic() + 60
    while True:
        if proc.poll() is not None:
            C.fail("cpsync exited early with %d\n%s" % (proc.returncode, C.log_tail(log)))
        status, body = C.http_get(port, "/healthz", token=None)
        if status == 200:
            break
        if time.monotonic() > deadline:
            C.fail("/healthz never answered 200\n" + C.log_tail(log))
        time.sleep(0.2)

    # the source and the publisher run as soon as they are connected
    while True:
        doc, links = status_links(port)
        if all(links.get(n, {}).get("state") == "RUNNING" for n in ("province-source", "publisher")):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            C.fail("links not RUNNING: %s\n%s" % (json.dumps(doc["links"]), C.log_tail(log)))
        time.sleep(0.2)
    bootstrap = doc["kafka"]["bootstrap"] or ""
    if not doc["kafka"].get("embedded") or not re.fullmatch(r"127\.0\.0\.1:\d+", bootstrap):
        C.fail("kafka part: %s" % json.dumps(doc["kafka"]))
    national_id = produce_person(cpsync, source_dir, bootstrap)

    # one record through the pipeline: every link RUNNING, the record stored
    while True:
        doc, links = status_links(port)
        if (all(l["state"] == "RUNNING" for l in links.values())
                and links["province-source"]["records"] >= 1
                and links["reconcile"]["records"] >= 1
                and doc["store"].get("records", 0) >= 1):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            C.fail("record not through: %s\n%s" % (json.dumps(doc), C.log_tail(log)))
        time.sleep(0.2)
    names = sorted(links)
    if national_id in json.dumps(doc):
        C.fail("a national ID in /status")

    if names != ["province-source", "publisher", "reconcile"]:
        C.fail("unexpected links %s (the disabled platform must not run)" % names)
    for key in ("version", "instance", "uptime_s", "kafka", "store", "links", "conflicts"):
        if key not in doc:
            C.fail("/status lacks '%s': %s" % (key, json.dumps(doc)))
    store = doc["store"]
    if store.get("ok") is not True or store.get("schema_version", 0) < 1:
        C.fail("store part: %s" % json.dumps(store))
    for key in ("records", "open_conflicts", "oldest_conflict_age_s", "dead_letters", "outbox_pending"):
        if key not in store:
            C.fail("store part lacks '%s': %s" % (key, json.dumps(store)))
    src = [l for l in doc["links"] if l["name"] == "province-source"][0]
    if (src["platform"], src["direction"], src["type"]) != ("province", "source", "kafka"):
        C.fail("province-source link: %s" % json.dumps(src))

    deadline = time.monotonic() + 30
    while True:
        status, body = C.http_get(port, "/readyz", token=None)
        if status == 200 and body.get("ready") is True:
            break
        if time.monotonic() > deadline:
            C.fail("/readyz: %s %s" % (status, json.dumps(body)))
        time.sleep(0.3)

    # the publisher delivered the unified version
    while True:
        out = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", "cpsync.unified.person",
                              "-o", "beginning", "-e", "-q", "-f", "%k\\n"],
                             stdout=subprocess.PIPE, timeout=30).stdout.decode(errors="replace")
        if national_id in out.split():
            break
        if time.monotonic() > deadline:
            C.fail("no unified person on cpsync.unified.person (got %r)\n%s" % (out[:200], C.log_tail(log)))
        time.sleep(0.5)
    return national_id


if __name__ == "__main__":
    main()
