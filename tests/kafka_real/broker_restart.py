#!/usr/bin/python3
"""kafka_real.broker_restart: a broker of a 3-node Kafka cluster SIGKILLed
mid-stream and brought back.

The test starts its own 3-node cluster (deploy/kafka-private.sh start DIR
PORT 3 on free ports; replication factor 3, min.insync.replicas=2, stopped
at the end even on failure). The province writes person records with
confluent-kafka's idempotent producer (acks=all); cpsync (its own idempotent
producers, acks=all) reads them, and its ingest and unified topics live on
the same cluster. While events flow, the node leading most of the
province's partitions is SIGKILLed; events keep flowing for a while with
one node down; then the node is started again and catches up. Asserted:
- with one node down the partitions get new leaders, the ISR shrinks to 2,
  and produce keeps working with acks=all and min.insync.replicas=2: the
  province's flow gets no error, and a probe of 100 messages with acks=all
  to a fresh topic is delivered. The same probe to a topic that demands
  min.insync.replicas=3 fails with NOT_ENOUGH_REPLICAS: acks=all really
  waits for the in-sync replicas;
- the restarted node rejoins every ISR (3 again);
- the idempotent producer survived the leader changes without duplicates:
  the province topic holds exactly the records produced, each once;
- every key is in the store at its last value, versions are 1..n with n its
  number of distinct values (nothing lost, nothing applied twice, no gaps);
- the unified topic holds every (key, version) of the history, nothing else,
  a re-published duplicate only with identical content.
Prints the cluster's start time, events in, unified out, lost 0, doubled 0,
gaps 0, events produced while the node was down, the time until new
leaders, the node's restart and catch-up times, duplicates on the ingest
and unified topics.

usage: broker_restart.py --cpsync BIN --real-kafka --source SOURCE_DIR
"""
import os
import time

from confluent_kafka import KafkaError, KafkaException, Producer
from confluent_kafka.admin import ConfigResource, ResourceType

import krlib as K
from krlib import L

NODES = 3
PARTITIONS = 6
KEYS = 3000
DOWN_S = 10


def partitions_of(admin, topics):
    """[(topic, partition, leader, replicas, isrs)] from the metadata."""
    md = admin.list_topics(timeout=10).topics
    out = []
    for t in topics:
        for p, pm in sorted(md[t].partitions.items()):
            out.append((t, p, pm.leader, list(pm.replicas), list(pm.isrs)))
    return out


def wait_until(what, pred, timeout, cps=None, flow=None):
    t = time.monotonic()
    while True:
        try:
            v = pred()
        except KafkaException:  # a metadata request to the dead node timed out
            v = None
        if v:
            return time.monotonic() - t
        if flow:
            flow.check()
        if cps and not cps.alive():
            L.fail("cpsync died while waiting for %s\n%s" % (what, cps.tail()))
        if time.monotonic() - t > timeout:
            L.fail("timed out (%d s) waiting for %s" % (timeout, what))
        time.sleep(0.2)


def probe(bootstrap, topic, n=100, timeout_ms=8000, retry=True):
    """n messages with acks=all; returns (delivered, errors). retry=False:
    the broker's first answer is the verdict (not idempotent, no retries)."""
    conf = {"bootstrap.servers": bootstrap, "acks": "all", "message.timeout.ms": timeout_ms,
            "linger.ms": 5}
    conf.update({"enable.idempotence": True} if retry else {"retries": 0})
    p = Producer(conf)
    res = {"ok": 0, "err": []}

    def cb(err, m):
        if err:
            res["err"].append(err)
        else:
            res["ok"] += 1
    for i in range(n):
        p.produce(topic, key=b"probe-%d" % i, value=b"x" * 100, on_delivery=cb)
    p.flush(timeout_ms / 1000 + 10)
    return res["ok"], res["err"]


