#!/usr/bin/env python3
"""api.steward: the steward API (/api/v1 conflicts, records, audit) against a
running `cpsync run` (embedded Kafka, fresh database on CPSYNC_TEST_PG).

Seeds 130+ manual-field conflicts (person.phone: the province and the city
disagree), then checks: every endpoint x every role (401 without or with a
bad token, 403 with the wrong role, 200 with the right one), cursor
pagination over every conflict (no duplicate, no gap, stable while new
conflicts arrive), malformed/unknown/wrongly typed bodies and parameters
(400), 404, 405, 413, claim, a race of 20 resolves of one conflict (exactly
one 200), enter_value validation, dismiss, the unified event on Kafka with
the steward's decision in its provenance (conflict id, steward, reason, and
the taken platform's position and times, or none for an entered value),
alike in the API's views and the store, the audit trail (API and SQL) and
the viewer's masked record view.

usage: test_api.py --cpsync BIN --source DIR   (run with /usr/bin/python3)
"""
import argparse
import base64
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import e2elib as L  # noqa: E402

TOKENS = {"viewer": "viewer-token-0123456789abcdef",
          "steward": "steward-token-0123456789abcdef",
          "operator": "operator-token-0123456789abcdef"}
T0 = 1_700_000_000_000

CONFIG = """\
instance: api-{pid}
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
  max_body_bytes: 4096
  max_connections_per_ip: 32  # the race below opens 20 connections at once
  tokens:
    ana-viewer: {{token: "{viewer}", role: viewer}}
    li-steward: {{token: "{steward}", role: steward}}
    ops-oncall: {{token: "{operator}", role: operator}}
reconcile:
  workers: 2
  state_cache_mb: 24  # the state cache on (off by default): steward decisions make its copies stale
platforms:
  province:
    connector: kafka
    source:
      framing: single-object
      topics: [province.person]
      topic:
        province.person: {{entity: person}}
  city:
    connector: kafka
    source:
      framing: single-object
      topics: [city.person]
      topic:
        city.person: {{entity: person}}
rules:
  person:
    default:
      rule: precedence
      platforms: [province, city]
    fields:
      phone:
        rule: manual
"""

FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        L.fail(msg)


