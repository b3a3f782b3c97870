#!/usr/bin/env python3
"""api.log: live logging of a running cpsync (PUT/GET /api/v1/log, SIGHUP, cpsync log).

Starts `cpsync run -c CONFIG` at log level info (embedded Kafka, a fresh
database on $CPSYNC_TEST_PG, viewer / steward / operator tokens), then:
- requests leave no debug line while the level is info;
- PUT /api/v1/log {"level":"debug","debug":["http"]} by the operator: the
  NEXT requests show debug HTTP lines, /status and GET /api/v1/log show the
  new level, and the change is audited (log.changed, before and after);
- viewer and steward tokens get 403 on PUT, no token 401; a bad level, an
  unknown context or an unknown key 400, and nothing changes;
- `cpsync log set info` and `cpsync log show` over the API: debug lines stop;
- SIGHUP with the file at level debug turns them on again; SIGHUP with an
  invalid file changes nothing and logs why; SIGTERM: clean exit 0.

usage: test_log_api.py CPSYNC_BIN SOURCE_DIR
"""
import json
import os
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cpsynctest as C  # noqa: E402

TOKENS = {
    "viewer": "viewer-token-0123456789abcdef",
    "steward": "steward-token-0123456789abcdef",
    "operator": "operator-token-0123456789abcdef",
}

