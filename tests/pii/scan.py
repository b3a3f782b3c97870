#!/usr/bin/env python3
"""pii.scan: no national ID, name or phone number leaves cpsync unmasked
where it must not.

Runs `cpsync run` (embedded Kafka, a fresh database from CPSYNC_TEST_PG,
viewer/steward/operator tokens, deploy/rules.default.yaml) fed with 200
realistic persons from three platforms that disagree (names: conflicts for a
steward; phones: the latest wins): the province and the city over Kafka,
Shenshan as Avro container files in its inbox (the files connector, with
its outbox sink). One Shenshan file is named after a real person's national
ID (person_<ID>.avro) and holds a record with a bad ID, so its name reaches
the ledger, the receipt, the logs and the dead-letter list. It adds bad
messages that carry real people's data (an invalid national ID with a real
name and phone, a truncated record, JSON text, an unknown schema id) so they
are dead-lettered, replays and discards some as an operator and resolves a
conflict as a steward. Then collects every national ID, name and phone of the
store's records (cpsync.records: the unified record and each platform's
last-seen values) and scans: the process's whole stderr (and stdout), GET
/status (as viewer), GET /metrics, every GET operation of docs/openapi.yaml
plus the dashboard page as the viewer (403s are fine; a record must come back
masked), the dead-letter list as the operator, and every file cpsync wrote
that is not meant to carry personal data (the inbox's progress file, the
ledger, receipts, reasons, the outbox's manifests; not the Avro data files
themselves). Any hit fails with the place and the value masked. Logs,
/status, /metrics and those files are also scanned for any 18-digit string
shaped like a valid national ID; the planted ID must show masked in the
ledger, the receipt, the log and the dead-letter list.

With --demo it scans `cpsync demo` instead (the three platforms on their
real transports, the demo's own data and disagreements; a steward resolves a
conflict), with the same scan of its output and HTTP answers.

usage: scan.py --cpsync BIN --source DIR [--demo]   (run with /usr/bin/python3)
"""
import argparse
import io
import json
import os
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request

import avro.datafile
import avro.io
import yaml

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "e2e"))
import e2elib as L  # noqa: E402

TOKENS = {"viewer": "pii-viewer-token-0123456789",
          "steward": "pii-steward-token-0123456789",
          "operator": "pii-operator-token-0123456789"}
WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
CHECK = "10X98765432"
ID_SHAPE = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])"
                      r"(?:0[1-9]|[12][0-9]|3[01])[0-9]{3}[0-9X](?![0-9])")
FAILS = []
PEOPLE = 200

CONFIG = """\
instance: pii-{pid}
log: {{level: debug}}
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded: {{partitions: 2}}
  consumer: {{session.timeout.ms: 6000, heartbeat.interval.ms: 500}}
store:
  conninfo: "{conninfo}"
  batch_ms: 20
http:
  listen: 127.0.0.1:1
  tokens:
    viewer: {{token: "{viewer}", role: viewer}}
    steward: {{token: "{steward}", role: steward}}
    operator: {{token: "{operator}", role: operator}}
reconcile:
  workers: 2
platforms:
  province:
    connector: kafka
    source:
      framing: single-object
      topics: [province.person]
      topic: {{province.person: {{entity: person}}}}
  city:
    connector: kafka
    source:
      framing: confluent
      topics: [city.person]
      topic: {{city.person: {{entity: person}}}}
  shenshan:
    connector: kafka
    source:
      framing: single-object
      topics: [shenshan.person]
      topic: {{shenshan.person: {{entity: person}}}}
"""
# The same with Shenshan as the files connector: its inbox and outbox sink
# (pii.scan, api.roles); CONFIG keeps Shenshan on Kafka for cli.api.
CONFIG_FILES = CONFIG.replace('''  shenshan:
    connector: kafka
    source:
      framing: single-object
      topics: [shenshan.person]
      topic: {{shenshan.person: {{entity: person}}}}
''', '''  shenshan:
    connector: files
    source:
      inbox: {inbox}
      stable_ms: 300
      schema_dir: {schemas}
    sink:
      outbox: {outbox}
      schema_dir: {schemas}
      roll_records: 50
      roll_ms: 1000
      allow:
        person: "national_id, name, gender, birth_date, registration_region_code, residence_region_code, residence_address, has_residence_permit, disabled, disability_grade, seriously_ill, labour_capacity, phone, household_id, deceased"
''')

