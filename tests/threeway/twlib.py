"""Shared harness of the threeway tests (tests/threeway/*.py): the city as a
fresh PostgreSQL database (tests/threeway/city.sql) captured by the postgres
source and written by the postgres sink, Shenshan as inbox/outbox directories,
the province on Kafka topics, the store in its own fresh database, and one
cpsync configuration wiring the three. Builds on tests/e2e/e2elib.py and
tests/lib/cpsynctest.py.
"""
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2elib as L  # noqa: E402

PERSON_FIELDS = ["national_id", "name", "gender", "birth_date", "registration_region_code",
                 "residence_region_code", "residence_address", "has_residence_permit",
                 "disabled", "disability_grade", "seriously_ill", "labour_capacity", "phone",
                 "household_id", "deceased"]
HOUSEHOLD_FIELDS = ["household_id", "head_national_id", "members", "member_count",
                    "region_code", "household_type", "per_capita_monthly_income",
                    "monitoring_category", "monitoring_since"]
# Shenshan may not see phone numbers
SHENSHAN_PERSON = [f for f in PERSON_FIELDS if f != "phone"]
LINKS = ["%s-%s" % (p, d) for p in ("province", "city", "shenshan")
         for d in ("source", "sink")]


class City:
    """The city database: city.sql applied; its slot and origin names are
    unique to this process (both are cluster-wide objects)."""

    def __init__(self, base, tag, source_dir):
        self.db = L.Database(base, "tw_city_%s" % tag)
        self.slot = "cps_tw_%s_%d" % (tag, os.getpid())
        self.origin = "cpsync_tw_%s_%d" % (tag, os.getpid())
        self.publication = "cps_tw_%s" % tag
        with open(os.path.join(source_dir, "tests/threeway/city.sql")) as f:
            exec_sql(self.db, f.read())

    def query(self, sql, args=None):
        return self.db.query(sql, args)

    def execute(self, sql, args=None):
        exec_sql(self.db, sql, args)

    def slot_row(self):
        """(active_pid, confirmed_flush_lsn, restart_lsn) as numbers, or None."""
        rows = self.db.query(
            "SELECT active_pid, confirmed_flush_lsn - '0/0'::pg_lsn, restart_lsn - '0/0'::pg_lsn "
            "FROM pg_replication_slots WHERE slot_name = %s", (self.slot,))
        if not rows:
            return None
        return (rows[0][0], int(rows[0][1] or 0), int(rows[0][2] or 0))

    def drop(self):
        """After cpsync is gone: the slot, the origin, the database."""
        try:
            deadline = time.monotonic() + 20
            while True:
                r = self.slot_row()
                if r is None:
                    break
                if r[0] is None:
                    self.db.query("SELECT pg_drop_replication_slot(%s)", (self.slot,))
                    break
                if time.monotonic() > deadline:
                    break
                time.sleep(0.2)
            self.db.query("SELECT pg_replication_origin_drop(%s) WHERE "
                          "pg_replication_origin_oid(%s) IS NOT NULL",
                          (self.origin, self.origin))
        finally:
            self.db.drop()


def exec_sql(db, sql, args=None):
    """A statement without a result set, on db's autocommit connection."""
    db.execute(sql, args)


def allow(fields):
    return "\"%s\"" % ", ".join(fields)


