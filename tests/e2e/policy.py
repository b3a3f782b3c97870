#!/usr/bin/env python3
"""e2e.policy: the policy of 深民〔2021〕80号 checked on every unified change.

cpsync runs with deploy/policy.default.yaml on a standalone embedded broker;
the city platform sends, on Kafka, a household above the 低保 standard with an
ACTIVE 低保 enrolment, a verification that counts the basic pension as
income, and an enrolment that exited during its gradual exit. The test
asserts that the reconcile workers open exactly those three findings
(GET /api/v1/findings, cpsync.policy_findings, cpsync_policy_findings_open
in /metrics), with no personal data in what a viewer reads, and that the
unified alert topic carries an OPEN alert for each, decoded by python3-avro;
then the city moves the enrolment into a 6-month gradual exit: the finding
on it closes, its alert's next version is CLOSED_NO_NEED, and the other two
stay open. Then the rechecks: an enrolment that arrives before its person
gets its finding when the person arrives (deceased) and loses it when the
person changes; a finding on a person's enrolment that reads the person's
household closes when that household's income falls below the standard.

usage: policy.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import datetime
import hashlib
import os
import time
import urllib.request

import e2elib as L

PLATFORMS = {
    "city": ("confluent", {"city.person": "person", "city.household": "household",
                           "city.enrolment": "enrolment", "city.verification": "verification"}),
    "province": None,
    "shenshan": None,
}
TOPIC = {e: t for t, e in PLATFORMS["city"][1].items()}
INGEST = "cpsync.ingest"
UNIFIED = "cpsync.unified."
EPOCH = datetime.date(1970, 1, 1)


def days(d):
    return (d - EPOCH).days


def six_months_last_day(start):
    """The last day of the 6 months from `start` (15 Jan -> 14 Jul)."""
    m = start.month - 1 + 6
    y, m = start.year + m // 12, m % 12 + 1
    last = [31, 29 if y % 4 == 0 and (y % 100 or y % 400 == 0) else 28, 31, 30, 31, 30, 31, 31,
            30, 31, 30, 31][m - 1]
    return datetime.date(y, m, min(start.day, last)) - datetime.timedelta(days=1)


def person(nid, hid):
    return {"national_id": nid, "name": "林秀英", "gender": "FEMALE", "birth_date": 5674,
            "registration_region_code": "440305", "residence_region_code": "440305",
            "residence_address": None, "has_residence_permit": False, "disabled": False,
            "disability_grade": None, "seriously_ill": False, "labour_capacity": "FULL",
            "phone": None, "household_id": hid, "deceased": False}


def household(hid, head, income_cents):
    return {"household_id": hid, "head_national_id": head,
            "members": [{"national_id": head, "relation": "HEAD"}], "member_count": 1,
            "region_code": "440305", "household_type": "URBAN",
            "per_capita_monthly_income": L.money(income_cents), "monitoring_category": "DIBAO",
            "monitoring_since": None}


def enrolment(eid, hid, status, ge=None, end=None, subject_type="HOUSEHOLD"):
    return {"enrolment_id": eid, "subject_type": subject_type, "subject_id": hid,
            "programme": "DIBAO", "status": status, "applied_date": 19400, "start_date": 19420,
            "gradual_exit_start_date": days(ge[0]) if ge else None,
            "gradual_exit_end_date": days(ge[1]) if ge else None,
            "end_date": days(end) if end else None, "monthly_amount": L.money(136500),
            "covered_members": 1, "granting_region_code": "440305", "status_reason": None}


def verification(vid, hid, head):
    item = {"member_national_id": head, "source": "CITY"}
    return {"verification_id": vid, "household_id": hid, "purpose": "REVIEW",
            "items": [dict(item, kind="WAGES", amount=L.money(200000), counted=True),
                      dict(item, kind="BASIC_PENSION", amount=L.money(20000), counted=True)],
            "counted_income_total": L.money(220000), "employment_cost_deduction": L.money(20000),
            "member_count": 2, "per_capita_income": L.money(100000), "result": "ELIGIBLE",
            "verified_at": 1_767_225_600_000, "valid_until": None}


def expect(cond, what):
    if not cond:
        L.fail(what)


def policy_section(source):
    with open(os.path.join(source, "deploy/policy.default.yaml")) as f:
        text = f.read()
    return text[text.index("\npolicy:") + 1:]


def metrics(port):
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % port,
                                 headers={"Authorization": "Bearer " + L.TOKEN})
    with urllib.request.urlopen(req, timeout=5) as r:
        return r.read().decode()


def open_findings(cps):
    st, doc = L.http_get(cps.port, "/api/v1/findings?status=open")
    expect(st == 200, "GET /api/v1/findings answers 200 to a viewer (%s %s)" % (st, doc))
    return sorted((f["check"], f["entity"]) for f in doc["items"]), doc["items"]


def wait_findings(cps, want, what):
    deadline = time.monotonic() + 60
    while True:
        got, items = open_findings(cps)
        if got == want:
            return items
        if not cps.alive() or time.monotonic() > deadline:
            L.fail("%s: open findings %s, want %s\n%s" % (what, got, want, cps.tail()))
        time.sleep(0.3)


def alert_id(check, entity, key):
    """cpsync's alert for a finding: the record key hashed (it may hold a national ID)."""
    return "POLICY-%s-%s-%s" % (check, entity, hashlib.sha256(key.encode()).hexdigest()[:16])


