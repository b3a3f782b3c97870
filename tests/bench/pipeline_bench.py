#!/usr/bin/python3
"""The pipeline benchmark (issue 10, item 10): run by deploy/bench.sh at full
size and by the ctest bench.pipeline scaled down. On one PostgreSQL it:
1. measures the baseline: a binary COPY of N rows (text key, 400-byte
   bytea) into an ordinary WAL-logged table in one transaction;
2. runs one cpsync on its embedded broker with all three platforms and all
   sinks on (province on a standalone broker, broker_main; city by logical
   replication of tests/threeway/city.sql; Shenshan Avro files in an inbox),
   releases N events over K keys at once (a third from each platform, each
   platform its own keys) and measures the sustained throughput from the
   first event written to the last unified event appended on Kafka, its
   ratio to the COPY rate, each sink's throughput, CPU seconds per million
   events of cpsync and of PostgreSQL, cpsync's peak RSS, the keys stored;
3. offers a fixed rate for a fixed time and measures p50/p95/p99 latency from
   the platform write to the unified event's append (its Kafka timestamp,
   cpsync's produce time), with the offered and achieved rates;
4. grows the store to --fill-keys keys (1,000,000 by default): one event for
   each new key, from the three platforms, released at once as a backlog to
   drain; then reads cpsync's peak RSS with that many keys stored.
Prints a table and writes the figures as JSON (--json-dir: a timestamped
file and latest.json). Every wait is bounded: a phase that does not finish
says so and the figures measured so far are reported. Exits non-zero only
when the harness fails (nothing arrived, a figure missing), never for speed.

usage: pipeline_bench.py --cpsync BIN --broker BROKER_MAIN --source DIR
       [--pg CONNINFO] [--events N] [--keys K] [--latency-rate R]
       [--latency-seconds S] [--copy-rows N] [--fill-keys N] [--json-dir DIR]
       [--name NAME]
"""
import os
import sys

# The tests' venv (fastavro, confluent-kafka 2.x; Debian's psycopg2 and
# python3-avro visible) runs this script, whoever started it.
_PYENV = os.environ.get("CPSYNC_TEST_PYENV")
if not _PYENV:
    print("bench.pipeline: FAIL: CPSYNC_TEST_PYENV is not set (deploy/pyenv.sh makes the venv)",
          file=sys.stderr)
    sys.exit(1)
if os.environ.get("CPSYNC_BENCH_REEXEC") != "1" and os.path.realpath(sys.prefix) != \
        os.path.realpath(os.path.dirname(os.path.dirname(_PYENV))):
    os.environ["CPSYNC_BENCH_REEXEC"] = "1"
    os.execv(_PYENV, [_PYENV] + sys.argv)

import argparse  # noqa: E402
import json  # noqa: E402
import shutil  # noqa: E402
import signal  # noqa: E402
import subprocess  # noqa: E402
import threading  # noqa: E402
import time  # noqa: E402

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "threeway"))
import twlib as T  # noqa: E402
from twlib import L  # noqa: E402

import benchlib as B  # noqa: E402

SINKS = ["province-sink", "city-sink", "shenshan-sink"]


def parse_args():
    ap = argparse.ArgumentParser()
    ap.add_argument("--cpsync", required=True)
    ap.add_argument("--broker", required=True)
    ap.add_argument("--source", required=True)
    ap.add_argument("--pg", default=os.environ.get("CPSYNC_TEST_PG"))
    ap.add_argument("--events", type=int, default=1000000)
    ap.add_argument("--keys", type=int, default=100000)
    ap.add_argument("--latency-rate", type=float, default=10000)
    ap.add_argument("--latency-seconds", type=float, default=180)
    ap.add_argument("--copy-rows", type=int, default=0, help="default: max(events, 100000)")
    ap.add_argument("--fill-keys", type=int, default=1000000,
                    help="grow the store to this many keys at the end (0: no fill phase)")
    ap.add_argument("--timeout", type=float, default=0,
                    help="bound of the throughput phase, s (default 60 + events/1000)")
    ap.add_argument("--json-dir", default=None)
    ap.add_argument("--name", default="bench.pipeline")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a configuration key of store or reconcile to set (store.batch_ms=10, "
                         "reconcile.workers=3); default: the engine's")
    a = ap.parse_args()
    L.set_name(a.name)
    if not a.pg:
        L.fail("no PostgreSQL: --pg or CPSYNC_TEST_PG")
    if a.events < 3 or a.keys < 3:
        L.fail("--events and --keys must be at least 3")
    a.copy_rows = a.copy_rows or max(a.events, 100000)
    a.timeout = a.timeout or 60 + a.events / 1000.0
    a.source = os.path.abspath(a.source)
    a.schemas = os.path.join(a.source, "schemas")
    return a


