#!/usr/bin/env bash
# Feeds every hostile input of this directory to `BIN decode` and asserts a
# clean refusal: exit status exactly 1 (not a signal, not a timeout), one
# stderr line naming the expected reason, nothing on stdout.
#
#   tests/hostile/run.sh [--no-ulimit] BIN
# --no-ulimit is for sanitized binaries (ASan reserves terabytes of address
# space); otherwise each run gets `ulimit -v 262144` (256 MiB).
set -u

limit=1
if [ "${1:-}" = "--no-ulimit" ]; then
	limit=0
	shift
fi
bin=${1:?usage: run.sh [--no-ulimit] BIN}
here=$(cd "$(dirname "$0")" && pwd)
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

failures=0
cases=0
for input in "$here"/*.bin; do
	name=$(basename "$input" .bin)
	schema=$here/$name.avsc
	reason=$(cat "$here/$name.reason")
	cases=$((cases + 1))
	(
		if [ "$limit" = 1 ]; then
			ulimit -v 262144 || exit 99
		fi
		exec timeout 1 "$bin" decode --schema "$schema" --framing raw <"$input" \
			>"$tmp/out" 2>"$tmp/err"
	)
	status=$?
	lines=$(wc -l <"$tmp/err")
	problem=""
	if [ "$status" -ne 1 ]; then
		problem="exit status $status, want 1"
	elif [ -s "$tmp/out" ]; then
		problem="stdout is not empty"
	elif [ "$lines" -ne 1 ]; then
		problem="stderr has $lines lines, want 1"
	elif ! grep -q "^cpsync: decode: .*$reason" "$tmp/err"; then
		problem="stderr lacks \"$reason\""
	fi
	if [ -n "$problem" ]; then
		failures=$((failures + 1))
		echo "FAIL $name: $problem"
		sed 's/^/  stderr: /' "$tmp/err" | head -20
	else
		echo "ok   $name: $(cat "$tmp/err")"
	fi
done

if [ "$cases" -eq 0 ]; then
	echo "no hostile inputs found in $here"
	exit 1
fi
echo "$((cases - failures))/$cases hostile inputs refused cleanly"
[ "$failures" -eq 0 ]