def alerts(schemas, broker, want_events):
    """{alert_id: [versions' records]} from the unified alert topic, once it
    holds `want_events` events."""
    deadline = time.monotonic() + 60
    while True:
        events = L.consume_all(broker.bootstrap, [UNIFIED + "alert"])
        if len(events) >= want_events or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    out = {}
    for topic, part, off, key, value, headers in sorted(events, key=lambda e: e[2]):
        ev = schemas.decode_unified(value)
        expect(ev["entity"] == "ALERT" and key.decode() == ev["key"], "an alert event: %s" % ev)
        prov = {p["field"]: p for p in ev["provenance"]}
        expect(prov["status"]["rule"] == "policy" and prov["status"]["platform"] is None,
               "an alert cpsync raises names the rule 'policy', no platform: %s" % prov)
        out.setdefault(ev["key"], []).append((ev["version"], ev["record"]))
    return out


def produce(schemas, broker, msgs):
    out = []
    for ent, key, rec in msgs:
        ts = int(time.time() * 1000)
        out.append((TOPIC[ent], key.encode(), schemas.frame("confluent", ent, rec),
                    [("effective_time", str(ts).encode())], ts))
    L.produce_all(L.producer(broker.bootstrap), out)


def main():
    args = L.parse_args("e2e.policy")
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("policy")
    topics = ["%s:4" % INGEST, "cpsync.deadletter:1"] + \
        ["%s%s:2" % (UNIFIED, e) for e in L.ENTITIES] + ["%s:2" % t for t in TOPIC.values()]
    broker = L.open_broker(args, 2, topics)
    db = L.Database(args.pg, "e2e_policy")
    cps = None
    try:
        cfg = os.path.join(work, "policy.yaml")
        L.write_config(cfg, instance="e2e-policy", schemas=args.schemas,
                       bootstrap=broker.bootstrap, conninfo=db.conninfo, platforms=PLATFORMS,
                       source=args.source, batch_ms=20)
        with open(cfg, "a") as f:
            f.write(policy_section(args.source))
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        run(schemas, broker, db, cps)
        expect(cps.stop() == 0, "cpsync exits 0 after SIGTERM")
    finally:
        if cps:
            cps.kill()
        broker.stop()
        db.drop()
    L.info("OK")


