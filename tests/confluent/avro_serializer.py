#!/usr/bin/env python3
"""confluent.avro_serializer: the province as a Confluent-based platform, a
downstream system as a Confluent consumer, on a real Apache Kafka broker.

The province produces person and household records with confluent-kafka's own
`AvroSerializer` (PyPI confluent-kafka 2.x, fastavro underneath): a
`SchemaRegistryClient` against the project's Confluent-shaped registry
fixture (tests/fixtures/registry.py), subject `<topic>-value`
(TopicNameStrategy), auto-register, schema = schemas/<entity>.avsc as a
province would keep it, keys by `StringSerializer`, the business time as the
message timestamp. A second platform (the city, on Kafka too, single-object
framing written by python3-avro) contradicts some of those records. One real
cpsync (`framing: confluent` on the province source, `schemas.registry.url`
= the fixture) reconciles them, in phases the test waits for, so the order in
which facts are applied is fixed:
  1. P1 (the province alone, then an update), P2 from the city, H1 from the
     province;
  2. P2 from the province (newer phone and address, another labour
     capacity), H1 from the city (same income, another monitoring category);
  3. P3 from an older province service that writes with the province's own
     revision of cpsync.Person (one more optional field in the middle), the
     first schema the province's registry ever got: registry id 1.
The test then reads the unified topics `<prefix>person` and
`<prefix>household` with `AvroDeserializer` (writer schemas fetched from the
registry by id, as any downstream consumer would) and asserts:
- the subjects in the registry: the province's `<topic>-value` (registered
  by the serializer) and cpsync's `<unified topic>-value`, one version each;
  each unified schema self-contained (fastavro parses it alone); cpsync
  fetched the province's writer schema by id from the registry;
- nothing dead-lettered in phases 1-2; the store at rest, the outbox drained;
- values as deploy/rules.default.yaml demands: P1 is the province's newest
  record; P2's labour_capacity is the city's (precedence city first), its
  phone and residence_address the province's (latest, the province's is
  newer); H1's monitoring category and since are the province's (precedence
  province first), its income 1200.00 (a decimal through fastavro, Avro C and
  back);
- provenance per field: platform, rule, rule_version, the source position
  `<platform>:<topic>/<partition>@<offset>` of the message that gave the
  value (a value an update merely repeats keeps its first message), effective
  and source time = that message's timestamp;
- per key versions 1..n, each (key, version) published once, equal to
  cpsync.record_history; the newest event's version is cpsync.records';
- P3 decodes: cpsync asks the registry what id 1 is (its registry-free ids of
  schemas/schema-ids.json mean nothing to a registry) and resolves the
  province's revision to cpsync.Person;
- the newest unified event of every key carries the provenance the store
  holds (cpsync.records.provenance): H1's income and the other fields both
  state alike are the city's once the city reported (precedence city first).
The checks of the last two items are all run and reported together.

Needs CPSYNC_TEST_KAFKA (a real broker: deploy/kafka-private.sh),
CPSYNC_TEST_PG and CPSYNC_TEST_PYENV (deploy/pyenv.sh); deploy/test.sh
exports all three. Fails, never skips, when one is missing.

usage: avro_serializer.py --cpsync BIN --source SOURCE_DIR
"""
import os
import sys


def _fail_early(msg):
    print("confluent.avro_serializer: FAIL: " + msg, file=sys.stderr, flush=True)
    sys.exit(1)


# The tests' venv (confluent-kafka 2.x with schema_registry, fastavro; Debian's
# python3-avro and psycopg2 visible) runs this script, whoever started it.
_PYENV = os.environ.get("CPSYNC_TEST_PYENV")
if not _PYENV:
    _fail_early("CPSYNC_TEST_PYENV is not set (deploy/test.sh exports it; deploy/pyenv.sh makes it)")
# (a venv's python is a symlink to the system's: compare prefixes, not executables)
if os.path.realpath(sys.prefix) != os.path.realpath(os.path.dirname(os.path.dirname(_PYENV))) \
        and os.environ.get("CPSYNC_CONFLUENT_REEXEC") != "1":
    if not os.access(_PYENV, os.X_OK):
        _fail_early("CPSYNC_TEST_PYENV=%s is not an executable python" % _PYENV)
    os.environ["CPSYNC_CONFLUENT_REEXEC"] = "1"
    os.execv(_PYENV, [_PYENV] + sys.argv)

