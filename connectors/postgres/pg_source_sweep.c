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

/* The parts of a pg_source that rows need (pg_source_emit_result). */
static void sweep_source_free(struct pg_source *s)
{
	if (!s)
		return;
	if (s->sql)
		PQfinish(s->sql);
	for (size_t i = 0; s->ts && s->map && i < s->map->n; i++)
		cps_codec_free(s->ts[i].codec);
	free(s->ts);
	cps_pg_mapping_free(s->map);
	cps_catalog_free(s->catalog);
	cps_buf_release(&s->arena);
	cps_buf_release(&s->row);
	cps_pg_plan_release(&s->result_plan);
	free(s->vals);
	free(s->msgs);
	cps_arena_release(&s->strings);
	free(s);
}

static int sweep_source_new(const char *platform, const struct cps_settings *settings,
                            struct pg_source **out, char *errstr, size_t errstr_size)
{
	struct pg_source *s = calloc(1, sizeof(*s));
	int rc;

	if (!s)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	snprintf(s->platform, sizeof(s->platform), "%s", platform);
	cps_buf_init(&s->arena, 0);
	cps_buf_init(&s->row, 0);
	cps_conn_status_reset(&s->counts);
	cps_arena_init(&s->strings, 256);
	s->conninfo = cps_arena_strdup(&s->strings, cps_settings_get(settings, "conninfo"));
	s->slot = cps_arena_strdup(&s->strings, "sweep");
	if (!s->conninfo || !s->slot) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	s->slot_len = strlen(s->slot);
	rc = cps_catalog_load_dir(cps_settings_get(settings, "schema_dir"), &s->catalog, errstr,
	                          errstr_size);
	if (rc == CPS_OK)
		rc = cps_pg_mapping_from_settings(settings, s->catalog, &s->map, errstr,
		                                  errstr_size);
	if (rc != CPS_OK)
		goto out_free;
	s->ts = calloc(s->map->n ? s->map->n : 1, sizeof(*s->ts));
	if (!s->ts) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_free;
	}
	for (size_t i = 0; i < s->map->n && rc == CPS_OK; i++) {
		rc = cps_codec_new(s->map->tables[i].schema, NULL, &s->ts[i].codec, errstr,
		                   errstr_size);
		if (rc == CPS_OK)
			rc = cps_pg_table_prepare(&s->map->tables[i], errstr, errstr_size);
	}
	if (rc != CPS_OK)
		goto out_free;
	s->sql = pg_source_connect(s->conninfo, false);
	if (PQstatus(s->sql) != CONNECTION_OK) {
		rc = pg_source_conn_error(s, s->sql, "sweep connection", errstr, errstr_size);
		goto out_free;
	}
	*out = s;
	return CPS_OK;
out_free:
	sweep_source_free(s);
	return rc;
}

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
	struct pg_source *s = NULL;
	int rc = sweep_source_new(platform, settings, &s, errstr, errstr_size);

	for (size_t i = 0; rc == CPS_OK && i < s->map->n; i++)
		rc = sweep_table(s, &s->map->tables[i], chunk, sink, errstr, errstr_size);
	sweep_source_free(s);
	return rc;
}
