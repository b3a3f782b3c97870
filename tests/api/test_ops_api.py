#!/usr/bin/env python3
"""api.ops: the operator API (dead letters, connector controls) of a running cpsync.

Starts `cpsync run -c CONFIG` with an embedded Kafka broker, a fresh database
on $CPSYNC_TEST_PG and viewer / steward / operator tokens, then checks:
- every operator route: 401 without a token, 403 with a wrong role;
- undecodable messages produced to a platform topic appear in
  GET /api/v1/deadletters (filters, cursor pagination), inspect gives the raw
  value and key base64, byte-equal; viewers list without notes or raw bytes;
- discard needs a reason, is audited (deadletter.discarded), and only once;
- replay of a still-bad message keeps it new with a reason; replay of a valid
  raw message (inserted by SQL) produces it to the ingest topic exactly once
  even when two replays race, and the record reaches the store;
- malformed replay requests get 400;
- pause: state PAUSED in /status and /connectors, messages wait until resume;
  restart reopens the source; each action is audited (connector.*);
- SIGTERM: clean exit 0.

usage: test_ops_api.py CPSYNC_BIN SOURCE_DIR
"""
import base64
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request

import psycopg2
from confluent_kafka import Producer

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cpsynctest as C  # noqa: E402

TOKENS = {
    "viewer": "viewer-token-0123456789abcdef",
    "steward": "steward-token-0123456789abcdef",
    "operator": "operator-token-0123456789abcdef",
}

CONFIG = """\
instance: ops-{pid}
log:
  level: info
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded:
    partitions: 1
  consumer:   # quicker rebalances on the embedded broker (restart rejoins the group)
    session.timeout.ms: 6000
    heartbeat.interval.ms: 500
store:
  conninfo: "{conninfo}"
  batch_ms: 20
http:
  listen: 127.0.0.1:1   # overridden by --http
  tokens:
    view-console:
      token: {viewer}
      role: viewer
    steward-console:
      token: {steward}
      role: steward
    ops-console:
      token: {operator}
      role: operator
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
rules:
  person:
    default:
      rule: precedence
      platforms: [province]
"""


def check(cond, msg):
    if not cond:
        C.fail(msg)


class Api:
    def __init__(self, port):
        self.base = "http://127.0.0.1:%d" % port

    def call(self, method, path, role=None, body=None, raw=None):
        """(status, parsed JSON or None)."""
        data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
        req = urllib.request.Request(self.base + path, data=data, method=method)
        if role:
            req.add_header("Authorization", "Bearer " + TOKENS[role])
        if data is not None:
            req.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(req, timeout=60) as r:
                text = r.read()
                return r.status, json.loads(text) if text else None
        except urllib.error.HTTPError as e:
            text = e.read()
            try:
                return e.code, json.loads(text) if text else None
            except ValueError:
                return e.code, None
        except (urllib.error.URLError, ConnectionError, socket.timeout):
            return None, None

    def ok(self, method, path, role="operator", body=None, want=200):
        status, doc = self.call(method, path, role, body)
        if status != want:
            C.fail("%s %s as %s: %s %s (wanted %d)" % (method, path, role, status,
                                                     json.dumps(doc), want))
        return doc


def wait_for(what, cond, timeout=30, log=None):
    deadline = time.monotonic() + timeout
    while True:
        v = cond()
        if v:
            return v
        if time.monotonic() > deadline:
            C.fail("timed out waiting for %s%s" % (what, "\n" + C.log_tail(log) if log else ""))
        time.sleep(0.2)


def persons(source_dir):
    with open(os.path.join(source_dir, "tests/interop/records/person.jsonl")) as f:
        return [line for line in f if line.strip()]


def encode(cpsync, source_dir, line):
    return subprocess.run([cpsync, "encode", "--entity", "person", "--framing", "single-object",
                           "--schemas", os.path.join(source_dir, "schemas")],
                          input=line.encode(), stdout=subprocess.PIPE, check=True).stdout


def produce(bootstrap, topic, items):
    p = Producer({"bootstrap.servers": bootstrap})
    for key, value in items:
        p.produce(topic, value=value, key=key)
    check(p.flush(30) == 0, "producing to %s did not finish" % topic)


