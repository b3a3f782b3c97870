#!/usr/bin/env python3
"""http.hostile: issue 11's probes 6 and 7 against a running `cpsync run`
with its default HTTP settings (embedded Kafka, fresh database on
CPSYNC_TEST_PG; the config and the seeding of tests/api/test_api.py).

(a) 64 slow clients, 32 from 127.0.0.1 and 32 from 127.0.0.2, each sending
    a request line and then one header line every 5 s (never idle for the
    30 s idle timeout): /healthz and an API route asked from 127.0.0.3 both
    answer within 2 s while they are connected, and every slow connection is
    closed by the request deadline (10 s by default), not left open.
(b) a row lock held in psql on a conflict while 6 resolves of it wait
    behind it (more than the API workers): /healthz, /readyz and /metrics
    each answer within 2 s while they wait; the resolves then end with 503.

usage: test_http_hostile.py --cpsync BIN --source DIR   (run with /usr/bin/python3)
"""
import argparse
import http.client
import os
import select
import socket
import sys
import threading
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)
import test_api as A  # noqa: E402  (its CONFIG, TOKENS, seed and request)

L = A.L
SLOW_CLIENTS = 64
LINE_EVERY_S = 5
DEADLINE_S = 10  # http.request_deadline_s's default
FAILS = []


def check(cond, msg):
    if not cond:
        FAILS.append(msg)
        print("http.hostile: FAIL: %s" % msg, file=sys.stderr, flush=True)


def ask(port, path, token=None, source="127.0.0.3", timeout=10):
    """(status or None, seconds) of a GET from another client address."""
    t0 = time.monotonic()
    try:
        c = http.client.HTTPConnection("127.0.0.1", port, timeout=timeout,
                                       source_address=(source, 0))
        c.request("GET", path, headers={"Authorization": "Bearer " + token} if token else {})
        r = c.getresponse()
        r.read()
        c.close()
        return r.status, time.monotonic() - t0
    except (OSError, http.client.HTTPException):
        return None, time.monotonic() - t0


class SlowClients:
    """SLOW_CLIENTS sockets that send a header line every LINE_EVERY_S s;
    closed_at[i] = seconds after the start when the server closed socket i."""

    def __init__(self, port):
        self.socks, self.closed_at = [], {}
        self.t0 = time.monotonic()
        for i in range(SLOW_CLIENTS):
            s = socket.socket()
            s.bind(("127.0.0.%d" % (1 + i % 2), 0))
            try:
                s.connect(("127.0.0.1", port))
                s.sendall(b"GET /api/v1/conflicts HTTP/1.1\r\nHost: cpsync\r\n")
            except OSError:
                self.closed_at[i] = 0.0
            self.socks.append(s)
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self._run)
        self.thread.start()

    def _run(self):
        next_line = time.monotonic() + LINE_EVERY_S
        while not self.stop.is_set():
            live = [s for i, s in enumerate(self.socks) if i not in self.closed_at]
            if not live:
                return
            ready, _, _ = select.select(live, [], [], 0.1)
            for s in ready:
                try:
                    data = s.recv(4096)
                except OSError:
                    data = b""
                if not data:
                    self.closed_at[self.socks.index(s)] = time.monotonic() - self.t0
            if time.monotonic() >= next_line:
                next_line += LINE_EVERY_S
                for i, s in enumerate(self.socks):
                    if i not in self.closed_at:
                        try:
                            s.sendall(b"X-Slow: %d\r\n" % i)
                        except OSError:
                            self.closed_at[i] = time.monotonic() - self.t0

    def close(self):
        self.stop.set()
        self.thread.join()
        for s in self.socks:
            s.close()


def slow_clients(port):
    slow = SlowClients(port)
    try:
        time.sleep(1.5)
        held = SLOW_CLIENTS - len(slow.closed_at)
        st_h, t_h = ask(port, "/healthz", timeout=10)
        st_a, t_a = ask(port, "/api/v1/conflicts?limit=1", A.TOKENS["steward"], timeout=10)
        L.info("slow clients: %d of %d held open by the server; /healthz %s in %.2f s, "
               "GET /api/v1/conflicts %s in %.2f s" % (held, SLOW_CLIENTS, st_h, t_h, st_a, t_a))
        check(st_h == 200 and t_h <= 2, "/healthz with 64 slow clients: %s after %.2f s"
              % (st_h, t_h))
        check(st_a == 200 and t_a <= 2, "API route with 64 slow clients: %s after %.2f s"
              % (st_a, t_a))
        L.wait_for("every slow connection closed", lambda: len(slow.closed_at) == SLOW_CLIENTS,
                   timeout=DEADLINE_S + 8)
    except SystemExit:
        FAILS.append("slow connections still open %.0f s after they connected: %d of %d"
                     % (time.monotonic() - slow.t0, SLOW_CLIENTS - len(slow.closed_at),
                        SLOW_CLIENTS))
    finally:
        slow.close()
    late = sorted(t for t in slow.closed_at.values() if t > 1)
    if late:
        L.info("slow connections the server held: closed after %.1f .. %.1f s"
               % (late[0], late[-1]))
        check(DEADLINE_S - 1 <= late[0] and late[-1] <= DEADLINE_S + 3,
              "held slow connections closed after %.1f .. %.1f s, want about %d s"
              % (late[0], late[-1], DEADLINE_S))


