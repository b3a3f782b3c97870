#!/usr/bin/python3
"""kafka.compacted_unified: on a real Apache Kafka broker (CPSYNC_TEST_KAFKA),
cpsync creates its missing topics at start, the unified ones with
`kafka.unified_topic_config` (cleanup.policy=compact, plus segment settings
that let the log cleaner run within the test). The province changes 50
persons 20 times each; cpsync publishes 1,000 versions. Once the cleaner has
run, a NEW consumer reading the unified topic from the beginning still finds
every person at its latest version (the one in cpsync.records), while older
versions are gone: fewer messages than were published.

usage: compacted_unified.py --cpsync BIN --broker UNUSED --source SOURCE_DIR
"""
import os
import sys
import time

from confluent_kafka.admin import AdminClient, ConfigResource

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "e2e"))
import e2elib as L  # noqa: E402

PERSONS = 50
ROUNDS = 20
T0 = 1_700_000_000_000


def person(i, r):
    return {"national_id": L.national_id("440304", "19800101", i), "name": "测试",
            "gender": "MALE", "birth_date": 3650, "registration_region_code": "440304",
            "residence_region_code": "440304", "residence_address": "addr-%d-%d" % (i, r),
            "has_residence_permit": False, "disabled": False, "disability_grade": None,
            "seriously_ill": False, "labour_capacity": "FULL", "phone": None,
            "household_id": None, "deceased": False}


def latest_by_key(schemas, bootstrap, topic):
    """{key: version} of the newest event per key, and how many messages a
    new consumer reads from the beginning."""
    out, n = {}, 0
    for _, _, _, key, value, _ in L.consume_all(bootstrap, [topic]):
        n += 1
        ev = schemas.decode_unified(value)
        out[key.decode()] = max(out.get(key.decode(), 0), ev["version"])
    return out, n


def main():
    args = L.parse_args("kafka.compacted_unified")
    bootstrap = os.environ.get("CPSYNC_TEST_KAFKA")
    if not bootstrap:
        L.fail("CPSYNC_TEST_KAFKA is not set (deploy/test.sh starts a real broker)")
    pfx = "cmp%d." % os.getpid()
    src, unified = pfx + "province.person", pfx + "unified.person"
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("compact")
    admin = AdminClient({"bootstrap.servers": bootstrap})
    db = L.Database(args.pg, "kafka_compact")
    cps = None
    try:
        cfg = os.path.join(work, "compact.yaml")
        L.write_config(cfg, instance="kafka-compact", schemas=args.schemas,
                       bootstrap=bootstrap, conninfo=db.conninfo,
                       # the rules name all three; only the province speaks here
                       platforms={"province": ("single-object", {src: "person"}),
                                  "city": ("single-object", {pfx + "city.person": "person"}),
                                  "shenshan": ("single-object",
                                               {pfx + "ss.person": "person"})},
                       source=args.source, ingest_topic=pfx + "ingest",
                       dead_letter_topic=pfx + "dead", unified_prefix=pfx + "unified.",
                       group_suffix=pfx, batch_ms=20)
        with open(cfg) as f:
            text = f.read()
        i = text.index("  group_id:")
        j = text.index("\n", i) + 1
        text = text[:j] + (
            "  topics:\n    partitions: 2\n"
            "  unified_topic_config:\n"
            "    cleanup.policy: compact\n"
            "    segment.ms: \"500\"\n"
            "    min.cleanable.dirty.ratio: \"0.01\"\n"
            "    delete.retention.ms: \"100\"\n"
            "    min.compaction.lag.ms: \"0\"\n") + text[j:]
        with open(cfg, "w") as f:
            f.write(text)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()

        # cpsync created the unified topic, compacted
        res = ConfigResource(ConfigResource.Type.TOPIC, unified)
        deadline = time.monotonic() + 30
        while True:
            try:
                conf = admin.describe_configs([res])[res].result(timeout=10)
                break
            except Exception as e:  # noqa: BLE001 (not created yet)
                if time.monotonic() > deadline:
                    L.fail("cpsync did not create %s: %s\n%s" % (unified, e, cps.tail()))
                time.sleep(0.5)
        if conf["cleanup.policy"].value != "compact":
            L.fail("%s has cleanup.policy=%s" % (unified, conf["cleanup.policy"].value))
        if "created topic '%s'" % unified not in cps.tail(10 ** 7):
            L.fail("cpsync did not log the creation of %s" % unified)

        p = L.producer(bootstrap)
        for r in range(ROUNDS):
            L.produce_all(p, [(src, person(i, r)["national_id"].encode(),
                               schemas.single_object("person", person(i, r)),
                               [("effective_time", str(T0 + r * 1000).encode())], None)
                              for i in range(PERSONS)])
        keys = [person(i, 0)["national_id"] for i in range(PERSONS)]

        def published():
            rows = db.query("SELECT key, version FROM cpsync.records WHERE entity = 'person'")
            out = db.query("SELECT count(*) FROM cpsync.outbox")[0][0]
            return dict(rows) if len(rows) == PERSONS and out == 0 and \
                all(v == ROUNDS for _, v in rows) else None
        deadline = time.monotonic() + 120
        final = None
        while not final:
            final = published()
            if time.monotonic() > deadline:
                L.fail("not every person reached version %d\n%s" % (ROUNDS, cps.tail()))
            time.sleep(0.5)
        # the active segment is never cleaned: later messages roll it
        time.sleep(1.0)
        for r in range(ROUNDS, ROUNDS + 2):
            L.produce_all(p, [(src, keys[0].encode(), schemas.single_object("person",
                               person(0, r)), [("effective_time", str(T0 + r * 1000).encode())],
                               None)])
            time.sleep(1.0)
        published_total = PERSONS * ROUNDS + 2
        deadline = time.monotonic() + 90
        while True:
            latest, n = latest_by_key(schemas, bootstrap, unified)
            if n < published_total and all(latest.get(k) == final[k] or
                                           (k == keys[0] and latest.get(k, 0) >= final[k])
                                           for k in keys):
                break
            if time.monotonic() > deadline:
                L.fail("no compaction within 90 s: a new consumer reads %d of %d messages; "
                       "latest versions %s" % (n, published_total, list(latest.values())[:5]))
            time.sleep(2)
        L.info("unified topic created compacted; %d versions published, a new consumer reads "
               "%d messages and still finds all %d persons at their latest version"
               % (published_total, n, PERSONS))
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        if cps:
            cps.kill()
        db.drop()
        try:
            admin.delete_topics([src, pfx + "city.person", pfx + "ss.person", pfx + "ingest",
                                 pfx + "dead"] +
                                [pfx + "unified." + e for e in L.ENTITIES])
        except Exception:  # noqa: BLE001 (cleanup)
            pass
    L.info("OK")


if __name__ == "__main__":
    main()
