#!/usr/bin/env python3
"""api.republish: re-publish of an entity's unified records (issue 13, item 3).

Starts `cpsync run` (embedded Kafka, a fresh database on $CPSYNC_TEST_PG,
viewer / steward / operator tokens), brings nine persons from the province
in, changes one of them (version 2) after a mark T, then:
- viewer and steward get 403, no token 401; an unknown entity, a bad topic
  or a since that is no time 400;
- `cpsync republish --entity person --to-topic republish.current` writes one
  event per key at its current version: decoded with python3-avro, each
  equals what cpsync.records holds (key, version, record), and its bytes are
  the live stream's event of that version (cpsync.changes.payload);
- POST /api/v1/republish {entity, since: T, to_topic} writes exactly the
  change log's rows from T on, in log order (the change to version 2);
- a current record whose event retention removed from the log is encoded
  again (encoded: 1) and still decodes to cpsync.records;
- each re-publish is audited (action republish).

usage: test_republish.py CPSYNC_BIN SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "lib"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import cpsynctest as C  # noqa: E402
import e2elib as E  # noqa: E402

TOKENS = {"viewer": "viewer-token-0123456789abcdef",
          "steward": "steward-token-0123456789abcdef",
          "operator": "operator-token-0123456789abcdef"}

CONFIG = """\
instance: republish-{pid}
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded: {{partitions: 1}}
store:
  conninfo: "{conninfo}"
  batch_ms: 20
  batch_size: 4   # several pages for nine persons
http:
  listen: 127.0.0.1:1   # overridden by --http
  tokens:
    view-console: {{token: {viewer}, role: viewer}}
    steward-console: {{token: {steward}, role: steward}}
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
rules:
  person:
    default: {{rule: precedence, platforms: [province]}}
