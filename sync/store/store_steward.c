/*
 * The store's steward side (store_steward.h): conflict listing and detail,
 * claim, the steward's decision in one transaction, the record view and the
 * audit trail, over a small pool of libpq connections shared by the HTTP
 * threads. Errors name the statement and SQLSTATE, never a row's values.
 * jsonb text is (un)escaped exactly as store.c does (U+0000 <-> U+E000 '0').
 * The decision itself is in store_steward_resolve.c.
 */
#ifndef _GNU_SOURCE
#endif
#include "store/store_steward.h"
#include "store/store_steward_int.h"
#include "store/jsonb.h"
#include "store/pgerr.h"
#include "base/clock.h"

#include "base/common.h"
#include "model/event.h"

#include <libpq-fe.h>

#include <inttypes.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define POOL_MAX 16

struct cps_steward_store {
	char *conninfo;
	unsigned max_idle;
	pthread_mutex_t mu;
	PGconn *idle[POOL_MAX];
	unsigned n_idle;
};

/* ---- connections ---------------------------------------------------------- */

int cps_steward_store_new(const char *conninfo, unsigned max_idle, struct cps_steward_store **out,
                          char *errstr, size_t errstr_size)
{
	struct cps_steward_store *ss = calloc(1, sizeof(*ss));

	*out = NULL;
	if (!ss || !(ss->conninfo = strdup(conninfo ? conninfo : ""))) {
		free(ss);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	ss->max_idle = max_idle > POOL_MAX ? POOL_MAX : max_idle;
	pthread_mutex_init(&ss->mu, NULL);
	*out = ss;
	return CPS_OK;
}

void cps_steward_store_free(struct cps_steward_store *ss)
{
	if (!ss)
		return;
	for (unsigned i = 0; i < ss->n_idle; i++)
		PQfinish(ss->idle[i]);
	pthread_mutex_destroy(&ss->mu);
	free(ss->conninfo);
	free(ss);
}

/* An HTTP request must not wait on the store for ever (one slow query would
 * hold an API worker): bounded connect, statement and lock waits; a timeout
 * is SQLSTATE 57014 or 55P03, retriable, answered 503. No JIT: the
 * planner overrates the lists' scope filter (bench.scope) and compiling
 * took longer than the page it served. The conninfo comes last, so a
 * deployment may set its own. */
static PGconn *steward_connect(const char *conninfo)
{
	const char *const keys[] = {"application_name", "connect_timeout", "options", "dbname",
	                            NULL};
	const char *const values[] = {"cpsync steward", "5",
	                              "-c statement_timeout=15000 -c lock_timeout=5000 -c jit=off",
	                              conninfo, NULL};

	return PQconnectdbParams(keys, values, 1);
}

PGconn *cps_steward_conn_take(struct cps_steward_store *ss, char *errstr, size_t errstr_size)
{
	PGconn *c = NULL;
	char line[160];

	pthread_mutex_lock(&ss->mu);
	while (!c && ss->n_idle) {
		c = ss->idle[--ss->n_idle];
		if (PQstatus(c) != CONNECTION_OK) {
			PQfinish(c);
			c = NULL;
		}
	}
	pthread_mutex_unlock(&ss->mu);
	if (c)
		return c;
	c = steward_connect(ss->conninfo);
	if (c && PQstatus(c) == CONNECTION_OK)
		return c;
	cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "store: connection failed: %s",
	           cps_pg_conn_message(c, line, sizeof(line)));
	PQfinish(c);
	return NULL;
}

/* Back to the pool, unless it is broken or inside a transaction. */
void cps_steward_conn_give(struct cps_steward_store *ss, PGconn *c)
{
	if (!c)
		return;
	if (PQstatus(c) != CONNECTION_OK || PQtransactionStatus(c) != PQTRANS_IDLE) {
		PQfinish(c);
		return;
	}
	pthread_mutex_lock(&ss->mu);
	if (ss->n_idle < ss->max_idle) {
		ss->idle[ss->n_idle++] = c;
		c = NULL;
	}
	pthread_mutex_unlock(&ss->mu);
	PQfinish(c);
}

