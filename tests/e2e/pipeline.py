#!/usr/bin/python3
"""e2e.pipeline: three platforms' records through a real cpsync, read back by
independent clients.

A standalone broker (broker_main) holds the platform topics; python3-avro
encodes person/household/enrolment records (province and Shenshan
single-object framed, the city Confluent framed with the ids of
schemas/schema-ids.json) and confluent-kafka produces them, with explicit
effective times. The records disagree on a manual field (person.name), on
precedence fields (person.labour_capacity, household income and monitoring
category, enrolment status) and on a latest field (person.phone). Once
/status shows every event applied, the test reads cpsync.unified.<entity>
with confluent-kafka and decodes every event with python3-avro, and reads
cpsync.records, record_history and conflicts with psycopg2, asserting the
values the rules demand, per-field provenance, versions 1..n per key, the
open conflicts (a manual field; a precedence field whose rule opens a conflict
on disagreement) and the records table.

With --real-kafka (kafka_real.pipeline) the same runs on the real Kafka
broker of $CPSYNC_TEST_KAFKA instead of broker_main: every topic and consumer
group name then carries a prefix unique to the run (the broker is shared),
the topics are created beforehand and deleted afterwards.

usage: pipeline.py --cpsync BIN (--broker BROKER_MAIN | --real-kafka) --source SOURCE_DIR
"""
import json
import os
import time

import e2elib as L

PLATFORMS = {
    "province": ("single-object", {"prov.person": "person", "prov.household": "household",
                                   "prov.enrolment": "enrolment"}),
    "city": ("confluent", {"city.person": "person", "city.household": "household",
                           "city.enrolment": "enrolment"}),
    "shenshan": ("single-object", {"ss.person": "person", "ss.enrolment": "enrolment"}),
}
TOPIC = {(p, e): t for p, (_, ts) in PLATFORMS.items() for t, e in ts.items()}
INGEST = "cpsync.ingest"
UNIFIED = "cpsync.unified."


def use_prefix(pfx):
    """Every topic name of the test prefixed with `pfx` (a shared real broker)."""
    global PLATFORMS, TOPIC, INGEST, UNIFIED
    PLATFORMS = {p: (fr, {pfx + t: e for t, e in ts.items()}) for p, (fr, ts) in PLATFORMS.items()}
    TOPIC = {(p, e): t for p, (_, ts) in PLATFORMS.items() for t, e in ts.items()}
    INGEST = pfx + INGEST
    UNIFIED = pfx + UNIFIED
T0 = 1_700_000_000_000  # effective times: fixed, so the ordering is the test's


def person(nid, name, **kw):
    rec = {"national_id": nid, "name": name, "gender": "MALE", "birth_date": -658,
           "registration_region_code": "440305", "residence_region_code": "440305",
           "residence_address": "南山区桃源街道平山村12栋603", "has_residence_permit": False,
           "disabled": False, "disability_grade": None, "seriously_ill": False,
           "labour_capacity": "PARTIAL", "phone": "13798765432", "household_id": None,
           "deceased": False}
    rec.update(kw)
    return rec


def household(hid, head, spouse, income_cents, category):
    return {"household_id": hid, "head_national_id": head,
            "members": [{"national_id": head, "relation": "HEAD"},
                        {"national_id": spouse, "relation": "SPOUSE"}],
            "member_count": 2, "region_code": "440305", "household_type": "URBAN",
            "per_capita_monthly_income": L.money(income_cents), "monitoring_category": category,
            "monitoring_since": 18901}


def enrolment(eid, hid, status, amount_cents):
    return {"enrolment_id": eid, "subject_type": "HOUSEHOLD", "subject_id": hid,
            "programme": "DIBAO", "status": status, "applied_date": 18876,
            "start_date": 18901, "gradual_exit_start_date": None,
            "gradual_exit_end_date": None, "end_date": None,
            "monthly_amount": L.money(amount_cents), "covered_members": 2,
            "granting_region_code": "441521", "status_reason": None}


