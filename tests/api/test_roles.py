#!/usr/bin/env python3
"""api.roles: every route x every role x every field, against a running cpsync.

Runs `cpsync run` (embedded Kafka, a fresh database from CPSYNC_TEST_PG,
viewer/steward/operator tokens) fed as pii.scan feeds it: realistic persons
from three platforms that disagree (conflicts; Shenshan's as inbox files,
one named after a national ID), alerts about some of them
(an entity whose key a viewer may see, whose subject is a national ID it may
not), bad messages carrying real people's data (dead letters), a conflict a
steward resolves and a dead letter an operator discards (audit entries).

The routes come from docs/openapi.yaml, each operation's `x-cpsync-roles`
saying who may call it (`open`: no token needed): a route added there is
checked with no change here. Every operation is called without a token and
as each role:
- no token: 401, unless open;
- a role not listed: 403;
- a listed role: a GET with real parameter values answers 200 (records of an
  entity whose key is personal answer 403 to viewers and operators: the
  documented refusal that keeps who is registered secret); a write names an
  object that does not exist (id 999999999, link "no-such-link") or sends an
  empty body, so nothing changes, and must get past the role check (neither
  401 nor 403) without a 5xx.
Every answer to a viewer or an operator is then checked field by field: a
record's fields (record, provenance, platform values, history, conflicts)
and an audit entry's before/after hold only fields the schema declares
"cpsync.viewer": true, and no body holds an unmasked national ID, name or
phone that is in the store. The checks are shown to bite: the steward's
answer for the same person trips both.

usage: test_roles.py --cpsync BIN --source DIR   (run with /usr/bin/python3)
"""
import argparse
import json
import os
import signal
import subprocess
import sys
import time
import urllib.parse

import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "pii"))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import e2elib as L  # noqa: E402
import scan as S  # noqa: E402  (tests/pii/scan.py: the data and the PII scanner)

ROLES = ("viewer", "steward", "operator")
MISSING_ID = "999999999"
MISSING_LINK = "no-such-link"
ALERTS = 12
PEOPLE = 80
FAILS = []

# the province also sends alerts (its monitoring platform raises them)
PROVINCE_TOPICS = ("      topics: [province.person]\n"
                   "      topic: {province.person: {entity: person}}\n",
                   "      topics: [province.person, province.alert]\n"
                   "      topic: {province.person: {entity: person}, "
                   "province.alert: {entity: alert}}\n")


def check(ok, msg):
    if not ok:
        FAILS.append(msg)
    return ok


def allow_lists(source):
    """{entity: set of fields a viewer may see} from the schema catalog."""
    out = {}
    for e in ("person", "household", "enrolment", "verification", "alert"):
        with open(os.path.join(source, "schemas", e + ".avsc")) as f:
            doc = json.load(f)
        out[e] = {x["name"] for x in doc["fields"] if x.get("cpsync.viewer") is True}
    return out


def alert(i, subject):
    return {"alert_id": "ALERT-%04d" % i, "subject_type": "PERSON", "subject_id": subject,
            "category": "POVERTY_RISK", "trigger": "MEDICAL_EXPENSE",
            "source_department": "CIVIL_AFFAIRS", "region_code": "440305",
            "raised_at": 1_700_000_000_000 + i, "severity": "HIGH", "status": "OPEN",
            "handled_at": None}


def fields_outside(allow, entity, doc, where):
    """The places in a record answer or an audit entry where a field outside
    the entity's allow-list shows; [] when clean."""
    bad = []
    ok = allow.get(entity)
    if ok is None:
        return bad

    def keys(obj, place):
        if isinstance(obj, dict):
            bad.extend("%s: %s.%s" % (where, place, k) for k in obj if k not in ok)

    if "action" in doc:  # an audit entry
        for side in ("before", "after"):
            v = doc.get(side)
            if doc.get("field") and v is not None and doc["field"] not in ok:
                bad.append("%s: %s of hidden field %s" % (where, side, doc["field"]))
            elif not doc.get("field"):
                keys(v, side)
        return bad
    keys(doc.get("record"), "record")
    keys(doc.get("provenance"), "provenance")
    for p, v in (doc.get("platforms") or {}).items():
        keys(v.get("fields"), "platforms.%s.fields" % p)
    for c in doc.get("conflicts") or []:
        if c.get("field") not in ok:
            bad.append("%s: conflict on %s" % (where, c.get("field")))
    for i, h in enumerate(doc.get("history") or []):
        keys(h.get("record"), "history[%d].record" % i)
        keys(h.get("provenance"), "history[%d].provenance" % i)
        for f in h.get("changed_fields") or []:
            if f not in ok:
                bad.append("%s: history[%d] changed %s" % (where, i, f))
    return bad