def request(port, method, path, token=None, body=None, raw=None, timeout=30):
    """(status, parsed JSON or None, raw bytes)."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            text = r.read()
            status = r.status
    except urllib.error.HTTPError as e:
        text = e.read()
        status = e.code
    try:
        doc = json.loads(text) if text else None
    except ValueError:
        doc = None
    return status, doc, text


def person(nid, phone):
    return {"national_id": nid, "name": "陈建国", "gender": "MALE", "birth_date": -658,
            "registration_region_code": "440305", "residence_region_code": "440305",
            "residence_address": "南山区桃源街道平山村12栋603", "has_residence_permit": False,
            "disabled": False, "disability_grade": None, "seriously_ill": False,
            "labour_capacity": "PARTIAL", "phone": phone, "household_id": None,
            "deceased": False}


def seed(schemas, prod, first, n):
    """n persons on which province and city disagree about the phone."""
    msgs, keys = [], []
    for i in range(first, first + n):
        nid = L.national_id("440305", "19680314", i)
        keys.append(nid)
        msgs.append(("province.person", nid.encode(),
                     schemas.single_object("person", person(nid, "1380000%04d" % i)), None,
                     T0 + i))
        msgs.append(("city.person", nid.encode(),
                     schemas.single_object("person", person(nid, "1390000%04d" % i)), None,
                     T0 + i + 1))
    L.produce_all(prod, msgs)
    return keys


def plain(v):
    """A nullable string as the API may show it ({"string": x} or x) as x."""
    return v["string"] if isinstance(v, dict) and "string" in v else v


def check_decision(what, prov, ev_prov, conflict, cand, reason):
    """A steward's decision, alike in the store's provenance (as the API shows
    it) and in the unified event's cpsync.FieldProvenance: the conflict it
    settled, who and why, and where the value came from: the taken
    candidate's platform, position and times, or (cand None: an entered
    value) no platform, no position and the decision time."""
    check(isinstance(prov, dict) and isinstance(prov.get("decided_at"), int),
          "%s: provenance without decided_at: %s" % (what, prov))
    if cand is not None:
        platform, pos = cand["platform"], cand["position"]
        eff, src = cand["effective_ms"], cand["source_ms"]
        check(pos and eff and src, "%s: candidate without position/times: %s" % (what, cand))
    else:
        platform, pos = None, None
        eff = src = prov.get("decided_at")
    want = {"rule": "steward", "conflict_id": conflict, "steward": "li-steward",
            "reason": reason, "platform": platform, "pos": pos, "eff": eff, "src": src}
    got = {k: prov.get(k) for k in want}
    check(got == want, "%s: stored provenance %s, want %s" % (what, got, want))
    if ev_prov is None:
        return
    want = {"rule": "steward", "conflict_id": conflict, "steward": "li-steward",
            "reason": reason, "platform": platform.upper() if platform else None,
            "source_position": pos, "effective_time": eff, "source_time": src,
            "decided_at": prov.get("decided_at")}
    got = {k: ev_prov.get(k) for k in want}
    check(got == want, "%s: unified provenance %s, want %s" % (what, got, want))


def unified_decision(bootstrap, schemas, key, field="phone"):
    """The first unified event of `key` whose `field` carries a decision of
    li-steward, and that field's FieldProvenance; None when none yet."""
    for (_t, _p, _o, k, value, _h) in L.consume_all(bootstrap, ["cpsync.unified.person"]):
        if k != key.encode():
            continue
        ev = schemas.decode_unified(value)
        for pv in ev["provenance"]:
            if pv["field"] == field and pv.get("steward") == "li-steward":
                return ev, pv
    return None


def stored_decision(db, key, version, field="phone"):
    """The field's provenance in cpsync.records and in the record_history row
    of `version` (the decision's), from SQL."""
    cur = db.query("SELECT cpsync.provenance_json(prov) -> %s FROM cpsync.records "
                   "WHERE entity = 'person' AND "
                   "key = %s", (field, key))
    hist = db.query("SELECT provenance -> %s FROM cpsync.record_history WHERE entity = "
                    "'person' AND key = %s AND version = %s", (field, key, version))
    return (cur[0][0] if cur else None), (hist[0][0] if hist else None)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    L.set_name("api.steward")
    pg = os.environ.get("CPSYNC_TEST_PG")
    if not pg:
        L.fail("CPSYNC_TEST_PG is not set (deploy/test.sh exports it)")
    schema_dir = os.path.join(os.path.abspath(args.source), "schemas")
    db = L.Database(pg, "api")
    work = L.tmpdir("api")
    cps = None
    try:
        cfg = os.path.join(work, "api.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(pid=os.getpid(), schemas=schema_dir, conninfo=db.conninfo,
                                  **TOKENS))
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
        log = cps.tail(10 ** 7)
        check("13800000" not in log and "13900000" not in log, "a phone number in the log")
        check("440305196803" not in log, "a national ID in the log")
        for t in TOKENS.values():
            check(t not in log, "a token in the log")
    finally:
        if cps:
            cps.kill()
        db.drop()
    L.info("OK")


