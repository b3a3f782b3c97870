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
CPSYNC_TEST_PG=$("$root/deploy/pg-private.sh" start "$pgdata" "$pgport")
export CPSYNC_TEST_PG
trap '"$root/deploy/pg-private.sh" stop "$pgdata"' EXIT

export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0:halt_on_error=1}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
cd "$build"
ctest --output-on-failure --timeout 900 -j"$(nproc)" "$@"
