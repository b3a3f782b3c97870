/*
 * The initial snapshot of the postgres source: every mapped table read
 * through the snapshot the new slot exported (a cursor per table, a batch
 * per poll), then the hand-over to streaming from the slot's consistent
 * point. An incomplete snapshot drops the slot at close, to start over.
 */
#include "connectors/postgres/pg_source_int.h"

#include "base/log.h"

#include <stdio.h>

int pg_source_poll_snapshot(struct pg_source *s, size_t max, char *errstr, size_t errstr_size)
{
	char sql[1024];
	PGresult *r = NULL;
	int rc;

	if (!s->snap_txn_open) {
		snprintf(
		    sql, sizeof(sql),
		    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT '%s'",
		    s->snapshot_name);
		rc = pg_source_exec(s, s->sql, sql, PGRES_COMMAND_OK, NULL, "snapshot transaction",
		                    errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
		s->snap_txn_open = true;
	}
	while (s->snap_table < s->map->n && s->n_msgs < max) {
		struct cps_pg_table *t = &s->map->tables[s->snap_table];

		if (!s->snap_cursor_open) {
			snprintf(sql, sizeof(sql),
			         "DECLARE cps_snap NO SCROLL CURSOR FOR SELECT * FROM %s",
			         t->qualified);
			rc = pg_source_exec(s, s->sql, sql, PGRES_COMMAND_OK, NULL,
			                    "snapshot cursor", errstr, errstr_size);
			if (rc != CPS_OK)
				return rc;
			s->snap_cursor_open = true;
		}
		snprintf(sql, sizeof(sql), "FETCH FORWARD %zu FROM cps_snap", max - s->n_msgs);
		rc = pg_source_exec(s, s->sql, sql, PGRES_TUPLES_OK, &r, "snapshot fetch", errstr,
		                    errstr_size);
		if (rc != CPS_OK)
			return rc;
		if (PQntuples(r) == 0) {
			PQclear(r);
			rc = pg_source_exec(s, s->sql, "CLOSE cps_snap", PGRES_COMMAND_OK, NULL,
			                    "snapshot cursor close", errstr, errstr_size);
			if (rc != CPS_OK)
				return rc;
			s->snap_cursor_open = false;
			cps_log_info("PGSRC", "postgres source '%s': snapshot of '%s.%s' done",
			             s->platform, t->nspname, t->relname);
			s->snap_table++;
			continue;
		}
		rc = pg_source_emit_result(s, t, r, true, errstr, errstr_size);
		PQclear(r);
		if (rc != CPS_OK)
			return rc;
	}
	if (s->snap_table < s->map->n)
		return CPS_OK;
	rc = pg_source_exec(s, s->sql, "COMMIT", PGRES_COMMAND_OK, NULL, "snapshot commit", errstr,
	                    errstr_size);
	if (rc != CPS_OK)
		return rc;
	s->snap_txn_open = false;
	if (pg_source_push_mark(s, s->consistent_lsn) < 0 || pg_source_resnap_initial_done(s) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return pg_source_start_streaming(s, s->consistent_lsn, errstr, errstr_size);
}

void pg_source_snapshot_abandon(struct pg_source *s)
{
	const char *params[1] = {s->slot};
	PGresult *r = NULL;

	if (s->polling || s->phase != PHASE_SNAPSHOT || !s->snapshot_name[0] || !s->sql ||
	    PQstatus(s->sql) != CONNECTION_OK)
		return;
	PQclear(PQexec(s->sql, "ROLLBACK"));
	r = PQexecParams(s->sql, "SELECT pg_drop_replication_slot($1)", 1, NULL, params, NULL, NULL,
	                 0);
	PQclear(r);
	cps_log_warn("PGSRC", "postgres source '%s': snapshot incomplete, slot '%s' dropped",
	             s->platform, s->slot);
}
