#!/usr/bin/env python3
"""e2e.policy_apply: `rules apply` checks the policy on the records it changes.

The city and the province disagree on an enrolment's status: the city says
ACTIVE (its household above the 低保 standard: INCOME_ABOVE_STANDARD_ACTIVE
opens), the province says GRADUAL_EXIT. An operator applies rules that put
the province first for enrolments: the enrolment's new version is a 6-month
gradual exit and the apply closes its finding in its own transaction; then
the first rules again: ACTIVE, and the finding opens again. Then the
standards' versions (GET /api/v1/standards): one from the start; a reload
with a changed standard adds a second, a reload without change none.

usage: policy_apply.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import copy
import datetime
import json
import os
import time

import e2elib as L
import policy as P

OPERATOR = "e2e-policy-apply-operator-token"
PLATFORMS = {
    "city": ("confluent", {"city.person": "person", "city.household": "household",
                           "city.enrolment": "enrolment"}),
    "province": ("confluent", {"province.enrolment": "enrolment"}),
    "shenshan": None,
}


def produce(schemas, broker, msgs):
    out = []
    for topic, ent, key, rec in msgs:
        ts = int(time.time() * 1000)
        out.append((topic, key.encode(), schemas.frame("confluent", ent, rec),
                    [("effective_time", str(ts).encode())], ts))
    L.produce_all(L.producer(broker.bootstrap), out)


def apply(cps, rules, what):
    st, doc = L.http_call(cps.port, "POST", "/api/v1/rules/apply", token=OPERATOR,
                          body={"rules": rules}, timeout=60)
    P.expect(st == 200, "%s: HTTP %s %s" % (what, st, doc))
    return doc


def findings_of(db, key):
    return db.query("SELECT check_code, status FROM cpsync.policy_findings WHERE key = %s "
                    "ORDER BY id", (key,))


def status_of(db, key):
    rows = db.query("SELECT record->>'status' FROM cpsync.records WHERE entity = 'enrolment' "
                    "AND key = %s", (key,))
    return rows[0][0] if rows else None


def run(schemas, broker, db, cps):
    head = L.national_id("440305", "19800202", 441)
    hid, eid = "H440305202100555", "E440305-0055"
    today = datetime.datetime.now(datetime.timezone(datetime.timedelta(hours=8))).date()
    ge = (today, P.six_months_last_day(today))
    produce(schemas, broker, [
        ("city.person", "person", head, P.person(head, hid)),
        ("city.household", "household", hid, P.household(hid, head, 150000)),
        ("city.enrolment", "enrolment", eid, P.enrolment(eid, hid, "ACTIVE")),
        ("province.enrolment", "enrolment", eid, P.enrolment(eid, hid, "GRADUAL_EXIT", ge=ge)),
    ])
    want = [("INCOME_ABOVE_STANDARD_ACTIVE", "enrolment")]
    P.wait_findings(cps, want, "the city's ACTIVE enrolment above the standard")
    L.wait_for("the province's status on the stored record", lambda: db.query(
        "SELECT cpsync.facts_json(facts) ? 'province' FROM cpsync.records WHERE entity = 'enrolment' "
        "AND key = %s", (eid,)) == [(True,)], timeout=60)
    P.expect(status_of(db, eid) == "ACTIVE", "the city decides: %s" % status_of(db, eid))
    st, cur = L.http_get(cps.port, "/api/v1/rules")
    P.expect(st == 200, "GET /api/v1/rules: %s" % st)
    rules0 = cur["rules"]
    rules1 = copy.deepcopy(rules0)
    rules1["enrolment"]["default"]["platforms"] = ["province", "city", "shenshan"]
    doc = apply(cps, rules1, "apply of the province-first rules")
    P.expect(doc["report"]["entities"]["enrolment"]["changed"] == 1,
             "the apply changes the enrolment: %s" % doc["report"])
    P.expect(status_of(db, eid) == "GRADUAL_EXIT", "the province decides now")
    P.expect(findings_of(db, eid) == [("INCOME_ABOVE_STANDARD_ACTIVE", "closed")],
             "the apply closes the finding on the enrolment it changed: %s"
             % findings_of(db, eid))
    got, _ = P.open_findings(cps)
    P.expect(got == [], "no open finding after the apply: %s" % got)
    apply(cps, rules0, "apply of the first rules again")
    P.expect(status_of(db, eid) == "ACTIVE", "the city decides again")
    P.expect(findings_of(db, eid) == [("INCOME_ABOVE_STANDARD_ACTIVE", "closed"),
                                      ("INCOME_ABOVE_STANDARD_ACTIVE", "open")],
             "the apply opens the finding again: %s" % findings_of(db, eid))


def standards(cps, cfg):
    st, doc = L.http_get(cps.port, "/api/v1/standards")
    P.expect(st == 200 and len(doc["items"]) == 1 and doc["current"] == doc["items"][0],
             "GET /api/v1/standards (a viewer): the start's version: %s %s" % (st, doc))
    cur = doc["current"]
    by_name = {x["name"]: x for x in cur["standards"]}
    P.expect(cur["version"] >= 1 and len(cur["hash"]) == 64 and
             by_name["shenzhen_2024"] == {"name": "shenzhen_2024", "regions": ["4403", "441521"],
                                          "from": "2024-07-01", "dibao_fen": 136500,
                                          "tekun_fen": 218400},
             "the stored standards as configured: %s" % cur)
    with open(cfg) as f:
        text = f.read()
    P.expect('dibao_monthly: "1365.00"' in text, "the config holds the 2024 standard")
    with open(cfg, "w") as f:
        f.write(text.replace('dibao_monthly: "1365.00"', 'dibao_monthly: "1370.00"', 1))
    for _ in range(2):  # the second reload finds nothing new
        st, doc = L.http_call(cps.port, "POST", "/api/v1/reload", token=OPERATOR, body={})
        P.expect(st == 200, "reload: HTTP %s %s" % (st, doc))
    st, doc = L.http_get(cps.port, "/api/v1/standards")
    got = [(x["version"], {s["name"]: s["dibao_fen"] for s in x["standards"]}["shenzhen_2024"])
           for x in doc["items"]]
    P.expect(got == [(cur["version"] + 1, 137000), (cur["version"], 136500)],
             "a changed standard is a new version, the last one current: %s" % got)
    L.info("standards: %s" % json.dumps([[x["version"], x["loaded_at"], x["hash"][:12]]
                                         for x in doc["items"]]))


def main():
    args = L.parse_args("e2e.policy_apply")
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("policy_apply")
    topics = ["cpsync.ingest:4", "cpsync.deadletter:1"] + \
        ["cpsync.unified.%s:2" % e for e in L.ENTITIES] + \
        ["%s:2" % t for p in PLATFORMS.values() if p for t in p[1]]
    broker = L.open_broker(args, 2, topics)
    db = L.Database(args.pg, "e2e_policy_apply")
    cps = None
    try:
        cfg = os.path.join(work, "policy_apply.yaml")
        L.write_config(cfg, instance="e2e-policy-apply", schemas=args.schemas,
                       bootstrap=broker.bootstrap, conninfo=db.conninfo, platforms=PLATFORMS,
                       source=args.source, batch_ms=20)
        with open(cfg) as f:
            text = f.read()
        text = text.replace("role: viewer}\n", "role: viewer}\n    op: {token: \"%s\", "
                            "role: operator}\n" % OPERATOR, 1)
        with open(cfg, "w") as f:
            f.write(text + P.policy_section(args.source))
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        run(schemas, broker, db, cps)
        standards(cps, cfg)
        P.expect(cps.stop() == 0, "cpsync exits 0 after SIGTERM")
    finally:
        if cps:
            cps.kill()
        broker.stop()
        db.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
