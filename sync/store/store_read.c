/*
 * The store's reads for the reconcile workers and /status: stored key
 * states and ingest offsets, each in one query, and the stats figures;
 * and the PostgreSQL array literals those reads (and the change-log cursor) send.
 */
#include "store/store.h"

#include "base/buf.h"
#include "base/common.h"
#include "store/jsonb.h"
#include "store/pg_params.h"
#include "store/state_typed.h"
#include "store/store_conn_int.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int cps_store_text_array(struct cps_buf *b, const char *const *items, size_t stride, size_t n)
{
	if (cps_buf_append_byte(b, '{'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *v = *(const char *const *)((const char *)items + i * stride);

		if ((i && cps_buf_append_byte(b, ',')) || cps_buf_append_byte(b, '"'))
			return -1;
		for (; v && *v; v++)
			if (((*v == '"' || *v == '\\') && cps_buf_append_byte(b, '\\')) ||
			    cps_buf_append_byte(b, (uint8_t)*v))
				return -1;
		if (cps_buf_append_byte(b, '"'))
			return -1;
	}
	return cps_buf_append_byte(b, '}');
}

static void state_set(json_t **slot, json_t *v)
{
	json_decref(*slot);
	*slot = v;
}

int cps_store_exec_lists(struct cps_store *s, enum stmt_id id, const struct cps_buf *const *lists,
                         int n, PGresult **res, char *errstr, size_t errstr_size)
{
	const char *values[CPS_PG_PARAMS_MAX];

	if (n > CPS_PG_PARAMS_MAX)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: %d lists", n);
	for (int i = 0; i < n; i++)
		values[i] = (const char *)lists[i]->data;
	return cps_store_exec_prepared(s, id, values, NULL, NULL, 0, res, errstr, errstr_size);
}

long cps_store_row_index(const PGresult *res, int row, size_t n)
{
	long long ord = atoll(PQgetvalue(res, row, 0));

	return ord >= 1 && (size_t)ord <= n ? (long)(ord - 1) : -1;
}

int cps_store_int_array(struct cps_buf *b, const void *items, size_t elem_size, size_t n)
{
	if (cps_buf_append_byte(b, '{'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		const char *at = (const char *)items + i * elem_size;
		int64_t v =
		    elem_size == sizeof(int32_t) ? *(const int32_t *)at : *(const int64_t *)at;

		if ((i && cps_buf_append_byte(b, ',')) || cps_buf_printf(b, "%" PRId64, v) < 0)
			return -1;
	}
	return cps_buf_append_byte(b, '}');
}

/* The xid8[] literal of known_xid (NULL entries where 0 or no array). */
static int xid_array(struct cps_buf *b, const uint64_t *known, size_t n)
{
	if (cps_buf_append_byte(b, '{'))
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (i && cps_buf_append_byte(b, ','))
			return -1;
		if (known && known[i] ? cps_buf_printf(b, "%" PRIu64, known[i]) < 0
		                      : cps_buf_append(b, "NULL", 4) != 0)
			return -1;
	}
	return cps_buf_append_byte(b, '}');
}

/* Row `row` of the load into st; its size as JSON text into st->mem_hint
 * (the binary facts and provenance as the text they would be: the cache sizes
 * by it). */
static int fill_state(const PGresult *res, int row, struct cps_key_state *st, char *errstr,
                      size_t errstr_size)
{
	json_t *j[4];
	size_t text, bin_text = 0;
	char why[CPS_ERRSTR_SIZE] = "";

	st->version = atoll(PQgetvalue(res, row, 1));
	st->deleted = PQgetvalue(res, row, 2)[0] == 't';
	/* columns 5-8 record, provenance, platforms, conflicts (jsonb as text); 9 facts,
	 * 10 prov (bytea, raw: the load reads in binary) */
	j[0] = cps_jsonb_value(res, row, 5);
	j[3] = cps_jsonb_value(res, row, 8);
	text = (size_t)PQgetlength(res, row, 5) + (size_t)PQgetlength(res, row, 8);
	cps_prov_column(res, row, 10, 6, &j[1], &bin_text, why, sizeof(why));
	text += bin_text;
	cps_facts_column(res, row, 9, 7, &j[2], &bin_text, why, sizeof(why));
	text += bin_text;
	if (!j[1] || !j[2]) {
		const char *what = j[1] ? "facts" : "provenance";

		for (int c = 0; c < 4; c++)
			json_decref(j[c]);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "store: the stored %s of entity '%s' do not read: %s", what,
		                  st->entity, why);
	}
	if (!j[0] || !j[3]) {
		for (int c = 0; c < 4; c++)
			json_decref(j[c]);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "store: stored state of entity '%s' is not valid JSON",
		                  st->entity);
	}
	state_set(&st->record, j[0]);
	state_set(&st->provenance, j[1]);
	state_set(&st->platforms, j[2]);
	state_set(&st->conflicts, j[3]);
	st->mem_hint = text;
	return CPS_OK;
}