/* Runs one statement with text parameters (a NULL value is SQL NULL; a
 * nonzero lens[i] marks a binary parameter). *res is the caller's. */
int cps_steward_run(PGconn *c, const char *what, const char *sql, int n, const char *const *v,
                    const int *lens, PGresult **res, char *errstr, size_t errstr_size)
{
	int fmts[16] = {0};
	ExecStatusType st;
	int rc;

	for (int i = 0; lens && i < n; i++)
		fmts[i] = lens[i] != 0;
	*res = PQexecParams(c, sql, n, NULL, v, lens, fmts, 0);
	st = PQresultStatus(*res);
	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
		return CPS_OK;
	rc = cps_pg_result_error(c, *res, "store", what, errstr, errstr_size);
	PQclear(*res);
	*res = NULL;
	return rc;
}

int cps_steward_exec(PGconn *c, const char *what, const char *sql, int n, const char *const *v,
                     const int *lens, char *errstr, size_t errstr_size)
{
	PGresult *res;
	int rc = cps_steward_run(c, what, sql, n, v, lens, &res, errstr, errstr_size);

	PQclear(res);
	return rc;
}

int cps_steward_run_cmd(PGconn *c, const char *what, const char *sql, char *errstr,
                        size_t errstr_size)
{
	return cps_steward_exec(c, what, sql, 0, NULL, NULL, errstr, errstr_size);
}

int cps_steward_run_row(PGconn *c, const char *what, const char *sql, int n, const char *const *v,
                        PGresult **res, int *why, int why_missing, char *errstr, size_t errstr_size,
                        const char *missing_fmt, ...)
{
	va_list ap;
	int rc = cps_steward_run(c, what, sql, n, v, NULL, res, errstr, errstr_size);

	if (rc || PQntuples(*res) == 1)
		return rc;
	PQclear(*res);
	*res = NULL;
	*why = why_missing;
	if (errstr && errstr_size) {
		va_start(ap, missing_fmt);
		vsnprintf(errstr, errstr_size, missing_fmt, ap);
		va_end(ap);
	}
	return CPS_ERR_INVALID;
}

