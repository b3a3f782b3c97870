"""Shared pieces of the real-broker tests that have no mock twin
(tests/kafka_real/*.py, label `kafka`): a province that writes person
records to a Kafka topic and remembers every value it handed over, the
checks every such test ends with (each key at its last value, versions
1..n with n its number of distinct values, every (key, version) of the
history on the unified topic with one content), the reconcile workers'
partition assignment read from cpsync's log, and a private multi-node
cluster started with deploy/kafka-private.sh. Builds on tests/e2e/e2elib.py
(run by tests/kafka_real/run.py with the tests' venv python).
"""
import datetime
import os
import random
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2elib as L  # noqa: E402

# a killed member leaves cpsync's groups within seconds, not 45 s
CONSUMER_PROPS = {"session.timeout.ms": 6000, "heartbeat.interval.ms": 1000}
T0 = 1_700_000_000_000


def parse_args(name, extra=()):
    """e2elib's arguments; these tests exist only on a real broker."""
    args = L.parse_args(name, extra=list(extra))
    if not args.real_kafka:
        L.fail("this test runs on a real Kafka broker only: pass --real-kafka "
               "(tests/cmake/kafka_real.cmake does)")
    return args


def province_only(topic):
    """e2elib platforms: the province reads person records from `topic`; the
    city and Shenshan (named by the rules) are disabled."""
    return {"province": ("single-object", {topic: "person"}), "city": None, "shenshan": None}


