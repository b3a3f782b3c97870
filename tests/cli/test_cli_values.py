#!/usr/bin/python3
"""cli.values: `cpsync records show` and `cpsync conflicts show` with Avro
decimals, against a stub of the HTTP API (no Kafka, no PostgreSQL).

A decimal is Avro JSON bytes, one character a byte: 0.00 is "\\u0000",
which the CLI's JSON parser refused ("the answer ... is not JSON (HTTP
200)", seen on the demo's enrolments, keyed "<national ID>:<programme>"),
and 1365.00 is "\\u0002\\u00154", which the CLI showed as "4". Checks that
the key's ':' is sent escaped, that the answers parse, that decimals show
with their schema's scale (the server's /assets/ENTITY.avsc, else the
binary's own copy), nested ones and negative ones too, and that --json
keeps the API's value as it is.

usage: test_cli_values.py --cli BIN --source DIR   (run with /usr/bin/python3)
"""
import argparse
import http.server
import json
import os
import subprocess
import sys
import threading

FAILS = []
KEY = "H441521202400489:DIBAO"


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("cli.values: FAIL: " + msg, file=sys.stderr)


def dec(units):
    """The Avro JSON string of a decimal's unscaled value (minimal two's complement)."""
    n = 1
    while not -(1 << (8 * n - 1)) <= units < (1 << (8 * n - 1)):
        n += 1
    return units.to_bytes(n, "big", signed=True).decode("latin-1")


def record():
    fields = {"enrolment_id": KEY, "programme": "DIBAO", "monthly_amount": dec(136500),
              "covered_members": 2, "start_date": {"int": 18737}}
    return {
        "entity": "enrolment", "key": KEY, "version": 2, "deleted": False, "masked": False,
        "updated_at": "2026-12-04T03:22:03+00:00", "record": fields,
        "provenance": {"monthly_amount": {"platform": "shenshan", "rule": "precedence",
                                          "pos": "shenshan:f.avro#11"}},
        "platforms": {"province": {"fields": {"monthly_amount": {"v": dec(0)},
                                              "programme": {"v": "DIBAO"}}},
                      "city": {"fields": {"monthly_amount": {"v": dec(-1250)}}}},
        "conflicts": [],
        "history": [{"version": 1, "op": "upsert", "committed_at": "2026-12-04T03:22:03+00:00",
                     "changed_fields": ["monthly_amount"],
                     "record": dict(fields, monthly_amount=dec(0))}]}


def conflict():
    return {
        "id": 7, "status": "open", "entity": "household", "key": "H440306202400198",
        "field": "per_capita_monthly_income", "rule": "precedence",
        "opened_at": "2026-12-04T03:25:10+00:00", "age_s": 4, "claimed_by": None,
        "current": {"value": dec(309607), "provenance": {"platform": "city"},
                    "record_version": 7},
        "candidates": [
            {"platform": "city", "value": dec(309607), "effective_ms": 1, "source_ms": 1,
             "position": "city:8/587E6A8#1"},
            {"platform": "province", "value": dec(0), "effective_ms": 2, "source_ms": 2,
             "position": "province:province.household/0@33"}]}


def verification():
    """A record whose decimals sit in an array of records (items[].amount)."""
    return {"entity": "verification", "key": "V1", "version": 1, "deleted": False,
            "masked": False, "updated_at": "x", "provenance": {}, "platforms": {},
            "conflicts": [], "history": [],
            "record": {"items": [{"kind": "WAGE", "amount": dec(250000),
                                         "counted": True}]}}


class Stub(http.server.BaseHTTPRequestHandler):
    schemas = None
    serve_assets = True
    paths = []
    bodies = []

    def log_message(self, *a):
        pass

    def reply(self, status, body, ctype="application/json"):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        Stub.bodies.append(json.loads(body))
        self.reply(200, json.dumps({"conflict": {"status": "resolved"},
                                    "record_version": 8}).encode())

    def do_GET(self):
        Stub.paths.append(self.path)
        p = self.path.split("?")[0]
        answers = {"/api/v1/records/enrolment/H441521202400489%3ADIBAO": record(),
                   "/api/v1/conflicts/7": conflict(),
                   "/api/v1/records/verification/V1": verification()}
        if p in answers:
            # json.dumps writes "\u0000" for the zero byte, as jansson does
            self.reply(200, json.dumps(answers[p]).encode())
        elif p.startswith("/assets/") and p.endswith(".avsc") and Stub.serve_assets:
            with open(os.path.join(Stub.schemas, p[len("/assets/"):]), "rb") as f:
                self.reply(200, f.read())
        else:
            self.reply(404, b'{"error": {"message": "not found"}}')


