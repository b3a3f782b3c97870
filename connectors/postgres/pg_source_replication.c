/*
 * Replication set-up of the postgres source at open: the publication of the
 * mapped tables (created when missing), then the slot resumed from its
 * confirmed position or created with an exported snapshot.
 */
#include "connectors/postgres/pg_source_int.h"

#include "base/log.h"

#include <stdio.h>
#include <string.h>

/* A table mapped after the publication was created is added to it (its
 * rows are then snapshotted incrementally, pg_source_resnap.c). */
static int publication_add_missing(struct pg_source *s, char *errstr, size_t errstr_size)
{
	char *qpub = PQescapeIdentifier(s->sql, s->publication, strlen(s->publication));
	char sql[1024];
	int rc = CPS_OK;

	if (!qpub)
		return pg_source_conn_error(s, s->sql, "quoting the publication", errstr,
		                            errstr_size);
	for (size_t i = 0; rc == CPS_OK && i < s->map->n; i++) {
		const struct cps_pg_table *t = &s->map->tables[i];
		const char *params[3] = {s->publication, t->nspname, t->relname};
		PGresult *r = PQexecParams(
		    s->sql,
		    "SELECT 1 FROM pg_publication_tables WHERE pubname = $1 AND schemaname = $2 AND tablename = $3",
		    3, NULL, params, NULL, NULL, 0);
		bool member = PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0;

		if (PQresultStatus(r) != PGRES_TUPLES_OK)
			rc = pg_source_conn_error(s, s->sql, "reading the publication", errstr,
			                          errstr_size);
		PQclear(r);
		if (rc != CPS_OK || member)
			continue;
		snprintf(sql, sizeof(sql), "ALTER PUBLICATION %s ADD TABLE %s", qpub, t->qualified);
		rc = pg_source_exec(s, s->sql, sql, PGRES_COMMAND_OK, NULL,
		                    "adding a newly mapped table to the publication", errstr,
		                    errstr_size);
		if (rc == CPS_OK)
			cps_log_info(
			    "PGSRC",
			    "postgres source '%s': table '%s.%s' added to publication '%s'",
			    s->platform, t->nspname, t->relname, s->publication);
	}
	PQfreemem(qpub);
	return rc;
}

/* The publication for the mapped tables, created when missing. */
static int ensure_publication(struct pg_source *s, char *errstr, size_t errstr_size)
{
	const char *params[1] = {s->publication};
	struct cps_buf sql;
	PGresult *r = NULL;
	bool exists;
	char *q;
	int rc;

	r = PQexecParams(s->sql, "SELECT 1 FROM pg_publication WHERE pubname = $1", 1, NULL, params,
	                 NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return pg_source_conn_error(s, s->sql, "reading publications", errstr, errstr_size);
	}
	exists = PQntuples(r) > 0;
	PQclear(r);
	if (exists)
		return s->create_publication ? publication_add_missing(s, errstr, errstr_size)
		                             : CPS_OK;
	if (!s->create_publication)
		return cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "postgres source '%s': publication '%s' does not exist and create_publication is off",
		    s->platform, s->publication);
	cps_buf_init(&sql, 0);
	q = PQescapeIdentifier(s->sql, s->publication, strlen(s->publication));
	rc = q ? cps_buf_printf(&sql, "CREATE PUBLICATION %s FOR TABLE ", q) : -1;
	PQfreemem(q);
	for (size_t i = 0; rc == 0 && i < s->map->n; i++)
		rc = cps_buf_printf(&sql, "%s%s", i ? ", " : "", s->map->tables[i].qualified);
	if (rc < 0) {
		cps_buf_release(&sql);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	rc = pg_source_exec(s, s->sql, (const char *)sql.data, PGRES_COMMAND_OK, NULL,
	                    "creating the publication", errstr, errstr_size);
	cps_buf_release(&sql);
	return rc;
}

/* Starts replication: creates the slot with an exported snapshot (the
 * snapshot then runs in poll), or resumes an existing slot. */
int pg_source_open_replication(struct pg_source *s, char *errstr, size_t errstr_size)
{
	const char *params[1] = {s->slot};
	PGresult *r = NULL;
	char sql[512];
	char *qslot;
	int rc;

	s->repl = pg_source_connect(s->conninfo, true);
	if (PQstatus(s->repl) != CONNECTION_OK)
		return pg_source_conn_error(s, s->repl, "replication connection", errstr,
		                            errstr_size);
	rc = pg_source_exec(s, s->repl, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK, &r, "IDENTIFY_SYSTEM",
	                    errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (PQnfields(r) < 4 || PQgetisnull(r, 0, 3)) {
		PQclear(r);
		return cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "postgres source '%s': the replication connection is not bound to a database",
		    s->platform);
	}
	PQclear(r);
	rc = ensure_publication(s, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	r = PQexecParams(
	    s->sql,
	    "SELECT confirmed_flush_lsn::text, plugin, database = current_database() FROM pg_replication_slots WHERE slot_name = $1",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return pg_source_conn_error(s, s->sql, "reading replication slots", errstr,
		                            errstr_size);
	}
	if (PQntuples(r) == 1) {
		uint64_t from = 0;

		if (strcmp(PQgetvalue(r, 0, 1), "pgoutput") || strcmp(PQgetvalue(r, 0, 2), "t") ||
		    cps_pgo_lsn_parse(PQgetvalue(r, 0, 0), &from) < 0) {
			PQclear(r);
			return cps_seterr(
			    CPS_ERR_FATAL, errstr, errstr_size,
			    "postgres source '%s': slot '%s' exists but is not a pgoutput slot of this database",
			    s->platform, s->slot);
		}
		PQclear(r);
		s->last_offset = (int64_t)from;
		s->committed_offset = s->last_offset;
		rc = pg_source_resnap_open(s, false, errstr, errstr_size);
		return rc == CPS_OK ? pg_source_start_streaming(s, from, errstr, errstr_size) : rc;
	}
	PQclear(r);
	if (!s->create_slot)
		return cps_seterr(
		    CPS_ERR_FATAL, errstr, errstr_size,
		    "postgres source '%s': slot '%s' does not exist and create_slot is off",
		    s->platform, s->slot);
	qslot = PQescapeIdentifier(s->repl, s->slot, strlen(s->slot));
	if (!qslot)
		return pg_source_conn_error(s, s->repl, "quoting slot", errstr, errstr_size);
	snprintf(sql, sizeof(sql),
	         "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT 'export')", qslot);
	PQfreemem(qslot);
	rc = pg_source_exec(s, s->repl, sql, PGRES_TUPLES_OK, &r, "CREATE_REPLICATION_SLOT", errstr,
	                    errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (PQnfields(r) < 3 || cps_pgo_lsn_parse(PQgetvalue(r, 0, 1), &s->consistent_lsn) < 0 ||
	    PQgetisnull(r, 0, 2)) {
		PQclear(r);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "postgres source '%s': unexpected CREATE_REPLICATION_SLOT answer",
		                  s->platform);
	}
	snprintf(s->snapshot_name, sizeof(s->snapshot_name), "%s", PQgetvalue(r, 0, 2));
	PQclear(r);
	s->phase = PHASE_SNAPSHOT;
	rc = pg_source_resnap_open(s, true, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	cps_log_info("PGSRC", "postgres source '%s': slot '%s' created, snapshot of %zu table(s)",
	             s->platform, s->slot, s->map->n);
	return CPS_OK;
}
