#!/usr/bin/python3
"""threeway.pg_source_kill: the PostgreSQL source inside a running cpsync,
under crashes. The city database holds rows before cpsync first starts.
Asserted:
- snapshot + streaming: every existing row reaches cpsync.records exactly
  once (version 1, one history row, its city position in records.facts);
- a stream of a few thousand updates (each a new residence_address, a few
  keys per transaction) while cpsync is SIGKILLed twice at random moments and
  restarted: afterwards every row's final values are in cpsync.records and
  each key's record_history is versions 1..n with n = 1 + its updates and
  the addresses in the order they were written (nothing lost, nothing twice);
- pg_terminate_backend(cpsync's walsender) mid-stream: the source reconnects
  by itself (the slot active again under a new walsender, link RUNNING,
  changes keep arriving) without a cpsync restart;
- the slot's confirmed_flush_lsn advances past the last update, and with the
  city idle while WAL grows elsewhere, restart_lsn and confirmed_flush_lsn
  keep advancing (the slot does not retain WAL without bound).
The broker is the standalone one (broker_main), which outlives cpsync: the
in-process embedded broker would lose the ingest topic with every SIGKILL.

usage: pg_source_kill.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import os
import random
import threading
import time

import psycopg2

import twlib as T
from twlib import L

N_PERSONS = 400
N_HOUSEHOLDS = 40
MIN_UPDATES = 3000
PER_TXN = 5
KILLS = 2
SEED = int(os.environ.get("CPSYNC_TW_SEED", str(int(time.time()))))


def nid(i):
    return L.national_id("440305", "19%02d%02d%02d" % (40 + i % 60, 1 + i % 12, 1 + i % 28), i)


def seed_city(city):
    city.execute(
        "INSERT INTO city.person SELECT k, 'name-' || i, 'MALE', date '1960-01-01' + i::int, "
        "'440305', '440305', 'addr-init-' || i, false, false, NULL, false, 'FULL', "
        "'1380000' || lpad(i::text, 4, '0'), NULL, false "
        "FROM unnest(%s::text[]) WITH ORDINALITY AS t(k, i)", ([nid(i) for i in range(N_PERSONS)],))
    city.execute(
        "INSERT INTO city.household SELECT 'H' || lpad(i::text, 6, '0'), %s, "
        "'[]'::jsonb, 1, '440305', 'URBAN', 1000.50 + i, 'DIBAO', NULL "
        "FROM generate_series(1, %s) i", (nid(0), N_HOUSEHOLDS))


class Updater(threading.Thread):
    """Updates residence_address of random persons, PER_TXN distinct keys a
    transaction, until told to stop (and at least MIN_UPDATES were made).
    written[key] = the addresses in commit order."""

    def __init__(self, conninfo, rng):
        super().__init__(daemon=True)
        self.conninfo = conninfo
        self.rng = rng
        self.stop_flag = threading.Event()
        self.written = {}
        self.count = 0
        self.error = None

    def run(self):
        try:
            conn = psycopg2.connect(self.conninfo)
            seq = 0
            while not (self.stop_flag.is_set() and self.count >= MIN_UPDATES):
                keys = self.rng.sample(range(N_PERSONS), PER_TXN)
                done = []
                with conn.cursor() as c:
                    for i in keys:
                        seq += 1
                        addr = "addr-%d" % seq
                        c.execute("UPDATE city.person SET residence_address = %s "
                                  "WHERE national_id = %s", (addr, nid(i)))
                        done.append((nid(i), addr))
                conn.commit()
                for k, a in done:
                    self.written.setdefault(k, []).append(a)
                self.count += len(done)
                time.sleep(0.03)
            conn.close()
        except Exception as e:  # reported by the main thread
            self.error = repr(e)


def history_count(store):
    return store.query("SELECT count(*) FROM cpsync.record_history")[0][0]


def wait_progress(store, cps, what, timeout=90):
    before = history_count(store)
    T.wait_for(what, lambda: history_count(store) > before, timeout, cps, 0.1)


def run(args, store, city, cps, rng):
    T.wait_links_running(cps, names=["city-source", "city-sink"])
    # -- the snapshot: every existing row exactly once
    total = N_PERSONS + N_HOUSEHOLDS
    T.wait_for("the snapshot in cpsync.records",
               lambda: store.query("SELECT count(*) FROM cpsync.records")[0][0] >= total,
               120, cps)
    T.wait_for("the outbox drained",
               lambda: store.query("SELECT count(*) FROM cpsync.outbox")[0][0] == 0, 60, cps)
    rows = store.query("SELECT entity, version, cpsync.facts_json(facts)->'city' IS NOT NULL, "
                       "cpsync.facts_json(facts)->'city'->>'pos' FROM cpsync.records")
    if len(rows) != total:
        L.fail("%d records after the snapshot, want %d" % (len(rows), total))
    bad = [r for r in rows if r[1] != 1 or not r[2]]
    if bad:
        L.fail("%d records not at version 1 with a city position, e.g. %s"
               % (len(bad), bad[0][:3]))
    positions = {r[3] for r in rows}
    if None in positions or len(positions) != total:
        L.fail("the snapshot's city positions are not one per row: %d distinct for %d rows"
               % (len(positions - {None}), total))
    hist = store.query("SELECT count(*), max(version) FROM cpsync.record_history")[0]
    if hist != (total, 1):
        L.fail("record_history after the snapshot: %s rows, max version %s" % hist)
    L.info("snapshot: %d rows, each exactly once (version 1)" % total)
    slot0 = city.slot_row()

    # -- streaming under two SIGKILLs
    upd = Updater(city.db.conninfo, rng)
    upd.start()
    for k in range(KILLS):
        wait_progress(store, cps, "streamed changes before kill %d" % (k + 1))
        time.sleep(rng.uniform(0.3, 3.0))
        cps.kill()
        L.info("kill %d: SIGKILL after %d updates, %d history rows"
               % (k + 1, upd.count, history_count(store)))
        if not upd.is_alive():
            L.fail("the update stream ended before kill %d: %s" % (k + 1, upd.error))
        cps.start()
        T.wait_links_running(cps, names=["city-source"])

    # -- the walsender terminated mid-stream
    wait_progress(store, cps, "streamed changes after the restarts")
    r = T.wait_for("the slot active", lambda: (city.slot_row() or (None,))[0], 30, cps)
    old_pid = r[0] if isinstance(r, tuple) else r
    city.query("SELECT pg_terminate_backend(%s)", (old_pid,))
    states = set()
    deadline = time.monotonic() + 60
    while True:
        s = T.link_states(cps).get("city-source")
        states.add(s)
        row = city.slot_row()
        if row and row[0] and row[0] != old_pid and s == "RUNNING":
            break
        if not cps.alive():
            L.fail("cpsync died after its walsender was terminated\n" + cps.tail())
        if time.monotonic() > deadline:
            L.fail("the source did not come back after pg_terminate_backend: slot %s, "
                   "link %s\n%s" % (row, s, cps.tail()))
        time.sleep(0.05)
    wait_progress(store, cps, "changes after the walsender was terminated", 60)
    L.info("walsender terminated: reconnected by itself (link states seen: %s), "
           "changes keep arriving" % sorted(x for x in states if x))

    upd.stop_flag.set()
    upd.join(120)
    if upd.error or upd.is_alive():
        L.fail("the update stream failed: %s" % upd.error)
    last_lsn = int(city.query("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0])
    L.info("%d updates streamed over %d keys" % (upd.count, len(upd.written)))

    # -- everything arrives, once
    want = {}
    for i in range(N_PERSONS):
        k = nid(i)
        want[k] = (1 + len(upd.written.get(k, [])),
                   upd.written[k][-1] if k in upd.written else "addr-init-%d" % (i + 1))

    def converged():
        got = {k: (v, T.plain(rec)["residence_address"]) for k, v, rec in store.query(
            "SELECT key, version, record FROM cpsync.records WHERE entity = 'person'")}
        return got == want
    T.wait_for("every update in cpsync.records", converged, 180, cps, 0.5)
    city_now = {k: a for k, a in city.query("SELECT national_id, residence_address "
                                            "FROM city.person")}
    if any(city_now[k] != a for k, (_, a) in want.items()):
        L.fail("the test's own bookkeeping differs from the city table")
    hist = {}
    for k, v, rec in store.query("SELECT key, version, record FROM cpsync.record_history "
                                 "WHERE entity = 'person' ORDER BY key, version"):
        hist.setdefault(k, []).append((v, T.plain(rec)["residence_address"]))
    for i in range(N_PERSONS):
        k = nid(i)
        vs = [v for v, _ in hist[k]]
        if vs != list(range(1, want[k][0] + 1)):
            L.fail("record_history of person #%d: versions %s, want 1..%d"
                   % (i, vs[:20], want[k][0]))
        if [a for _, a in hist[k][1:]] != upd.written.get(k, []):
            L.fail("record_history of person #%d: addresses not the written sequence" % i)
    households = store.query("SELECT count(*) FROM cpsync.records WHERE entity = 'household' "
                             "AND version = 1")[0][0]
    if households != N_HOUSEHOLDS:
        L.fail("households changed by the restarts: %d at version 1" % households)
    npos, nrec = store.query("SELECT count(DISTINCT cpsync.facts_json(facts)->'city'->>'pos'), "
                             "count(*) FROM cpsync.records")[0]
    if npos != nrec:
        L.fail("city positions in records.facts: %d distinct for %d records" % (npos, nrec))
    dead = store.query("SELECT count(*) FROM cpsync.dead_letters")[0][0]
    if dead:
        L.fail("%d dead letters" % dead)
    L.info("after 2 SIGKILLs and a terminated walsender: %d history rows, versions 1..n per "
           "key, every update exactly once" % sum(len(h) for h in hist.values()))

    # -- the slot: flushed past the last update
    T.wait_for("confirmed_flush_lsn past the last update",
               lambda: city.slot_row()[1] >= last_lsn, 60, cps)
    slot1 = city.slot_row()
    if not slot1[1] > slot0[1]:
        L.fail("confirmed_flush_lsn did not advance: %s -> %s" % (slot0, slot1))
    # -- idle city, WAL elsewhere: restart_lsn and confirmed_flush_lsn advance
    T.exec_sql(store, "CREATE TABLE public.wal_filler (i int, pad text)")
    for _ in range(3):
        T.exec_sql(store, "INSERT INTO public.wal_filler SELECT i, repeat('x', 200) "
                   "FROM generate_series(1, 20000) i")
        T.exec_sql(store, "CHECKPOINT")
    idle_lsn = int(store.query("SELECT pg_current_wal_lsn() - '0/0'::pg_lsn")[0][0])

    def advanced():
        T.exec_sql(store, "CHECKPOINT")
        r = city.slot_row()
        return r if r[2] > slot1[2] and r[1] >= idle_lsn else None
    slot2 = T.wait_for("the idle slot advancing (restart_lsn, confirmed_flush_lsn)", advanced,
                       90, cps, 1.0)
    retained = int(city.query("SELECT pg_current_wal_lsn() - restart_lsn FROM "
                              "pg_replication_slots WHERE slot_name = %s", (city.slot,))[0][0])
    L.info("slot: confirmed_flush_lsn %X -> %X -> %X, restart_lsn %X -> %X -> %X while the "
           "city was idle (%d bytes retained)" % (slot0[1], slot1[1], slot2[1], slot0[2],
                                                  slot1[2], slot2[2], retained))


def main():
    args = L.parse_args("threeway.pg_source_kill")
    rng = random.Random(SEED)
    L.info("seed %d (CPSYNC_TW_SEED)" % SEED)
    work = L.tmpdir("tw-kill")
    ssdir = os.path.join(work, "shenshan")
    for d in ("inbox", "outbox"):
        os.makedirs(os.path.join(ssdir, d))
    topics = ["cpsync.ingest:4", "cpsync.deadletter:1"] + \
        ["cpsync.unified.%s:2" % e for e in L.ENTITIES] + \
        ["%s:2" % t for t in ("province.person", "province.household", "province.inbound.person",
                               "province.inbound.household")]
    broker = L.Broker(args.broker, 2, topics)
    store = L.Database(args.pg, "tw_store_kill")
    city = T.City(args.pg, "kill", args.source)
    cps = None
    try:
        seed_city(city)
        cfg = os.path.join(work, "threeway.yaml")
        T.write_config(cfg, instance="tw-kill", schemas=args.schemas, source=args.source,
                       store_conninfo=store.conninfo, city=city, shenshan_dir=ssdir,
                       brokers=broker.bootstrap)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        run(args, store, city, cps, rng)
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        if cps:
            cps.kill()
        broker.stop()
        city.drop()
        store.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
