#!/usr/bin/python3
"""threeway.sink_dead_letters (issue 11): a record a sink's platform refuses
is a dead letter, not a blocked sink. The province's Kafka sink is given a
message.max.bytes a long name does not fit in; a city person with that name
reaches the province sink, which refuses it for good. After its retries it
is in the store's dead letters as the sink's (GET /api/v1/deadletters: kind
sink, link province-sink, its version), counted in /metrics, and a person
after it still reaches the province. Replayed through POST
/api/v1/deadletters/replay it is still refused (still_bad, the reason);
after a restart without the limit the same replay delivers it (replayed,
the province sink's records count it).

usage: sink_dead_letters.py --cpsync BIN --broker BROKER_MAIN --source SOURCE_DIR
"""
import datetime
import os
import time

import twlib as T
from twlib import L

OPS_TOKEN = L.TOKEN
LIMIT = "      properties:\n        message.max.bytes: 1000\n"


def city_insert(city, nid, name):
    rec = {"national_id": nid, "name": name, "gender": "MALE",
           "birth_date": datetime.date(1968, 3, 14),
           "registration_region_code": "440305", "residence_region_code": "440305",
           "residence_address": "南山区桃源街道1号", "has_residence_permit": False,
           "disabled": False, "disability_grade": None, "seriously_ill": False,
           "labour_capacity": "PARTIAL", "phone": "13798765432", "household_id": None,
           "deceased": False}
    cols = T.PERSON_FIELDS
    city.execute("INSERT INTO city.person (%s) VALUES (%s)"
                 % (", ".join(cols), ", ".join(["%s"] * len(cols))), [rec[c] for c in cols])


def write_config(cfg, limit, **kw):
    """twlib's configuration with an operator token and, with `limit`, the
    province sink's message.max.bytes."""
    T.write_config(cfg, **kw)
    with open(cfg) as f:
        text = f.read()
    text = text.replace("  open_routes: [/healthz, /readyz, /metrics, /status]\n",
                        "  open_routes: [/healthz, /readyz, /metrics, /status]\n"
                        "  tokens:\n    ops:\n      token: %s\n      role: operator\n"
                        % OPS_TOKEN, 1)
    if limit:
        marker = "    sink:\n      framing: single-object\n"
        if marker not in text:
            L.fail("no province sink section in the generated configuration")
        text = text.replace(marker, marker + LIMIT, 1)
    with open(cfg, "w") as f:
        f.write(text)


def api(cps, method, path, body=None):
    st, doc = L.http_call(cps.port, method, path, token=OPS_TOKEN, body=body)
    if st != 200:
        L.fail("%s %s: %s %s" % (method, path, st, doc))
    return doc


def sink_dead_letters(cps):
    doc = api(cps, "GET", "/api/v1/deadletters?limit=50")
    return [d for d in doc["items"] if d.get("kind") == "sink"]


def link(cps, name):
    for l in (cps.status() or {}).get("links", []):
        if l["name"] == name:
            return l
    return {}


def metric(text, name, labels):
    for line in text.splitlines():
        if line.startswith(name + "{") and all(l in line for l in labels):
            return float(line.rsplit(" ", 1)[1])
    return None


def replay(cps, dl_id):
    doc = api(cps, "POST", "/api/v1/deadletters/replay", {"ids": [dl_id]})
    return doc["results"][0]


def main():
    args = L.parse_args("threeway.sink_dead_letters")
    work = L.tmpdir("tw-sinkdl")
    ssdir = os.path.join(work, "shenshan")
    for d in ("inbox", "outbox"):
        os.makedirs(os.path.join(ssdir, d))
    store = L.Database(args.pg, "tw_store_sinkdl")
    city = T.City(args.pg, "sinkdl", args.source)
    cfg = os.path.join(work, "threeway.yaml")
    kw = dict(instance="tw-sinkdl", schemas=args.schemas, source=args.source,
              store_conninfo=store.conninfo, city=city, shenshan_dir=ssdir)
    cps = None
    try:
        write_config(cfg, True, **kw)
        cps = L.Cpsync(args.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        T.wait_links_running(cps)
        poison = L.national_id("440305", "19680314", 512)
        after = L.national_id("440305", "19680314", 529)
        city_insert(city, poison, "长" * 600)
        city_insert(city, after, "陈建国")

        t0 = time.monotonic()
        items = []
        while time.monotonic() - t0 < 60 and not items:
            items = sink_dead_letters(cps)
            time.sleep(0.3)
        if len(items) != 1:
            L.fail("sink dead letters: %s\n%s" % (items, cps.tail()))
        d = items[0]
        if (d["link"], d["platform"], d["entity"], d["version"], d["status"]) != \
                ("province-sink", "province", "person", 1, "new") or \
                not d["origin"].startswith("sink:"):
            L.fail("the sink's dead letter: %s" % d)
        if "too large" not in d["reason"]:
            L.fail("dead letter reason: %s" % d["reason"])
        L.info("dead letter %d after %.1f s: %s" % (d["id"], time.monotonic() - t0, d["reason"]))

        # the person after it still reached the province
        deadline = time.monotonic() + 30
        while link(cps, "province-sink").get("records", 0) < 1:
            if time.monotonic() > deadline:
                L.fail("the record after the poison never reached the province: %s"
                       % link(cps, "province-sink"))
            time.sleep(0.3)
        _, _, body = L.http_fetch(cps.port, "/metrics")
        text = body.decode()
        dead = metric(text, "cpsync_link_dead_letters_total", ['link="province-sink"'])
        refused = metric(text, "cpsync_sink_dropped_total",
                         ['link="province-sink"', 'reason="refused"'])
        if dead != 1 or refused != 1:
            L.fail("/metrics: dead letters %s, refused %s" % (dead, refused))

        r = replay(cps, d["id"])
        if r["outcome"] != "still_bad" or "too large" not in r.get("reason", ""):
            L.fail("replay under the limit: %s" % r)
        L.info("replay under the limit: still_bad (%s)" % r["reason"])
        if cps.stop() != 0:
            L.fail("cpsync exited badly after SIGTERM\n" + cps.tail())

        # without the limit, the same replay delivers it
        write_config(cfg, False, **kw)
        cps.start()
        T.wait_links_running(cps)
        before = link(cps, "province-sink").get("records", 0)
        r = replay(cps, d["id"])
        if r["outcome"] != "replayed":
            L.fail("replay without the limit: %s\n%s" % (r, cps.tail()))
        got = link(cps, "province-sink").get("records", 0)
        if got != before + 1:
            L.fail("province-sink records %s -> %s after the replay" % (before, got))
        status = api(cps, "GET", "/api/v1/deadletters/%d" % d["id"])["status"]
        if status != "replayed":
            L.fail("the dead letter is %s after its replay" % status)
        L.info("replay without the limit: replayed, delivered to the province")
        if cps.stop() != 0:
            L.fail("cpsync exited badly after SIGTERM\n" + cps.tail())
    finally:
        if cps:
            cps.kill()
        city.drop()
        store.drop()
    L.info("OK")


if __name__ == "__main__":
    main()
