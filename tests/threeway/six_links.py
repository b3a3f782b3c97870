#!/usr/bin/python3
"""threeway.six_links: with the three platforms on their real transports
(province on Kafka, city on PostgreSQL, Shenshan on files), /status (open
route, no token) lists exactly six platform links, a source and a sink for
each platform, each of the right connector type and RUNNING, and the
platform roll-ups name them; they stay RUNNING for a few seconds.

usage: six_links.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import os
import time

import twlib as T
from twlib import L

TYPES = {"province": "kafka", "city": "postgres", "shenshan": "files"}


def check(doc):
    links = [l for l in doc["links"] if l["platform"] in TYPES]
    names = sorted(l["name"] for l in links)
    if names != sorted(T.LINKS):
        L.fail("platform links in /status: %s (want %s)" % (names, sorted(T.LINKS)))
    for l in links:
        want = "%s-%s" % (l["platform"], l["direction"])
        if l["name"] != want or l["type"] != TYPES[l["platform"]]:
            L.fail("link %s: platform %s direction %s type %s" % (
                l["name"], l["platform"], l["direction"], l["type"]))
        if l["state"] != "RUNNING":
            L.fail("link %s is %s (%s)" % (l["name"], l["state"], l.get("last_error")))
    plats = {p["name"]: sorted(p["links"]) for p in doc["platforms"]}
    for p in TYPES:
        if plats.get(p) != sorted(["%s-source" % p, "%s-sink" % p]):
            L.fail("platform %s rolls up links %s" % (p, plats.get(p)))


def main():
    args = L.parse_args("threeway.six_links")
    work = L.tmpdir("tw-links")
    ssdir = os.path.join(work, "shenshan")
    for d in ("inbox", "outbox"):
        os.makedirs(os.path.join(ssdir, d))
    store = L.Database(args.pg, "tw_store_links")
    city = T.City(args.pg, "links", args.source)
    cps = None
    try:
        cfg = os.path.join(work, "threeway.yaml")
        T.write_config(cfg, instance="tw-links", schemas=args.schemas, source=args.source,
                       store_conninfo=store.conninfo, city=city, shenshan_dir=ssdir)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        T.wait_links_running(cps)
        for _ in range(10):
            doc = cps.status()
            if doc is None:
                L.fail("/status does not answer without a token although open_routes lists it")
            check(doc)
            time.sleep(0.5)
        L.info("six links RUNNING: %s" % ", ".join(T.LINKS))
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        if cps:
            cps.kill()
        city.drop()
        store.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
