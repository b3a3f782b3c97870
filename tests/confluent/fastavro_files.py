#!/usr/bin/env python3
"""confluent.fastavro_files: fastavro (PyPI), a second Avro implementation
independent of Avro C and of python3-avro, against cpsync's schemas and
cpsync's Shenshan outbox files.

1. Every .avsc under schemas/ (and schemas/*/) parses with
   fastavro.schema.parse_schema, the named types they share (cpsync.Person,
   cpsync.FieldProvenance, …) resolved by fastavro itself from the other
   files (the loading order is found, not given). For each, fastavro's
   Parsing Canonical Form equals `cpsync schema canonical`, its CRC-64-AVRO
   fingerprint equals `cpsync schema fingerprint` (fastavro gives the 8 bytes
   little-endian, as in a single-object header; cpsync prints the 64-bit
   value), and the self-contained text of `cpsync schema show` parses in
   fastavro on its own to the same canonical form.
2. A real cpsync (embedded Kafka, nothing else to start) with the city as a
   files platform and Shenshan's files sink: the city's inbox gets Avro
   container files written by fastavro.writer (persons and a household,
   dates and decimals as logical types, deflate); cpsync reads them with Avro
   C, reconciles, and writes Shenshan's outbox. Every outbox file reads with
   fastavro.reader: its writer schema is cpsync.Person / cpsync.Household
   (fingerprint as the manifest says), its codec as configured, its records
   exactly the city's with the fields Shenshan may not see (phone) null;
   each manifest's records, bytes, sha256, codec, entity and schema match
   the file. The inbox files end in done/ with receipts, none rejected.

Needs CPSYNC_TEST_PG (the store) and CPSYNC_TEST_PYENV (deploy/pyenv.sh);
deploy/test.sh exports both. Fails, never skips, when one is missing.

usage: fastavro_files.py --cpsync BIN --source SOURCE_DIR
"""
import os
import sys


