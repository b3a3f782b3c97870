#!/usr/bin/env bash
# Installs, with apt-get, every Debian package cpsync's build, demo and tests
# need. Idempotent: asks apt only for what is missing. Needs root (or sudo).
set -euo pipefail

packages=(
	build-essential cmake pkg-config clang libclang-rt-14-dev
	librdkafka-dev libavro-dev libmicrohttpd-dev libpq-dev libjansson-dev
	libyaml-dev libcurl4-openssl-dev libcmocka-dev
	zlib1g-dev # files connector: deflate codec of Avro container files
	libjemalloc-dev # the allocator of the unsanitized cpsync (CMakeLists.txt, sync/ENGINE.md)
	libsystemd-dev # sd_notify: Type=notify readiness and watchdog (sync/engine/engine_notify.c)
	systemd # tests: systemd-analyze verify deploy/systemd/cpsync.service
	postgresql postgresql-contrib kcat python3 python3-avro
	openssl # tests: self-signed certificates for the HTTPS server test
	python3-confluent-kafka python3-psycopg2 # tests/e2e: independent Kafka client and PostgreSQL reader
	python3-yaml # tests/k8s: loads the Kubernetes manifests
	prometheus # tests: promtool check metrics on the live /metrics
	chromium fonts-wqy-microhei # tests/browser: headless Chromium, CJK glyphs in screenshots
)
# tests/browser drives Chromium with playwright-core from npm. Debian's nodejs
# and npm only where no Node.js is installed: a Node.js from elsewhere (for
# example NodeSource's, which bundles npm) conflicts with Debian's npm.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
	packages+=(nodejs npm)
fi
# tests: a real Apache Kafka broker (deploy/kafka-private.sh) runs on Java 17
# or later, its jars fetched with Maven; the tests' venv (deploy/pyenv.sh)
# needs python3-venv. Debian's JRE and Maven only where none is installed.
java_major=$( (java -version 2>&1 || true) | sed -n 's/.* version "\([0-9]*\).*/\1/p' | head -n 1)
if [ -z "$java_major" ] || [ "$java_major" -lt 17 ]; then
	packages+=(openjdk-17-jre-headless)
fi
if ! command -v mvn >/dev/null 2>&1; then
	packages+=(maven)
fi
packages+=(python3-venv)
if [ "${CPSYNC_DEPS_EXTRA:-}" != "" ]; then
	read -r -a extra <<<"$CPSYNC_DEPS_EXTRA"
	packages+=("${extra[@]}")
fi

missing=()
for p in "${packages[@]}"; do
	if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
		missing+=("$p")
	fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "install-deps: installing ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
