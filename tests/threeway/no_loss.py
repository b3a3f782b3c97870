#!/usr/bin/python3
"""threeway.no_loss_*: nothing a platform handed to cpsync is lost across a
restart of the embedded default (issue: a source's position is acknowledged
only once its events are in the store, and a fresh ingest topic is
recognised). cpsync runs on its embedded broker (ingest and unified topics
die with the process); the city is a PostgreSQL database captured by its
replication slot, Shenshan an inbox of Avro container files written by
python3-avro, and the province a Kafka topic on a standalone broker
(broker_main) that outlives cpsync, as the province's own cluster would.
Each platform writes its own persons (disjoint keys), so every rule picks
that platform's value and "its last value" is unambiguous.

Scenarios (--scenario):
- restart: a fresh, idle cpsync answers /readyz 200 within 30 s with every
  link RUNNING. After a first load it is stopped with SIGTERM; while it is
  down a 6,000-record file lands in the inbox, the city inserts 150 rows and
  updates 50, the province produces 500 changes. After the restart every one
  of them is in the store and on the unified topic at its last value, each
  key's versions are 1..n with n its number of distinct values (nothing
  applied twice), and the log says once that the ingest topic is a new one.
- kill: files, city changes and province events flow while cpsync is
  SIGKILLed 10 times at random moments and restarted. Afterwards every
  record any platform handed over is in the store at its last value,
  versions are gapless, and on the last run's unified topic no (key,
  version) carries two contents.

With --real-kafka (kafka_real.no_loss_restart, kafka_real.no_loss_kill)
cpsync's own Kafka is the real broker of $CPSYNC_TEST_KAFKA instead of
`embedded`, and the province's topics live there too (every topic and
consumer group name prefixed uniquely to the run; created beforehand,
deleted afterwards). The ingest and unified topics then survive cpsync:
- restart: the log must NOT say that the ingest topic is a new one (it says
  that its stored offsets were verified), and the unified topic holds every
  (key, version) of the history, of both runs;
- kill: the same over all eleven runs: every (key, version) of the history
  is on the unified topic, none with two contents.

usage: no_loss.py --cpsync BIN (--broker BROKER_MAIN | --real-kafka) --source SOURCE_DIR
                  --scenario S
"""
import datetime
import os
import random
import threading
import time

import avro.datafile
import avro.io
import psycopg2

import twlib as T
from twlib import L

EPOCH = datetime.date(1970, 1, 1)
REGION = {"province": "440303", "city": "440305", "shenshan": "441521"}
SEED = int(os.environ.get("CPSYNC_TW_SEED", str(int(time.time()))))
PFX = ""  # topic and group prefix on a shared real broker