def blocked_workers(port, db, cid):
    import psycopg2
    rpath = "/api/v1/conflicts/%d/resolve" % cid
    rbody = {"action": "take_platform", "platform": "city", "reason": "city is verified"}
    blocker = psycopg2.connect(db.conninfo)
    with blocker.cursor() as cur:
        cur.execute("SELECT id FROM cpsync.conflicts WHERE id = %s FOR UPDATE", (cid,))
    results = []

    def resolve():
        st, _, _ = A.request(port, "POST", rpath, A.TOKENS["steward"], rbody)
        results.append((st, time.monotonic()))
    threads = [threading.Thread(target=resolve) for _ in range(6)]
    for t in threads:
        t.start()
    time.sleep(1)
    answered = {}
    for path in ("/healthz", "/readyz", "/metrics"):
        answered[path] = ask(port, path, timeout=15)
    asked_until = time.monotonic()
    for t in threads:
        t.join()
    blocker.rollback()
    blocker.close()
    L.info("6 resolves behind a row lock: %s; meanwhile %s" % (
        sorted(st for st, _ in results),
        ", ".join("%s %s in %.2f s" % (p, st, s) for p, (st, s) in answered.items())))
    check(all(st == 503 for st, _ in results), "resolves behind the lock: %s" % results)
    check(all(t > asked_until for _, t in results),
          "a resolve ended before the probes were asked: the test proves nothing")
    for path, (st, secs) in answered.items():
        check(st in ((200, 503) if path == "/readyz" else (200,)) and secs <= 2,
              "%s while the API workers were blocked: %s after %.2f s" % (path, st, secs))


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()
    L.set_name("http.hostile")
    pg = L.require_pg()
    schema_dir = os.path.join(os.path.abspath(args.source), "schemas")
    db = L.Database(pg, "hostile")
    work = L.tmpdir("hostile")
    cps = None
    # test_api's config with the default per-IP limit (its race needs more)
    per_ip = "  max_connections_per_ip: 32  # the race below opens 20 connections at once\n"
    if per_ip not in A.CONFIG:
        L.fail("test_api.CONFIG changed: update the per-IP line here")
    config = A.CONFIG.replace(per_ip, "")
    try:
        cfg = os.path.join(work, "hostile.yaml")
        with open(cfg, "w") as f:
            f.write(config.format(pid=os.getpid(), schemas=schema_dir, conninfo=db.conninfo,
                                    **A.TOKENS))
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        port = cps.port
        slow_clients(port)

        st, doc, _ = A.request(port, "GET", "/status", A.TOKENS["operator"])
        schemas = L.Schemas(args.cpsync, schema_dir)
        L.wait_for("sources RUNNING", lambda: all(
            l["state"] == "RUNNING" for l in A.request(port, "GET", "/status",
                                                       A.TOKENS["operator"])[1]["links"]
            if l["name"] in ("province-source", "city-source")))
        keys = A.seed(schemas, L.producer(doc["kafka"]["bootstrap"]), 1, 2)
        L.wait_for("an open conflict", lambda: db.query(
            "SELECT count(*) FROM cpsync.conflicts WHERE key = %s", (keys[0],))[0][0] == 1)
        cid = db.query("SELECT id FROM cpsync.conflicts WHERE key = %s", (keys[0],))[0][0]
        blocked_workers(port, db, cid)
        check(db.query("SELECT status FROM cpsync.conflicts WHERE id = %s", (cid,))[0][0] ==
              "open", "a timed-out resolve changed the conflict")
        rc = cps.stop()
        check(rc == 0, "cpsync exited with %s after SIGTERM" % rc)
        if FAILS:
            print(cps.tail(), file=sys.stderr)
            L.fail("%d check(s) failed" % len(FAILS))
    finally:
        if cps:
            cps.kill()
        db.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
