/*
 * The postgres source's sweep read (connector.h: sweep_read): every mapped
 * table of the city read in keyset chunks (ORDER BY the key column, LIMIT
 * chunk, then WHERE key > the last one) over a session of its own, each
 * row encoded as the source encodes it (pg_source_rows.c), so a sweep
 * compares exactly what streaming would deliver. No slot, no snapshot, no
 * commit: the streaming source is not touched.
 */
#include "connectors/postgres/pg_source_int.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* One chunk of table t after `last` (NULL: from the start) into *r. */
static int read_chunk(struct pg_source *s, const struct cps_pg_table *t, const char *last,
                      size_t chunk, PGresult **r, char *errstr, size_t errstr_size)
{
	char sql[1024], *key = PQescapeIdentifier(s->sql, t->key_column, strlen(t->key_column));
	const char *params[1] = {last};

	if (!key)
		return pg_source_conn_error(s, s->sql, "sweep key column", errstr, errstr_size);
	snprintf(sql, sizeof(sql), "SELECT * FROM %s %s%s%s ORDER BY %s LIMIT %zu", t->qualified,
	         last ? "WHERE " : "", last ? key : "", last ? " > $1" : "", key, chunk);
	PQfreemem(key);
	*r = PQexecParams(s->sql, sql, last ? 1 : 0, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(*r) != PGRES_TUPLES_OK) {
		PQclear(*r);
		*r = NULL;
		return pg_source_conn_error(s, s->sql, "sweep chunk", errstr, errstr_size);
	}
	return CPS_OK;
}

/* Every row of table t, chunk by chunk, to emit. */
static int sweep_table(struct pg_source *s, struct cps_pg_table *t, size_t chunk,
                       const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size)
{
	char *last = NULL;
	int rc, key_col;
	int64_t rows = 0;

	rc = sink->entity(sink->arg, t->entity, errstr, errstr_size);
	while (rc == CPS_OK) {
		struct cps_source_batch b;
		PGresult *r = NULL;
		int nt;

		if (sink->stop && atomic_load(sink->stop)) {
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "sweep stopped");
			break;
		}
		rc = read_chunk(s, t, last, chunk, &r, errstr, errstr_size);
		if (rc != CPS_OK)
			break;
		nt = PQntuples(r);
		key_col = PQfnumber(r, t->key_column);
		if (nt == 0 || key_col < 0) {
			PQclear(r);
			break;
		}
		pg_source_batch_reset(s);
		rc = pg_source_emit_result(s, t, r, false, errstr, errstr_size);
		if (rc == CPS_OK) {
			pg_source_batch_finish(s, &b);
			rc = sink->emit(sink->arg, b.msgs, b.n, errstr, errstr_size);
		}
		free(last);
		last =
		    PQgetisnull(r, nt - 1, key_col) ? NULL : strdup(PQgetvalue(r, nt - 1, key_col));
		PQclear(r);
		rows += nt;
		if (rc != CPS_OK || (size_t)nt < chunk)
			break;
		if (!last) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                "sweep of '%s.%s': a NULL key or out of memory", t->nspname,
			                t->relname);
			break;
		}
	}
	free(last);
	if (rc == CPS_OK)
		cps_log_info("PGSRC", "postgres source '%s': sweep read %lld rows of '%s.%s'",
		             s->platform, (long long)rows, t->nspname, t->relname);
	return rc;
}

int pg_source_sweep_read(const char *platform, const struct cps_settings *settings, size_t chunk,
                         const struct cps_sweep_sink *sink, char *errstr, size_t errstr_size)
{
	/* a source of its own, "sweep" only labels its positions (no slot is read) */
	struct pg_source *s =
	    pg_source_new(platform, cps_settings_get(settings, "conninfo"), "sweep");
	int rc = s ? pg_source_load(s, settings, "sweep connection", errstr, errstr_size)
	           : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");

	for (size_t i = 0; rc == CPS_OK && i < s->map->n; i++)
		rc = sweep_table(s, &s->map->tables[i], chunk, sink, errstr, errstr_size);
	pg_source_free(s);
	return rc;
}
