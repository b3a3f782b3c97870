#!/usr/bin/env bash
# A private PostgreSQL instance for the demo and the tests, under a data
# directory of our own, listening on 127.0.0.1 only. PostgreSQL refuses to
# run as root: as root, the server runs as the 'postgres' system user.
#
#   deploy/pg-private.sh start DATADIR PORT   initdb if needed, start, wait
#   deploy/pg-private.sh stop DATADIR
# Prints the libpq connection string on stdout after a start.
set -euo pipefail

cmd=${1:?usage: pg-private.sh start|stop DATADIR [PORT]}
datadir=${2:?data directory}
port=${3:-55432}
pgbin=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
[ -x "$pgbin/pg_ctl" ] || { echo "pg-private: no PostgreSQL server found (apt-get install postgresql)" >&2; exit 1; }

as_owner() {
	if [ "$(id -u)" -eq 0 ]; then
		runuser -u postgres -- "$@"
	else
		"$@"
	fi
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
	if [ ! -f "$datadir/PG_VERSION" ]; then
		as_owner "$pgbin/initdb" -D "$datadir" -U postgres --auth=trust -E UTF8 --locale=C.UTF-8 >/dev/null
		cat >>"$datadir/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
unix_socket_directories = '$datadir'
wal_level = logical
max_replication_slots = 16
max_wal_senders = 16
max_slot_wal_keep_size = 1GB
fsync = on
shared_buffers = 256MB
CONF
		echo "host replication all 127.0.0.1/32 trust" >>"$datadir/pg_hba.conf"
	fi
	sed -i "s/^port = .*//" "$datadir/postgresql.conf"
	echo "port = $port" >>"$datadir/postgresql.conf"
	if ! as_owner "$pgbin/pg_ctl" -D "$datadir" status >/dev/null 2>&1; then
		as_owner "$pgbin/pg_ctl" -D "$datadir" -l "$datadir/server.log" -w -t 60 start >/dev/null
	fi
	echo "host=127.0.0.1 port=$port user=postgres dbname=postgres"
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
