#!/usr/bin/python3
"""e2e.bad_input: every class of bad message becomes a dead letter, valid
records around them flow on, and cpsync keeps running.

Classes, each sent between valid person records: undecodable bytes (a
valid Confluent header before bytes that are no Avro), a schema violation
(valid single-object framing, body cut in half), an invalid national ID
(check character wrong), an unknown entity (a subscribed topic without an
entity mapping, and a topic mapped to an entity that does not exist), a
wrong magic byte (single-object and Confluent). Each must land in
cpsync.dead_letters with byte-equal raw bytes, its origin
(platform:topic/partition@offset as delivered), a reason naming its class
and a time, and on the dead-letter topic with the same bytes and origin;
every valid record is applied; /healthz answers 200 afterwards.

usage: bad_input.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import json
import os
import struct
import time

import e2elib as L

PLATFORMS = {
    "province": ("single-object", {"prov.person": "person", "prov.unmapped": None,
                                   "prov.pets": "pet"}),
    "city": ("confluent", {"city.person": "person"}),
    "shenshan": ("single-object", {"ss.person": "person"}),
}


def person(nid, i):
    return {"national_id": nid, "name": "测试%d" % i, "gender": "FEMALE", "birth_date": 1000 + i,
            "registration_region_code": "440305", "residence_region_code": "440305",
            "residence_address": None, "has_residence_permit": True, "disabled": False,
            "disability_grade": None, "seriously_ill": False, "labour_capacity": "FULL",
            "phone": None, "household_id": None, "deceased": False}


def expect(cond, what):
    if not cond:
        L.fail(what)


def main():
    args = L.parse_args("e2e.bad_input")
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("bad")
    topics = ["cpsync.ingest:4", "cpsync.deadletter:2", "prov.person:2", "prov.unmapped:1",
              "prov.pets:1", "city.person:2",
              "ss.person:1"] + ["cpsync.unified.%s:2" % e for e in L.ENTITIES]
    broker = L.Broker(args.broker, 2, topics)
    db = L.Database(args.pg, "e2e_bad")
    cps = None
    try:
        cfg = os.path.join(work, "bad.yaml")
        L.write_config(cfg, instance="e2e-bad-input", schemas=args.schemas,
                       bootstrap=broker.bootstrap, conninfo=db.conninfo, platforms=PLATFORMS,
                       source=args.source, batch_ms=20)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        run(schemas, broker, db, cps)
        rc = cps.stop()
        expect(rc == 0, "cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        if cps:
            cps.kill()
        broker.stop()
        db.drop()
    L.info("OK")


def run(schemas, broker, db, cps):
    valid = []   # (topic, key, value)
    bad = []     # (topic, key, value, platform, reason words)
    msgs = []
    n = 0

    def good(topic, framing):
        nonlocal n
        n += 1
        nid = L.national_id("440305", "19%02d0101" % (50 + n % 40), n)
        valid.append((topic, nid, schemas.frame(framing, "person", person(nid, n))))
        msgs.append((topic, nid.encode(), valid[-1][2], None, None))

    body = schemas.body("person", person(L.national_id("440305", "19800101", 1), 0))
    so_header = b"\xc3\x01" + struct.pack("<Q", schemas.fingerprint["person"])
    cf_header = b"\x00" + struct.pack(">I", schemas.ids["cpsync.Person"])
    bad_id = L.national_id("440305", "19800101", 2)
    bad_id = bad_id[:-1] + ("0" if bad_id[-1] != "0" else "1")

    cases = [
        ("undecodable", "city.person", "city", cf_header + b"\xff" * 40 + b"\x01garbage",
         ["undecodable"]),
        ("truncated", "prov.person", "province", so_header + body[:len(body) // 2],
         ["undecodable"]),
        ("national id", "prov.person", "province",
         schemas.single_object("person", person(bad_id, 99)), ["national id", "check character"]),
        ("unmapped topic", "prov.unmapped", "province",
         schemas.single_object("person", person(L.national_id("440305", "19800101", 3), 98)),
         ["unknown entity", "no entity mapping"]),
        ("unknown entity", "prov.pets", "province",
         schemas.single_object("person", person(L.national_id("440305", "19800101", 4), 97)),
         ["unknown entity", "'pet'"]),
        ("wrong magic (single-object)", "prov.person", "province",
         b"\xc4\x01" + so_header[2:] + body, ["single-object", "magic byte"]),
        ("wrong magic (confluent)", "city.person", "city", b"\x07" + cf_header[1:] + body,
         ["confluent", "magic byte"]),
    ]
    good("prov.person", "single-object")
    good("city.person", "confluent")
    for name, topic, plat, value, words in cases:
        bad.append((name, topic, plat, value, words))
        msgs.append((topic, ("bad-%d" % len(bad)).encode(), value, None, None))
        good("prov.person", "single-object")
        good("city.person", "confluent")
    delivered = L.produce_all(L.producer(broker.bootstrap), msgs)
    origin = {}
    for (topic, key, value, _, _), (t, part, off) in zip(msgs, delivered):
        origin[key] = "%s:%s/%d@%d" % ("city" if t.startswith("city.") else "province", t,
                                       part, off)

    deadline = time.monotonic() + 60
    while True:
        nrec = db.query("SELECT count(*) FROM cpsync.records")[0][0]
        ndead = db.query("SELECT count(*) FROM cpsync.dead_letters")[0][0]
        if nrec >= len(valid) and ndead >= len(bad):
            break
        if not cps.alive() or time.monotonic() > deadline:
            L.fail("not through: %d/%d records, %d/%d dead letters: %s\n%s" % (
                nrec, len(valid), ndead, len(bad),
                db.query("SELECT origin, reason FROM cpsync.dead_letters"), cps.tail()))
        time.sleep(0.3)
    time.sleep(1)

    # the store: one row per bad message, exactly
    rows = db.query("SELECT origin, platform, reason, raw, raw_key, received_at "
                    "FROM cpsync.dead_letters")
    by_origin = {r[0]: r for r in rows}
    expect(len(rows) == len(bad) and len(by_origin) == len(bad),
           "%d dead letters for %d bad messages: %s" % (len(rows), len(bad),
                                                        [(r[0], r[2]) for r in rows]))
    for i, (name, topic, plat, value, words) in enumerate(bad):
        o = origin[("bad-%d" % (i + 1)).encode()]
        r = by_origin.get(o)
        expect(r is not None, "%s: no dead letter with origin %s (have %s)"
               % (name, o, sorted(by_origin)))
        expect(bytes(r[3]) == value, "%s: stored raw bytes differ from those sent" % name)
        expect(bytes(r[4]) == ("bad-%d" % (i + 1)).encode(), "%s: stored raw key" % name)
        expect(r[1] == plat, "%s: platform %s" % (name, r[1]))
        expect(all(w in r[2].lower() for w in words),
               "%s: reason %r lacks %s" % (name, r[2], words))
        expect(r[5] is not None, "%s: no time" % name)
        L.info("%-28s -> %s: %s" % (name, o, r[2]))
    for r in rows:
        expect(bad_id not in r[2], "a national ID in a dead-letter reason")

    # the dead-letter topic: a reference to each row (its origin) and the
    # reason, never the raw bytes or key (kafka.dead_letter_raw is off)
    topic_msgs = L.consume_all(broker.bootstrap, ["cpsync.deadletter"])
    dl = {}
    for _, _, _, key, value, headers in topic_msgs:
        h = {k: (v or b"").decode(errors="replace") for k, v in headers}
        dl[h.get("cpsync-origin")] = (key, value, h)
    for i, (name, topic, plat, value, words) in enumerate(bad):
        o = origin[("bad-%d" % (i + 1)).encode()]
        expect(o in dl, "%s: not on the dead-letter topic (origins %s)" % (name, sorted(dl)))
        key, v, h = dl[o]
        expect(not v, "%s: raw bytes on the dead-letter topic" % name)
        expect(not key, "%s: the raw key on the dead-letter topic" % name)
        expect(h.get("cpsync-reason") == by_origin[o][2], "%s: reason header" % name)
        expect(h.get("cpsync-platform") == plat, "%s: platform header" % name)

    # every valid record applied
    keys = {k for (k,) in db.query("SELECT key FROM cpsync.records WHERE entity = 'person' "
                                   "AND NOT deleted")}
    missing = [k for _, k, _ in valid if k not in keys]
    expect(not missing, "%d valid records not applied" % len(missing))
    st, body = L.http_get(cps.port, "/healthz")
    expect(st == 200, "/healthz answered %s after the bad input" % st)
    # /status keeps the store's figures for a second or more (status_http.c)
    deadline = time.monotonic() + 10
    doc = cps.status()
    while not (doc and doc["store"]["dead_letters"] == len(bad)) and time.monotonic() < deadline:
        time.sleep(0.3)
        doc = cps.status()
    expect(doc and doc["store"]["dead_letters"] == len(bad),
           "/status store.dead_letters: %s" % json.dumps(doc and doc["store"]))
    L.info("%d bad messages dead-lettered, %d valid records applied, still healthy"
           % (len(bad), len(valid)))


if __name__ == "__main__":
    main()
