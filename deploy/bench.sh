#!/usr/bin/env bash
# The pipeline benchmark (tests/bench/pipeline_bench.py), standalone: the
# dependencies, a release build (build/bench), a private PostgreSQL of its
# own under var/bench-pg on port 54331 (new each run, removed at the end), the
# tests' Python venv (deploy/pyenv.sh). In one run: a binary COPY baseline, then the whole
# pipeline (province on Kafka, city by logical replication, Shenshan by
# files, every sink on) with a burst of events (throughput, its ratio to COPY,
# each sink's rate, CPU per million events of cpsync and PostgreSQL, peak RSS)
# and a fixed offered rate (latency p50/p95/p99), then grows the store to
# 1,000,000 keys with a backlog of new keys (peak RSS with them stored), and,
# with cpsync stopped, the store's floor: PostgreSQL alone running cpsync's
# merge on copies of the run's keys (tests/bench/store_floor.sql).
# Prints a table and writes the figures to var/bench/pipeline-<time>.json
# and var/bench/latest.json.
#
#   deploy/bench.sh [--events N] [--keys K] [--latency-rate R] [--latency-seconds S]
#                   [--copy-rows N] [--fill-keys N] [--timeout S] [--small]
#                   [--set KEY=VALUE ...]
# Defaults: 1,000,000 events over 100,000 keys; 10,000 events/s for 180 s;
# the store grown to 1,000,000 keys.
# --small: 30,000 events over 5,000 keys; 1,000 events/s for 20 s; 50,000 keys.
# --set: a store.* or reconcile.* key for this run (store.batch_ms=10).
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/bench
pgdata=$root/var/bench-pg
pgport=${CPSYNC_BENCH_PG_PORT:-54331}
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--events|--keys|--latency-rate|--latency-seconds|--copy-rows|--fill-keys|--timeout)
		args+=("$1" "${2:?$1 wants a number}"); shift 2 ;;
	--set) args+=("$1" "${2:?$1 wants KEY=VALUE}"); shift 2 ;;
	--small) args+=(--events 30000 --keys 5000 --latency-rate 1000 --latency-seconds 20 --fill-keys 50000); shift ;;
	-h|--help) sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "bench: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
done

echo "==> dependencies (deploy/install-deps.sh)"
"$root/deploy/install-deps.sh"

echo "==> release build in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DCPSYNC_SANITIZE=OFF >/dev/null
cmake --build "$build" -j"$(nproc)" --target cpsync cps_e2e_broker

echo "==> the tests' Python venv (deploy/pyenv.sh)"
CPSYNC_TEST_PYENV=$("$root/deploy/pyenv.sh")
export CPSYNC_TEST_PYENV

echo "==> private PostgreSQL in $pgdata (port $pgport), new for this run"
mkdir -p "$root/var/bench"
# A fresh instance each run, removed at the end: a run cut short leaves its
# databases and its city replication slot behind, and that slot pins every
# byte of WAL written after it (tens of GB within one full run).
remove_pg() {
	"$root/deploy/pg-private.sh" stop "$pgdata" >/dev/null 2>&1 || true
	rm -rf "$pgdata"
}
stop_pg() {
	echo "==> stopping and removing the private PostgreSQL"
	remove_pg
}
remove_pg
trap stop_pg EXIT
pg=$("$root/deploy/pg-private.sh" start "$pgdata" "$pgport")
# The city's database shares this server with the store here, so the city
# slot holds the store's WAL too: pg-private.sh's 1 GB (its guard against an
# abandoned slot) is passed within a million events and the slot is lost.
psql "$pg" -qAt -c "ALTER SYSTEM SET max_slot_wal_keep_size = '48GB'" \
	-c "SELECT pg_reload_conf()" >/dev/null

echo "==> benchmark"
/usr/bin/python3 "$root/tests/bench/pipeline_bench.py" --cpsync "$build/cpsync" \
	--broker "$build/tests/cps_e2e_broker" --source "$root" --pg "$pg" \
	--json-dir "$root/var/bench" --name bench "${args[@]}"