def extra(a, section):
    """The --set keys of `section` as YAML lines under it."""
    out = ""
    for kv in a.set:
        key, _, value = kv.partition("=")
        sec, _, name = key.partition(".")
        if sec not in ("store", "reconcile") or not name or not value:
            sys.exit("--set takes store.KEY=VALUE or reconcile.KEY=VALUE, not %r" % kv)
        if sec == section:
            out += "  %s: %s\n" % (name, value)
    return out


def config_text(a, store, city, ssdir, province_bootstrap):
    """cpsync's configuration: the engine's defaults (store batches, workers,
    Kafka properties) except the topics' partitions, the reconcile group's
    session timeout (as the tests: with librdkafka's 45 s a worker that joins
    late can wait that long for its partitions), Shenshan's stable_ms (the
    files are renamed in whole) and the outbox roll time. The embedded
    broker keeps ~5 MiB of each partition, in cpsync's process: 8 partitions
    a topic (the product's default) keep the slowest sink's backlog on the
    unified topic readable (4 did not once the engine outran the province's
    sink) while what the broker holds stays a small part of cpsync's RSS
    (16 took it from ~230 to ~345 MiB on the full bench)."""
    allow = T.allow
    return """\
instance: bench
log:
  level: info
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded:
    partitions: 8
  consumer:
    session.timeout.ms: 6000
    heartbeat.interval.ms: 500
store:
  conninfo: "{store}"
{store_extra}{reconcile_extra}http:
  listen: 127.0.0.1:0
  open_routes: [/healthz, /readyz, /metrics, /status]
platforms:
  province:
    connector: kafka
    source:
      brokers: {pb}
      framing: single-object
      topics: [province.person]
      topic:
        province.person: {{entity: person}}
    sink:
      brokers: {pb}
      framing: single-object
      entity:
        person: {{topic: province.inbound.person}}
      allow:
        person: {person}
  city:
    connector: postgres
    source:
      framing: raw
      conninfo: "{city}"
      schema_dir: {schemas}
      slot: {slot}
      publication: {publication}
      ignore_origin: {origin}
      table:
        city.person: {{entity: person}}
    sink:
      conninfo: "{city}"
      origin: {origin}
      table:
        person: inbound.person
      allow:
        person: {person}
  shenshan:
    connector: files
    source:
      inbox: {ss}/inbox
      stable_ms: 100
    sink:
      outbox: {ss}/outbox
      schema_dir: {schemas}
      roll_ms: 1000
      allow:
        person: {ss_person}
""".format(schemas=a.schemas, store=store.conninfo, store_extra=extra(a, "store"),
           reconcile_extra=extra(a, "reconcile") and
           "reconcile:\n" + extra(a, "reconcile"), pb=province_bootstrap,
           city=city.db.conninfo, slot=city.slot, publication=city.publication,
           origin=city.origin, ss=ssdir, person=allow(T.PERSON_FIELDS),
           ss_person=allow(T.SHENSHAN_PERSON)) + L.load_rules(a.source)


class Monitor(threading.Thread):
    """Samples /status every 0.5 s: each link's records and lag. A sink's lag
    is the unified events of the two other platforms appended so far that it
    has not delivered yet (cpsync's /status has none for sinks today)."""

    def __init__(self, cps, reader):
        super().__init__(daemon=True)
        self.cps = cps
        self.reader = reader
        self.samples = []  # (wall ms, {link: (records, lag)})
        self.stop_flag = threading.Event()

    def run(self):
        while not self.stop_flag.is_set():
            seen = self.reader.by_letter()
            doc = self.cps.status()
            if doc:
                links = {}
                for l in doc.get("links", []):
                    lag = l.get("lag")
                    if lag is None and l["name"] in SINKS:
                        own = B.LETTER[l["platform"]]
                        lag = sum(n for k, n in seen.items() if k != own) - l["records"]
                    links[l["name"]] = (l["records"], lag)
                self.samples.append((B.now_ms(), links))
            self.stop_flag.wait(0.5)

    def last(self, link):
        for _, links in reversed(self.samples):
            if link in links:
                return links[link][0]
        return 0

    def window(self, t_from, t_to=None):
        return [s for s in self.samples if s[0] >= t_from and (t_to is None or s[0] <= t_to)]