def row(out, name):
    """The words of the first line of `out` that starts with `name`."""
    for line in out.splitlines():
        words = line.split()
        if words and words[0] == name:
            return words
    return []


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cli", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    Stub.schemas = os.path.join(os.path.abspath(args.source), "schemas")
    srv = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Stub)
    threading.Thread(target=srv.serve_forever, daemon=True).start()
    env = dict(os.environ, CPSYNC_URL="http://127.0.0.1:%d" % srv.server_address[1],
               CPSYNC_TOKEN="t")

    def cli(*a):
        r = subprocess.run([args.cli] + list(a), env=env, stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=60)
        return r.returncode, r.stdout.decode("utf-8", "replace"), r.stderr.decode(
            "utf-8", "replace")

    try:
        rc, out, err = cli("records", "show", "enrolment", KEY)
        check(rc == 0 and "not JSON" not in err, "records show: %d %r" % (rc, err))
        check("/api/v1/records/enrolment/H441521202400489%3ADIBAO" in Stub.paths,
              "the key's ':' is not sent as %%3A: %r" % Stub.paths)
        check(row(out, "monthly_amount")[1:3] == ["1365.00", "shenshan"],
              "monthly_amount of the record: %r" % row(out, "monthly_amount"))
        check("/assets/enrolment.avsc" in Stub.paths, "the schema was not asked for")
        seen = out.split("last seen from ")
        prov = [s for s in seen if s.startswith("province:")]
        city = [s for s in seen if s.startswith("city:")]
        check(prov and row(prov[0], "monthly_amount")[1:] == ["0.00"],
              "monthly_amount last seen from the province: %r" % out)
        check(city and row(city[0], "monthly_amount")[1:] == ["-12.50"],
              "monthly_amount last seen from the city: %r" % out)
        check(row(out, "covered_members")[1:2] == ["2"] and row(out, "programme")[1:2] == [
            "DIBAO"], "other fields: %r" % out)

        rc, out, err = cli("records", "show", "enrolment", KEY, "--json")
        doc = json.loads(out) if rc == 0 else {}
        check(doc.get("record", {}).get("monthly_amount") == dec(136500) and
              doc["history"][0]["record"]["monthly_amount"] == "\x00",
              "records show --json does not keep the API's values: %d %r" % (rc, out[:300]))

        rc, out, err = cli("conflicts", "show", "7")
        check(rc == 0 and row(out, "current")[1:] == ["3096.07"] and
              row(out, "city")[1:2] == ["3096.07"] and row(out, "province")[1:2] == ["0.00"],
              "conflicts show: %d %r %r" % (rc, out, err))

        # a steward's value holding a zero byte (2.56) goes out as given
        rc, out, err = cli("conflicts", "resolve", "7", "--value", '"\\u0001\\u0000"',
                           "--reason", "checked")
        check(rc == 0 and Stub.bodies and Stub.bodies[-1].get("value") == dec(256),
              "resolve --value with a zero byte: %d %r %r" % (rc, err, Stub.bodies))

        # a server without the schema asset: the binary's own copy; a
        # decimal inside an array of records
        Stub.serve_assets = False
        rc, out, err = cli("records", "show", "verification", "V1")
        items = row(out, "items")
        check(rc == 0 and len(items) >= 2 and '"amount":"2500.00"' in items[1],
              "records show of a nested decimal: %d %r %r" % (rc, out, err))
    finally:
        srv.shutdown()
    if FAILS:
        print("cli.values: %d checks failed" % len(FAILS), file=sys.stderr)
        sys.exit(1)
    print("cli.values: OK")


if __name__ == "__main__":
    main()
