#!/usr/bin/python3
"""kafka_real.two_instances: two cpsync instances share the ingest and unified
topics (one kafka.group_id, one store) on the real Kafka broker of
$CPSYNC_TEST_KAFKA; one is SIGKILLed while events flow.

The province topic (8 partitions) is read by both instances' kafka sources
(one consumer group); the ingest topic has 8 partitions and each instance
runs 2 reconcile workers. Asserted:
- the ingest partitions are split across both instances: each instance's
  workers log "worker N assigned K partition(s)" with K > 0 for at least one
  worker, and the two instances' current assignments add up to all 8;
- with events flowing, instance B is SIGKILLed. The survivor's workers hold
  all 8 partitions within the session timeout (6 s) plus one rebalance
  (asserted: at most 6 s + 10 s); the takeover time (from the kill to the
  survivor's assignment logged with all of them) is printed;
- afterwards every key the province wrote is in the store at its last value,
  versions are 1..n per key with n its number of distinct values (nothing
  lost, nothing applied twice, no gaps);
- the unified topic holds every (key, version) of the history, nothing else;
  one publisher runs across instances (advisory lock 'cpsync.publisher'), so
  while both instances run no (key, version) is published twice and no key's
  versions arrive out of order; only the publisher's death may re-publish its
  last unacknowledged rows, with identical content. Counts are printed.

usage: two_instances.py --cpsync BIN --real-kafka --source SOURCE_DIR
"""
import os
import time

import krlib as K
from krlib import L

PARTITIONS = 8
WORKERS = 2
KEYS = 2000
SESSION_S = K.CONSUMER_PROPS["session.timeout.ms"] / 1000.0


def held(cps, topic):
    """Partitions this instance's workers hold now (from its log), and the
    log time of the last assignment."""
    a = K.assignment(cps.tail(10 ** 9), topic)
    if len(a) < WORKERS:
        return None, None
    return sum(k for k, _ in a.values()), max(ts for _, ts in a.values())