def run(schemas, broker, db, cps):
    head = L.national_id("440305", "19850715", 332)
    hid, e1, e2, v1 = "H440305202100777", "E440305-0001", "E440305-0002", "HD2026-440305-0001"
    today = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()
    early = today - datetime.timedelta(days=40)
    produce(schemas, broker, [
        ("person", head, person(head, hid)),
        ("household", hid, household(hid, head, 150000)),  # above 1,365.00
        ("enrolment", e1, enrolment(e1, hid, "ACTIVE")),
        ("enrolment", e2, enrolment(e2, hid, "EXITED", ge=(early, six_months_last_day(early)),
                                    end=today - datetime.timedelta(days=1))),
        ("verification", v1, verification(v1, hid, head)),
    ])
    items = wait_findings(cps, sorted([("EXITED_DURING_GRADUAL_EXIT", "enrolment"),
                                       ("INCOME_ABOVE_STANDARD_ACTIVE", "enrolment"),
                                       ("VERIFICATION_COUNTS_EXCLUDED", "verification")]),
                          "the three breaches")
    for f in items:
        expect(f["text"] and f["detail"] and f["fields"] and f["category"] in (
            "ELIGIBILITY_CHANGE", "DATA_INCONSISTENCY"), "a finding in full: %s" % f)
        expect(head not in str(f) and "林秀英" not in str(f) and "1500" not in f["detail"],
                 "no personal data in a finding a viewer reads: %s" % f)
    sev = {f["check"]: f["severity"] for f in items}
    expect(sev["INCOME_ABOVE_STANDARD_ACTIVE"] == "HIGH",
             "policy.default.yaml raises INCOME_ABOVE_STANDARD_ACTIVE to HIGH: %s" % sev)
    text = metrics(cps.port)
    for check in sev:
        expect('cpsync_policy_findings_open{check="%s"} 1' % check in text,
                 "/metrics counts the open %s finding" % check)
    income_alert = alert_id("INCOME_ABOVE_STANDARD_ACTIVE", "enrolment", e1)
    got = alerts(schemas, broker, 3)
    expect(sorted(got) == sorted([income_alert,
                                  alert_id("EXITED_DURING_GRADUAL_EXIT", "enrolment", e2),
                                  alert_id("VERIFICATION_COUNTS_EXCLUDED", "verification", v1)]),
           "an alert per finding on the unified alert topic: %s" % sorted(got))
    (version, rec), = got[income_alert]
    expect(version == 1 and rec["status"] == "OPEN" and rec["category"] == "ELIGIBILITY_CHANGE"
           and rec["trigger"] == "INCOME_ABOVE_STANDARD" and rec["severity"] == "HIGH"
           and rec["subject_id"] == hid and rec["region_code"] == "440305",
           "the income alert as the province sees it: %s" % rec)

    # the city moves E1 into a gradual exit of 6 months: its finding closes
    produce(schemas, broker, [("enrolment", e1, enrolment(
        e1, hid, "GRADUAL_EXIT", ge=(today, six_months_last_day(today))))])
    wait_findings(cps, sorted([("EXITED_DURING_GRADUAL_EXIT", "enrolment"),
                               ("VERIFICATION_COUNTS_EXCLUDED", "verification")]),
                  "after E1's gradual exit")
    rows = db.query("SELECT check_code, status, closed_at IS NOT NULL FROM "
                    "cpsync.policy_findings WHERE key = %s", (e1,))
    expect(rows == [("INCOME_ABOVE_STANDARD_ACTIVE", "closed", True)],
             "E1's finding is closed, with its time: %s" % rows)
    got = alerts(schemas, broker, 4)
    versions = [(v, r["status"], r["handled_at"] is not None) for v, r in got[income_alert]]
    expect(versions == [(1, "OPEN", False), (2, "CLOSED_NO_NEED", True)],
           "the income alert closes in its next version: %s" % versions)
    expect(all(len(v) == 1 for k, v in got.items() if k != income_alert),
           "the other alerts stay as raised: %s" % got)
    rechecks(schemas, broker, db, cps)
    dead = db.query("SELECT origin, reason FROM cpsync.dead_letters")
    expect(not dead, "no dead letters: %s" % dead)