def sink_rates(mon, reader, t0, timeout):
    """Waits (bounded) until every sink has delivered the burst's unified
    events of the two other platforms (a platform's own changes are not sent
    back to it), or its count has stood still for 10 s; returns {sink:
    {records, per_s, finished}} counted from t0."""
    base = {s: _at(mon, s, t0) for s in SINKS}
    want = {}
    for s in SINKS:
        own = B.LETTER[s.split("-")[0]]
        want[s] = sum(reader.count.get(("burst", l), 0) for l in "pcs" if l != own)
    deadline = time.monotonic() + timeout
    done = {}
    while time.monotonic() < deadline and len(done) < len(SINKS):
        recent = mon.window(B.now_ms() - 10000)
        for s in SINKS:
            if s in done:
                continue
            if mon.last(s) - base[s] >= want[s]:
                done[s] = True
            elif len(recent) >= 16 and len({x[1].get(s, (0,))[0] for x in recent}) == 1 \
                    and mon.last(s) > base[s]:
                done[s] = False  # stood still short of the count
        time.sleep(0.5)
    out = {}
    for s in SINKS:
        end = mon.last(s)
        t_last = t0
        prev = None
        for t, links in mon.window(t0):
            v = links.get(s, (0,))[0]
            if prev is not None and v != prev:
                t_last = t
            prev = v
        n = end - base[s]
        out[s] = {"records": n, "expected": want[s],
                  "per_s": n / ((t_last - t0) / 1000.0) if t_last > t0 else None,
                  "finished": done.get(s, False)}
    return out


def _at(mon, link, t):
    v = 0
    for ts, links in mon.samples:
        if ts > t:
            break
        v = links.get(link, (0,))[0]
    return v


def wait_targets(reader, targets, timeout, cps):
    """Until the unified topic shows each key's last seq; False on timeout."""
    deadline = time.monotonic() + timeout
    failed_since = {}
    waiting = reader.wait_for(targets)
    try:
        while time.monotonic() < deadline:
            if reader.error:
                L.fail("reading the unified topic: %s" % reader.error)
            if not cps.alive():
                L.fail("cpsync died\n" + cps.tail())
            if reader.left(waiting) == 0:
                return True
            # a link FAILED for 30 s (a lost replication slot) will not finish
            for l in (cps.status() or {}).get("links", []):
                if l.get("state") != "FAILED":
                    failed_since.pop(l.get("name"), None)
                elif time.monotonic() - failed_since.setdefault(l.get("name"),
                                                                time.monotonic()) > 30:
                    L.fail("link %s FAILED for 30 s: %s" % (l.get("name"), l.get("last_error")))
            time.sleep(0.5)
        return False
    finally:
        reader.done_waiting(waiting)


def age_buckets(cps):
    """cpsync_reconcile_event_age_seconds now: {upper bound: cumulative count}."""
    st, _, body = L.http_fetch(cps.port, "/metrics")
    out = {}
    for line in body.decode().splitlines() if st == 200 else []:
        if line.startswith("cpsync_reconcile_event_age_seconds_bucket{le=\""):
            le = line.split('"')[1]
            out[float("inf") if le == "+Inf" else float(le)] = float(line.split()[-1])
    return out


def age_quantiles(before, after):
    """The bucket bounds holding p50 and p99 of the events between two
    readings of the histogram (ms), or None."""
    delta = sorted((b, after.get(b, 0) - before.get(b, 0)) for b in after)
    total = delta[-1][1] if delta else 0
    if not total:
        return None
    pick = (lambda q: next(b for b, n in delta if n >= q * total) * 1000.0)
    return {"p50_le": pick(0.5), "p99_le": pick(0.99), "n": total}


def store_keys(cps):
    st, _, body = L.http_fetch(cps.port, "/metrics")
    if st != 200:
        return None
    for line in body.decode().splitlines():
        if line.startswith("cpsync_store_records "):
            return int(float(line.split()[1]))
    return None


# ------------------------------------------------------------------ phases

def prepare_burst(a, plan, seq, prov, city, ss):
    """Every event of the burst, made ready before the clock starts: province
    messages encoded, city upserts rendered, Shenshan files written aside.
    Returns (province msgs, city statements, shenshan paths, {key: last seq})."""
    targets = {}
    items = {p: plan.take(p, plan.events[p], seq) for p in B.PLATFORMS}
    for p, its in items.items():
        for i, s in its:
            targets[B.nid(p, i).encode()] = s
    msgs = prov.encode(items["province"])
    step = min(1000, plan.keys["city"])
    stmts = [city.statement(items["city"][k:k + step]) for k in range(0, len(items["city"]), step)]
    ss_items = items["shenshan"]
    paths = [ss.write(ss_items[k:k + 2000]) for k in range(0, len(ss_items), 2000)]
    return msgs, stmts, paths, targets


