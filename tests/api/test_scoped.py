#!/usr/bin/env python3
"""api.scoped: stewards and viewers confined to regions (http.tokens.*.regions)
and tokens given as their SHA-256 (http.tokens.*.token_sha256), against a
running `cpsync run` (embedded Kafka, fresh database on CPSYNC_TEST_PG).

Seeds phone conflicts (person.phone is `manual`) for Nanshan (440305),
Shenshan (441521) and one person registered in Nanshan who lives in
Shenshan, then checks: a steward scoped to 441521 gets 404 for a Nanshan
conflict (show, claim, resolve: nothing changes) and its record, the same
answer as for a conflict that does not exist; it sees, claims and resolves
Shenshan's; its conflict list, paged, holds exactly the conflicts SQL finds
in its regions (the mover included: ANY region field); its audit trail only
its regions' entries; a scoped viewer gets 403 for dead letters. The hashed
token works, the wrong token and the hash itself do not. check-config
accepts regions and hashes and refuses regions on an operator, both token
and token_sha256, and a malformed prefix.

usage: test_scoped.py --cpsync BIN --source DIR   (run with /usr/bin/python3)
"""
import argparse
import hashlib
import os
import subprocess
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import e2elib as L  # noqa: E402
from test_api import person, request  # noqa: E402

SHENSHAN_TOKEN = "shenshan-steward-0123456789abcdef"
TOKENS = {"steward": "li-steward-token-0123456789abcdef",
          "shenshan": SHENSHAN_TOKEN,
          "viewer": "nanshan-viewer-0123456789abcdef",
          "operator": "operator-token-0123456789abcdef"}
T0 = 1_700_000_000_000