def main():
    args = K.parse_args("kafka_real.two_instances")
    pfx = args.pfx
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("kr-two")
    src, ingest, unified = pfx + "province.person", pfx + "cpsync.ingest", pfx + "cpsync.unified."
    topics = ["%s:%d" % (src, PARTITIONS), "%s:%d" % (ingest, PARTITIONS),
              pfx + "cpsync.deadletter:1"] + ["%s%s:4" % (unified, e) for e in L.ENTITIES]
    broker = L.open_broker(args, PARTITIONS, topics)
    store = L.Database(args.pg, "kr_two")
    procs = []
    flow = None
    progress = None
    t_start = time.monotonic()
    try:
        for name in ("a", "b"):
            cfg = os.path.join(work, "%s.yaml" % name)
            L.write_config(cfg, instance="kr-two-" + name, schemas=args.schemas,
                           bootstrap=args.kafka, conninfo=store.conninfo,
                           platforms=K.province_only(src), source=args.source,
                           ingest_topic=ingest, dead_letter_topic=pfx + "cpsync.deadletter",
                           unified_prefix=unified, workers=WORKERS, group_suffix=pfx + "0",
                           kafka_consumer_properties=K.CONSUMER_PROPS)
            cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "%s.log" % name))
            cps.name = name
            procs.append(cps)
            cps.start()  # one after the other: the first migrates the store
        a, b = procs

        # -- the ingest partitions split across both instances
        deadline = time.monotonic() + 60
        while True:
            ha, hb = held(a, ingest)[0], held(b, ingest)[0]
            if ha and hb and ha + hb == PARTITIONS:
                break
            for p in procs:
                if not p.alive():
                    L.fail("cpsync %s died\n%s" % (p.name, p.tail()))
            if time.monotonic() > deadline:
                L.fail("the ingest partitions are not split across both instances: a holds "
                       "%s, b %s\n%s\n----\n%s" % (ha, hb, a.tail(3000), b.tail(3000)))
            time.sleep(0.2)
        split = {p.name: sorted(K.assignment(p.tail(10 ** 9), ingest).items()) for p in procs}
        L.info("ingest partitions split: a %d, b %d (per worker: %s)"
               % (ha, hb, {n: [(w, k) for w, (k, _) in v] for n, v in split.items()}))

        # -- events flow; B is killed; A takes over
        province = K.Province(schemas, args.kafka, src)
        flow = K.Flow(province, KEYS, per_round=100, pause=0.1, seed=os.getpid())
        flow.start()
        deadline = time.monotonic() + 60
        while store.query("SELECT count(*) FROM cpsync.records")[0][0] < 500:
            flow.check()
            if time.monotonic() > deadline:
                L.fail("nothing applied within 60 s\n" + a.tail(3000))
            time.sleep(0.2)
        time.sleep(2)
        log_len = len(a.tail(10 ** 9))
        applied_before = store.query("SELECT count(*) FROM cpsync.record_history")[0][0]
        marks = K.watermarks(args.kafka, unified + "person")
        progress = K.Progress(store, province)
        progress.start()
        time.sleep(1)
        killed_at = time.time()
        t_kill = time.monotonic()
        b.kill()
        L.info("SIGKILL instance b with %d versions applied, %d events produced so far"
               % (applied_before, province.sent))
        while True:
            text = a.tail(10 ** 9)[log_len:]
            cur = K.assignment(a.tail(10 ** 9), ingest)
            new = K.assignment(text, ingest)
            if new and sum(k for k, _ in cur.values()) == PARTITIONS and len(cur) == WORKERS:
                last_ts = max(ts for _, ts in new.values())
                break
            if not a.alive():
                L.fail("the survivor died\n" + a.tail())
            if time.monotonic() - t_kill > SESSION_S + 30:
                L.fail("the survivor holds %s partitions %.0f s after the kill\n%s"
                       % (cur, time.monotonic() - t_kill, a.tail(3000)))
            time.sleep(0.05)
        takeover = K.log_time(last_ts) - killed_at
        L.info("takeover: the survivor holds all %d ingest partitions %.2f s after the SIGKILL "
               "(session timeout %.0f s)" % (PARTITIONS, takeover, SESSION_S))
        if takeover > SESSION_S + 10:
            L.fail("takeover took %.1f s, more than the session timeout (%.0f s) + 10 s"
                   % (takeover, SESSION_S))
        # events applied by the survivor after the takeover
        deadline = time.monotonic() + 60
        while store.query("SELECT count(*) FROM cpsync.record_history")[0][0] <= applied_before:
            if time.monotonic() > deadline:
                L.fail("nothing applied after the takeover\n" + a.tail(3000))
            time.sleep(0.2)
        time.sleep(3)
        flow.finish()
        progress.finish()
        stall, at = progress.stall()
        L.info("the longest time without a new version applied while events waited: %.1f s%s"
               % (stall, "" if at is None else " (from %.1f s after the kill)" % (at - t_kill)))

        K.wait_applied(store, province, 120, (a,))
        n_versions = K.check_versions(store, province)
        u = K.check_unified(store, schemas, args.kafka, unified + "person", (a,), marks)
        rc = a.stop()
        if rc != 0:
            L.fail("cpsync a exited with %s after SIGTERM\n%s" % (rc, a.tail()))
        L.info("events in %d, unified out %d (%d distinct (key, version) = the history, "
               "%d keys, %d versions), lost 0, doubled 0, gaps 0; takeover %.2f s; %.1f s"
               % (province.sent, u["events"], u["distinct"], len(province.last), n_versions,
                  takeover, time.monotonic() - t_start))
        if u["below"] or u["backwards"]:
            L.fail("%d (key, version) published twice while both instances ran, %d events "
                   "after a higher version of their key: more than one publisher"
                   % (u["below"], u["backwards"]))
        L.info("re-published duplicates on the unified topic: %d, each with identical content; "
               "%d of them published while both instances ran; %d events arrived after a "
               "higher version of their key" % (u["events"] - u["distinct"], u["below"], u["backwards"]))
    finally:
        if flow:
            flow.stop_flag.set()
        if progress:
            progress.stop_flag.set()
        for p in procs:
            p.kill()
        broker.stop()
        store.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
