#!/usr/bin/env python3
"""browser.dashboard: the dashboard page in headless Chromium against a
running `cpsync run` (embedded Kafka, three Kafka-sourced platforms, a fresh
database on CPSYNC_TEST_PG, steward/operator/viewer tokens).

Seeds persons on which the province and the city disagree about the phone
(manual rule: one open conflict each), one undecodable message (a dead
letter), three policy breaches of deploy/policy.default.yaml (findings of
three check codes) and, with the province source paused, one province
person the store does not know (what a sweep must find), then runs
dashboard.test.js (node + playwright-core driving /usr/bin/chromium), which
works the page like a steward, an operator and a viewer (findings, a sweep
run from the page, the rules in force and a diff). Afterwards checks in
PostgreSQL what the page claimed: the conflict it resolved is closed with
its reason, the record changed, the audit row holds, the sweep it ran is
stored with its difference.

usage: run_dashboard.py --cpsync BIN --source DIR --out DIR  (Debian /usr/bin/python3)
"""
import argparse
import datetime
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import e2elib as L  # noqa: E402
import policy as P  # noqa: E402  (the records of e2e.policy)

TOKENS = {"viewer": "viewer-token-dash-0123456789",
          "steward": "steward-token-dash-0123456789",
          "operator": "operator-token-dash-0123456789"}
T0 = 1_700_000_000_000
PEOPLE = 25

CONFIG = """\
instance: dashboard-{pid}
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
  listen: 127.0.0.1:1
  tokens:
    ana-viewer: {{token: "{viewer}", role: viewer}}
    li-steward: {{token: "{steward}", role: steward}}
    ops-oncall: {{token: "{operator}", role: operator}}
reconcile:
  workers: 1
platforms:
  province:
    connector: kafka
    source:
      framing: single-object
      topics: [province.person, province.enrolment, province.verification]
      topic:
        province.person: {{entity: person}}
        province.enrolment: {{entity: enrolment}}
        province.verification: {{entity: verification}}
  city:
    connector: kafka
    source:
      framing: single-object
      topics: [city.person]
      topic:
        city.person: {{entity: person}}
  shenshan:
    connector: kafka
    source:
      framing: single-object
      topics: [shenshan.person]
      topic:
        shenshan.person: {{entity: person}}
rules:
  person:
    default:
      rule: precedence
      platforms: [province, city, shenshan]
    fields:
      phone:
        rule: manual
"""


def person(nid, phone):
    return {"national_id": nid, "name": "陈建国", "gender": "MALE", "birth_date": -658,
            "registration_region_code": "440305", "residence_region_code": "440305",
            "residence_address": "南山区桃源街道平山村12栋603", "has_residence_permit": False,
            "disabled": False, "disability_grade": None, "seriously_ill": False,
            "labour_capacity": "PARTIAL", "phone": phone, "household_id": None,
            "deceased": False}


def request(port, path, token=None, timeout=10, method="GET", body=None):
    """(status, parsed JSON or None, raw bytes) of a GET (or of `method` with a JSON body)."""
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text, status = r.read(), r.status
    except urllib.error.HTTPError as e:
        text, status = e.read(), e.code
    except OSError:
        return 0, None, b""
    try:
        return status, json.loads(text), text
    except ValueError:
        return status, None, text


def seed(schemas, prod):
    msgs = []
    for i in range(1, PEOPLE + 1):
        nid = L.national_id("440305", "19680314", i)
        msgs.append(("province.person", nid.encode(),
                     schemas.single_object("person", person(nid, "1380000%04d" % i)), None,
                     T0 + i))
        msgs.append(("city.person", nid.encode(),
                     schemas.single_object("person", person(nid, "1390000%04d" % i)), None,
                     T0 + i + 1))
    # not single-object framed: dead-lettered by the shenshan source
    msgs.append(("shenshan.person", b"bad-1", b"\x00\x01not avro at all", None, T0))
    # policy breaches (e2e.policy's records): an exit during the gradual
    # exit, a gradual exit of 3 months, a verification counting a pension
    hid, head = "H440305202100777", L.national_id("440305", "19850715", 332)
    today = datetime.date.today()
    early = today - datetime.timedelta(days=40)
    breaches = [
        ("enrolment", "E440305-0002", P.enrolment("E440305-0002", hid, "EXITED",
                                                  ge=(early, P.six_months_last_day(early)),
                                                  end=today - datetime.timedelta(days=1))),
        ("enrolment", "E440305-0003", P.enrolment("E440305-0003", hid, "GRADUAL_EXIT",
                                                  ge=(early, early + datetime.timedelta(days=90)))),
        ("verification", "HD2026-440305-0001", P.verification("HD2026-440305-0001", hid, head)),
    ]
    for ent, key, rec in breaches:
        msgs.append(("province." + ent, key.encode(), schemas.single_object(ent, rec), None, None))
    L.produce_all(prod, msgs)


