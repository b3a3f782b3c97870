#!/usr/bin/python3
"""e2e.crash_safety: cpsync SIGKILLed five times while it works loses and
duplicates nothing.

Input: >= 100,000 person events over >= 12,000 keys from the three
platforms (each key has a home platform, so that its event order, and thus
its version sequence, is the same in every run), with updates,
out-of-order effective times (late corrections that must change nothing),
tombstone deletes, re-creations after a delete, and a few bad messages. The
broker (broker_main) outlives cpsync. Run A: cpsync is killed with SIGKILL
at random moments five times (each after the store has passed a random
share of the input, then a random jitter) and restarted each time until
every input is consumed. Run B: an uninterrupted cpsync reads the same input (its own
consumer groups, ingest, dead-letter and unified topics) into another
database. Asserted:
- cpsync.records (record, version, deleted) and record_history identical
  between A and B;
- every valid event accounted for: each key's platform position in
  records.facts is the origin of its newest event; every bad message is
  exactly one dead letter (by origin) in both databases;
- record_history versions per key are 1..n, no gaps, no repeats;
- A's unified topic holds every (key, version) of the history at least once,
  and deduplicating by (key, version) gives exactly the history.
Prints run B's end-to-end throughput (input events / s, from the start of
cpsync until every unified event is published).

With --real-kafka (kafka_real.crash_safety) the same runs on the real Kafka
broker of $CPSYNC_TEST_KAFKA: topic and consumer group names carry a prefix
unique to the run, the topics are created beforehand and deleted afterwards;
--keys and --kills scale it (fewer keys only where a slower binary still has
input left at the last kill: the test fails when a kill comes after all input
was consumed). Each run
prints events in, unified out, lost, doubled (re-published duplicates of
one content, dropped by (key, version)) and gaps.

usage: crash_safety.py --cpsync BIN (--broker BROKER_MAIN | --real-kafka) --source SOURCE_DIR
                       [--keys N] [--kills K]
"""
import os
import random
import time

import e2elib as L
from confluent_kafka import Consumer, TopicPartition

N_KEYS = 12_000
EVENTS_PER_KEY = 8.5  # on average: >= 100,000 events
N_BAD = 12
KILLS = 5
PLATFORMS = ["province", "city", "shenshan"]
FRAMING = {"province": "single-object", "city": "confluent", "shenshan": "single-object"}
T0 = 1_700_000_000_000
SEED = int(os.environ.get("CPSYNC_E2E_SEED", "20240611"))


PFX = ""  # topic and group prefix on a shared real broker


def topic_of(p):
    return "%sin.%s.person" % (PFX, p)


def platforms_conf():
    return {p: (FRAMING[p], {topic_of(p): "person"}) for p in PLATFORMS}


def person(nid, rng, i):
    return {"national_id": nid, "name": "甲%d" % (i % 997), "gender": "MALE", "birth_date": 3000,
            "registration_region_code": "440305",
            "residence_region_code": rng.choice(["440305", "440304", "441521"]),
            "residence_address": None if i % 3 else "街道%d号" % i,
            "has_residence_permit": bool(i % 2), "disabled": False, "disability_grade": None,
            "seriously_ill": False, "labour_capacity": rng.choice(["FULL", "PARTIAL", "NONE"]),
            "phone": "138%08d" % rng.randrange(10 ** 8), "household_id": None,
            "deceased": False}


