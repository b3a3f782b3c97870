"""The pieces of the pipeline benchmark (tests/bench/pipeline_bench.py): the
three platforms' writers (province on Kafka, city rows captured by logical
replication, Shenshan Avro container files), a reader of the unified topic
that notes which event each unified message carries and when it was
appended, CPU and memory figures from /proc, and the COPY baseline.
Each event's residence_address is "bench:<platform letter><seq>;", so a
unified message says which platform write it reflects without decoding.
"""
import datetime
import io
import json
import os
import re
import struct
import subprocess
import threading
import time

import fastavro
import fastavro.schema
import psycopg2
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from cpsynctest import unified_head  # on the path: the caller imports twlib first

PLATFORMS = ("province", "city", "shenshan")
LETTER = {"province": "p", "city": "c", "shenshan": "s"}
REGION = {"province": "440303", "city": "440305", "shenshan": "441521"}
EPOCH = datetime.date(1970, 1, 1)
CITY_COLS = ["national_id", "name", "gender", "birth_date", "registration_region_code",
             "residence_region_code", "residence_address", "has_residence_permit",
             "disabled", "disability_grade", "seriously_ill", "labour_capacity", "phone",
             "household_id", "deceased"]
_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"
SEQ_RE = re.compile(rb"bench:([pcs])(\d+);")


def now_ms():
    return time.time() * 1000.0