"""


def check(cond, msg):
    if not cond:
        C.fail(msg)


def call(port, method, path, role=None, body=None):
    return C.http_call(port, method, path, TOKENS[role] if role else None, body, timeout=120)

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


def plain(v):
    """An Avro JSON union branch {"type": value} as the value python3-avro decodes."""
    if isinstance(v, dict) and len(v) == 1:
        return plain(next(iter(v.values())))
    return v


def same_record(decoded, stored):
    rec = plain(decoded["record"]) if decoded["record"] is not None else None
    if rec is None or stored is None:
        return rec is None and stored is None
    return {k: plain(v) for k, v in rec.items()} == {k: plain(v) for k, v in stored.items()}


def events(bootstrap, topic):
    return [(m[3].decode(), m[4]) for m in E.consume_all(bootstrap, [topic], timeout_s=60)]


def main():
    C.set_name("api.republish")
    if len(sys.argv) != 3:
        C.fail("usage: test_republish.py CPSYNC_BIN SOURCE_DIR")
    cpsync, source_dir = sys.argv[1], sys.argv[2]
    schemas = E.Schemas(cpsync, os.path.join(source_dir, "schemas"))
    db = C.Database(C.require_pg(), "republish")
    tmp = tempfile.mkdtemp(prefix="cps-republish-")
    cfg = os.path.join(tmp, "cpsync.yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(pid=os.getpid(), schemas=os.path.join(source_dir, "schemas"),
                              conninfo=db.conninfo, **TOKENS))
    cps = C.Cpsync(cpsync, cfg, os.path.join(tmp, "cpsync.log"))
    with open(os.path.join(source_dir, "tests/interop/records/person.jsonl")) as f:
        persons = [l for l in f if l.strip()]
    try:
        cps.start()
        port = cps.port
        bootstrap = call(port, "GET", "/status", role="viewer")[1]["kafka"]["bootstrap"]
        keys = [produce(cpsync, source_dir, bootstrap, p) for p in persons]
        n = len(set(keys))

        def settled(count):
            st, doc = call(port, "GET", "/status", role="viewer")
            return (db.query("SELECT count(*) FROM cpsync.changes WHERE entity = 'person'")[0][0]
                    == count and st == 200 and doc["store"].get("outbox_pending") == 0)
        C.wait_for("%d persons stored and published" % n, lambda: settled(n), cps=cps)
        mark = db.query("SELECT to_char(now() AT TIME ZONE 'UTC', "
                        "'YYYY-MM-DD\"T\"HH24:MI:SS.US\"Z\"')")[0][0]
        changed = json.loads(persons[0])
        changed["phone"] = {"string": "13700000000"}
        produce(cpsync, source_dir, bootstrap, json.dumps(changed, ensure_ascii=False))
        C.wait_for("the change published", lambda: settled(n + 1), cps=cps)

        # roles and bad input
        body = {"entity": "person", "to_topic": "republish.denied"}
        check(call(port, "POST", "/api/v1/republish", body=body)[0] == 401, "no token: not 401")
        for role in ("viewer", "steward"):
            st, _ = call(port, "POST", "/api/v1/republish", role=role, body=body)
            check(st == 403, "a %s's re-publish answered %s, not 403" % (role, st))
        for bad in ({"entity": "nobody"}, {"entity": "person", "to_topic": "bad topic!"},
                    {"entity": "person", "since": "yesterday-ish"}, {"entity": "person", "x": 1},
                    {"since": mark}):
            st, doc = call(port, "POST", "/api/v1/republish", role="operator", body=bad)
            check(st == 400 and "error" in doc, "%s answered %s %s, not 400" % (bad, st, doc))

        # the current records, through the CLI
        out = subprocess.run([cpsync, "republish", "--entity", "person", "--to-topic",
                              "republish.current", "--url", "http://127.0.0.1:%d" % port,
                              "--token", TOKENS["operator"], "--json"],
                             capture_output=True, text=True, timeout=120)
        check(out.returncode == 0, "cpsync republish: %s %s" % (out.returncode, out.stderr))
        res = json.loads(out.stdout)
        check(res["events"] == n and res["encoded"] == 0 and res["pages"] == 3
              and res["topic"] == "republish.current", "republish answered %s" % res)
        stored = {k: (v, r, bytes(p)) for k, v, r, p in db.query(
            "SELECT r.key, r.version, r.record, c.payload FROM cpsync.records r "
            "JOIN cpsync.changes c USING (entity, key, version) WHERE r.entity = 'person'")}
        got = events(bootstrap, "republish.current")
        check(sorted(k for k, _ in got) == sorted(stored), "keys: %s vs %s"
              % (sorted(k for k, _ in got), sorted(stored)))
        for key, value in got:
            ev = schemas.decode_unified(value)
            version, record, payload = stored[key]
            check(ev["key"] == key and ev["version"] == version and ev["operation"] == "UPSERT",
                  "event of %s: version %s, stored %s" % (C_mask(key), ev["version"], version))
            check(same_record(ev, record), "the record of %s differs from cpsync.records"
                  % C_mask(key))
            check(value == payload, "the event of %s is not the live stream's bytes" % C_mask(key))
        check(stored[keys[0]][0] == 2, "the changed person is not at version 2")

        # the change log from the mark
        st, res = call(port, "POST", "/api/v1/republish", role="operator",
                       body={"entity": "person", "since": mark, "to_topic": "republish.since"})
        logged = db.query("SELECT key, version, payload FROM cpsync.changes WHERE entity = 'person'"
                          " AND committed_at >= %s::timestamptz ORDER BY xid::text::bigint, seq",
                          (mark,))
        check(st == 200 and res["events"] == len(logged) == 1 and res["mode"] == "changes",
              "since: %s %s (log: %d rows)" % (st, res, len(logged)))
        got = events(bootstrap, "republish.since")
        check([(k, bytes(v)) for k, v in got] == [(k, bytes(p)) for k, _, p in logged],
              "since: the events are not the log's rows in order")
        ev = schemas.decode_unified(got[0][1])
        check(ev["key"] == keys[0] and ev["version"] == 2, "since: %s v%s" % (C_mask(ev["key"]),
                                                                             ev["version"]))

        # a current version the log no longer holds: encoded again
        db.execute("UPDATE cpsync.changes SET payload = NULL WHERE entity = 'person' AND key = %s",
                   (keys[1],))
        st, res = call(port, "POST", "/api/v1/republish", role="operator",
                       body={"entity": "person", "to_topic": "republish.encoded"})
        check(st == 200 and res["events"] == n and res["encoded"] == 1, "encoded: %s %s"
              % (st, res))
        got = dict(events(bootstrap, "republish.encoded"))
        ev = schemas.decode_unified(got[keys[1]])
        check(ev["version"] == stored[keys[1]][0] and same_record(ev, stored[keys[1]][1]),
              "the event encoded again differs from cpsync.records")
        check(got[keys[1]][:5] == stored[keys[1]][2][:5], "the event encoded again has another "
              "frame (magic byte and schema id)")

        audits = db.query("SELECT actor, entity, key FROM cpsync.audit WHERE action = 'republish'"
                          " ORDER BY id")
        check(audits == [("ops-console", "person", "republish.current"),
                         ("ops-console", "person", "republish.since"),
                         ("ops-console", "person", "republish.encoded")],
              "audit rows: %s" % audits)
        C.info("re-published %d persons (3 pages), 1 change since the mark, 1 encoded again"
               % n)
    finally:
        cps.stop()
        db.drop()


def C_mask(key):
    return key[:6] + "********" + key[-2:]


if __name__ == "__main__":
    main()