/* Load item i's entity (`key` false) or key, and filling it from row `row`
 * of the load. */
typedef const char *load_name_fn(void *ctx, size_t i, bool key);
typedef int load_fill_fn(void *ctx, size_t i, const PGresult *res, int row, char *errstr,
                         size_t errstr_size);

/* The load of n items' rows, each not written by known_xid[i] given to
 * `fill` (see cps_store_load_states_known). */
static int load_rows(struct cps_store *s, size_t n, const uint64_t *known_xid, uint64_t *xid_out,
                     unsigned char *same, load_name_fn *name, load_fill_fn *fill, void *ctx,
                     char *errstr, size_t errstr_size)
{
	struct cps_buf entities, keys, known;
	const char **entities_keys;
	PGresult *res = NULL;
	int rc = CPS_OK;

	for (size_t i = 0; i < n; i++) {
		if (xid_out)
			xid_out[i] = 0;
		if (same)
			same[i] = 0;
	}
	if (!n)
		return CPS_OK;
	cps_buf_init(&entities, 0);
	cps_buf_init(&keys, 0);
	cps_buf_init(&known, 0);
	entities_keys = malloc(2 * n * sizeof(*entities_keys));
	for (size_t i = 0; entities_keys && i < n; i++) {
		entities_keys[i] = name(ctx, i, false);
		entities_keys[n + i] = name(ctx, i, true);
	}
	if (!entities_keys ||
	    cps_store_text_array(&entities, entities_keys, sizeof(*entities_keys), n) ||
	    cps_store_text_array(&keys, entities_keys + n, sizeof(*entities_keys), n) ||
	    xid_array(&known, known_xid, n)) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                "store: out of memory listing the keys to load");
		goto out;
	}
	rc = cps_store_exec_prepared(s, ST_LOAD_STATES,
	                             (const char *[]){(const char *)entities.data,
	                                              (const char *)keys.data,
	                                              (const char *)known.data},
	                             NULL, NULL, 1, &res, errstr, errstr_size);
	if (rc)
		goto out;
	for (int row = 0; row < PQntuples(res); row++) {
		long i = cps_store_row_index(res, row, n);

		if (i < 0)
			continue;
		if (xid_out)
			xid_out[i] = strtoull(PQgetvalue(res, row, 3), NULL, 10);
		if (PQgetvalue(res, row, 4)[0] == 't') {
			if (same)
				same[i] = 1;
			continue;
		}
		rc = fill(ctx, (size_t)i, res, row, errstr, errstr_size);
		if (rc)
			goto out;
	}
out:
	PQclear(res);
	free(entities_keys);
	cps_buf_release(&entities);
	cps_buf_release(&keys);
	cps_buf_release(&known);
	return rc;
}

static const char *json_name(void *ctx, size_t i, bool key)
{
	const struct cps_key_state *st = ((struct cps_key_state **)ctx)[i];

	return key ? st->key : st->entity;
}