CONFIG = """\
instance: scoped-{pid}
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
    li-steward: {{token: "{steward}", role: steward}}
    shenshan-steward:
      token_sha256: "{shenshan_sha}"
      role: steward
      regions: [441521]
    nanshan-viewer: {{token: "{viewer}", role: viewer, regions: [4403]}}
    ops-oncall: {{token: "{operator}", role: operator}}
reconcile:
  workers: 2
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


def seed(schemas, prod, first, n, registration, residence):
    """n persons in the given regions on whose phone province and city disagree."""
    msgs, keys = [], []
    for i in range(first, first + n):
        nid = L.national_id(registration, "19700101", i)
        keys.append(nid)
        rec = dict(person(nid, "1380000%04d" % i), registration_region_code=registration,
                   residence_region_code=residence)
        msgs.append(("province.person", nid.encode(), schemas.single_object("person", rec), None,
                     T0 + i))
        rec = dict(rec, phone="1390000%04d" % i)
        msgs.append(("city.person", nid.encode(), schemas.single_object("person", rec), None,
                     T0 + i + 1))
    L.produce_all(prod, msgs)
    return keys


def listed(port, token, query=""):
    """Every conflict id of the list, page by page (3 a page)."""
    ids, cursor = [], None
    while True:
        st, doc, _ = request(port, "GET", "/api/v1/conflicts?limit=3" + query +
                             ("&cursor=" + cursor if cursor else ""), token)
        check(st == 200, "conflict list page: %s %s" % (st, doc))
        check(len(doc["items"]) == 3 or not doc["next_cursor"],
              "a page that is not the last holds %d items" % len(doc["items"]))
        ids += [x["id"] for x in doc["items"]]
        cursor = doc["next_cursor"]
        if not cursor:
            return ids


def in_scope_sql(db, prefix, status=None):
    """Conflict ids whose record has a region field starting with prefix, by SQL."""
    return {r[0] for r in db.query(
        "SELECT c.id FROM cpsync.conflicts c JOIN cpsync.records r USING (entity, key) "
        "WHERE (r.record->>'registration_region_code' LIKE %s OR "
        "r.record->>'residence_region_code' LIKE %s) AND (%s::text IS NULL OR c.status = %s)",
        (prefix + "%", prefix + "%", status, status))}


def check_config(args, work, schema_dir):
    """check-config on the example and on refused token settings."""
    example = os.path.join(os.path.abspath(args.source), "deploy", "cpsync.example.yaml")
    r = subprocess.run([args.cpsync, "check-config", example], capture_output=True, text=True,
                       env=dict(os.environ, CPSYNC_PG="dbname=x"))
    check(r.returncode == 0, "check-config refused the example: %s" % r.stderr)
    sha = hashlib.sha256(SHENSHAN_TOKEN.encode()).hexdigest()
    cases = [
        ("regions on an operator", "{token: \"%s\", role: operator, regions: [441521]}"
         % TOKENS["operator"], "operators are never confined"),
        ("token and token_sha256", "{token: \"%s\", token_sha256: \"%s\", role: steward}"
         % (TOKENS["steward"], sha), "not both"),
        ("a short hash", "{token_sha256: \"abc123\", role: steward}", "64 hexadecimal"),
        ("a prefix that is no region code", "{token: \"%s\", role: steward, regions: [44x3]}"
         % TOKENS["steward"], "region-code prefix"),
        ("no token at all", "{role: steward, regions: [441521]}", "at least 16 characters"),
    ]
    for what, tok, want in [("accepted", "{token_sha256: \"%s\", role: viewer, regions: "
                             "[440305, 441521]}" % sha, None)] + cases:
        path = os.path.join(work, "check.yaml")
        with open(path, "w") as f:
            f.write("schemas: {dir: %s}\nstore: {conninfo: \"dbname=x\"}\n"
                    "http:\n  tokens:\n    t1: %s\n" % (schema_dir, tok))
        r = subprocess.run([args.cpsync, "check-config", path], capture_output=True, text=True)
        if want is None:
            check(r.returncode == 0, "check-config %s: %s" % (what, r.stderr))
        else:
            check(r.returncode == 1 and want in r.stderr,
                  "check-config %s: rc %d, %s" % (what, r.returncode, r.stderr.strip()))
        check(TOKENS["operator"] not in r.stderr and TOKENS["steward"] not in r.stderr,
              "check-config %s: a token in the message" % what)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    L.set_name("api.scoped")
    pg = os.environ.get("CPSYNC_TEST_PG")
    if not pg:
        L.fail("CPSYNC_TEST_PG is not set (deploy/test.sh exports it)")
    schema_dir = os.path.join(os.path.abspath(args.source), "schemas")
    work = L.tmpdir("scoped")
    check_config(args, work, schema_dir)
    db = L.Database(pg, "scoped")
    cps = None
    try:
        cfg = os.path.join(work, "scoped.yaml")
        with open(cfg, "w") as f:
            f.write(CONFIG.format(pid=os.getpid(), schemas=schema_dir, conninfo=db.conninfo,
                                  shenshan_sha=hashlib.sha256(SHENSHAN_TOKEN.encode())
                                  .hexdigest().upper(), **TOKENS))
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
        for t in TOKENS.values():
            check(t not in log, "a token in the log")
    finally:
        if cps:
            cps.kill()
        db.drop()
    if FAILS:
        L.fail("%d checks failed" % len(FAILS))
    L.info("OK")


def run(args, schema_dir, db, cps):
    port = cps.port
    S, SS = TOKENS["steward"], TOKENS["shenshan"]
    st, doc, _ = request(port, "GET", "/status", TOKENS["operator"])
    check(st == 200, "/status answered %s" % st)
    bootstrap = doc["kafka"]["bootstrap"]
    schemas = L.Schemas(args.cpsync, schema_dir)
    L.wait_for("sources RUNNING", lambda: all(
        l["state"] == "RUNNING" for l in request(port, "GET", "/status", TOKENS["operator"])[1]
        ["links"] if l["name"] in ("province-source", "city-source")))

    # ---- the hashed token (configured in upper case): it, and only it
    check(request(port, "GET", "/api/v1/conflicts", SS)[0] == 200, "the hashed token is refused")
    wrong = SS[:-1] + ("0" if SS[-1] != "0" else "1")
    check(request(port, "GET", "/api/v1/conflicts", wrong)[0] == 401, "a wrong token works")
    sha = hashlib.sha256(SS.encode()).hexdigest()
    for t in (sha, sha.upper()):
        check(request(port, "GET", "/api/v1/conflicts", t)[0] == 401, "the hash works as a token")

    prod = L.producer(bootstrap)
    nanshan = seed(schemas, prod, 1, 7, "440305", "440305")
    shenshan = seed(schemas, prod, 1, 5, "441521", "441521")
    mover = seed(schemas, prod, 50, 1, "440305", "441521")  # registered in Nanshan, lives in Shenshan
    L.wait_for("13 open conflicts", lambda: db.query(
        "SELECT count(*) FROM cpsync.conflicts WHERE status = 'open'")[0][0] >= 13)
    cid = {k: i for i, k in db.query("SELECT id, key FROM cpsync.conflicts")}
    n_id, s_id, m_id = cid[nanshan[0]], cid[shenshan[0]], cid[mover[0]]
    missing = max(cid.values()) + 1000

    # ---- the list and its counts: exactly the conflicts of the regions, pages full
    want = in_scope_sql(db, "441521")
    check(len(want) == 6 and m_id in want and n_id not in want,
          "the seed's Shenshan conflicts by SQL: %s" % sorted(want))
    got = listed(port, SS)
    check(len(got) == len(set(got)) and set(got) == want,
          "scoped list: %d listed %s, want %d %s" % (len(got), sorted(got), len(want),
                                                     sorted(want)))
    got = listed(port, SS, "&order=asc&status=open&entity=person&field=phone")
    check(set(got) == want, "scoped list, filtered: %s" % sorted(got))
    everything = listed(port, S)
    check(set(everything) == set(cid.values()), "the unscoped steward lists %d of %d"
          % (len(everything), len(cid)))

    # ---- out of scope: 404 like a conflict that does not exist; nothing changes
    rbody = {"action": "take_platform", "platform": "city", "reason": "city verified"}
    for method, path, body in (("GET", "/api/v1/conflicts/%d", None),
                               ("POST", "/api/v1/conflicts/%d/claim", {}),
                               ("POST", "/api/v1/conflicts/%d/resolve", rbody)):
        st, doc, text = request(port, method, path % n_id, SS, body)
        st2, doc2, _ = request(port, method, path % missing, SS, body)
        check(st == 404 and st2 == 404, "%s %s of a Nanshan conflict as Shenshan: %s (missing: %s)"
              % (method, path, st, st2))
        check(doc["error"]["message"].replace(str(n_id), "N") ==
              doc2["error"]["message"].replace(str(missing), "N"),
              "out of scope and missing differ: %s / %s" % (doc, doc2))
        check(nanshan[0].encode() not in text, "the 404 names the record")
    row = db.query("SELECT status, claimed_by FROM cpsync.conflicts WHERE id = %s", (n_id,))[0]
    check(row == ("open", None), "the refused claim or resolve changed the conflict: %s" % (row,))
    check(db.query("SELECT count(*) FROM cpsync.audit WHERE actor = 'shenshan-steward'")[0][0]
          == 0, "the refused claim or resolve was audited")
    st, _, _ = request(port, "GET", "/api/v1/records/person/%s" % nanshan[0], SS)
    check(st == 404, "a Nanshan record as Shenshan: %s" % st)

    # ---- in scope: show, claim, resolve, the record, the mover
    st, c, _ = request(port, "GET", "/api/v1/conflicts/%d" % s_id, SS)
    check(st == 200 and c["key"] == shenshan[0], "a Shenshan conflict as Shenshan: %s" % st)
    st, c, _ = request(port, "POST", "/api/v1/conflicts/%d/claim" % s_id, SS, {})
    check(st == 200 and c["claimed_by"] == "shenshan-steward", "claim as Shenshan: %s %s"
          % (st, c))
    st, doc, _ = request(port, "POST", "/api/v1/conflicts/%d/resolve" % s_id, SS, rbody)
    check(st == 200 and doc["conflict"]["status"] == "resolved", "resolve as Shenshan: %s %s"
          % (st, doc))
    st, doc, _ = request(port, "POST", "/api/v1/conflicts/%d/resolve" % m_id, SS,
                         {"action": "dismiss", "reason": "both numbers ring"})
    check(st == 200, "resolve the mover's conflict as Shenshan: %s %s" % (st, doc))
    st, rec, _ = request(port, "GET", "/api/v1/records/person/%s" % shenshan[0], SS)
    check(st == 200 and rec["version"] >= 1, "a Shenshan record as Shenshan: %s" % st)
    check(set(listed(port, SS, "&status=open")) == in_scope_sql(db, "441521", "open")
          and len(in_scope_sql(db, "441521", "open")) == 4, "open count after two resolves")

    # ---- the audit trail: the unscoped steward's Nanshan claim is not Shenshan's to see
    st, _, _ = request(port, "POST", "/api/v1/conflicts/%d/claim" % cid[nanshan[1]], S, {})
    check(st == 200, "claim of a Nanshan conflict by the unscoped steward: %s" % st)
    st, doc, _ = request(port, "GET", "/api/v1/audit?limit=500", SS)
    keys = {a["key"] for a in doc["items"]}
    check(st == 200 and keys and keys <= set(shenshan + mover), "scoped audit keys: %s" % keys)
    check({shenshan[0], mover[0]} <= keys, "scoped audit misses its own decisions: %s" % keys)
    st, doc, _ = request(port, "GET", "/api/v1/audit?limit=500", S)
    check(nanshan[1] in {a["key"] for a in doc["items"]}, "the unscoped audit misses the claim")

    # ---- a scoped viewer: no dead letters; an unscoped operator: all of them
    st, _, _ = request(port, "GET", "/api/v1/deadletters", TOKENS["viewer"])
    check(st == 403, "dead letters as a scoped viewer: %s" % st)
    st, _, _ = request(port, "GET", "/api/v1/deadletters", TOKENS["operator"])
    check(st == 200, "dead letters as the operator: %s" % st)


if __name__ == "__main__":
    main()
