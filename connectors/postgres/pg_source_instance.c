/*
 * The postgres source instance (struct pg_source) made, loaded and freed:
 * the streaming source's (postgres_source.c) and the sweep's
 * (pg_source_sweep.c), which encodes rows the same way through a source of
 * its own.
 */
#include "connectors/postgres/pg_source_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void pg_source_free(struct pg_source *s)
{
	if (!s)
		return;
	pg_source_stream_end(s);
	if (s->repl)
		PQfinish(s->repl);
	pg_source_snapshot_abandon(s);
	pg_source_resnap_release(s);
	if (s->sql)
		PQfinish(s->sql);
	for (size_t i = 0; s->ts && s->map && i < s->map->n; i++) {
		cps_codec_free(s->ts[i].codec);
		pg_source_toast_free(&s->ts[i]);
		pg_source_poll_release(&s->ts[i]);
	}
	free(s->ts);
	cps_pg_mapping_free(s->map);
	cps_catalog_free(s->catalog);
	cps_pgo_decoder_release(&s->dec);
	cps_pgo_relcache_release(&s->rels);
	cps_buf_release(&s->arena);
	cps_buf_release(&s->row);
	while (s->plans) {
		struct relplan *next = s->plans->next;

		cps_pg_plan_release(&s->plans->plan);
		free(s->plans);
		s->plans = next;
	}
	cps_pg_plan_release(&s->result_plan);
	free(s->vals);
	free(s->msgs);
	free(s->marks);
	cps_arena_release(&s->strings);
	free(s);
}

struct pg_source *pg_source_new(const char *platform, const char *conninfo, const char *slot)
{
	struct pg_source *s = calloc(1, sizeof(*s));

	if (!s)
		return NULL;
	snprintf(s->platform, sizeof(s->platform), "%s", platform);
	cps_pgo_decoder_init(&s->dec);
	cps_pgo_relcache_init(&s->rels);
	cps_buf_init(&s->arena, 0);
	cps_buf_init(&s->row, 0);
	s->lag_bytes = -1;
	cps_conn_status_reset(&s->counts);
	cps_arena_init(&s->strings, 512);
	s->conninfo = cps_arena_strdup(&s->strings, conninfo);
	s->slot = cps_arena_strdup(&s->strings, slot);
	if (!s->conninfo || !s->slot) {
		pg_source_free(s);
		return NULL;
	}
	s->slot_len = strlen(s->slot);
	return s;
}

int pg_source_load(struct pg_source *s, const struct cps_settings *settings, const char *what,
                   char *errstr, size_t errstr_size)
{
	int rc = cps_catalog_load_dir(cps_settings_get(settings, "schema_dir"), &s->catalog, errstr,
	                              errstr_size);

	if (rc == CPS_OK)
		rc = cps_pg_mapping_from_settings(settings, s->catalog, &s->map, errstr,
		                                  errstr_size);
	if (rc != CPS_OK)
		return rc;
	s->ts = calloc(s->map->n, sizeof(*s->ts));
	if (!s->ts)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; i < s->map->n; i++) {
		struct cps_pg_table *t = &s->map->tables[i];

		if (s->polling && !t->increment_column)
			return cps_seterr(
			    CPS_ERR_INVALID, errstr, errstr_size,
			    "postgres source '%s': polling table '%s.%s' needs increment_column and timestamp_column",
			    s->platform, t->nspname, t->relname);
		rc = cps_codec_new(t->schema, NULL, &s->ts[i].codec, errstr, errstr_size);
		if (rc == CPS_OK)
			rc = cps_pg_table_prepare(t, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	s->sql = pg_source_connect(s->conninfo, false);
	if (PQstatus(s->sql) != CONNECTION_OK)
		return pg_source_conn_error(s, s->sql, what, errstr, errstr_size);
	return CPS_OK;
}