def ingest_keys(bootstrap):
    out = subprocess.run(["kcat", "-C", "-b", bootstrap, "-t", "cpsync.ingest", "-o", "beginning",
                          "-e", "-q", "-f", "%k\\n"],
                         stdout=subprocess.PIPE, timeout=60).stdout.decode(errors="replace")
    return out.split()


def roles_checks(api):
    """Every operator route: 401 without a token, 403 with a wrong role."""
    routes = [
        ("GET", "/api/v1/deadletters", None, ["steward"]),
        ("GET", "/api/v1/deadletters/1", None, ["viewer", "steward"]),
        ("GET", "/api/v1/deadletters/1/raw", None, ["viewer", "steward"]),
        ("POST", "/api/v1/deadletters/replay", {"ids": [1]}, ["viewer", "steward"]),
        ("POST", "/api/v1/deadletters/1/discard", {"reason": "x"}, ["viewer", "steward"]),
        ("GET", "/api/v1/connectors", None, ["steward"]),
        ("POST", "/api/v1/connectors/province-source/pause", None, ["viewer", "steward"]),
        ("POST", "/api/v1/connectors/province-source/resume", None, ["viewer", "steward"]),
        ("POST", "/api/v1/connectors/province-source/restart", None, ["viewer", "steward"]),
    ]
    for method, path, body, forbidden in routes:
        status, _ = api.call(method, path, None, body)
        check(status == 401, "%s %s without a token: %s, wanted 401" % (method, path, status))
        req = urllib.request.Request(api.base + path, method=method,
                                     data=json.dumps(body).encode() if body else None)
        req.add_header("Authorization", "Bearer not-a-token-at-all-000000")
        try:
            urllib.request.urlopen(req, timeout=10)
            C.fail("%s %s with a bad token answered 2xx" % (method, path))
        except urllib.error.HTTPError as e:
            check(e.code == 401, "%s %s with a bad token: %d" % (method, path, e.code))
        for role in forbidden:
            status, _ = api.call(method, path, role, body)
            check(status == 403, "%s %s as %s: %s, wanted 403" % (method, path, role, status))
    api.ok("GET", "/api/v1/deadletters", "viewer")
    api.ok("GET", "/api/v1/connectors", "viewer")


