"""Shared harness of the end-to-end tests (tests/e2e/*.py): a private
database per test, the standalone broker (broker_main), a cpsync process
with its own configuration, /status polling, and independent Avro framing
(python3-avro, single-object and Confluent) for producing and consuming.
Builds on tests/lib/cpsynctest.py (process, database, HTTP, polling), whose
names it re-exports. Run with Debian's /usr/bin/python3 (python3-avro,
-confluent-kafka, -psycopg2).
"""
import argparse
import io
import json
import os
import struct
import subprocess
import sys
import time

import avro.io
import avro.schema
from confluent_kafka import OFFSET_BEGINNING, Consumer, KafkaException, Producer, TopicPartition

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
# the shared harness, re-exported: the scripts call L.fail, L.Cpsync, L.Database ...
from cpsynctest import (DIE_WITH_US, TOKEN, Cpsync, Database, conninfo_with_db,  # noqa: E402,F401
                        fail, free_port, http_call, http_fetch, http_get, info, log_tail,
                        national_id, psql, require_pg, set_name, tmpdir, unified_head, wait_for)

ENTITIES = ["person", "household", "enrolment", "verification", "alert"]


def parse_args(name, extra=()):
    """--cpsync, --broker, --source, --real-kafka and any `extra` (flag,
    add_argument kwargs). With --real-kafka the test runs on the real Kafka
    of CPSYNC_TEST_KAFKA (and fails when it is unset) instead of broker_main:
    args.kafka is its bootstrap, and args.pfx a prefix unique to this test
    run for the names it creates there (topics, consumer groups); without it
    args.pfx is "" and --broker is required."""
    set_name(name)
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--broker")
    ap.add_argument("--source", required=True)
    ap.add_argument("--real-kafka", action="store_true",
                    help="run on the real broker of $CPSYNC_TEST_KAFKA")
    for flag, kw in extra:
        ap.add_argument(flag, **kw)
    args = ap.parse_args()
    args.pg = require_pg()
    args.kafka = None
    args.pfx = ""
    if args.real_kafka:
        args.kafka = real_kafka_bootstrap()
        args.pfx = unique_prefix(name)
    elif not args.broker:
        fail("--broker BROKER_MAIN is required without --real-kafka")
    args.schemas = os.path.join(args.source, "schemas")
    return args


def real_kafka_bootstrap():
    """The bootstrap of the tests' real Kafka; fails (never skips) without it."""
    b = os.environ.get("CPSYNC_TEST_KAFKA")
    if not b:
        fail("CPSYNC_TEST_KAFKA is not set: this test needs a real Kafka broker "
             "(deploy/test.sh starts one: deploy/kafka-private.sh start var/test-kafka 19092)")
    return b


def unique_prefix(name):
    """A prefix for the topics and groups of one test run on a shared broker:
    the test's name and pid ('_' would make Kafka warn of a metric-name
    collision with '.')."""
    return "%s-%d." % (name.replace("_", "-"), os.getpid())


# -------------------------------------------------------------------- broker

class Broker:
    """broker_main in its own process: outlives any cpsync."""

    def __init__(self, binary, partitions, topics):
        cmd = [binary, "--partitions", str(partitions)]
        for t in topics:
            cmd += ["--topic", t]
        self.proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     stderr=subprocess.DEVNULL)
        line = self.proc.stdout.readline().decode().strip()
        if not line.startswith("bootstrap="):
            self.stop()
            fail("broker_main did not print its bootstrap (got %r)" % line)
        self.bootstrap = line.split("=", 1)[1]

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        if self.proc.poll() is None:
            self.proc.stdin.close()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class RealKafka:
    """A test's topics on a real Kafka cluster (the shared CPSYNC_TEST_KAFKA, or
    a cluster the test started): created with their partition counts at
    construction ("name:partitions" as for Broker, `partitions` otherwise),
    deleted by stop(). The same face as Broker: bootstrap, alive(), stop().
    They keep every message (retention.ms -1): the tests produce records with
    fixed timestamps of 2023, which a real broker's time retention (7 days)
    would delete at its next check, within 5 minutes."""

    def __init__(self, bootstrap, partitions, topics, replication=-1, config=None):
        self.bootstrap = bootstrap
        self.admin = admin_client(bootstrap)
        self.topics = {}
        for t in topics:
            name, _, n = t.partition(":")
            self.topics[name] = int(n) if n else partitions
        conf = {"retention.ms": "-1"}
        conf.update(config or {})
        create_topics(self.admin, self.topics, replication, conf)

    def alive(self):
        try:
            self.admin.list_topics(timeout=10)
            return True
        except Exception:  # noqa: BLE001 (KafkaException: the cluster does not answer)
            return False

    def stop(self):
        try:
            delete_topics(self.admin, list(self.topics), wait_s=0)
        except Exception as e:  # noqa: BLE001 (cleanup: say it, do not mask the verdict)
            info("deleting the test's topics: %s" % e)