SURNAMES = "王李张刘陈杨黄赵吴周徐孙马朱胡郭何林罗高"
GIVEN = "建国秀英志强丽娟海燕文华明辉晓东雪梅春兰德胜玉珍伟红桂芳振华"


def valid_id(s):
    return sum(int(d) * w for d, w in zip(s[:17], WEIGHTS)) % 11 == CHECK.index(s[17])


def mask(kind, v):
    if kind == "id":
        return v[:6] + "*" * (len(v) - 7) + v[-1:]
    if kind == "phone":
        return v[:3] + "*" * (len(v) - 5) + v[-2:]
    return v[:1] + "*" * (len(v) - 1)


def request(port, path, token=None, method="GET", body=None, timeout=30):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data,
                                 method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.read()


def unwrap(v):
    """An Avro JSON union branch {"string": "x"} -> "x"."""
    if isinstance(v, dict) and len(v) == 1:
        return next(iter(v.values()))
    return v


def collect(db):
    """{'id': set, 'name': set, 'phone': set} from every record and every
    platform's last-seen values."""
    found = {"id": set(), "name": set(), "phone": set()}

    def take(field, value):
        value = unwrap(value)
        if isinstance(value, dict) and "v" in value:
            value = unwrap(value["v"])
        if not isinstance(value, str) or not value:
            return
        if field.endswith("national_id"):
            found["id"].add(value)
        elif field == "name":
            found["name"].add(value)
        elif field == "phone":
            found["phone"].add(value)

    for entity, key, record, platforms in db.query(
            "SELECT entity, key, record, COALESCE(cpsync.facts_json(facts), platforms) "
            "FROM cpsync.records"):
        if entity == "person":
            found["id"].add(key)
        for f, v in (record or {}).items():
            take(f, v)
        for p in (platforms or {}).values():
            for f, v in (p.get("fields") or {}).items():
                take(f, v)
    # a name shorter than two characters would match anything
    found["name"] = {n for n in found["name"] if len(n) >= 2}
    return found


def scan(place, text, pii, id_shapes):
    hits = 0
    for kind in ("id", "phone"):
        for v in pii[kind]:
            if re.search(r"(?<![0-9])" + re.escape(v) + r"(?![0-9])", text):
                FAILS.append("%s: %s %s" % (place, kind, mask(kind, v)))
                hits += 1
    for v in pii["name"]:
        if v in text:
            FAILS.append("%s: name %s" % (place, mask("name", v)))
            hits += 1
    if id_shapes:
        for m in ID_SHAPE.finditer(text):
            if valid_id(m.group(0)):
                FAILS.append("%s: an ID-shaped string %s" % (place, mask("id", m.group(0))))
                hits += 1
    return hits


def person(nid, name, phone):
    return {"national_id": nid, "name": name, "gender": "MALE", "birth_date": -658,
            "registration_region_code": "440305", "residence_region_code": "440305",
            "residence_address": "南山区桃源街道平山村12栋603", "has_residence_permit": False,
            "disabled": False, "disability_grade": None, "seriously_ill": False,
            "labour_capacity": "PARTIAL", "phone": phone, "household_id": None,
            "deceased": False}