def nid(platform, i):
    """A distinct valid national ID per (platform, i), i < 28,000."""
    born = datetime.date(1950, 1, 1) + datetime.timedelta(days=i // 1000)
    return L.national_id(REGION[platform], born.strftime("%Y%m%d"), i % 1000)


def person(platform, i, address):
    return {"national_id": nid(platform, i), "name": "测试%d" % i, "gender": "FEMALE",
            "birth_date": 365 * 30 + i % 300, "registration_region_code": REGION[platform],
            "residence_region_code": REGION[platform], "residence_address": address,
            "has_residence_permit": False, "disabled": False, "disability_grade": None,
            "seriously_ill": False, "labour_capacity": "FULL", "phone": None,
            "household_id": None, "deceased": False}


class Platforms:
    """The three platforms' writers; `last[key]` is the last address each
    key was given, `values[key]` its distinct addresses in order."""

    def __init__(self, schemas, city, inbox, province_bootstrap):
        self.schemas = schemas
        self.city = city
        self.inbox = inbox
        self.producer = L.producer(province_bootstrap)
        self.last = {}
        self.values = {}
        self.files = 0
        self.handed = 0  # records handed to cpsync by the three platforms
        self.lock = threading.Lock()
        self.city_conn = psycopg2.connect(city.db.conninfo)
        self.city_conn.autocommit = True

    def _note(self, key, address):
        with self.lock:
            self.last[key] = address
            vals = self.values.setdefault(key, [])
            if not vals or vals[-1] != address:
                vals.append(address)

    def shenshan_file(self, recs):
        """recs: [(i, address)] written as one container file."""
        self.files += 1
        name = "ss-%05d.avro" % self.files
        tmp = os.path.join(self.inbox, "." + name + ".tmp")
        with open(tmp, "wb") as f:
            w = avro.datafile.DataFileWriter(f, avro.io.DatumWriter(),
                                             self.schemas.entity["person"], codec="deflate")
            for i, addr in recs:
                w.append(person("shenshan", i, addr))
            w.close()
        os.rename(tmp, os.path.join(self.inbox, name))
        self.handed += len(recs)
        for i, addr in recs:
            self._note(nid("shenshan", i), addr)

    def city_upsert(self, recs):
        """recs: [(i, address)] in one transaction."""
        cols = T.PERSON_FIELDS
        with self.city_conn.cursor() as c:
            c.execute("BEGIN")
            for i, addr in recs:
                rec = person("city", i, addr)
                vals = [rec[k] for k in cols]
                vals[cols.index("birth_date")] = EPOCH + datetime.timedelta(
                    days=rec["birth_date"])
                c.execute("INSERT INTO city.person (%s) VALUES (%s) ON CONFLICT (national_id) "
                          "DO UPDATE SET residence_address = EXCLUDED.residence_address"
                          % (", ".join(cols), ", ".join(["%s"] * len(cols))), vals)
            c.execute("COMMIT")
        self.handed += len(recs)
        for i, addr in recs:
            self._note(nid("city", i), addr)

    def province(self, recs, effective_ms):
        msgs = [(PFX + "province.person", nid("province", i).encode(),
                 self.schemas.single_object("person", person("province", i, addr)),
                 [("effective_time", str(effective_ms + n).encode())], None)
                for n, (i, addr) in enumerate(recs)]
        L.produce_all(self.producer, msgs)
        self.handed += len(recs)
        for i, addr in recs:
            self._note(nid("province", i), addr)


def store_addresses(store):
    rows = store.query("SELECT key, record->'residence_address' FROM cpsync.records "
                       "WHERE entity = 'person'")
    return {k: T.plain(a) for k, a in rows}


def wait_applied(cps, store, plats, timeout):
    deadline = time.monotonic() + timeout
    while True:
        have = store_addresses(store)
        missing = [k for k, a in plats.last.items() if have.get(k) != a]
        if not missing:
            return
        if not cps.alive():
            L.fail("cpsync died\n" + cps.tail())
        if time.monotonic() > deadline:
            by = {}
            for k in missing:
                p = [p for p, r in REGION.items() if k.startswith(r)][0]
                by[p] = by.get(p, 0) + (1 if k in have else 1000000)
            L.fail("%d of %d keys are not at their last value after %d s (per platform: "
                   "stale + 1000000 x absent: %s); status %s\n%s"
                   % (len(missing), len(plats.last), timeout, by, cps.status(), cps.tail()))
        time.sleep(0.5)


def check_versions(store, plats, exact):
    """Versions 1..n per key; with `exact`, n = its number of distinct values."""
    rows = store.query("SELECT key, array_agg(version ORDER BY version) FROM "
                       "cpsync.record_history WHERE entity = 'person' GROUP BY key")
    hist = dict(rows)
    bad = []
    for key, vals in plats.values.items():
        v = hist.get(key, [])
        if v != list(range(1, len(v) + 1)) or (exact and len(v) != len(vals)):
            bad.append((key[:6] + "…", v[:8], len(vals)))
    if bad:
        L.fail("%d keys with versions not 1..n%s, e.g. %s"
               % (len(bad), " = their distinct values" if exact else "", bad[:3]))
    if not exact:
        # more versions than distinct values: events delivered again after a
        # kill and applied again (a change back to an older value, then forth)
        more = [k for k, vals in plats.values.items() if len(hist.get(k, [])) > len(vals)]
        by = {}
        for k in more:
            p = [p for p, r in REGION.items() if k.startswith(r)][0]
            by[p] = by.get(p, 0) + 1
        if more:
            seq = [T.plain(a) for (a,) in store.query(
                "SELECT record->'residence_address' FROM cpsync.record_history WHERE "
                "entity = 'person' AND key = %s ORDER BY version", (more[0],))]
            L.info("%d keys have more versions than distinct values (per platform %s), "
                   "e.g. versions %s for values %s"
                   % (len(more), by, seq, plats.values[more[0]]))
    return sum(len(v) for v in hist.values())


def unified_by_key_version(schemas, bootstrap):
    """{(key, version): payload} of cpsync.unified.person; fails when one
    (key, version) carries two contents."""
    seen = {}
    n = 0
    for _, _, _, key, value, headers in L.consume_all(bootstrap, [PFX + "cpsync.unified.person"]):
        n += 1
        ev = schemas.decode_unified(value)
        kv = (key.decode(), ev["version"])
        if kv in seen and seen[kv] != value:
            L.fail("(key, version %d) carries two different contents on the unified topic"
                   % ev["version"])
        seen[kv] = value
    unified_by_key_version.events = n
    return seen


def all_published(store, cps, schemas, bootstrap):
    """On a surviving unified topic: once the outbox is empty, every (key,
    version) of the person history is there (with one content each).
    Returns (events on the topic, distinct (key, version))."""
    T.wait_for("the outbox to drain",
               lambda: store.query("SELECT count(*) FROM cpsync.outbox")[0][0] == 0, 120, cps)
    got = unified_by_key_version(schemas, bootstrap)
    hist = set(store.query("SELECT key, version FROM cpsync.record_history "
                           "WHERE entity = 'person'"))
    missing = hist - set(got)
    if missing:
        L.fail("%d of %d (key, version) of the history are not on the unified topic"
               % (len(missing), len(hist)))
    extra = set(got) - hist
    if extra:
        L.fail("%d (key, version) on the unified topic are not in the history" % len(extra))
    return unified_by_key_version.events, len(got)


def ready_within(cps, limit):
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        st, doc = L.http_get(cps.port, "/readyz")
        if st == 200:
            return time.monotonic() - t0
        time.sleep(0.2)
    L.fail("/readyz not 200 within %d s of an idle start: %s\n%s" % (limit, doc, cps.tail()))


def embedded_bootstrap(cps):
    return cps.status()["kafka"]["bootstrap"]


def kafka_bootstrap(args, cps):
    return args.kafka if args.real_kafka else embedded_bootstrap(cps)


# ---- scenarios --------------------------------------------------------------------

def scenario_restart(args, schemas, store, city, cps, plats):
    cps.start()
    took = ready_within(cps, 30)
    T.wait_links_running(cps, timeout=30, names=T.LINKS + ["reconcile", "publisher"])
    L.info("idle start: /readyz 200 after %.1f s, every link RUNNING" % took)

    # a first load, so that stored offsets and committed positions exist
    plats.shenshan_file([(i, "ss-a-%d" % i) for i in range(1000)])
    plats.city_upsert([(i, "city-a-%d" % i) for i in range(100)])
    plats.province([(i, "prov-a-%d" % i) for i in range(300)], 1700000000000)
    wait_applied(cps, store, plats, 120)
    rc = cps.stop()
    if rc != 0:
        L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    log_before = len(cps.tail(10 ** 9))

    # while it is down
    plats.shenshan_file([(i, "ss-b-%d" % i) for i in range(500, 6500)])
    plats.city_upsert([(i, "city-b-%d" % i) for i in range(100, 250)])
    plats.city_upsert([(i, "city-c-%d" % i) for i in range(0, 50)])
    plats.province([(i, "prov-b-%d" % i) for i in range(200, 700)], 1700000100000)
    backlog = 6000 + 200 + 500
    cps.start()
    wait_applied(cps, store, plats, 180)
    n_versions = check_versions(store, plats, exact=True)
    # the unified topic of the new embedded broker: every key changed while
    # cpsync was down, at its final version
    final = {k: v for k, v in store.query(
        "SELECT key, version FROM cpsync.records WHERE entity = 'person'")}
    changed = ([nid("shenshan", i) for i in range(500, 6500)]
               + [nid("city", i) for i in list(range(100, 250)) + list(range(50))]
               + [nid("province", i) for i in range(200, 700)])

    def published():
        got = unified_by_key_version(schemas, kafka_bootstrap(args, cps))
        return all((k, final[k]) in got for k in changed)
    T.wait_for("the backlog's final versions on the unified topic", published, 120, cps,
               interval=1)
    log = cps.tail(10 ** 9)[log_before:]
    news = log.count("is a new one")
    if args.real_kafka:
        # the ingest topic outlived cpsync: its stored offsets are verified
        if news != 0:
            L.fail("the restart logged 'ingest topic … is a new one' %d times although the "
                   "real broker kept the topic\n%s" % (news, log[-4000:]))
        if "verified on cluster" not in log:
            L.fail("the restart did not log that the stored ingest offsets were verified\n%s"
                   % log[-4000:])
        n_events, n_distinct = all_published(store, cps, schemas, args.kafka)
    elif news != 1:
        L.fail("the restart logged 'ingest topic … is a new one' %d times, want once\n%s"
               % (news, log[-4000:]))
    rc = cps.stop()
    if rc != 0:
        L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    L.info("clean restart with a backlog of %d records: all at their last value, %d keys, "
           "%d versions, nothing applied twice; lost 0, doubled 0, gaps 0"
           % (backlog, len(plats.last), n_versions))
    if args.real_kafka:
        L.info("events in %d, unified out %d (%d distinct (key, version), every one of the "
               "history, one content each), lost 0, doubled 0, gaps 0; the ingest topic was "
               "verified, not new" % (plats.handed, n_events, n_distinct))


class Flow(threading.Thread):
    """Keeps the three platforms changing until stopped."""

    def __init__(self, plats, rng):
        super().__init__(daemon=True)
        self.plats = plats
        self.rng = rng
        self.stop_flag = threading.Event()
        self.error = None
        self.rounds = 0

    def run(self):
        try:
            eff = 1700000000000
            while not self.stop_flag.is_set():
                r = self.rounds
                self.plats.shenshan_file([(self.rng.randrange(3000), "ss-%d-%d" % (r, k))
                                          for k in range(300)])
                for _ in range(4):
                    keys = self.rng.sample(range(600), 10)
                    self.plats.city_upsert([(i, "city-%d-%d" % (r, i)) for i in keys])
                keys = self.rng.sample(range(1500), 200)
                eff += 1000
                self.plats.province([(i, "prov-%d-%d" % (r, i)) for i in keys], eff)
                self.rounds += 1
                time.sleep(1.0)
        except Exception as e:  # reported by the main thread
            self.error = e


def scenario_kill(args, schemas, store, city, cps, plats):
    rng = random.Random(SEED)
    L.info("seed %d (CPSYNC_TW_SEED)" % SEED)
    cps.start()
    T.wait_links_running(cps, timeout=60)
    flow = Flow(plats, random.Random(SEED + 1))
    flow.start()
    kills = 10
    for k in range(kills):
        time.sleep(rng.uniform(1.0, 4.0))
        cps.kill()
        if flow.error:
            L.fail("the platforms' writer failed: %s" % flow.error)
        L.info("kill %d: SIGKILL after %d rounds of changes" % (k + 1, flow.rounds))
        cps.start()
    time.sleep(2)
    flow.stop_flag.set()
    flow.join(60)
    if flow.error:
        L.fail("the platforms' writer failed: %s" % flow.error)
    wait_applied(cps, store, plats, 240)
    n_versions = check_versions(store, plats, exact=False)
    if args.real_kafka:
        n_events, n_distinct = all_published(store, cps, schemas, args.kafka)
        L.info("events in %d, unified out %d over all runs (%d distinct (key, version), every "
               "one of the history, one content each), lost 0, doubled 0, gaps 0"
               % (plats.handed, n_events, n_distinct))
    got = unified_by_key_version(schemas, kafka_bootstrap(args, cps))
    rc = cps.stop()
    if rc != 0:
        L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    L.info("%d SIGKILLs while %d files, city and province changes flowed: %d keys at their "
           "last value, %d versions gapless, %d events on the last run's unified topic with "
           "one content per (key, version); lost 0, doubled 0, gaps 0"
           % (kills, plats.files, len(plats.last), n_versions, len(got)))


def main():
    scenario = ("--scenario", {"required": True, "choices": ["restart", "kill"]})
    args = L.parse_args("threeway.no_loss", extra=[scenario])
    global PFX
    L.set_name(("kafka_real" if args.real_kafka else "threeway") + ".no_loss_" + args.scenario)
    PFX = args.pfx
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("tw-noloss")
    ssdir = os.path.join(work, "shenshan")
    for d in ("inbox", "outbox"):
        os.makedirs(os.path.join(ssdir, d))
    topics = [PFX + t for t in ("province.person:4", "province.household:2",
                                "province.inbound.person:2", "province.inbound.household:2")]
    if args.real_kafka:
        # cpsync's own topics too: on the real broker they outlive cpsync
        topics += [PFX + t for t in ("cpsync.ingest:4", "cpsync.deadletter:1")]
        topics += ["%scpsync.unified.%s:4" % (PFX, e) for e in L.ENTITIES]
    broker = L.open_broker(args, 4, topics)
    tag = "kr" if args.real_kafka else "tw"
    store = L.Database(args.pg, tag + "_store_nl_" + args.scenario)
    city = T.City(args.pg, ("k" if args.real_kafka else "") + "nl" + args.scenario[0],
                  args.source)
    cps = None
    try:
        cfg = os.path.join(work, "threeway.yaml")
        if args.real_kafka:
            # the province on cpsync's own Kafka: the real broker
            kafka = dict(brokers=args.kafka, province_brokers=None, prefix=PFX)
        else:
            kafka = dict(brokers="embedded", province_brokers=broker.bootstrap)
        T.write_config(cfg, instance="tw-noloss", schemas=args.schemas, source=args.source,
                       store_conninfo=store.conninfo, city=city, shenshan_dir=ssdir,
                       partitions=4, roll_records=1000, **kafka)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        plats = Platforms(schemas, city, os.path.join(ssdir, "inbox"), broker.bootstrap)
        if args.scenario == "restart":
            scenario_restart(args, schemas, store, city, cps, plats)
        else:
            scenario_kill(args, schemas, store, city, cps, plats)
    finally:
        if cps:
            cps.kill()
        broker.stop()
        city.drop()
        store.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
