#!/usr/bin/python3
"""threeway.sink_degraded (issue 11, probe 10): Shenshan's outbox runs out of
space while a city change is on its way there. Before, the Shenshan sink went
back to RUNNING at every reopen and /readyz stayed ready; only an error
counter grew. Now, for as long as its deliveries fail, the sink is DEGRADED
(or FAILED while it backs off), never RUNNING; /readyz answers 503 naming it;
cpsync_link_up is 0. Once space is back, the sink is RUNNING, /readyz is 200
and the change is in the outbox: nothing was lost. /metrics carries the
sink's drop counters by reason.

The outbox is a 256 KiB tmpfs filled to the last byte (needs root and mount);
where mounting is refused, the outbox folder is taken away instead.

usage: sink_degraded.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import datetime
import os
import time

import twlib as T
from twlib import L

EPOCH = datetime.date(1970, 1, 1)
FAULT_S = 8


def city_insert(city, nid):
    rec = {"national_id": nid, "name": "陈建国", "gender": "MALE",
           "birth_date": datetime.date(1968, 3, 14),
           "registration_region_code": "440305", "residence_region_code": "440305",
           "residence_address": "南山区桃源街道1号", "has_residence_permit": False,
           "disabled": False, "disability_grade": None, "seriously_ill": False,
           "labour_capacity": "PARTIAL", "phone": "13798765432", "household_id": None,
           "deceased": False}
    cols = T.PERSON_FIELDS
    city.execute("INSERT INTO city.person (%s) VALUES (%s)"
                 % (", ".join(cols), ", ".join(["%s"] * len(cols))), [rec[c] for c in cols])


def outbox_has(outbox, nid):
    """Whether a complete (manifested) outbox file holds a person record of nid."""
    return any(x.get("national_id") == nid for x in T.outbox_people(outbox))


def metric(text, name, labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and all(l in line for l in labels):
            return float(line.rsplit(" ", 1)[1])
    return None


def watch_fault(cps):
    """Samples the sink's state and /readyz through the fault: never RUNNING,
    never ready."""
    seen = set()
    deadline = time.monotonic() + FAULT_S
    while time.monotonic() < deadline:
        state = T.link_states(cps).get("shenshan-sink")
        st, doc = L.http_get(cps.port, "/readyz")
        seen.add(state)
        if state == "RUNNING":
            L.fail("the Shenshan sink shows RUNNING while its outbox is full\n" + cps.tail())
        if st != 503 or not any("shenshan-sink" in r for r in (doc or {}).get("reasons", [])):
            L.fail("/readyz answers %s %s while the Shenshan sink cannot deliver" % (st, doc))
        time.sleep(0.25)
    if "DEGRADED" not in seen:
        L.fail("the Shenshan sink was never DEGRADED through the fault (states %s)" % seen)
    st, _, body = L.http_fetch(cps.port, "/metrics")
    up = metric(body.decode(), "cpsync_link_up", ['link="shenshan-sink"'])
    if up != 0:
        L.fail("cpsync_link_up of shenshan-sink is %s while it cannot deliver" % up)
    return seen


def main():
    args = L.parse_args("threeway.sink_degraded")
    work = L.tmpdir("tw-degraded")
    ssdir = os.path.join(work, "shenshan")
    for d in ("inbox", "outbox"):
        os.makedirs(os.path.join(ssdir, d))
    outbox = os.path.join(ssdir, "outbox")
    fault = T.OutboxFull(outbox, "256k")
    store = L.Database(args.pg, "tw_store_degraded")
    city = T.City(args.pg, "degraded", args.source)
    cps = None
    try:
        cfg = os.path.join(work, "threeway.yaml")
        T.write_config(cfg, instance="tw-degraded", schemas=args.schemas, source=args.source,
                       store_conninfo=store.conninfo, city=city, shenshan_dir=ssdir)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        T.wait_links_running(cps)
        T.wait_for("/readyz 200", lambda: L.http_get(cps.port, "/readyz")[0] == 200, 60, cps)

        how = fault.start()
        P = L.national_id("440305", "19680314", 411)
        city_insert(city, P)
        T.wait_for("the Shenshan sink failing", lambda: T.link_states(cps).get(
            "shenshan-sink") in ("DEGRADED", "FAILED"), 60, cps)
        seen = watch_fault(cps)
        L.info("%s: Shenshan sink %s for %d s, /readyz 503 naming it, cpsync_link_up 0"
               % (how, "/".join(sorted(seen)), FAULT_S))

        fault.end()
        t0 = time.monotonic()
        T.wait_for("P in Shenshan's outbox", lambda: outbox_has(outbox, P), 60, cps)
        T.wait_links_running(cps, timeout=60)
        T.wait_for("/readyz 200 again", lambda: L.http_get(cps.port, "/readyz")[0] == 200,
                   60, cps)
        L.info("space back: P delivered, every link RUNNING, /readyz 200 after %.1f s"
               % (time.monotonic() - t0))

        st, _, body = L.http_fetch(cps.port, "/metrics")
        for reason in ("echo", "not_allowed", "undecodable"):
            if metric(body.decode(), "cpsync_sink_dropped_total",
                      ['link="shenshan-sink"', 'reason="%s"' % reason]) is None:
                L.fail("/metrics has no cpsync_sink_dropped_total of shenshan-sink, reason %s"
                       % reason)
        rc = cps.stop()
        if rc != 0:
            L.fail("cpsync exited with %s after SIGTERM\n%s" % (rc, cps.tail()))
    finally:
        if cps:
            cps.kill()
        fault.close()
        city.drop()
        store.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
