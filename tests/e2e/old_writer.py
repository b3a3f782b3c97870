#!/usr/bin/env python3
"""e2e.old_writer: enrolments written with the enrolment schema from before
`emergency_region_code` (schemas/writers/enrolment.v1.avsc, id 3) reach the
store, next to ones written with the current schema.

cpsync runs on a standalone embedded broker with the city on Kafka (Confluent
framing), the province on Kafka (single-object framing) and Shenshan as a
files inbox. Old-schema enrolments arrive by all three: Confluent id 3, the
old fingerprint, and an Avro container file whose header carries the old
schema (written by python3-avro). Each must be in cpsync.records with every
field as sent and `emergency_region_code` null, with no dead letter. Two
current-schema temporary assistances from the city carry the place of the
emergency: the one granted there has no finding, the one granted neither
there nor at the residence has exactly one TEMPORARY_WRONG_REGION finding.

usage: old_writer.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import io
import json
import os
import struct
import subprocess
import time

import avro.datafile
import avro.io
import avro.schema

import e2elib as L

TOPICS = {"city": "city.enrolment", "province": "province.enrolment"}
HID = "H440305202100555"
OLD = object()  # the old writer: no emergency_region_code at all


def old_schema(source):
    with open(os.path.join(source, "schemas/writers/enrolment.v1.avsc")) as f:
        return avro.schema.parse(json.dumps(L.strip_logical(json.load(f))))


def enrolment(eid, granting, emergency=OLD):
    r = {"enrolment_id": eid, "subject_type": "HOUSEHOLD", "subject_id": HID,
         "programme": "TEMPORARY_ASSISTANCE", "status": "ACTIVE", "applied_date": 20100,
         "start_date": 20101, "gradual_exit_start_date": None, "gradual_exit_end_date": None,
         "end_date": None, "monthly_amount": L.money(300000), "covered_members": 2,
         "granting_region_code": granting, "status_reason": None}
    if emergency is not OLD:
        r["emergency_region_code"] = emergency
    return r


def household():
    head = L.national_id("440305", "19800101", 123)
    return {"household_id": HID, "head_national_id": head,
            "members": [{"national_id": head, "relation": "HEAD"}], "member_count": 1,
            "region_code": "440305", "household_type": "URBAN",
            "per_capita_monthly_income": L.money(90000), "monitoring_category": "DIBAO",
            "monitoring_since": None}


def body(schema, rec):
    buf = io.BytesIO()
    avro.io.DatumWriter(schema).write(rec, avro.io.BinaryEncoder(buf))
    return buf.getvalue()


def canonical_fp(cpsync, path, schemas):
    out = subprocess.run([cpsync, "schema", "fingerprint", path, "--schemas", schemas],
                           check=True, stdout=subprocess.PIPE).stdout.decode()
    return int(out.split()[0], 16)


def platforms_yaml(bootstrap, inbox):
    return """platforms:
  city:
    connector: kafka
    source:
      brokers: {b}
      group_id: e2e-oldw-city
      framing: confluent
      topics: [city.household, city.enrolment]
      topic:
        city.household: {{entity: household}}
        city.enrolment: {{entity: enrolment}}
  province:
    connector: kafka
    source:
      brokers: {b}
      group_id: e2e-oldw-province
      framing: single-object
      topics: [province.enrolment]
      topic:
        province.enrolment: {{entity: enrolment}}
  shenshan:
    connector: files
    source:
      inbox: {inbox}
      stable_ms: 200
