#!/usr/bin/env python3
"""cli.api: the terminal commands over the HTTP API (sync/cli/cli_api.c) against
a running `cpsync run` (embedded Kafka, fresh database on CPSYNC_TEST_PG,
viewer/steward/operator tokens).

Seeds 30 persons on which the province and the city disagree about the name
(manual: conflicts) and one bad message (a dead letter), then runs status,
conflicts list/show/resolve, records show, dlq list/show/replay/discard and
connectors list/pause/resume in human and --json form, checking output,
exit codes (0, 1 on HTTP errors with the API's message, 2 on usage), the
401/403 hints, cursor following and that the store changed.

usage: test_cli.py --cpsync BIN --cli BIN --source DIR   (run with /usr/bin/python3)
"""
import argparse
import json
import os
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
sys.path.insert(0, os.path.join(HERE, "..", "pii"))
import e2elib as L  # noqa: E402
import scan as P  # noqa: E402  (config, persons, tokens)

N = 30
FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("cli.api: FAIL: " + msg, file=sys.stderr)


class Cli:
    def __init__(self, binary, port):
        self.binary, self.url = binary, "http://127.0.0.1:%d" % port

    def __call__(self, role, *args, url=None):
        env = dict(os.environ, CPSYNC_URL=url or self.url)
        env.pop("CPSYNC_TOKEN", None)
        if role:
            env["CPSYNC_TOKEN"] = P.TOKENS[role]
        r = subprocess.run([self.binary] + list(args), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode(
            "utf-8", "replace")

    def json(self, role, *args):
        rc, out, err = self(role, *args, "--json")
        if rc not in (0, 1) or not out.strip():
            L.fail("%s --json: exit %d, stderr %s" % (" ".join(args[:2]), rc, err.strip()))
        return rc, json.loads(out)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--cli", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    L.set_name("cli.api")
    pg = os.environ.get("CPSYNC_TEST_PG")
    if not pg:
        L.fail("CPSYNC_TEST_PG is not set (deploy/test.sh exports it)")
    source = os.path.abspath(args.source)
    db = L.Database(pg, "cli")
    work = L.tmpdir("cli")
    cps = None
    try:
        cfg = os.path.join(work, "cli.yaml")
        with open(cfg, "w") as f:
            f.write(P.CONFIG.format(pid=os.getpid(), schemas=os.path.join(source, "schemas"),
                                    conninfo=db.conninfo, **P.TOKENS))
            f.write(L.load_rules(source))
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        try:
            run(args, source, db, cps.port)
        except SystemExit:
            print(cps.tail(), file=sys.stderr)
            raise
        cps.stop()
    finally:
        if cps:
            cps.kill()
        db.drop()
    if FAILS:
        L.fail("%d checks failed" % len(FAILS))
    L.info("OK")


def run(args, source, db, port):
    cli = Cli(args.cli, port)
    schemas = L.Schemas(args.cpsync, os.path.join(source, "schemas"))
    st, body = P.request(port, "/status", P.TOKENS["viewer"])
    bootstrap = json.loads(body)["kafka"]["bootstrap"]
    L.wait_for("sources RUNNING", lambda: all(
        l["state"] == "RUNNING" for l in json.loads(P.request(port, "/status", P.TOKENS[
            "viewer"])[1])["links"] if l["name"].endswith("-source")), 60)
    P.PEOPLE = N
    prod = L.producer(bootstrap)
    L.produce_all(prod, P.people(schemas))
    nconf = N // 5
    L.wait_for("%d open conflicts" % nconf, lambda: db.query(
        "SELECT count(*) FROM cpsync.conflicts WHERE status = 'open'")[0][0] >= nconf)
    L.produce_all(prod, [("province.person", b"k", b"\xc3\x01not avro at all", None, None)])
    L.wait_for("a dead letter", lambda: db.query("SELECT count(*) FROM cpsync.dead_letters")[0][0])

    # status: tables, --json, exit codes, the 401 hint
    L.wait_for("ready", lambda: cli("viewer", "status")[0] == 0, 60)
    rc, out, err = cli("viewer", "status")
    check(rc == 0 and "province-source" in out and "RUNNING" in out and "READY" in out and
          "LINK" in out.splitlines()[2], "status (human): %d %r" % (rc, out[:300]))
    rc, doc = cli.json("viewer", "status")
    check(rc == 0 and doc["ready"] is True and any(l["name"] == "city-source"
                                                   for l in doc["links"]),
          "status --json: %d" % rc)
    rc, out, err = cli(None, "status")
    check(rc == 1 and "HTTP 401" in err and "--token" in err and len(err.splitlines()) == 1,
          "status without a token: %d %r" % (rc, err))
    rc, out, err = cli("viewer", "status", url="http://127.0.0.1:1")
    check(rc == 1 and "cannot reach" in err, "status, nothing listening: %d %r" % (rc, err))
    rc, out, err = cli("viewer", "status", "extra")
    check(rc == 2, "status with an extra argument: %d" % rc)

    # conflicts: roles, cursor following, filters, show, resolve
    rc, out, err = cli("viewer", "conflicts", "list")
    check(rc == 1 and "HTTP 403" in err and "role" in err, "conflicts list as viewer: %r" % err)
    total = db.query("SELECT count(*) FROM cpsync.conflicts")[0][0]
    rc, doc = cli.json("steward", "conflicts", "list", "--limit", "2")
    check(rc == 0 and len(doc["items"]) == 2 and doc["more"] is True,
          "conflicts list --limit 2: %r" % doc)
    rc, doc = cli.json("steward", "conflicts", "list", "--all")
    ids = [c["id"] for c in doc["items"]]
    check(rc == 0 and len(ids) == total and len(set(ids)) == total and doc["more"] is False,
          "conflicts list --all: %d of %d" % (len(ids), total))
    rc, doc = cli.json("steward", "conflicts", "list", "--all", "--field", "phone")
    check(rc == 0 and doc["items"] == [], "conflicts list --field phone: %r" % doc)
    rc, out, err = cli("steward", "conflicts", "list", "--entity", "person", "--field", "name",
                       "--status", "open")
    lines = out.splitlines()
    check(rc == 0 and lines[0].split()[:3] == ["ID", "STATUS", "ENTITY"] and
          len(lines) == 1 + nconf and all(" open " in ln and " name " in ln
                                          for ln in lines[1:]),
          "conflicts list (human): %r" % out[:400])
    cid = ids[0]
    rc, out, err = cli("steward", "conflicts", "show", str(cid))
    check(rc == 0 and "conflict     %d" % cid in out and "PLATFORM" in out and
          "province" in out and "city" in out, "conflicts show (human): %r" % out[:500])
    rc, doc = cli.json("steward", "conflicts", "show", str(cid))
    check(rc == 0 and doc["id"] == cid and len(doc["candidates"]) >= 2,
          "conflicts show --json: %r" % doc)
    key = doc["key"]
    city_name = [c for c in doc["candidates"] if c["platform"] == "city"][0]["value"]
    rc, out, err = cli("steward", "conflicts", "resolve", str(cid), "--take", "city")
    check(rc == 2 and "--reason" in err, "resolve without --reason: %d %r" % (rc, err))
    rc, out, err = cli("steward", "conflicts", "resolve", str(cid), "--take", "city",
                       "--dismiss", "--reason", "x")
    check(rc == 2, "resolve with two decisions: %d" % rc)
    rc, out, err = cli("steward", "conflicts", "resolve", str(cid), "--take", "city",
                       "--reason", "the city checked the hukou register")
    check(rc == 0 and "conflict %d resolved" % cid in out, "resolve: %d %r %r" % (rc, out, err))
    check(db.query("SELECT status FROM cpsync.conflicts WHERE id = %s", (cid,))[0][0] ==
          "resolved", "the store does not hold the resolution")
    rc, out, err = cli("steward", "conflicts", "resolve", str(cid), "--dismiss", "--reason", "x")
    check(rc == 1 and "HTTP 409" in err, "second resolve: %d %r" % (rc, err))
    rc, out, err = cli("steward", "conflicts", "resolve", str(ids[1]), "--value", "{bad",
                       "--reason", "x")
    check(rc == 2 and "not JSON" in err, "--value not JSON: %d %r" % (rc, err))
    rc, out, err = cli("steward", "conflicts", "show", "999999")
    check(rc == 1 and "HTTP 404" in err, "show of a missing conflict: %d %r" % (rc, err))

    # records: a viewer cannot look a person up (the key is a national ID:
    # 403 for every key), the steward sees the resolved value
    rc, out, err = cli("viewer", "records", "show", "person", key)
    check(rc == 1 and "HTTP 403" in err and key not in out + err and
          (city_name if isinstance(city_name, str) else "") not in out + err,
          "records show as viewer: %d %r %r" % (rc, out[:200], err[:200]))
    rc, doc = cli.json("steward", "records", "show", "person", key, "--history", "5")
    check(rc == 0 and doc["masked"] is False and doc["record"]["name"] == city_name and
          len(doc["history"]) <= 5, "records show --json as steward: %r" % doc.get("record"))
    rc, out, err = cli("steward", "records", "show", "person", key)
    check(rc == 0 and "FIELD" in out and "history (newest first):" in out,
          "records show (human): %r" % out[:300])
    rc, out, err = cli("steward", "records", "show", "person", "no-such-key")
    check(rc == 1 and "HTTP 404" in err, "records show missing: %d %r" % (rc, err))

    # dead letters
    rc, doc = cli.json("operator", "dlq", "list", "--all")
    check(rc == 0 and len(doc["items"]) >= 1, "dlq list --json: %r" % doc)
    did = doc["items"][0]["id"]
    rc, out, err = cli("viewer", "dlq", "list", "--platform", "province")
    check(rc == 0 and out.startswith("ID") and "province" in out,
          "dlq list as viewer: %d %r" % (rc, out[:300]))
    rc, out, err = cli("viewer", "dlq", "show", str(did))
    check(rc == 1 and "HTTP 403" in err, "dlq show as viewer: %d %r" % (rc, err))
    rc, out, err = cli("operator", "dlq", "show", str(did))
    check(rc == 0 and "raw base64" not in out and "province" in out, "dlq show: %r" % out[:300])
    rc, out, err = cli("operator", "dlq", "show", str(did), "--raw")
    check(rc == 0 and "raw base64" in out and "province" in out,
          "dlq show --raw: %r" % out[:300])
    rc, out, err = cli("operator", "dlq", "replay", str(did), "999999")
    check(rc == 1 and "still_bad" in out and "not_found" in out,
          "dlq replay of a still-bad and a missing one: %d %r" % (rc, out))
    rc, out, err = cli("operator", "dlq", "discard", str(did))
    check(rc == 2, "dlq discard without --reason: %d" % rc)
    rc, out, err = cli("operator", "dlq", "discard", str(did), "--reason", "garbage")
    check(rc == 0 and "discarded" in out, "dlq discard: %d %r %r" % (rc, out, err))
    rc, doc = cli.json("operator", "dlq", "replay", str(did))
    check(rc == 0 and doc["skipped"] == 1, "dlq replay of a discarded one: %r" % doc)

    # connectors
    rc, out, err = cli("viewer", "connectors", "list")
    check(rc == 0 and out.startswith("NAME") and "province-source" in out,
          "connectors list: %d %r" % (rc, out[:300]))
    rc, out, err = cli("viewer", "connectors", "pause", "province-source")
    check(rc == 1 and "HTTP 403" in err, "pause as viewer: %d %r" % (rc, err))
    rc, out, err = cli("operator", "connectors", "pause", "province-source", "--reason", "t")
    check(rc == 0 and "PAUSED" in out, "pause: %d %r %r" % (rc, out, err))
    rc, doc = cli.json("operator", "connectors", "resume", "province-source")
    check(rc == 0 and doc["name"] == "province-source", "resume --json: %r" % doc)
    rc, out, err = cli("operator", "connectors", "restart", "no-such-link")
    check(rc == 1 and "HTTP 404" in err, "restart of an unknown link: %d %r" % (rc, err))
    rc, out, err = cli("operator", "connectors", "frobnicate", "x")
    check(rc == 2, "unknown subcommand: %d" % rc)


if __name__ == "__main__":
    main()
