#!/usr/bin/env bash
# kafka.kcat_reads_embedded: the embedded broker speaks the real Kafka
# protocol on a real TCP address, so an independent client (kcat) reads the
# 3 messages the helper produced to topic "t".
#   kcat_reads_embedded.sh <embedded_broker_main binary>
set -euo pipefail

helper=$1
dir=$(mktemp -d)
cleanup() {
	exec 3>&- 2>/dev/null || true
	[ -n "${pid:-}" ] && wait "$pid" 2>/dev/null || true
	rm -rf "$dir"
}
trap cleanup EXIT

mkfifo "$dir/stdin"
"$helper" <"$dir/stdin" >"$dir/stdout" 2>"$dir/stderr" &
pid=$!
exec 3>"$dir/stdin" # holds the helper's stdin open; closing it stops the helper

for _ in $(seq 1 200); do
	[ -s "$dir/stdout" ] && break
	kill -0 "$pid" 2>/dev/null || { cat "$dir/stderr" >&2; echo "helper exited early" >&2; exit 1; }
	sleep 0.1
done
bootstrap=$(head -n1 "$dir/stdout")
[[ $bootstrap =~ ^127\.0\.0\.1:[0-9]+$ ]] || { echo "bad bootstrap '$bootstrap'" >&2; exit 1; }

got=$(timeout 30 kcat -C -b "$bootstrap" -t t -o beginning -e -q)
expected=$'message-1\nmessage-2\nmessage-3'
if [ "$got" != "$expected" ]; then
	echo "kcat read:" >&2
	printf '%s\n' "$got" >&2
	exit 1
fi

exec 3>&-
wait "$pid"
pid=
echo "kcat read the 3 messages from $bootstrap"