def run(args, schema_dir, db, cps):
    port = cps.port
    st, doc, _ = request(port, "GET", "/status", TOKENS["operator"])
    check(st == 200, "/status answered %s" % st)
    bootstrap = doc["kafka"]["bootstrap"]
    schemas = L.Schemas(args.cpsync, schema_dir)
    L.wait_for("sources RUNNING", lambda: all(
        l["state"] == "RUNNING" for l in request(port, "GET", "/status", TOKENS["operator"])[1]
        ["links"] if l["name"] in ("province-source", "city-source")))
    prod = L.producer(bootstrap)
    keys = seed(schemas, prod, 1, 130)
    L.wait_for("130 open conflicts", lambda: db.query(
        "SELECT count(*) FROM cpsync.conflicts WHERE status = 'open'")[0][0] >= 130)
    cid, ckey = db.query("SELECT id, key FROM cpsync.conflicts WHERE key = %s",
                         (keys[0],))[0]
    L.info("seeded: %d conflicts" % db.query("SELECT count(*) FROM cpsync.conflicts")[0][0])

    # ---- access: every endpoint x every role
    routes = [
        ("GET", "/api/v1/conflicts", None, {"steward"}),
        ("GET", "/api/v1/conflicts/%d" % cid, None, {"steward"}),
        ("POST", "/api/v1/conflicts/%d/claim" % cid, {}, {"steward"}),
        # a viewer or operator may not look persons up: their key is a national ID
        ("GET", "/api/v1/records/person/%s" % ckey, None, {"steward"}),
        ("GET", "/api/v1/audit", None, {"steward", "operator"}),
    ]
    for method, path, body, allowed in routes:
        st, doc, _ = request(port, method, path, None, body)
        check(st == 401, "%s %s without a token: %s" % (method, path, st))
        st, doc, _ = request(port, method, path, "not-a-token-but-long-enough", body)
        check(st == 401, "%s %s with a bad token: %s" % (method, path, st))
        for role, tok in TOKENS.items():
            st, doc, _ = request(port, method, path, tok, body)
            want = 200 if role in allowed else 403
            check(st == want, "%s %s as %s: %s, want %s (%s)" % (method, path, role, st, want,
                                                                 doc))
    # resolve: 401/403 before anything is read (the steward's 200 is the race below)
    rpath = "/api/v1/conflicts/%d/resolve" % cid
    rbody = {"action": "take_platform", "platform": "city", "reason": "city is verified"}
    check(request(port, "POST", rpath, None, rbody)[0] == 401, "resolve without a token")
    check(request(port, "POST", rpath, "x" * 20, rbody)[0] == 401, "resolve with a bad token")
    for role in ("viewer", "operator"):
        check(request(port, "POST", rpath, TOKENS[role], rbody)[0] == 403,
              "resolve as %s" % role)
    check(request(port, "GET", "/healthz")[0] == 200, "/healthz is open")
    check(request(port, "GET", "/metrics")[0] == 200, "/metrics is open (http.open_routes)")

    # ---- conflict in full, claim
    st, c, _ = request(port, "GET", "/api/v1/conflicts/%d" % cid, TOKENS["steward"])
    check(st == 200 and c["entity"] == "person" and c["field"] == "phone"
          and c["key"] == ckey and c["rule"] == "manual", "conflict detail: %s" % c)
    cands = {x["platform"]: x for x in c["candidates"]}
    check(set(cands) == {"province", "city"}, "candidates: %s" % c["candidates"])
    check(cands["city"]["value"] in ("13900000001", {"string": "13900000001"}),
          "city candidate value: %s" % cands["city"])
    check(cands["city"]["position"] and cands["city"]["effective_ms"],
          "candidate provenance: %s" % cands["city"])
    check("provenance" in c["current"] and c["current"]["record_version"] >= 1,
          "current: %s" % c["current"])
    check(c["status"] == "claimed" and c["claimed_by"] == "li-steward",
          "claimed: %s %s" % (c["status"], c["claimed_by"]))

    # ---- pagination over every conflict, stable under concurrent inserts
    before = {r[0] for r in db.query("SELECT id FROM cpsync.conflicts")}
    inserter = threading.Thread(target=lambda: seed(schemas, L.producer(bootstrap), 200, 20))
    inserter.start()
    seen, cursor, pages = [], None, 0
    while True:
        q = "/api/v1/conflicts?limit=25" + ("&cursor=" + cursor if cursor else "")
        st, doc, _ = request(port, "GET", q, TOKENS["steward"])
        check(st == 200, "page %d: %s %s" % (pages, st, doc))
        seen += [x["id"] for x in doc["items"]]
        pages += 1
        cursor = doc["next_cursor"]
        time.sleep(0.05)
        if not cursor:
            break
    inserter.join()
    check(len(seen) == len(set(seen)), "duplicates across pages")
    check(before <= set(seen), "gap: %d conflicts never listed" % len(before - set(seen)))
    check(pages >= 6, "only %d pages" % pages)
    # ascending, filtered, after the inserts settled
    L.wait_for("150 conflicts", lambda: db.query("SELECT count(*) FROM cpsync.conflicts")[0][0]
               >= 150)
    allids = [r[0] for r in db.query("SELECT id FROM cpsync.conflicts WHERE entity = 'person' "
                                     "ORDER BY opened_at, id")]
    seen, cursor = [], None
    while True:
        q = "/api/v1/conflicts?order=asc&entity=person&field=phone&platform=city&limit=40"
        st, doc, _ = request(port, "GET", q + ("&cursor=" + cursor if cursor else ""),
                             TOKENS["steward"])
        check(st == 200, "asc page: %s" % st)
        seen += [x["id"] for x in doc["items"]]
        cursor = doc["next_cursor"]
        if not cursor:
            break
    check(seen == allids, "ascending listing differs from SQL (%d vs %d)" % (len(seen),
                                                                           len(allids)))
    st, doc, _ = request(port, "GET", "/api/v1/conflicts?status=claimed", TOKENS["steward"])
    check([x["id"] for x in doc["items"]] == [cid], "status=claimed filter: %s" % doc)
    st, doc, _ = request(port, "GET", "/api/v1/conflicts?platform=shenshan", TOKENS["steward"])
    check(st == 200 and doc["items"] == [], "platform filter")
    st, doc, _ = request(port, "GET", "/api/v1/conflicts?min_age_s=100000", TOKENS["steward"])
    check(st == 200 and doc["items"] == [], "min_age_s filter")

    # ---- bad requests
    S = TOKENS["steward"]
    for q in ("limit=0", "limit=501", "limit=x", "status=closed", "order=up", "min_age_s=-1",
              "min_age_s=315360000000", "min_age_s=99999999999999999999",
              "cursor=%%%", "cursor=" + base64.urlsafe_b64encode(b"nonsense").decode(),
              "entity=Person"):
        st, doc, _ = request(port, "GET", "/api/v1/conflicts?" + q, S)
        check(st == 400 and doc["error"]["status"] == 400 and doc["error"]["message"],
              "?%s: %s" % (q, st))
    for path in ("/api/v1/conflicts/abc", "/api/v1/conflicts/0", "/api/v1/conflicts/-3",
                 "/api/v1/conflicts/99999999999999999999", "/api/v1/conflicts/1x"):
        check(request(port, "GET", path, S)[0] == 400, "bad id %s" % path)
    st, doc, _ = request(port, "GET", "/api/v1/conflicts/999999999", S)
    check(st == 404, "unknown conflict: %s" % st)
    st, doc, _ = request(port, "POST", "/api/v1/conflicts/999999999/resolve", S, rbody)
    check(st == 404, "resolve unknown conflict: %s" % st)
    st, doc, _ = request(port, "GET", "/api/v1/records/person/440305000000000000", S)
    check(st == 404, "unknown record: %s" % st)
    st, doc, _ = request(port, "GET", "/api/v1/records/nosuch/1", S)
    check(st == 404, "unknown entity: %s" % st)
    bads = [
        (b"{not json", "malformed JSON"),
        (b"[1, 2]", "not an object"),
        (json.dumps({"action": "take_platform", "platform": "city", "reason": "x",
                     "extra": 1}).encode(), "unknown field"),
        (json.dumps({"action": 3, "reason": "x"}).encode(), "action not a string"),
        (json.dumps({"action": "toss", "reason": "x"}).encode(), "unknown action"),
        (json.dumps({"action": "dismiss"}).encode(), "no reason"),
        (json.dumps({"action": "dismiss", "reason": "  "}).encode(), "blank reason"),
        (json.dumps({"action": "dismiss", "reason": 5}).encode(), "reason not a string"),
        (json.dumps({"action": "take_platform", "reason": "x"}).encode(), "no platform"),
        (json.dumps({"action": "take_platform", "platform": 1, "reason": "x"}).encode(),
         "platform not a string"),
        (json.dumps({"action": "take_platform", "platform": "shenshan", "reason": "x"}).encode(),
         "platform not a candidate"),
        (json.dumps({"action": "enter_value", "reason": "x"}).encode(), "no value"),
        (json.dumps({"action": "enter_value", "value": 13912345678, "reason": "x"}).encode(),
         "value not of the field's schema"),
        (b"", "empty body"),
    ]
    for raw, what in bads:
        st, doc, text = request(port, "POST", rpath, S, raw=raw)
        check(st == 400 and doc and doc["error"]["message"], "%s: %s %s" % (what, st, text))
        check(b"13912345678" not in text and b"shenshan" not in text or what ==
              "platform not a candidate", "%s: the error echoes a value" % what)
    st, doc, _ = request(port, "POST", "/api/v1/conflicts/%d/claim" % cid, S,
                         raw=b'{"steward": "someone-else"}')
    check(st == 400, "claim for another steward: %s" % st)
    st, doc, _ = request(port, "POST", rpath, S, raw=b'{"reason": "' + b"x" * 5000 + b'"}')
    check(st == 413, "oversized body: %s" % st)
    check(request(port, "GET", "/api/v1/nosuch", S)[0] == 404, "unknown route")
    check(request(port, "DELETE", "/api/v1/conflicts", S)[0] == 405, "wrong method")
    check(request(port, "GET", rpath, S)[0] == 405, "GET on resolve")
    check(db.query("SELECT status FROM cpsync.conflicts WHERE id = %s", (cid,))[0][0] ==
          "claimed", "a refused request changed the conflict")

    # ---- a store that makes it wait: the request ends with 503 and a reason
    # (lock_timeout), the API stays up, the conflict is unchanged
    import psycopg2
    blocker = psycopg2.connect(db.conninfo)
    with blocker.cursor() as cur:
        cur.execute("SELECT id FROM cpsync.conflicts WHERE id = %s FOR UPDATE", (cid,))
    t0 = time.monotonic()
    st, doc, _ = request(port, "POST", rpath, S, rbody)
    waited = time.monotonic() - t0
    check(st == 503 and doc and "55P03" in doc["error"]["message"] and 4 <= waited <= 12,
          "resolve behind a held lock: %s after %.1f s: %s" % (st, waited, doc))
    check(request(port, "GET", "/healthz")[0] == 200, "healthz while a resolve waited")
    blocker.rollback()
    blocker.close()
    check(db.query("SELECT status FROM cpsync.conflicts WHERE id = %s", (cid,))[0][0] ==
          "claimed", "a timed-out resolve changed the conflict")

    # ---- the race: 20 resolves of one conflict, exactly one wins
    results = []
    lock = threading.Lock()
    go = threading.Event()

    def resolve_once(i):
        go.wait()
        st, doc, _ = request(port, "POST", rpath, S, dict(rbody, reason="city verified #%d" % i))
        with lock:
            results.append(st)
    threads = [threading.Thread(target=resolve_once, args=(i,)) for i in range(20)]
    for t in threads:
        t.start()
    go.set()
    for t in threads:
        t.join()
    check(sorted(results) == [200] + [409] * 19, "race results: %s" % sorted(results))
    st, c, _ = request(port, "GET", "/api/v1/conflicts/%d" % cid, S)
    check(c["status"] == "resolved" and c["resolution"]["action"] == "take_platform"
          and c["resolution"]["platform"] == "city" and c["resolution"]["by"] == "li-steward"
          and c["resolution"]["reason"].startswith("city verified #")
          and c["resolution"]["at"], "resolution: %s" % c)
    reason = c["resolution"]["reason"]
    check(request(port, "POST", rpath, S, rbody)[0] == 409, "resolve after resolve")
    check(request(port, "POST", "/api/v1/conflicts/%d/claim" % cid, S)[0] == 409,
          "claim after resolve")

    # the record: steward view and viewer view
    st, rec, _ = request(port, "GET", "/api/v1/records/person/%s" % ckey, S)
    check(st == 200 and rec["record"]["phone"] in ("13900000001", {"string": "13900000001"}),
          "record after resolve: %s" % rec.get("record"))
    prov = rec["provenance"]["phone"]
    check(prov.get("rule") == "steward" and prov.get("steward") == "li-steward"
          and prov.get("reason") == reason, "record provenance: %s" % prov)
    check(rec["history"][0]["version"] == rec["version"] and rec["conflicts"] == []
          and set(rec["platforms"]) == {"province", "city"}, "history/conflicts/platforms")
    # a viewer gets the same answer for a registered national ID as for a
    # valid one nobody registered: it cannot test who is on the registry
    unknown = L.national_id("440305", "19680314", 999)
    check(db.query("SELECT count(*) FROM cpsync.records WHERE key = %s", (unknown,))[0][0] == 0,
          "the unknown national ID is registered")
    st, view, text = request(port, "GET", "/api/v1/records/person/%s" % ckey, TOKENS["viewer"])
    st2, _, text2 = request(port, "GET", "/api/v1/records/person/%s" % unknown,
                            TOKENS["viewer"])
    check(st == st2 == 403 and text == text2,
          "viewer, known vs unknown national ID: %s %s / %s %s" % (st, text, st2, text2))
    check(ckey.encode() not in text and b"1390000" not in text and b"1380000" not in text
          and "陈建国".encode() not in text and "平山村".encode() not in text,
          "viewer response holds personal data")
    # the operator sees records as a viewer does (issue 11): the same 403
    st3, _, text3 = request(port, "GET", "/api/v1/records/person/%s" % ckey, TOKENS["operator"])
    check(st3 == 403 and ckey.encode() not in text3, "operator masked: %s %s" % (st3, text3))

    # the audit trail: API and SQL
    st, doc, _ = request(port, "GET", "/api/v1/audit?entity=person&key=%s&actor=li-steward"
                         % ckey, S)
    acts = [a for a in doc["items"] if a["action"] == "conflict.resolved"]
    check(len(acts) == 1 and acts[0]["field"] == "phone" and acts[0]["reason"] == reason
          and acts[0]["after"]["value"] in ("13900000001", {"string": "13900000001"})
          and acts[0]["before"] is not None, "audit via API: %s" % doc["items"])
    check(any(a["action"] == "conflict.claimed" for a in doc["items"]), "claim audited")
    # the operator: no look-up by a national ID, and entries as a viewer sees
    # the record: the phone's values, the reason and the national ID masked
    st, _, _ = request(port, "GET", "/api/v1/audit?entity=person&key=%s" % ckey,
                       TOKENS["operator"])
    check(st == 403, "operator audit look-up by a national ID: %s" % st)
    st, doc, text = request(port, "GET", "/api/v1/audit?actor=li-steward&limit=500",
                            TOKENS["operator"])
    acts = [a for a in doc["items"] if a["action"] == "conflict.resolved"]
    check(st == 200 and acts and all(a["before"] is None and a["after"] is None and
                                     "reason" not in a and a["key"] != ckey for a in acts)
          and ckey.encode() not in text and b"13900000001" not in text,
          "operator's audit masked: %s" % acts[:2])
    rows = db.query("SELECT actor, reason FROM cpsync.audit WHERE action = "
                    "'conflict.resolved' AND entity = 'person' AND key = %s", (ckey,))
    check(rows == [("li-steward", reason)], "audit via SQL: %s" % rows)
    st, doc, _ = request(port, "GET", "/api/v1/audit?since=2000-01-01T00:00:00Z&until="
                         "2100-01-01T00:00:00%2B08:00&limit=2", S)
    check(st == 200 and len(doc["items"]) == 2 and doc["next_cursor"], "audit page: %s" % st)
    st2, doc2, _ = request(port, "GET", "/api/v1/audit?limit=2&cursor=" + doc["next_cursor"], S)
    check(st2 == 200 and not {a["id"] for a in doc["items"]} & {a["id"] for a in doc2["items"]}
          and doc2["items"][0]["id"] < doc["items"][-1]["id"], "audit cursor")
    check(request(port, "GET", "/api/v1/audit?since=yesterday", S)[0] == 400, "audit since")
    st, doc, _ = request(port, "GET", "/api/v1/audit?until=946684800000", S)
    check(st == 200 and doc["items"] == [], "audit until (epoch ms)")

    # the unified event carries the decision: the conflict, the city's
    # platform, position and times, the steward and the reason; the API's
    # views and the store say the same
    ev, pv = L.wait_for("the unified event of the resolution",
                        lambda: unified_decision(bootstrap, schemas, ckey), timeout=60)
    # (the first event carrying the decision is the resolution's version; a
    # platform event still in flight for this key may have added one more)
    check(ev["record"]["phone"] == "13900000001"
          and ev["version"] in [h["version"] for h in rec["history"]],
          "unified event: %s / %s (record history %s)"
          % (pv, ev["version"], [h["version"] for h in rec["history"]]))
    check_decision("take_platform city", prov, pv, cid, cands["city"], reason)
    check_decision("take_platform city, conflict view", c["current"]["provenance"], None, cid,
                   cands["city"], reason)
    stored, hist = stored_decision(db, ckey, ev["version"])
    check(stored == prov and hist == prov, "take_platform city: store %s, history %s, API %s"
          % (stored, hist, prov))

    # take the province's value, the older fact (the city's is newer): the
    # province's position and its own times, not the newest fact's
    c4, k4 = db.query("SELECT id, key FROM cpsync.conflicts WHERE key = %s", (keys[3],))[0]
    st, c4doc, _ = request(port, "GET", "/api/v1/conflicts/%d" % c4, S)
    cands4 = {x["platform"]: x for x in c4doc["candidates"]}
    check(cands4["province"]["effective_ms"] < cands4["city"]["effective_ms"],
          "the province's candidate is not the older one: %s" % c4doc["candidates"])
    st, doc, _ = request(port, "POST", "/api/v1/conflicts/%d/resolve" % c4, S,
                         {"action": "take_platform", "platform": "province",
                          "reason": "province record verified"})
    check(st == 200 and doc["conflict"]["status"] == "resolved", "take province: %s %s"
          % (st, doc))
    ev4, pv4 = L.wait_for("the unified event of the province's resolution",
                          lambda: unified_decision(bootstrap, schemas, k4), timeout=60)
    st, rec4, _ = request(port, "GET", "/api/v1/records/person/%s" % k4, S)
    check(plain(rec4["record"]["phone"]) == plain(cands4["province"]["value"])
          and ev4["record"]["phone"] == plain(cands4["province"]["value"]),
          "take province: the value is not the province's")
    check_decision("take_platform province", rec4["provenance"]["phone"], pv4, c4,
                   cands4["province"], "province record verified")
    check_decision("take_platform province, conflict view",
                   doc["conflict"]["current"]["provenance"], None, c4, cands4["province"],
                   "province record verified")
    stored, hist = stored_decision(db, k4, ev4["version"])
    check(stored == rec4["provenance"]["phone"] and hist == stored,
          "take_platform province: store %s, history %s, API %s"
          % (stored, hist, rec4["provenance"]["phone"]))

    # enter_value and dismiss on other conflicts
    c2, k2 = db.query("SELECT id, key FROM cpsync.conflicts WHERE key = %s", (keys[1],))[0]
    st, doc, _ = request(port, "POST", "/api/v1/conflicts/%d/resolve" % c2, S,
                         {"action": "enter_value", "value": {"string": "13700000000"},
                          "reason": "called the household"})
    check(st == 200 and doc["conflict"]["status"] == "resolved", "enter_value: %s %s" % (st, doc))
    st, rec2, _ = request(port, "GET", "/api/v1/records/person/%s" % k2, S)
    check(rec2["record"]["phone"] in ("13700000000", {"string": "13700000000"})
          and rec2["provenance"]["phone"]["platform"] is None, "entered value: %s" % rec2)
    ev2, pv2 = L.wait_for("the unified event of the entered value",
                          lambda: unified_decision(bootstrap, schemas, k2), timeout=60)
    check(ev2["record"]["phone"] == "13700000000", "entered value: unified record %s"
          % ev2["record"]["phone"])
    check_decision("enter_value", rec2["provenance"]["phone"], pv2, c2, None,
                   "called the household")
    check_decision("enter_value, conflict view", doc["conflict"]["current"]["provenance"],
                   None, c2, None, "called the household")
    stored, hist = stored_decision(db, k2, ev2["version"])
    check(stored == rec2["provenance"]["phone"] and hist == stored,
          "enter_value: store %s, history %s" % (stored, hist))

    # dismiss: the value stays, and so does where it came from
    c3, k3 = db.query("SELECT id, key FROM cpsync.conflicts WHERE key = %s", (keys[2],))[0]
    st, c3doc, _ = request(port, "GET", "/api/v1/conflicts/%d" % c3, S)
    kept = plain(c3doc["current"]["value"])
    owner = [x for x in c3doc["candidates"] if plain(x["value"]) == kept]
    check(len(owner) == 1, "dismiss: the current value is no one candidate's: %s"
          % c3doc["candidates"])
    st, doc, _ = request(port, "POST", "/api/v1/conflicts/%d/resolve" % c3, S,
                         {"action": "dismiss", "reason": "both numbers ring"})
    check(st == 200 and doc["conflict"]["status"] == "dismissed", "dismiss: %s" % st)
    ev3, pv3 = L.wait_for("the unified event of the dismissal",
                          lambda: unified_decision(bootstrap, schemas, k3), timeout=60)
    st, rec3, _ = request(port, "GET", "/api/v1/records/person/%s" % k3, S)
    check(plain(rec3["record"]["phone"]) == kept and ev3["record"]["phone"] == kept,
          "dismiss changed the value")
    check_decision("dismiss", rec3["provenance"]["phone"], pv3, c3, owner[0] if owner else None,
                   "both numbers ring")

    # a later platform change still goes through the records the steward changed
    L.produce_all(prod, [("province.person", ckey.encode(),
                          schemas.single_object("person", dict(person(ckey, "13800000001"),
                                                               labour_capacity="FULL")),
                          None, T0 + 10 ** 6)])
    L.wait_for("the worker's change after the decision", lambda: db.query(
        "SELECT record->>'labour_capacity' FROM cpsync.records WHERE key = %s",
        (ckey,))[0][0] == "FULL")
    v = db.query("SELECT version FROM cpsync.records WHERE key = %s", (ckey,))[0][0]
    check(v > rec["version"], "the worker's version follows the steward's")


if __name__ == "__main__":
    main()
