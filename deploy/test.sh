#!/usr/bin/env bash
# The whole test suite, from a fresh Debian 12 machine: installs what is
# missing, builds cpsync with clang and ASan+UBSan (plus libFuzzer harnesses
# and an unsanitized twin for limits and benchmarks), starts a private
# PostgreSQL for the integration tests, runs ctest. Exits non-zero on any failure.
#
#   deploy/test.sh [extra ctest arguments, e.g. -R codec]
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
build=${CPSYNC_TEST_BUILD:-$root/build/test}
"$root/deploy/install-deps.sh"

cmake -S "$root" -B "$build" -DCMAKE_C_COMPILER=clang -DCMAKE_BUILD_TYPE=RelWithDebInfo \
	-DCPSYNC_SANITIZE=ON -DCPSYNC_FUZZ=ON >/dev/null
cmake --build "$build" -j"$(nproc)"

pgdata=${CPSYNC_TEST_PGDATA:-$root/var/test-pg}
pgport=${CPSYNC_TEST_PG_PORT:-55432}
kafkadir=${CPSYNC_TEST_KAFKADIR:-$root/var/test-kafka}
kafkaport=${CPSYNC_TEST_KAFKA_PORT:-19092}
stop_services() {
	"$root/deploy/kafka-private.sh" stop "$kafkadir" || true
	"$root/deploy/pg-private.sh" stop "$pgdata"
}
trap stop_services EXIT
CPSYNC_TEST_PG=$("$root/deploy/pg-private.sh" start "$pgdata" "$pgport")
# A real Apache Kafka (one KRaft node) for the tests labelled `kafka`; tests
# that need a 3-node cluster start their own with the same script. The
# tests' Python venv (confluent-kafka 2.x, fastavro) for the outside clients.
CPSYNC_TEST_KAFKA=$("$root/deploy/kafka-private.sh" start "$kafkadir" "$kafkaport")
CPSYNC_TEST_KAFKA_SCRIPT=$root/deploy/kafka-private.sh
CPSYNC_TEST_PYENV=$("$root/deploy/pyenv.sh")
export CPSYNC_TEST_PG CPSYNC_TEST_KAFKA CPSYNC_TEST_KAFKA_SCRIPT CPSYNC_TEST_PYENV

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
set +e
ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@" 2>&1 | tee ctest.out
rc=${PIPESTATUS[0]}
set -e
# The benchmarks pass whatever their speed: show what they measured.
echo "== figures printed by the benchmarks (tests/bench, e2e.crash_safety) =="
grep -hE '^(bare Avro C|guard \+|guard alone|typed decode|ratio|guard overhead|pg_recvlogical|cpsync postgres source|store: batch|reconcile apply|typed reconcile apply|state facts|unified event encode|payload to engine event|record jsonb text|JSON way|typed way|e2e.crash_safety: uninterrupted)' \
	Testing/Temporary/LastTest.log || true
# bench.pipeline's table: its heading and the indented rows under it
sed -n '/^bench.pipeline: figures/,/^[^ ]/p' Testing/Temporary/LastTest.log | grep -E '^(bench.pipeline|  )' || true
echo "== counts printed by the no-loss and real-broker tests =="
grep -hE '^[a-z_.]+: .*(lost 0|takeover|compacted|idle start)' Testing/Temporary/LastTest.log | sort -u || true
# ctest's verdict again, as the last line.
summary=$(grep -E 'tests passed, [0-9]+ tests? failed out of [0-9]+' ctest.out | tail -n 1)
if [[ $summary =~ ([0-9]+)\ tests?\ failed\ out\ of\ ([0-9]+) ]]; then
	failed=${BASH_REMATCH[1]}
	echo "ctest: $((BASH_REMATCH[2] - failed)) passed, $failed failed"
fi
exit $rc
