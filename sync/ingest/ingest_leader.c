/*
 * A single-reader source's leadership: the session-level PostgreSQL advisory
 * lock 'cpsync.source.<platform>' on the runner's own store session (named
 * for the DBAs), taken, checked for liveness and released here. What the
 * runner does while leading or on standby is in ingest_runner.c.
 */
#include "ingest/ingest_int.h"
#include "base/clock.h"
#include "store/pgerr.h"

#include <stdio.h>
#include <string.h>
#include <time.h>

#define LOCK_CHECK_MS 2000 /* a leader's `SELECT 1` on its lock session */

void cps_ingest_leader_release(struct cps_ingest *r)
{
	PQfinish(r->lock_conn);
	r->lock_conn = NULL;
	r->leading = false;
}

/* "what: libpq's first line" (it holds no row values). */
static void pq_error(PGconn *c, const char *what, char *err, size_t err_size)
{
	char line[200];

	snprintf(err, err_size, "%s: %s", what, cps_pg_conn_message(c, line, sizeof(line)));
}

/* Asks for the source's session-level advisory lock on the runner's own
 * store connection (opened when needed, named for the DBAs). CPS_OK with
 * r->leading telling whether the lock is ours; CPS_ERR_RETRIABLE when the
 * store could not be asked (the session is then closed). */
int cps_ingest_leader_try(struct cps_ingest *r, char *err, size_t err_size)
{
	char appname[128 + CPS_PLATFORM_MAX + 16];
	/* defaults the store's conninfo may override, then ours: the name */
	const char *keys[] = {"connect_timeout",
	                      "keepalives_idle",
	                      "keepalives_interval",
	                      "keepalives_count",
	                      "dbname",
	                      "application_name",
	                      NULL};
	const char *values[] = {"10", "5", "2", "3", r->store_conninfo, appname, NULL};
	const char *params[1] = {r->platform};
	PGresult *res;

	if (r->lock_conn && PQstatus(r->lock_conn) != CONNECTION_OK)
		cps_ingest_leader_release(r);
	if (!r->lock_conn) {
		snprintf(appname, sizeof(appname), "cpsync %s %s", r->instance, r->platform);
		r->lock_conn = PQconnectdbParams(keys, values, 1);
		if (PQstatus(r->lock_conn) != CONNECTION_OK) {
			pq_error(r->lock_conn, "connecting to the store", err, err_size);
			cps_ingest_leader_release(r);
			return CPS_ERR_RETRIABLE;
		}
	}
	res =
	    PQexecParams(r->lock_conn,
	                 "SELECT pg_try_advisory_lock(hashtextextended('cpsync.source.' || $1, 0))",
	                 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(res) != PGRES_TUPLES_OK || PQntuples(res) != 1) {
		pq_error(r->lock_conn, "pg_try_advisory_lock", err, err_size);
		PQclear(res);
		cps_ingest_leader_release(r);
		return CPS_ERR_RETRIABLE;
	}
	r->leading = !strcmp(PQgetvalue(res, 0, 0), "t");
	PQclear(res);
	r->lock_checked_ms = cps_mono_ms();
	return CPS_OK;
}

/* Whether the leader's lock session is still alive (a `SELECT 1` every
 * LOCK_CHECK_MS; a lost session has lost its lock). */
bool cps_ingest_leader_check(struct cps_ingest *r)
{
	PGresult *res;
	bool ok;

	if (!r->lock_conn || PQstatus(r->lock_conn) != CONNECTION_OK)
		return false;
	if (cps_mono_ms() - r->lock_checked_ms < LOCK_CHECK_MS)
		return true;
	res = PQexec(r->lock_conn, "SELECT 1");
	ok = PQresultStatus(res) == PGRES_TUPLES_OK;
	PQclear(res);
	r->lock_checked_ms = cps_mono_ms();
	return ok;
}

/* Sleeps store.leader_retry_ms (interrupted by stop, restart or pause). */
void cps_ingest_standby_sleep(struct cps_ingest *r)
{
	int64_t until = cps_mono_ms() + r->leader_retry_ms;

	while (!atomic_load(&r->stop) && !atomic_load(&r->restart) && !cps_pause_on(&r->pause) &&
	       cps_mono_ms() < until) {
		struct timespec ts = {0, 20 * 1000000};

		nanosleep(&ts, NULL);
	}
}