import argparse  # noqa: E402
import datetime  # noqa: E402
import decimal  # noqa: E402
import json  # noqa: E402
import struct  # noqa: E402
import shutil  # noqa: E402
import subprocess  # noqa: E402
import time  # noqa: E402
import urllib.request  # noqa: E402

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2elib as L  # noqa: E402

import confluent_kafka  # noqa: E402
import fastavro  # noqa: E402
from confluent_kafka.admin import AdminClient, NewTopic  # noqa: E402
from confluent_kafka.schema_registry import (Schema, SchemaRegistryClient,  # noqa: E402
                                             topic_subject_name_strategy)
from confluent_kafka.schema_registry.avro import AvroDeserializer, AvroSerializer  # noqa: E402
from confluent_kafka.serialization import (MessageField, SerializationContext,  # noqa: E402
                                           StringSerializer)

NAME = "confluent.avro_serializer"
UTC = datetime.timezone.utc
CHECKS = [0]
SOFT = []  # failed checks of the last section, all reported together


def expect(cond, what):
    if not cond:
        L.fail(what)
    CHECKS[0] += 1


def soft(cond, what):
    """A check whose failure is reported with the others of its section."""
    CHECKS[0] += 1
    if not cond:
        print("%s: FAIL: %s" % (NAME, what), file=sys.stderr, flush=True)
        SOFT.append(what)


def ms(dt):
    """A datetime (fastavro's timestamp-millis) as epoch milliseconds."""
    return int(round(dt.timestamp() * 1000))


class Registry:
    """tests/fixtures/registry.py in its own process."""

    def __init__(self, source):
        self.proc = subprocess.Popen([sys.executable, os.path.join(source, "tests/fixtures/registry.py")],
                                     stdout=subprocess.PIPE)
        line = self.proc.stdout.readline().decode().strip()
        if not line.isdigit():
            self.stop()
            L.fail("the registry fixture printed no port (got %r)" % line)
        self.url = "http://127.0.0.1:%s" % line

    def get(self, path):
        with urllib.request.urlopen(self.url + path, timeout=10) as r:
            return json.loads(r.read())

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


def create_topics(bootstrap, specs):
    """specs: {topic: partitions}; fails unless every topic is new."""
    admin = AdminClient({"bootstrap.servers": bootstrap})
    futures = admin.create_topics([NewTopic(t, num_partitions=n, replication_factor=1)
                                   for t, n in specs.items()], operation_timeout=30)
    for t, f in futures.items():
        try:
            f.result(60)
        except Exception as e:  # noqa: BLE001 - the broker's error, verbatim
            L.fail("creating topic %s: %s" % (t, e))
    return admin


def delete_topics(admin, topics):
    try:
        for f in admin.delete_topics(list(topics), operation_timeout=30).values():
            try:
                f.result(60)
            except Exception:  # noqa: BLE001 - best effort clean-up
                pass
    except Exception:  # noqa: BLE001
        pass


def write_config(path, *, instance, schemas, bootstrap, conninfo, registry_url, topics, tag,
                 source):
    text = """\
instance: {instance}
log:
  level: info
schemas:
  dir: {schemas}
  registry:
    url: {registry}
    timeout_ms: 10s
kafka:
  brokers: {bootstrap}
  ingest_topic: {ingest}
  unified_topic_prefix: {prefix}
  dead_letter_topic: {dlt}
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
  workers: 2
platforms:
  province:
    connector: kafka
    source:
      group_id: {tag}-province
      framing: confluent
      topics: [{pp}, {ph}]
      topic:
        {pp}: {{entity: person}}
        {ph}: {{entity: household}}
  city:
    connector: kafka
    source:
      group_id: {tag}-city
      framing: single-object
      topics: [{cp}, {ch}]
      topic:
        {cp}: {{entity: person}}
        {ch}: {{entity: household}}
  shenshan:
    connector: kafka
    enabled: false
""".format(instance=instance, schemas=schemas, registry=registry_url, bootstrap=bootstrap,
           ingest=topics["ingest"], prefix=topics["prefix"], dlt=topics["deadletter"], tag=tag,
           conninfo=conninfo, token=L.TOKEN, pp=topics["province.person"],
           ph=topics["province.household"], cp=topics["city.person"],
           ch=topics["city.household"])
    text += L.load_rules(source)
    with open(path, "w") as f:
        f.write(text)


# ------------------------------------------------------------------ records

BIRTH = {"19680314": datetime.date(1968, 3, 14), "19711102": datetime.date(1971, 11, 2)}


