#!/usr/bin/python3
"""faults.*: a bad day in the data centre, one fault per run, while all three
platforms keep changing on their real transports (province on Kafka, city on
PostgreSQL through its replication slot, Shenshan as inbox files) and all
three sinks deliver. After each fault, and a bound for coming back, the test
asserts and prints:
- lost: keys whose last value (what the platform said last) is not in the
  store: 0;
- doubled: (key, version) pairs that appear twice in the change log, or
  with two contents on the unified topic: 0;
- gaps: keys whose versions are not 1..n: 0;
- recovery: seconds from the end of the fault until every link is RUNNING
  again and /readyz answers 200, within the fault's bound.

Faults (--fault):
- kills: 50 SIGKILLs at random moments (0.3-2 s apart, during start-up too),
  a restart after each.
- pg_restart: the PostgreSQL server of the store and the city (a private one,
  started by this test) restarted with `pg_ctl -m immediate` five times,
  mid-batch.
- store_down: the same server stopped for 30 s.
- broker_down: cpsync's Kafka (and the province's; broker_main, a librdkafka
  mock cluster outliving cpsync) refuses every connection for 60 s; the
  unified topic then also keeps every (key, version) of the history, checked.
- outbox_full: Shenshan's outbox is a tmpfs filled to the last byte for 20 s
  (the folder is taken away where mounting is refused); afterwards every
  key's last value from the city and the province is in an outbox file.
- leader_kill: two instances share the store, the Kafka (broker_main) and
  the platforms; the leader (holding the city's slot, the Shenshan inbox and
  the publisher through the store's advisory locks) is SIGKILLed mid-stream.
  The survivor takes every link over; the unified topic keeps every (key,
  version) of the history with one content each.

usage: faults.py --fault F --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "threeway"))
import no_loss as NL  # noqa: E402
import psycopg2  # noqa: E402
import twlib as T  # noqa: E402
from twlib import L  # noqa: E402

FAULTS = ["kills", "pg_restart", "store_down", "broker_down", "outbox_full", "leader_kill"]
BOUND_S = {"kills": 60, "pg_restart": 60, "store_down": 60, "broker_down": 90,
           "outbox_full": 60, "leader_kill": 60}
SINGLE_READERS = ["city-source", "shenshan-source", "publisher"]
ALL_LINKS = T.LINKS + ["reconcile", "publisher"]


class Sturdy(NL.Platforms):
    """The platforms' writers, carrying on through a PostgreSQL outage: a
    city transaction that fails is retried on a new connection (the upsert
    writes the same values again, which changes nothing if it had committed)."""

    def city_upsert(self, recs):
        while True:
            try:
                return super().city_upsert(recs)
            except psycopg2.Error:
                time.sleep(0.5)
                try:
                    self.city_conn.close()
                    self.city_conn = psycopg2.connect(self.city.db.conninfo, connect_timeout=3)
                    self.city_conn.autocommit = True
                except psycopg2.Error:
                    pass


class Flow(NL.Flow):
    """The platforms changing, lighter than no_loss's flow (a fault test
    checks every key's last value afterwards; half the data, the same mix):
    a 150-record Shenshan file, four city transactions of 10 and 100
    province events a second."""

    def run(self):
        try:
            eff = 1700000000000
            while not self.stop_flag.is_set():
                r = self.rounds
                self.plats.shenshan_file([(self.rng.randrange(3000), "ss-%d-%d" % (r, k))
                                          for k in range(150)])
                for _ in range(4):
                    keys = self.rng.sample(range(600), 10)
                    self.plats.city_upsert([(i, "city-%d-%d" % (r, i)) for i in keys])
                keys = self.rng.sample(range(1500), 100)
                eff += 1000
                self.plats.province([(i, "prov-%d-%d" % (r, i)) for i in keys], eff)
                self.rounds += 1
                time.sleep(1.0)
        except Exception as e:  # reported by the main thread
            self.error = e


class PrivatePG:
    """A PostgreSQL server of this test's own: it may be restarted and stopped
    without touching the server the other tests share."""

    def __init__(self, source):
        self.script = os.path.join(source, "deploy", "pg-private.sh")
        self.root = tempfile.mkdtemp(prefix="cps-faults-pg-")
        os.chmod(self.root, 0o755)
        self.datadir = os.path.join(self.root, "data")
        self.port = L.free_port()
        out = subprocess.run([self.script, "start", self.datadir, str(self.port)],
                             capture_output=True, text=True)
        if out.returncode != 0:
            L.fail("starting a private PostgreSQL: %s" % out.stderr)
        self.conninfo = out.stdout.strip().splitlines()[-1]
        self.pgbin = sorted(d for d in os.listdir("/usr/lib/postgresql"))[-1]
        self.pg_ctl = "/usr/lib/postgresql/%s/bin/pg_ctl" % self.pgbin

    def ctl(self, *args):
        cmd = [self.pg_ctl, "-D", self.datadir, "-l", os.path.join(self.datadir, "server.log")]
        cmd += list(args)
        if os.getuid() == 0:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        out = subprocess.run(cmd, capture_output=True, text=True)
        if out.returncode != 0:
            L.fail("pg_ctl %s: %s" % (" ".join(args), out.stderr or out.stdout))

    def close(self):
        subprocess.run([self.script, "stop", self.datadir], capture_output=True)
        shutil.rmtree(self.root, ignore_errors=True)


def recovered(cps, since, bound):
    """Seconds from `since` until every link is RUNNING and /readyz is 200."""
    deadline = since + bound
    states = {}
    while time.monotonic() < deadline:
        if not cps.alive():
            L.fail("cpsync exited\n" + cps.tail())
        states = T.link_states(cps)
        if all(states.get(n) == "RUNNING" for n in ALL_LINKS) and \
                L.http_get(cps.port, "/readyz")[0] == 200:
            return time.monotonic() - since
        time.sleep(0.2)
    L.fail("not back within %d s of the fault's end: links %s, /readyz %s\n%s"
           % (bound, states, L.http_get(cps.port, "/readyz"), cps.tail()))


def doubled(store, plats):
    """(key, version) pairs twice in the change log, plus versions beyond a
    key's distinct values: a fact applied again after the fault (an older
    value coming back, then the newer one)."""
    twice = store.query("SELECT count(*) FROM (SELECT key, version FROM cpsync.record_history "
                        "WHERE entity = 'person' GROUP BY key, version "
                        "HAVING count(*) > 1) d")[0][0]
    n = dict(store.query("SELECT key, count(*) FROM cpsync.record_history "
                         "WHERE entity = 'person' GROUP BY key"))
    again = sum(max(0, n.get(k, 0) - len(v)) for k, v in plats.values.items())
    return twice, again


def outbox_last_values(outbox):
    """{(key, address)} of every person record in the complete outbox files."""
    return {(x["national_id"], x["residence_address"]) for x in T.outbox_people(outbox)}


# ---- the faults: each returns (what it did, monotonic time of its end) ------------

def fault_kills(ctx, rng):
    kills = 50
    for k in range(kills):
        time.sleep(rng.uniform(0.3, 2.0))
        ctx.cps.kill()
        ctx.cps.start(wait_healthy=False)
    ctx.cps.wait_healthy()
    return "%d SIGKILLs 0.3-2 s apart, each followed by a restart" % kills, time.monotonic()


def fault_pg_restart(ctx, rng):
    for _ in range(5):
        time.sleep(rng.uniform(2.0, 5.0))
        ctx.pg.ctl("restart", "-m", "immediate", "-w", "-t", "60")
    return "PostgreSQL restarted with -m immediate 5 times, 2-5 s apart", time.monotonic()


def fault_store_down(ctx, rng):
    time.sleep(rng.uniform(1.0, 3.0))
    ctx.pg.ctl("stop", "-m", "fast", "-w")
    time.sleep(30)
    ctx.pg.ctl("start", "-w", "-t", "60")
    return "PostgreSQL stopped for 30 s", time.monotonic()


def fault_broker_down(ctx, rng):
    time.sleep(rng.uniform(1.0, 3.0))
    ctx.broker.proc.send_signal(signal.SIGUSR1)
    time.sleep(60)
    ctx.broker.proc.send_signal(signal.SIGUSR2)
    return "the Kafka broker down for 60 s", time.monotonic()


def fault_outbox_full(ctx, rng):
    """Once the sink has met the full outbox it stays DEGRADED (FAILED while
    it backs off), never RUNNING, until there is room again."""
    time.sleep(rng.uniform(1.0, 3.0))
    how = ctx.outbox_fault.start()
    T.wait_for("the Shenshan sink to meet the full outbox", lambda: T.link_states(ctx.cps).get(
        "shenshan-sink") in ("DEGRADED", "FAILED"), 60, ctx.cps)
    t_end = time.monotonic() + 20
    seen = set()
    while time.monotonic() < t_end:
        seen.add(T.link_states(ctx.cps).get("shenshan-sink"))
        time.sleep(0.5)
    ctx.outbox_fault.end()
    if "RUNNING" in seen or "DEGRADED" not in seen:
        L.fail("the Shenshan sink was %s while its outbox was full (want DEGRADED, never "
               "RUNNING)" % sorted(s or "?" for s in seen))
    return "%s for 20 s after the sink met it (the sink: %s)" % (how, "/".join(sorted(seen))), \
        time.monotonic()


def fault_leader_kill(ctx, rng):
    """SIGKILLs the instance holding the single readers; the other one goes on."""
    time.sleep(rng.uniform(3.0, 6.0))
    ctx.leader.kill()
    ctx.cps = ctx.follower
    return "the leader SIGKILLed mid-stream", time.monotonic()


def start_pair(ctx, cfg_b):
    """Starts the second instance and finds the leader: the one whose single
    readers are RUNNING while the other shows them STANDBY."""
    b = L.Cpsync(ctx.cps.binary, cfg_b, ctx.cps.logpath + ".b")
    ctx.follower = b
    b.start()

    def leader():
        for one, other in ((ctx.cps, b), (b, ctx.cps)):
            a, o = T.link_states(one), T.link_states(other)
            if all(a.get(n) == "RUNNING" for n in SINGLE_READERS) and \
                    all(o.get(n) == "STANDBY" for n in SINGLE_READERS):
                return one, other
        return None
    ctx.leader, ctx.follower = T.wait_for(
        "one leader and one standby", leader, 60, ctx.cps, procs=[b],
        detail=lambda: "a %s, b %s" % ({n: T.link_states(ctx.cps).get(n) for n in SINGLE_READERS},
                                       {n: T.link_states(b).get(n) for n in SINGLE_READERS}))
    L.info("instances up: %s leads, the other stands by" % (
        "a" if ctx.leader is ctx.cps else "b"))


class Ctx:
    pass


def main():
    args = L.parse_args("faults", extra=[("--fault", {"required": True, "choices": FAULTS})])
    L.set_name("faults." + args.fault)
    seed = int(os.environ.get("CPSYNC_FAULT_SEED", str(int(time.time()))))
    rng = random.Random(seed)
    L.info("seed %d (CPSYNC_FAULT_SEED)" % seed)
    ctx = Ctx()
    ctx.schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("faults-" + args.fault)
    ssdir = os.path.join(work, "shenshan")
    for d in ("inbox", "outbox"):
        os.makedirs(os.path.join(ssdir, d))
    outbox = os.path.join(ssdir, "outbox")
    own_kafka = args.fault in ("broker_down", "leader_kill")
    topics = ["province.person:4", "province.household:2", "province.inbound.person:2",
              "province.inbound.household:2"]
    if own_kafka:  # cpsync's own topics on the broker that goes down
        topics += ["cpsync.ingest:4", "cpsync.deadletter:1"]
        topics += ["cpsync.unified.%s:4" % e for e in L.ENTITIES]
    ctx.broker = L.open_broker(args, 4, topics)
    ctx.pg = PrivatePG(args.source) if args.fault in ("pg_restart", "store_down") else None
    ctx.outbox_fault = T.OutboxFull(outbox, "64m") if args.fault == "outbox_full" else None
    pg = ctx.pg.conninfo if ctx.pg else args.pg
    store = L.Database(pg, "faults_store_" + args.fault)
    city = T.City(pg, "f" + args.fault[:6], args.source)
    ctx.cps = ctx.leader = ctx.follower = None
    flow = None
    try:
        cfg = os.path.join(work, "faults.yaml")
        kafka = dict(brokers=ctx.broker.bootstrap) if own_kafka else \
            dict(brokers="embedded", province_brokers=ctx.broker.bootstrap)
        T.write_config(cfg, instance="faults-" + args.fault, schemas=args.schemas,
                       source=args.source, store_conninfo=store.conninfo, city=city,
                       shenshan_dir=ssdir, partitions=4, roll_records=200, **kafka)
        ctx.cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        plats = Sturdy(ctx.schemas, city, os.path.join(ssdir, "inbox"), ctx.broker.bootstrap)
        ctx.cps.start()
        T.wait_links_running(ctx.cps, timeout=60, names=ALL_LINKS)
        ctx.leader = ctx.follower = None
        if args.fault == "leader_kill":
            cfg_b = os.path.join(work, "faults-b.yaml")
            T.write_config(cfg_b, instance="faults-leader-b", schemas=args.schemas,
                           source=args.source, store_conninfo=store.conninfo, city=city,
                           shenshan_dir=ssdir, partitions=4, roll_records=200, **kafka)
            start_pair(ctx, cfg_b)
        flow = Flow(plats, random.Random(seed + 1))
        flow.start()
        what, t_end = globals()["fault_" + args.fault](ctx, rng)
        if flow.error:
            L.fail("the platforms' writer failed: %s" % flow.error)
        took = recovered(ctx.cps, t_end, BOUND_S[args.fault])
        time.sleep(2)
        flow.stop_flag.set()
        flow.join(120)
        if flow.error:
            L.fail("the platforms' writer failed: %s" % flow.error)
        NL.wait_applied(ctx.cps, store, plats, 240)  # lost: 0, or it fails
        n_versions = NL.check_versions(store, plats, exact=False)  # gaps: 0, or it fails
        twice, again = doubled(store, plats)
        bootstrap = ctx.broker.bootstrap if own_kafka else NL.embedded_bootstrap(ctx.cps)
        if own_kafka:  # the topic outlived every fault: all of the history is on it
            n_events, n_on_topic = NL.all_published(store, ctx.cps, ctx.schemas, bootstrap)
        else:
            n_on_topic = len(NL.unified_by_key_version(ctx.schemas, bootstrap))
        if twice or again:
            L.fail("doubled: %d (key, version) twice in the change log, %d versions of facts "
                   "applied again" % (twice, again))
        if args.fault == "outbox_full":
            want = {(k, a) for k, a in plats.last.items()
                    if not k.startswith(NL.REGION["shenshan"])}
            T.wait_for("every city and province key's last value in Shenshan's outbox",
                       lambda: want <= outbox_last_values(outbox), 120, ctx.cps)
        rc = ctx.cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, ctx.cps.tail()))
        L.info("%s while %d files, city and province changes flowed (%d records handed over)"
               % (what, plats.files, plats.handed))
        L.info("fault %s: lost 0, doubled 0, gaps 0 over %d keys and %d versions (%d "
               "(key, version) on the unified topic, one content each); recovery %.1f s "
               "(bound %d s)" % (args.fault, len(plats.last), n_versions, n_on_topic, took,
                                 BOUND_S[args.fault]))
    finally:
        if flow:
            flow.stop_flag.set()
        for one in (ctx.cps, getattr(ctx, "leader", None), getattr(ctx, "follower", None)):
            if one:
                one.kill()
        ctx.broker.stop()
        if ctx.outbox_fault:
            ctx.outbox_fault.close()
        if ctx.pg:  # the server goes, with the databases
            ctx.pg.close()
        else:
            city.drop()
            store.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
