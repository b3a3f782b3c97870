/*
 * A request for an incremental snapshot of the postgres source
 * (connector.h: snapshot_request), from any thread with a client of its
 * own: the tables checked against the mapping, a row per table in the
 * progress table and a logical message that wakes the running source
 * (pg_source_resnap.c; design in pg_source_resnap.md).
 */
#include "connectors/postgres/pg_source_int.h"

#include "base/log.h"
#include "store/pgerr.h"

#include <stdio.h>
#include <string.h>

#define MSG_PREFIX "cpsync"

/* Whether `name` ("schema.table") is mapped in the settings. */
static bool mapped(const struct cps_settings *settings, const char *name)
{
	char key[400];

	snprintf(key, sizeof(key), "table.%s.entity", name);
	if (cps_settings_get(settings, key))
		return true;
	if (!strncmp(name, "public.", 7)) {
		snprintf(key, sizeof(key), "table.%s.entity", name + 7);
		return cps_settings_get(settings, key) != NULL;
	}
	return false;
}

/* Refuses what the source cannot do: polling, an unknown table. */
static int request_check(const char *platform, const struct cps_settings *settings,
                         const char *const *tables, size_t n, char *errstr, size_t errstr_size)
{
	if (!strcmp(cps_settings_get(settings, "mode"), "polling"))
		return cps_seterr(
		    CPS_CONN_CONFLICT, errstr, errstr_size,
		    "postgres source '%s' polls (mode polling): it cannot interleave a "
		    "snapshot with a replication stream",
		    platform);
	if (n == 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "no table given");
	for (size_t i = 0; i < n; i++) {
		if (!strchr(tables[i], '.') || strlen(tables[i]) > 256)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "table '%.64s' is not schema.table", tables[i]);
		if (!mapped(settings, tables[i]))
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "table '%s' is not mapped by source '%s' (table.<schema.table>"
			    ".entity)",
			    tables[i], platform);
		for (size_t j = 0; j < i; j++)
			if (!strcmp(tables[i], tables[j]))
				return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
				                  "table '%s' is given twice", tables[i]);
	}
	return CPS_OK;
}

/* In the request's transaction: the slot exists and no snapshot waits or
 * runs. */
static int request_state(PGconn *c, const char *platform, const char *slot, const char *progress,
                         char *errstr, size_t errstr_size)
{
	const char *params[1] = {slot};
	char sql[400];
	PGresult *r;
	int rc = CPS_OK;

	r = PQexecParams(c,
	                 "SELECT pg_advisory_xact_lock(hashtext('cpsync.snapshot.' || $1)), "
	                 "EXISTS (SELECT 1 FROM pg_replication_slots WHERE slot_name = $1)",
	                 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = cps_pg_result_error(c, r, platform, "locking the snapshot requests", errstr,
		                         errstr_size);
		PQclear(r);
		return rc;
	}
	if (strcmp(PQgetvalue(r, 0, 1), "t") != 0)
		rc = cps_seterr(CPS_CONN_CONFLICT, errstr, errstr_size,
		                "postgres source '%s': slot '%s' does not exist yet: its initial "
		                "snapshot will read every mapped table",
		                platform, slot);
	PQclear(r);
	if (rc != CPS_OK)
		return rc;
	snprintf(sql, sizeof(sql),
	         "SELECT tbl, state FROM %s WHERE slot = $1 AND state IN ('requested', 'running') "
	         "ORDER BY tbl LIMIT 1",
	         progress);
	r = PQexecParams(c, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK)
		rc = cps_pg_result_error(c, r, platform, "reading the snapshot requests", errstr,
		                         errstr_size);
	else if (PQntuples(r) == 1)
		rc = cps_seterr(CPS_CONN_CONFLICT, errstr, errstr_size,
		                "postgres source '%s': a snapshot of '%s' is already %s: ask again "
		                "once it is done",
		                platform, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1));
	PQclear(r);
	return rc;
}

/* The rows of the request and the message that wakes the source. */
static int request_write(PGconn *c, const char *platform, const char *slot, const char *progress,
                         const char *const *tables, size_t n, char *errstr, size_t errstr_size)
{
	char sql[500], content[CPS_STREAM_MAX + 16];
	PGresult *r;

	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s (slot, tbl, state, cause) VALUES ($1, $2, 'requested', 'request') "
	         "ON CONFLICT (slot, tbl) DO UPDATE SET state = 'requested', cause = 'request', "
	         "last_key = NULL, chunks = 0, rows_read = 0, requested_at = clock_timestamp(), "
	         "finished_at = NULL",
	         progress);
	for (size_t i = 0; i < n; i++) {
		const char *params[2] = {slot, tables[i]};
		int rc;

		r = PQexecParams(c, sql, 2, NULL, params, NULL, NULL, 0);
		rc = PQresultStatus(r) == PGRES_COMMAND_OK
		         ? CPS_OK
		         : cps_pg_result_error(c, r, platform, "recording the snapshot request",
		                               errstr, errstr_size);
		PQclear(r);
		if (rc != CPS_OK)
			return rc;
	}
	snprintf(content, sizeof(content), "%s request", slot);
	{
		const char *params[1] = {content};

		r = PQexecParams(c, "SELECT pg_logical_emit_message(true, '" MSG_PREFIX "', $1)", 1,
		                 NULL, params, NULL, NULL, 0);
	}
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		int rc = cps_pg_result_error(c, r, platform, "signalling the source", errstr,
		                             errstr_size);

		PQclear(r);
		return rc;
	}
	PQclear(r);
	return CPS_OK;
}

int pg_source_snapshot_request(const char *platform, const struct cps_settings *settings,
                               const char *const *tables, size_t n, bool check_only, char *errstr,
                               size_t errstr_size)
{
	const char *slot = cps_settings_get(settings, "slot");
	char progress[160], why[256];
	PGconn *c;
	PGresult *r;
	int rc = request_check(platform, settings, tables, n, errstr, errstr_size);

	if (rc != CPS_OK)
		return rc;
	c = pg_source_connect(cps_settings_get(settings, "conninfo"), false);
	if (PQstatus(c) != CONNECTION_OK) {
		cps_pg_conn_message(c, why, sizeof(why));
		PQfinish(c);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "postgres source '%s': connecting to the city failed: %s",
		                  platform, why);
	}
	if (PQserverVersion(c) < 140000) {
		rc = cps_seterr(CPS_CONN_CONFLICT, errstr, errstr_size,
		                "postgres source '%s': PostgreSQL %d streams no logical messages "
		                "(14 or later does), which the snapshot's watermarks need",
		                platform, PQserverVersion(c));
		goto out;
	}
	rc = pg_source_resnap_table(c, cps_settings_get(settings, "snapshot_table"), progress,
	                            sizeof(progress), errstr, errstr_size);
	if (rc != CPS_OK)
		goto out;
	r = PQexec(c, "BEGIN");
	PQclear(r);
	rc = request_state(c, platform, slot, progress, errstr, errstr_size);
	if (rc == CPS_OK && !check_only)
		rc = request_write(c, platform, slot, progress, tables, n, errstr, errstr_size);
	r = PQexec(c, rc == CPS_OK && !check_only ? "COMMIT" : "ROLLBACK");
	if (rc == CPS_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
		rc = cps_pg_result_error(c, r, platform, "committing the snapshot request", errstr,
		                         errstr_size);
	PQclear(r);
	if (rc == CPS_OK && !check_only)
		cps_log_info("PGSRC",
		             "postgres source '%s': incremental snapshot of %zu table(s) "
		             "requested",
		             platform, n);
out:
	PQfinish(c);
	return rc;
}