static json_t *col_str(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* A result column as a JSON member; a column without a name is skipped. */
enum col_kind { COL_INT, COL_STR, COL_JSON };
struct col {
	const char *name;
	enum col_kind kind;
};

/* Row `row` of res as an object of its columns, in order. */
static json_t *row_object(const PGresult *res, int row, const struct col *cols, int n)
{
	json_t *o = json_object();

	for (int i = 0; o && i < n; i++) {
		json_t *v;

		if (!cols[i].name)
			continue;
		v = cols[i].kind == COL_INT   ? json_integer((json_int_t)col_int(res, row, i))
		    : cols[i].kind == COL_STR ? col_str(res, row, i)
		                              : col_json(res, row, i);
		if (json_object_set_new(o, cols[i].name, v)) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

/* ---- conflicts -------------------------------------------------------------- */

/* Columns of a conflict summary, c = conflicts, then cursor microseconds. */
#define SUMMARY_COLS                                                                               \
	"c.id, c.entity, c.key, c.field, c.status, c.rule, c.candidates, "                         \
	"to_json(c.opened_at) #>> '{}', "                                                          \
	"floor(extract(epoch FROM now() - c.opened_at))::bigint, c.claimed_by, "                   \
	"(extract(epoch FROM c.opened_at) * 1000000)::bigint"
#define N_SUMMARY 11
#define DETAIL_COLS                                                                                \
	SUMMARY_COLS ", to_json(c.claimed_at) #>> '{}', to_json(c.updated_at) #>> '{}', "          \
	             "to_json(c.closed_at) #>> '{}', c.resolution, r.record -> c.field, "          \
	             "COALESCE(cpsync.provenance_json(r.prov), r.provenance) -> c.field, "         \
	             "r.version, COALESCE(r.record ? c.field, false)"

/* Store candidates [{"platform","v","eff","src","pos"}] in the API's shape. */
static json_t *candidates_api(json_t *cands)
{
	json_t *out = json_array(), *c;
	size_t i;

	json_array_foreach (cands, i, c) {
		json_t *v = json_object_get(c, "v");

		json_array_append_new(
		    out,
		    json_pack("{s:O, s:O, s:O, s:O, s:O}", "platform",
		              json_object_get(c, "platform") ? json_object_get(c, "platform")
		                                             : json_null(),
		              "value", v ? v : json_null(), "effective_ms",
		              json_object_get(c, "eff") ? json_object_get(c, "eff") : json_null(),
		              "source_ms",
		              json_object_get(c, "src") ? json_object_get(c, "src") : json_null(),
		              "position",
		              json_object_get(c, "pos") ? json_object_get(c, "pos") : json_null()));
	}
	return out;
}

static json_t *conflict_row(const PGresult *res, int row, int detail)
{
	json_t *cands = col_json(res, row, 6), *platforms = json_array(), *c, *o;
	size_t i;

	json_array_foreach (cands, i, c) {
		json_t *p = json_object_get(c, "platform");

		if (json_is_string(p))
			json_array_append(platforms, p);
	}
	o = json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o}", "id",
	              (json_int_t)col_int(res, row, 0), "entity", col_str(res, row, 1), "key",
	              col_str(res, row, 2), "field", col_str(res, row, 3), "status",
	              col_str(res, row, 4), "rule", col_str(res, row, 5), "platforms", platforms,
	              "opened_at", col_str(res, row, 7), "age_s", (json_int_t)col_int(res, row, 8),
	              "claimed_by", col_str(res, row, 9));
	if (o && detail) {
		json_t *cur = json_pack("{s:o, s:I}", "provenance", col_json(res, row, 16),
		                        "record_version", (json_int_t)col_int(res, row, 17));

		if (cur && !strcmp(PQgetvalue(res, row, 18), "t"))
			json_object_set_new(cur, "value", col_json(res, row, 15));
		json_object_set_new(o, "candidates", candidates_api(cands));
		json_object_set_new(o, "current", cur ? cur : json_null());
		json_object_set_new(o, "claimed_at", col_str(res, row, 11));
		json_object_set_new(o, "updated_at", col_str(res, row, 12));
		json_object_set_new(o, "closed_at", col_str(res, row, 13));
		json_object_set_new(o, "resolution", col_json(res, row, 14));
	}
	json_decref(cands);
	return o;
}

static json_t *conflict_summary(const PGresult *res, int row)
{
	return conflict_row(res, row, 0);
}

/* The first n rows of res as a JSON array, each through `row`. */
static json_t *rows_json(const PGresult *res, int n, json_t *(*row)(const PGresult *, int))
{
	json_t *arr = json_array();

	for (int i = 0; i < n; i++)
		json_array_append_new(arr, row(res, i));
	return arr;
}

/* All the rows of a statement, each through `row`, as o[key]. */
static int rows_into(PGconn *c, const char *what, const char *sql, int n, const char *const *v,
                     json_t *(*row)(const PGresult *, int), json_t *o, const char *key,
                     char *errstr, size_t errstr_size)
{
	PGresult *res;
	int rc = cps_steward_run(c, what, sql, n, v, NULL, &res, errstr, errstr_size);

	if (rc)
		return rc;
	json_object_set_new(o, key, rows_json(res, PQntuples(res), row));
	PQclear(res);
	return CPS_OK;
}

/* One page of a keyset-paged list: `sql` takes the filters in v[0..4],
 * $6..$8 filled here (the cursor's time and id, limit + 1) and the scope in
 * $9; each row goes through `row`. Column 0 of a row is its id, column 10
 * its cursor time. */
static int list_page(struct cps_steward_store *ss, const char *what, const char *sql,
                     const char *v[9], const struct cps_steward_cursor *after, int limit,
                     json_t *(*row)(const PGresult *, int), json_t **items,
                     struct cps_steward_cursor *next, char *errstr, size_t errstr_size)
{
	char at[24], id[24], lim[24];
	PGresult *res = NULL;
	PGconn *c;
	int rc, n;

	num(at, after->at_us);
	num(id, after->id);
	num(lim, (int64_t)limit + 1);
	v[5] = after->has ? at : NULL;
	v[6] = after->has ? id : NULL;
	v[7] = lim;
	if (!(c = cps_steward_conn_take(ss, errstr, errstr_size)))
		return CPS_ERR_RETRIABLE;
	rc = cps_steward_run(c, what, sql, 9, v, NULL, &res, errstr, errstr_size);
	if (rc)
		goto out;
	n = PQntuples(res);
	*items = rows_json(res, n < limit ? n : limit, row);
	if (n > limit) {
		next->has = 1;
		next->id = col_int(res, limit - 1, 0);
		next->at_us = col_int(res, limit - 1, 10);
	}
out:
	PQclear(res);
	cps_steward_conn_give(ss, c);
	return rc;
}

int cps_steward_conflicts_list(struct cps_steward_store *ss, const struct cps_conflict_filter *f,
                               json_t **items, struct cps_steward_cursor *next, char *errstr,
                               size_t errstr_size)
{
	static const char *const sql[2] = {
	    "SELECT " SUMMARY_COLS " FROM cpsync.conflicts c WHERE "
	    "($1::text IS NULL OR c.status = $1) AND ($2::text IS NULL OR c.entity = $2) "
	    "AND ($3::text IS NULL OR c.field = $3) AND ($4::text IS NULL OR c.candidates @> "
	    "jsonb_build_array(jsonb_build_object('platform', $4::text))) "
	    "AND ($5::bigint IS NULL OR c.opened_at <= now() - $5::bigint * interval '1 second') "
	    "AND ($6::bigint IS NULL OR (c.opened_at, c.id) < ('epoch'::timestamptz + $6::bigint * "
	    "interval '1 microsecond', $7::bigint)) AND " CPS_STEWARD_IN_SCOPE(
	        "9", "c.entity", "c.key") " ORDER BY c.opened_at DESC, c.id DESC LIMIT $8",
	    "SELECT " SUMMARY_COLS " FROM cpsync.conflicts c WHERE "
	    "($1::text IS NULL OR c.status = $1) AND ($2::text IS NULL OR c.entity = $2) "
	    "AND ($3::text IS NULL OR c.field = $3) AND ($4::text IS NULL OR c.candidates @> "
	    "jsonb_build_array(jsonb_build_object('platform', $4::text))) "
	    "AND ($5::bigint IS NULL OR c.opened_at <= now() - $5::bigint * interval '1 second') "
	    "AND ($6::bigint IS NULL OR (c.opened_at, c.id) > ('epoch'::timestamptz + $6::bigint * "
	    "interval '1 microsecond', $7::bigint)) AND " CPS_STEWARD_IN_SCOPE(
	        "9", "c.entity", "c.key") " ORDER BY c.opened_at ASC, c.id ASC LIMIT $8",
	};
	char age[24];
	const char *v[9] = {f->status, f->entity, f->field, f->platform};

	*items = NULL;
	v[8] = f->scope;
	memset(next, 0, sizeof(*next));
	num(age, f->min_age_s);
	v[4] = f->min_age_s >= 0 ? age : NULL;
	return list_page(ss, "select from conflicts", sql[f->ascending != 0], v, &f->after,
	                 f->limit, conflict_summary, items, next, errstr, errstr_size);
}

int cps_steward_conflict_read(PGconn *c, int64_t id, const char *scope, json_t **out, int *why,
                              char *errstr, size_t errstr_size)
{
	char ids[24];
	const char *v[2] = {ids, scope};
	PGresult *res;
	int rc;

	num(ids, id);
	*out = NULL;
	rc = cps_steward_run_row(c, "select from conflicts",
	                         "SELECT " DETAIL_COLS
	                         " FROM cpsync.conflicts c LEFT JOIN cpsync.records r "
	                         "ON r.entity = c.entity AND r.key = c.key WHERE c.id = $1::bigint "
	                         "AND " CPS_STEWARD_IN_SCOPE("2", "c.entity", "c.key"),
	                         2, v, &res, why, CPS_STEWARD_NOT_FOUND, errstr, errstr_size,
	                         "conflict %" PRId64 " not found", id);
	if (rc)
		return rc;
	if (!(*out = conflict_row(res, 0, 1)))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	PQclear(res);
	return rc;
}

int cps_steward_conflict_get(struct cps_steward_store *ss, int64_t id, const char *scope,
                             json_t **out, int *why, char *errstr, size_t errstr_size)
{
	PGconn *c = cps_steward_conn_take(ss, errstr, errstr_size);
	int rc;

	*out = NULL;
	if (!c)
		return CPS_ERR_RETRIABLE;
	rc = cps_steward_conflict_read(c, id, scope, out, why, errstr, errstr_size);
	cps_steward_conn_give(ss, c);
	return rc;
}

int cps_steward_conflict_claim(struct cps_steward_store *ss, int64_t id, const char *steward,
                               const char *scope, json_t **out, int *why, char *errstr,
                               size_t errstr_size)
{
	char ids[24];
	const char *v[3] = {ids, steward, scope};
	PGresult *res = NULL;
	PGconn *c = cps_steward_conn_take(ss, errstr, errstr_size);
	int rc;

	*out = NULL;
	if (!c)
		return CPS_ERR_RETRIABLE;
	num(ids, id);
	/* claim and audit row in one statement: both or neither */
	rc = cps_steward_run(
	    c, "claim of conflicts",
	    "WITH u AS (UPDATE cpsync.conflicts SET status = 'claimed', claimed_by = $2, "
	    "claimed_at = now(), updated_at = now() WHERE id = $1::bigint AND "
	    "(status = 'open' OR (status = 'claimed' AND claimed_by = $2)) AND " CPS_STEWARD_IN_SCOPE(
	        "3", "cpsync.conflicts.entity",
	        "cpsync.conflicts.key") " RETURNING entity, key, field), "
	                                "a AS (INSERT INTO cpsync.audit (actor, action, entity, key, field) "
	                                "SELECT $2, 'conflict.claimed', entity, key, field FROM u) "
	                                "SELECT count(*) FROM u",
	    3, v, NULL, &res, errstr, errstr_size);
	if (rc)
		goto out;
	/* out of scope: not found, so a refused claim tells nothing either */
	rc = cps_steward_conflict_read(c, id, scope, out, why, errstr, errstr_size);
	if (rc == CPS_OK && col_int(res, 0, 0) != 1) {
		json_decref(*out);
		*out = NULL;
		*why = CPS_STEWARD_STATE;
		rc = cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "conflict %" PRId64 " is not open (claimed by another steward or closed)", id);
	}
out:
	PQclear(res);
	cps_steward_conn_give(ss, c);
	return rc;
}