def _fail_early(msg):
    print("confluent.fastavro_files: FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


# The tests' venv (fastavro; Debian's python3-avro and psycopg2 visible) runs
# this script, whoever started it. A venv's python is a symlink to the
# system's: compare prefixes, not executables.
_PYENV = os.environ.get("CPSYNC_TEST_PYENV")
if not _PYENV:
    _fail_early("CPSYNC_TEST_PYENV is not set (deploy/test.sh exports it; deploy/pyenv.sh makes it)")
if os.path.realpath(sys.prefix) != os.path.realpath(os.path.dirname(os.path.dirname(_PYENV))) \
        and os.environ.get("CPSYNC_CONFLUENT_REEXEC") != "1":
    if not os.access(_PYENV, os.X_OK):
        _fail_early("CPSYNC_TEST_PYENV=%s is not an executable python" % _PYENV)
    os.environ["CPSYNC_CONFLUENT_REEXEC"] = "1"
    os.execv(_PYENV, [_PYENV] + sys.argv)

import argparse  # noqa: E402
import datetime  # noqa: E402
import decimal  # noqa: E402
import glob  # noqa: E402
import hashlib  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2elib as L  # noqa: E402

import fastavro  # noqa: E402
import fastavro.schema  # noqa: E402

NAME = "confluent.fastavro_files"
CHECKS = [0]
PERSON_FIELDS = ["national_id", "name", "gender", "birth_date", "registration_region_code",
                 "residence_region_code", "residence_address", "has_residence_permit",
                 "disabled", "disability_grade", "seriously_ill", "labour_capacity", "phone",
                 "household_id", "deceased"]
HOUSEHOLD_FIELDS = ["household_id", "head_national_id", "members", "member_count",
                    "region_code", "household_type", "per_capita_monthly_income",
                    "monitoring_category", "monitoring_since"]
SHENSHAN_PERSON = [f for f in PERSON_FIELDS if f != "phone"]  # Shenshan may not see phones


def expect(cond, what):
    if not cond:
        L.fail(what)
    CHECKS[0] += 1


def cpsync_out(cpsync, *args):
    p = subprocess.run([cpsync] + list(args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                       text=True, timeout=60)
    if p.returncode != 0:
        L.fail("cpsync %s exited %d: %s" % (" ".join(args), p.returncode, p.stderr.strip()))
    return p.stdout


def le_hex(fp_hex):
    """cpsync's fingerprint (the 64-bit value in hex) as fastavro prints it
    (the 8 bytes little-endian, as in a single-object header)."""
    return int(fp_hex, 16).to_bytes(8, "little").hex()


# ---------------------------------------------------------------- 1. schemas

def first_use_only(s, seen):
    """fastavro's expand=True writes a named type out at every use (its docs:
    output only, not the Avro specification); the specification defines it
    once, where first used, and names it after. A unified event uses
    cpsync.Platform twice (in FieldProvenance and prior_platforms)."""
    if isinstance(s, list):
        return [first_use_only(x, seen) for x in s]
    if not isinstance(s, dict):
        return s
    if s.get("type") in ("record", "enum", "fixed") and "name" in s:
        if s["name"] in seen:
            return s["name"]
        seen.add(s["name"])
    return {k: first_use_only(v, seen) if k in ("type", "fields", "items", "values") else v
            for k, v in s.items()}


def check_schemas(cpsync, schemas_dir):
    files = sorted(glob.glob(os.path.join(schemas_dir, "*.avsc")))
    files += sorted(glob.glob(os.path.join(schemas_dir, "*", "*.avsc")))
    expect(len(files) >= 12, "the .avsc files under %s (%d)" % (schemas_dir, len(files)))
    # writers/ keeps older versions of current types (old data), each self-contained:
    # checked alone below, never among the named types the current files share
    writers = [f for f in files if os.path.basename(os.path.dirname(f)) == "writers"]
    files = [f for f in files if f not in writers]
    # fastavro resolves the named types: parse what can be parsed with the
    # types known so far, until every file parsed or no progress
    named, parsed, order, pending = {}, {}, [], list(files)
    last_error = {}
    while pending:
        progress = False
        for path in list(pending):
            with open(path, encoding="utf-8") as f:
                doc = json.load(f)
            known = dict(named)
            try:
                parsed[path] = fastavro.schema.parse_schema(doc, named_schemas=known)
            except fastavro.schema.UnknownType as e:
                last_error[path] = "unknown type %s" % e
                continue
            except Exception as e:  # noqa: BLE001 - any other refusal is a failure
                L.fail("fastavro refuses %s: %s: %s" % (path, type(e).__name__, e))
            named.update(known)
            order.append(path)
            pending.remove(path)
            progress = True
        if not progress:
            L.fail("fastavro cannot resolve the named types of %s" % "; ".join(
                "%s: %s" % (os.path.relpath(p, schemas_dir), last_error.get(p)) for p in pending))
    L.info("fastavro %s parsed %d schemas (in the order %s); named types: %d" % (
        fastavro.__version__, len(files), ", ".join(os.path.relpath(p, schemas_dir) for p in order),
        len(named)))

    for path in files + writers:
        rel = os.path.relpath(path, schemas_dir)
        with open(path, encoding="utf-8") as f:
            doc = json.load(f)
        # expanded: every named type written out once, where first used
        full = fastavro.schema.parse_schema(doc, named_schemas={} if path in writers else dict(named),
                                            expand=True)
        full = fastavro.schema.parse_schema(first_use_only(full, set()), named_schemas={})
        pcf = fastavro.schema.to_parsing_canonical_form(full)
        theirs_fp = fastavro.schema.fingerprint(pcf, "CRC-64-AVRO")
        ours = cpsync_out(cpsync, "schema", "canonical", path, "--schemas", schemas_dir).rstrip("\n")
        ours_fp = cpsync_out(cpsync, "schema", "fingerprint", path, "--schemas", schemas_dir).split()[0]
        expect(pcf == ours, "%s: fastavro's canonical form equals cpsync's\n  fastavro: %s\n"
               "  cpsync:   %s" % (rel, pcf, ours))
        expect(theirs_fp == le_hex(ours_fp), "%s: CRC-64-AVRO fastavro %s, cpsync %s" % (
            rel, theirs_fp, ours_fp))
        shown = cpsync_out(cpsync, "schema", "show", path, "--schemas", schemas_dir)
        try:
            alone = fastavro.schema.parse_schema(json.loads(shown), named_schemas={})
        except Exception as e:  # noqa: BLE001
            L.fail("%s: `cpsync schema show` is not self-contained for fastavro: %s: %s"
                   % (rel, type(e).__name__, e))
        expect(fastavro.schema.to_parsing_canonical_form(alone) == ours,
               "%s: `cpsync schema show` parses alone to the same canonical form" % rel)
        L.info("ok %s %s %s" % (ours_fp, theirs_fp, rel))
    return parsed


# ----------------------------------------------------------- 2. outbox files

def person(nid, name, birth, **kw):
    rec = {"national_id": nid, "name": name, "gender": "MALE", "birth_date": birth,
           "registration_region_code": "441521", "residence_region_code": "441521",
           "residence_address": "深汕特别合作区鹅埠镇上北村3号", "has_residence_permit": False,
           "disabled": False, "disability_grade": None, "seriously_ill": False,
           "labour_capacity": "PARTIAL", "phone": "13798765432", "household_id": None,
           "deceased": False}
    rec.update(kw)
    return rec


def write_config(path, *, tag, schemas, conninfo, work, source, codec):
    def allow(fields):
        return "\"%s\"" % ", ".join(fields)

    text = """\
instance: {tag}
log:
  level: info
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded:
    partitions: 2
  ingest_topic: cpsync.ingest
  unified_topic_prefix: cpsync.unified.
  dead_letter_topic: cpsync.deadletter
  group_id: {tag}-reconcile
store:
  conninfo: "{conninfo}"
  batch_size: 1000
  batch_ms: 50
http:
  listen: 127.0.0.1:0
  tokens:
    e2e: {{token: "{token}", role: viewer}}
reconcile:
  workers: 1
platforms:
  province:
    connector: kafka
    enabled: false
  city:
    connector: files
    source:
      inbox: {work}/city/inbox
      stable_ms: 200
  shenshan:
    connector: files
    sink:
      outbox: {work}/shenshan/outbox
      schema_dir: {schemas}
      roll_records: 1000
      roll_ms: 300
      codec: {codec}
      allow:
        person: {person}
        household: {household}
""".format(tag=tag, schemas=schemas, conninfo=conninfo, token=L.TOKEN, work=work, codec=codec,
           person=allow(SHENSHAN_PERSON), household=allow(HOUSEHOLD_FIELDS))
    text += L.load_rules(source)
    with open(path, "w") as f:
        f.write(text)


def drop_in(inbox, name, schema, records, codec):
    """An Avro container file written by fastavro, moved into the inbox whole."""
    tmp = os.path.join(inbox, ".%s.tmp" % name)
    with open(tmp, "wb") as f:
        fastavro.writer(f, schema, records, codec=codec)
    os.rename(tmp, os.path.join(inbox, name))


def manifests(outbox):
    out = []
    for path in sorted(glob.glob(os.path.join(outbox, "*.avro.manifest.json"))):
        with open(path) as f:
            out.append(json.load(f))
    return out


def check_outbox(cpsync, source, schemas_dir, parsed, pg):
    codec = "deflate"
    tag = "cfl-fa-%d" % os.getpid()
    work = L.tmpdir("fastavro")
    for d in ("city/inbox", "shenshan/outbox"):
        os.makedirs(os.path.join(work, d))
    db = L.Database(pg, "cfl_fastavro")
    cps = None
    try:
        cfg = os.path.join(work, "cpsync.yaml")
        write_config(cfg, tag=tag, schemas=schemas_dir, conninfo=db.conninfo, work=work,
                     source=source, codec=codec)
        cps = L.Cpsync(cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        p = [L.national_id("441521", "19580611", 135), L.national_id("441521", "19620227", 246),
             L.national_id("441521", "20090918", 357)]
        hid = "H441521202300042"
        people = [
            person(p[0], "黄志强", datetime.date(1958, 6, 11), household_id=hid,
                   disabled=True, disability_grade="GRADE_2", labour_capacity="NONE"),
            person(p[1], "黄丽娟", datetime.date(1962, 2, 27), gender="FEMALE", household_id=hid,
                   phone=None, residence_address=None),
            person(p[2], "黄小明", datetime.date(2009, 9, 18), household_id=hid,
                   labour_capacity="NONE", seriously_ill=True, phone="0660-1234567"),
        ]
        house = {"household_id": hid, "head_national_id": p[0],
                 "members": [{"national_id": p[0], "relation": "HEAD"},
                             {"national_id": p[1], "relation": "SPOUSE"},
                             {"national_id": p[2], "relation": "CHILD"}],
                 "member_count": 3, "region_code": "441521", "household_type": "RURAL",
                 "per_capita_monthly_income": decimal.Decimal("865.50"),
                 "monitoring_category": "DIBAO", "monitoring_since": datetime.date(2023, 4, 1)}
        inbox = os.path.join(work, "city/inbox")
        drop_in(inbox, "person-%s.avro" % tag, parsed["person"], people, codec)
        drop_in(inbox, "household-%s.avro" % tag, parsed["household"], [house], codec)
        t0 = time.monotonic()

        outbox = os.path.join(work, "shenshan/outbox")
        want = {"person": len(people), "household": 1}
        deadline = time.monotonic() + 90
        while True:
            got = {}
            for m in manifests(outbox):
                got[m["entity"]] = got.get(m["entity"], 0) + m["records"]
            if all(got.get(e, 0) >= n for e, n in want.items()):
                break
            dead = db.query("SELECT origin, reason FROM cpsync.dead_letters") \
                if cps.status() else []
            if dead:
                L.fail("dead letters for the city's files: %s\n%s" % (dead, cps.tail()))
            if not cps.alive() or time.monotonic() > deadline:
                L.fail("the outbox has %s after %d s, want %s; inbox: %s\n%s" % (
                    got, int(time.monotonic() - t0), want, sorted(os.listdir(inbox)),
                    cps.tail()))
            time.sleep(0.2)
        L.info("outbox complete %.1f s after the inbox files were dropped" % (time.monotonic() - t0))
        rc = cps.stop()
        expect(rc == 0, "cpsync exits 0 on SIGTERM (got %s)" % rc)

        done = sorted(os.listdir(os.path.join(inbox, "done")))
        expect(any(n.startswith("person-") and n.endswith(".avro") for n in done)
               and any(n.endswith(".receipt.json") for n in done),
               "the city's files are in done/ with receipts: %s" % done)
        expect(not os.path.isdir(os.path.join(inbox, "rejected"))
               or not os.listdir(os.path.join(inbox, "rejected")), "nothing rejected")

        # every outbox file, read by fastavro
        fp_of = {e: cpsync_out(cpsync, "schema", "fingerprint",
                               os.path.join(schemas_dir, "%s.avsc" % e), "--schemas",
                               schemas_dir).split()[0] for e in want}
        read = {}
        ms = manifests(outbox)
        files = sorted(n for n in os.listdir(outbox) if n.endswith(".avro"))
        expect(sorted(m["file"] for m in ms) == files,
               "one manifest per outbox file: %s" % files)
        expect(not [n for n in os.listdir(outbox) if n.endswith(".tmp")], "no .tmp left")
        for m in ms:
            path = os.path.join(outbox, m["file"])
            with open(path, "rb") as f:
                data = f.read()
            with open(path, "rb") as f:
                rd = fastavro.reader(f)
                recs = list(rd)
                ws = rd.writer_schema
                meta = rd.metadata
            ent = m["entity"]
            wpcf = fastavro.schema.to_parsing_canonical_form(
                fastavro.schema.parse_schema(ws, named_schemas={}, expand=True))
            expect(ws["name"] == "cpsync.%s" % ent.capitalize() and m["schema"] == ws["name"],
                   "%s: writer schema %s, manifest %s" % (m["file"], ws["name"], m["schema"]))
            expect(fastavro.schema.fingerprint(wpcf, "CRC-64-AVRO") == le_hex(m["schema_fingerprint"])
                   and m["schema_fingerprint"] == fp_of[ent],
                   "%s: writer schema fingerprint %s = the manifest's = schemas/%s.avsc's"
                   % (m["file"], m["schema_fingerprint"], ent))
            expect(meta.get("avro.codec") == codec and m["codec"] == codec,
                   "%s: codec %s (file %s, manifest %s)" % (m["file"], codec,
                                                            meta.get("avro.codec"), m["codec"]))
            expect(m["records"] == len(recs), "%s: manifest says %d records, fastavro reads %d"
                   % (m["file"], m["records"], len(recs)))
            expect(m["bytes"] == len(data) and m["sha256"] == hashlib.sha256(data).hexdigest(),
                   "%s: manifest bytes and sha256 are the file's" % m["file"])
            for r in recs:
                read.setdefault(ent, {})
                key = r["national_id"] if ent == "person" else r["household_id"]
                read[ent][key] = r  # the newest file wins (names sort by time)
        # the records: exactly the city's, phone null for Shenshan
        for rec in people:
            want_rec = dict(rec, phone=None)
            expect(read.get("person", {}).get(rec["national_id"]) == want_rec,
                   "person %s in the outbox as the city wrote it, phone null: %r"
                   % (rec["name"], read.get("person", {}).get(rec["national_id"])))
        expect(read.get("household", {}).get(hid) == house,
               "household %s in the outbox as the city wrote it (decimal 865.50, date "
               "2023-04-01): %r" % (hid, read.get("household", {}).get(hid)))
        expect(set(read.get("person", {})) == set(p) and set(read.get("household", {})) == {hid},
               "no other records in the outbox")
        L.info("%d outbox files (%s), %d records read by fastavro.reader" % (
            len(files), codec, sum(len(v) for v in read.values())))
        shutil.rmtree(work, ignore_errors=True)  # kept when a check failed
    finally:
        if cps:
            cps.kill()
        db.drop()


def main():
    L.set_name(NAME)
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    pg = os.environ.get("CPSYNC_TEST_PG")
    if not pg:
        L.fail("CPSYNC_TEST_PG is not set (deploy/test.sh exports it)")
    source = os.path.abspath(args.source)
    schemas_dir = os.path.join(source, "schemas")
    t0 = time.monotonic()
    parsed = check_schemas(args.cpsync, schemas_dir)
    by_entity = {os.path.basename(k)[:-5]: v for k, v in parsed.items()
                 if os.path.dirname(k) == schemas_dir}
    check_outbox(args.cpsync, source, schemas_dir, by_entity, pg)
    L.info("OK: %d checks in %.1f s" % (CHECKS[0], time.monotonic() - t0))


if __name__ == "__main__":
    main()
