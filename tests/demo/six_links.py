#!/usr/bin/python3
"""demo.six_links: `cpsync demo` on the real transports.

Runs `cpsync demo --people 300` with a fresh store database, a fresh city
database (created by cpsync), its own replication slot and a Shenshan
directory of its own, then asserts within 120 s:
- /status shows six links RUNNING, a source and a sink for each of
  province, city and shenshan, each with a growing record total;
- records in the store, and no policy finding of verification arithmetic
  (the demo's verifications add up); a file in the Shenshan outbox that python3-avro
  reads (0600, in 0700 folders: personal data); rows in the city's
  inbound tables;
- no echo: a person only the city knows never reaches inbound.person, and
  the version made by a city-only field change of a known person never
  does either, while the city sink goes on delivering other changes.
Needs CPSYNC_TEST_PG (deploy/test.sh exports it); fails without it.
"""
import argparse
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request

import avro.datafile
import avro.io
import psycopg2

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cpsynctest as C  # noqa: E402

PLATFORMS = ("province", "city", "shenshan")
DEADLINE_S = 120


def status(port):
    req = urllib.request.Request(
        "http://127.0.0.1:%d/status" % port,
        headers={"Authorization": "Bearer demo-viewer-token"})
    with urllib.request.urlopen(req, timeout=5) as r:
        return json.load(r)


def platform_links(doc):
    """{(platform, direction): link} of the six platform links."""
    out = {}
    for link in doc.get("links", []):
        if link.get("platform") in PLATFORMS and link.get("direction") in ("source", "sink"):
            out[(link["platform"], link["direction"])] = link
    return out


def main():
    C.set_name("demo.six_links")
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--source", required=True)
    args = ap.parse_args()

    base = C.require_pg()
    pid = os.getpid()
    store_db, city_db, slot = ("cps_demo_store_%d" % pid, "cps_demo_city_%d" % pid,
                               "cps_demo_slot_%d" % pid)
    store_ci, city_ci = C.conninfo_with_db(base, store_db), C.conninfo_with_db(base, city_db)
    admin = psycopg2.connect(base)
    admin.autocommit = True
    admin.cursor().execute('CREATE DATABASE "%s"' % store_db)
    tmp = tempfile.mkdtemp(prefix="cps_demo_")
    shenshan = os.path.join(tmp, "shenshan")
    port = C.free_port()
    log_path = os.path.join(tmp, "cpsync.log")
    env = dict(os.environ, CPSYNC_DEMO_CITY_SLOT=slot,
               CPSYNC_DEMO_CONFIG=os.path.join(args.source, "deploy", "demo.yaml"))
    log = open(log_path, "w")
    proc = subprocess.Popen(
        [args.cpsync, "demo", "--people", "300", "--pg", store_ci, "--city-pg", city_ci,
         "--shenshan-dir", shenshan, "--http", "127.0.0.1:%d" % port],
        stdout=log, stderr=subprocess.STDOUT, env=env)
    ok = False
    try:
        run_checks(proc, port, store_ci, city_ci, shenshan)
        ok = True
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        log.close()
        if not ok or proc.returncode not in (0, None):
            with open(log_path, errors="replace") as f:
                lines = [l for l in f if "CONFWARN" not in l]
            print("---- cpsync output (last 60 lines) ----")
            print("".join(lines[-60:]), flush=True)
        cur = admin.cursor()
        cur.execute("SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots "
                    "WHERE slot_name = %s AND NOT active", (slot,))
        for db in (store_db, city_db):
            cur.execute('DROP DATABASE IF EXISTS "%s" WITH (FORCE)' % db)
        admin.close()
        shutil.rmtree(tmp, ignore_errors=True)
    if proc.returncode != 0:
        C.fail("cpsync exited with %s after SIGTERM" % proc.returncode)
    print("PASS demo.six_links", flush=True)


