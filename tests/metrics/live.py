#!/usr/bin/env python3
"""metrics.promtool and metrics.status_fields: /metrics and /status of a live cpsync.

Creates a fresh database on $CPSYNC_TEST_PG, starts `cpsync run -c CONFIG`
(embedded Kafka broker, one kafka platform source with a 120 s freshness
target, HTTP on a free port), produces every sample person record
(single-object framing made by `cpsync encode`, sent with `kcat -P`) and
waits until the reconcile link has them all, twice (the second time from
the workers' state cache), and writes six conflicts (three
live, three closed) into the store. Then, by MODE:

  promtool  GET /metrics: 200, text/plain version 0.0.4, `promtool check
            metrics` exits 0 on it, the link record counters are > 0, the
            store commit histogram counted, the state cache's lookups and
            entries, HTTP requests by route pattern, no national ID
            anywhere.
  status    GET /status: the platforms roll-up (freshness within target,
            throughput > 0), each link's throughput_per_min and 60-point
            series, the reconcile link's state cache (one entry per key,
            the second round's lookups hits), the conflicts breakdown, the
            earlier keys kept.

Ends with SIGTERM and asserts exit 0 (ASan leak checks included).
usage: live.py MODE CPSYNC_BIN SOURCE_DIR
"""
import json
import os
import re
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "lib"))
import cpsynctest as C  # noqa: E402

TOKEN = "metrics-test-viewer-%d" % os.getpid()


def status_doc(port):
    code, _, body = C.http_fetch(port, "/status", TOKEN)
    if code != 200:
        C.fail("/status answered %s" % code)
    return json.loads(body)


CONFIG = """\
instance: metrics-{pid}
log:
  level: info
schemas:
  dir: {schemas}
kafka:
  brokers: embedded
  embedded:
    partitions: 2
store:
  conninfo: "{conninfo}"
  batch_ms: 20
http:
  listen: 127.0.0.1:1   # overridden by --http
  tokens:               # /status needs one; /metrics is open by default
    dashboard-viewer: {{token: "{token}", role: viewer}}
reconcile:
  workers: 1
  state_cache_mb: 24    # off by default; on here to see its figures
platforms:
  province:
    connector: kafka
    freshness_target_s: 120
    source:
      framing: single-object
      topics: [province.person]
      topic:
        province.person: {{entity: person}}
rules:
  person:
    default:
      rule: precedence
      platforms: [province]
"""


def produce_people(cpsync, source_dir, bootstrap):
    """Every sample person, one message each, keyed by national ID."""
    ids = []
    with open(os.path.join(source_dir, "tests/interop/records/person.jsonl")) as f:
        lines = [l for l in f if l.strip()]
    for line in lines:
        key = json.loads(line)["national_id"]
        value = subprocess.run([cpsync, "encode", "--entity", "person", "--framing",
                                "single-object", "--schemas", os.path.join(source_dir, "schemas")],
                               input=line.encode(), stdout=subprocess.PIPE, check=True).stdout
        with tempfile.NamedTemporaryFile() as tmp:
            tmp.write(value)
            tmp.flush()
            subprocess.run(["kcat", "-P", "-b", bootstrap, "-t", "province.person", "-k", key,
                            tmp.name], check=True, timeout=30)
        ids.append(key)
    return ids


def start_traffic(proc, port, log, cpsync, source_dir):
    deadline = time.monotonic() + 60
    while C.http_fetch(port, "/healthz")[0] != 200:
        if proc.poll() is not None or time.monotonic() > deadline:
            C.fail("/healthz never answered 200\n" + C.log_tail(log))
        time.sleep(0.2)
    while True:
        doc = status_doc(port)
        links = {l["name"]: l for l in doc["links"]}
        if all(links.get(n, {}).get("state") == "RUNNING" for n in ("province-source", "publisher")):
            break
        if proc.poll() is not None or time.monotonic() > deadline:
            C.fail("links not RUNNING: %s\n%s" % (json.dumps(doc["links"]), C.log_tail(log)))
        time.sleep(0.2)
    # twice: the second time each key's state comes from the workers' cache
    for rounds in (1, 2):
        ids = produce_people(cpsync, source_dir, doc["kafka"]["bootstrap"])
        while True:
            doc = status_doc(port)
            links = {l["name"]: l for l in doc["links"]}
            if (links["province-source"]["records"] >= rounds * len(ids)
                    and links["reconcile"]["records"] >= rounds * len(ids)):
                break
            if proc.poll() is not None or time.monotonic() > deadline:
                C.fail("records not through: %s\n%s" % (json.dumps(doc["links"]),
                                                        C.log_tail(log)))
            time.sleep(0.2)
    time.sleep(2.2)  # the 1 Hz throughput sampler has run since
    return ids