def run_threads(fns):
    errors = []

    def wrap(fn):
        def go():
            try:
                fn()
            except Exception as e:  # noqa: BLE001 (reported below)
                errors.append(e)
        return go
    ts = [threading.Thread(target=wrap(f), daemon=True) for f in fns]
    for t in ts:
        t.start()
    return ts, errors


def phase_burst(a, ctx):
    cps, reader, mon, plan, seq = ctx["cps"], ctx["reader"], ctx["mon"], ctx["plan"], ctx["seq"]
    prov, city, ss = ctx["prov"], ctx["city"], ctx["ss"]
    L.info("burst: preparing %d events over %d keys" % (a.events, sum(plan.keys.values())))
    reader.start_phase(seq.n + 1, "burst")
    msgs, stmts, paths, targets = prepare_burst(a, plan, seq, prov, city, ss)
    pid, pm = cps.proc.pid, ctx["postmaster"]
    cpu0, pg0 = B.cpu_of(pid), B.pg_cpu(pm) if pm else None
    ours0 = B.backends_cpu(a.pg, ctx["databases"])
    t0 = B.now_ms()
    threads, errors = run_threads([
        lambda: (prov.send(msgs), prov.flush()),
        lambda: [city.run(s) for s in stmts],
        lambda: [ss.release(p) for p in paths]])
    for t in threads:
        t.join(a.timeout)
    t_written = B.now_ms()
    if errors:
        L.fail("writing the burst: %s" % errors[0])
    L.info("burst: written in %.1f s; waiting for the unified topic (at most %d s)"
           % ((t_written - t0) / 1000.0, a.timeout))
    done = wait_targets(reader, targets, a.timeout - (t_written - t0) / 1000.0, cps)
    t_last = reader.max_ts.get("burst")
    sinks = sink_rates(mon, reader, t0, max(60.0, a.timeout / 4))
    cpu1, pg1 = B.cpu_of(pid), B.pg_cpu(pm) if pm else None
    ours = sum(v - ours0.get(p, 0.0) for p, v in B.backends_cpu(a.pg, ctx["databases"]).items())
    n_events = a.events if done else a.events - reader.missing(targets)
    secs = (t_last - t0) / 1000.0 if t_last else None
    doc = cps.status() or {}
    r = {"events": a.events, "keys": len(targets), "finished": done,
         "keys_at_last_value": len(targets) - reader.missing(targets),
         "unified_events": reader.count.get("burst", 0), "write_s": (t_written - t0) / 1000.0,
         "seconds": secs, "events_per_s": a.events / secs if secs and done else None,
         "sinks": sinks, "cpu_s": cpu1 - cpu0,
         "pg_cpu_s": (pg1 - pg0) if pg0 is not None and pg1 is not None else None,
         "pg_backends_cpu_s": ours,
         "peak_rss_mib": B.vm_hwm_mib(pid), "keys_stored": store_keys(cps),
         "links": {l["name"]: {k: l.get(k) for k in ("records", "errors", "dead_letters", "lag")}
                   for l in doc.get("links", [])},
         "state_cache": next((l["state_cache"] for l in doc.get("links", [])
                              if "state_cache" in l), None)}
    if not done and secs:
        # a lower bound: the keys whose last value arrived, over the time taken
        r["events_per_s_partial"] = n_events / secs
    r["cpu_s_per_m"] = r["cpu_s"] / a.events * 1e6
    if r["pg_cpu_s"] is not None:
        r["pg_cpu_s_per_m"] = r["pg_cpu_s"] / a.events * 1e6
    r["pg_backends_cpu_s_per_m"] = ours / a.events * 1e6
    return r


def paced(rate, seconds, tick, write):
    """Calls write(n) every `tick` s with the events due at `rate`; returns
    (events written, seconds taken)."""
    start = time.monotonic()
    sent = 0
    while True:
        el = time.monotonic() - start
        if el >= seconds:
            break
        due = int(rate * el) - sent
        if due > 0:
            sent += write(due)
        time.sleep(max(0.0, tick - (time.monotonic() - start - el)))
    return sent, time.monotonic() - start