def plant_unknown(port, schemas, prod):
    """A province person sent while the province source is paused: the store
    lacks it, a sweep finds it (unknown_to_store). Returns its key."""
    st, doc, _ = request(port, "/api/v1/connectors/province-source/pause", TOKENS["operator"],
                         method="POST", body={"reason": "dashboard test: a sweep difference"})
    if st != 200:
        L.fail("pausing province-source: %s %s" % (st, doc))
    nid = L.national_id("440305", "19680314", PEOPLE + 1)
    L.produce_all(prod, [("province.person", nid.encode(),
                          schemas.single_object("person", person(nid, "13800009999")), None, None)])
    return nid


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--out", required=True, help="directory for the screenshots")
    args = ap.parse_args()
    L.set_name("browser.dashboard")
    pg = os.environ.get("CPSYNC_TEST_PG")
    if not pg:
        L.fail("CPSYNC_TEST_PG is not set (deploy/test.sh exports it)")
    if not os.path.exists(os.path.join(HERE, "node_modules", "playwright-core")):
        L.fail("tests/browser/node_modules is missing (the browser.npm test installs it)")
    schema_dir = os.path.join(os.path.abspath(args.source), "schemas")
    os.makedirs(args.out, exist_ok=True)
    db = L.Database(pg, "dash")
    work = L.tmpdir("dash")
    cps = None
    try:
        cfg = os.path.join(work, "dashboard.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(pid=os.getpid(), schemas=schema_dir, conninfo=db.conninfo,
                                  **TOKENS))
            f.write(P.policy_section(args.source))
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        try:
            run(args, schema_dir, db, cps)
        except SystemExit:
            print(cps.tail(), file=sys.stderr)
            raise
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        if cps:
            cps.kill()
        db.drop()
    L.info("OK")


def run(args, schema_dir, db, cps):
    port = cps.port

    def status():  # /status needs a token (any role)
        st, doc, _ = request(port, "/status", TOKENS["viewer"])
        return doc if st == 200 else None
    sources = ("province-source", "city-source", "shenshan-source")
    def sources_running():
        st = status() or {}
        states = {l["name"]: l["state"] for l in st.get("links", [])}
        return all(states.get(s) == "RUNNING" for s in sources)
    L.wait_for("sources RUNNING", sources_running)
    bootstrap = status()["kafka"]["bootstrap"]
    schemas, prod = L.Schemas(args.cpsync, schema_dir), L.producer(bootstrap)
    seed(schemas, prod)
    L.wait_for("%d open conflicts" % PEOPLE, lambda: db.query(
        "SELECT count(*) FROM cpsync.conflicts WHERE status = 'open'")[0][0] >= PEOPLE)
    L.wait_for("a dead letter", lambda: db.query(
        "SELECT count(*) FROM cpsync.dead_letters")[0][0] >= 1)
    L.wait_for("3 open findings", lambda: db.query(
        "SELECT count(DISTINCT check_code) FROM cpsync.policy_findings")[0][0] >= 3)
    unknown = plant_unknown(port, schemas, prod)
    links = [l["name"] for l in status()["links"]]
    L.info("seeded; links %s" % ", ".join(links))

    if os.environ.get("CPS_DASHBOARD_HOLD"):  # manual look: keep it running
        L.info("holding: http://127.0.0.1:%d/ (remove %s to stop)" % (port, os.environ["CPS_DASHBOARD_HOLD"]))
        while os.path.exists(os.environ["CPS_DASHBOARD_HOLD"]):
            time.sleep(1)
    env = dict(os.environ)
    env.update({"CPS_URL": "http://127.0.0.1:%d/" % port,
                "CPS_STEWARD_TOKEN": TOKENS["steward"],
                "CPS_OPERATOR_TOKEN": TOKENS["operator"],
                "CPS_VIEWER_TOKEN": TOKENS["viewer"],
                "CPS_LINKS": json.dumps(links),
                "CPS_UNKNOWN_KEY": unknown,
                "CPS_OUT": os.path.abspath(args.out)})
    proc = subprocess.run(["node", os.path.join(HERE, "dashboard.test.js")], env=env,
                          stdout=subprocess.PIPE, timeout=240)
    out = proc.stdout.decode(errors="replace")
    sys.stdout.write(out)
    if proc.returncode != 0:
        L.fail("dashboard.test.js exited with %d" % proc.returncode)
    result = None
    for line in out.splitlines():
        if line.startswith("RESULT "):
            result = json.loads(line[len("RESULT "):])
    if not result:
        L.fail("dashboard.test.js printed no RESULT line")

    # what the page did, seen from the store
    rows = db.query("SELECT status, entity, key, field FROM cpsync.conflicts WHERE id = %s",
                    (result["conflict_id"],))
    if not rows or rows[0][0] != "resolved":
        L.fail("conflict %s in the store: %s" % (result["conflict_id"], rows))
    audit = db.query("SELECT actor, reason FROM cpsync.audit WHERE action = 'conflict.resolved'")
    if ("li-steward", result["reason"]) not in [tuple(a) for a in audit]:
        L.fail("no audit row of the dashboard's resolution: %s" % audit)
    L.info("store agrees: conflict %s resolved by li-steward with the page's reason"
           % result["conflict_id"])
    rows = db.query("SELECT r.requested_by, d.platform, d.entity, d.key, d.kind "
                    "FROM cpsync.sweep_runs r JOIN cpsync.sweep_differences d ON d.run_id = r.id "
                    "WHERE r.id = %s", (result["sweep_id"],))
    if [tuple(r) for r in rows] != [("ops-oncall", "province", "person", unknown, "unknown_to_store")]:
        L.fail("sweep %s in the store: %s" % (result["sweep_id"], rows))
    L.info("store agrees: sweep %s run by ops-oncall found the planted province person"
           % result["sweep_id"])
    st, doc, _ = request(port, "/api/v1/connectors/province-source/resume", TOKENS["operator"],
                         method="POST", body={"reason": "dashboard test done"})
    if st != 200:
        L.fail("resuming province-source: %s %s" % (st, doc))


if __name__ == "__main__":
    main()