def person(nid, name, birth, **kw):
    """A person as the province's Python code holds it (fastavro's types:
    datetime.date for a date)."""
    rec = {"national_id": nid, "name": name, "gender": "MALE", "birth_date": birth,
           "registration_region_code": "440305", "residence_region_code": "440305",
           "residence_address": "南山区桃源街道平山村12栋603", "has_residence_permit": False,
           "disabled": False, "disability_grade": None, "seriously_ill": False,
           "labour_capacity": "PARTIAL", "phone": "13798765432", "household_id": None,
           "deceased": False}
    rec.update(kw)
    return rec


def household(hid, head, spouse, income, category, since):
    return {"household_id": hid, "head_national_id": head,
            "members": [{"national_id": head, "relation": "HEAD"},
                        {"national_id": spouse, "relation": "SPOUSE"}],
            "member_count": 2, "region_code": "440305", "household_type": "URBAN",
            "per_capita_monthly_income": decimal.Decimal(income), "monitoring_category": category,
            "monitoring_since": since}


def for_python_avro(rec):
    """The same record for python3-avro on the logical-type-free schema of
    e2elib.Schemas: dates as days since the epoch, decimals as their
    two's-complement bytes (scale 2)."""
    out = {}
    for k, v in rec.items():
        if isinstance(v, datetime.date):
            v = (v - datetime.date(1970, 1, 1)).days
        elif isinstance(v, decimal.Decimal):
            v = L.money(int(v.scaleb(2)))
        out[k] = v
    return out


# ------------------------------------------------------------------ the test

def main():
    L.set_name(NAME)
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    bootstrap = os.environ.get("CPSYNC_TEST_KAFKA")
    if not bootstrap:
        L.fail("CPSYNC_TEST_KAFKA is not set (deploy/test.sh exports it; "
               "deploy/kafka-private.sh starts a real broker)")
    pg = os.environ.get("CPSYNC_TEST_PG")
    if not pg:
        L.fail("CPSYNC_TEST_PG is not set (deploy/test.sh exports it)")
    args.source = os.path.abspath(args.source)
    schemas_dir = os.path.join(args.source, "schemas")
    version = confluent_kafka.version()  # a tuple in early 2.x, a string later
    version = version[0] if isinstance(version, tuple) else version
    L.info("confluent-kafka %s (librdkafka %s), fastavro %s, broker %s" % (
        version, confluent_kafka.libversion()[0], fastavro.__version__, bootstrap))

    t_begin = time.monotonic()
    tag = "cfl-avro-%d-%d" % (os.getpid(), int(time.time()))
    topics = {"ingest": tag + ".ingest", "deadletter": tag + ".deadletter",
              "prefix": tag + ".unified.",
              "province.person": tag + ".province.person",
              "province.household": tag + ".province.household",
              "city.person": tag + ".city.person", "city.household": tag + ".city.household"}
    unified = {e: topics["prefix"] + e for e in ("person", "household")}
    specs = {topics["ingest"]: 4, topics["deadletter"]: 1, unified["person"]: 2,
             unified["household"]: 2}
    for t in ("province.person", "province.household", "city.person", "city.household"):
        specs[topics[t]] = 2
    # the other unified topics: cpsync must publish nothing there
    for e in ("enrolment", "verification", "alert"):
        specs[topics["prefix"] + e] = 1

    admin = create_topics(bootstrap, specs)
    registry = Registry(args.source)
    db = L.Database(pg, "cfl_avro")
    work = L.tmpdir("confluent")
    cps = None
    try:
        cfg = os.path.join(work, "cpsync.yaml")
        write_config(cfg, instance=tag, schemas=schemas_dir, bootstrap=bootstrap,
                     conninfo=db.conninfo, registry_url=registry.url, topics=topics, tag=tag,
                     source=args.source)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        run(args, schemas_dir, bootstrap, registry, db, cps, topics, unified)
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
        L.info("OK: %d checks in %.1f s" % (CHECKS[0], time.monotonic() - t_begin))
        shutil.rmtree(work, ignore_errors=True)  # kept when a check failed
    finally:
        if cps:
            cps.kill()
        registry.stop()
        db.drop()
        delete_topics(admin, specs)


