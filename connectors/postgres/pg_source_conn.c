/*
 * The libpq side of the postgres source: its sessions (replication or SQL,
 * ISO dates, UTC), a command that must answer one status, an error that
 * names what failed and counts it, and waiting for the socket.
 */
#include "connectors/postgres/pg_source_int.h"
#include "store/pgerr.h"

#include <poll.h>
#include <stdio.h>
#include <string.h>

#define SESSION_OPTIONS                                                                            \
	"-c datestyle=ISO -c timezone=UTC -c intervalstyle=iso_8601 -c extra_float_digits=3"

/* libpq's first line (host and reason, no row values). */
static const char *pq_err(PGconn *c)
{
	static __thread char buf[256];

	return cps_pg_conn_message(c, buf, sizeof(buf));
}

int pg_source_conn_error(struct pg_source *s, PGconn *c, const char *what, char *errstr,
                         size_t errstr_size)
{
	int code = PQstatus(c) == CONNECTION_OK ? CPS_ERR_FATAL : CPS_ERR_RETRIABLE;

	s->counts.errors++;
	snprintf(s->counts.last_error, sizeof(s->counts.last_error), "%s: %s", what, pq_err(c));
	return cps_seterr(code, errstr, errstr_size, "postgres source '%s': %s: %s", s->platform,
	                  what, pq_err(c));
}

PGconn *pg_source_connect(const char *conninfo, bool replication)
{
	const char *keys[] = {"dbname", "replication", "options", "fallback_application_name",
	                      NULL};
	const char *vals[] = {conninfo, replication ? "database" : NULL, SESSION_OPTIONS, "cpsync",
	                      NULL};

	if (!replication) {
		keys[1] = "options";
		vals[1] = SESSION_OPTIONS;
		keys[2] = "fallback_application_name";
		vals[2] = "cpsync";
		keys[3] = NULL;
	}
	return PQconnectdbParams(keys, vals, 1);
}

/* Runs a command expecting `want`; on failure fills errstr. */
int pg_source_exec(struct pg_source *s, PGconn *c, const char *sql, ExecStatusType want,
                   PGresult **out, const char *what, char *errstr, size_t errstr_size)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != want) {
		int rc = pg_source_conn_error(s, c, what, errstr, errstr_size);

		PQclear(r);
		return rc;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return CPS_OK;
}

/* Waits until the socket of c is readable or timeout_ms passes. */
void pg_source_wait_readable(PGconn *c, int timeout_ms)
{
	struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};

	if (pfd.fd >= 0 && timeout_ms > 0)
		(void)poll(&pfd, 1, timeout_ms);
}