def nid(i):
    """A distinct valid national ID per i < 100,000 (synthetic)."""
    born = datetime.date(1950, 1, 1) + datetime.timedelta(days=i // 1000)
    return L.national_id("440303", born.strftime("%Y%m%d"), i % 1000)


def person(i, address):
    return {"national_id": nid(i), "name": "测试%d" % i, "gender": "FEMALE",
            "birth_date": 365 * 30 + i % 300, "registration_region_code": "440303",
            "residence_region_code": "440303", "residence_address": address,
            "has_residence_permit": False, "disabled": False, "disability_grade": None,
            "seriously_ill": False, "labour_capacity": "FULL", "phone": None,
            "household_id": None, "deceased": False}


class Province:
    """Writes person records (single-object framing, an increasing
    effective time each) to one topic with confluent-kafka's idempotent
    producer. `last[key]` is the last address each key was given,
    `values[key]` its distinct addresses in order, `sent` the count."""

    def __init__(self, schemas, bootstrap, topic, producer_conf=None):
        self.schemas = schemas
        self.topic = topic
        self.producer = L.producer(bootstrap, producer_conf)
        self.last = {}
        self.values = {}
        self.sent = 0
        self.eff = T0
        self.lock = threading.Lock()

    def send(self, recs):
        """recs: [(i, address)], produced and flushed (fails on any error)."""
        msgs = []
        for i, addr in recs:
            self.eff += 1
            msgs.append((self.topic, nid(i).encode(),
                         self.schemas.single_object("person", person(i, addr)),
                         [("effective_time", str(self.eff).encode())], None))
        L.produce_all(self.producer, msgs)
        with self.lock:
            for i, addr in recs:
                k = nid(i)
                self.last[k] = addr
                vals = self.values.setdefault(k, [])
                if not vals or vals[-1] != addr:
                    vals.append(addr)
            self.sent += len(recs)


class Flow(threading.Thread):
    """Keeps the province changing (`per_round` records over `keys` keys
    every `pause` s) until stopped; `rounds` and `error` for the main thread."""

    def __init__(self, province, keys, per_round=100, pause=0.2, seed=1):
        super().__init__(daemon=True)
        self.province = province
        self.keys = keys
        self.per_round = per_round
        self.pause = pause
        self.rng = random.Random(seed)
        self.stop_flag = threading.Event()
        self.error = None
        self.rounds = 0

    def run(self):
        try:
            while not self.stop_flag.is_set():
                r = self.rounds
                keys = self.rng.sample(range(self.keys), self.per_round)
                self.province.send([(i, "flow-%d-%d" % (r, i)) for i in keys])
                self.rounds += 1
                time.sleep(self.pause)
        except BaseException as e:  # noqa: BLE001 (SystemExit from L.fail too)
            self.error = e

    def finish(self):
        self.stop_flag.set()
        self.join(120)
        self.check()

    def check(self):
        if self.error:
            L.fail("the province's producer failed: %r" % (self.error,))


class Progress(threading.Thread):
    """Samples the store's applied versions every 0.2 s (its own connection)
    until stopped: stall() is the longest time the count did not grow while
    the province kept producing."""

    def __init__(self, store, province):
        super().__init__(daemon=True)
        import psycopg2
        self.conn = psycopg2.connect(store.conninfo)
        self.conn.autocommit = True
        self.province = province
        self.samples = []  # (monotonic, versions applied, events sent)
        self.stop_flag = threading.Event()

    def run(self):
        with self.conn.cursor() as c:
            while not self.stop_flag.is_set():
                c.execute("SELECT count(*) FROM cpsync.record_history")
                self.samples.append((time.monotonic(), c.fetchone()[0], self.province.sent))
                time.sleep(0.2)

    def finish(self):
        self.stop_flag.set()
        self.join(10)
        self.conn.close()

    def stall(self):
        """(longest stall in s, its start as monotonic time)."""
        best, at = 0.0, None
        since = None
        for t, n, sent in self.samples:
            if since is None or n != since[1]:
                since = (t, n)
            elif sent > n and t - since[0] > best:
                best, at = t - since[0], since[0]
        return best, at


# ---- the checks --------------------------------------------------------------------

def store_addresses(store):
    rows = store.query("SELECT key, record->'residence_address' FROM cpsync.records "
                       "WHERE entity = 'person'")
    out = {}
    for k, a in rows:
        out[k] = a.get("string") if isinstance(a, dict) else a
    return out


def wait_applied(store, province, timeout, procs=()):
    """Every key the province wrote is in the store at its last value."""
    deadline = time.monotonic() + timeout
    while True:
        have = store_addresses(store)
        missing = [k for k, a in province.last.items() if have.get(k) != a]
        if not missing:
            return
        for p in procs:
            if not p.alive():
                L.fail("a cpsync died\n" + p.tail())
        if time.monotonic() > deadline:
            absent = sum(1 for k in missing if k not in have)
            L.fail("%d of %d keys not at their last value after %d s (%d absent)\n%s"
                   % (len(missing), len(province.last), timeout, absent,
                      "\n----\n".join(p.tail(4000) for p in procs)))
        time.sleep(0.5)


def check_versions(store, province):
    """Versions 1..n per key, n its number of distinct values: nothing lost,
    nothing applied twice, no gaps. Returns the number of versions."""
    hist = dict(store.query("SELECT key, array_agg(version ORDER BY version) FROM "
                            "cpsync.record_history WHERE entity = 'person' GROUP BY key"))
    bad = []
    for key, vals in province.values.items():
        v = hist.get(key, [])
        if v != list(range(1, len(vals) + 1)):
            bad.append((key[:6] + "…", v[:8], len(vals)))
    if bad:
        L.fail("%d keys whose versions are not 1..their number of distinct values, e.g. %s"
               % (len(bad), bad[:3]))
    extra = set(hist) - set(province.values)
    if extra:
        L.fail("%d keys in the history that nobody wrote" % len(extra))
    return sum(len(v) for v in hist.values())


def check_unified(store, schemas, bootstrap, topic, procs=(), marks=None):
    """Once the outbox is empty: every (key, version) of the person history
    is on `topic`, nothing else, and a (key, version) seen twice carries the
    same bytes. Returns {"events": on the topic, "distinct": (key, version),
    "backwards": events whose version is below one published before for the
    key, "below": duplicates that lie below `marks` ({partition: offset},
    see watermarks())}."""
    deadline = time.monotonic() + 120
    while store.query("SELECT count(*) FROM cpsync.outbox")[0][0]:
        if time.monotonic() > deadline:
            L.fail("the outbox did not drain\n" + "\n----\n".join(p.tail(3000) for p in procs))
        time.sleep(0.3)
    seen = {}
    top = {}
    n = below = backwards = 0
    events = L.consume_all(bootstrap, [topic], timeout_s=180)
    events.sort(key=lambda m: (m[1], m[2]))
    for _, part, off, key, value, _ in events:
        ev = schemas.decode_unified(value)
        kv = (key.decode(), ev["version"])
        if kv[0] != ev["key"]:
            L.fail("a unified event's Kafka key differs from its key")
        if kv in seen:
            if seen[kv] != value:
                L.fail("(key, version %d) carries two different contents on %s"
                       % (ev["version"], topic))
            if marks is not None and off < marks.get(part, 0):
                below += 1
        if kv[1] < top.get(kv[0], 0):
            backwards += 1
        top[kv[0]] = max(top.get(kv[0], 0), kv[1])
        seen[kv] = value
        n += 1
    hist = set(store.query("SELECT key, version FROM cpsync.record_history "
                           "WHERE entity = 'person'"))
    missing, extra = hist - set(seen), set(seen) - hist
    if missing or extra:
        L.fail("unified topic against the history: %d (key, version) missing, %d extra"
               % (len(missing), len(extra)))
    return {"events": n, "distinct": len(seen), "backwards": backwards, "below": below}


def watermarks(bootstrap, topic):
    """{partition: high watermark} of `topic` now."""
    from confluent_kafka import Consumer, TopicPartition
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "kr-wm-%d" % os.getpid()})
    md = c.list_topics(topic, timeout=10)
    out = {p: c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1]
           for p in md.topics[topic].partitions}
    c.close()
    return out


