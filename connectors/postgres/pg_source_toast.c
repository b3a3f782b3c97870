/*
 * TOAST merging for the postgres source: an update that leaves a long value
 * unchanged sends it as 'u' (unknown). Rows holding long values are kept in
 * a small per-table cache so the value can be merged back; a miss reads the
 * current value over the SQL session.
 */
#include "connectors/postgres/pg_source_int.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define TOAST_CACHE_SLOTS 1024 /* per table, direct-mapped by key hash */
#define TOAST_MIN_LEN     1024 /* rows with a value this long may see 'u' later */

/* ------------------------------------------------------ TOAST merging */

static uint32_t hash_key(const char *k)
{
	uint32_t h = 2166136261u;

	for (; *k; k++)
		h = (h ^ (uint8_t)*k) * 16777619u;
	return h;
}

static void cached_row_release(struct cached_row *r)
{
	for (size_t i = 0; i < r->n; i++) {
		free(r->names[i]);
		free(r->values[i]);
	}
	free(r->names);
	free(r->values);
	free(r->key);
	memset(r, 0, sizeof(*r));
}

/* Remembers a row that holds a long value (which a later update may leave
 * unchanged, 'u'); forgets the key on delete. */
void pg_source_toast_remember(struct table_state *st, const char *key, const struct cps_pg_plan *p,
                              const struct cps_pg_text *vals, bool is_delete)
{
	struct cached_row *r, fresh = {0};
	bool long_value = false;
	size_t n = p->ncols;

	if (!key)
		return;
	for (size_t i = 0; i < n && !long_value; i++)
		long_value = vals[i].kind == 't' && vals[i].len >= TOAST_MIN_LEN;
	if (!st->toast) {
		if (!long_value)
			return;
		st->toast = calloc(TOAST_CACHE_SLOTS, sizeof(*st->toast));
		if (!st->toast)
			return;
	}
	r = &st->toast[hash_key(key) % TOAST_CACHE_SLOTS];
	if (is_delete || !long_value) {
		if (r->key && strcmp(r->key, key) == 0)
			cached_row_release(r);
		return;
	}
	/* copy first: values may point into the row being replaced */
	fresh.key = strdup(key);
	fresh.names = calloc(n + 1, sizeof(char *));
	fresh.values = calloc(n + 1, sizeof(char *));
	fresh.n = fresh.names && fresh.values ? n : 0;
	for (size_t i = 0; i < fresh.n; i++) {
		if (vals[i].kind == 'u')
			continue; /* unknown: not remembered */
		fresh.names[i] = strdup(p->colnames[i]);
		fresh.values[i] = vals[i].kind == 't' ? strdup(vals[i].text) : NULL;
	}
	cached_row_release(r);
	if (!fresh.key || !fresh.names || !fresh.values) {
		cached_row_release(&fresh);
		return;
	}
	*r = fresh;
}

const struct cached_row *pg_source_toast_lookup(struct table_state *st, const char *key)
{
	struct cached_row *r;

	if (!st->toast || !key)
		return NULL;
	r = &st->toast[hash_key(key) % TOAST_CACHE_SLOTS];
	return r->key && !strcmp(r->key, key) ? r : NULL;
}

/* The current value of `column` of the row with key `key`, read over the
 * normal connection (the TOAST value was not in the cache). */
char *pg_source_read_current_value(struct pg_source *s, struct cps_pg_table *t, const char *column,
                                   const char *key)
{
	char sql[1024];
	const char *params[1] = {key};
	char *qc = PQescapeIdentifier(s->sql, column, strlen(column));
	char *qk = PQescapeIdentifier(s->sql, t->key_column, strlen(t->key_column));
	PGresult *r = NULL;
	char *v = NULL;

	if (!qc || !qk)
		goto out;
	snprintf(sql, sizeof(sql), "SELECT %s::text FROM %s WHERE %s::text = $1", qc, t->qualified,
	         qk);
	r = PQexecParams(s->sql, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		v = strdup(PQgetvalue(r, 0, 0));
	PQclear(r);
out:
	PQfreemem(qc);
	PQfreemem(qk);
	return v;
}

void pg_source_toast_free(struct table_state *st)
{
	for (size_t j = 0; st->toast && j < TOAST_CACHE_SLOTS; j++)
		cached_row_release(&st->toast[j]);
	free(st->toast);
	st->toast = NULL;
}
