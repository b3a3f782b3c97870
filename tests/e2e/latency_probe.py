#!/usr/bin/python3
"""e2e.latency: how long one province change takes to reach the unified topic
when the pipeline is nearly idle (issue 10, item 9).

A standalone broker (broker_main) holds the province person topic; cpsync
consumes it (the Kafka connector), produces to the ingest topic, reconciles
in the store and publishes to cpsync.unified.person. confluent-kafka
produces a new person every 1/rate s (default 200 events/s for 20 s) and a
consumer of the unified topic notes when each key arrives. The figure is
produce call → unified message received (both on this host's monotonic
clock); p50/p95/p99 are printed. The assertion is a behavioural bound, not a
benchmark: p50 must be under --max-p50-ms (250 ms), which an idle hop that
waits for librdkafka's 500 ms fetch.wait.max.ms (cpsync before this test
existed) cannot meet: two such hops (each waiting 0-500 ms) put the median
near 500 ms; measured 700-840 ms. Unloaded, the new defaults give 110-135 ms;
the bound leaves room for a machine shared with other builds.
--old-waits sets those old waits back through the configuration
(kafka.consumer.fetch.wait.max.ms 500 and the source's properties), to show
the bound fails on them.

usage: latency_probe.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
       [--rate 200] [--seconds 20] [--max-p50-ms 250] [--batch-ms 50] [--old-waits]
"""
import os
import threading
import time

from confluent_kafka import Consumer, Producer, TopicPartition

import e2elib as L

TOPIC = "prov.person"
UNIFIED = "cpsync.unified.person"
PLATFORMS = {"province": ("single-object", {TOPIC: "person"}), "city": None, "shenshan": None}


def person(nid, seq):
    return {"national_id": nid, "name": "测试%d" % seq, "gender": "MALE", "birth_date": -658,
            "registration_region_code": "440305", "residence_region_code": "440305",
            "residence_address": "南山区桃源街道平山村12栋603", "has_residence_permit": False,
            "disabled": False, "disability_grade": None, "seriously_ill": False,
            "labour_capacity": "FULL", "phone": "13798765432", "household_id": None,
            "deceased": False}


def ids(n):
    """n distinct valid national IDs (1000 per birth date)."""
    out = []
    for i in range(n):
        day = 1 + (i // 1000) % 28
        month = 1 + (i // 28000) % 12
        out.append(L.national_id("440305", "1970%02d%02d" % (month, day), i % 1000))
    return out


class Arrivals:
    """A consumer of the unified topic from its current end; notes the
    monotonic arrival time of each key (first arrival only)."""

    def __init__(self, bootstrap):
        self.c = Consumer({"bootstrap.servers": bootstrap, "group.id": "e2e-latency-%d"
                           % os.getpid(), "enable.auto.commit": False,
                           "fetch.wait.max.ms": 5, "enable.partition.eof": False})
        md = self.c.list_topics(UNIFIED, timeout=10)
        parts = []
        for pid in md.topics[UNIFIED].partitions:
            _, hi = self.c.get_watermark_offsets(TopicPartition(UNIFIED, pid), timeout=10)
            parts.append(TopicPartition(UNIFIED, pid, hi))
        self.c.assign(parts)
        self.seen = {}
        self.lock = threading.Lock()
        self.stop = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self):
        while not self.stop:
            # poll, not consume(n, timeout): that one waits out its timeout
            # unless n messages come
            m = self.c.poll(0.05)
            now = time.monotonic()
            if m is None or m.error() or m.key() is None:
                continue
            with self.lock:
                self.seen.setdefault(m.key().decode(), now)

    def arrived(self, key):
        with self.lock:
            return self.seen.get(key)

    def count(self, keys):
        with self.lock:
            return sum(1 for k in keys if k in self.seen)

    def close(self):
        self.stop = True
        self.thread.join()
        self.c.close()


def pct(sorted_ms, q):
    return sorted_ms[min(len(sorted_ms) - 1, int(q * len(sorted_ms)))]


def probe(args, schemas, broker, cps):
    arrivals = Arrivals(broker.bootstrap)
    prod = Producer({"bootstrap.servers": broker.bootstrap, "linger.ms": 0,
                     "enable.idempotence": True})
    try:
        n = int(args.rate * args.seconds)
        keys = ids(n + 1)
        # warm-up: the first event waits for the group joins and the topic check
        warm = keys.pop()
        prod.produce(TOPIC, key=warm.encode(), value=schemas.frame(
            "single-object", "person", person(warm, 0)))
        prod.flush(10)
        L.wait_for("the warm-up event on %s" % UNIFIED,
                   lambda: arrivals.arrived(warm) is not None, timeout=90, cps=cps)
        values = [schemas.frame("single-object", "person", person(k, i + 1))
                  for i, k in enumerate(keys)]
        sent = {}
        t0 = time.monotonic()
        for i, k in enumerate(keys):
            due = t0 + i / args.rate
            while True:
                now = time.monotonic()
                if now >= due:
                    break
                prod.poll(min(due - now, 0.005))
            sent[k] = time.monotonic()
            prod.produce(TOPIC, key=k.encode(), value=values[i])
            prod.poll(0)
        prod.flush(30)
        L.wait_for("all %d events on %s" % (n, UNIFIED),
                   lambda: arrivals.count(keys) == n, timeout=120, cps=cps,
                   detail=lambda: "%d of %d arrived" % (arrivals.count(keys), n))
        lat = sorted((arrivals.arrived(k) - sent[k]) * 1000.0 for k in keys)
    finally:
        arrivals.close()
    return lat


def main():
    args = L.parse_args("e2e.latency", (
        ("--rate", {"type": float, "default": 200.0}),
        ("--seconds", {"type": float, "default": 20.0}),
        ("--max-p50-ms", {"type": float, "default": 250.0}),
        ("--batch-ms", {"type": int, "default": 50, "help": "store.batch_ms (its default: 50)"}),
        ("--old-waits", {"action": "store_true",
                         "help": "librdkafka's 500 ms fetch wait on every consumer"})))
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("latency")
    topics = ["cpsync.ingest:8", "cpsync.deadletter:2", "%s:4" % TOPIC] + \
        ["cpsync.unified.%s:4" % e for e in L.ENTITIES]
    broker = L.open_broker(args, 4, topics)
    db = L.Database(args.pg, "e2e_latency")
    cps = None
    try:
        cfg = os.path.join(work, "latency.yaml")
        old = {"fetch.wait.max.ms": 500} if args.old_waits else None
        L.write_config(cfg, instance="e2e-latency", schemas=args.schemas,
                       bootstrap=broker.bootstrap, conninfo=db.conninfo, platforms=PLATFORMS,
                       source=args.source, batch_ms=args.batch_ms, kafka_consumer_properties=old)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        lat = probe(args, schemas, broker, cps)
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        if cps:
            cps.kill()
        broker.stop()
        db.drop()
    p50, p95, p99 = pct(lat, 0.50), pct(lat, 0.95), pct(lat, 0.99)
    L.info("%d events at %.0f/s%s: produce -> %s latency p50 %.1f ms, p95 %.1f ms, "
           "p99 %.1f ms, max %.1f ms" % (len(lat), args.rate,
                                         " (old 500 ms fetch waits)" if args.old_waits else "",
                                         UNIFIED, p50, p95, p99, lat[-1]))
    if p50 >= args.max_p50_ms:
        L.fail("median latency %.1f ms is not under %.0f ms: some hop waits idle"
               % (p50, args.max_p50_ms))
    L.info("OK")


if __name__ == "__main__":
    main()
