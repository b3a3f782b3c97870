#!/usr/bin/env bash
# The tests' Python: a virtual environment under var/pyenv, made once, on
# Debian's python3 with its site packages still visible (python3-avro,
# python3-psycopg2), plus confluent-kafka 2.x (with
# confluent_kafka.schema_registry) and fastavro from PyPI, which take
# precedence over Debian's older confluent-kafka. Prints the venv's python on
# stdout (its only line). Fast when the venv is already there.
#
#   PY=$(deploy/pyenv.sh) && "$PY" -c 'import confluent_kafka'
set -euo pipefail
umask 077

root=$(cd "$(dirname "$0")/.." && pwd)
venv=${CPSYNC_PYENV:-$root/var/pyenv}
# What the venv holds; a change here remakes it.
requirements=("confluent-kafka[schemaregistry]>=2.4,<3" "fastavro>=1.9,<2")
stamp="python3 --system-site-packages ${requirements[*]}"

say() { echo "pyenv: $*" >&2; }

if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.cpsync-stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$venv/bin/python"
	exit 0
fi

# Debian's interpreter, not whatever python3 comes first on PATH: its
# dist-packages are the ones --system-site-packages must show.
py=/usr/bin/python3
if [ ! -x "$py" ] || ! "$py" -c 'import venv, ensurepip' >/dev/null 2>&1; then
	sudo=""
	[ "$(id -u)" -eq 0 ] || sudo="sudo"
	say "installing python3 python3-venv"
	$sudo apt-get update -qq
	DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3 python3-venv >/dev/null
fi

mkdir -p "$(dirname "$venv")"
exec 9>"$venv.lock"
flock 9
if [ -x "$venv/bin/python" ] && [ "$(cat "$venv/.cpsync-stamp" 2>/dev/null)" = "$stamp" ]; then
	echo "$venv/bin/python"
	exit 0
fi
t0=$(date +%s)
rm -rf "$venv"
"$py" -m venv --system-site-packages "$venv" >&2
if ! "$venv/bin/python" -m pip install --disable-pip-version-check -q "${requirements[@]}" >&2; then
	rm -rf "$venv"
	say "pip install ${requirements[*]} failed"
	exit 1
fi
"$venv/bin/python" - >&2 <<'PY'
import confluent_kafka, fastavro
from confluent_kafka.schema_registry.avro import AvroSerializer  # noqa: F401
v = confluent_kafka.version()  # a tuple up to 2.x's early releases, a string later
v = v[0] if isinstance(v, tuple) else v
assert int(v.split(".")[0]) >= 2, "confluent-kafka %s shadowed by an older one" % v
seen = []
for m in ("avro", "psycopg2"):  # Debian's python3-avro, python3-psycopg2, if installed
    try:
        __import__(m)
        seen.append(m)
    except ImportError:
        pass
print("pyenv: confluent-kafka %s (librdkafka %s), fastavro %s; from Debian: %s"
      % (v, confluent_kafka.libversion()[0], fastavro.__version__, " ".join(seen) or "none"))
PY
# venv and pip set some modes of their own; ours alone, whatever they did.
chmod -R go-rwx "$venv"
echo "$stamp" >"$venv/.cpsync-stamp"
say "made $venv in $(($(date +%s) - t0))s"
echo "$venv/bin/python"