""".format(b=bootstrap, inbox=inbox)


def expect(cond, what):
    if not cond:
        L.fail(what)


def main():
    args = L.parse_args("e2e.old_writer")
    schemas = L.Schemas(args.cpsync, args.schemas)
    old = old_schema(args.source)
    old_path = os.path.join(args.source, "schemas/writers/enrolment.v1.avsc")
    old_fp = canonical_fp(args.cpsync, old_path, args.schemas)
    expect(old_fp != schemas.fingerprint["enrolment"], "the old writer has its own fingerprint")
    work = L.tmpdir("old_writer")
    inbox = os.path.join(work, "inbox")
    os.makedirs(inbox)
    topics = ["cpsync.ingest:2", "cpsync.deadletter:1", "city.household:1", "city.enrolment:1",
              "province.enrolment:1"] + ["cpsync.unified.%s:1" % e for e in L.ENTITIES]
    broker = L.open_broker(args, 1, topics)
    db = L.Database(args.pg, "e2e_old_writer")
    cps = None
    try:
        cfg = os.path.join(work, "cpsync.yaml")
        L.write_config(cfg, instance="e2e-oldw", schemas=args.schemas, bootstrap=broker.bootstrap,
                       conninfo=db.conninfo, platforms={}, source=args.source, batch_ms=20)
        with open(cfg) as f:
            text = f.read()
        text = text.replace("platforms:\n", platforms_yaml(broker.bootstrap, inbox), 1)
        with open(cfg, "w") as f:
            f.write(text)
        with open(os.path.join(args.source, "deploy/policy.default.yaml")) as f:
            pol = f.read()
        with open(cfg, "a") as f:
            f.write(pol[pol.index("\npolicy:") + 1:])
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        run(args, schemas, old, old_fp, broker, db, cps, inbox)
        expect(cps.stop() == 0, "cpsync exits 0 after SIGTERM")
    finally:
        if cps:
            cps.kill()
        broker.stop()
        db.drop()
    L.info("OK")


def run(args, schemas, old, old_fp, broker, db, cps, inbox):
    ts = int(time.time() * 1000)
    hdr = [("effective_time", str(ts).encode())]
    sent = {
        "E-OLD-CONFLUENT": enrolment("E-OLD-CONFLUENT", "440305"),
        "E-OLD-SINGLE": enrolment("E-OLD-SINGLE", "440305"),
        "E-OLD-FILE": enrolment("E-OLD-FILE", "440305"),
    }
    new = {
        "E-NEW-AT-EMERGENCY": enrolment("E-NEW-AT-EMERGENCY", "440307", "440307"),
        "E-NEW-ELSEWHERE": enrolment("E-NEW-ELSEWHERE", "440304", "440307"),
    }
    msgs = [("city.household", HID.encode(), schemas.confluent("household", household()), hdr, ts),
            ("city.enrolment", b"E-OLD-CONFLUENT",
             b"\x00" + struct.pack(">I", 3) + body(old, sent["E-OLD-CONFLUENT"]), hdr, ts),
            ("province.enrolment", b"E-OLD-SINGLE",
             b"\xc3\x01" + struct.pack("<Q", old_fp) + body(old, sent["E-OLD-SINGLE"]), hdr, ts)]
    msgs += [("city.enrolment", k.encode(), schemas.confluent("enrolment", r), hdr, ts)
             for k, r in new.items()]
    L.produce_all(L.producer(broker.bootstrap), msgs)
    tmp = os.path.join(inbox, ".enrolment-old.avro.tmp")
    with open(tmp, "wb") as f:
        with avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), old) as w:
            w.append(sent["E-OLD-FILE"])
    os.rename(tmp, os.path.join(inbox, "enrolment-old.avro"))

    want = sorted(list(sent) + list(new))
    deadline = time.monotonic() + 90
    while True:
        rows = dict(db.query("SELECT key, record FROM cpsync.records WHERE entity = 'enrolment'"))
        dead = db.query("SELECT origin, reason FROM cpsync.dead_letters")
        if sorted(rows) == want or dead or not cps.alive() or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    expect(not dead, "no dead letters: %s" % dead)
    expect(sorted(rows) == want, "every enrolment in the store: %s\n%s" % (sorted(rows), cps.tail()))
    for key, rec in sent.items():
        got = rows[key]
        expect(got.get("emergency_region_code", "absent") is None,
               "%s (old writer) reads emergency_region_code as null: %s" % (key, got))
        for f in ("granting_region_code", "covered_members", "status", "programme", "subject_id"):
            expect(got[f] == rec[f], "%s: %s as sent: %s" % (key, f, got[f]))
    for key, rec in new.items():
        expect(rows[key].get("emergency_region_code") in (
            rec["emergency_region_code"], {"string": rec["emergency_region_code"]}),
            "%s keeps its emergency region: %s" % (key, rows[key]))
    deadline = time.monotonic() + 30
    while True:
        found = db.query("SELECT key, check_code FROM cpsync.policy_findings "
                         "WHERE status = 'open' ORDER BY key")
        if found or time.monotonic() > deadline:
            break
        time.sleep(0.3)
    time.sleep(1)  # a finding on another key would have come in the same batches
    found = db.query("SELECT key, check_code FROM cpsync.policy_findings "
                     "WHERE status = 'open' ORDER BY key")
    expect(found == [("E-NEW-ELSEWHERE", "TEMPORARY_WRONG_REGION")],
           "one finding: granted neither where the emergency happened nor at the residence: %s"
           % found)


if __name__ == "__main__":
    main()