/* ---- records ---------------------------------------------------------------- */

static const struct col history_cols[] = {{"version", COL_INT},         {"op", COL_STR},
                                          {"record", COL_JSON},         {"provenance", COL_JSON},
                                          {"changed_fields", COL_JSON}, {"committed_at", COL_STR}};

static json_t *history_row(const PGresult *res, int i)
{
	return row_object(res, i, history_cols, CPS_ARRAY_SIZE(history_cols));
}

int cps_steward_record_get(struct cps_steward_store *ss, const char *entity, const char *key,
                           const char *scope, int history_limit, json_t **out, int *why,
                           char *errstr, size_t errstr_size)
{
	char lim[24];
	const char *v[3] = {entity, key, lim}, *vs[3] = {entity, key, scope};
	PGresult *res = NULL;
	PGconn *c;
	json_t *o = NULL, *platforms, *prov;
	int rc;

	*out = NULL;
	num(lim, history_limit);
	if (!(c = cps_steward_conn_take(ss, errstr, errstr_size)))
		return CPS_ERR_RETRIABLE;
	/* one snapshot for the three reads */
	rc = cps_steward_run_cmd(c, "begin", "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY",
	                         errstr, errstr_size);
	if (rc)
		goto out;
	rc = cps_steward_run_row(
	    c, "select from records",
	    "SELECT version, deleted, record, provenance, platforms, "
	    "to_json(updated_at) #>> '{}', facts, prov FROM cpsync.records WHERE entity = $1 AND "
	    "key = $2 "
	    "AND " CPS_STEWARD_IN_SCOPE("3", "$1", "$2"),
	    3, vs, &res, why, CPS_STEWARD_NOT_FOUND, errstr, errstr_size,
	    "no %.32s record with that key", entity);
	if (rc)
		goto out;
	/* the facts and provenance decoded: the endpoint shows reconcile.h's trees */
	if (cps_facts_column(res, 0, 6, 4, &platforms, NULL, errstr, errstr_size) != CPS_OK)
		platforms = json_null();
	if (cps_prov_column(res, 0, 7, 3, &prov, NULL, errstr, errstr_size) != CPS_OK)
		prov = json_null();
	o = json_pack("{s:s, s:s, s:I, s:b, s:o, s:o, s:o, s:o}", "entity", entity, "key", key,
	              "version", (json_int_t)col_int(res, 0, 0), "deleted",
	              !strcmp(PQgetvalue(res, 0, 1), "t"), "record", col_json(res, 0, 2),
	              "provenance", prov, "platforms", platforms, "updated_at", col_str(res, 0, 5));
	PQclear(res);
	res = NULL;
	if (!o) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	rc = rows_into(c, "select from conflicts",
	               "SELECT " SUMMARY_COLS " FROM cpsync.conflicts c WHERE c.entity = $1 AND "
	               "c.key = $2 AND c.status IN ('open', 'claimed') ORDER BY c.field",
	               2, v, conflict_summary, o, "conflicts", errstr, errstr_size);
	if (!rc)
		rc = rows_into(c, "select from record_history",
		               "SELECT version, op, record, provenance, to_json(changed_fields), "
		               "to_json(committed_at) #>> '{}' FROM cpsync.record_history "
		               "WHERE entity = $1 AND key = $2 ORDER BY version DESC LIMIT $3::int",
		               3, v, history_row, o, "history", errstr, errstr_size);
	if (!rc)
		rc = cps_steward_run_cmd(c, "commit", "COMMIT", errstr, errstr_size);
	if (rc)
		goto out;
	*out = o;
	o = NULL;
out:
	PQclear(res);
	if (PQtransactionStatus(c) != PQTRANS_IDLE)
		PQclear(PQexec(c, "ROLLBACK"));
	json_decref(o);
	cps_steward_conn_give(ss, c);
	return rc;
}