def stored(db, entity, key):
    deadline = time.monotonic() + 60
    while not db.query("SELECT 1 FROM cpsync.records WHERE entity = %s AND key = %s",
                       (entity, key)):
        if time.monotonic() > deadline:
            L.fail("%s %s never reached the store" % (entity, key))
        time.sleep(0.2)


def rechecks(schemas, broker, db, cps):
    """Findings follow the persons and households an enrolment reads, when
    only those change."""
    before = sorted([("EXITED_DURING_GRADUAL_EXIT", "enrolment"),
                     ("VERIFICATION_COUNTS_EXCLUDED", "verification")])
    p2 = L.national_id("440305", "19400101", 118)
    p3 = L.national_id("440305", "19700505", 226)
    e3, e4, h2, h3 = "E440305-0003", "E440305-0004", "H440305202100888", "H440305202100999"
    # E3 arrives before its subject: nothing to check it against yet
    produce(schemas, broker, [("enrolment", e3, enrolment(e3, p2, "ACTIVE", subject_type="PERSON"))])
    stored(db, "enrolment", e3)
    got, _ = open_findings(cps)
    expect(got == before, "no finding on an enrolment whose person is unknown: %s" % got)
    # the person arrives, deceased: E3 (unchanged) is checked again and breaks the policy
    produce(schemas, broker, [("person", p2, dict(person(p2, h2), deceased=True))])
    wait_findings(cps, sorted(before + [("DECEASED_ENROLLED", "enrolment")]),
                  "E3's person arrives after it, deceased")
    # a correction of the person: E3's finding closes
    produce(schemas, broker, [("person", p2, person(p2, h2))])
    wait_findings(cps, before, "E3's person corrected (not deceased)")
    rows = db.query("SELECT check_code, status FROM cpsync.policy_findings WHERE key = %s", (e3,))
    expect(rows == [("DECEASED_ENROLLED", "closed")], "E3's finding closed: %s" % rows)
    # a person's 低保 enrolment reads the person's household: when only the
    # household's income falls below the standard, its finding closes
    produce(schemas, broker, [("person", p3, person(p3, h3)),
                              ("household", h3, household(h3, p3, 150000))])
    stored(db, "household", h3)
    stored(db, "person", p3)
    produce(schemas, broker, [("enrolment", e4, enrolment(e4, p3, "ACTIVE", subject_type="PERSON"))])
    wait_findings(cps, sorted(before + [("INCOME_ABOVE_STANDARD_ACTIVE", "enrolment")]),
                  "E4: its subject's household is above the standard")
    produce(schemas, broker, [("household", h3, household(h3, p3, 100000))])
    wait_findings(cps, before, "E4's household income falls below the standard")
    rows = db.query("SELECT check_code, status FROM cpsync.policy_findings WHERE key = %s", (e4,))
    expect(rows == [("INCOME_ABOVE_STANDARD_ACTIVE", "closed")], "E4's finding closed: %s" % rows)
    got = alerts(schemas, broker, 8)
    versions = [(v, r["status"]) for v, r in
                got[alert_id("DECEASED_ENROLLED", "enrolment", e3)]]
    expect(versions == [(1, "OPEN"), (2, "CLOSED_NO_NEED")],
           "E3's alert raised by its person's arrival, closed by its correction: %s" % versions)
    rec = got[alert_id("DECEASED_ENROLLED", "enrolment", e3)][0][1]
    expect(rec["subject_type"] == "PERSON" and rec["subject_id"] == p2,
           "a rechecked enrolment's alert names its subject: %s" % rec)


if __name__ == "__main__":
    main()