def nid(platform, i):
    """A synthetic, valid national ID, distinct per (platform, i)."""
    born = datetime.date(1950, 1, 1) + datetime.timedelta(days=i // 1000)
    body = "%s%s%03d" % (REGION[platform], born.strftime("%Y%m%d"), i % 1000)
    return body + _CHECK[sum(int(d) * w for d, w in zip(body, _WEIGHTS)) % 11]


def person(platform, i, seq):
    return {"national_id": nid(platform, i), "name": "测试%d" % (i % 1000), "gender": "FEMALE",
            "birth_date": 365 * 30 + i % 300, "registration_region_code": REGION[platform],
            "residence_region_code": REGION[platform],
            "residence_address": "bench:%s%d;" % (LETTER[platform], seq),
            "has_residence_permit": False, "disabled": False, "disability_grade": None,
            "seriously_ill": False, "labour_capacity": "FULL", "phone": None,
            "household_id": None, "deceased": False}


class Plan:
    """Who writes what: platform p's j-th event changes key j % keys[p] and
    carries a global sequence number. seq_base[p] + j is that number."""

    def __init__(self, events, keys):
        per_e, per_k = events // 3, max(1, keys // 3)
        self.events = {"province": events - 2 * per_e, "city": per_e, "shenshan": per_e}
        self.keys = {p: per_k for p in PLATFORMS}
        self.next_j = {p: 0 for p in PLATFORMS}

    def take(self, platform, n, seq_counter):
        """n (key index, seq) of `platform`, continuing its sequence."""
        j0 = self.next_j[platform]
        self.next_j[platform] = j0 + n
        k = self.keys[platform]
        return [((j0 + d) % k, seq_counter.next()) for d in range(n)]


class Counter:
    def __init__(self):
        self.n = 0
        self.lock = threading.Lock()

    def next(self):
        with self.lock:
            self.n += 1
            return self.n


# ------------------------------------------------------------ the platforms

class Encoder:
    """cpsync's person schema (as `cpsync schema show` resolves it) in fastavro."""

    def __init__(self, cpsync, schema_dir):
        shown = subprocess.run([cpsync, "schema", "show", os.path.join(schema_dir, "person.avsc"),
                                "--schemas", schema_dir], check=True,
                               stdout=subprocess.PIPE).stdout.decode()
        self.schema = fastavro.schema.parse_schema(json.loads(shown), named_schemas={})
        pcf = fastavro.schema.to_parsing_canonical_form(self.schema)
        # fastavro's hex is already the little-endian bytes single-object framing wants
        self.prefix = b"\xc3\x01" + bytes.fromhex(fastavro.schema.fingerprint(pcf, "CRC-64-AVRO"))

    def single_object(self, record):
        buf = io.BytesIO()
        fastavro.schemaless_writer(buf, self.schema, record)
        return self.prefix + buf.getvalue()


class Province:
    """The province's Kafka producer (topic province.person)."""

    def __init__(self, bootstrap, encoder, topic="province.person"):
        self.p = Producer({"bootstrap.servers": bootstrap, "linger.ms": 2,
                           "enable.idempotence": True, "batch.num.messages": 5000,
                           "queue.buffering.max.messages": 500000,
                           "log.connection.close": False, "log_level": 2})
        self.enc = encoder
        self.topic = topic
        self.errors = []

    def encode(self, items):
        """[(key index, seq)] as ready messages (key, value, headers)."""
        out = []
        for i, seq in items:
            rec = person("province", i, seq)
            out.append((rec["national_id"].encode(), self.enc.single_object(rec),
                        [("effective_time", str(1700000000000 + seq).encode())]))
        return out

    def _cb(self, err, _msg):
        if err:
            self.errors.append(str(err))

    def send(self, msgs):
        for key, value, headers in msgs:
            while True:
                try:
                    self.p.produce(self.topic, value=value, key=key, headers=headers,
                                   on_delivery=self._cb)
                    break
                except BufferError:
                    self.p.poll(0.05)
            self.p.poll(0)

    def flush(self, timeout=120):
        left = self.p.flush(timeout)
        if left or self.errors:
            raise RuntimeError("province producer: %d undelivered, errors %s"
                               % (left, self.errors[:3]))


class City:
    """The city writes its own table city.person; cpsync captures the rows."""

    def __init__(self, conninfo):
        self.conn = psycopg2.connect(conninfo)
        self.conn.autocommit = True

    def statement(self, items):
        """One upsert of [(key index, seq)] (distinct keys) as SQL bytes."""
        with self.conn.cursor() as c:
            rows = []
            for i, seq in items:
                rec = person("city", i, seq)
                vals = [rec[k] for k in CITY_COLS]
                vals[3] = EPOCH + datetime.timedelta(days=rec["birth_date"])
                rows.append(c.mogrify("(" + ",".join(["%s"] * len(vals)) + ")", vals))
        return (("INSERT INTO city.person (%s) VALUES " % ", ".join(CITY_COLS)).encode()
                + b",".join(rows)
                + b" ON CONFLICT (national_id) DO UPDATE SET residence_address"
                  b" = EXCLUDED.residence_address")

    def run(self, sql):
        with self.conn.cursor() as c:
            c.execute(sql)

    def close(self):
        self.conn.close()


class Shenshan:
    """Shenshan drops Avro container files into the inbox (written aside,
    then renamed in, so each file appears complete)."""

    def __init__(self, inbox, encoder):
        self.inbox = inbox
        self.staging = inbox + ".staging"
        os.makedirs(self.staging, exist_ok=True)
        self.enc = encoder
        self.files = 0

    def write(self, items):
        """Writes one file aside; returns its staging path."""
        self.files += 1
        path = os.path.join(self.staging, "bench-%07d.avro" % self.files)
        with open(path, "wb") as f:
            fastavro.writer(f, self.enc.schema, [person("shenshan", i, s) for i, s in items],
                            codec="deflate")
        return path

    def release(self, path):
        os.rename(path, os.path.join(self.inbox, os.path.basename(path)))


# --------------------------------------------------------- the unified topic

class UnifiedReader(threading.Thread):
    """Reads cpsync.unified.person from the beginning, as it grows. For each
    message: the platform and seq of the write it reflects (from the
    address), and its timestamp (cpsync's produce time, the append). Keeps
    per key the highest seq seen, and per write (registered with
    note_write) its latency."""

    def __init__(self, bootstrap, topic):
        super().__init__(daemon=True)
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-%d" % os.getpid(),
                           "enable.auto.commit": False, "fetch.wait.max.ms": 10,
                           "fetch.error.backoff.ms": 10})
        deadline = time.monotonic() + 60
        while True:
            md = self.c.list_topics(topic, timeout=10).topics.get(topic)
            if md is not None and md.partitions and not md.error:
                break
            if time.monotonic() > deadline:
                raise RuntimeError("topic %s never appeared" % topic)
            time.sleep(0.2)
        self.c.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in md.partitions])
        self.lock = threading.Lock()
        self.seen = {}           # key -> highest seq seen
        self.messages = 0
        self.max_ts = {}         # phase -> newest unified timestamp (ms)
        self.count = {}          # phase -> unified messages
        self.phase_of = []       # [(first seq, phase)] ascending
        self.write_ms = {}       # seq -> (platform letter, write time ms), latency phase
        self.latency = {l: [] for l in "pcs"}
        self.to_reconcile = {l: [] for l in "pcs"}    # write -> the event's event_time (ms)
        self.from_reconcile = {l: [] for l in "pcs"}  # event_time -> the append
        self.unmatched = 0
        self.waits = []          # {key: seq} of each wait_for, shrinking as keys arrive
        self.stop_flag = threading.Event()
        self.error = None

    def start_phase(self, first_seq, name):
        with self.lock:
            self.phase_of.append((first_seq, name))

    def note_writes(self, seqs, platform, at_ms):
        with self.lock:
            for s in seqs:
                self.write_ms[s] = (LETTER[platform], at_ms)

    def _phase(self, seq):
        name = None
        for first, n in self.phase_of:
            if seq >= first:
                name = n
        return name

    def run(self):
        try:
            while not self.stop_flag.is_set():
                for m in self.c.consume(num_messages=2000, timeout=0.1):
                    if m.error():
                        continue
                    self._one(m)
        except Exception as e:  # noqa: BLE001 (reported by the main thread)
            self.error = e
        finally:
            self.c.close()

    def _one(self, m):
        hit = SEQ_RE.search(m.value() or b"")
        ts = m.timestamp()[1]
        with self.lock:
            self.messages += 1
            if not hit:
                self.unmatched += 1
                return
            seq = int(hit.group(2))
            key = m.key()
            if seq > self.seen.get(key, 0):
                self.seen[key] = seq
            for w in self.waits:
                if key in w and w[key] <= seq:
                    del w[key]
            ph = self._phase(seq)
            self.count[ph] = self.count.get(ph, 0) + 1
            k = (ph, hit.group(1).decode())
            self.count[k] = self.count.get(k, 0) + 1
            if ts > self.max_ts.get(ph, 0):
                self.max_ts[ph] = ts
            w = self.write_ms.get(seq)
            if w is not None:
                self.latency[w[0]].append(ts - w[1])
                head = unified_head(m.value())
                if head is not None:
                    self.to_reconcile[w[0]].append(head[2] - w[1])
                    self.from_reconcile[w[0]].append(ts - head[2])

    def by_letter(self):
        """Unified messages so far per platform letter, over every phase."""
        with self.lock:
            out = {l: 0 for l in "pcs"}
            for k, n in self.count.items():
                if isinstance(k, tuple):
                    out[k[1]] += n
            return out

    def wait_for(self, targets):
        """{key: seq} of targets not reached yet, kept up to date as messages
        arrive (its length is what is missing: no scan of the targets per
        look, which starves the writers' threads of the GIL at a million
        keys). done_waiting(w) when no longer looked at."""
        with self.lock:
            w = {k: s for k, s in targets.items() if self.seen.get(k, 0) < s}
            self.waits.append(w)
            return w

    def done_waiting(self, w):
        with self.lock:
            self.waits.remove(w)

    def left(self, w):
        with self.lock:
            return len(w)

    def missing(self, targets):
        """How many keys of {key: seq} have not reached their seq yet."""
        with self.lock:
            return sum(1 for k, s in targets.items() if self.seen.get(k, 0) < s)

    def stop(self):
        self.stop_flag.set()
        self.join(10)


