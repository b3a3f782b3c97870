#!/usr/bin/env bash
# deploy.pg_private: issue 11's probe 8. The private PostgreSQL of
# deploy/pg-private.sh trusts no one on TCP: as 'nobody' and as the caller
# without the password file, `psql -h 127.0.0.1 -p PORT -U postgres` is
# refused; with the printed conninfo (and a replication connection, as the
# postgres source makes) it works. Twice: a fresh data directory, and one
# made with trust the way the script used to (upgraded on start).
#
#   tests/deploy/test_pg_private.sh SCRIPT   (deploy/pg-private.sh)
# Uses two data directories of its own under /tmp and two free ports; stops
# its servers, never any other.
set -uo pipefail

script=${1:?usage: test_pg_private.sh deploy/pg-private.sh}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
work=$(mktemp -d /tmp/cps-pgpriv.XXXXXX)
chmod 755 "$work"
fails=0
started=()

fail() {
	echo "deploy.pg_private: FAIL: $*" >&2
	fails=$((fails + 1))
}
info() { echo "deploy.pg_private: $*"; }
cleanup() {
	for d in "${started[@]}"; do "$script" stop "$d" >/dev/null 2>&1; done
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# psql that never prompts and reads no ~/.pgpass; "$@" are psql arguments
try_psql() {
	PGPASSFILE=/nonexistent/pgpass PGPASSWORD= timeout 20 psql -X -w -At "$@" -c 'SELECT 1' 2>&1
}

# The checks on a running server: $1 data directory, $2 port, $3 conninfo
check_server() {
	local dir=$1 port=$2 ci=$3 out passfile
	passfile=$(sed -n 's/.*passfile=\([^ ]*\).*/\1/p' <<<"$ci")
	if [ -z "$passfile" ]; then
		fail "$dir: the conninfo names no passfile: $ci"
	else
		[ "$(stat -c %a "$passfile")" = 600 ] || fail "$passfile: mode $(stat -c %a "$passfile"), want 600"
	fi
	out=$(try_psql -h 127.0.0.1 -p "$port" -U postgres -d postgres)
	[ "$out" = 1 ] && fail "$dir: psql over TCP without the password file got in"
	info "$dir: without the password file: ${out%%$'\n'*}"
	if [ "$(id -u)" -eq 0 ]; then
		out=$(cd / && runuser -u nobody -- env PGPASSFILE=/nonexistent/pgpass timeout 20 \
			psql -X -w -At -h 127.0.0.1 -p "$port" -U postgres -d postgres -c 'SELECT 1' 2>&1)
		[ "$out" = 1 ] && fail "$dir: psql over TCP as nobody got in"
		info "$dir: as nobody: ${out%%$'\n'*}"
		out=$(cd / && runuser -u nobody -- timeout 20 psql -X -w -At "$ci" -c 'SELECT 1' 2>&1)
		[ "$out" = 1 ] && fail "$dir: nobody got in with the printed conninfo (the password file is readable)"
	else
		info "not root: the check as 'nobody' is left out"
	fi
	out=$(timeout 20 psql -X -w -At "$ci" -c 'SELECT 1' 2>&1)
	[ "$out" = 1 ] || fail "$dir: the printed conninfo does not connect: $out"
	out=$(timeout 20 psql -X -w -At "$ci replication=database" -c 'IDENTIFY_SYSTEM' 2>&1)
	[[ "$out" == *"|"* ]] || fail "$dir: a replication connection with the conninfo failed: $out"
	if grep -Eq '^[[:space:]]*(local|host)[^#]*[[:space:]]trust' "$dir/pg_hba.conf"; then
		fail "$dir: pg_hba.conf still trusts: $(grep -E 'trust' "$dir/pg_hba.conf" | grep -v '^#')"
	fi
}

as_pg() {
	if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# 1. a fresh data directory
fresh=$work/fresh
port=$(free_port)
ci=$("$script" start "$fresh" "$port") || fail "start of a fresh data directory failed"
started+=("$fresh")
info "fresh: $ci"
check_server "$fresh" "$port" "$ci"
# a restart keeps the password
"$script" stop "$fresh"
ci2=$("$script" start "$fresh" "$port") || fail "restart failed"
[ "$(timeout 20 psql -X -w -At "$ci2" -c 'SELECT 1' 2>&1)" = 1 ] || fail "after a restart the conninfo does not connect"

# 2. a data directory made with trust, as the script used to make them
old=$work/old
oport=$(free_port)
mkdir -p "$old"
[ "$(id -u)" -eq 0 ] && chown postgres:postgres "$old" && chmod 700 "$old"
as_pg "$pgbin/initdb" -D "$old" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
as_pg tee -a "$old/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$old'
wal_level = logical
port = $oport
CONF
echo "host replication all 127.0.0.1/32 trust" | as_pg tee -a "$old/pg_hba.conf" >/dev/null
as_pg "$pgbin/pg_ctl" -D "$old" -l "$old/server.log" -w -t 60 start >/dev/null
started+=("$old")
out=$(try_psql -h 127.0.0.1 -p "$oport" -U postgres -d postgres)
[ "$out" = 1 ] || fail "the trust server made for the upgrade check does not trust: $out"
ci=$("$script" start "$old" "$oport") || fail "start (upgrade) of a trust data directory failed"
info "upgraded: $ci"
check_server "$old" "$oport" "$ci"

if [ "$fails" -gt 0 ]; then
	echo "deploy.pg_private: $fails check(s) failed" >&2
	exit 1
fi
info "OK"
