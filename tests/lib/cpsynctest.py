"""The Python harness library of the cpsync tests (tests/*/*.py): what every
script needs whatever its area: failing with the test's name, a scratch
PostgreSQL database on $CPSYNC_TEST_PG, a free port and HTTP GETs, a
`cpsync run` process (start, /healthz, status, SIGTERM/SIGKILL, its log),
polling until a condition holds, temp dirs and synthetic national IDs.
Standard library only at import time (psycopg2 is imported by Database).
Area helpers build on it: tests/e2e/e2elib.py (Kafka, Avro), tests/threeway/
twlib.py (the city database), tests/kafka_real/krlib.py (a real broker).
A script finds it with
    sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
"""
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request

NAME = "e2e"
# a viewer token for /status (only the open routes answer without one)
TOKEN = os.urandom(16).hex()


def set_name(name):
    """The test's name, the prefix of what fail() and info() print."""
    global NAME
    NAME = name


def fail(msg):
    print("%s: FAIL: %s" % (NAME, msg), file=sys.stderr, flush=True)
    sys.exit(1)


def info(msg):
    print("%s: %s" % (NAME, msg), flush=True)


def require_pg():
    """$CPSYNC_TEST_PG; fails (never skips) when it is unset."""
    base = os.environ.get("CPSYNC_TEST_PG")
    if not base:
        fail("CPSYNC_TEST_PG is not set (deploy/test.sh exports it)")
    return base


# ---------------------------------------------------------------- PostgreSQL

class Database:
    """A fresh database `cps_<tag>_<pid>` on CPSYNC_TEST_PG, dropped by drop()."""

    def __init__(self, base, tag):
        import psycopg2
        self._pg = psycopg2
        self.base = base
        self.name = "cps_%s_%d" % (tag, os.getpid())
        self.conninfo = base + " dbname=" + self.name
        self._admin("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name,
                    "CREATE DATABASE " + self.name)
        self._conn = None

    def _admin(self, *statements):
        admin = self._pg.connect(self.base)
        admin.autocommit = True
        with admin.cursor() as c:
            for sql in statements:
                c.execute(sql)
        admin.close()

    def _connection(self):
        if self._conn is None:
            self._conn = self._pg.connect(self.conninfo)
            self._conn.autocommit = True
        return self._conn

    def query(self, sql, args=None):
        with self._connection().cursor() as c:
            c.execute(sql, args)
            return c.fetchall()

    def execute(self, sql, args=None):
        """A statement without a result set (autocommit)."""
        with self._connection().cursor() as c:
            c.execute(sql, args)

    def drop(self):
        if self._conn is not None:
            self._conn.close()
            self._conn = None
        self._admin("DROP DATABASE IF EXISTS %s WITH (FORCE)" % self.name)


def psql(conninfo, sql):
    """SQL through the psql client (several statements at once)."""
    subprocess.run(["psql", "-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", conninfo, "-c", sql],
                   check=True, stdout=subprocess.DEVNULL)


def conninfo_with_db(conninfo, db):
    """CONNINFO pointed at database DB."""
    parts = [p for p in conninfo.split() if not p.startswith("dbname=")]
    return " ".join(parts + ["dbname=" + db])


# ---------------------------------------------------------------------- HTTP

def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def http_get(port, path, timeout=5, token=TOKEN):
    """(status, parsed JSON body) or (None, None) when nothing answers;
    token=None sends no Authorization header."""
    headers = {"Authorization": "Bearer " + token} if token else {}
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
        return None, None


def http_call(port, method, path, token=None, body=None, raw=None, timeout=30):
    """(status, parsed JSON body or None) of one request with a JSON `body`
    or `raw` bytes; (None, None) when nothing answers."""
    data = raw if raw is not None else (json.dumps(body).encode() if body is not None else None)
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path), data=data, method=method)
    if token:
        req.add_header("Authorization", "Bearer " + token)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, json.loads(r.read() or b"null")
    except urllib.error.HTTPError as e:
        try:
            return e.code, json.loads(e.read() or b"null")
        except ValueError:
            return e.code, None
    except (urllib.error.URLError, ConnectionError, socket.timeout, OSError):
        return None, None


def http_fetch(port, path, token=None, timeout=10):
    """(status, content type, body bytes) or (None, None, None) when nothing answers."""
    req = urllib.request.Request("http://127.0.0.1:%d%s" % (port, path))
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as r:
            return r.status, r.headers.get("Content-Type"), r.read()
    except urllib.error.HTTPError as e:
        return e.code, e.headers.get("Content-Type"), e.read()
    except (urllib.error.URLError, ConnectionError, socket.timeout):
        return None, None, None


# -------------------------------------------------------------------- cpsync