def plain(v):
    """Avro JSON (union branches wrapped) to plain values."""
    if isinstance(v, dict):
        if len(v) == 1:
            (k, inner), = v.items()
            if k in ("string", "int", "long", "boolean", "bytes", "double", "float") or "." in k \
                    or k[:1].isupper():
                return plain(inner)
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def from_avro(v):
    """python3-avro values to the plain Avro JSON form (bytes as code points)."""
    if isinstance(v, bytes):
        return L.avro_json_bytes(v)
    if isinstance(v, dict):
        return {k: from_avro(x) for k, x in v.items()}
    if isinstance(v, list):
        return [from_avro(x) for x in v]
    return v


def main():
    args = L.parse_args("e2e.pipeline")
    if args.real_kafka:
        L.set_name("kafka_real.pipeline")
        use_prefix(args.pfx)
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("pipeline")
    dead = args.pfx + "cpsync.deadletter"
    topics = ["%s:8" % INGEST, "%s:2" % dead] + \
        ["%s%s:4" % (UNIFIED, e) for e in L.ENTITIES] + ["%s:4" % t for t in TOPIC.values()]
    broker = L.open_broker(args, 4, topics)
    db = L.Database(args.pg, "kr_pipeline" if args.real_kafka else "e2e_pipeline")
    cps = None
    try:
        cfg = os.path.join(work, "pipeline.yaml")
        L.write_config(cfg, instance="e2e-pipeline", schemas=args.schemas,
                       bootstrap=broker.bootstrap, conninfo=db.conninfo, platforms=PLATFORMS,
                       source=args.source, batch_ms=20, ingest_topic=INGEST,
                       dead_letter_topic=dead, unified_prefix=UNIFIED,
                       group_suffix=args.pfx + "0")
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        run(args, schemas, broker, db, cps)
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        if cps:
            cps.kill()
        broker.stop()
        db.drop()
    L.info("OK")


def run(args, schemas, broker, db, cps):
    p1 = L.national_id("440305", "19680314", 317)
    p2 = L.national_id("440304", "19711102", 208)
    p3 = L.national_id("441521", "19850921", 573)
    p4 = L.national_id("440306", "19790101", 112)
    h1, e1 = "H440305202100123", "H440305202100123:DIBAO"
    msgs = []  # (platform, entity, key, record or None, effective offset in s)

    # P4: a row as an older cpsync wrote it (the platforms' facts as JSON, no
    # binary facts or provenance), which the typed state cannot load: the
    # worker applies the province's event to it the JSON way and writes the
    # row in the current form, which the typed state loads on P4's next event
    db.execute("INSERT INTO cpsync.records (entity, key, version, record, platforms) VALUES "
               "('person', %s, 1, %s, %s)", (p4, json.dumps({"national_id": p4, "name": "王芳"}),
                                             json.dumps({"city": {
                                                 "withdrawn": False, "eff": T0 + 5000,
                                                 "src": T0 + 5000, "pos": None, "fields": {
                                                     "name": {"v": "王芳", "eff": T0 + 5000,
                                                              "src": T0 + 5000, "pos": None}}}})))
    msgs.append(("province", "person", p4, person(p4, "王芳", phone="13900000004"), 10))

    # P1: city and province disagree on name (manual), labour_capacity
    # (precedence city first) and phone (latest: the province's is newer)
    msgs.append(("city", "person", p1, person(p1, "陈建国", labour_capacity="PARTIAL",
                                               phone="13798765432"), 10))
    msgs.append(("province", "person", p1, person(p1, "陈建囯", labour_capacity="FULL",
                                                   phone="13800000001"), 20))
    # P2: the province alone, then an update of the address
    msgs.append(("province", "person", p2, person(p2, "林秀英", gender="FEMALE"), 10))
    msgs.append(("province", "person", p2, person(p2, "林秀英", gender="FEMALE",
                                                   residence_address="福田区香蜜湖街道1号"), 30))
    # P3: Shenshan creates, then deletes (a tombstone keyed by the ID)
    msgs.append(("shenshan", "person", p3, person(p3, "黄志强", residence_region_code="441521",
                                                   registration_region_code="441521"), 10))
    msgs.append(("shenshan", "person", p3, None, 40))
    # H1: income is the city's, the monitoring category the province's
    msgs.append(("city", "household", h1, household(h1, p1, p2, 120000, "DIBAO_EDGE"), 10))
    msgs.append(("province", "household", h1, household(h1, p1, p2, 135000, "DIBAO"), 10))
    # E1: status is Shenshan's
    msgs.append(("city", "enrolment", e1, enrolment(e1, h1, "APPLIED", 80000), 10))
    msgs.append(("shenshan", "enrolment", e1, enrolment(e1, h1, "ACTIVE", 81000), 15))

    t_start = time.monotonic()
    produce(schemas, broker, msgs)
    wait_applied(db, broker, cps, msgs, 6)
    # P4's row, now in the current form, takes its next event the typed way
    msgs.append(("province", "person", p4, person(p4, "王芳", phone="13900000044"), 50))
    produce(schemas, broker, msgs[-1:])
    wait_applied(db, broker, cps, msgs, 6)
    L.info("applied in %.1f s" % (time.monotonic() - t_start))
    expect("stored by an older cpsync are applied the JSON way" in cps.tail(1 << 24),
           "the worker says it met a row of an older cpsync")
    check(schemas, broker, db, msgs, p1, p2, p3, p4, h1, e1)