def dropped_messages(bootstrap, topic):
    """Messages the broker no longer holds at the start of `topic` (the sum of
    its partitions' low watermarks): librdkafka's mock broker keeps about
    5 MiB per partition and silently drops the oldest beyond that."""
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": "bench-wm-%d" % os.getpid()})
    try:
        md = c.list_topics(topic, timeout=10)
        return sum(c.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[0]
                   for p in md.topics[topic].partitions)
    finally:
        c.close()


# --------------------------------------------------------------- /proc

CLK = os.sysconf("SC_CLK_TCK")


def _stat(pid):
    """(ppid, utime+stime, cutime+cstime) in seconds, or None."""
    try:
        with open("/proc/%d/stat" % pid) as f:
            s = f.read()
    except OSError:
        return None
    rest = s[s.rindex(")") + 2:].split()
    return int(rest[1]), (int(rest[11]) + int(rest[12])) / CLK, \
        (int(rest[13]) + int(rest[14])) / CLK


def cpu_of(pid):
    """CPU seconds of a process (all threads) so far."""
    st = _stat(pid)
    return st[1] if st else None


def pg_cpu(postmaster):
    """CPU seconds of a PostgreSQL server: the postmaster with the children it
    reaped, plus every live child."""
    st = _stat(postmaster)
    if st is None:
        return None
    total = st[1] + st[2]
    for name in os.listdir("/proc"):
        if name.isdigit():
            c = _stat(int(name))
            if c and c[0] == postmaster:
                total += c[1] + c[2]
    return total


