#!/usr/bin/env python3
"""engine.sd_notify: cpsync speaks systemd's notify protocol (Type=notify).

Implements the service manager's side: binds an AF_UNIX SOCK_DGRAM socket,
starts `cpsync run -c CONFIG` (embedded Kafka, a fresh database on
$CPSYNC_TEST_PG) with NOTIFY_SOCKET, WATCHDOG_USEC=2000000 and WATCHDOG_PID
set to cpsync's own pid, and asserts: READY=1 with a STATUS= line arrives
once start-up is done (/healthz answers by then); then at least two
WATCHDOG=1, none more than WATCHDOG_USEC apart; SIGTERM brings STOPPING=1
and a clean exit 0. cpsync runs with the kernel's MemoryDenyWriteExecute
(prctl PR_SET_MDWE), as the unit's MemoryDenyWriteExecute=yes asks: it must
start and run without writable and executable memory. A second start with
WATCHDOG_PID naming another process gets READY=1 but no WATCHDOG=1 (the
watchdog is for the main process only).

usage: test_sd_notify.py CPSYNC_BIN SOURCE_DIR
"""
import ctypes
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cpsynctest as C  # noqa: E402

CONFIG = """\
instance: notify-{pid}
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded:
    partitions: 1
store:
  conninfo: "{conninfo}"
http:
  listen: 127.0.0.1:1   # overridden by --http
reconcile:
  workers: 1
platforms:
  province:
    connector: kafka
    source:
      framing: single-object
      topics: [province.person]
      topic:
        province.person: {{entity: person}}
rules:
  person:
    default:
      rule: precedence
      platforms: [province]
"""

PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN = 65, 1


def deny_write_execute():
    """In the child before exec: no W+X mappings from now on (inherited
    across fork and execve), the kernel's MemoryDenyWriteExecute."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


def mdwe_supported():
    r = subprocess.run([sys.executable, "-c",
                        "import ctypes; l = ctypes.CDLL(None); "
                        "raise SystemExit(l.prctl(65, 1, 0, 0, 0) != 0)"])
    return r.returncode == 0


class Manager:
    """The notify socket and the messages that arrived on it, with times."""

    def __init__(self, path):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(path)
        self.sock.settimeout(0.1)
        self.msgs = []  # (monotonic time, {key: value})

    def pump(self):
        while True:
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return
            fields = dict(l.split("=", 1) for l in data.decode().split("\n") if "=" in l)
            self.msgs.append((time.monotonic(), fields))

    def having(self, key):
        self.pump()
        return [(t, m) for t, m in self.msgs if key in m]


def start(cpsync, cfg, notify_path, logpath, watchdog_pid_self, mdwe):
    port = C.free_port()
    env = dict(os.environ, NOTIFY_SOCKET=notify_path, WATCHDOG_USEC="2000000")
    # sh's $$ is the pid cpsync keeps after exec (or a pid that is not cpsync's)
    pid_expr = "$$" if watchdog_pid_self else "$PPID"
    cmd = 'WATCHDOG_PID=%s exec "$@"' % pid_expr
    log = open(logpath, "a")
    proc = subprocess.Popen(["sh", "-c", cmd, "sh"] + C.DIE_WITH_US + [
        cpsync, "run", "-c", cfg, "--http", "127.0.0.1:%d" % port],
        env=env, stdout=log, stderr=subprocess.STDOUT,
        preexec_fn=deny_write_execute if mdwe else None)
    return proc, port, log


def run_once(cpsync, cfg, tmp, tag, watchdog_pid_self, mdwe):
    notify_path = os.path.join(tmp, "notify-%s.sock" % tag)
    mgr = Manager(notify_path)
    logpath = os.path.join(tmp, "cpsync-%s.log" % tag)
    proc, port, log = start(cpsync, cfg, notify_path, logpath, watchdog_pid_self, mdwe)
    tail = lambda: C.log_tail(open(logpath, "r"))  # noqa: E731
    try:
        deadline = time.monotonic() + 90
        while not mgr.having("READY"):
            if proc.poll() is not None:
                C.fail("[%s] cpsync exited with %d before READY=1\n%s"
                       % (tag, proc.returncode, tail()))
            if time.monotonic() > deadline:
                C.fail("[%s] no READY=1 within 90 s\n%s" % (tag, tail()))
        t_ready, ready = mgr.having("READY")[0]
        if ready["READY"] != "1" or "running" not in ready.get("STATUS", ""):
            C.fail("[%s] READY message %r" % (tag, ready))
        st, _ = C.http_get(port, "/healthz", token=None)
        if st != 200:
            C.fail("[%s] READY=1 came before /healthz answers (%s)" % (tag, st))
        if mgr.having("WATCHDOG") and mgr.having("WATCHDOG")[0][0] < t_ready:
            C.fail("[%s] WATCHDOG=1 before READY=1" % tag)
        until = time.monotonic() + 4.5  # 4.5 watchdog half-intervals, timed as they arrive
        while time.monotonic() < until:
            mgr.pump()
        pings = [t for t, m in mgr.having("WATCHDOG") if m["WATCHDOG"] == "1"]
        if watchdog_pid_self:
            if len(pings) < 2:
                C.fail("[%s] %d WATCHDOG=1 in 4.5 s after READY (want >= 2)\n%s"
                       % (tag, len(pings), tail()))
            gaps = [b - a for a, b in zip([t_ready] + pings, pings)]
            if max(gaps) > 2.0:
                C.fail("[%s] WATCHDOG=1 gaps %s: one exceeds WATCHDOG_USEC (2 s)" % (tag, gaps))
            C.info("[%s] READY=1 (%s), %d WATCHDOG=1 in 4.5 s, gaps %s s" % (
                tag, ready["STATUS"], len(pings), ", ".join("%.2f" % g for g in gaps)))
        elif pings:
            C.fail("[%s] WATCHDOG=1 although WATCHDOG_PID names another process" % tag)
        if mgr.having("STOPPING"):
            C.fail("[%s] STOPPING=1 before SIGTERM" % tag)
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            C.fail("[%s] no exit within 20 s of SIGTERM\n%s" % (tag, tail()))
        if rc != 0:
            C.fail("[%s] exit %d after SIGTERM\n%s" % (tag, rc, tail()))
        if not mgr.having("STOPPING") or mgr.having("STOPPING")[0][1]["STOPPING"] != "1":
            C.fail("[%s] no STOPPING=1 after SIGTERM: %r" % (tag, mgr.msgs))
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        log.close()
        mgr.sock.close()


def main():
    C.set_name("engine.sd_notify")
    if len(sys.argv) != 3:
        C.fail("usage: test_sd_notify.py CPSYNC_BIN SOURCE_DIR")
    cpsync, source_dir = sys.argv[1], sys.argv[2]
    mdwe = mdwe_supported()
    if not mdwe:
        C.info("this kernel has no PR_SET_MDWE: running without write-execute denial")
    db = C.Database(C.require_pg(), "sd_notify")
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "cpsync.yaml")
            with open(cfg, "w") as f:
                f.write(CONFIG.format(pid=os.getpid(), schemas=os.path.join(source_dir, "schemas"),
                                      conninfo=db.conninfo))
            run_once(cpsync, cfg, tmp, "main", True, mdwe)
            run_once(cpsync, cfg, tmp, "other-pid", False, False)
    finally:
        db.drop()
    print("engine.sd_notify: OK%s" % (" (with PR_SET_MDWE)" if mdwe else ""))


if __name__ == "__main__":
    main()
