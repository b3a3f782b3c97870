#!/usr/bin/env python3
"""registry.discipline: cpsync asks the schema registry before it produces
(issue 13, item 9), against tests/fixtures/registry.py.

1. The fixture holds an older PersonEvent under cpsync.unified.person-value
   that cpsync's event schema cannot read (new fields without defaults):
   `cpsync run` starts, but the reconcile link is FAILED and /status names
   the subject, the schema and the registry's reason; nothing is registered.
2. A fresh fixture: the check passes and the reconcile link runs.
3. schemas.registry.auto_register: false on a fresh fixture: cpsync only
   looks ids up (POST /subjects/{s}, never .../versions), finds none, and the
   reconcile link is FAILED saying the schema is not registered.

usage: test_registry_discipline.py CPSYNC_BIN SOURCE_DIR
"""
import json
import os
import subprocess
import sys
import tempfile
import urllib.request

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cpsynctest as C  # noqa: E402

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
OLD_PERSON_EVENT = {"type": "record", "name": "PersonEvent", "namespace": "cpsync.unified",
                    "fields": [{"name": "key", "type": "string"}]}

CONFIG = """\
instance: regdisc-{pid}-{run}
schemas:
  dir: {schemas}
  registry:
    url: {registry}
    auto_register: {auto}
kafka:
  brokers: embedded
  embedded: {{partitions: 1}}
store:
  conninfo: "{conninfo}"
http:
  listen: 127.0.0.1:1   # overridden by --http
  tokens:
    test-console: {{token: {token}, role: viewer}}
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
    default: {{rule: precedence, platforms: [province]}}
"""


def check(cond, msg):
    if not cond:
        C.fail(msg)


def registry_call(url, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(url + path, data=data, headers={"Content-Type": CONTENT_TYPE})
    with urllib.request.urlopen(req, timeout=10) as r:
        return json.loads(r.read())


class Fixture:
    def __init__(self, source_dir):
        self.proc = subprocess.Popen([sys.executable, os.path.join(
            source_dir, "tests/fixtures/registry.py")], stdout=subprocess.PIPE)
        self.url = "http://127.0.0.1:%d" % int(self.proc.stdout.readline())

    def paths(self):
        return registry_call(self.url, "/__stats")["paths"]

    def stop(self):
        self.proc.terminate()
        self.proc.wait(timeout=10)


def reconcile_link(cps):
    doc = cps.status()
    links = {l["name"]: l for l in (doc or {}).get("links", [])}
    return links.get("reconcile")


def run(cpsync, source_dir, db, tmp, fixture, name, auto):
    cfg = os.path.join(tmp, name + ".yaml")
    with open(cfg, "w") as f:
        f.write(CONFIG.format(pid=os.getpid(), run=name, schemas=os.path.join(source_dir, "schemas"),
                              registry=fixture.url, auto="true" if auto else "false",
                              conninfo=db.conninfo, token=C.TOKEN))
    cps = C.Cpsync(cpsync, cfg, os.path.join(tmp, name + ".log"))
    cps.start()
    return cps


def wait_state(cps, state):
    C.wait_for("reconcile link %s" % state,
               lambda: (reconcile_link(cps) or {}).get("state") == state, timeout=60, cps=cps,
               detail=lambda: "%s" % (C.http_get(cps.port, "/status"),))
    return reconcile_link(cps)


def main():
    C.set_name("registry.discipline")
    if len(sys.argv) != 3:
        C.fail("usage: test_registry_discipline.py CPSYNC_BIN SOURCE_DIR")
    cpsync, source_dir = sys.argv[1], sys.argv[2]
    db = C.Database(C.require_pg(), "regdisc")
    tmp = tempfile.mkdtemp(prefix="cps-regdisc-")
    fixtures = []
    try:
        # 1. incompatible: the link does not start, /status says why
        fx = Fixture(source_dir)
        fixtures.append(fx)
        registry_call(fx.url, "/subjects/cpsync.unified.person-value/versions",
                      {"schema": json.dumps(OLD_PERSON_EVENT)})
        cps = run(cpsync, source_dir, db, tmp, fx, "incompatible", True)
        link = wait_state(cps, "FAILED")
        err = link.get("last_error") or ""
        for part in ('schema "cpsync.unified.PersonEvent" is incompatible with the latest version '
                     'of subject "cpsync.unified.person-value"',
                     "READER_FIELD_MISSING_DEFAULT_VALUE, location:/fields/entity"):
            check(part in err, "last_error %r lacks %r" % (err, part))
        check(cps.alive() and C.http_get(cps.port, "/healthz")[0] == 200,
              "cpsync stopped instead of failing the link")
        check(registry_call(fx.url, "/subjects") == ["cpsync.unified.person-value"],
              "something was registered: %s" % registry_call(fx.url, "/subjects"))
        check(fx.paths().get("POST /compatibility/subjects/cpsync.unified.person-value/"
                             "versions/latest") == 1, "no compatibility question: %s" % fx.paths())
        check("reconcile link not started: schema" in cps.tail(), "the log does not say why")
        check(cps.stop() == 0, "cpsync did not stop cleanly")

        # 2. compatible (nothing registered yet): the link runs
        fx = Fixture(source_dir)
        fixtures.append(fx)
        cps = run(cpsync, source_dir, db, tmp, fx, "compatible", True)
        wait_state(cps, "RUNNING")
        check(cps.stop() == 0, "cpsync did not stop cleanly")

        # 3. lookup only: no registration, the missing schema named
        fx = Fixture(source_dir)
        fixtures.append(fx)
        cps = run(cpsync, source_dir, db, tmp, fx, "lookup", False)
        link = wait_state(cps, "FAILED")
        err = link.get("last_error") or ""
        check("is not registered under subject" in err and "auto_register is false" in err,
              "last_error %r" % err)
        paths = fx.paths()
        check(not any(p.endswith("/versions") and p.startswith("POST /subjects/") for p in paths),
              "lookup-only mode registered: %s" % paths)
        check(any(p.startswith("POST /subjects/cpsync.unified.") and p.count("/") == 2
                  for p in paths), "no lookup: %s" % paths)
        check(cps.stop() == 0, "cpsync did not stop cleanly")
        C.info("incompatible schema: reconcile FAILED with the registry's reason; "
               "lookup-only: no registration")
    finally:
        for fx in fixtures:
            fx.stop()
        db.drop()


if __name__ == "__main__":
    main()