/* ---- audit ------------------------------------------------------------------ */

static const struct col audit_cols[] = {
    {"id", COL_INT},     {"at", COL_STR},    {"actor", COL_STR}, {"action", COL_STR},
    {"entity", COL_STR}, {"key", COL_STR},   {"field", COL_STR}, {"before", COL_JSON},
    {"after", COL_JSON}, {"reason", COL_STR}};

static json_t *audit_row(const PGresult *res, int i)
{
	return row_object(res, i, audit_cols, CPS_ARRAY_SIZE(audit_cols));
}

int cps_steward_audit_list(struct cps_steward_store *ss, const struct cps_audit_filter *f,
                           json_t **items, struct cps_steward_cursor *next, char *errstr,
                           size_t errstr_size)
{
	char since[24], until[24];
	const char *v[9] = {f->entity, f->key, f->actor};

	*items = NULL;
	v[8] = f->scope;
	memset(next, 0, sizeof(*next));
	num(since, f->since_us);
	num(until, f->until_us);
	v[3] = f->since_us >= 0 ? since : NULL;
	v[4] = f->until_us >= 0 ? until : NULL;
	return list_page(
	    ss, "select from audit",
	    "SELECT id, to_json(at) #>> '{}', actor, action, entity, key, field, before, after, "
	    "reason, (extract(epoch FROM at) * 1000000)::bigint FROM cpsync.audit a WHERE "
	    "($1::text IS NULL OR a.entity = $1) AND ($2::text IS NULL OR a.key = $2) "
	    "AND ($3::text IS NULL OR actor = $3) "
	    "AND ($4::bigint IS NULL OR at >= 'epoch'::timestamptz + $4::bigint * interval "
	    "'1 microsecond') "
	    "AND ($5::bigint IS NULL OR at < 'epoch'::timestamptz + $5::bigint * interval "
	    "'1 microsecond') "
	    "AND ($6::bigint IS NULL OR (at, id) < ('epoch'::timestamptz + $6::bigint * "
	    "interval '1 microsecond', $7::bigint)) AND " CPS_STEWARD_IN_SCOPE(
	        "9", "a.entity", "a.key") " ORDER BY at DESC, id DESC LIMIT $8::int",
	    v, &f->after, f->limit, audit_row, items, next, errstr, errstr_size);
}

