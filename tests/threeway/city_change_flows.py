#!/usr/bin/python3
"""threeway.city_change_flows: the three-way exchange end to end, no echoes,
allow-lists. One cpsync (embedded broker) with the city as a PostgreSQL
database (change capture + inbound tables), Shenshan as inbox/outbox
directories and the province on Kafka topics. Asserted, for person P:
- a city insert and update reach cpsync.records, the unified topic,
  Shenshan's outbox files (python3-avro DataFileReader; phone, outside
  Shenshan's allow-list, always null) and province.inbound.person (the
  province's single-object framing, decoded by python3-avro);
- none of the city's own versions is ever written to the city's inbound
  tables (a trigger logs every write there), while the province's changes
  to P are; the province's change never goes back to the province;
- files written by python3-avro into the inbox (null and deflate codecs)
  are applied, reach the city's inbound tables and the province, and are not
  echoed into Shenshan's outbox;
- a row deleted in the city: a person only the city had is deleted, with a
  DELETE event on the unified topic; one the province also has keeps its
  unified record, the city's values withdrawn.

usage: city_change_flows.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import datetime
import io
import os
import struct
import time

import avro.datafile
import avro.io

import twlib as T
from twlib import L

EPOCH = datetime.date(1970, 1, 1)


def person(nid, **kw):
    rec = {"national_id": nid, "name": "陈建国", "gender": "MALE",
           "birth_date": (datetime.date(1968, 3, 14) - EPOCH).days,
           "registration_region_code": "440305", "residence_region_code": "440305",
           "residence_address": "南山区桃源街道1号", "has_residence_permit": False,
           "disabled": False, "disability_grade": None, "seriously_ill": False,
           "labour_capacity": "PARTIAL", "phone": "13798765432", "household_id": None,
           "deceased": False}
    rec.update(kw)
    return rec


def city_insert(city, rec):
    cols = T.PERSON_FIELDS
    vals = [rec[c] for c in cols]
    vals[cols.index("birth_date")] = EPOCH + datetime.timedelta(days=rec["birth_date"])
    city.execute("INSERT INTO city.person (%s) VALUES (%s)"
                 % (", ".join(cols), ", ".join(["%s"] * len(cols))), vals)


def record_of(store, key):
    rows = store.query("SELECT version, record, cpsync.facts_json(facts) FROM cpsync.records "
                       "WHERE entity = 'person' AND key = %s", (key,))
    if not rows:
        return None
    v, rec, plats = rows[0]
    return v, T.plain(rec) if rec else None, plats


def province_inbound(schemas, bootstrap):
    """[(version, record)] of province.inbound.person."""
    out = []
    for _, _, _, key, value, headers in L.consume_all(bootstrap, ["province.inbound.person"]):
        if value[:2] != b"\xc3\x01":
            L.fail("province inbound message not single-object framed")
        fp = struct.unpack("<Q", value[2:10])[0]
        if fp != schemas.fingerprint["person"]:
            L.fail("province inbound fingerprint %016x is not the person schema's" % fp)
        dec = avro.io.BinaryDecoder(io.BytesIO(value[10:]))
        rec = avro.io.DatumReader(schemas.entity["person"]).read(dec)
        if key.decode() != rec["national_id"]:
            L.fail("province inbound Kafka key differs from the record's national_id")
        hdr = dict(headers)
        out.append((int(hdr["cpsync-version"].decode()), rec))
    return out


def produce_province(schemas, bootstrap, rec, effective_ms):
    L.produce_all(L.producer(bootstrap), [(
        "province.person", rec["national_id"].encode(), schemas.single_object("person", rec),
        [("effective_time", str(effective_ms).encode())], None)])


def write_inbox_file(schemas, inbox, name, records, codec):
    tmp = os.path.join(inbox, name + ".tmp")
    with open(tmp, "wb") as f:
        w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(), schemas.entity["person"],
                                         codec=codec)
        for r in records:
            w.append(r)
        w.flush()
        w.close()
    os.rename(tmp, os.path.join(inbox, name))


def run(args, schemas, store, city, cps, ssdir):
    outbox = os.path.join(ssdir, "outbox")
    inbox = os.path.join(ssdir, "inbox")
    T.wait_links_running(cps)
    bootstrap = cps.status()["kafka"]["bootstrap"]
    P = L.national_id("440305", "19680314", 317)
    now_ms = int(time.time() * 1000)

    # -- v1, v2: the city inserts P, then moves it
    city_insert(city, person(P))
    T.wait_for("P v1 in cpsync.records", lambda: (record_of(store, P) or (0,))[0] >= 1, 60, cps)
    city.execute("UPDATE city.person SET residence_address = %s, phone = %s "
                 "WHERE national_id = %s", ("南山区粤海街道2号", "13700000002", P))
    r = T.wait_for("P v2 in cpsync.records",
                   lambda: (lambda x: x if x and x[0] == 2 else None)(record_of(store, P)),
                   60, cps)
    if r[1]["residence_address"] != "南山区粤海街道2号" or r[1]["phone"] != "13700000002":
        L.fail("cpsync.records holds P v2 without the city's update")
    if sorted(r[2]) != ["city"]:
        L.fail("P's platforms in cpsync.records: %s" % sorted(r[2]))
    L.info("city insert + update: P at v2 in cpsync.records")

    # -- the unified topic
    def unified_versions():
        evs = [schemas.decode_unified(v) for _, _, _, _, v, _ in
               L.consume_all(bootstrap, ["cpsync.unified.person"])]
        return sorted({e["version"] for e in evs if e["key"] == P})
    T.wait_for("P v2 on the unified topic", lambda: 2 in unified_versions(), 30, cps)
    vs = unified_versions()
    if vs != [1, 2]:
        L.fail("unified topic versions of P: %s" % vs)

    # -- Shenshan's outbox: P's update arrives, never a phone number
    T.wait_for("P v2 in Shenshan's outbox",
               lambda: any(x["national_id"] == P and x["residence_address"] == "南山区粤海街道2号"
                           for x in T.outbox_people(outbox)), 60, cps)
    # -- the province's inbound topic: P's update, phone included
    got = T.wait_for("P v2 on province.inbound.person",
                     lambda: [(v, x) for v, x in province_inbound(schemas, bootstrap)
                              if x["national_id"] == P and v == 2], 60, cps)
    if got[0][1]["phone"] != "13700000002" or got[0][1]["residence_address"] != "南山区粤海街道2号":
        L.fail("province.inbound.person P v2 lacks the city's values")
    L.info("P v2 in Shenshan's outbox and on province.inbound.person")

    # -- v3: the province moves P (residence_address: rule latest, newer fact)
    produce_province(schemas, bootstrap, person(P, residence_address="福田区香蜜湖街道3号",
                                                phone="13700000002"), now_ms + 60_000)
    T.wait_for("P v3 (province) in cpsync.records",
               lambda: (record_of(store, P) or (0,))[0] == 3, 60, cps)
    # -- v4: the city changes labour_capacity (precedence: the city's)
    city.execute("UPDATE city.person SET labour_capacity = 'NONE' WHERE national_id = %s", (P,))
    T.wait_for("P v4 (city) in cpsync.records",
               lambda: (record_of(store, P) or (0,))[0] == 4, 60, cps)
    # -- v5: the province moves P again
    produce_province(schemas, bootstrap, person(P, residence_address="福田区莲花街道5号",
                                                phone="13700000002"), now_ms + 120_000)
    r = T.wait_for("P v5 (province) in cpsync.records",
                   lambda: (lambda x: x if x and x[0] == 5 else None)(record_of(store, P)),
                   60, cps)
    if r[1]["residence_address"] != "福田区莲花街道5号" or r[1]["labour_capacity"] != "NONE":
        L.fail("P v5 in cpsync.records is not the merge of the province's and the city's facts")

    # the city's inbound table: the province's versions, never the city's own
    T.wait_for("P v5 in the city's inbound.person",
               lambda: city.query("SELECT 1 FROM inbound.person WHERE cpsync_key = %s AND "
                                  "cpsync_version = 5 AND residence_address = %s",
                                  (P, "福田区莲花街道5号")), 60, cps)
    log = sorted({v for (v,) in city.query(
        "SELECT cpsync_version FROM inbound.person_log WHERE cpsync_key = %s", (P,))})
    if log != [3, 5]:
        L.fail("versions of P ever written to the city's inbound tables: %s (want [3, 5]: "
               "the city's own changes v1, v2, v4 are echoes)" % log)
    row = city.query("SELECT labour_capacity, phone FROM inbound.person WHERE cpsync_key = %s",
                     (P,))[0]
    if row != ("NONE", "13700000002"):
        L.fail("the city's inbound row of P is not the unified v5")
    L.info("city inbound: P versions %s only (v1, v2, v4 were the city's own)" % log)

    # the province's inbound topic: the city's versions, never the province's
    T.wait_for("P v4 on province.inbound.person",
               lambda: any(v == 4 and x["national_id"] == P
                           for v, x in province_inbound(schemas, bootstrap)), 60, cps)
    pv = sorted({v for v, x in province_inbound(schemas, bootstrap) if x["national_id"] == P})
    if pv != [1, 2, 4]:
        L.fail("versions of P on province.inbound.person: %s (want [1, 2, 4])" % pv)
    # Shenshan gets every version; never a phone number
    T.wait_for("P v5 in Shenshan's outbox",
               lambda: any(x["national_id"] == P and x["residence_address"] == "福田区莲花街道5号"
                           for x in T.outbox_people(outbox)), 60, cps)

    # -- Shenshan's files into the inbox: null and deflate codecs
    S1 = L.national_id("441521", "19850921", 573)
    S2 = L.national_id("441521", "19790502", 114)
    S3 = L.national_id("441521", "19901111", 230)
    ss = {k: person(k, name="黄志强", registration_region_code="441521",
                    residence_region_code="441521", residence_address="鹅埠镇%d号" % i,
                    phone="1390000000%d" % i) for i, k in enumerate((S1, S2, S3))}
    write_inbox_file(schemas, inbox, "ss-null-001.avro", [ss[S1]], "null")
    write_inbox_file(schemas, inbox, "ss-deflate-002.avro", [ss[S2], ss[S3]], "deflate")
    for k in (S1, S2, S3):
        r = T.wait_for("Shenshan's file record in cpsync.records",
                       lambda: record_of(store, k), 60, cps)
        if sorted(r[2]) != ["shenshan"] or r[1]["residence_address"] != ss[k]["residence_address"]:
            L.fail("a Shenshan file record is not applied as sent")
    # a file moves to done/ once the store has its records and the source's
    # acknowledgement has seen that (checked every 20 ms): a moment later
    done_dir = os.path.join(inbox, "done")
    T.wait_for("the inbox files in done/",
               lambda: {"ss-null-001.avro", "ss-deflate-002.avro"} <= set(os.listdir(done_dir)),
               30, cps, detail=lambda: "done/: %s" % sorted(os.listdir(done_dir)))
    L.info("inbox files (null, deflate) applied: 3 records")
    # they reach the city and the province...
    T.wait_for("Shenshan's records in the city's inbound.person",
               lambda: city.query("SELECT count(*) FROM inbound.person WHERE cpsync_key IN "
                                  "(%s, %s, %s)", (S1, S2, S3))[0][0] == 3, 60, cps)
    T.wait_for("Shenshan's records on province.inbound.person",
               lambda: {x["national_id"] for _, x in province_inbound(schemas, bootstrap)}
               >= {S1, S2, S3}, 60, cps)
    # ...but not back to Shenshan: after a city change to S1 (v2) reaches the
    # outbox, the outbox holds S1 v2 only
    city_insert(city, dict(ss[S1], labour_capacity="NONE"))
    T.wait_for("S1 v2 (city) in Shenshan's outbox",
               lambda: any(x["national_id"] == S1 and x["labour_capacity"] == "NONE"
                           for x in T.outbox_people(outbox)), 60, cps)
    s1 = [x for x in T.outbox_people(outbox) if x["national_id"] == S1]
    if any(x["labour_capacity"] != "NONE" for x in s1):
        L.fail("Shenshan's own record S1 v1 was echoed into its outbox")

    people = T.outbox_people(outbox)
    phones = [x["phone"] for x in people if x.get("phone") is not None]
    if phones:
        L.fail("%d person records in Shenshan's outbox carry a phone number (not allowed)"
               % len(phones))
    L.info("Shenshan's outbox: %d person records, no phone number, no echo" % len(people))
    # -- deletes in the city: D (only the city has it) disappears from the
    # unified view with a DELETE event; P (the province has it too) only
    # loses the city's values
    D = L.national_id("440306", "19790502", 128)
    city_insert(city, person(D, name="林海燕", gender="FEMALE"))
    T.wait_for("D v1 in cpsync.records", lambda: record_of(store, D), 60, cps)
    city.execute("DELETE FROM city.person WHERE national_id IN (%s, %s)", (D, P))

    def deleted():
        return store.query("SELECT deleted FROM cpsync.records WHERE entity = 'person' "
                           "AND key = %s", (D,))[0][0]
    T.wait_for("D deleted in cpsync.records", deleted, 60, cps)
    T.wait_for("the city's withdrawal of P in cpsync.records", lambda: store.query(
        "SELECT (cpsync.facts_json(facts)->'city'->>'withdrawn')::boolean AND NOT deleted "
        "FROM cpsync.records WHERE entity = 'person' AND key = %s", (P,))[0][0], 60, cps)
    T.wait_for("D's DELETE event on the unified topic", lambda: any(
        ev["key"] == D and ev["operation"] == "DELETE" and ev["record"] is None
        for ev in (schemas.decode_unified(v) for _, _, _, _, v, _ in
                   L.consume_all(bootstrap, ["cpsync.unified.person"]))), 30, cps)
    L.info("city deletes: D deleted with a DELETE event, P kept with the city withdrawn")

    dead = store.query("SELECT count(*) FROM cpsync.dead_letters")[0][0]
    if dead:
        L.fail("%d dead letters: %s" % (dead, store.query(
            "SELECT platform, reason FROM cpsync.dead_letters")))


def main():
    args = L.parse_args("threeway.city_change_flows")
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("tw-flows")
    ssdir = os.path.join(work, "shenshan")
    for d in ("inbox", "outbox"):
        os.makedirs(os.path.join(ssdir, d))
    store = L.Database(args.pg, "tw_store_flows")
    city = T.City(args.pg, "flows", args.source)
    cps = None
    try:
        cfg = os.path.join(work, "threeway.yaml")
        T.write_config(cfg, instance="tw-flows", schemas=args.schemas, source=args.source,
                       store_conninfo=store.conninfo, city=city, shenshan_dir=ssdir)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        run(args, schemas, store, city, cps, ssdir)
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