# cpsync gets SIGKILL when the test process dies (a ctest timeout kills it
# without running its finally blocks): util-linux setpriv sets the parent-death
# signal and execs cpsync, which keeps the pid.
DIE_WITH_US = ["setpriv", "--pdeathsig", "KILL", "--"] if shutil.which("setpriv") else []


def log_tail(log, n=6000):
    """The last N characters of an open (w+) log file."""
    log.flush()
    log.seek(0)
    return log.read()[-n:]


class Cpsync:
    """One `cpsync run -c CONFIG` process on a free HTTP port."""

    def __init__(self, binary, config, logpath):
        self.binary = binary
        self.config = config
        self.logpath = logpath
        self.proc = None
        self.port = None

    def start(self, wait_healthy=True):
        self.port = free_port()
        self.log = open(self.logpath, "a")
        self.proc = subprocess.Popen(
            DIE_WITH_US + [self.binary, "run", "-c", self.config,
                           "--http", "127.0.0.1:%d" % self.port],
            stdout=self.log, stderr=subprocess.STDOUT)
        if wait_healthy:
            self.wait_healthy()

    def wait_healthy(self, timeout=60):
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                fail("cpsync exited early with %d\n%s" % (self.proc.returncode, self.tail()))
            st, _ = http_get(self.port, "/healthz")
            if st == 200:
                return
            if time.monotonic() > deadline:
                fail("/healthz never answered 200\n" + self.tail())
            time.sleep(0.1)

    def status(self):
        st, doc = http_get(self.port, "/status")
        if st != 200:
            return None
        return doc

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def kill(self):
        if self.alive():
            self.proc.send_signal(signal.SIGKILL)
        if self.proc is not None:
            self.proc.wait()

    def stop(self, timeout=20):
        """SIGTERM; returns the exit status (kills after `timeout`)."""
        if not self.alive():
            return self.proc.returncode if self.proc else None
        self.proc.send_signal(signal.SIGTERM)
        try:
            return self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
            fail("cpsync did not exit within %d s of SIGTERM\n%s" % (timeout, self.tail()))

    def tail(self, n=6000):
        try:
            with open(self.logpath, errors="replace") as f:
                return f.read()[-n:]
        except OSError:
            return ""


def wait_for(what, pred, timeout=90, cps=None, interval=0.2, procs=(), detail=None):
    """Polls pred() every `interval` s until it returns a true value (returned).
    Fails after `timeout` s (with `detail()` and the logs of the cpsync
    processes `cps` and `procs`), or as soon as one of those processes died."""
    procs = list(procs) + ([cps] if cps is not None else [])
    deadline = time.monotonic() + timeout
    while True:
        v = pred()
        if v:
            return v
        for p in procs:
            if not p.alive():
                fail("a cpsync died while waiting for %s\n%s" % (what, p.tail()))
        if time.monotonic() > deadline:
            fail("timed out (%d s) waiting for %s%s%s" % (
                timeout, what, (" (%s)" % detail()) if detail else "",
                "".join("\n----\n" + p.tail(3000 if len(procs) > 1 else 6000) for p in procs)))
        time.sleep(interval)


# --------------------------------------------------------- files and data

def tmpdir(tag):
    return tempfile.mkdtemp(prefix="cps-e2e-%s-" % tag)


_WEIGHTS = [7, 9, 10, 5, 8, 4, 2, 1, 6, 3, 7, 9, 10, 5, 8, 4, 2]
_CHECK = "10X98765432"


def unified_head(value):
    """(key, version, event_time ms) of a framed unified event, single-object
    or Confluent: the fields before its record (entity, key, version,
    operation, event_time), read without a schema. None when the bytes are
    not that."""
    def long_at(i):
        n = shift = 0
        while True:
            b = value[i]
            i += 1
            n |= (b & 0x7F) << shift
            shift += 7
            if not b & 0x80:
                return (n >> 1) ^ -(n & 1), i
    try:
        i = 10 if value[:2] == b"\xc3\x01" else 5 if value[:1] == b"\x00" else None
        if i is None:
            return None
        _, i = long_at(i)                 # entity
        n, i = long_at(i)                 # key
        key = value[i:i + n].decode()
        version, i = long_at(i + n)
        _, i = long_at(i)                 # operation
        return key, version, long_at(i)[0]
    except (IndexError, UnicodeDecodeError):
        return None


def national_id(region, birth_yyyymmdd, seq):
    """A GB 11643 ID with a valid check character (synthetic, not a person)."""
    body = "%s%s%03d" % (region, birth_yyyymmdd, seq % 1000)
    s = sum(int(d) * w for d, w in zip(body, _WEIGHTS))
    return body + _CHECK[s % 11]
