#!/usr/bin/env bash
# PostgreSQL capture benchmark: N row changes in one table (default 200000,
# in transactions of 10000 rows), drained from the same WAL by
# (a) pg_recvlogical with test_decoding into /dev/null and
# (b) cpsync's postgres source (pgoutput, rows mapped and Avro-encoded,
#     positions committed, bytes discarded by a null consumer: no Kafka).
# Both read the same WAL from their own slot, one after the other, from a
# fresh process (connection and start-up included in both times).
# Prints rows/s of each and the ratio (target >= 0.75); no timing assertion.
# BASELINE (optional): another build of the helper (e.g. an older commit),
# timed on a third slot of the same WAL in the same run, for before/after.
#   bench_pg_capture.sh HELPER SCHEMA_DIR [ROWS [BASELINE]]   (needs CPSYNC_TEST_PG)
set -euo pipefail
helper=${1:?helper binary}
schemas=${2:?schema dir}
rows=${3:-200000}
baseline=${4:-}
: "${CPSYNC_TEST_PG:?CPSYNC_TEST_PG must name the test server}"
pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
db=cps_bench_pg_$$
ci="$CPSYNC_TEST_PG dbname=$db"
slot=${db}_cps
tdslot=${db}_td

psql() { command psql -X -q -v ON_ERROR_STOP=1 "$@"; }
cleanup() {
	psql "$ci" -c "SELECT pg_drop_replication_slot(slot_name) FROM pg_replication_slots WHERE database = current_database()" >/dev/null 2>&1 || true
	psql "$CPSYNC_TEST_PG" -c "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true
}
trap cleanup EXIT

psql "$CPSYNC_TEST_PG" -c "CREATE DATABASE $db"
psql "$ci" -c "CREATE TABLE person (national_id text PRIMARY KEY, name text NOT NULL, gender text NOT NULL DEFAULT 'MALE', birth_date date NOT NULL, registration_region_code text NOT NULL, residence_region_code text NOT NULL, residence_address text, disabled boolean NOT NULL DEFAULT false)"
psql "$ci" -c "SELECT pg_create_logical_replication_slot('$tdslot', 'test_decoding')" >/dev/null
psql "$ci" -c "SELECT pg_create_logical_replication_slot('${tdslot}2', 'test_decoding')" >/dev/null
"$helper" "$ci" "$schemas" "$slot" prepare >/dev/null
if [ -n "$baseline" ]; then
	"$baseline" "$ci" "$schemas" "${db}_base" prepare >/dev/null
fi
batch=10000
for ((from = 0; from < rows; from += batch)); do
	to=$((from + batch - 1)); ((to >= rows)) && to=$((rows - 1))
	psql "$ci" -c "INSERT INTO person (national_id, name, birth_date, registration_region_code, residence_region_code, residence_address) SELECT 'K' || i, 'name ' || i, DATE '1950-01-01' + (i % 20000), '440305', '440306', 'street ' || i FROM generate_series($from, $to) i"
done
endpos=$(psql "$ci" -Atc "SELECT pg_current_wal_lsn()")

# pg_recvlogical drains the WAL before and after the source (two slots), and
# its better time counts: neither side gains from going second.
recv() {
	local t0 t1
	t0=$(date +%s.%N)
	"$pgbin/pg_recvlogical" -d "$ci" --slot "$1" --start --endpos="$endpos" -f /dev/null --no-loop
	t1=$(date +%s.%N)
	echo "$t0 $t1" | awk '{printf "%.3f", $2 - $1}'
}
secs_a1=$(recv "$tdslot")
out=$("$helper" "$ci" "$schemas" "$slot" capture "$rows")
secs_b=$(echo "$out" | awk '{print $6}')
if [ -n "$baseline" ]; then
	out=$("$baseline" "$ci" "$schemas" "${db}_base" capture "$rows")
	secs_c=$(echo "$out" | awk '{print $6}')
fi
secs_a2=$(recv "${tdslot}2")
secs_a=$(echo "$secs_a1 $secs_a2" | awk '{printf "%.3f", $1 < $2 ? $1 : $2}')
rate_a=$(echo "$rows $secs_a" | awk '{printf "%d", $1 / $2}')
rate_b=$(echo "$rows $secs_b" | awk '{printf "%d", $1 / $2}')
echo "rows: $rows in transactions of $batch (WAL up to $endpos)"
echo "side A: pg_recvlogical, server decodes with test_decoding (a text line per row), client writes the lines to /dev/null"
echo "side B: cpsync postgres source, server decodes with pgoutput, client decodes the pgoutput messages, maps each row to its entity and encodes it to Avro binary, commits positions (standby status updates), null consumer (no Kafka)"
echo "pg_recvlogical test_decoding: $rate_a rows/s ($secs_a s; runs before and after side B: $secs_a1 s, $secs_a2 s)"
echo "cpsync postgres source (pgoutput, Avro-encoded, null consumer): $rate_b rows/s ($secs_b s)"
echo "ratio (cpsync/pg_recvlogical): $(echo "$rate_b $rate_a" | awk '{printf "%.2f", $1 / $2}') (target >= 0.75)"
if [ -n "$baseline" ]; then
	rate_c=$(echo "$rows $secs_c" | awk '{printf "%d", $1 / $2}')
	echo "baseline helper ($baseline), same side B work: $rate_c rows/s ($secs_c s)"
	echo "baseline ratio (baseline/pg_recvlogical): $(echo "$rate_c $rate_a" | awk '{printf "%.2f", $1 / $2}')"
fi