# ---- the reconcile workers' assignment, from cpsync's log ---------------------------

ASSIGNED = re.compile(r"^(\S+) info +\S+ worker (\d+) assigned (\d+) partition\(s\) of (\S+) ",
                      re.M)


def assignment(log_text, topic):
    """{worker: (partitions, log timestamp)} of the last assignment each
    worker logged for `topic`."""
    out = {}
    for ts, w, k, t in ASSIGNED.findall(log_text):
        if t == topic:
            out[int(w)] = (int(k), ts)
    return out


def log_time(ts):
    """A log timestamp (2026-12-03T08:39:38.083Z) as epoch seconds."""
    return datetime.datetime.strptime(ts, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


# ---- a private multi-node cluster ------------------------------------------------

def _free(port):
    with socket.socket() as s:
        try:
            s.bind(("127.0.0.1", port))
            return True
        except OSError:
            return False


def free_port_base(nodes):
    """A base port whose client (base..) and controller (base+100..) ports
    are all free."""
    rng = random.Random(os.getpid())
    for _ in range(200):
        base = rng.randrange(20000, 29000)
        if all(_free(base + i) and _free(base + 100 + i) for i in range(nodes)):
            return base
    L.fail("no free port base for a %d-node Kafka" % nodes)


class Cluster:
    """deploy/kafka-private.sh ($CPSYNC_TEST_KAFKA_SCRIPT) on a directory of
    the test's own: start, kill/restart one node, stop (always: call stop()
    in a finally)."""

    def __init__(self, nodes):
        self.script = os.environ.get("CPSYNC_TEST_KAFKA_SCRIPT")
        if not self.script:
            L.fail("CPSYNC_TEST_KAFKA_SCRIPT is not set (deploy/test.sh exports it)")
        self.nodes = nodes
        # /tmp is traversable by the brokers' unprivileged user; the script
        # hands the directory itself over to it
        self.dir = tempfile.mkdtemp(prefix="cps-kr-cluster-")
        self.port = free_port_base(nodes)
        self.bootstrap = None
        self.started = False

    def _run(self, *argv, timeout=240):
        t = time.monotonic()
        r = subprocess.run([self.script] + list(argv), stdout=subprocess.PIPE,
                           stderr=subprocess.PIPE, timeout=timeout)
        if r.returncode != 0:
            L.fail("kafka-private.sh %s failed (%d): %s" % (
                " ".join(argv), r.returncode, r.stderr.decode(errors="replace")[-3000:]))
        return r.stdout.decode().strip(), time.monotonic() - t

    def start(self):
        self.started = True
        # a watchdog stops the cluster when this process is gone, however it
        # ended (a ctest timeout kills it without running our finally blocks)
        subprocess.Popen(
            ["sh", "-c", 'while kill -0 "$1" 2>/dev/null; do sleep 1; done; '
             '[ -d "$3" ] && "$2" stop "$3" >/dev/null 2>&1; rm -rf "$3"',
             "kr-cluster-watchdog", str(os.getpid()), self.script, self.dir],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        self.bootstrap, took = self._run("start", self.dir, str(self.port), str(self.nodes))
        return took

    def kill(self, node):
        self._run("kill", self.dir, str(node), timeout=60)

    def restart_node(self, node):
        return self._run("restart-node", self.dir, str(node))[1]

    def node_port(self, node):
        return self.port + node - 1

    def server_log(self, node, n=3000):
        try:
            with open(os.path.join(self.dir, "node%d" % node, "server.log"),
                      errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""

    def stop(self):
        if self.started:
            r = subprocess.run([self.script, "stop", self.dir], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, timeout=120)
            if r.returncode != 0:
                L.info("stopping the cluster: %s" % r.stderr.decode(errors="replace")[-1000:])
                return  # keep the directory: its pids tell what is still running
        shutil.rmtree(self.dir, ignore_errors=True)