def wait_applied(cps, db, bootstrap, topics, msgs, done, timeout=120, allow_dead=False):
    """Waits until the sources accepted the messages `done` (indexes into
    msgs), the store applied every ingest event and the outbox is drained.
    A dead letter fails the test, unless `allow_dead`: then the dead letters
    (origin, reason) are returned once the rest is applied."""
    want = {}
    for i in done:
        want[msgs[i][0]] = want.get(msgs[i][0], 0) + 1
    deadline = time.monotonic() + timeout
    doc = None
    while True:
        doc = cps.status()
        links = {lk["name"]: lk for lk in (doc or {}).get("links", [])}
        # a source's `records` counts what it accepted, `dead_letters` the rest
        accepted = all(links.get("%s-source" % p, {}).get("records", 0) +
                       (links.get("%s-source" % p, {}).get("dead_letters", 0) if allow_dead else 0)
                       >= n for p, n in want.items())
        dead = db.query("SELECT count(*) FROM cpsync.dead_letters")[0][0] if doc else 0
        if dead and not allow_dead:
            L.fail("%d dead letters: %s\n%s" % (dead, db.query(
                "SELECT origin, reason FROM cpsync.dead_letters"), cps.tail()))
        if doc and accepted:
            stored = db.query("SELECT coalesce(sum(next_offset), 0) FROM cpsync.ingest_offsets")[0][0]
            end = L.end_offsets(bootstrap, topics["ingest"])
            pending = db.query("SELECT count(*) FROM cpsync.outbox")[0][0]
            if end >= len(done) - dead and stored == end and pending == 0:
                return db.query("SELECT origin, reason FROM cpsync.dead_letters")
        if not cps.alive() or time.monotonic() > deadline:
            L.fail("records not applied within %d s: %s\n%s" % (timeout, json.dumps(doc), cps.tail()))
        time.sleep(0.3)