def check_fields(allow, pii, place, body):
    """The field check of one answer to a viewer or operator."""
    text = body.decode("utf-8", "replace")
    before = len(S.FAILS)
    S.scan(place, text, pii, False)
    FAILS.extend("personal data in " + f for f in S.FAILS[before:])
    del S.FAILS[before:]
    try:
        doc = json.loads(text)
    except ValueError:
        return
    if isinstance(doc, dict) and "record" in doc and "entity" in doc:
        FAILS.extend(fields_outside(allow, doc["entity"], doc, place))
    if isinstance(doc, dict) and isinstance(doc.get("items"), list):
        for it in doc["items"]:
            if isinstance(it, dict) and "action" in it:
                FAILS.extend(fields_outside(allow, it.get("entity"), it, place))


class Values:
    """Real values for the path parameters of the documented routes."""

    def __init__(self, db):
        self.ids = {
            "conflicts": [str(r[0]) for r in db.query(
                "SELECT id FROM cpsync.conflicts ORDER BY id LIMIT 1")],
            "deadletters": [str(r[0]) for r in db.query(
                "SELECT id FROM cpsync.dead_letters ORDER BY id LIMIT 1")],
        }
        # a sweep run with differences on persons (personal keys: masked but for stewards)
        run = db.query("INSERT INTO cpsync.sweep_runs (trigger, state, finished_at, duration_ms) "
                       "VALUES ('api', 'done', now(), 1) RETURNING id")[0][0]
        db.execute("INSERT INTO cpsync.sweep_differences (run_id, platform, entity, key, kind) "
                   "SELECT %s, 'city', entity, key, 'missing_at_platform' FROM cpsync.records "
                   "WHERE entity = 'person' LIMIT 3", (run,))
        self.ids["sweeps"] = [str(run)]
        self.records = db.query(
            "SELECT DISTINCT ON (entity) entity, key FROM cpsync.records "
            "WHERE entity IN ('person', 'alert') ORDER BY entity, key")
        self.names = {"name": "province-source"}

    def urls(self, path, write):
        """The concrete URLs to call for `path`, or None (a parameter with no value)."""
        if write:
            out = path
            for p in ("id", "name", "entity", "key"):
                out = out.replace("{%s}" % p, MISSING_LINK if p == "name" else
                                  "person" if p == "entity" else MISSING_ID)
            return [out] if "{" not in out else None
        if "{entity}" in path:
            return [(e, path.replace("{entity}", e).replace(
                "{key}", urllib.parse.quote(k, safe=""))) for e, k in self.records]
        if path.startswith("/assets/"):
            return [path.replace("{name}", "app.js")]
        if "{id}" in path:
            coll = path.split("/")[3]
            if not self.ids.get(coll):
                return None
            path = path.replace("{id}", self.ids[coll][0])
        if "{name}" in path:
            path = path.replace("{name}", self.names["name"])
        return [path] if "{" not in path else None


def expected(allowed, role, entity):
    """The status a GET must answer, or None: any answer but 401/403/5xx."""
    if "open" in allowed:
        return 200
    if role is None:
        return 401
    if role not in allowed:
        return 403
    # a record of an entity whose key is personal: the same 403 for every key
    if entity is not None and entity != "alert" and role != "steward":
        return 403
    return 200


