#!/usr/bin/python3
"""kafka_real.topic_recreate: the ingest topic deleted and re-created while
cpsync is stopped, on a real Kafka broker that survives (issue 8, "Topic
re-created").

cpsync reads a province topic (single-object person records produced by
confluent-kafka) on the real broker of $CPSYNC_TEST_KAFKA, with its ingest,
dead-letter and unified topics there too (names unique to the run). Round 1:
2,000 events over 500 keys are applied; cpsync stops with SIGTERM (exit 0).
While it is down the ingest topic is deleted (AdminClient) and created again
with the same partitions: it is empty, its offsets start at 0 again, far
below the stored ones (~500 per partition). cpsync starts; round 2 (1,000
events: 250 old keys and 250 new ones) is produced. Asserted:
- every key is in the store at its last value (a cpsync that sought the new
  topic to the stored offsets would skip all of round 2);
- versions are 1..n per key with n its number of distinct values (nothing
  lost, nothing applied twice, no gaps);
- the log after the restart says exactly once, at WARN, that the ingest topic
  "is a new one", and the stored offsets now equal the new topic's ends;
- the unified topic (which survived) holds every (key, version) of the
  history, one content each.
Prints events in, unified out, lost 0, doubled 0, gaps 0.

usage: topic_recreate.py --cpsync BIN --real-kafka --source SOURCE_DIR
"""
import os
import time

import krlib as K
from krlib import L

PARTITIONS = 4


def stored_offsets(store, topic):
    return dict(store.query("SELECT partition, next_offset FROM cpsync.ingest_offsets "
                            "WHERE topic = %s", (topic,)))


def main():
    args = K.parse_args("kafka_real.topic_recreate")
    pfx = args.pfx
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("kr-recreate")
    src, ingest, unified = pfx + "province.person", pfx + "cpsync.ingest", pfx + "cpsync.unified."
    topics = ["%s:%d" % (src, PARTITIONS), "%s:%d" % (ingest, PARTITIONS),
              pfx + "cpsync.deadletter:1"] + ["%s%s:%d" % (unified, e, PARTITIONS)
                                              for e in L.ENTITIES]
    broker = L.open_broker(args, PARTITIONS, topics)
    store = L.Database(args.pg, "kr_recreate")
    cps = None
    t_start = time.monotonic()
    try:
        cfg = os.path.join(work, "cpsync.yaml")
        L.write_config(cfg, instance="kr-recreate", schemas=args.schemas,
                       bootstrap=args.kafka, conninfo=store.conninfo,
                       platforms=K.province_only(src),
                       source=args.source, ingest_topic=ingest,
                       dead_letter_topic=pfx + "cpsync.deadletter", unified_prefix=unified,
                       group_suffix=pfx + "0", kafka_consumer_properties=K.CONSUMER_PROPS)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        province = K.Province(schemas, args.kafka, src)

        # round 1
        cps.start()
        for r in range(4):
            province.send([(i, "r1-%d-%d" % (r, i)) for i in range(500)])
        K.wait_applied(store, province, 120, (cps,))
        deadline = time.monotonic() + 60
        while sum(stored_offsets(store, ingest).values()) < L.end_offsets(args.kafka, ingest):
            if time.monotonic() > deadline:
                L.fail("the stored ingest offsets never reached the topic's end")
            time.sleep(0.2)
        before = stored_offsets(store, ingest)
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
        L.info("round 1: %d events applied; stored ingest offsets %s; cpsync stopped (exit 0)"
               % (province.sent, sorted(before.items())))

        # the ingest topic deleted and created again while cpsync is down
        t = time.monotonic()
        L.delete_topics(broker.admin, [ingest])
        L.create_topics(broker.admin, {ingest: PARTITIONS})
        end = L.end_offsets(args.kafka, ingest)
        if end != 0:
            L.fail("the re-created ingest topic is not empty (%d messages)" % end)
        L.info("ingest topic deleted and re-created (empty, %d partitions) in %.1f s"
               % (PARTITIONS, time.monotonic() - t))
        log_before = len(cps.tail(10 ** 9))

        # round 2, after the start: fewer events per partition than stored
        cps.start()
        n1 = province.sent
        province.send([(i, "r2-a-%d" % i) for i in range(250, 750)])
        province.send([(i, "r2-b-%d" % i) for i in range(250, 750)])
        K.wait_applied(store, province, 120, (cps,))
        n_versions = K.check_versions(store, province)
        end = L.end_offsets(args.kafka, ingest)
        deadline = time.monotonic() + 60
        while sum(stored_offsets(store, ingest).values()) != end:
            if time.monotonic() > deadline:
                L.fail("stored ingest offsets %s, the new topic ends at %d in all"
                       % (stored_offsets(store, ingest), end))
            time.sleep(0.2)
        after = stored_offsets(store, ingest)
        log = cps.tail(10 ** 9)[log_before:]
        lines = [ln for ln in log.splitlines() if "is a new one" in ln]
        if len(lines) != 1:
            L.fail("the restart logged 'ingest topic … is a new one' %d times, want exactly "
                   "once\n%s" % (len(lines), log[-4000:]))
        if " warn " not in lines[0]:
            L.fail("'is a new one' was not logged at WARN: %s" % lines[0])
        u = K.check_unified(store, schemas, args.kafka, unified + "person", (cps,))
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
        L.info("after the restart: %s" % lines[0].split(" INGEST ", 1)[-1])
        L.info("round 2: %d events on the new topic, all applied; stored offsets now %s"
               % (province.sent - n1, sorted(after.items())))
        L.info("events in %d, unified out %d (%d distinct (key, version) = the history, "
               "%d keys, %d versions), lost 0, doubled 0, gaps 0; 'is a new one' said once "
               "at WARN; %.1f s" % (province.sent, u["events"], u["distinct"], len(province.last),
                                    n_versions, time.monotonic() - t_start))
    finally:
        if cps:
            cps.kill()
        broker.stop()
        store.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