def backends_cpu(conninfo, databases):
    """{pid: CPU seconds} of the server processes connected to `databases`
    (cpsync's sessions, the walsender of its slot, the city's writer): on a
    server shared with other clients, the part that is ours."""
    conn = psycopg2.connect(conninfo)
    with conn.cursor() as c:
        c.execute("SELECT pid FROM pg_stat_activity WHERE datname = ANY(%s)", (list(databases),))
        pids = [r[0] for r in c.fetchall()]
    conn.close()
    out = {}
    for pid in pids:
        v = cpu_of(pid)
        if v is not None:
            out[pid] = v
    return out


def postmaster_of(conninfo):
    conn = psycopg2.connect(conninfo)
    with conn.cursor() as c:
        c.execute("SELECT pg_backend_pid()")
        backend = c.fetchone()[0]
    st = _stat(backend)
    conn.close()
    if st is None:
        return None  # the server runs where /proc cannot see it
    return st[0]


def vm_hwm_mib(pid):
    try:
        with open("/proc/%d/status" % pid) as f:
            for line in f:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


# ------------------------------------------------------------ COPY baseline

def copy_baseline(conninfo, rows, workdir):
    """Binary COPY of `rows` rows of (text key, 400-byte bytea) into an ordinary
    (WAL-logged) table, in one transaction, with psql's \\copy from a file
    written beforehand. Returns (rows/s, seconds)."""
    path = os.path.join(workdir, "copy.bin")
    payload = os.urandom(400)
    row_tail = struct.pack(">i", 400) + payload
    with open(path, "wb") as f:
        f.write(b"PGCOPY\n\xff\r\n\0" + struct.pack(">ii", 0, 0))
        chunk = []
        for i in range(rows):
            key = b"k%011d" % i
            chunk.append(struct.pack(">hi", 2, len(key)) + key + row_tail)
            if len(chunk) == 10000:
                f.write(b"".join(chunk))
                chunk = []
        f.write(b"".join(chunk) + struct.pack(">h", -1))
    psql = ["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo]
    subprocess.run(psql + ["-c", "CREATE TABLE bench_copy (key text, payload bytea)"],
                   check=True, stdout=subprocess.DEVNULL)
    t = time.monotonic()
    subprocess.run(psql + ["-c", "BEGIN", "-c",
                           "\\copy bench_copy FROM '%s' WITH (FORMAT binary)" % path,
                           "-c", "COMMIT"], check=True, stdout=subprocess.DEVNULL)
    took = time.monotonic() - t
    n = int(subprocess.run(psql + ["-At", "-c", "SELECT count(*) FROM bench_copy"], check=True,
                           stdout=subprocess.PIPE).stdout.decode().strip())
    subprocess.run(psql + ["-c", "DROP TABLE bench_copy"], check=True, stdout=subprocess.DEVNULL)
    os.unlink(path)
    if n != rows:
        raise RuntimeError("COPY stored %d rows of %d" % (n, rows))
    return rows / took, took


STORE_FLOOR_SQL = os.path.join(os.path.dirname(os.path.abspath(__file__)), "store_floor.sql")


def store_floor(conninfo, sample, batch):
    """The store's two writes an event, PostgreSQL alone (store_floor.sql):
    {"keys", "us_per_key"}, or None when the store has no keys to copy."""
    out = subprocess.run(["psql", "-X", "-q", "-d", conninfo, "-v", "sample=%d" % sample,
                          "-v", "batch=%d" % batch, "-f", STORE_FLOOR_SQL],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE, check=True)
    m = re.search(r"store floor: (\d+) keys in (\d+) us", out.stderr.decode())
    if not m:
        raise RuntimeError("store floor: no figure in psql's output: %s" % out.stderr.decode())
    keys, us = int(m.group(1)), int(m.group(2))
    return {"keys": keys, "batch": batch, "us_per_key": us / keys} if keys else None


def percentile(sorted_vals, q):
    if not sorted_vals:
        return None
    k = min(len(sorted_vals) - 1, max(0, int(round(q / 100.0 * (len(sorted_vals) - 1)))))
    return sorted_vals[k]