def deadletter_checks(api, db, bootstrap, cpsync, source_dir, log):
    bad = [(("bad-key-%d" % i).encode(), b"\x00\xffnot avro at all %d" % i) for i in range(3)]
    produce(bootstrap, "province.person", bad)
    items = wait_for("3 dead letters",
                     lambda: (lambda d: d["items"] if len(d["items"]) >= 3 else None)(
                         api.ok("GET", "/api/v1/deadletters?status=new&platform=province")),
                     log=log)
    check(len(items) == 3, "dead letters: %s" % json.dumps(items))
    for it in items:
        for k in ("id", "received_at", "platform", "origin", "entity", "reason", "status", "size"):
            check(k in it, "dead letter item lacks %s: %s" % (k, json.dumps(it)))
        check(it["platform"] == "province" and it["entity"] == "person" and it["status"] == "new",
              "dead letter item: %s" % json.dumps(it))
        check("raw" not in it, "the list must not carry raw bytes")
    ids = [it["id"] for it in items]
    check(ids == sorted(ids, reverse=True), "list is newest first: %s" % ids)

    # pagination
    p1 = api.ok("GET", "/api/v1/deadletters?limit=2")
    check(len(p1["items"]) == 2 and p1["next_cursor"], "page 1: %s" % json.dumps(p1))
    p2 = api.ok("GET", "/api/v1/deadletters?limit=2&cursor=" + p1["next_cursor"])
    check(len(p2["items"]) == 1 and p2["next_cursor"] is None, "page 2: %s" % json.dumps(p2))
    check([i["id"] for i in p1["items"] + p2["items"]] == ids, "pages do not cover the list")
    for q in ("limit=0", "limit=abc", "limit=501", "status=lost", "cursor=xyz", "cursor=-3"):
        status, doc = api.call("GET", "/api/v1/deadletters?" + q, "operator")
        check(status == 400 and doc and doc["error"]["message"], "?%s: %s %s" % (q, status, doc))
    check(api.ok("GET", "/api/v1/deadletters?entity=household")["items"] == [],
          "entity filter")

    # GET {id} shows no bytes; the explicit inspect (GET {id}/raw) shows them
    # byte-equal and is itself audited
    by_key = {}
    n_audit = db.query("SELECT count(*) FROM cpsync.audit WHERE action = 'deadletter.inspected'")[0][0]
    for it in items:
        plain = api.ok("GET", "/api/v1/deadletters/%d" % it["id"])
        check("raw" not in plain and "key" not in plain and plain["raw_available"] is True,
              "GET {id} without the bytes: %s" % json.dumps(plain))
        full = api.ok("GET", "/api/v1/deadletters/%d/raw" % it["id"])
        by_key[base64.b64decode(full["key"])] = (it["id"], base64.b64decode(full["raw"]), full)
    rows = db.query("SELECT actor, key FROM cpsync.audit WHERE action = 'deadletter.inspected' "
                    "ORDER BY id")
    check(len(rows) == n_audit + 3 and all(r[0] == "ops-console" for r in rows[-3:]) and
          sorted(int(r[1]) for r in rows[-3:]) == sorted(it["id"] for it in items),
          "every raw read audited (who, which): %s" % rows)
    check(api.call("GET", "/api/v1/deadletters/999999/raw", "operator")[0] == 404,
          "inspect of an unknown id: 404")
    for key, value in bad:
        check(key in by_key, "no dead letter with key %r" % key)
        check(by_key[key][1] == value, "raw bytes differ for %r" % key)
        check(by_key[key][2]["size"] == len(value), "size of %r" % key)
    check(api.call("GET", "/api/v1/deadletters/999999", "operator")[0] == 404, "unknown id: 404")
    check(api.call("GET", "/api/v1/deadletters/abc", "operator")[0] == 400, "bad id: 400")

    # discard
    d_id = by_key[bad[0][0]][0]
    path = "/api/v1/deadletters/%d/discard" % d_id
    for body in ({}, {"reason": ""}, {"reason": "   "}, {"reason": 5}, {"reason": "x", "y": 1}):
        check(api.call("POST", path, "operator", body)[0] == 400, "discard %s: 400" % body)
    check(api.call("POST", path, "operator", raw=b"{not json")[0] == 400, "discard bad JSON")
    doc = api.ok("POST", path, body={"reason": "test garbage from the load generator"})
    check(doc["status"] == "discarded" and doc["id"] == d_id, "discard: %s" % json.dumps(doc))
    check(api.call("POST", path, "operator", {"reason": "again"})[0] == 409, "discard twice: 409")
    check(api.call("POST", "/api/v1/deadletters/999999/discard", "operator",
                   {"reason": "x"})[0] == 404, "discard unknown: 404")
    rows = db.query("SELECT actor, reason FROM cpsync.audit WHERE action = 'deadletter.discarded' "
                    "AND entity = 'dead_letter' AND key = %s", (str(d_id),))
    check(rows == [("ops-console", "test garbage from the load generator")],
          "discard audit rows: %s" % rows)
    check(api.ok("GET", "/api/v1/deadletters?status=discarded")["items"][0]["id"] == d_id,
          "status filter")
    viewer_items = api.ok("GET", "/api/v1/deadletters?status=discarded", "viewer")["items"]
    check(viewer_items and "note" not in viewer_items[0] and "raw" not in viewer_items[0],
          "viewer list: %s" % viewer_items)

    # replay of a still-bad message: stays new with a reason
    s_id = by_key[bad[1][0]][0]
    db.execute("UPDATE cpsync.dead_letters SET reason = 'old reason' WHERE id = %s", (s_id,))
    doc = api.ok("POST", "/api/v1/deadletters/replay", body={"ids": [s_id, 999999]})
    res = {r["id"]: r for r in doc["results"]}
    check(res[s_id]["outcome"] == "still_bad" and res[s_id]["status"] == "new"
          and "undecodable" in res[s_id]["reason"], "still bad replay: %s" % json.dumps(doc))
    check(res[999999]["outcome"] == "not_found", "replay of an unknown id: %s" % json.dumps(doc))
    full = api.ok("GET", "/api/v1/deadletters/%d" % s_id)
    check(full["status"] == "new" and full["reason"] == res[s_id]["reason"],
          "still bad after replay: %s" % json.dumps(full))
    doc = api.ok("POST", "/api/v1/deadletters/replay",
                 body={"filter": {"platform": "province", "reason_contains": "undecodable"},
                       "limit": 10})
    check(doc["still_bad"] == 2 and doc["replayed"] == 0 and len(doc["results"]) == 2,
          "replay by filter (the discarded one is not new): %s" % json.dumps(doc))
    for body in ({}, {"ids": []}, {"ids": ["x"]}, {"ids": [0]}, {"ids": [1], "filter": {}},
                 {"filter": {"colour": "red"}}, {"filter": {}, "limit": 0},
                 {"ids": [1], "limit": 3}, [1, 2], {"ids": [1], "extra": True}):
        status, doc = api.call("POST", "/api/v1/deadletters/replay", "operator", body)
        check(status == 400 and doc["error"]["message"], "replay %s: %s %s" % (body, status, doc))
    status, _ = api.call("POST", "/api/v1/deadletters/replay", "operator", raw=b'{"ids": [1')
    check(status == 400, "replay with malformed JSON: %s" % status)

    # replay of a valid raw message: produced once, even by two racing replays
    line = persons(source_dir)[0]
    national_id = json.loads(line)["national_id"]
    value = encode(cpsync, source_dir, line)
    v_id = db.query("INSERT INTO cpsync.dead_letters (platform, origin, entity, reason, raw, "
                    "raw_key) VALUES ('province', 'province:province.person/0@424242', 'person', "
                    "'registry was down', %s, %s) RETURNING id",
                    (psycopg2.Binary(value), psycopg2.Binary(national_id.encode())))[0][0]
    outcomes = []

    def replay():
        outcomes.append(api.ok("POST", "/api/v1/deadletters/replay",
                               body={"ids": [v_id], "note": "fixed the registry"}))

    threads = [threading.Thread(target=replay) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    got = sorted(o["results"][0]["outcome"] for o in outcomes)
    check(got == ["replayed", "skipped"], "racing replays: %s" % json.dumps(outcomes))
    full = api.ok("GET", "/api/v1/deadletters/%d" % v_id)
    check(full["status"] == "replayed" and full["note"] == "fixed the registry",
          "replayed dead letter: %s" % json.dumps(full))
    wait_for("the replayed record in the store",
             lambda: db.query("SELECT 1 FROM cpsync.records WHERE entity = 'person' AND key = %s",
                              (national_id,)), log=log)
    check(ingest_keys(bootstrap).count("person/" + national_id) == 1,
          "the replayed event is on the ingest topic exactly once")
    doc = api.ok("POST", "/api/v1/deadletters/replay", body={"ids": [v_id]})
    check(doc["results"][0]["outcome"] == "skipped" and doc["skipped"] == 1,
          "a third replay: %s" % json.dumps(doc))
    rows = db.query("SELECT actor, reason FROM cpsync.audit WHERE action = 'deadletter.replayed' "
                    "AND key = %s", (str(v_id),))
    check(rows == [("ops-console", "fixed the registry")], "replay audit rows: %s" % rows)
    prov = db.query("SELECT COALESCE(cpsync.provenance_json(prov), provenance)::text FROM cpsync.records "
                    "WHERE entity = 'person' "
                    "AND key = %s", (national_id,))[0][0]
    check("province.person/0@424242" in prov, "the record's provenance keeps the origin: %s"
          % prov[:300])


def link_state(api, name):
    status, doc = api.call("GET", "/status", "viewer")
    if status != 200:
        return None
    return {l["name"]: l["state"] for l in doc["links"]}.get(name)


def connector_checks(api, db, bootstrap, cpsync, source_dir, log):
    doc = api.ok("GET", "/api/v1/connectors")
    links = {c["name"]: c for c in doc["connectors"]}
    check(set(links) == {"province-source", "publisher", "reconcile"}, "connectors: %s" % doc)
    src = links["province-source"]
    check((src["platform"], src["direction"], src["type"], src["state"], src["controllable"])
          == ("province", "source", "kafka", "RUNNING", True), "province-source: %s" % src)
    # the publisher and the workers are controllable since issue 13
    # (tests/api/test_pause_persist.py); the workers cannot restart
    check(links["publisher"]["controllable"] is True, "publisher: %s" % links["publisher"])
    check(links["reconcile"]["controllable"] is True, "reconcile: %s" % links["reconcile"])
    check(api.call("POST", "/api/v1/connectors/reconcile/restart", "operator")[0] == 409,
          "restarting reconcile: 409")
    check(api.call("POST", "/api/v1/connectors/nowhere/pause", "operator")[0] == 404,
          "unknown connector: 404")
    check(api.call("POST", "/api/v1/connectors/province-source/pause", "operator",
                   raw=b"[1]")[0] == 400, "pause with a bad body: 400")

    lines = persons(source_dir)
    ids = [json.loads(l)["national_id"] for l in lines[1:3]]
    stored = lambda nid: db.query(  # noqa: E731
        "SELECT 1 FROM cpsync.records WHERE entity = 'person' AND key = %s", (nid,))

    doc = api.ok("POST", "/api/v1/connectors/province-source/pause",
                 body={"reason": "platform maintenance"})
    check(doc["state"] == "PAUSED" and doc["paused"] is True, "pause: %s" % doc)
    check(link_state(api, "province-source") == "PAUSED", "/status after pause")
    produce(bootstrap, "province.person", [(ids[0].encode(), encode(cpsync, source_dir, lines[1]))])
    time.sleep(3)
    check(not stored(ids[0]), "a message was ingested while paused")
    check(link_state(api, "province-source") == "PAUSED", "still PAUSED")
    doc = api.ok("POST", "/api/v1/connectors/province-source/resume")
    check(doc["state"] == "RUNNING" and doc["paused"] is False, "resume: %s" % doc)
    wait_for("the record sent while paused", lambda: stored(ids[0]), log=log)

    doc = api.ok("POST", "/api/v1/connectors/province-source/restart")
    check(doc["state"] == "RUNNING", "restart: %s" % doc)
    produce(bootstrap, "province.person", [(ids[1].encode(), encode(cpsync, source_dir, lines[2]))])
    wait_for("a record after the restart", lambda: stored(ids[1]), timeout=60, log=log)
    check("restarting" in C.log_tail(log), "no restart line in the log")

    rows = db.query("SELECT action, actor, key, after->>'state', reason FROM cpsync.audit "
                    "WHERE action LIKE 'connector.%%' ORDER BY id")
    check(rows == [("connector.paused", "ops-console", "province-source", "PAUSED",
                    "platform maintenance"),
                   ("connector.resumed", "ops-console", "province-source", "RUNNING", None),
                   ("connector.restarted", "ops-console", "province-source", "RUNNING", None)],
          "connector audit rows: %s" % rows)


def main():
    C.set_name("api.ops")
    if len(sys.argv) != 3:
        C.fail("usage: test_ops_api.py CPSYNC_BIN SOURCE_DIR")
    cpsync, source_dir = sys.argv[1], sys.argv[2]
    db = C.Database(C.require_pg(), "api_ops")
    conninfo = db.conninfo
    proc = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "ops.yaml")
            with open(cfg, "w") as f:
                f.write(CONFIG.format(pid=os.getpid(), schemas=os.path.join(source_dir, "schemas"),
                                      conninfo=conninfo, **TOKENS))
            port = C.free_port()
            log = open(os.path.join(tmp, "cpsync.log"), "w+")
            proc = subprocess.Popen([cpsync, "run", "-c", cfg, "--http", "127.0.0.1:%d" % port],
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                api = Api(port)

                def healthy():
                    if proc.poll() is not None:
                        C.fail("cpsync exited early with %d\n%s" % (proc.returncode, C.log_tail(log)))
                    return api.call("GET", "/healthz")[0] == 200

                wait_for("/healthz", healthy, timeout=60, log=log)
                wait_for("province-source RUNNING",
                         lambda: link_state(api, "province-source") == "RUNNING", log=log)
                status, doc = api.call("GET", "/status", "viewer")
                bootstrap = doc["kafka"]["bootstrap"]
                roles_checks(api)
                deadletter_checks(api, db, bootstrap, cpsync, source_dir, log)
                connector_checks(api, db, bootstrap, cpsync, source_dir, log)
                proc.send_signal(signal.SIGTERM)
                try:
                    rc = proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    C.fail("cpsync did not exit within 15 s of SIGTERM\n" + C.log_tail(log))
                check(rc == 0, "cpsync exited with %d after SIGTERM\n%s" % (rc, C.log_tail(log)))
                out = C.log_tail(log)
                for nid in (json.loads(l)["national_id"] for l in persons(source_dir)):
                    check(nid not in out, "a national ID in the log")
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    finally:
        db.drop()
    print("api.ops: OK")


if __name__ == "__main__":
    main()