/* ---- policy findings ------------------------------------------------------- */

/* Column 10 is the cursor's time. */
static const struct col finding_cols[] = {
    {"id", COL_INT},       {"opened_at", COL_STR}, {"check", COL_STR}, {"entity", COL_STR},
    {"key", COL_STR},      {"fields", COL_JSON},   {"text", COL_STR},  {"category", COL_STR},
    {"severity", COL_STR}, {"detail", COL_STR},    {NULL, COL_INT},    {"status", COL_STR},
    {"closed_at", COL_STR}};

static json_t *finding_row(const PGresult *res, int i)
{
	return row_object(res, i, finding_cols, CPS_ARRAY_SIZE(finding_cols));
}

int cps_steward_findings_list(struct cps_steward_store *ss, const struct cps_finding_filter *f,
                              json_t **items, struct cps_steward_cursor *next, char *errstr,
                              size_t errstr_size)
{
	const char *v[9] = {f->status, f->check, f->entity, f->key};

	*items = NULL;
	v[8] = f->scope;
	memset(next, 0, sizeof(*next));
	return list_page(
	    ss, "select from policy_findings",
	    "SELECT id, to_json(opened_at) #>> '{}', check_code, entity, key, fields, rule_text, "
	    "category, severity, detail, (extract(epoch FROM opened_at) * 1000000)::bigint, status, "
	    "to_json(closed_at) #>> '{}' FROM cpsync.policy_findings pf WHERE "
	    "($1::text IS NULL OR pf.status = $1) AND ($2::text IS NULL OR pf.check_code = $2) "
	    "AND ($3::text IS NULL OR pf.entity = $3) AND ($4::text IS NULL OR pf.key = $4) "
	    "AND ($5::text IS NULL) "
	    "AND ($6::bigint IS NULL OR (pf.opened_at, pf.id) < ('epoch'::timestamptz + $6::bigint * "
	    "interval '1 microsecond', $7::bigint)) AND " CPS_STEWARD_IN_SCOPE(
	        "9", "pf.entity", "pf.key") " ORDER BY pf.opened_at DESC, pf.id DESC LIMIT $8::int",
	    v, &f->after, f->limit, finding_row, items, next, errstr, errstr_size);
}