def call_all(port, source, db, allow, pii):
    with open(os.path.join(source, "docs", "openapi.yaml")) as f:
        doc = yaml.safe_load(f)
    values = Values(db)
    tokens = dict(S.TOKENS)
    n_ops = n_calls = n_checked = 0
    unmasked = set()
    for path, item in sorted(doc["paths"].items()):
        for method, op in sorted(item.items()):
            if method not in ("get", "put", "post", "delete", "patch"):
                continue
            n_ops += 1
            allowed = op.get("x-cpsync-roles")
            where = "%s %s" % (method.upper(), path)
            if not check(isinstance(allowed, list) and allowed and
                         set(allowed) <= set(ROLES) | {"open"},
                         "%s: no x-cpsync-roles list of %s or open in docs/openapi.yaml"
                         % (where, "/".join(ROLES))):
                continue
            write = method != "get"
            urls = values.urls(path, write)
            if not check(urls, "%s: no value for its path parameters" % where):
                continue
            for u in urls:
                entity, url = u if isinstance(u, tuple) else (None, u)
                for role in (None,) + ROLES:
                    st, body = S.request(port, url, tokens.get(role), method.upper(),
                                         {} if write else None)
                    n_calls += 1
                    who = role or "no token"
                    place = "%s %s as %s (HTTP %d)" % (method.upper(), url, who, st)
                    if write:
                        if role is None and "open" not in allowed:
                            check(st == 401, "%s: want 401" % place)
                        elif role is not None and role not in allowed and "open" not in allowed:
                            check(st == 403, "%s: want 403" % place)
                        else:
                            check(st not in (401, 403) and st < 500,
                                  "%s: want past the role check, no 5xx" % place)
                    else:
                        want = expected(allowed, role, entity)
                        check(st == want, "%s: want %d: %s" % (place, want, body[:200]))
                    if op.get("x-cpsync-unmasked"):
                        unmasked.add(where)
                    elif role in ("viewer", "operator") and st == 200:
                        check_fields(allow, pii, place, body)
                        n_checked += 1
    L.info("%d documented operations, %d calls, %d viewer/operator answers checked field "
           "by field" % (n_ops, n_calls, n_checked))
    check(n_ops >= 20 and n_checked >= 15, "too few operations or answers checked")
    # the one unmasked answer: the audited inspect of a dead letter's bytes
    check(unmasked == {"GET /api/v1/deadletters/{id}/raw"},
          "operations marked x-cpsync-unmasked: %s" % sorted(unmasked))
    return values


def extra_checks(port, db, allow, pii, values):
    """What the generic loop cannot say: an operator's audit and its look-up,
    the audited inspect, and that the checks can fail."""
    tokens = S.TOKENS
    person = next(k for e, k in values.records if e == "person")
    st, body = S.request(port, "/api/v1/audit?limit=500", tokens["operator"])
    check(st == 200, "audit as operator: %d" % st)
    items = json.loads(body)["items"] if st == 200 else []
    check(any(i["action"] == "conflict.resolved" for i in items),
          "the operator's audit holds the resolution (masked)")
    check_fields(allow, pii, "GET /api/v1/audit?limit=500 as operator", body)
    st, _ = S.request(port, "/api/v1/audit?entity=person&key=" + person, tokens["operator"])
    check(st == 403, "audit look-up by a national ID as operator: %d, want 403" % st)
    dl = values.ids["deadletters"][0]
    n = db.query("SELECT count(*) FROM cpsync.audit WHERE action = 'deadletter.inspected' "
                 "AND key = %s", (dl,))[0][0]
    st, body = S.request(port, "/api/v1/deadletters/%s/raw" % dl, tokens["operator"])
    check(st == 200 and json.loads(body).get("raw"), "inspect as operator: %d" % st)
    rows = db.query("SELECT actor FROM cpsync.audit WHERE action = 'deadletter.inspected' "
                    "AND key = %s", (dl,))
    check(len(rows) == n + 1 and rows[-1][0] == "operator",
          "the inspect is audited with its actor: %s" % rows)
    # the checks bite: the steward's unmasked person trips both
    st, body = S.request(port, "/api/v1/records/person/" + urllib.parse.quote(person, safe=""),
                         tokens["steward"])
    before = len(FAILS)
    check_fields(allow, pii, "self-check", body)
    hits = FAILS[before:]
    del FAILS[before:]
    if st != 200 or not any("personal data" in h for h in hits) or \
            not any("record." in h for h in hits):
        L.fail("the field checks do not see the steward's unmasked person (HTTP %d): %s"
               % (st, hits[:3]))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    L.set_name("api.roles")
    pg = os.environ.get("CPSYNC_TEST_PG")
    if not pg:
        L.fail("CPSYNC_TEST_PG is not set (deploy/test.sh exports it)")
    source = os.path.abspath(args.source)
    allow = allow_lists(source)
    db = L.Database(pg, "roles")
    work = L.tmpdir("roles")
    port = L.free_port()
    cfg = os.path.join(work, "roles.yaml")
    inbox, outbox = os.path.join(work, "shenshan", "inbox"), os.path.join(work, "shenshan",
                                                                          "outbox")
    os.makedirs(inbox, 0o700)
    os.makedirs(outbox, 0o700)
    with open(cfg, "w") as f:
        f.write(S.CONFIG_FILES.format(pid=os.getpid(), schemas=os.path.join(source, "schemas"),
                                conninfo=db.conninfo, inbox=inbox, outbox=outbox,
                                **S.TOKENS).replace(
            *PROVINCE_TOPICS))
        f.write(L.load_rules(source))
    err_path = os.path.join(work, "stderr.log")
    proc = None
    try:
        with open(err_path, "wb") as err:
            proc = subprocess.Popen([args.cpsync, "run", "-c", cfg, "--http",
                                     "127.0.0.1:%d" % port], stdout=err, stderr=err)

        def healthy():
            if proc.poll() is not None:
                with open(err_path, errors="replace") as f:
                    L.fail("cpsync run exited with %s\n%s" % (proc.returncode, f.read()[-4000:]))
            return L.http_get(port, "/healthz")[0] == 200
        L.wait_for("/healthz", healthy, 60)
        feed(args, source, db, port, inbox)
        pii = S.collect(db)
        subjects = {r[0] for r in db.query(
            "SELECT record->>'subject_id' FROM cpsync.records WHERE entity = 'alert'")}
        pii["id"] |= {s for s in subjects if s}
        L.info("collected %d national IDs, %d names, %d phones" % (
            len(pii["id"]), len(pii["name"]), len(pii["phone"])))
        values = call_all(port, source, db, allow, pii)
        extra_checks(port, db, allow, pii, values)
        proc.send_signal(signal.SIGTERM)
        proc.wait(timeout=30)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        db.drop()
    if FAILS:
        for f in FAILS[:60]:
            print("api.roles: FAIL: " + f, file=sys.stderr)
        L.fail("%d checks failed" % len(FAILS))
    L.info("OK")