def main():
    args = K.parse_args("kafka_real.broker_restart")
    pfx = args.pfx
    schemas = L.Schemas(args.cpsync, args.schemas)
    work = L.tmpdir("kr-brokers")
    src, ingest, unified = pfx + "province.person", pfx + "cpsync.ingest", pfx + "cpsync.unified."
    probe2, probe3 = pfx + "probe.isr2", pfx + "probe.isr3"
    cluster = K.Cluster(NODES)
    cps = None
    flow = None
    store = None
    progress = None
    t_start = time.monotonic()
    try:
        took = cluster.start()
        L.info("3-node cluster up in %.1f s: %s (replication factor 3, min.insync.replicas 2)"
               % (took, cluster.bootstrap))
        boot = cluster.bootstrap
        broker = L.RealKafka(boot, PARTITIONS, [
            "%s:%d" % (src, PARTITIONS), "%s:%d" % (ingest, PARTITIONS),
            pfx + "cpsync.deadletter:1", "%sperson:%d" % (unified, PARTITIONS), probe2 + ":1"]
            + ["%s%s:1" % (unified, e) for e in L.ENTITIES if e != "person"])
        L.create_topics(broker.admin, {probe3: 1}, config={"min.insync.replicas": "3"})
        res = ConfigResource(ResourceType.TOPIC, src)
        cfg = broker.admin.describe_configs([res])[res].result()
        isr_conf = cfg["min.insync.replicas"].value
        if isr_conf != "2":
            L.fail("min.insync.replicas of %s is %s, want 2" % (src, isr_conf))
        parts = partitions_of(broker.admin, [src, ingest, unified + "person"])
        if any(len(r) != 3 or len(i) != 3 for _, _, _, r, i in parts):
            L.fail("not every partition has 3 replicas in sync: %s" % parts)

        store = L.Database(args.pg, "kr_brokers")
        conf = os.path.join(work, "cpsync.yaml")
        L.write_config(conf, instance="kr-brokers", schemas=args.schemas, bootstrap=boot,
                       conninfo=store.conninfo, platforms=K.province_only(src),
                       source=args.source, ingest_topic=ingest,
                       dead_letter_topic=pfx + "cpsync.deadletter", unified_prefix=unified,
                       group_suffix=pfx + "0", kafka_consumer_properties=K.CONSUMER_PROPS)
        cps = L.Cpsync(args.cpsync, conf, os.path.join(work, "cpsync.log"))
        cps.start()
        province = K.Province(schemas, boot, src, {"acks": "all"})
        flow = K.Flow(province, KEYS, per_round=100, pause=0.2, seed=os.getpid())
        flow.start()
        wait_until("the first events applied", lambda: store.query(
            "SELECT count(*) FROM cpsync.records")[0][0] >= 500, 90, cps, flow)

        # -- the node leading most of the province's partitions dies
        leads = {}
        for _, _, leader, _, _ in partitions_of(broker.admin, [src]):
            leads[leader] = leads.get(leader, 0) + 1
        victim = max(sorted(leads), key=lambda n: leads[n])
        sent_before = province.sent
        progress = K.Progress(store, province)
        progress.start()
        time.sleep(1)
        cluster.kill(victim)
        t_kill = time.monotonic()
        L.info("SIGKILL node %d (leader of %d of %d province partitions) after %d events"
               % (victim, leads[victim], PARTITIONS, sent_before))

        def moved():
            ps = partitions_of(broker.admin, [src, ingest, unified + "person"])
            return all(ld != victim and ld >= 0 and victim not in isr and len(isr) == 2
                       for _, _, ld, _, isr in ps)
        t_lead = wait_until("new leaders and an ISR of 2 without node %d" % victim, moved, 60,
                            cps, flow)
        L.info("new leaders, ISR 2 of 3 everywhere, %.1f s after the kill" % t_lead)
        ok, errs = probe(boot, probe2)
        if ok != 100 or errs:
            L.fail("with one node down, acks=all and min.insync.replicas=2: %d of 100 "
                   "delivered, errors %s" % (ok, errs[:3]))
        ok3, errs3 = probe(boot, probe3, timeout_ms=5000, retry=False)
        if ok3 or not errs3 or any(e.code() != KafkaError.NOT_ENOUGH_REPLICAS for e in errs3):
            L.fail("a topic demanding min.insync.replicas=3 with one node down: %d delivered, "
                   "errors %s (want NOT_ENOUGH_REPLICAS)" % (ok3, sorted({str(e) for e in errs3})))
        L.info("one node down: 100 of 100 delivered with acks=all to a min.insync.replicas=2 "
               "topic; 0 of 100 to a min.insync.replicas=3 topic (%s)" % errs3[0].name())
        while time.monotonic() - t_kill < DOWN_S:
            flow.check()
            time.sleep(0.2)
        sent_down = province.sent - sent_before
        took = cluster.restart_node(victim)
        L.info("node %d down %.1f s: the province produced %d events meanwhile, without error; "
               "restarted in %.1f s" % (victim, time.monotonic() - t_kill - took, sent_down,
                                         took))

        def caught_up():
            ps = partitions_of(broker.admin, [src, ingest, unified + "person"])
            return all(len(isr) == 3 for _, _, _, _, isr in ps)
        t_isr = wait_until("node %d back in every ISR" % victim, caught_up, 90, cps, flow)
        L.info("node %d back in every ISR %.1f s after its restart" % (victim, t_isr))
        time.sleep(3)
        flow.finish()
        progress.finish()
        stall, at = progress.stall()
        L.info("cpsync's recovery: the longest time without a new version applied while "
               "events waited was %.1f s%s" % (stall, "" if at is None else
                                               " (from %.1f s after the kill)" % (at - t_kill)))

        K.wait_applied(store, province, 180, (cps,))
        n_versions = K.check_versions(store, province)
        u = K.check_unified(store, schemas, boot, unified + "person", (cps,))

        # the idempotent producer: every record on the province topic once
        seen = {}
        for _, _, _, key, value, _ in L.consume_all(boot, [src]):
            seen[(key, value)] = seen.get((key, value), 0) + 1
        dups = sum(c - 1 for c in seen.values())
        if dups or sum(seen.values()) != province.sent:
            L.fail("the province topic holds %d records (%d duplicated), %d were produced"
                   % (sum(seen.values()), dups, province.sent))
        ing = {}
        for _, _, _, key, value, _ in L.consume_all(boot, [ingest]):
            ing[(key, value)] = ing.get((key, value), 0) + 1
        ing_dups = sum(c - 1 for c in ing.values())
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
        L.info("province topic: %d records, each once (idempotent producer across the leader "
               "changes); ingest topic: %d events, %d identical repeats (a source re-delivery "
               "is absorbed by reconcile); unified topic: %d events, %d re-published "
               "duplicates, identical content" % (province.sent, sum(ing.values()), ing_dups,
                                                  u["events"], u["events"] - u["distinct"]))
        L.info("events in %d, unified out %d (%d distinct (key, version) = the history, %d "
               "keys, %d versions), lost 0, doubled 0, gaps 0; %.1f s"
               % (province.sent, u["events"], u["distinct"], len(province.last), n_versions,
                  time.monotonic() - t_start))
    finally:
        if flow:
            flow.stop_flag.set()
        if progress:
            progress.stop_flag.set()
        if cps:
            cps.kill()
        if store:
            store.drop()
        cluster.stop()
    L.info("OK")


if __name__ == "__main__":
    main()
