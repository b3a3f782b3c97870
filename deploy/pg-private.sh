#!/usr/bin/env bash
# A private PostgreSQL instance for the demo and the tests, under a data
# directory of our own, listening on 127.0.0.1 only. PostgreSQL refuses to
# run as root: as root, the server runs as the 'postgres' system user.
#
#   deploy/pg-private.sh start DATADIR PORT   initdb if needed, start, wait
#   deploy/pg-private.sh stop DATADIR
# Prints the libpq connection string on stdout after a start.
#
# No trust on TCP: scram-sha-256 with a random password kept in DATADIR.pgpass
# (mode 0600, owned by the caller, next to the data directory), which the
# printed conninfo names (passfile=...), so libpq clients, psycopg2 and
# `psql "$conninfo"` need nothing else. The Unix socket lives in the data
# directory (0700): peer authentication when the server runs as 'postgres',
# else the same password. A data directory made by an older version of this
# script (trust) is upgraded on start: password set, pg_hba.conf rewritten,
# configuration reloaded.
set -euo pipefail

cmd=${1:?usage: pg-private.sh start|stop DATADIR [PORT]}
datadir=${2:?data directory}
port=${3:-55432}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbin/pg_ctl" ] || { echo "pg-private: no PostgreSQL server found (apt-get install postgresql)" >&2; exit 1; }
datadir=$(realpath -m "$datadir")
passfile=$datadir.pgpass
case "$datadir" in *[[:space:]\'\\]*)
	echo "pg-private: '$datadir': no blanks, quotes or backslashes in the path (it goes into a conninfo)" >&2
	exit 2 ;;
esac
new_password=0

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
}

# The password, made once: 32 hex digits from the kernel's random source.
ensure_passfile() {
	if [ ! -s "$passfile" ]; then
		(
			umask 077
			pw=$(od -An -N16 -tx1 /dev/urandom | tr -d ' \n')
			printf '*:*:*:postgres:%s\n' "$pw" >"$passfile.tmp"
			mv "$passfile.tmp" "$passfile"
		)
		new_password=1
	fi
	chmod 600 "$passfile"
}

password() {
	cut -d: -f5- "$passfile" | head -n 1
}

# pg_hba.conf as this script wants it: nothing trusted.
write_hba() {
	local local_auth=scram-sha-256
	[ "$(id -u)" -eq 0 ] && local_auth=peer
	as_owner tee "$datadir/pg_hba.conf" >/dev/null <<HBA
# Written by deploy/pg-private.sh: no trust. TCP needs the password in
# $passfile; the socket (in the data directory, 0700) $local_auth.
local   all           all                   $local_auth
local   replication   all                   $local_auth
host    all           all   127.0.0.1/32    scram-sha-256
host    replication   all   127.0.0.1/32    scram-sha-256
host    all           all   ::1/128         scram-sha-256
host    replication   all   ::1/128         scram-sha-256
HBA
}

hba_trusts() {
	grep -Eq '^[[:space:]]*(local|host)[^#]*[[:space:]]trust([[:space:]]|$)' "$datadir/pg_hba.conf"
}

case "$cmd" in
start)
	mkdir -p "$datadir"
	if [ "$(id -u)" -eq 0 ]; then
		chown postgres:postgres "$datadir"
		chmod 700 "$datadir"
		# The server user must be able to reach the directory.
		if ! runuser -u postgres -- test -x "$datadir"; then
			echo "pg-private: user postgres cannot reach '$datadir'; make its parents world-executable" >&2
			exit 1
		fi
	fi
	ensure_passfile
	existed=0
	[ -f "$datadir/PG_VERSION" ] && existed=1
	if [ "$existed" = 0 ]; then
		pwtmp=$(mktemp)
		password >"$pwtmp"
		[ "$(id -u)" -eq 0 ] && chown postgres "$pwtmp"
		as_owner "$pgbin/initdb" -D "$datadir" -U postgres --pwfile="$pwtmp" \
			--auth=scram-sha-256 -E UTF8 --locale=C.UTF-8 >/dev/null
		rm -f "$pwtmp"
		as_owner tee -a "$datadir/postgresql.conf" >/dev/null <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$datadir'
password_encryption = 'scram-sha-256'
wal_level = logical
max_replication_slots = 16
max_wal_senders = 16
max_slot_wal_keep_size = 1GB
fsync = on
shared_buffers = 256MB
CONF
		write_hba
	fi
	sed -i "s/^port = .*//" "$datadir/postgresql.conf"
	echo "port = $port" >>"$datadir/postgresql.conf"
	if ! as_owner "$pgbin/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
		as_owner "$pgbin/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w -t 60 start >/dev/null
	fi
	if hba_trusts || { [ "$existed" = 1 ] && [ "$new_password" = 1 ]; }; then
		# Made with trust by an older version, or its password file was
		# lost: set the password through the socket (trust, or peer as
		# 'postgres'), then stop trusting and reload.
		printf "SET password_encryption = 'scram-sha-256';\nALTER ROLE postgres PASSWORD '%s';\n" "$(password)" |
			as_owner "$pgbin/psql" -X -q -v ON_ERROR_STOP=1 -h "$datadir" -p "$port" \
				-U postgres -d postgres >/dev/null || {
			echo "pg-private: cannot set the password of '$datadir' through its socket; restore '$passfile' or remove the data directory" >&2
			exit 1
		}
		write_hba
		as_owner "$pgbin/pg_ctl" -D "$datadir" reload >/dev/null
		echo "pg-private: '$datadir': TCP now needs the password in '$passfile' (scram-sha-256)" >&2
	fi
	echo "host=127.0.0.1 port=$port user=postgres dbname=postgres passfile=$passfile"
	;;
stop)
	if [ -f "$datadir/postmaster.pid" ]; then
		as_owner "$pgbin/pg_ctl" -D "$datadir" -m fast -w stop >/dev/null || true
	fi
	;;
*)
	echo "usage: pg-private.sh start|stop DATADIR [PORT]" >&2
	exit 2
	;;
esac