def open_broker(args, partitions, topics):
    """broker_main, or with --real-kafka the test's topics on the real broker."""
    if args.real_kafka:
        return RealKafka(args.kafka, partitions, topics)
    return Broker(args.broker, partitions, topics)


def admin_client(bootstrap):
    from confluent_kafka.admin import AdminClient
    return AdminClient({"bootstrap.servers": bootstrap})


def create_topics(admin, topics, replication=-1, config=None, timeout_s=60):
    """topics: {name: partitions}. Retries while a deleted topic of the same
    name is still being removed (deletion is asynchronous)."""
    from confluent_kafka import KafkaError
    from confluent_kafka.admin import NewTopic
    todo = dict(topics)
    deadline = time.monotonic() + timeout_s
    while todo:
        futs = admin.create_topics([NewTopic(t, num_partitions=n, replication_factor=replication,
                                             config=dict(config or {}))
                                    for t, n in todo.items()], operation_timeout=30)
        last = None
        for t, f in futs.items():
            try:
                f.result()
                del todo[t]
            except Exception as e:  # noqa: BLE001
                err = e.args[0] if e.args and isinstance(e.args[0], KafkaError) else None
                if err is not None and err.code() == KafkaError.TOPIC_ALREADY_EXISTS:
                    # exists, or still being deleted: wait until it is gone or usable
                    if not _marked_for_deletion(admin, t):
                        del todo[t]
                        continue
                last = "%s: %s" % (t, e)
        if todo:
            if time.monotonic() > deadline:
                fail("creating topics %s: %s" % (sorted(todo), last))
            time.sleep(0.5)
    # metadata of every broker knows them before anyone produces or subscribes
    deadline = time.monotonic() + timeout_s
    while True:
        md = admin.list_topics(timeout=10).topics
        if all(t in md and not md[t].error and len(md[t].partitions) == n
               for t, n in topics.items()):
            return
        if time.monotonic() > deadline:
            fail("topics %s not in the metadata after creating them" % sorted(topics))
        time.sleep(0.2)


def _marked_for_deletion(admin, topic):
    md = admin.list_topics(timeout=10).topics
    return topic not in md or md[topic].error is not None


def delete_topics(admin, names, wait_s=60):
    """Deletes `names` (missing ones are fine); with wait_s, until the
    metadata no longer lists them."""
    from confluent_kafka import KafkaError
    futs = admin.delete_topics(list(names), operation_timeout=30)
    for t, f in futs.items():
        try:
            f.result()
        except Exception as e:  # noqa: BLE001
            err = e.args[0] if e.args and isinstance(e.args[0], KafkaError) else None
            if err is None or err.code() != KafkaError.UNKNOWN_TOPIC_OR_PART:
                raise
    deadline = time.monotonic() + wait_s
    while wait_s:
        md = admin.list_topics(timeout=10).topics
        if not any(t in md for t in names):
            return
        if time.monotonic() > deadline:
            fail("topics %s still listed %d s after their deletion" % (sorted(names), wait_s))
        time.sleep(0.2)


# ----------------------------------------------------------- configuration

def load_rules(source):
    """The `rules:` section of deploy/rules.default.yaml, verbatim."""
    with open(os.path.join(source, "deploy/rules.default.yaml")) as f:
        text = f.read()
    i = text.index("\nrules:")
    return text[i + 1:]


def platforms_yaml(platforms, brokers, group_suffix, kafka_consumer_properties=None):
    """platforms: {name: (framing, {topic: entity})} on the kafka connector;
    {name: None}: a platform the rules name, disabled."""
    out = ["platforms:"]
    for name, conf in platforms.items():
        if conf is None:
            out += ["  %s:" % name, "    connector: kafka", "    enabled: false"]
            continue
        framing, topics = conf
        out += ["  %s:" % name, "    connector: kafka", "    source:",
                "      brokers: %s" % brokers,
                "      group_id: e2e-%s-%s" % (name, group_suffix),
                "      framing: %s" % framing,
                "      topics: [%s]" % ", ".join(topics)]
        for k, v in (kafka_consumer_properties or {}).items():
            out.append("      properties.%s: \"%s\"" % (k, v))
        out.append("      topic:")
        for t, e in topics.items():
            if e is not None:
                out.append("        %s: {entity: %s}" % (t, e))
    return "\n".join(out) + "\n"