def feed(args, source, db, port, inbox):
    st, body = S.request(port, "/status", S.TOKENS["viewer"])
    bootstrap = json.loads(body)["kafka"]["bootstrap"]
    schemas = L.Schemas(args.cpsync, os.path.join(source, "schemas"))
    L.wait_for("sources RUNNING", lambda: all(
        l["state"] == "RUNNING" for l in json.loads(S.request(port, "/status", S.TOKENS[
            "viewer"])[1])["links"] if l["name"].endswith("-source")), 60)
    prod = L.producer(bootstrap)
    S.PEOPLE = PEOPLE
    msgs = S.people(schemas)
    subjects = [m[1].decode() for m in msgs if m[0] == "province.person"][:ALERTS]
    # Shenshan's persons as an inbox file, one more named after a national ID
    msgs = S.shenshan_files(schemas, msgs, inbox, next(
        m[1].decode() for m in msgs if m[0] == "shenshan.person"))
    msgs += [("province.alert", ("ALERT-%04d" % i).encode(),
              schemas.single_object("alert", alert(i, s)), None, None)
             for i, s in enumerate(subjects)]
    L.produce_all(prod, msgs)
    L.wait_for("every person, the alerts and open conflicts in the store", lambda: db.query(
        "SELECT (SELECT count(*) FROM cpsync.records WHERE entity = 'person') >= %d AND "
        "(SELECT count(*) FROM cpsync.records WHERE entity = 'alert') >= %d AND "
        "(SELECT count(*) FROM cpsync.conflicts WHERE status IN ('open', 'claimed')) > 1"
        % (PEOPLE, ALERTS))[0][0], 120)
    n_before = db.query("SELECT count(*) FROM cpsync.dead_letters")[0][0]
    L.produce_all(prod, S.bad_messages(schemas, db))
    L.wait_for("4 new dead letters", lambda: db.query(
        "SELECT count(*) FROM cpsync.dead_letters")[0][0] >= n_before + 4, 60)
    dl = db.query("SELECT max(id) FROM cpsync.dead_letters")[0][0]
    st, _ = S.request(port, "/api/v1/deadletters/%d/discard" % dl, S.TOKENS["operator"], "POST",
                      {"reason": "not a person record"})
    check(st == 200, "discard as operator: %d" % st)
    cid = db.query("SELECT id FROM cpsync.conflicts WHERE status = 'open' ORDER BY id DESC "
                   "LIMIT 1")[0][0]
    st, _ = S.request(port, "/api/v1/conflicts/%d/resolve" % cid, S.TOKENS["steward"], "POST",
                      {"action": "take_platform", "platform": "city",
                       "reason": "checked with the family"})
    check(st == 200, "resolve as steward: %d" % st)
    time.sleep(1)


if __name__ == "__main__":
    main()