def produce(schemas, broker, msgs):
    out = []
    for plat, ent, key, rec, eff in msgs:
        framing = PLATFORMS[plat][0]
        value = schemas.frame(framing, ent, rec) if rec is not None else None
        ts = T0 + eff * 1000
        out.append((TOPIC[(plat, ent)], key.encode(), value,
                    [("effective_time", str(ts).encode())], ts))
    L.produce_all(L.producer(broker.bootstrap), out)


def wait_applied(db, broker, cps, msgs, n_records):
    """Until every message is accepted by its source and the store is at rest."""
    expect_accepted = {p: sum(1 for m in msgs if m[0] == p) for p in PLATFORMS}
    deadline = time.monotonic() + 90
    while True:
        doc = cps.status()
        if doc:
            links = {l["name"]: l for l in doc["links"]}
            ok = all(links.get("%s-source" % p, {}).get("records", 0) >= n
                     for p, n in expect_accepted.items())
            applied = db.query("SELECT count(*) FROM cpsync.records")[0][0]
            pending = db.query("SELECT count(*) FROM cpsync.outbox")[0][0]
            if ok and applied == n_records and pending == 0 and \
                    settled(db, broker, len(msgs)):
                break
        if not cps.alive() or time.monotonic() > deadline:
            L.fail("records not applied: %s\ndead letters: %s\n%s" % (
                json.dumps(doc), db.query("SELECT origin, reason FROM cpsync.dead_letters"),
                cps.tail()))
        time.sleep(0.3)