CONFIG = """\
instance: logapi-{pid}
log:
  level: {level}
{debug}schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded:
    partitions: 1
store:
  conninfo: "{conninfo}"
  batch_ms: 20
http:
  listen: 127.0.0.1:1   # overridden by --http
  tokens:
    view-console: {{token: {viewer}, role: viewer}}
    steward-console: {{token: {steward}, role: steward}}
    ops-console: {{token: {operator}, role: operator}}
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


def check(cond, msg):
    if not cond:
        C.fail(msg)


def call(port, method, path, role=None, body=None, raw=None):
    return C.http_call(port, method, path, TOKENS[role] if role else None, body, raw)

def write_config(path, conninfo, source_dir, level, debug=None):
    with open(path, "w") as f:
        f.write(CONFIG.format(pid=os.getpid(), level=level,
                              debug=("  debug: [%s]\n" % ", ".join(debug)) if debug else "",
                              schemas=os.path.join(source_dir, "schemas"), conninfo=conninfo,
                              **TOKENS))


class Log:
    """The cpsync log file, read from a mark on."""

    def __init__(self, path):
        self.path = path
        self.pos = 0

    def mark(self):
        self.pos = os.path.getsize(self.path)

    def since(self):
        with open(self.path, errors="replace") as f:
            f.seek(self.pos)
            return f.read()


def debug_lines(text, facility="HTTP"):
    return [l for l in text.splitlines() if (" debug " + facility + " ") in l]


def poke(port, n=3):
    """A few requests, each of which makes a debug HTTP line when enabled."""
    for _ in range(n):
        st, _ = call(port, "GET", "/api/v1/connectors", role="viewer")
        check(st == 200, "GET /api/v1/connectors answered %s" % st)


def expect_debug(log, port, what):
    log.mark()
    poke(port)
    lines = C.wait_for(what, lambda: debug_lines(log.since()), timeout=10)
    check(any("GET /api/v1/connectors 200" in l for l in lines),
          "%s: no access debug line for the request:\n%s" % (what, "\n".join(lines)))


def expect_no_debug(log, port, what):
    log.mark()
    poke(port)
    st, _ = call(port, "GET", "/api/v1/log", role="viewer")  # after the pokes: flushed lines
    time.sleep(0.5)
    lines = [l for l in log.since().splitlines() if " debug " in l]
    check(not lines, "%s: debug lines appeared:\n%s" % (what, "\n".join(lines[:5])))


def cli(cpsync, port, *args):
    return subprocess.run([cpsync, "log"] + list(args) + [
        "--url", "http://127.0.0.1:%d" % port, "--token", TOKENS["operator"]],
        capture_output=True, text=True, timeout=30)


def main():
    C.set_name("api.log")
    if len(sys.argv) != 3:
        C.fail("usage: test_log_api.py CPSYNC_BIN SOURCE_DIR")
    cpsync, source_dir = sys.argv[1], sys.argv[2]
    db = C.Database(C.require_pg(), "logapi")
    tmp = tempfile.mkdtemp(prefix="cps-logapi-")
    cfg = os.path.join(tmp, "cpsync.yaml")
    write_config(cfg, db.conninfo, source_dir, "info")
    cps = C.Cpsync(cpsync, cfg, os.path.join(tmp, "cpsync.log"))
    try:
        cps.start()
        port = cps.port
        log = Log(cps.logpath)
        C.wait_for("the connectors API", lambda: call(port, "GET", "/api/v1/log",
                                                      role="viewer")[0] == 200, cps=cps)
        st, doc = call(port, "GET", "/api/v1/log", role="viewer")
        check(st == 200 and doc == {"level": "info", "debug": []}, "GET /api/v1/log: %s %s"
              % (st, doc))
        check(call(port, "GET", "/status", role="viewer")[1]["log"]["level"] == "info", "/status log.level is not info")
        expect_no_debug(log, port, "at level info")

        # roles and bad bodies: nothing changes
        body = {"level": "debug", "debug": ["http"]}
        check(call(port, "PUT", "/api/v1/log", body=body)[0] == 401, "PUT without a token")
        for role in ("viewer", "steward"):
            st, _ = call(port, "PUT", "/api/v1/log", role=role, body=body)
            check(st == 403, "PUT by a %s answered %s, not 403" % (role, st))
        for bad in ({"level": "loud"}, {"level": "debug", "debug": ["disk"]},
                    {"level": "debug", "colour": "red"}, {"debug": ["http"]},
                    {"level": "debug", "debug": "http"}, [1]):
            st, doc = call(port, "PUT", "/api/v1/log", role="operator", body=bad)
            check(st == 400 and "error" in doc, "PUT %s answered %s %s, not 400" % (bad, st, doc))
        st, _ = call(port, "PUT", "/api/v1/log", role="operator", raw=b"{not json")
        check(st == 400, "PUT with a malformed body answered %s" % st)
        check(call(port, "GET", "/api/v1/log", role="viewer")[1]["level"] == "info",
              "a refused change changed the level")
        expect_no_debug(log, port, "after refused changes")

        # the operator's change: the next lines show debug
        st, doc = call(port, "PUT", "/api/v1/log", role="operator",
                       body={"level": "debug", "debug": ["http"], "reason": "ticket 42"})
        check(st == 200 and doc == {"level": "debug", "debug": ["http"]},
              "PUT /api/v1/log: %s %s" % (st, doc))
        expect_debug(log, port, "debug HTTP lines after PUT")
        check(not debug_lines(log.since(), "KAFKA"), "KAFKA debug lines without the context")
        check(call(port, "GET", "/status", role="viewer")[1]["log"]["level"] == "debug", "/status log.level is not debug")
        rows = db.query("SELECT actor, before::text, after::text, reason FROM cpsync.audit "
                        "WHERE action = 'log.changed' AND entity = 'log'")
        check(len(rows) == 1, "audit rows for log.changed: %r" % (rows,))
        actor, before, after, reason = rows[0]
        check(actor == "ops-console" and json.loads(before)["level"] == "info"
              and json.loads(after) == {"level": "debug", "debug": ["http"]}
              and reason == "ticket 42", "audit row: %r" % (rows[0],))

        # the CLI over the API
        r = cli(cpsync, port, "set", "info")
        check(r.returncode == 0 and "level info" in r.stdout, "cpsync log set info: %d %s %s"
              % (r.returncode, r.stdout, r.stderr))
        expect_no_debug(log, port, "after cpsync log set info")
        r = cli(cpsync, port, "set", "loud")
        check(r.returncode == 2 and "unknown level" in r.stderr, "cpsync log set loud: %d %s"
              % (r.returncode, r.stderr))
        r = cli(cpsync, port, "set", "warn", "--debug", "store,kafka")
        check(r.returncode == 0, "cpsync log set warn --debug: %s" % r.stderr)
        r = cli(cpsync, port, "show")
        check(r.returncode == 0 and r.stdout.strip() == "level warn  debug store,kafka",
              "cpsync log show: %r" % r.stdout)
        st, doc = call(port, "PUT", "/api/v1/log", role="operator", body={"level": "warn"})
        check(st == 200 and doc == {"level": "warn", "debug": []},
              "PUT without debug contexts: %s %s" % (st, doc))

        # SIGHUP re-reads the file (log.*, with rules, policy and tokens: the
        # rules lifecycle's reload); an invalid file changes nothing
        write_config(cfg, db.conninfo, source_dir, "debug", ["http", "reconcile"])
        log.mark()
        cps.proc.send_signal(signal.SIGHUP)
        C.wait_for("the SIGHUP line", lambda: "reloaded '" in log.since(),
                   timeout=10, cps=cps)
        st, doc = call(port, "GET", "/api/v1/log", role="viewer")
        check(doc == {"level": "debug", "debug": ["reconcile", "http"]},
              "after SIGHUP: %s" % doc)
        expect_debug(log, port, "debug HTTP lines after SIGHUP")
        write_config(cfg, db.conninfo, source_dir, "loud")
        log.mark()
        cps.proc.send_signal(signal.SIGHUP)
        C.wait_for("the refused SIGHUP line",
                   lambda: "refused, nothing changed" in log.since(), timeout=10,
                   cps=cps)
        check("log.level" in log.since(), "the refusal does not say why:\n" + log.since())
        st, doc = call(port, "GET", "/api/v1/log", role="viewer")
        check(doc == {"level": "debug", "debug": ["reconcile", "http"]},
              "an invalid file changed the settings: %s" % doc)
        check(cps.alive(), "cpsync died on SIGHUP")

        rc = cps.stop()
        check(rc == 0, "cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        cps.kill()
        db.drop()
    print("api.log: OK")


if __name__ == "__main__":
    main()