def write_config(path, *, instance, schemas, source, store_conninfo, city, shenshan_dir,
                 brokers="embedded", partitions=2, status_interval_ms=1000,
                 province_brokers=None, roll_records=1, prefix=""):
    """The three platforms on their real transports. `brokers`: "embedded"
    (in-process) or a bootstrap list (a broker that outlives cpsync).
    `province_brokers`: the province's own Kafka, when not cpsync's.
    `prefix`: prepended to every topic and to the reconcile and province
    source consumer groups (tests sharing one real broker)."""
    city_conn = city.db.conninfo
    text = """\
instance: {instance}
log:
  level: info
schemas:
  dir: {schemas}
kafka:
  brokers: {brokers}
  embedded:
    partitions: {partitions}
  ingest_topic: {p}cpsync.ingest
  unified_topic_prefix: {p}cpsync.unified.
  dead_letter_topic: {p}cpsync.deadletter
  group_id: {p}tw-reconcile
  consumer:
    session.timeout.ms: 6000
    heartbeat.interval.ms: 500
  producer:
    linger.ms: 5
store:
  conninfo: "{store}"
  batch_size: 1000
  batch_ms: 50
http:
  listen: 127.0.0.1:0
  open_routes: [/healthz, /readyz, /metrics, /status]
reconcile:
  workers: 2
  state_cache_mb: 24  # the state cache on (off by default): three platforms through it
platforms:
  province:
    connector: kafka
    source:{prov_brokers}{prov_group}
      framing: single-object
      topics: [{p}province.person, {p}province.household]
      topic:
        {p}province.person: {{entity: person}}
        {p}province.household: {{entity: household}}
    sink:{prov_brokers}
      framing: single-object
      entity:
        person: {{topic: {p}province.inbound.person}}
        household: {{topic: {p}province.inbound.household}}
      allow:
        person: {prov_person}
        household: {household}
  city:
    connector: postgres
    source:
      framing: raw
      conninfo: "{city}"
      schema_dir: {schemas}
      slot: {slot}
      publication: {publication}
      ignore_origin: {origin}
      status_interval_ms: {status_ms}
      table:
        city.person: {{entity: person}}
        city.household: {{entity: household}}
    sink:
      conninfo: "{city}"
      origin: {origin}
      table:
        person: inbound.person
        household: inbound.household
      allow:
        person: {city_person}
        household: {household}
  shenshan:
    connector: files
    source:
      inbox: {ss}/inbox
      stable_ms: 300
    sink:
      outbox: {ss}/outbox
      schema_dir: {schemas}
      roll_records: {roll_records}
      roll_ms: 300
      allow:
        person: {ss_person}
        household: {household}
""".format(instance=instance, schemas=schemas, brokers=brokers, partitions=partitions,
           store=store_conninfo, city=city_conn, slot=city.slot, publication=city.publication,
           origin=city.origin, status_ms=status_interval_ms, ss=shenshan_dir,
           prov_person=allow(PERSON_FIELDS), city_person=allow(PERSON_FIELDS),
           ss_person=allow(SHENSHAN_PERSON), household=allow(HOUSEHOLD_FIELDS),
           roll_records=roll_records, p=prefix,
           prov_group=("\n      group_id: %scpsync-source-province" % prefix) if prefix else "",
           prov_brokers=("\n      brokers: " + province_brokers) if province_brokers else "")
    text += L.load_rules(source)
    with open(path, "w") as f:
        f.write(text)


def link_states(cps):
    doc = cps.status()
    if not doc:
        return {}
    return {l["name"]: l["state"] for l in doc.get("links", [])}


def wait_links_running(cps, timeout=90, names=LINKS):
    deadline = time.monotonic() + timeout
    states = {}
    while time.monotonic() < deadline:
        if not cps.alive():
            L.fail("cpsync exited\n" + cps.tail())
        states = link_states(cps)
        if all(states.get(n) == "RUNNING" for n in names):
            return states
        time.sleep(0.2)
    L.fail("links not all RUNNING within %d s: %s\n%s" % (timeout, states, cps.tail()))


# polls until a condition holds (tests/lib/cpsynctest.py)
wait_for = L.wait_for


def plain(v):
    """Avro JSON (union branches wrapped) to plain values."""
    if isinstance(v, dict):
        if len(v) == 1:
            (k, inner), = v.items()
            if k in ("string", "int", "long", "boolean", "bytes", "double", "float") \
                    or "." in k or k[:1].isupper():
                return plain(inner)
        return {k: plain(x) for k, x in v.items()}
    if isinstance(v, list):
        return [plain(x) for x in v]
    return v


def outbox_people(outbox):
    """Every person record of the complete (manifested) outbox files, in
    file order."""
    import avro.datafile
    import avro.io
    out = []
    for name in sorted(os.listdir(outbox)):
        if not name.startswith("person-") or not name.endswith(".avro"):
            continue
        if not os.path.exists(os.path.join(outbox, name + ".manifest.json")):
            continue
        with open(os.path.join(outbox, name), "rb") as f:
            with avro.datafile.DataFileReader(f, avro.io.DatumReader()) as r:
                out.extend(r)
    return out


class OutboxFull:
    """No room in Shenshan's outbox: a tmpfs of `size` mounted on it and
    filled to the last byte, or (where mounting is refused) the folder taken
    away. start() begins the fault and says which, end() ends it, close()
    unmounts."""

    def __init__(self, outbox, size):
        self.outbox = outbox
        self.mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=%s,mode=0700" % size,
                                       "tmpfs", outbox], capture_output=True).returncode == 0
        self.filler = os.path.join(outbox, ".filler")

    def start(self):
        if not self.mounted:
            os.rename(self.outbox, self.outbox + ".away")
            return "the outbox folder taken away (mount refused)"
        fd = os.open(self.filler, os.O_WRONLY | os.O_CREAT, 0o600)
        try:
            while os.write(fd, b"\0" * 4096) > 0:
                pass
        except OSError:
            pass
        os.close(fd)
        return "the outbox tmpfs full"

    def end(self):
        if self.mounted:
            os.unlink(self.filler)
        else:
            os.rename(self.outbox + ".away", self.outbox)

    def close(self):
        if self.mounted:
            subprocess.run(["umount", "-l", self.outbox], capture_output=True)