def phase_latency(a, ctx):
    cps, reader, mon, plan, seq = ctx["cps"], ctx["reader"], ctx["mon"], ctx["plan"], ctx["seq"]
    prov, city, ss = ctx["prov"], ctx["city"], ctx["ss"]
    rate = a.latency_rate / 3.0
    targets = {}
    tlock = threading.Lock()

    def take(p, n):
        its = plan.take(p, n, seq)
        with tlock:
            for i, s in its:
                targets[B.nid(p, i).encode()] = s
        return its

    def w_prov(n):
        its = take("province", n)
        msgs = prov.encode(its)
        reader.note_writes([s for _, s in its], "province", B.now_ms())
        prov.send(msgs)
        return n

    def w_city(n):
        n = min(n, plan.keys["city"], 5000)
        its = take("city", n)
        sql = city.statement(its)
        reader.note_writes([s for _, s in its], "city", B.now_ms())
        city.run(sql)
        return n

    def w_ss(n):
        its = take("shenshan", n)
        path = ss.write(its)
        reader.note_writes([s for _, s in its], "shenshan", B.now_ms())
        ss.release(path)
        return n

    L.info("latency: offering %.0f events/s for %.0f s" % (a.latency_rate, a.latency_seconds))
    reader.start_phase(seq.n + 1, "latency")
    t0 = B.now_ms()
    ages_before = age_buckets(cps)
    res = {}
    threads, errors = run_threads([
        lambda: res.__setitem__("province", paced(rate, a.latency_seconds, 0.005, w_prov)),
        lambda: res.__setitem__("city", paced(rate, a.latency_seconds, 0.02, w_city)),
        lambda: res.__setitem__("shenshan", paced(rate, a.latency_seconds, 1.0, w_ss))])
    for t in threads:
        t.join(a.latency_seconds + 120)
    prov.flush()
    t_written = B.now_ms()
    if errors or len(res) != 3:
        L.fail("writing at the offered rate: %s" % (errors[:1] or "a writer did not finish"))
    written = sum(n for n, _ in res.values())
    drain = max(30.0, a.latency_seconds / 3)
    done = wait_targets(reader, dict(targets), drain, cps)
    t_last = reader.max_ts.get("latency")
    lags = {}
    for s in SINKS:
        vals = [x[1][s][1] for x in mon.window(t0, t_written) if s in x[1]]
        vals = [v for v in vals if v is not None]
        lags[s] = {"max": max(vals) if vals else None, "last": vals[-1] if vals else None}
    lat = {}
    allv = []
    for p in B.PLATFORMS:
        v = sorted(reader.latency[B.LETTER[p]])
        allv += v
        lat[p] = _pcts(v)
    allv.sort()
    took = (t_written - t0) / 1000.0
    return {"offered_per_s": a.latency_rate, "seconds": a.latency_seconds,
            "written": written, "achieved_offered_per_s": written / took,
            "unified_events": reader.count.get("latency", 0),
            "delivered_per_s": (reader.count.get("latency", 0) / ((t_last - t0) / 1000.0)
                                if t_last else None),
            "finished": done, "latency_ms": _pcts(allv), "by_platform_ms": lat,
            "ingest_to_batch_ms": age_quantiles(ages_before, age_buckets(cps)),
            "to_reconcile_ms": {p: _pcts(sorted(reader.to_reconcile[B.LETTER[p]]))
                                for p in B.PLATFORMS},
            "reconcile_to_append_ms": {p: _pcts(sorted(reader.from_reconcile[B.LETTER[p]]))
                                       for p in B.PLATFORMS},
            "sink_lag": lags, "peak_rss_mib": B.vm_hwm_mib(cps.proc.pid)}