def people(schemas):
    """PEOPLE persons from the province; the city disagrees about the name of
    every fifth (a manual field: a conflict) and about every phone (latest
    wins); Shenshan knows every third."""
    msgs, t0 = [], 1_700_000_000_000
    for i in range(PEOPLE):
        nid = L.national_id("4403%02d" % (i % 7 + 3), "19%02d%02d%02d" % (
            50 + i % 45, i % 12 + 1, i % 28 + 1), i)
        name = SURNAMES[i % len(SURNAMES)] + GIVEN[(i // len(SURNAMES)) % len(GIVEN)] + \
            GIVEN[(i * 11) % len(GIVEN)]
        p = person(nid, name, "13%09d" % (100000000 + i * 7919))
        msgs.append(("province.person", nid.encode(), schemas.single_object("person", p),
                     None, t0 + i))
        c = dict(p, phone="15%09d" % (200000000 + i * 104729))
        if i % 5 == 0:
            c["name"] = SURNAMES[(i + 3) % len(SURNAMES)] + name[1:]
        msgs.append(("city.person", nid.encode(), schemas.confluent("person", c), None,
                     t0 + i + 1))
        if i % 3 == 0:
            msgs.append(("shenshan.person", nid.encode(), schemas.single_object(
                "person", dict(p, phone="18%09d" % (300000000 + i * 31))), None, t0 + i + 2))
    return msgs


def bad_messages(schemas, db):
    """Four messages that must be dead-lettered, each carrying a real
    person's data from the store."""
    rows = db.query("SELECT key, record FROM cpsync.records WHERE entity = 'person' "
                    "AND record IS NOT NULL ORDER BY key LIMIT 4")
    if len(rows) < 4:
        L.fail("fewer than 4 persons in the store")
    msgs = []
    nid, rec = rows[0]
    name, phone = unwrap(rec.get("name")), unwrap(rec.get("phone")) or "13800001111"
    bad_id = nid[:17] + ("0" if nid[17] != "0" else "1")   # wrong check character
    msgs.append(("province.person", bad_id.encode(),
                 schemas.single_object("person", person(bad_id, name, phone)), None, None))
    nid, rec = rows[1]
    full = schemas.single_object("person", person(nid, unwrap(rec.get("name")),
                                                  unwrap(rec.get("phone")) or "13800002222"))
    msgs.append(("province.person", nid.encode(), full[:-7], None, None))
    nid, rec = rows[2]
    msgs.append(("province.person", nid.encode(),
                 json.dumps({"national_id": nid, "name": unwrap(rec.get("name")),
                             "phone": unwrap(rec.get("phone"))}, ensure_ascii=False).encode(),
                 None, None))
    nid, rec = rows[3]
    body = schemas.body("person", person(nid, unwrap(rec.get("name")),
                                         unwrap(rec.get("phone")) or "13800003333"))
    msgs.append(("city.person", nid.encode(), b"\x00\x00\x00\x7f\x7f" + body, None, None))
    return msgs


def write_inbox_file(schemas, inbox, name, records):
    """An Avro container file of persons (python3-avro, not cpsync's writer),
    staged as a dot file and renamed into the inbox, as a sender should."""
    buf = io.BytesIO()
    w = avro.datafile.DataFileWriter(buf, avro.io.DatumWriter(), schemas.entity["person"])
    for r in records:
        w.append(r)
    w.flush()
    data = buf.getvalue()
    w.close()
    tmp = os.path.join(inbox, "." + name + ".tmp")
    with open(tmp, "wb") as f:
        f.write(data)
    os.rename(tmp, os.path.join(inbox, name))


def shenshan_files(schemas, msgs, inbox, planted):
    """Takes the Shenshan messages out of msgs into one inbox file, and
    writes the planted file: person_<planted ID>.avro with that person and
    one record whose national ID has a wrong check character (a dead letter
    whose origin holds the file name). Returns the Kafka messages left."""
    shenshan = [m for m in msgs if m[0] == "shenshan.person"]
    rest = [m for m in msgs if m[0] != "shenshan.person"]
    records = []
    for _, key, value, _, _ in shenshan:
        body = value[10:]  # single-object header: 2 bytes magic, 8 fingerprint
        records.append(avro.io.DatumReader(schemas.entity["person"]).read(
            avro.io.BinaryDecoder(io.BytesIO(body))))
    write_inbox_file(schemas, inbox, "persons_001.avro", records)
    p = next(r for r in records if r["national_id"] == planted)
    bad = planted[:17] + ("0" if planted[17] != "0" else "1")
    write_inbox_file(schemas, inbox, "person_%s.avro" % planted,
                     [p, dict(p, national_id=bad)])
    return rest


# Files cpsync writes that carry personal data by design: the Shenshan
# files themselves (moved to done/ or rejected/) and the outbox's data files.
def personal_by_design(rel):
    return rel.endswith(".avro") or ".avro.duplicate" in rel or (
        rel.startswith("rejected/") and not rel.endswith(".reason"))


def scan_disk(shenshan_dir, pii, planted):
    """Scans every file under the Shenshan folders that is not meant to hold
    personal data; the planted ID's masked form must be in the ledger and a
    receipt. Returns how many files were scanned."""
    scanned, kinds = 0, set()
    masked = mask("id", planted)
    for root, _, files in os.walk(shenshan_dir):
        for n in files:
            path = os.path.join(root, n)
            rel = os.path.relpath(path, shenshan_dir)
            rel_in = rel.split("/", 1)[1] if "/" in rel else rel
            if personal_by_design(rel_in):
                continue
            with open(path, "rb") as f:
                text = f.read().decode("utf-8", "replace")
            scan("file %s" % rel, text, pii, True)
            scanned += 1
            for kind in ("ledger", "receipt", "manifest", "progress", "reason"):
                if kind in n:
                    kinds.add(kind)
            if n == ".ledger" or n.endswith(".receipt.json"):
                if masked in text:
                    kinds.add("planted-masked-" + ("ledger" if n == ".ledger" else "receipt"))
    for need in ("ledger", "receipt", "manifest", "planted-masked-ledger",
                 "planted-masked-receipt"):
        if need not in kinds:
            FAILS.append("files on disk: no %s found to scan (found %s)" % (need, sorted(kinds)))
    return scanned


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--demo", action="store_true", help="scan `cpsync demo`")
    args = ap.parse_args()
    L.set_name("pii.scan_demo" if args.demo else "pii.scan")
    pg = os.environ.get("CPSYNC_TEST_PG")
    if not pg:
        L.fail("CPSYNC_TEST_PG is not set (deploy/test.sh exports it)")
    source = os.path.abspath(args.source)
    db = L.Database(pg, "pii")
    work = L.tmpdir("pii")
    port = L.free_port()
    cfg = os.path.join(work, "pii.yaml")
    shenshan_dir = os.path.join(work, "shenshan")
    inbox, outbox = os.path.join(shenshan_dir, "inbox"), os.path.join(shenshan_dir, "outbox")
    if not args.demo:
        os.makedirs(inbox, 0o700)
        os.makedirs(outbox, 0o700)
    with open(cfg, "w") as f:
        f.write(CONFIG_FILES.format(pid=os.getpid(), schemas=os.path.join(source, "schemas"),
                                    conninfo=db.conninfo, inbox=inbox, outbox=outbox,
                                    **TOKENS))
        f.write(L.load_rules(source))
    out_path, err_path = os.path.join(work, "stdout.log"), os.path.join(work, "stderr.log")
    proc = None
    city = L.Database(pg, "piicity") if args.demo else None
    slot = "cps_pii_slot_%d" % os.getpid()
    try:
        with open(out_path, "wb") as out, open(err_path, "wb") as err:
            if args.demo:
                env = dict(os.environ, CPSYNC_DEMO_CITY_SLOT=slot,
                           CPSYNC_DEMO_VIEWER_TOKEN=TOKENS["viewer"],
                           CPSYNC_DEMO_STEWARD_TOKEN=TOKENS["steward"],
                           CPSYNC_DEMO_OPERATOR_TOKEN=TOKENS["operator"])
                proc = subprocess.Popen(
                    [args.cpsync, "demo", "--people", "300", "--pg", db.conninfo,
                     "--city-pg", city.conninfo, "--shenshan-dir", shenshan_dir,
                     "--http", "127.0.0.1:%d" % port], stdout=out, stderr=err, env=env)
            else:
                proc = subprocess.Popen([args.cpsync, "run", "-c", cfg, "--http",
                                         "127.0.0.1:%d" % port], stdout=out, stderr=err)

        def healthy():
            if proc.poll() is not None:
                with open(err_path, errors="replace") as f:
                    L.fail("cpsync run exited with %s\n%s" % (proc.returncode, f.read()[-4000:]))
            return L.http_get(port, "/healthz")[0] == 200
        L.wait_for("/healthz", healthy, 60)
        planted = None
        if args.demo:
            run_demo(source, db, port)
        else:
            planted = run(args, source, db, port, proc, err_path, inbox)
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            L.fail("cpsync did not stop within 30 s of SIGTERM")
        if rc != 0:
            FAILS.append("cpsync exited with %d" % rc)
        pii = collect(db)
        for path, place in ((err_path, "stderr"), (out_path, "stdout")):
            with open(path, encoding="utf-8", errors="replace") as f:
                text = f.read()
            scan(place, text, pii, True)
            if planted and place == "stderr" and "person_%s.avro" % mask("id", planted) \
                    not in text:
                FAILS.append("stderr: the planted file name is not logged masked")
        n = scan_disk(shenshan_dir, pii, planted) if planted else scan_disk_demo(
            shenshan_dir, pii)
        L.info("scanned %d files cpsync wrote that hold no personal data by design" % n)
    finally:
        if proc is not None and proc.poll() is None:
            proc.kill()
            proc.wait()
        db.drop()
        if city is not None:
            city.query("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                       "WHERE slot_name = %s AND NOT active", (slot,))
            city.drop()
    if FAILS:
        for f in FAILS[:50]:
            print("pii.scan: FAIL: personal data in " + f, file=sys.stderr)
        L.fail("%d unmasked personal data found" % len(FAILS))
    L.info("OK")


def scan_disk_demo(shenshan_dir, pii):
    """The demo's Shenshan folders: the same scan, without a planted file."""
    n = 0
    for root, _, files in os.walk(shenshan_dir):
        for name in files:
            path = os.path.join(root, name)
            rel = os.path.relpath(path, shenshan_dir)
            if personal_by_design(rel.split("/", 1)[1] if "/" in rel else rel):
                continue
            with open(path, "rb") as f:
                scan("file %s" % rel, f.read().decode("utf-8", "replace"), pii, True)
            n += 1
    return n


def run_demo(source, db, port):
    """The demo invents its people; wait until they are in, let a steward
    resolve a conflict, then scan."""
    L.wait_for("the demo's people and a conflict in the store", lambda: db.query(
        "SELECT (SELECT count(*) FROM cpsync.records WHERE entity = 'person') >= 300 AND "
        "(SELECT count(*) FROM cpsync.conflicts WHERE status = 'open') > 0")[0][0], 150)
    cid = db.query("SELECT id FROM cpsync.conflicts WHERE status = 'open' ORDER BY id LIMIT 1")
    st, _ = request(port, "/api/v1/conflicts/%d/resolve" % cid[0][0], TOKENS["steward"], "POST",
                    {"action": "dismiss", "reason": "checked with the family"})
    if st != 200:
        FAILS.append("resolve as steward answered %d" % st)
    time.sleep(3)  # the trickle goes on: more log lines
    scan_http(source, db, port)


def run(args, source, db, port, proc, err_path, inbox):
    st, body = request(port, "/status", TOKENS["viewer"])
    if st != 200:
        L.fail("/status answered %s" % st)
    bootstrap = json.loads(body)["kafka"]["bootstrap"]
    schemas = L.Schemas(args.cpsync, os.path.join(source, "schemas"))
    L.wait_for("sources RUNNING", lambda: all(
        l["state"] == "RUNNING" for l in json.loads(request(port, "/status", TOKENS["viewer"])[1])[
                "links"] if l["name"].endswith("-source")), 60)
    prod = L.producer(bootstrap)
    msgs = people(schemas)
    planted = next(m[1].decode() for m in msgs if m[0] == "shenshan.person")
    L.produce_all(prod, shenshan_files(schemas, msgs, inbox, planted))
    L.wait_for("every person, open conflicts and the planted file's dead letter in the store",
               lambda: db.query(
        "SELECT (SELECT count(*) FROM cpsync.records WHERE entity = 'person') >= %d AND " % PEOPLE +
        "(SELECT count(*) FROM cpsync.conflicts WHERE status IN ('open', 'claimed')) > 0 AND "
        "(SELECT count(*) FROM cpsync.dead_letters WHERE platform = 'shenshan') > 0")[0][0],
        120)
    L.wait_for("both Shenshan files done", lambda: len([
        n for n in os.listdir(os.path.join(inbox, "done")) if n.endswith(".receipt.json")]) >= 2,
        60)
    n_before = db.query("SELECT count(*) FROM cpsync.dead_letters")[0][0]
    L.produce_all(prod, bad_messages(schemas, db))
    L.wait_for("4 new dead letters", lambda: db.query(
        "SELECT count(*) FROM cpsync.dead_letters")[0][0] >= n_before + 4, 60)
    dls = [r[0] for r in db.query("SELECT id FROM cpsync.dead_letters ORDER BY id")]
    st, _ = request(port, "/api/v1/deadletters/replay", TOKENS["operator"], "POST",
                    {"ids": dls[-2:], "note": "re-run after the fix"})
    if st != 200:
        FAILS.append("replay as operator answered %d" % st)
    st, _ = request(port, "/api/v1/deadletters/%d/discard" % dls[0], TOKENS["operator"], "POST",
                    {"reason": "not a person record"})
    if st not in (200, 409):
        FAILS.append("discard as operator answered %d" % st)
    # a steward resolves a conflict: the audit trail and the log see it
    cid = db.query("SELECT id FROM cpsync.conflicts WHERE status = 'open' ORDER BY id LIMIT 1")
    if cid:
        st, _ = request(port, "/api/v1/conflicts/%d/resolve" % cid[0][0], TOKENS["steward"],
                        "POST", {"action": "dismiss", "reason": "checked with the family"})
        if st != 200:
            FAILS.append("resolve as steward answered %d" % st)
    time.sleep(2)  # the trickle goes on: more log lines, more conflicts

    scan_http(source, db, port)
    # the planted file name: masked in the dead-letter list and its detail
    masked = "person_%s.avro" % mask("id", planted)
    for role in ("viewer", "operator"):
        st, body = request(port, "/api/v1/deadletters?platform=shenshan", TOKENS[role])
        items = json.loads(body)["items"] if st == 200 else []
        if not any(masked in (i.get("origin") or "") for i in items):
            FAILS.append("dead-letter list as %s: the planted origin is not there masked (%d)"
                         % (role, st))
        scan("GET /api/v1/deadletters?platform=shenshan as %s" % role,
             body.decode("utf-8", "replace"), {"id": {planted}, "name": set(), "phone": set()},
             True)
        if role == "operator" and items:
            st, body = request(port, "/api/v1/deadletters/%d" % items[0]["id"], TOKENS[role])
            if st != 200 or masked not in body.decode("utf-8", "replace"):
                FAILS.append("dead letter detail as operator: origin not masked (%d)" % st)
    # /status, /metrics and the offsets of the Shenshan source after the files
    for url in ("/status", "/metrics", "/api/v1/connectors/shenshan-source/offsets"):
        st, body = request(port, url, TOKENS["operator"])
        scan("GET %s as operator (after the planted file)" % url,
             body.decode("utf-8", "replace"), {"id": {planted}, "name": set(), "phone": set()},
             True)
    return planted


def scan_http(source, db, port):
    """Collects the store's personal data and scans /status, /metrics and
    every documented GET answered to the viewer."""
    pii = collect(db)
    L.info("collected %d national IDs, %d names, %d phones" % (
        len(pii["id"]), len(pii["name"]), len(pii["phone"])))
    if len(pii["id"]) < 150 or len(pii["name"]) < 100 or len(pii["phone"]) < 100:
        L.fail("too little personal data collected to make the scan meaningful")

    for path, token, place in (("/status", TOKENS["viewer"], "GET /status (viewer)"),
                               ("/metrics", None, "GET /metrics")):
        st, body = request(port, path, token)
        if st != 200:
            FAILS.append("%s answered %d" % (place, st))
        scan(place, body.decode("utf-8", "replace"), pii, True)

    # every documented GET, with real values for its parameters, as the viewer
    with open(os.path.join(source, "docs", "openapi.yaml")) as f:
        doc = yaml.safe_load(f)
    values = {
        "id": [str(r[0]) for r in db.query(
            "SELECT id FROM cpsync.conflicts ORDER BY id LIMIT 3")] +
              [str(r[0]) for r in db.query(
                  "SELECT id FROM cpsync.dead_letters ORDER BY id LIMIT 3")],
        "name": ["province-source", "city-source", "shenshan-source", "publisher"],
    }
    records = db.query("SELECT entity, key FROM (SELECT entity, key, row_number() OVER "
                       "(PARTITION BY entity ORDER BY key) AS n FROM cpsync.records WHERE entity "
                       "IN ('person', 'household', 'enrolment')) t WHERE n <= 14 "
                       "ORDER BY entity, key")
    records += db.query("SELECT entity, key FROM cpsync.records WHERE conflicts <> '{}' "
                        "ORDER BY key LIMIT 5")
    checked = 0
    for path, item in sorted(doc["paths"].items()):
        if "get" not in item:
            continue
        if "{entity}" in path:
            urls = [path.replace("{entity}", e).replace("{key}", urllib.parse.quote(k, safe=""))
                    for e, k in records[::4]]
        elif "{" in path:
            urls = []
            for param, vals in values.items():
                if "{%s}" % param in path:
                    urls = [path.replace("{%s}" % param, v) for v in vals]
            if not urls:
                FAILS.append("no value for the parameters of %s" % path)
        else:
            urls = [path]
        for url in urls:
            st, body = request(port, url, TOKENS["viewer"])
            place = "GET %s as viewer (HTTP %d)" % (path, st)
            text = body.decode("utf-8", "replace")
            if st == 200 and "{entity}" in path:
                if json.loads(text).get("masked") is not True:
                    FAILS.append("%s: not marked masked" % place)
            # 409: a documented refusal (the publisher has no offsets to show)
            if st not in (200, 403, 404, 409):
                FAILS.append("%s: unexpected status" % place)
            scan(place, text, pii, False)
            checked += 1
    for url in ("/", "/api/v1/deadletters?limit=500", "/api/v1/connectors"):
        st, body = request(port, url, TOKENS["viewer"])
        scan("GET %s as viewer (HTTP %d)" % (url, st), body.decode("utf-8", "replace"), pii,
             False)
        checked += 1
    # the scanner itself: the steward's unmasked view of a person must be caught
    e, k = next(r for r in records if r[0] == "person")
    st, body = request(port, "/api/v1/records/person/" + urllib.parse.quote(k, safe=""),
                       TOKENS["steward"])
    before = len(FAILS)
    if st != 200 or scan("self-check", body.decode("utf-8", "replace"), pii, True) < 2:
        L.fail("the scan does not see the steward's unmasked record (HTTP %d)" % st)
    del FAILS[before:]
    L.info("scanned %d viewer responses" % checked)
    if checked < 20:
        L.fail("only %d viewer responses scanned" % checked)


if __name__ == "__main__":
    main()