# Conflicts in every status, written straight into the store (the keys are
# made up): 3 live (2 person, 1 household), 3 closed, one of each kind.
CONFLICTS_SQL = """
INSERT INTO cpsync.conflicts (entity, key, field, status, opened_at) VALUES
 ('person', 'k1', 'name', 'open', now() - interval '90 seconds'),
 ('person', 'k2', 'name', 'claimed', now() - interval '10 seconds'),
 ('household', 'h1', 'address', 'open', now()),
 ('person', 'k3', 'gender', 'resolved', now()),
 ('person', 'k4', 'gender', 'auto_closed', now()),
 ('person', 'k5', 'gender', 'dismissed', now())
"""


def no_ids(text, ids, where):
    for i in ids:
        if i in text:
            C.fail("a national ID in " + where)
    if re.search(r"\d{17}[\dX]", text):
        C.fail("something shaped like a national ID in " + where)


def sample(text, name, **labels):
    """The value of the one sample of `name` with these labels (others ignored)."""
    for line in text.splitlines():
        if line.startswith("#"):
            continue
        m = re.fullmatch(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)", line)
        if not m or m.group(1) != name:
            continue
        got = dict(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
        if all(got.get(k) == v for k, v in labels.items()):
            return float(m.group(4))
    return None


def check_metrics(port, ids):
    status_doc(port)  # one more request to count
    code, ctype, body = C.http_fetch(port, "/metrics")  # no token: open by default
    if code != 200:
        C.fail("/metrics answered %s: %r" % (code, body[:200]))
    if not ctype or not ctype.startswith("text/plain; version=0.0.4"):
        C.fail("/metrics content type %r" % ctype)
    text = body.decode()
    res = subprocess.run(["promtool", "check", "metrics"], input=body, stdout=subprocess.PIPE,
                         stderr=subprocess.STDOUT)
    if res.returncode != 0:
        C.fail("promtool check metrics exited %d:\n%s\n--- exposition:\n%s"
             % (res.returncode, res.stdout.decode(errors="replace"), text[:4000]))
    for link in ("province-source", "reconcile"):
        v = sample(text, "cpsync_link_records_total", link=link)
        if v is None or v < len(ids):
            C.fail("cpsync_link_records_total{link=%s} = %s, want >= %d" % (link, v, len(ids)))
    if sample(text, "cpsync_link_up", link="province-source", platform="province",
              direction="source") != 1:
        C.fail("cpsync_link_up of province-source is not 1")
    if sample(text, "cpsync_link_last_success_timestamp_seconds", link="reconcile") is None:
        C.fail("no last success time of the reconcile link")
    fresh = sample(text, "cpsync_platform_freshness_seconds", platform="province")
    if fresh is None or not 0 <= fresh <= 120:
        C.fail("cpsync_platform_freshness_seconds{province} = %s" % fresh)
    if sample(text, "cpsync_platform_freshness_target_seconds", platform="province") != 120:
        C.fail("freshness target of province is not 120")
    commits = sample(text, "cpsync_store_commit_seconds_count")
    if not commits or commits < 1:
        C.fail("cpsync_store_commit_seconds_count = %s" % commits)
    if sample(text, "cpsync_store_commit_seconds_bucket", le="+Inf") != commits:
        C.fail("store commit histogram: +Inf bucket differs from the count")
    batches = sample(text, "cpsync_reconcile_batch_seconds_count")
    if not batches or batches < 1:
        C.fail("cpsync_reconcile_batch_seconds_count = %s" % batches)
    # every applied event's wait from the ingest topic to its batch, once
    ages = sample(text, "cpsync_reconcile_event_age_seconds_count")
    if not ages or ages < len(ids):
        C.fail("cpsync_reconcile_event_age_seconds_count = %s, want >= %d" % (ages, len(ids)))
    if sample(text, "cpsync_reconcile_event_age_seconds_bucket", le="+Inf") != ages:
        C.fail("event age histogram: +Inf bucket differs from the count")
    mean = sample(text, "cpsync_reconcile_event_age_seconds_sum") / ages
    if not 0 <= mean < 30:
        C.fail("mean event age %.3f s" % mean)
    got = (sample(text, "cpsync_conflicts_open"), sample(text, "cpsync_conflicts_opened_total"),
           sample(text, "cpsync_conflicts_open_by_entity", entity="person"))
    if got != (3, 6, 2):
        C.fail("conflicts open, opened total, open persons: %s, want (3, 6, 2)" % (got,))
    hits = sample(text, "cpsync_state_cache_lookups_total", link="reconcile", result="hit")
    misses = sample(text, "cpsync_state_cache_lookups_total", link="reconcile", result="miss")
    if hits is None or hits < len(ids) or misses is None or misses < len(set(ids)):
        C.fail("state cache lookups: hit %s, miss %s; want >= %d and >= %d"
               % (hits, misses, len(ids), len(set(ids))))
    if sample(text, "cpsync_state_cache_entries", link="reconcile") != len(set(ids)):
        C.fail("cpsync_state_cache_entries = %s, want %d"
               % (sample(text, "cpsync_state_cache_entries", link="reconcile"), len(set(ids))))
    if sample(text, "cpsync_state_cache_entries", link="province-source") is not None:
        C.fail("a state cache figure of a link without a cache")
    for how in ("auto", "resolved", "dismissed"):
        if sample(text, "cpsync_conflicts_resolved_total", how=how) != 1:
            C.fail("cpsync_conflicts_resolved_total{how=%s} is not 1" % how)
    status_reqs = sample(text, "cpsync_http_requests_total", route="/status", code_class="2xx")
    if not status_reqs or status_reqs < 1:
        C.fail("cpsync_http_requests_total{route=/status,2xx} = %s" % status_reqs)
    if sample(text, "cpsync_http_request_duration_seconds_count", route="/status") is None:
        C.fail("no HTTP duration histogram of /status")
    if not re.search(r'^cpsync_build_info\{version="[^"]+"\} 1$', text, re.M):
        C.fail("no cpsync_build_info")
    if sample(text, "cpsync_uptime_seconds") is None:
        C.fail("no cpsync_uptime_seconds")
    for fam in ("cpsync_replication_slot_lag_bytes", "cpsync_kafka_consumer_lag",
                "cpsync_outbox_pending", "cpsync_reconcile_batch_seconds",
                "cpsync_reconcile_event_age_seconds"):
        if "# TYPE %s " % fam not in text:
            C.fail("family %s not defined" % fam)
    for line in text.splitlines():
        if line.startswith("cpsync_http_requests_total") and "/status/" in line:
            C.fail("a raw path in an HTTP label: " + line)
    no_ids(text, ids, "/metrics")


def check_status(port, ids):
    doc = status_doc(port)
    for key in ("version", "instance", "uptime_s", "kafka", "store", "links", "conflicts",
                "platforms"):
        if key not in doc:
            C.fail("/status lacks '%s'" % key)
    links = {l["name"]: l for l in doc["links"]}
    for l in doc["links"]:
        for key in ("name", "platform", "direction", "type", "state", "records", "errors",
                    "dead_letters", "lag", "last_success", "freshness_s"):
            if key not in l:
                C.fail("link %s lacks '%s'" % (l["name"], key))
        series = l.get("series")
        if (not isinstance(series, list) or len(series) != 60
                or not all(isinstance(x, int) and x >= 0 for x in series)):
            C.fail("link %s series: %r" % (l["name"], series))
        if l.get("throughput_per_min") != sum(series):
            C.fail("link %s throughput_per_min %r is not the sum of its series"
                 % (l["name"], l.get("throughput_per_min")))
    for name in ("province-source", "reconcile"):
        if links[name]["throughput_per_min"] < len(ids):
            C.fail("%s throughput_per_min %d, want >= %d" % (name, links[name]["throughput_per_min"],
                                                          len(ids)))
    cache = links["reconcile"].get("state_cache") or {}
    n_keys = len(set(ids))
    if (cache.get("cap_bytes") != 24 << 20 or cache.get("entries") != n_keys
            or not cache.get("bytes", 0) > 0 or cache.get("evictions") != 0
            or cache.get("hits", 0) < len(ids) or cache.get("misses", 0) < n_keys
            or cache.get("stale") != 0):
        C.fail("reconcile state_cache after two rounds of %d keys: %s"
               % (n_keys, json.dumps(cache)))
    if any("state_cache" in l for l in doc["links"] if l["name"] != "reconcile"):
        C.fail("a state_cache on a link other than reconcile")
    plats = {p["name"]: p for p in doc["platforms"]}
    if sorted(plats) != ["province"]:
        C.fail("platforms %s, want only province (cpsync's own links are not a platform)"
             % sorted(plats))
    p = plats["province"]
    want = {"name", "links", "freshness_s", "freshness_target_s", "fresh", "throughput_per_min",
            "errors", "dead_letters"}
    if not want <= set(p):
        C.fail("province lacks %s" % sorted(want - set(p)))
    if p["links"] != ["province-source"]:
        C.fail("province links %r" % p["links"])
    if p["freshness_target_s"] != 120:
        C.fail("province freshness_target_s %r" % p["freshness_target_s"])
    if not isinstance(p["freshness_s"], int) or not 0 <= p["freshness_s"] <= 120:
        C.fail("province freshness_s %r not within the target" % p["freshness_s"])
    if p["fresh"] is not True:
        C.fail("province not fresh: %s" % json.dumps(p))
    if p["throughput_per_min"] < len(ids):
        C.fail("province throughput_per_min %r" % p["throughput_per_min"])
    if p["errors"] != 0 or p["dead_letters"] != 0:
        C.fail("province errors/dead letters: %s" % json.dumps(p))
    c = doc["conflicts"]
    if not isinstance(c.get("open"), int) or "oldest_age_s" not in c:
        C.fail("conflicts part: %s" % json.dumps(c))
    if not isinstance(c.get("by_entity"), dict) or not isinstance(c.get("by_field"), list):
        C.fail("conflicts breakdown: %s" % json.dumps(c))
    if c["open"] != 3 or not 89 <= (c["oldest_age_s"] or 0) <= 150:
        C.fail("conflicts open/oldest: %s" % json.dumps(c))
    if c["by_entity"] != {"household": 1, "person": 2}:
        C.fail("conflicts by_entity: %s" % json.dumps(c["by_entity"]))
    if c["by_field"] != [{"entity": "household", "field": "address", "open": 1},
                         {"entity": "person", "field": "name", "open": 2}]:
        C.fail("conflicts by_field: %s" % json.dumps(c["by_field"]))
    if c.get("opened_total") != 6 or c.get("closed") != {"auto": 1, "resolved": 1, "dismissed": 1}:
        C.fail("conflicts totals: %s" % json.dumps(c))
    if doc["store"].get("open_conflicts") != 3:
        C.fail("store part: %s" % json.dumps(doc["store"]))
    no_ids(json.dumps(doc, ensure_ascii=False), ids, "/status")


def main():
    C.set_name("metrics.?")
    if len(sys.argv) != 4 or sys.argv[1] not in ("promtool", "status"):
        C.fail("usage: live.py promtool|status CPSYNC_BIN SOURCE_DIR")
    mode, cpsync, source_dir = sys.argv[1:]
    C.set_name("metrics.promtool" if mode == "promtool" else "metrics.status_fields")
    db = C.Database(C.require_pg(), "metrics_" + mode)
    proc = None
    try:
        with tempfile.TemporaryDirectory() as tmp:
            cfg = os.path.join(tmp, "metrics.yaml")
            with open(cfg, "w") as f:
                f.write(CONFIG.format(pid=os.getpid(), schemas=os.path.join(source_dir, "schemas"),
                                      conninfo=db.conninfo, token=TOKEN))
            port = C.free_port()
            log = open(os.path.join(tmp, "cpsync.log"), "w+")
            proc = subprocess.Popen([cpsync, "run", "-c", cfg, "--http", "127.0.0.1:%d" % port],
                                    stdout=log, stderr=subprocess.STDOUT)
            try:
                ids = start_traffic(proc, port, log, cpsync, source_dir)
                C.psql(db.conninfo, CONFLICTS_SQL)
                if mode == "promtool":
                    check_metrics(port, ids)
                else:
                    check_status(port, ids)
                proc.send_signal(signal.SIGTERM)
                try:
                    rc = proc.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    C.fail("cpsync did not exit within 15 s of SIGTERM\n" + C.log_tail(log))
                if rc != 0:
                    C.fail("cpsync exited with %d after SIGTERM\n%s" % (rc, C.log_tail(log)))
            finally:
                if proc.poll() is None:
                    proc.kill()
                    proc.wait()
    finally:
        db.drop()
    print("%s: OK" % C.NAME)


if __name__ == "__main__":
    main()