def wait_for(what, deadline, probe, interval=1.0):
    while True:
        v = probe()
        if v:
            return v
        if time.monotonic() > deadline:
            C.fail("timed out waiting for " + what)
        time.sleep(interval)


def run_checks(proc, port, store_ci, city_ci, shenshan):
    deadline = time.monotonic() + DEADLINE_S

    def alive():
        if proc.poll() is not None:
            C.fail("cpsync exited early with %s" % proc.returncode)

    # 1. six links RUNNING with records, then each total grows
    def six_running():
        alive()
        try:
            links = platform_links(status(port))
        except OSError:
            return None
        if len(links) == 6 and all(l["state"] == "RUNNING" and l["records"] > 0
                                   for l in links.values()):
            return links
        return None

    first = wait_for("six platform links RUNNING with records", deadline, six_running)
    print("six links RUNNING: " + ", ".join(
        "%s-%s=%d" % (p, d, l["records"]) for (p, d), l in sorted(first.items())), flush=True)

    def all_grew():
        alive()
        links = platform_links(status(port))
        return links if all(links[k]["state"] == "RUNNING" and
                            links[k]["records"] > first[k]["records"] for k in first) else None

    grown = wait_for("every platform link's total to grow", deadline, all_grew)
    print("grown: " + ", ".join(
        "%s-%s=%d" % (p, d, l["records"]) for (p, d), l in sorted(grown.items())), flush=True)

    store = psycopg2.connect(store_ci)
    store.autocommit = True
    city = psycopg2.connect(city_ci)
    city.autocommit = True

    def one(conn, sql, params=()):
        cur = conn.cursor()
        cur.execute(sql, params)
        row = cur.fetchone()
        return row[0] if row else None

    # 2. records in the store, from all three platforms
    for entity in ("person", "household", "enrolment", "verification", "alert"):
        n = one(store, "SELECT count(*) FROM cpsync.records WHERE entity = %s", (entity,))
        if not n:
            C.fail("no %s records in the store" % entity)
    for p in PLATFORMS:
        n = one(store, "SELECT count(*) FROM cpsync.records WHERE cpsync.facts_json(facts) ? %s", (p,))
        if not n:
            C.fail("no record in the store carries %s's values" % p)

    # 2b. the policy runs on the demo: the city's verifications add up (a decimal
    # whose two's complement starts with a 0x00 byte once reached the city's
    # table as 0: every per-capita figure with costs deducted looked wrong)
    cur = store.cursor()
    cur.execute("SELECT check_code, count(*) FROM cpsync.policy_findings WHERE status = 'open' "
                "GROUP BY 1 ORDER BY 1")
    kinds = dict(cur.fetchall())
    print("open policy findings: %s" % (kinds or "none"), flush=True)
    for check in ("VERIFICATION_TOTAL_MISMATCH", "VERIFICATION_PER_CAPITA"):
        if kinds.get(check):
            C.fail("%d %s findings: the demo's verifications do not add up" % (kinds[check], check))

    # 3. a file in the Shenshan outbox that python3-avro reads
    def outbox_file():
        files = sorted(glob.glob(os.path.join(shenshan, "outbox", "*.avro")))
        return files or None

    files = wait_for("a file in the Shenshan outbox", deadline, outbox_file)
    read = 0
    for path in files[:3]:
        with open(path, "rb") as f:
            reader = avro.datafile.DataFileReader(f, avro.io.DatumReader())
            name = json.loads(reader.get_meta("avro.schema"))["name"].split(".")[-1]
            for rec in reader:
                key = {"Person": "national_id", "Household": "household_id",
                       "Enrolment": "enrolment_id"}.get(name)
                if not key or not rec.get(key):
                    C.fail("%s: a record of %s without its key" % (os.path.basename(path), name))
                read += 1
            reader.close()
    if not read:
        C.fail("the Shenshan outbox files hold no records")
    # personal data: the zone's folders and files are the demo user's alone
    for d in ("inbox", "outbox"):
        mode = os.stat(os.path.join(shenshan, d)).st_mode & 0o777
        if mode != 0o700:
            C.fail("the Shenshan %s folder is %o, not 700" % (d, mode))
    for path in files[:3]:
        mode = os.stat(path).st_mode & 0o777
        if mode != 0o600:
            C.fail("%s is %o, not 600" % (os.path.basename(path), mode))
    print("outbox: %d files, %d records read by python3-avro from the first ones"
          % (len(files), read), flush=True)

    # 4. rows in the city's inbound tables
    def inbound_rows():
        return all(one(city, "SELECT count(*) FROM inbound.%s" % t)
                   for t in ("person", "household", "enrolment", "alert")) or None

    wait_for("rows in inbound.person/household/enrolment/alert", deadline, inbound_rows)

    # 5a. a person only the city knows never comes back to it
    lonely = C.national_id("440305", "19800101", 417)
    if one(city, "SELECT count(*) FROM city.person WHERE national_id = %s", (lonely,)):
        C.fail("the generated population already holds the test's person")
    city.cursor().execute(
        "INSERT INTO city.person (national_id, name, gender, birth_date, "
        "registration_region_code, residence_region_code, residence_address, "
        "has_residence_permit, disabled, seriously_ill, labour_capacity, deceased) VALUES "
        "(%s, '测试', 'FEMALE', '1980-01-01', '440305', '440305', '南山区测试街道1号', "
        "false, false, false, 'FULL', false)", (lonely,))
    city.cursor().execute("UPDATE city.person SET residence_address = '南山区测试街道2号' "
                          "WHERE national_id = %s", (lonely,))
    wait_for("the city-only person's two versions in the store", deadline, lambda: one(
        store, "SELECT version FROM cpsync.records WHERE entity = 'person' AND key = %s "
        "AND record::text LIKE %s AND version >= 2", (lonely, "%测试街道2号%")))

    # 5b. a city-only field change of a known person: that version never
    # reaches inbound.person
    known = one(city, "SELECT national_id FROM city.person WHERE NOT deceased "
                "ORDER BY national_id LIMIT 1")
    marker = "南山区回声测试%d号" % os.getpid()
    city.cursor().execute("UPDATE city.person SET residence_address = %s WHERE national_id = %s",
                          (marker, known))
    v_echo = wait_for("the known person's city change in the store", deadline, lambda: one(
        store, "SELECT version FROM cpsync.record_history WHERE entity = 'person' AND key = %s "
        "AND record::text LIKE %s ORDER BY version LIMIT 1", (known, "%" + marker + "%")))
    t_echo = one(store, "SELECT committed_at FROM cpsync.record_history WHERE entity = 'person' "
                 "AND key = %s AND version = %s", (known, v_echo))
    print("city-only change of a known person is version %d" % v_echo, flush=True)
    watch_until = time.monotonic() + 10
    while time.monotonic() < watch_until:
        alive()
        if one(city, "SELECT count(*) FROM inbound.person WHERE cpsync_key = %s", (lonely,)):
            C.fail("the city-only person was echoed into inbound.person")
        if one(city, "SELECT count(*) FROM inbound.person WHERE cpsync_key = %s "
               "AND cpsync_version = %s", (known, v_echo)):
            C.fail("the city's own change (version %d) was echoed into inbound.person" % v_echo)
        time.sleep(0.5)
    # the sink went on delivering meanwhile: the silence above is no stall
    later = sum(one(city, "SELECT count(*) FROM inbound.%s WHERE received_at > %%s" % t,
                    (t_echo,)) for t in ("person", "household", "enrolment", "alert"))
    if not later:
        C.fail("the city sink delivered nothing after the city's change: no-echo not shown")
    print("no echo: %d inbound rows written since, none of the city's own" % later, flush=True)
    store.close()
    city.close()


if __name__ == "__main__":
    main()
