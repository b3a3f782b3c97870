#!/usr/bin/env bash
# Quick start: from a fresh Debian 12 machine to a running cpsync demo — the
# dependencies, a release build (build/release), a private PostgreSQL under
# var/demo-pg on port 54329, then `cpsync demo`: the province on an embedded
# Kafka broker, the city as the database "city" of that PostgreSQL, the
# Shenshan zone as var/demo/shenshan/{inbox,outbox}, and the demo generator
# playing the three platforms. Ctrl-C stops cpsync AND the private PostgreSQL.
# With --kafka real: a private Apache Kafka (deploy/kafka-private.sh, under
# var/demo-kafka on port 29092) instead of the embedded broker, so that the
# province's and the unified topics survive a restart (Ctrl-C stops it too).
#
#   deploy/quickstart.sh [--people N] [--http ADDR] [--kafka embedded|real]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=$root/build/release
pgdata=$root/var/demo-pg
pgport=${CPSYNC_DEMO_PG_PORT:-54329}
shenshan=$root/var/demo/shenshan
http=127.0.0.1:8080
kafka=embedded
kafkadir=$root/var/demo-kafka
kafkaport=${CPSYNC_DEMO_KAFKA_PORT:-29092}
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	--http) http=${2:?--http wants an address}; args+=(--http "$http"); shift 2 ;;
	--people) args+=(--people "${2:?--people wants a number}"); shift 2 ;;
	--kafka)
		kafka=${2:?--kafka wants embedded or real}
		case "$kafka" in embedded|real) ;; *) echo "quickstart: --kafka embedded|real" >&2; exit 2 ;; esac
		shift 2 ;;
	-h|--help) sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) echo "quickstart: unknown argument '$1' (try --help)" >&2; exit 2 ;;
	esac
done

echo "==> dependencies (deploy/install-deps.sh)"
"$root/deploy/install-deps.sh"

echo "==> release build in $build"
cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build" -j"$(nproc)" --target cpsync

echo "==> private PostgreSQL in $pgdata (port $pgport)"
mkdir -p "$root/var"
pg=$("$root/deploy/pg-private.sh" start "$pgdata" "$pgport")

bootstrap="the address printed below (\"kafka:\") and in /status"
if [ "$kafka" = real ]; then
	echo "==> private Apache Kafka in $kafkadir (port $kafkaport)"
	bootstrap=$("$root/deploy/kafka-private.sh" start "$kafkadir" "$kafkaport")
	args+=(--kafka "$bootstrap")
fi

stopped=0
stop_all() {
	[ "$stopped" = 1 ] && return
	stopped=1
	if [ -n "${cpsync_pid:-}" ] && kill -0 "$cpsync_pid" 2>/dev/null; then
		kill -TERM "$cpsync_pid" 2>/dev/null || true
		wait "$cpsync_pid" 2>/dev/null || true
	fi
	if [ "$kafka" = real ]; then
		echo "==> stopping the private Kafka (its topics stay in $kafkadir)"
		"$root/deploy/kafka-private.sh" stop "$kafkadir" || true
	fi
	echo "==> stopping the private PostgreSQL"
	"$root/deploy/pg-private.sh" stop "$pgdata" || true
}
trap stop_all EXIT
trap 'stop_all; exit 130' INT TERM

cat <<EOF
==> starting cpsync demo
    dashboard: http://$http/  — paste a token: demo-steward-token (conflicts),
               demo-operator-token (links, dead letters), demo-viewer-token
    status:   http://$http/status   (also /readyz, /healthz, /metrics)
    terminal: CPSYNC_URL=http://$http CPSYNC_TOKEN=demo-steward-token $build/cpsync conflicts list
    kafka:    $kafka broker: $bootstrap
    unified:  kcat -C -b <bootstrap> -t cpsync.unified.person -o beginning -e
    city:     psql "$pg dbname=city"
                the city's own tables:        \dt city.*
                what cpsync sends the city:   TABLE inbound.person LIMIT 5;
                                              (also inbound.household, .enrolment, .alert)
    shenshan: the zone drops files into $shenshan/inbox
              cpsync writes to  $shenshan/outbox  (Avro files + .manifest.json;
              /usr/bin/python3 -c 'import avro.datafile,avro.io,sys; [print(r) for r in
              avro.datafile.DataFileReader(open(sys.argv[1],"rb"),avro.io.DatumReader())]' FILE)
    Ctrl-C stops cpsync and the private PostgreSQL.
EOF
# In the background so that the trap also stops PostgreSQL on Ctrl-C; cpsync
# receives the terminal's SIGINT too and stops cleanly.
"$build/cpsync" demo --pg "$pg" --shenshan-dir "$shenshan" "${args[@]}" &
cpsync_pid=$!
set +e
wait "$cpsync_pid"
rc=$?
set -e
cpsync_pid=
exit "$rc"