static int fill_json(void *ctx, size_t i, const PGresult *res, int row, char *errstr,
                     size_t errstr_size)
{
	return fill_state(res, row, ((struct cps_key_state **)ctx)[i], errstr, errstr_size);
}

int cps_store_load_states_known(struct cps_store *s, struct cps_key_state **states, size_t n,
                                const uint64_t *known_xid, uint64_t *xid_out, unsigned char *same,
                                char *errstr, size_t errstr_size)
{
	return load_rows(s, n, known_xid, xid_out, same, json_name, fill_json, states, errstr,
	                 errstr_size);
}

/* The typed load's items: the states and whether each has its typed form. */
struct typed_load {
	struct cps_tstate **states;
	unsigned char *typed;
};

/* Row `row` into typed state st: CPS_OK and *typed 0 when the row holds what
 * only the JSON path reads (a state written before the binary facts and
 * provenance, or a shape the typed state does not hold). */
static int fill_tstate(const PGresult *res, int row, struct cps_tstate *st, unsigned char *typed,
                       char *errstr, size_t errstr_size)
{
	const char *record = PQgetvalue(res, row, 5), *conflicts = PQgetvalue(res, row, 8);
	json_t *j = NULL;
	int rc;

	*typed = 0;
	st->version = atoll(PQgetvalue(res, row, 1));
	st->deleted = PQgetvalue(res, row, 2)[0] == 't';
	if (PQgetisnull(res, row, 9) || PQgetisnull(res, row, 10))
		return CPS_OK; /* written before 012 and 014: the JSON path reads it */
	rc = cps_tstate_facts_decode(st, (const uint8_t *)PQgetvalue(res, row, 9),
	                             (size_t)PQgetlength(res, row, 9), errstr, errstr_size);
	if (rc == CPS_OK)
		rc = cps_tstate_prov_decode(st, (const uint8_t *)PQgetvalue(res, row, 10),
		                            (size_t)PQgetlength(res, row, 10), errstr, errstr_size);
	if (rc == CPS_OK && strcmp(record, "null")) {
		j = cps_jsonb_value(res, row, 5);
		rc = j ? cps_tstate_record_from_json(st, j, errstr, errstr_size) : CPS_ERR_INVALID;
		json_decref(j);
	}
	if (rc == CPS_OK && strcmp(conflicts, "{}")) {
		j = cps_jsonb_value(res, row, 8);
		rc = j ? cps_tstate_conflicts_from_json(st, j, errstr, errstr_size)
		       : CPS_ERR_INVALID;
		json_decref(j);
	}
	if (rc == CPS_ERR_INVALID)
		return CPS_OK; /* not typed: the JSON path reads it (and says what is wrong) */
	if (rc != CPS_OK)
		return rc;
	*typed = 1;
	return CPS_OK;
}

static const char *typed_name(void *ctx, size_t i, bool key)
{
	const struct cps_tstate *st = ((struct typed_load *)ctx)->states[i];

	return key ? st->key : st->entity;
}

static int fill_typed(void *ctx, size_t i, const PGresult *res, int row, char *errstr,
                      size_t errstr_size)
{
	struct typed_load *t = ctx;

	return fill_tstate(res, row, t->states[i], &t->typed[i], errstr, errstr_size);
}

int cps_store_load_tstates(struct cps_store *s, struct cps_tstate **states, size_t n,
                           const uint64_t *known_xid, uint64_t *xid_out, unsigned char *same,
                           unsigned char *typed, char *errstr, size_t errstr_size)
{
	struct typed_load t = {states, typed};

	for (size_t i = 0; i < n; i++)
		typed[i] = 1; /* a key with no row is a new, empty state */
	return load_rows(s, n, known_xid, xid_out, same, typed_name, fill_typed, &t, errstr,
	                 errstr_size);
}

int cps_store_load_states(struct cps_store *s, struct cps_key_state **states, size_t n,
                          char *errstr, size_t errstr_size)
{
	return cps_store_load_states_known(s, states, n, NULL, NULL, NULL, errstr, errstr_size);
}