def check(schemas, broker, db, msgs, p1, p2, p3, p4, h1, e1):
    dead = db.query("SELECT count(*) FROM cpsync.dead_letters")[0][0]
    if dead:
        L.fail("%d dead letters for valid input: %s" % (
            dead, db.query("SELECT origin, reason FROM cpsync.dead_letters")))

    # -- the records table
    rows = {(e, k): (v, d, r, prov, plats) for e, k, v, d, r, prov, plats in db.query(
        "SELECT entity, key, version, deleted, record, cpsync.provenance_json(prov), "
        "cpsync.facts_json(facts) "
        "FROM cpsync.records")}
    r = plain(rows[("person", p1)][2])
    # manual: the first value applied stands while the conflict is open
    # (which platform's came first is the runners' race)
    first = db.query("SELECT record FROM cpsync.record_history WHERE entity = 'person' AND "
                     "key = %s AND version = 1", (p1,))[0][0]
    expect(r["name"] in ("陈建国", "陈建囯") and r["name"] == plain(first)["name"],
           "P1 name keeps its first applied value while the conflict is open")
    expect(r["labour_capacity"] == "PARTIAL", "P1 labour_capacity is the city's (precedence)")
    expect(r["phone"] == "13800000001", "P1 phone is the newest (latest), the province's")
    expect(sorted(rows[("person", p1)][4]) == ["city", "province"], "P1 platforms")
    r = plain(rows[("person", p2)][2])
    expect(r["residence_address"] == "福田区香蜜湖街道1号", "P2 address updated")
    expect(rows[("person", p3)][1] is True, "P3 deleted after Shenshan's tombstone")
    r = plain(rows[("person", p4)][2])
    expect(rows[("person", p4)][0] == 3 and r["name"] == "王芳" and r["phone"] == "13900000044"
           and r["gender"] == "MALE", "P4 (an older cpsync's row) took both events: %s"
           % (rows[("person", p4)][:2],))
    expect(sorted(rows[("person", p4)][4]) == ["city", "province"]
           and rows[("person", p4)][3]["name"]["platform"] in ("city", "province"),
           "P4's row is in the current form, the older row's facts kept: %s"
           % sorted(rows[("person", p4)][4] or []))
    r = plain(rows[("household", h1)][2])
    expect(r["per_capita_monthly_income"] == L.avro_json_bytes(L.money(120000)),
           "H1 income is the city's (precedence)")
    expect(r["monitoring_category"] == "DIBAO", "H1 monitoring category is the province's")
    r = plain(rows[("enrolment", e1)][2])
    expect(r["status"] == "ACTIVE", "E1 status is Shenshan's")
    expect(r["monthly_amount"] == L.avro_json_bytes(L.money(81000)), "E1 amount is Shenshan's")

    # -- conflicts: P1's name (manual) and H1's income (precedence, on_disagree
    # conflict: the province reports another income than the city verified)
    conf = db.query("SELECT entity, key, field, status, candidates FROM cpsync.conflicts "
                    "ORDER BY entity DESC")
    live = [c for c in conf if c[3] == "open"]
    expect([c[:3] for c in live] == [("person", p1, "name"),
                                     ("household", h1, "per_capita_monthly_income")],
           "open conflicts for person P1 name and household H1 income: %s"
           % [(c[0], c[2], c[3], c[1] in (p1, h1)) for c in conf])
    cands = json.dumps(live[0][4], ensure_ascii=False)
    expect("陈建国" in cands and "陈建囯" in cands, "the name conflict lists both candidates")
    cands = {c["platform"] for c in live[1][4]}
    expect(cands == {"city", "province"}, "the income conflict lists city and province")

    # -- history: versions 1..n per key, the last equal to records.version
    hist = {}
    for e, k, v, op, rec, changed in db.query(
            "SELECT entity, key, version, op, record, changed_fields FROM cpsync.record_history "
            "ORDER BY entity, key, version"):
        hist.setdefault((e, k), []).append((v, op, rec, changed))
    for ek, (ver, deleted, rec, _, _) in rows.items():
        vs = [h[0] for h in hist.get(ek, [])]
        first = 2 if ek == ("person", p4) else 1  # its version 1 is the older cpsync's
        expect(vs == list(range(first, ver + 1)), "history of %s is versions %d..%d (got %s)"
               % (ek[0], first, ver, vs))
    expect(hist[("person", p3)][-1][1] == "delete", "P3's last history row is a delete")
    expect(hist[("person", p2)][-1][0] == 2, "P2 has exactly two versions")

    # -- the unified topics, decoded by python3-avro
    events = L.consume_all(broker.bootstrap, [UNIFIED + e for e in
                                              ("person", "household", "enrolment")])
    seen = {}
    for topic, part, off, key, value, headers in events:
        ev = schemas.decode_unified(value)
        ent = topic.rsplit(".", 1)[1]
        expect(ev["entity"] == ent.upper(), "entity of an event on %s" % topic)
        expect(key.decode() == ev["key"], "Kafka key equals the event key")
        seen[(ent, ev["key"], ev["version"])] = ev
    store_versions = {(e, k, h[0]) for (e, k), hs in hist.items() for h in hs}
    expect(set(seen) == store_versions, "unified events (by key, version) equal the history: "
           "%d events, %d history rows" % (len(seen), len(store_versions)))
    for (e, k, v), ev in seen.items():
        h = {x[0]: x for x in hist[(e, k)]}[v]
        rows_rec = plain(h[2])
        if ev["operation"] == "DELETE":
            expect(ev["record"] is None, "a DELETE event carries no record")
        else:
            expect(from_avro(ev["record"]) == rows_rec,
                   "event %s v%d record equals the history's" % (e, v))
        # what the sinks' no-echo rule reads: the change log's changed fields
        expect(sorted(ev["changed_fields"]) == sorted(h[3] or [])
               and (ev["prior_platforms"] == []) == (ev["operation"] == "UPSERT"),
               "event %s v%d: changed_fields %s, the history's %s, prior_platforms %s"
               % (e, v, ev["changed_fields"], h[3], ev["prior_platforms"]))
    p3_delete = seen[("person", p3, rows[("person", p3)][0])]
    expect(p3_delete["operation"] == "DELETE" and p3_delete["prior_platforms"] == ["SHENSHAN"]
           and p3_delete["changed_fields"] == [],
           "P3's delete names Shenshan, which alone held it: %s" % p3_delete["prior_platforms"])

    prov = {p["field"]: p for p in seen[("person", p1, rows[("person", p1)][0])]["provenance"]}
    expect(prov["labour_capacity"]["platform"] == "CITY"
           and prov["labour_capacity"]["rule"] == "precedence", "P1 labour_capacity provenance")
    expect(prov["phone"]["platform"] == "PROVINCE" and prov["phone"]["rule"] == "latest",
           "P1 phone provenance")
    expect(prov["phone"]["effective_time"] == T0 + 20000, "P1 phone effective time")
    expect(prov["phone"]["source_position"].startswith(
        "province:%s/" % TOPIC[("province", "person")]),
           "P1 phone source position")
    expect(prov["name"]["rule"] == "manual", "P1 name provenance rule")
    hp = {p["field"]: p for p in seen[("household", h1, rows[("household", h1)][0])]["provenance"]}
    expect(hp["per_capita_monthly_income"]["platform"] == "CITY", "H1 income provenance")
    expect(hp["monitoring_category"]["platform"] == "PROVINCE", "H1 category provenance")
    ep = {p["field"]: p for p in seen[("enrolment", e1, rows[("enrolment", e1)][0])]["provenance"]}
    expect(ep["status"]["platform"] == "SHENSHAN" and ep["status"]["rule"] == "precedence",
           "E1 status provenance")
    # E1 is granted by 441521: the default rules' case for Shenshan's residents decided
    expect(ep["status"]["rule_case"] == "shenshan_residents"
           and ep["granting_region_code"]["rule_case"] is None,
           "E1 provenance names the case shenshan_residents (not on its condition field): %s"
           % {f: ep[f]["rule_case"] for f in ("status", "granting_region_code")})
    L.info("%d unified events decoded, %d keys, 2 open conflicts" % (len(seen), len(rows)))
    dups = len(events) - len(seen)
    expect(dups == 0, "%d unified events published twice without any crash" % dups)
    L.info("events in %d, unified out %d (%d distinct (key, version)), lost 0, doubled %d, "
           "gaps 0" % (len(msgs), len(events), len(seen), dups))


def settled(db, broker, n_events):
    """The stored ingest offsets reached the end of the ingest topic, which
    holds at least every accepted event."""
    stored = db.query("SELECT coalesce(sum(next_offset), 0) FROM cpsync.ingest_offsets")[0][0]
    end = L.end_offsets(broker.bootstrap, INGEST)
    return end >= n_events and stored == end


def expect(cond, what):
    if not cond:
        L.fail(what)


if __name__ == "__main__":
    main()