def make_input(schemas, rng):
    """[(platform, key, value or None, effective_ms, bad)] in production order."""
    events = []
    for k in range(N_KEYS):
        plat = PLATFORMS[k % 3]
        # one ID per key at any --keys: the sequence is k's last three digits,
        # the birth date counts the thousands
        d = k // 1000
        nid = L.national_id(["440305", "440304", "441521"][k % 3],
                            "19%02d%02d%02d" % (40 + d % 60, 1 + d // 60 % 12, 1 + d // 720 % 28),
                            k)
        n = rng.choice([6, 7, 8, 9, 10, 11])
        eff = T0 + k
        for j in range(n):
            r = rng.random()
            if j > 0 and r < 0.10:
                # a late correction: older than what came before, changes nothing
                e = eff - rng.randrange(1, 5) * 1000 * 3600 - 1
                events.append((plat, nid, person(nid, rng, j), e, False))
                continue
            eff += rng.randrange(1, 100) * 60_000
            if j > 0 and r < 0.16:
                events.append((plat, nid, None, eff, False))  # delete
            else:
                events.append((plat, nid, person(nid, rng, j), eff, False))
    # interleave the keys' events, keeping each key's own order
    by_key = {}
    for ev in events:
        by_key.setdefault(ev[1], []).append(ev)
    queues = list(by_key.values())
    out = []
    while queues:
        i = rng.randrange(len(queues))
        out.append(queues[i].pop(0))
        if not queues[i]:
            queues[i] = queues[-1]
            queues.pop()
    for b in range(N_BAD):
        pos = rng.randrange(len(out))
        plat = PLATFORMS[b % 3]
        out.insert(pos, (plat, "bad-%d" % b, b"\xc3\x01" + bytes(rng.randrange(256)
                                                                for _ in range(30)), 0, True))
    return out


def encode(schemas, events):
    msgs = []
    for plat, key, rec, eff, bad in events:
        if bad:
            value = rec
        elif rec is None:
            value = None
        else:
            value = schemas.frame(FRAMING[plat], "person", rec)
        hdr = [("effective_time", str(eff).encode())] if not bad else None
        msgs.append((topic_of(plat), key.encode(), value, hdr, T0 + 10 ** 9))
    return msgs


def committed_total(bootstrap, group, topic):
    c = Consumer({"bootstrap.servers": bootstrap, "group.id": group})
    md = c.list_topics(topic, timeout=10)
    tps = [TopicPartition(topic, p) for p in md.topics[topic].partitions]
    total = sum(max(tp.offset, 0) for tp in c.committed(tps, timeout=10))
    c.close()
    return total


def done(db, broker, run, input_ends):
    """Every input committed by the sources, every ingest event applied,
    the outbox empty."""
    for p in PLATFORMS:
        if committed_total(broker.bootstrap, "e2e-%s-%s" % (p, run), topic_of(p)) \
                < input_ends[p]:
            return False
    stored = db.query("SELECT coalesce(sum(next_offset), 0) FROM cpsync.ingest_offsets")[0][0]
    if stored < L.end_offsets(broker.bootstrap, "%s.ingest" % run):
        return False
    return db.query("SELECT count(*) FROM cpsync.outbox")[0][0] == 0


def config(args, work, broker, db, run):
    cfg = os.path.join(work, "%s.yaml" % run)
    L.write_config(cfg, instance="e2e-crash-%s" % run, schemas=args.schemas,
                   bootstrap=broker.bootstrap, conninfo=db.conninfo,
                   platforms=platforms_conf(), source=args.source,
                   ingest_topic="%s.ingest" % run, dead_letter_topic="%s.dead" % run,
                   unified_prefix="%s.unified." % run, workers=2, batch_size=1000,
                   batch_ms=50, group_suffix=run,
                   # a killed member leaves its groups within seconds, not 45 s
                   kafka_consumer_properties={"session.timeout.ms": 6000,
                                     "heartbeat.interval.ms": 1000})
    return cfg


def budget_s(n_events):
    """How long a run may take to consume the input: 200 s for the 100,000
    events of the suite, more for a larger --keys (a million: 700 s)."""
    return 200 + n_events // 2000


def wait_done(cps, db, broker, run, input_ends, timeout):
    deadline = time.monotonic() + timeout
    while not done(db, broker, run, input_ends):
        if not cps.alive():
            L.fail("run %s: cpsync died\n%s" % (run, cps.tail()))
        if time.monotonic() > deadline:
            L.fail("run %s: input not consumed within %d s: %s\n%s"
                   % (run, timeout, cps.status(), cps.tail()))
        time.sleep(0.5)


def unified_versions(broker, run):
    """(key, version) of every event on <run>.unified.person, parsed from the
    Confluent-framed Avro body (entity enum, key string, version long). A
    (key, version) published twice must carry the same bytes both times."""
    out = []
    content = {}
    for _, _, _, key, value, _ in L.consume_all(broker.bootstrap, ["%s.unified.person" % run],
                                                timeout_s=180):
        head = L.unified_head(value) if value[:1] == b"\x00" else None
        if head is None:
            L.fail("unified event not Confluent framed")
        k, v, _ = head
        if key.decode() != k:
            L.fail("unified event key differs from its Kafka key")
        if content.setdefault((k, v), value) != value:
            L.fail("a (key, version) carries two different contents on the unified topic")
        out.append((k, v))
    return out


def main():
    global PFX, N_KEYS, KILLS
    args = L.parse_args("e2e.crash_safety", extra=[
        ("--keys", {"type": int, "default": N_KEYS}),
        ("--kills", {"type": int, "default": KILLS})])
    if args.real_kafka:
        L.set_name("kafka_real.crash_safety")
    PFX, N_KEYS, KILLS = args.pfx, args.keys, args.kills
    run_a, run_b = PFX + "a", PFX + "b"
    rng = random.Random(SEED)
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("crash")
    topics = ["%s:16" % topic_of(p) for p in PLATFORMS]
    for run in (run_a, run_b):
        topics += ["%s.ingest:32" % run, "%s.dead:2" % run, "%s.unified.person:64" % run]
        topics += ["%s.unified.%s:2" % (run, e) for e in L.ENTITIES if e != "person"]
    broker = L.open_broker(args, 2, topics)
    tag = "kr_crash" if args.real_kafka else "e2e_crash"
    dba = L.Database(args.pg, tag + "_a")
    dbb = L.Database(args.pg, tag + "_b")
    cps = None
    try:
        t = time.monotonic()
        events = make_input(schemas, rng)
        msgs = encode(schemas, events)
        delivered = L.produce_all(L.producer(broker.bootstrap), msgs)
        n_valid = sum(1 for e in events if not e[4])
        L.info("produced %d events (%d bad) over %d keys in %.1f s"
               % (len(events), N_BAD, N_KEYS, time.monotonic() - t))
        input_ends = {p: L.end_offsets(broker.bootstrap, topic_of(p)) for p in PLATFORMS}

        # run A: SIGKILLs at random moments while it works. Each kill waits
        # for the store to pass a random share of the input (one slot of
        # 5-75% per kill, so the kills spread over the run however fast the
        # binary is), then a random jitter that lands it anywhere in a batch
        cps = L.Cpsync(args.cpsync, config(args, work, broker, dba, run_a),
                       os.path.join(work, "a.log"))
        cps.start()
        slot = 0.70 / KILLS
        marks = [int(n_valid * (0.05 + slot * (k + rng.random()))) for k in range(KILLS)]
        for k in range(KILLS):
            # at least one new history row since this start, and past the mark
            before = dba.query("SELECT count(*) FROM cpsync.record_history")[0][0]
            mark = max(before + 1, marks[k])
            # a minute to start, then the rows up to the mark at 1,000/s or
            # more (marks are 7% of the input apart: ~70,000 rows at --keys 120000)
            deadline = time.monotonic() + 60 + (mark - before) / 1000
            while dba.query("SELECT count(*) FROM cpsync.record_history")[0][0] < mark:
                if time.monotonic() > deadline or not cps.alive():
                    L.fail("run a: no progress after restart %d\n%s" % (k, cps.tail()))
                time.sleep(0.05)
            time.sleep(rng.uniform(0.0, 0.3))
            busy = not done(dba, broker, run_a, input_ends)
            cps.kill()
            applied = dba.query("SELECT count(*) FROM cpsync.record_history")[0][0]
            L.info("kill %d: SIGKILL (%s), %d history rows so far"
                   % (k + 1, "while processing" if busy else "AFTER it had finished", applied))
            if not busy:
                L.fail("kill %d came after all input was consumed: the test proves nothing"
                       % (k + 1))
            if not broker.alive():
                L.fail("the broker died with cpsync")
            cps.start()
        wait_done(cps, dba, broker, run_a, input_ends, budget_s(len(events)))
        rc = cps.stop()
        if rc != 0:
            L.fail("run a: exit %s after SIGTERM\n%s" % (rc, cps.tail()))

        # run B: uninterrupted, timed
        cps = L.Cpsync(args.cpsync, config(args, work, broker, dbb, run_b),
                       os.path.join(work, "b.log"))
        t = time.monotonic()
        cps.start()
        wait_done(cps, dbb, broker, run_b, input_ends, budget_s(len(events)))
        hist_b = dbb.query("SELECT count(*) FROM cpsync.record_history")[0][0]
        while L.end_offsets(broker.bootstrap, "%s.unified.person" % run_b) < hist_b:
            if time.monotonic() - t > budget_s(len(events)):
                L.fail("run b: unified events missing")
            time.sleep(0.2)
        elapsed = time.monotonic() - t
        L.info("uninterrupted run: %d input events -> %d unified events in %.1f s: "
               "%.0f events/s end to end" % (len(events), hist_b, elapsed,
                                              len(events) / elapsed))
        rc = cps.stop()
        if rc != 0:
            L.fail("run b: exit %s after SIGTERM\n%s" % (rc, cps.tail()))
        cps = None

        check(broker, dba, dbb, events, delivered, n_valid, run_a)
    finally:
        if cps:
            cps.kill()
        broker.stop()
        dba.drop()
        dbb.drop()
    L.info("OK")


def check(broker, dba, dbb, events, delivered, n_valid, run_a):
    rec_sql = ("SELECT entity, key, version, deleted, record FROM cpsync.records "
               "ORDER BY entity, key")
    ra, rb = dba.query(rec_sql), dbb.query(rec_sql)
    if ra != rb:
        diff = [(x[1][:6], x[2], y[2]) for x, y in zip(ra, rb) if x != y][:5]
        L.fail("records differ between the killed and the uninterrupted run: %d vs %d rows, "
               "first differences (key prefix, version a, version b): %s"
               % (len(ra), len(rb), diff))
    hist_sql = ("SELECT entity, key, version, op, record FROM cpsync.record_history "
                "ORDER BY entity, key, version")
    ha, hb = dba.query(hist_sql), dbb.query(hist_sql)
    if ha != hb:
        L.fail("record_history differs between the runs: %d vs %d rows" % (len(ha), len(hb)))
    keys = {e[1] for e in events if not e[4]}
    if len(ra) != len(keys):
        L.fail("%d records for %d keys" % (len(ra), len(keys)))

    # versions 1..n per key
    bad = dba.query("SELECT key FROM (SELECT key, count(*) n, min(version) lo, max(version) hi "
                    "FROM cpsync.record_history GROUP BY entity, key) s "
                    "WHERE lo <> 1 OR hi <> n LIMIT 3")
    if bad:
        L.fail("history versions with gaps for %d+ keys" % len(bad))
    gaps = dba.query("SELECT count(*) FROM cpsync.records r WHERE r.version <> "
                     "(SELECT coalesce(max(version), 0) FROM cpsync.record_history h "
                     "WHERE h.entity = r.entity AND h.key = r.key)")[0][0]
    if gaps:
        L.fail("%d records whose version is not their last history version" % gaps)

    # each key's newest event is the platform's position in records.facts
    newest = {}
    for ev, (topic, part, off) in zip(events, delivered):
        if ev[4]:
            continue
        origin = "%s:%s/%d@%d" % (ev[0], topic, part, off)
        if ev[1] not in newest or ev[3] > newest[ev[1]][0]:
            newest[ev[1]] = (ev[3], ev[0], origin)
    for db, run in ((dba, "a"), (dbb, "b")):
        pos = {k: (p, plats) for k, p, plats in db.query(
            "SELECT key, version, cpsync.facts_json(facts) FROM cpsync.records")}
        wrong = 0
        for k, (eff, plat, origin) in newest.items():
            plats = pos[k][1]
            if list(plats) != [plat] or plats[plat].get("pos") != origin:
                wrong += 1
        if wrong:
            L.fail("run %s: %d keys whose platform position is not their newest event"
                   % (run, wrong))
        # bad messages: exactly one dead letter each
        bad_origins = sorted("%s:%s/%d@%d" % (ev[0], t, p, o)
                             for ev, (t, p, o) in zip(events, delivered) if ev[4])
        rows = sorted(o for (o,) in db.query("SELECT origin FROM cpsync.dead_letters"))
        if rows != bad_origins:
            L.fail("run %s: dead letters %s, expected %s" % (run, rows[:5], bad_origins[:5]))

    # the unified topic of the killed run: at least once, exactly after dedup
    history = {(k, v) for (_, k, v, _, _) in ha}
    seen = unified_versions(broker, run_a)
    dedup = set(seen)
    if dedup != history:
        L.fail("unified topic (key, version) set differs from the history: %d missing, "
               "%d extra" % (len(history - dedup), len(dedup - history)))
    L.info("%d keys, %d history versions identical in both runs; unified topic: %d events, "
           "%d duplicates dropped by (key, version); %d dead letters"
           % (len(ra), len(ha), len(seen), len(seen) - len(dedup), N_BAD))
    L.info("killed run: events in %d (%d valid), unified out %d (%d distinct (key, version)), "
           "lost 0, doubled 0 after dropping %d re-published duplicates by (key, version), "
           "gaps 0" % (len(events), n_valid, len(seen), len(dedup), len(seen) - len(dedup)))


if __name__ == "__main__":
    main()