def write_config(path, *, instance, schemas, bootstrap, conninfo, platforms, source,
                 ingest_topic="cpsync.ingest", dead_letter_topic="cpsync.deadletter",
                 unified_prefix="cpsync.unified.", workers=2, batch_size=1000, batch_ms=50,
                 group_suffix="0", kafka_consumer_properties=None):
    text = """\
instance: {instance}
log:
  level: info
schemas:
  dir: {schemas}
kafka:
  brokers: {bootstrap}
  ingest_topic: {ingest}
  unified_topic_prefix: {prefix}
  dead_letter_topic: {dlt}
  group_id: e2e-reconcile-{suffix}
store:
  conninfo: "{conninfo}"
  batch_size: {batch_size}
  batch_ms: {batch_ms}
http:
  listen: 127.0.0.1:0
  tokens:
    e2e: {{token: "{token}", role: viewer}}
reconcile:
  workers: {workers}
""".format(instance=instance, schemas=schemas, bootstrap=bootstrap, ingest=ingest_topic,
           prefix=unified_prefix, dlt=dead_letter_topic, suffix=group_suffix,
           conninfo=conninfo, token=TOKEN, batch_size=batch_size, batch_ms=batch_ms, workers=workers)
    # broker_main is librdkafka's mock cluster: its coordinator waits
    # session.timeout.ms - 1 s for more members when one joins an assigned
    # group, so with librdkafka's 45 s a worker joining a moment late under
    # load stalled the group for 44 s (cpsync sets the same for its embedded
    # broker). 6 s is also the least a real broker accepts.
    kafka_consumer_properties = dict({"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000},
                                     **(kafka_consumer_properties or {}))
    if kafka_consumer_properties:
        i = text.index("  group_id:")
        j = text.index("\n", i) + 1
        text = text[:j] + "  consumer:\n" + "".join(
            "    %s: \"%s\"\n" % kv for kv in kafka_consumer_properties.items()) + text[j:]
    text += platforms_yaml(platforms, bootstrap, group_suffix, kafka_consumer_properties)
    text += load_rules(source)
    with open(path, "w") as f:
        f.write(text)


# ----------------------------------------------------------------- Avro

def crc64_avro(data):
    """CRC-64-AVRO (the Rabin fingerprint of the Avro specification)."""
    empty = 0xC15D213AA4D7A795
    table = []
    for i in range(256):
        fp = i
        for _ in range(8):
            fp = (fp >> 1) ^ (empty & -(fp & 1))
        table.append(fp)
    fp = empty
    for b in data:
        fp = (fp >> 8) ^ table[(fp ^ b) & 0xFF]
    return fp


class Schemas:
    """Resolved entity and unified-event schemas (from `cpsync schema show`),
    their fingerprints (computed here) and registry-free ids."""

    def __init__(self, cpsync, schema_dir):
        with open(os.path.join(schema_dir, "schema-ids.json")) as f:
            self.ids = json.load(f)
        self.entity = {}
        self.event = {}
        self.fingerprint = {}
        for e in ENTITIES:
            self.entity[e] = self._load(cpsync, schema_dir, "%s.avsc" % e)
            self.event[e] = self._load(cpsync, schema_dir, "unified/%s_event.avsc" % e)
            pcf = self.entity[e].canonical_form.encode()
            self.fingerprint[e] = crc64_avro(pcf)
        self.by_id = {}
        for e in ENTITIES:
            self.by_id[self.ids[self.event[e].fullname]] = self.event[e]

    @staticmethod
    def _load(cpsync, schema_dir, rel):
        text = subprocess.run([cpsync, "schema", "show", os.path.join(schema_dir, rel),
                               "--schemas", schema_dir], check=True,
                              stdout=subprocess.PIPE).stdout.decode()
        return avro.schema.parse(json.dumps(strip_logical(json.loads(text))))

    def body(self, entity, record):
        buf = io.BytesIO()
        avro.io.DatumWriter(self.entity[entity]).write(record, avro.io.BinaryEncoder(buf))
        return buf.getvalue()

    def single_object(self, entity, record):
        return b"\xc3\x01" + struct.pack("<Q", self.fingerprint[entity]) + self.body(entity, record)

    def confluent(self, entity, record):
        sid = self.ids[self.entity[entity].fullname]
        return b"\x00" + struct.pack(">I", sid) + self.body(entity, record)

    def frame(self, framing, entity, record):
        if framing == "single-object":
            return self.single_object(entity, record)
        if framing == "confluent":
            return self.confluent(entity, record)
        fail("unknown framing " + framing)

    def decode_unified(self, value):
        """A unified event (Confluent or single-object framing) as a dict."""
        if value[:1] == b"\x00":
            sid = struct.unpack(">I", value[1:5])[0]
            schema = self.by_id.get(sid)
            if schema is None:
                fail("unified event with unknown schema id %d" % sid)
            body = value[5:]
        elif value[:2] == b"\xc3\x01":
            fp = struct.unpack("<Q", value[2:10])[0]
            schema = None
            for e in ENTITIES:
                if crc64_avro(self.event[e].canonical_form.encode()) == fp:
                    schema = self.event[e]
            if schema is None:
                fail("unified event with unknown fingerprint %016x" % fp)
            body = value[10:]
        else:
            fail("unified event with unknown framing byte %r" % value[:2])
        dec = avro.io.BinaryDecoder(io.BytesIO(body))
        out = avro.io.DatumReader(schema, schema).read(dec)
        if dec.reader.read(1):
            fail("trailing bytes after a unified event")
        return out


def strip_logical(node):
    """The schema without logical types (canonical form and fingerprint are
    unchanged): dates stay ints and decimals stay their two's-complement bytes."""
    if isinstance(node, dict):
        drop = ("logicalType", "precision", "scale") if "logicalType" in node else ()
        return {k: strip_logical(v) for k, v in node.items() if k not in drop}
    if isinstance(node, list):
        return [strip_logical(v) for v in node]
    return node


def money(cents):
    """A decimal(12, 2) amount of `cents` as Avro bytes (big-endian two's complement)."""
    n = max(1, (cents.bit_length() + 8) // 8)
    return cents.to_bytes(n, "big", signed=True)


def avro_json_bytes(b):
    """bytes as the Avro JSON string of code points 0-255."""
    return b.decode("latin-1")


# ----------------------------------------------------------------- Kafka

def producer(bootstrap, conf=None):
    """The idempotent producer of the tests; `conf` adds or overrides properties."""
    c = {"bootstrap.servers": bootstrap, "linger.ms": 20, "enable.idempotence": True,
         "queue.buffering.max.messages": 200000, "batch.num.messages": 2000}
    c.update(conf or {})
    return Producer(c)


def produce_all(p, msgs):
    """msgs: iterable of (topic, key, value, headers, timestamp_ms or None).
    Returns the delivered (topic, partition, offset) per message, in order."""
    out = [None] * 0
    errors = []

    def make_cb(i):
        def cb(err, m):
            if err:
                errors.append(str(err))
            else:
                out[i] = (m.topic(), m.partition(), m.offset())
        return cb

    msgs = list(msgs)
    out = [None] * len(msgs)
    for i, (topic, key, value, headers, ts) in enumerate(msgs):
        kw = {"on_delivery": make_cb(i)}
        if headers:
            kw["headers"] = headers
        if ts is not None:
            kw["timestamp"] = ts
        while True:
            try:
                p.produce(topic, value=value, key=key, **kw)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    p.flush(120)
    if errors or any(o is None for o in out):
        fail("producing failed: %s" % (errors[:3] or "undelivered messages"))
    return out


def consume_all(bootstrap, topics, timeout_s=120):
    """Every message of `topics`, from the beginning to the high watermarks
    read at the call: list of (topic, partition, offset, key, value, headers)."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-reader-%d" % os.getpid(),
                  "enable.auto.commit": False, "enable.partition.eof": False})
    want = {}
    for t in topics:
        md = c.list_topics(t, timeout=10)
        for pid in md.topics[t].partitions:
            lo, hi = c.get_watermark_offsets(TopicPartition(t, pid), timeout=10)
            if hi > lo:
                want[(t, pid)] = hi
    c.assign([TopicPartition(t, p, OFFSET_BEGINNING) for (t, p) in want])
    out = []
    deadline = time.monotonic() + timeout_s
    while want and time.monotonic() < deadline:
        for m in c.consume(num_messages=5000, timeout=0.5):
            if m.error():
                continue
            tp = (m.topic(), m.partition())
            if tp in want and m.offset() < want[tp]:
                out.append((m.topic(), m.partition(), m.offset(), m.key(), m.value(),
                            m.headers() or []))
                if m.offset() + 1 >= want[tp]:
                    del want[tp]
    c.close()
    if want:
        fail("reading %s timed out with %d partitions unfinished" % (topics, len(want)))
    return out


def end_offsets(bootstrap, topic, timeout_s=30):
    """Sum of the high watermarks of `topic`'s partitions. A topic just
    created on a real broker may answer "not leader" for a moment: retried."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-wm-%d" % os.getpid()})
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            md = c.list_topics(topic, timeout=10)
            total = 0
            for pid in md.topics[topic].partitions:
                lo, hi = c.get_watermark_offsets(TopicPartition(topic, pid), timeout=10)
                total += hi
            c.close()
            return total
        except KafkaException:
            if time.monotonic() > deadline:
                c.close()
                raise
            time.sleep(0.5)