def run(args, schemas_dir, bootstrap, registry, db, cps, topics, unified):
    sr = SchemaRegistryClient({"url": registry.url})
    conf = {"auto.register.schemas": True, "subject.name.strategy": topic_subject_name_strategy}
    with open(os.path.join(schemas_dir, "person.avsc")) as f:
        person_avsc = f.read()
    with open(os.path.join(schemas_dir, "household.avsc")) as f:
        household_avsc = f.read()
    # The province's registry is fresh; the first schema it ever got is the
    # one an older province service still writes with: its own revision of
    # cpsync.Person, one more optional field (民族) in the middle. Registered
    # first, it has id 1 (which schemas/schema-ids.json, registry-free ids,
    # gives cpsync.Person too: a registry's ids are its own).
    prime = json.loads(person_avsc)
    i_name = [f["name"] for f in prime["fields"]].index("name")
    prime["fields"].insert(i_name + 1, {"name": "ethnic_group", "type": ["null", "string"],
                                        "default": None, "doc": "民族 (the province's own field)"})
    prime_avsc = json.dumps(prime, ensure_ascii=False, indent=2)
    prime_id = sr.register_schema(topics["province.person"] + "-value", Schema(prime_avsc, "AVRO"))
    expect(prime_id == 1, "the province's first schema has registry id 1 (got %s)" % prime_id)
    ser = {"person": AvroSerializer(sr, person_avsc, conf=conf),
           "household": AvroSerializer(sr, household_avsc, conf=conf),
           "person'": AvroSerializer(sr, prime_avsc, conf=conf)}
    keyser = StringSerializer("utf_8")
    py_avro = L.Schemas(args.cpsync, schemas_dir)  # python3-avro, for the city

    # Business times: an hour ago, so retention never takes the topics' segments.
    t0 = (int(time.time()) - 3600) * 1000
    p1 = L.national_id("440305", "19680314", 317)  # the province alone, then an update
    p2 = L.national_id("440304", "19711102", 208)  # the province and the city disagree
    h1 = "H440305202400%03d" % (os.getpid() % 1000)
    msgs = []  # (platform, entity, key, record, timestamp ms)
    msgs.append(("province", "person", p1, person(p1, "陈建国", BIRTH["19680314"]), t0 + 10000))
    msgs.append(("province", "person", p1, person(
        p1, "陈建国", BIRTH["19680314"], residence_address="福田区香蜜湖街道1号",
        phone="13800000001", has_residence_permit=True, disabled=True,
        disability_grade="GRADE_2"), t0 + 30000))
    msgs.append(("city", "person", p2, person(
        p2, "林秀英", BIRTH["19711102"], gender="FEMALE", labour_capacity="PARTIAL",
        phone="13798765432", residence_address="南山区粤海街道科技园1号"), t0 + 10000))
    msgs.append(("province", "person", p2, person(
        p2, "林秀英", BIRTH["19711102"], gender="FEMALE", labour_capacity="FULL",
        phone="13900000002", residence_address="罗湖区东门街道2号"), t0 + 20000))
    # H1: the province reports first; then the city, with the same income but
    # another monitoring category, as an older fact
    msgs.append(("province", "household", h1, household(h1, p1, p2, "1200.00", "DIBAO",
                                                        datetime.date(2022, 3, 1)), t0 + 20000))
    msgs.append(("city", "household", h1, household(h1, p1, p2, "1200.00", "DIBAO_EDGE",
                                                    datetime.date(2021, 10, 1)), t0 + 10000))
    # P3: written by the older province service with its own Person revision
    # (registry id 1); cpsync must resolve it to cpsync.Person by name.
    p3 = L.national_id("440306", "19900501", 415)
    p3_rec = person(p3, "黄志强", datetime.date(1990, 5, 1), residence_region_code="440306")
    msgs.append(("province", "person'", p3, dict(p3_rec, ethnic_group="汉族"), t0 + 40000))
    # Three phases, each waited for, so the order in which cpsync applies the
    # platforms' facts is the test's: P2 city before province, H1 province
    # before city; P3 last, alone.
    phases = [[0, 1, 2, 4], [3, 5], [6]]

    # The province: confluent-kafka's Producer with the serializers, exactly as
    # a Confluent-based platform's code; the city: python3-avro, single-object.
    prod = confluent_kafka.Producer({"bootstrap.servers": bootstrap, "enable.idempotence": True,
                                     "acks": "all"})
    delivered = [None] * len(msgs)
    errors = []

    def on_delivery(i):
        def cb(err, m):
            if err:
                errors.append(str(err))
            else:
                delivered[i] = (m.topic(), m.partition(), m.offset(), m.timestamp()[1])
        return cb

    t_produce = time.monotonic()
    done = []
    for n_phase, phase in enumerate(phases):
        for i in phase:
            plat, ent, key, rec, ts = msgs[i]
            topic = topics["%s.%s" % (plat, ent.rstrip("'"))]
            if plat == "province":
                value = ser[ent](rec, SerializationContext(topic, MessageField.VALUE))
                k = keyser(key, SerializationContext(topic, MessageField.KEY))
            else:
                value = py_avro.single_object(ent, for_python_avro(rec))
                k = key.encode()
            prod.produce(topic, key=k, value=value, timestamp=ts, on_delivery=on_delivery(i))
            prod.flush(30)  # one by one: the offsets are the test's to know
            if errors or delivered[i] is None:
                L.fail("producing failed: %s" % (errors or "undelivered message"))
        done += phase
        dead = wait_applied(cps, db, bootstrap, topics, msgs, done, allow_dead=(phase == [6]))
    L.info("%d messages produced and applied in %.1f s (%d phases)"
           % (len(msgs), time.monotonic() - t_produce, len(phases)))
    pos = {i: "%s:%s/%d@%d" % (msgs[i][0], d[0], d[1], d[2]) for i, d in enumerate(delivered)}
    expect(all(d[3] == msgs[i][4] for i, d in enumerate(delivered)),
           "the broker kept the producers' timestamps (CreateTime)")

    # The registry holds the province's subjects, as the serializer made them.
    subjects = registry.get("/subjects")
    for ent in ("person", "household"):
        subj = topics["province." + ent] + "-value"
        expect(subj in subjects, "AvroSerializer registered subject %s (have %s)" % (subj, subjects))
    frame = ser["person"](msgs[0][3], SerializationContext(topics["province.person"],
                                                           MessageField.VALUE))
    expect(frame[:1] == b"\x00", "AvroSerializer writes the Confluent magic byte")
    # cpsync read the province's frames by asking the registry for the writer
    # schema of their id (the registry's ids, not the manifest's)
    prov_id = struct.unpack(">I", frame[1:5])[0]
    fetched = registry.get("/__stats")["paths"].get("GET /schemas/ids/%d" % prov_id, 0)
    expect(fetched >= 1, "cpsync fetched the province's writer schema id %d from the registry "
           "(%d GETs)" % (prov_id, fetched))
    others = {e: L.end_offsets(bootstrap, topics["prefix"] + e)
              for e in ("enrolment", "verification", "alert")}
    expect(not any(others.values()), "nothing on the other unified topics: %s" % others)
    n_records = db.query("SELECT count(*) FROM cpsync.records")[0][0]
    expect(n_records >= 3, "unified records for P1, P2, H1 (%d records)" % n_records)

    # cpsync registered its unified schemas, under <unified topic>-value.
    subjects = registry.get("/subjects")
    for ent in ("person", "household"):
        subj = unified[ent] + "-value"
        expect(subj in subjects, "cpsync registered subject %s (have %s)" % (subj, subjects))
        versions = registry.get("/subjects/%s/versions" % subj)
        expect(len(versions) == 1, "one version under %s" % subj)
    # The unified topics, read as a downstream Confluent consumer reads them.
    deser = AvroDeserializer(sr)
    events = {}
    raw = L.consume_all(bootstrap, [unified["person"], unified["household"]])
    seen_kv = set()
    ids = {}
    for topic, part, off, key, value, headers in raw:
        expect(value[:1] == b"\x00", "a unified event in the Confluent wire format")
        ev = deser(value, SerializationContext(topic, MessageField.VALUE))
        ent = topic[len(topics["prefix"]):]
        expect(ev["entity"] == ent.upper(), "entity of an event on %s" % topic)
        expect(key.decode() == ev["key"], "Kafka key equals the event key")
        ids.setdefault(ent, set()).add(struct.unpack(">I", value[1:5])[0])
        kv = (ent, ev["key"], ev["version"])
        expect(kv not in seen_kv, "%s/%s version %d published once" % kv)
        seen_kv.add(kv)
        events.setdefault((ent, ev["key"]), []).append(ev)
    # each unified schema, as the registry hands it out, parses on its own
    for ent in ("person", "household"):
        expect(len(ids.get(ent, ())) == 1, "one schema id on %s: %s" % (unified[ent], ids.get(ent)))
        sid = next(iter(ids[ent]))
        text = registry.get("/schemas/ids/%d" % sid)["schema"]
        try:
            parsed = fastavro.parse_schema(json.loads(text), named_schemas={})
        except Exception as e:  # noqa: BLE001
            L.fail("cpsync's %s event schema (id %d) is not self-contained Avro: %s: %s"
                   % (ent, sid, type(e).__name__, e))
        expect(parsed["name"] == "cpsync.unified.%sEvent" % ent.capitalize(),
               "schema id %d is cpsync.unified.%sEvent" % (sid, ent.capitalize()))
    hist = {}
    for e, k, v in db.query("SELECT entity, key, version FROM cpsync.record_history "
                            "ORDER BY entity, key, version"):
        hist.setdefault((e, k), []).append(v)
    for ek, evs in events.items():
        vs = sorted(ev["version"] for ev in evs)
        expect(vs == list(range(1, len(vs) + 1)), "versions of %s are 1..n: %s" % (ek[0], vs))
        expect(vs == hist.get(ek), "the unified versions of %s equal the store's history" % ek[0])
    expect(set(events) - {("person", p3)} == {("person", p1), ("person", p2), ("household", h1)},
           "unified events for P1, P2, H1 and no other key but P3")
    last = {ek: max(evs, key=lambda ev: ev["version"]) for ek, evs in events.items()}
    records = {(e, k): (v, r) for e, k, v, r in db.query(
        "SELECT entity, key, version, record FROM cpsync.records")}
    for ek, ev in last.items():
        expect(ev["version"] == records[ek][0], "the last unified %s is the stored version" % ek[0])
        expect(ev["operation"] == "UPSERT" and ev["record"] is not None, "an UPSERT with a record")

    def prov(ev):
        out = {p["field"]: p for p in ev["provenance"]}
        for p in out.values():
            for k in ("effective_time", "source_time"):
                if isinstance(p[k], datetime.datetime):
                    p[k] = ms(p[k])
        return out

    # P1: the province alone; its newer message carries every field.
    ev = last[("person", p1)]
    expect(ev["record"] == msgs[1][3], "P1 is exactly the province's newest record: %r" % ev["record"])
    pv = prov(ev)
    # a field no platform gives a value (household_id: null) has no winner
    fields = {f for f, v in msgs[1][3].items() if v is not None}
    expect(set(pv) == fields, "P1 has provenance for every non-null field: %s" % sorted(pv))
    # A changed value comes from the update; a value the update merely
    # repeats keeps the provenance of the message that first gave it
    # (reconcile.c: "same value, same winner: untouched").
    changed = {f for f in fields if msgs[0][3][f] != msgs[1][3][f]}
    expect(changed == {"residence_address", "phone", "has_residence_permit", "disabled",
                       "disability_grade"}, "the update changes five fields")
    for f in sorted(fields):
        p = pv[f]
        i = 1 if f in changed else 0
        expect(p["platform"] == "PROVINCE", "P1.%s from the province" % f)
        expect(p["source_position"] == pos[i],
               "P1.%s source position %s (got %s)" % (f, pos[i], p["source_position"]))
        expect(p["effective_time"] == msgs[i][4] and p["source_time"] == msgs[i][4],
               "P1.%s effective and source time = its message's timestamp %d: %r"
               % (f, msgs[i][4], p))
        expect(p["rule_version"] == 1 and p["conflict_id"] is None and p["steward"] is None,
               "P1.%s rule version 1, no conflict, no steward" % f)
    expect(pv["phone"]["rule"] == "latest" and pv["name"]["rule"] == "manual"
           and pv["disabled"]["rule"] == "precedence" and pv["disability_grade"]["rule"] == "manual",
           "P1 rules per field as in rules.default.yaml")
    first = min(events[("person", p1)], key=lambda ev: ev["version"])
    expect(first["version"] == 1 and first["record"] == msgs[0][3],
           "P1 version 1 is the province's first record")
    expect(all(p["source_position"] == pos[0] for p in first["provenance"]),
           "P1 version 1's provenance points at the first message")

    # P2: the city (t0+10 s) and the province (t0+20 s) disagree.
    ev = last[("person", p2)]
    r, pv = ev["record"], prov(ev)
    expect(r["labour_capacity"] == "PARTIAL", "P2 labour_capacity is the city's (precedence)")
    expect(pv["labour_capacity"]["platform"] == "CITY"
           and pv["labour_capacity"]["rule"] == "precedence"
           and pv["labour_capacity"]["source_position"] == pos[2],
           "P2 labour_capacity provenance: CITY, precedence, the city's message")
    for f, want_v in (("phone", "13900000002"), ("residence_address", "罗湖区东门街道2号")):
        expect(r[f] == want_v, "P2 %s is the province's newer value (latest)" % f)
        expect(pv[f]["platform"] == "PROVINCE" and pv[f]["rule"] == "latest"
               and pv[f]["source_position"] == pos[3]
               and pv[f]["effective_time"] == msgs[3][4] and pv[f]["source_time"] == msgs[3][4],
               "P2 %s provenance: PROVINCE, latest, %s, t0+20 s: %r" % (f, pos[3], pv[f]))
    expect(r["name"] == "林秀英" and pv["name"]["rule"] == "manual",
           "P2 name: both platforms agree (manual, no conflict)")
    expect(pv["name"]["conflict_id"] is None, "P2 name has no conflict")
    expect(pv["disabled"]["platform"] == "CITY" and pv["disabled"]["source_position"] == pos[2],
           "P2 disabled (both false): the city's (precedence city first)")
    first = min(events[("person", p2)], key=lambda ev: ev["version"])
    expect(first["version"] == 1 and first["record"] == msgs[2][3]
           and all(p["platform"] == "CITY" for p in first["provenance"]),
           "P2 version 1 is the city's record, all of it from the city")

    # H1: the province first (t0+20 s), then the city (t0+10 s): the
    # monitoring category stays the province's (precedence province first);
    # the income, the same 1200.00 on both, is now the city's (precedence city
    # first), and so is every other field both state alike.
    ev = last[("household", h1)]
    r, pv = ev["record"], prov(ev)
    expect(r["monitoring_category"] == "DIBAO" and r["monitoring_since"] == datetime.date(2022, 3, 1),
           "H1 monitoring category and since are the province's (precedence province first)")
    for f in ("monitoring_category", "monitoring_since"):
        expect(pv[f]["platform"] == "PROVINCE" and pv[f]["rule"] == "precedence"
               and pv[f]["source_position"] == pos[4] and pv[f]["effective_time"] == msgs[4][4],
               "H1 %s provenance: PROVINCE, precedence, %s: %r" % (f, pos[4], pv[f]))
    expect(r["per_capita_monthly_income"] == decimal.Decimal("1200.00"),
           "H1 income 1200.00 (a decimal(12,2) through fastavro, Avro C and back)")
    expect(r["members"] == msgs[4][3]["members"], "H1 members")
    store_prov = {(e, k): pr for e, k, pr in db.query(
        "SELECT entity, key, COALESCE(cpsync.provenance_json(prov), provenance) FROM cpsync.records")}
    sp = store_prov[("household", h1)]["per_capita_monthly_income"]
    expect(sp.get("platform") == "city" and sp.get("pos") == pos[5],
           "the store attributes H1's income to the city (precedence city first): %r" % sp)

    # P3: the frame carries registry id 1, the province's own Person revision.
    # The registry, not schemas/schema-ids.json, says what id 1 is: cpsync must
    # fetch it and resolve it to cpsync.Person (ethnic_group dropped).
    gets = registry.get("/__stats")["paths"].get("GET /schemas/ids/%d" % prime_id, 0)
    soft(not dead, "P3 (written with the province's Person revision, registry id %d) is not "
         "dead-lettered: %s" % (prime_id, dead))
    soft(gets >= 1, "cpsync asked the registry for writer schema id %d (%d GETs)" % (prime_id, gets))
    ev3 = last.get(("person", p3))
    soft(ev3 is not None and ev3["record"] == p3_rec,
         "P3's unified record is the province's, resolved to cpsync.Person: %r"
         % (ev3 and ev3["record"]))
    if ev3 is not None:
        soft(all(p["platform"] == "PROVINCE" and p["source_position"] == pos[6]
                 and p["effective_time"] == msgs[6][4] for p in prov(ev3).values()),
             "P3 provenance: PROVINCE, %s, t0+40 s" % pos[6])

    # What a downstream consumer is told must be what the store holds: the
    # newest unified event of every key carries the store's provenance
    # (platform, position, times, rule) for every field.
    p_inc = pv.get("per_capita_monthly_income", {})
    soft(p_inc.get("platform") == "CITY" and p_inc.get("source_position") == pos[5]
         and p_inc.get("effective_time") == msgs[5][4],
         "H1's newest unified event (version %d) attributes the income to %s at %s; the rules "
         "(precedence city first) and cpsync.records say CITY at %s"
         % (ev["version"], p_inc.get("platform"), p_inc.get("source_position"), pos[5]))
    for ek, ev in sorted(last.items()):
        got, want = prov(ev), store_prov[ek]
        diff = {}  # (what the event says, what the store says) -> fields
        for f in sorted(set(got) | set(want)):
            g, w = got.get(f), want.get(f)
            if g is None or w is None:
                side = ("no provenance", "store") if g is None else ("event", "no provenance")
                diff.setdefault(side, []).append(f)
                continue
            if (g["platform"], g["source_position"], g["effective_time"], g["source_time"],
                    g["rule"]) != ((w.get("platform") or "").upper() or None, w.get("pos"),
                                   w.get("eff"), w.get("src"), w.get("rule")):
                diff.setdefault(("%s %s" % (g["platform"], g["source_position"]),
                                 "%s %s" % (w.get("platform"), w.get("pos"))), []).append(f)
        n = sum(len(v) for v in diff.values())
        soft(not diff, "%s %s: the newest unified event (version %d) and cpsync.records "
             "disagree on the provenance of %d fields: %s"
             % (ek[0], {p1: "P1", p2: "P2", p3: "P3", h1: "H1"}[ek[1]], ev["version"], n,
                "; ".join("%s: event says %s, store says %s" % (", ".join(fs), e, st)
                          for (e, st), fs in diff.items())))
    hp = db.query("SELECT version, provenance->'per_capita_monthly_income'->>'platform' "
                  "FROM cpsync.record_history WHERE entity = 'household' AND key = %s "
                  "ORDER BY version", (h1,))
    L.info("H1: cpsync.records version %d, income from %s; record_history: %s" % (
        records[("household", h1)][0], sp.get("platform"),
        ", ".join("v%d income from %s" % row for row in hp)))

    conflicts = db.query("SELECT entity, field, status FROM cpsync.conflicts WHERE status = 'open'")
    expect(conflicts == [], "no open conflicts (no manual field disagrees): %s" % conflicts)
    if SOFT:
        L.fail("%d of %d checks failed (cpsync's log: %s):\n  - %s" % (
            len(SOFT), CHECKS[0], cps.logpath, "\n  - ".join(SOFT)))
    L.info("%d unified events (%d person, %d household) decoded by AvroDeserializer; "
           "registry subjects: %s" % (
               len(raw), sum(len(v) for k, v in events.items() if k[0] == "person"),
               sum(len(v) for k, v in events.items() if k[0] == "household"),
               ", ".join(sorted(registry.get("/subjects")))))


if __name__ == "__main__":
    main()