def phase_fill(a, ctx):
    """Grows the store to --fill-keys keys: one event for each new key (a
    third per platform, key indices past the burst's), all written at once, so
    cpsync drains a backlog while the store fills. Returns the keys stored
    and cpsync's peak RSS afterwards."""
    cps, reader, plan, seq = ctx["cps"], ctx["reader"], ctx["plan"], ctx["seq"]
    prov, city, ss = ctx["prov"], ctx["city"], ctx["ss"]
    before = ctx["store"].query("SELECT count(*) FROM cpsync.records")[0][0]
    n = a.fill_keys - before
    if n <= 0:
        return {"keys_before": before, "events": 0, "finished": True, "seconds": 0.0,
                "keys_stored": before, "peak_rss_mib": B.vm_hwm_mib(cps.proc.pid)}
    L.info("fill: %d new keys, one event each, to reach %d keys stored" % (n, a.fill_keys))
    reader.start_phase(seq.n + 1, "fill")
    per = {"province": n - 2 * (n // 3), "city": n // 3, "shenshan": n // 3}
    items = {p: [(plan.keys[p] + d, seq.next()) for d in range(per[p])] for p in B.PLATFORMS}
    targets = {B.nid(p, i).encode(): s for p, its in items.items() for i, s in its}

    def w_prov():
        for k in range(0, per["province"], 20000):
            prov.send(prov.encode(items["province"][k:k + 20000]))
        prov.flush()

    def w_city():
        for k in range(0, per["city"], 1000):
            city.run(city.statement(items["city"][k:k + 1000]))

    def w_ss():
        for k in range(0, per["shenshan"], 2000):
            ss.release(ss.write(items["shenshan"][k:k + 2000]))

    t0 = B.now_ms()
    threads, errors = run_threads([w_prov, w_city, w_ss])
    timeout = 120 + n / 1000.0
    for t in threads:
        t.join(timeout)
    if errors:
        L.fail("writing the fill: %s" % errors[0])
    done = wait_targets(reader, targets, timeout - (B.now_ms() - t0) / 1000.0, cps)
    t_last = reader.max_ts.get("fill")
    stored = ctx["store"].query("SELECT count(*) FROM cpsync.records")[0][0]
    return {"keys_before": before, "events": n, "finished": done,
            "seconds": (t_last - t0) / 1000.0 if t_last else None,
            "keys_stored": stored, "peak_rss_mib": B.vm_hwm_mib(cps.proc.pid)}


def _pcts(v):
    return {"n": len(v), "p50": B.percentile(v, 50), "p95": B.percentile(v, 95),
            "p99": B.percentile(v, 99)}


# ------------------------------------------------------------------ report

def fmt(v, unit="", nd=0):
    if v is None:
        return "n/a"
    return ("{:,.%df}" % nd).format(v) + unit


def state_cache_text(c):
    """The reconcile link's state cache over the whole run (/status)."""
    if not c:
        return "off"
    looked = c["hits"] + c["stale"] + c["misses"]
    return "%s / %s / %s (%s%% hits; %s states, %s of %s MiB)" % (
        fmt(c["hits"]), fmt(c["stale"]), fmt(c["misses"]),
        fmt(100.0 * c["hits"] / looked if looked else None, "", 1), fmt(c["entries"]),
        fmt(c["bytes"] / 1048576.0, "", 1), fmt(c["cap_bytes"] / 1048576.0))


def report(a, r):
    c, b, lt = r["copy"], r["burst"], r.get("latency")
    rows = [("COPY baseline (binary, 400-byte rows, 1 tx)",
             "%s rows/s (%s rows in %.2f s)"
             % (fmt(c["rows_per_s"]), fmt(c["rows"]), c["seconds"]))]
    if b["finished"]:
        thr = "%s events/s (%s events in %.1f s)" % (fmt(b["events_per_s"]), fmt(b["events"]),
                                                     b["seconds"])
    else:
        thr = "did not finish in %d s: %s of %s keys at their last value, >= %s events/s" % (
            a.timeout, fmt(b["keys_at_last_value"]), fmt(b["keys"]),
            fmt(b.get("events_per_s_partial")))
    rows += [("end to end, first event in to last unified out", thr),
             ("  the platforms wrote the burst in", fmt(b["write_s"], " s", 1)),
             ("ratio to the COPY rate", fmt(r.get("ratio_to_copy"), "", 4)),
             ("unified events appended (burst)", fmt(b["unified_events"]))]
    for s, v in b["sinks"].items():
        rows.append(("sink %s" % s, "%s records/s (%s records%s)" % (
            fmt(v["per_s"]), fmt(v["records"]),
            "" if v["finished"] else " of %s: did not finish" % fmt(v["expected"]))))
    if not all(v["finished"] for v in b["sinks"].values()) and r.get("unified_dropped"):
        rows.append(("  the embedded broker dropped, of the unified topic's oldest",
                     "%s events (it keeps ~5 MiB a partition: a sink's backlog past that "
                     "is lost to it)" % fmt(r["unified_dropped"])))
    rows += [("cpsync CPU s per million events", fmt(b["cpu_s_per_m"], "", 1)),
             ("PostgreSQL CPU s per million events, whole server",
              fmt(b.get("pg_cpu_s_per_m"), "", 1)),
             ("  of which our databases' live backends", fmt(b["pg_backends_cpu_s_per_m"], "", 1)),
             ("cpsync peak RSS (VmHWM) after the burst", fmt(b["peak_rss_mib"], " MiB", 1)),
             ("keys stored", fmt(b["keys_stored"])),
             ("workers' state cache: hits / stale / misses", state_cache_text(b["state_cache"]))]
    if lt:
        rows += [("latency: offered / achieved / delivered", "%s / %s / %s events/s%s" % (
                     fmt(lt["offered_per_s"]), fmt(lt["achieved_offered_per_s"]),
                     fmt(lt["delivered_per_s"]),
                     "" if lt["finished"] else " (did not finish: backlog left)")),
                 ("latency p50 / p95 / p99 (all)", _lat(lt["latency_ms"]))]
        for p in B.PLATFORMS:
            rows += [("  from %s" % p, _lat(lt["by_platform_ms"][p])),
                     ("    write to reconciled (event_time)", _lat(lt["to_reconcile_ms"][p])),
                     ("    reconciled to unified append", _lat(lt["reconcile_to_append_ms"][p]))]
        ib = lt["ingest_to_batch_ms"]
        rows.append(("  ingest topic to its batch (cpsync histogram)",
                     "p50 <= %s / p99 <= %s ms (n=%s)" % (fmt(ib["p50_le"], "", 1), fmt(ib["p99_le"], "", 1),
                                                       fmt(ib["n"])) if ib else "n/a"))
        for s, v in lt["sink_lag"].items():
            rows.append(("  %s lag max / at end of offer" % s, "%s / %s" % (fmt(v["max"]),
                                                                  fmt(v["last"]))))
        rows.append(("cpsync peak RSS after the offer", fmt(lt["peak_rss_mib"], " MiB", 1)))
    fl = r.get("fill")
    if fl and fl["events"]:
        rows += [("fill: new keys, one event each, as a backlog", "%s in %s%s" % (
                     fmt(fl["events"]), fmt(fl["seconds"], " s", 1),
                     "" if fl["finished"] else " (did not finish)")),
                 ("keys stored after the fill", fmt(fl["keys_stored"])),
                 ("cpsync peak RSS (VmHWM) with the keys stored",
                  fmt(fl["peak_rss_mib"], " MiB", 1))]
    sf = r.get("store_floor")
    if sf:
        rows += [("the store's two writes an event, PostgreSQL alone",
                  "%s us a key state (%s keys, batches of %d): at most %s events/s a core"
                  % (fmt(sf["us_per_key"], "", 1), fmt(sf["keys"]), sf["batch"],
                     fmt(1e6 / sf["us_per_key"]))),
                 ("  at %s events/s (the target) they alone take" % fmt(TARGET_EVENTS_PER_S),
                  "%s cores" % fmt(TARGET_EVENTS_PER_S * sf["us_per_key"] / 1e6, "", 2))]
    w = max(len(k) for k, _ in rows)
    print("%s: figures (same run, same PostgreSQL; noisy when other work shares the cores)"
          % a.name)
    for k, v in rows:
        print("  %-*s  %s" % (w, k, v))
    sys.stdout.flush()


def _lat(d):
    return "%s / %s / %s ms (n=%s)" % (fmt(d["p50"]), fmt(d["p95"]), fmt(d["p99"]), fmt(d["n"]))


def write_json(a, r):
    if not a.json_dir:
        return
    os.makedirs(a.json_dir, exist_ok=True)
    stamp = time.strftime("%Y%m%dT%H%M%S")
    text = json.dumps(r, indent=2, sort_keys=True) + "\n"
    for name in ("pipeline-%s.json" % stamp, "latest.json"):
        with open(os.path.join(a.json_dir, name), "w") as f:
            f.write(text)
    L.info("figures written to %s/pipeline-%s.json and latest.json" % (a.json_dir, stamp))


def harness_check(r):
    """The harness failed when nothing arrived or a figure is missing."""
    b, lt = r["burst"], r["latency"]
    if r.get("province_dropped"):
        L.fail("the province's broker dropped %d messages before cpsync read them (the mock "
               "broker keeps ~5 MiB per partition): the figures are not valid"
               % r["province_dropped"])
    need = {"copy rows/s": r["copy"]["rows_per_s"], "burst unified events": b["unified_events"],
            "cpsync CPU": b["cpu_s"], "peak RSS": b["peak_rss_mib"],
            "keys stored": b["keys_stored"], "PostgreSQL CPU": b.get("pg_cpu_s"),
            "latency samples": lt["latency_ms"]["n"], "latency p99": lt["latency_ms"]["p99"],
            "store floor": r.get("store_floor")}
    if r["fill"]["events"]:
        need["keys stored after the fill"] = r["fill"]["keys_stored"]
    if b["finished"]:
        need["throughput"] = b["events_per_s"]
    for s, v in b["sinks"].items():
        need["%s records" % s] = v["records"]
    for p in B.PLATFORMS:
        src = b["links"].get(p + "-source", {})
        need["%s-source records" % p] = src.get("records")
        if src.get("dead_letters"):
            L.fail("%s-source set %d of the benchmark's events aside as dead letters"
                   % (p, src["dead_letters"]))
    bad = [k for k, v in need.items() if not v]
    if bad:
        L.fail("figures missing or zero: %s" % ", ".join(bad))


# -------------------------------------------------------------------- main

def stop(cps, timeout=60):
    """SIGTERM; the exit status, or a sentence when it had to be killed."""
    cps.proc.send_signal(signal.SIGTERM)
    try:
        return cps.proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        cps.proc.kill()
        cps.proc.wait()
        return "killed: no exit within %d s of SIGTERM" % timeout


# The store floor's sample of keys and its batch (about the mean batch of
# the burst): enough for a steady figure in a few seconds.
FLOOR_SAMPLE = 20000
FLOOR_BATCH = 100
TARGET_EVENTS_PER_S = 35000  # the engine issue's end-to-end target


def main():
    a = parse_args()
    work = L.tmpdir("bench")
    ssdir = os.path.join(work, "shenshan")
    for d in ("inbox", "outbox"):
        os.makedirs(os.path.join(ssdir, d))
    r = {"name": a.name, "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
         "args": {"events": a.events, "keys": a.keys, "latency_rate": a.latency_rate,
                  "latency_seconds": a.latency_seconds, "copy_rows": a.copy_rows,
                  "fill_keys": a.fill_keys,
                  "set": a.set},
         "host": {"cpus": os.cpu_count(), "load_at_start": os.getloadavg()}}
    store = L.Database(a.pg, "bench_store")
    L.info("COPY baseline: %d rows" % a.copy_rows)
    rate, secs = B.copy_baseline(store.conninfo, a.copy_rows, work)
    r["copy"] = {"rows": a.copy_rows, "rows_per_s": rate, "seconds": secs}
    # 64 partitions: the mock broker keeps ~5 MiB of each and drops the oldest,
    # and the backlog of the offered rate and the fill must all stay readable
    broker = L.Broker(a.broker, 4, ["province.person:64", "province.inbound.person:4"])
    city = T.City(a.pg, "bench", a.source)
    city.execute("DROP TRIGGER person_log ON inbound.person")  # test instrumentation only
    cps = reader = mon = None
    try:
        cfg = os.path.join(work, "bench.yaml")
        with open(cfg, "w") as f:
            f.write(config_text(a, store, city, ssdir, broker.bootstrap))
        cps = L.Cpsync(a.cpsync, cfg, os.path.join(work, "cpsync.log"))
        cps.start()
        T.wait_links_running(cps, timeout=120, names=T.LINKS + ["reconcile", "publisher"])
        enc = B.Encoder(a.cpsync, a.schemas)
        reader = B.UnifiedReader(cps.status()["kafka"]["bootstrap"], "cpsync.unified.person")
        reader.start()
        mon = Monitor(cps, reader)
        mon.start()
        ctx = {"cps": cps, "reader": reader, "mon": mon, "plan": B.Plan(a.events, a.keys),
               "seq": B.Counter(), "prov": B.Province(broker.bootstrap, enc),
               "city": B.City(city.db.conninfo),
               "ss": B.Shenshan(os.path.join(ssdir, "inbox"), enc),
               "postmaster": B.postmaster_of(a.pg), "store": store,
               "databases": [store.name, city.db.name]}
        r["burst"] = phase_burst(a, ctx)
        b = r["burst"]
        r["ratio_to_copy"] = b["events_per_s"] / rate if b["events_per_s"] else None
        r["latency"] = phase_latency(a, ctx)
        r["fill"] = phase_fill(a, ctx)
        r["province_dropped"] = B.dropped_messages(broker.bootstrap, "province.person")
        # read or not: a sink that did not finish may have lost its backlog here
        r["unified_dropped"] = B.dropped_messages(cps.status()["kafka"]["bootstrap"],
                                                  "cpsync.unified.person")
        ctx["city"].close()
        r["unmatched_unified"] = reader.unmatched
        reader.stop()
        mon.stop_flag.set()
        r["cpsync_exit"] = stop(cps)
        L.info("store floor: the store's two writes an event, PostgreSQL alone")
        r["store_floor"] = B.store_floor(store.conninfo, FLOOR_SAMPLE, FLOOR_BATCH)
    finally:
        if reader and reader.is_alive():
            reader.stop()
        if cps:
            cps.kill()
        broker.stop()
        city.drop()
        store.drop()
    report(a, r)
    write_json(a, r)
    harness_check(r)
    if r["cpsync_exit"] != 0:
        L.fail("cpsync exited with %s after SIGTERM" % r["cpsync_exit"])
    shutil.rmtree(work, ignore_errors=True)  # kept when the run failed: its cpsync.log
    L.info("OK")


if __name__ == "__main__":
    main()