int cps_store_load_offsets(struct cps_store *s, const char *topic, const int32_t *partitions,
                           int64_t *offsets, size_t n, char *errstr, size_t errstr_size)
{
	struct cps_buf list;
	const char *values[2];
	PGresult *res = NULL;
	int rc = CPS_OK;

	for (size_t i = 0; i < n; i++)
		offsets[i] = -1;
	if (!n)
		return CPS_OK;
	cps_buf_init(&list, 0);
	if (cps_store_int_array(&list, partitions, sizeof(*partitions), n)) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
		goto out;
	}
	values[0] = topic;
	values[1] = (const char *)list.data;
	rc = cps_store_exec_prepared(s, ST_LOAD_OFFSETS, values, NULL, NULL, 0, &res, errstr,
	                             errstr_size);
	if (rc)
		goto out;
	for (int row = 0; row < PQntuples(res); row++) {
		int32_t part = (int32_t)atol(PQgetvalue(res, row, 0));

		for (size_t i = 0; i < n; i++)
			if (partitions[i] == part)
				offsets[i] = atoll(PQgetvalue(res, row, 1));
	}
out:
	PQclear(res);
	cps_buf_release(&list);
	return rc;
}

int cps_store_stats(struct cps_store *s, struct cps_store_stats *out, char *errstr,
                    size_t errstr_size)
{
	PGresult *res;
	int rc =
	    cps_store_exec_prepared(s, ST_STATS, NULL, NULL, NULL, 0, &res, errstr, errstr_size);

	if (rc)
		return rc;
	out->records = atoll(PQgetvalue(res, 0, 0));
	out->open_conflicts = atoll(PQgetvalue(res, 0, 1));
	out->oldest_conflict_age_s = atoll(PQgetvalue(res, 0, 2));
	out->dead_letters = atoll(PQgetvalue(res, 0, 3));
	out->outbox_pending = atoll(PQgetvalue(res, 0, 4));
	PQclear(res);
	return CPS_OK;
}

int cps_store_policy_open_counts(struct cps_store *s, json_t **out, char *errstr,
                                 size_t errstr_size)
{
	PGresult *res;
	int rc = cps_store_exec_prepared(s, ST_POLICY_OPEN_COUNTS, NULL, NULL, NULL, 0, &res,
	                                 errstr, errstr_size);

	*out = NULL;
	if (rc)
		return rc;
	*out = json_object();
	for (int i = 0; *out && i < PQntuples(res); i++)
		if (json_object_set_new(*out, PQgetvalue(res, i, 0),
		                        json_integer(atoll(PQgetvalue(res, i, 1)))) < 0) {
			json_decref(*out);
			*out = NULL;
		}
	PQclear(res);
	return *out ? CPS_OK : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

int cps_store_policy_open_of(struct cps_store *s, json_t *records, json_t **out, char *errstr,
                             size_t errstr_size)
{
	char *text = json_dumps(records, JSON_COMPACT);
	const char *v[1] = {text};
	PGresult *res = NULL;
	int rc;

	*out = NULL;
	if (!text)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = cps_store_exec_prepared(s, ST_POLICY_OPEN_OF, v, NULL, NULL, 0, &res, errstr,
	                             errstr_size);
	free(text);
	if (rc)
		return rc;
	*out = json_object();
	for (int i = 0; *out && i < PQntuples(res); i++) {
		char k[1024];
		json_t *checks;

		snprintf(k, sizeof(k), "%s/%s", PQgetvalue(res, i, 0), PQgetvalue(res, i, 1));
		if (!(checks = json_object_get(*out, k)) &&
		    json_object_set_new(*out, k, checks = json_array()) < 0)
			checks = NULL;
		if (!checks ||
		    json_array_append_new(checks, json_string(PQgetvalue(res, i, 2))) < 0) {
			json_decref(*out);
			*out = NULL;
		}
	}
	PQclear(res);
	return *out ? CPS_OK : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}
