/*
 * Dead letters and operator audit rows in PostgreSQL for the operator API
 * (see store_deadletters.h). Errors carry the SQLSTATE, never row values.
 * A replay holds the dead letter's row lock from the status check to the
 * status update, so two replays of one dead letter cannot both produce it.
 */
#include "store/store_deadletters.h"

#include "base/common.h"
#include "store/pgerr.h"

#include <inttypes.h>
#include <libpq-fe.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cps_dlq_store {
	PGconn *conn;
	bool in_tx;
};

/* The columns of an item, in this order (see item_from_row). */
#define ITEM_COLUMNS                                                                               \
	"id, to_char(received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "       \
	"platform, origin, entity, reason, status, COALESCE(octet_length(raw), 0), note, "         \
	"to_char(updated_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), "            \
	"kind, link, version"
#define N_ITEM_COLUMNS 13

/* ---- errors -------------------------------------------------------------- */

static int result_error(struct cps_dlq_store *s, const PGresult *res, const char *what,
                        char *errstr, size_t errstr_size)
{
	return cps_pg_result_error(s->conn, res, "store", what, errstr, errstr_size);
}

/* Runs one statement with text parameters; *out = its result on success. */
static int exec(struct cps_dlq_store *s, const char *what, const char *sql, int n,
                const char *const *params, PGresult **out, char *errstr, size_t errstr_size)
{
	PGresult *res = PQexecParams(s->conn, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
	int rc;

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		if (out)
			*out = res;
		else
			PQclear(res);
		return CPS_OK;
	}
	rc = result_error(s, res, what, errstr, errstr_size);
	PQclear(res);
	return rc;
}

static int begin(struct cps_dlq_store *s, char *errstr, size_t errstr_size)
{
	int rc = exec(s, "begin", "BEGIN", 0, NULL, NULL, errstr, errstr_size);

	if (rc == CPS_OK)
		s->in_tx = true;
	return rc;
}

static int commit(struct cps_dlq_store *s, char *errstr, size_t errstr_size)
{
	int rc = exec(s, "commit", "COMMIT", 0, NULL, NULL, errstr, errstr_size);

	if (rc != CPS_OK)
		cps_dlq_rollback(s);
	s->in_tx = false;
	return rc;
}

void cps_dlq_rollback(struct cps_dlq_store *s)
{
	if (!s || !s->in_tx)
		return;
	PQclear(PQexec(s->conn, "ROLLBACK"));
	s->in_tx = false;
}

/* ---- connection ---------------------------------------------------------- */

int cps_dlq_store_open(const char *conninfo, struct cps_dlq_store **out, char *errstr,
                       size_t errstr_size)
{
	struct cps_dlq_store *s;
	int rc;

	*out = NULL;
	s = calloc(1, sizeof(*s));
	if (!s)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	s->conn = PQconnectdb(conninfo);
	if (!s->conn || PQstatus(s->conn) != CONNECTION_OK) {
		rc = result_error(s, NULL, "connecting", errstr, errstr_size);
		cps_dlq_store_close(s);
		return rc;
	}
	rc = exec(s, "setting the statement timeout", "SET statement_timeout = 30000", 0, NULL,
	          NULL, errstr, errstr_size);
	if (rc != CPS_OK) {
		cps_dlq_store_close(s);
		return rc;
	}
	*out = s;
	return CPS_OK;
}

void cps_dlq_store_close(struct cps_dlq_store *s)
{
	if (!s)
		return;
	if (s->conn && PQstatus(s->conn) == CONNECTION_OK)
		cps_dlq_rollback(s);
	PQfinish(s->conn);
	free(s);
}

bool cps_dlq_store_ok(struct cps_dlq_store *s)
{
	return s && !s->in_tx && PQstatus(s->conn) == CONNECTION_OK &&
	       PQtransactionStatus(s->conn) == PQTRANS_IDLE;
}

/* ---- rows ---------------------------------------------------------------- */

static json_t *text_or_null(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

/* A source's dead letter, or a sink's with its link and unified version. */
static json_t *item_from_row(const PGresult *res, int row)
{
	json_t *it =
	    json_pack("{s:I, s:o, s:o, s:o, s:o, s:o, s:o, s:I, s:o, s:o}", "id",
	              (json_int_t)strtoll(PQgetvalue(res, row, 0), NULL, 10), "received_at",
	              text_or_null(res, row, 1), "platform", text_or_null(res, row, 2), "origin",
	              text_or_null(res, row, 3), "entity", text_or_null(res, row, 4), "reason",
	              text_or_null(res, row, 5), "status", text_or_null(res, row, 6), "size",
	              (json_int_t)strtoll(PQgetvalue(res, row, 7), NULL, 10), "note",
	              text_or_null(res, row, 8), "updated_at", text_or_null(res, row, 9));

	if (it && (json_object_set_new(it, "kind", text_or_null(res, row, 10)) < 0 ||
	           json_object_set_new(it, "link", text_or_null(res, row, 11)) < 0 ||
	           json_object_set_new(
	               it, "version",
	               PQgetisnull(res, row, 12)
	                   ? json_null()
	                   : json_integer(strtoll(PQgetvalue(res, row, 12), NULL, 10))) < 0)) {
		json_decref(it);
		it = NULL;
	}
	return it;
}

static const char *nonempty(const char *s)
{
	return s && *s ? s : NULL;
}

int cps_dlq_list(struct cps_dlq_store *s, const struct cps_dlq_filter *f, json_t **items,
                 int64_t *next_cursor, char *errstr, size_t errstr_size)
{
	static const char sql[] =
	    "SELECT " ITEM_COLUMNS " FROM cpsync.dead_letters "
	    "WHERE ($1::text IS NULL OR status = $1) AND ($2::text IS NULL OR platform = $2) "
	    "AND ($3::text IS NULL OR entity = $3) AND ($4::text IS NULL OR strpos(reason, $4) > "
	    "0) "
	    "AND ($5::bigint = 0 OR id < $5) ORDER BY id DESC LIMIT $6";
	char before[24], limit[24];
	const char *params[6];
	PGresult *res = NULL;
	json_t *arr;
	int rc, n;

	*items = NULL;
	*next_cursor = 0;
	snprintf(before, sizeof(before), "%" PRId64, f->before_id > 0 ? f->before_id : 0);
	/* one more than asked: whether a next page exists */
	snprintf(limit, sizeof(limit), "%zu", f->limit + 1);
	params[0] = nonempty(f->status);
	params[1] = nonempty(f->platform);
	params[2] = nonempty(f->entity);
	params[3] = nonempty(f->reason_contains);
	params[4] = before;
	params[5] = limit;
	rc = exec(s, "select from dead_letters", sql, 6, params, &res, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	arr = json_array();
	n = PQntuples(res);
	for (int i = 0; i < n && (size_t)i < f->limit; i++)
		if (!arr || json_array_append_new(arr, item_from_row(res, i)) < 0) {
			json_decref(arr);
			PQclear(res);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
	if ((size_t)n > f->limit && f->limit > 0)
		*next_cursor = strtoll(PQgetvalue(res, (int)f->limit - 1, 0), NULL, 10);
	PQclear(res);
	*items = arr;
	return CPS_OK;
}

int cps_dlq_get(struct cps_dlq_store *s, int64_t id, json_t **item, char *errstr,
                size_t errstr_size)
{
	static const char sql[] = "SELECT " ITEM_COLUMNS ", "
	                          "translate(encode(raw, 'base64'), E'\\n', ''), "
	                          "translate(encode(raw_key, 'base64'), E'\\n', '') "
	                          "FROM cpsync.dead_letters WHERE id = $1";
	char ids[24];
	const char *params[1] = {ids};
	PGresult *res = NULL;
	json_t *it;
	int rc;

	*item = NULL;
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	rc = exec(s, "select from dead_letters", sql, 1, params, &res, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (PQntuples(res) == 1) {
		it = item_from_row(res, 0);
		if (!it ||
		    json_object_set_new(it, "raw", text_or_null(res, 0, N_ITEM_COLUMNS)) < 0 ||
		    json_object_set_new(it, "key", text_or_null(res, 0, N_ITEM_COLUMNS + 1)) < 0) {
			json_decref(it);
			PQclear(res);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
		*item = it;
	}
	PQclear(res);
	return CPS_OK;
}

/* ---- replay -------------------------------------------------------------- */

void cps_dlq_locked_release(struct cps_dlq_locked *row)
{
	free(row->platform);
	free(row->origin);
	free(row->entity);
	free(row->status);
	free(row->kind);
	free(row->link);
	if (row->raw)
		PQfreemem(row->raw);
	if (row->raw_key)
		PQfreemem(row->raw_key);
	memset(row, 0, sizeof(*row));
}

static char *dup_col(const PGresult *res, int col, bool *oom)
{
	char *d;

	if (PQgetisnull(res, 0, col))
		return NULL;
	d = strdup(PQgetvalue(res, 0, col));
	if (!d)
		*oom = true;
	return d;
}

static unsigned char *bytes_col(const PGresult *res, int col, size_t *len, bool *oom)
{
	unsigned char *b;

	*len = 0;
	if (PQgetisnull(res, 0, col))
		return NULL;
	b = PQunescapeBytea((const unsigned char *)PQgetvalue(res, 0, col), len);
	if (!b)
		*oom = true;
	return b;
}

int cps_dlq_lock(struct cps_dlq_store *s, int64_t id, struct cps_dlq_locked *row, bool *found,
                 char *errstr, size_t errstr_size)
{
	static const char sql[] = "SELECT platform, origin, entity, status, raw, raw_key, "
	                          "raw_purged_at IS NOT NULL, kind, link, COALESCE(version, 0) "
	                          "FROM cpsync.dead_letters WHERE id = $1 FOR UPDATE";
	char ids[24];
	const char *params[1] = {ids};
	PGresult *res = NULL;
	bool oom = false;
	int rc;

	memset(row, 0, sizeof(*row));
	*found = false;
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	rc = begin(s, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	rc = exec(s, "lock of a dead letter", sql, 1, params, &res, errstr, errstr_size);
	if (rc != CPS_OK) {
		cps_dlq_rollback(s);
		return rc;
	}
	if (PQntuples(res) != 1) {
		PQclear(res);
		cps_dlq_rollback(s);
		return CPS_OK;
	}
	row->id = id;
	row->platform = dup_col(res, 0, &oom);
	row->origin = dup_col(res, 1, &oom);
	row->entity = dup_col(res, 2, &oom);
	row->status = dup_col(res, 3, &oom);
	row->raw = bytes_col(res, 4, &row->raw_len, &oom);
	row->raw_key = bytes_col(res, 5, &row->raw_key_len, &oom);
	row->raw_purged = PQgetvalue(res, 0, 6)[0] == 't';
	row->kind = dup_col(res, 7, &oom);
	row->link = dup_col(res, 8, &oom);
	row->version = strtoll(PQgetvalue(res, 0, 9), NULL, 10);
	PQclear(res);
	if (oom || !row->platform || !row->status || !row->kind) {
		cps_dlq_locked_release(row);
		cps_dlq_rollback(s);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	*found = true;
	return CPS_OK;
}

int cps_dlq_finish_replay(struct cps_dlq_store *s, const struct cps_dlq_locked *row, bool replayed,
                          const char *actor, const char *note, const char *new_reason, char *errstr,
                          size_t errstr_size)
{
	char ids[24];
	int rc;

	snprintf(ids, sizeof(ids), "%" PRId64, row->id);
	if (replayed) {
		const char *p[2] = {ids, note};
		json_t *before = json_pack("{s:s}", "status", row->status);
		json_t *after = json_pack("{s:s}", "status", "replayed");

		rc = exec(s, "update of a dead letter",
		          "UPDATE cpsync.dead_letters SET status = 'replayed', note = $2, "
		          "updated_at = now() WHERE id = $1",
		          2, p, NULL, errstr, errstr_size);
		if (rc == CPS_OK)
			rc = cps_dlq_audit(s, actor, "deadletter.replayed", "dead_letter", ids,
			                   before, after, note, errstr, errstr_size);
		json_decref(before);
		json_decref(after);
	} else {
		const char *p[2] = {ids, new_reason};

		rc = exec(s, "update of a dead letter",
		          "UPDATE cpsync.dead_letters SET reason = $2, updated_at = now() "
		          "WHERE id = $1",
		          2, p, NULL, errstr, errstr_size);
	}
	if (rc != CPS_OK) {
		cps_dlq_rollback(s);
		return rc;
	}
	return commit(s, errstr, errstr_size);
}

int cps_dlq_select_new(struct cps_dlq_store *s, const struct cps_dlq_filter *f, int64_t **ids,
                       size_t *n, char *errstr, size_t errstr_size)
{
	static const char sql[] =
	    "SELECT id FROM cpsync.dead_letters WHERE status = 'new' "
	    "AND ($1::text IS NULL OR platform = $1) AND ($2::text IS NULL OR entity = $2) "
	    "AND ($3::text IS NULL OR strpos(reason, $3) > 0) ORDER BY id LIMIT $4";
	char limit[24];
	const char *params[4];
	PGresult *res = NULL;
	int rc, rows;

	*ids = NULL;
	*n = 0;
	snprintf(limit, sizeof(limit), "%zu", f->limit);
	params[0] = nonempty(f->platform);
	params[1] = nonempty(f->entity);
	params[2] = nonempty(f->reason_contains);
	params[3] = limit;
	rc = exec(s, "select from dead_letters", sql, 4, params, &res, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	rows = PQntuples(res);
	*ids = calloc(rows ? (size_t)rows : 1, sizeof(**ids));
	if (!*ids) {
		PQclear(res);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	for (int i = 0; i < rows; i++)
		(*ids)[i] = strtoll(PQgetvalue(res, i, 0), NULL, 10);
	*n = (size_t)rows;
	PQclear(res);
	return CPS_OK;
}

/* ---- discard and audit --------------------------------------------------- */

int cps_dlq_discard(struct cps_dlq_store *s, int64_t id, const char *actor, const char *reason,
                    int *outcome, json_t **item, char *errstr, size_t errstr_size)
{
	char ids[24];
	const char *p[2] = {ids, reason};
	PGresult *res = NULL;
	json_t *before = NULL, *after = NULL;
	int rc;

	*outcome = 1;
	*item = NULL;
	snprintf(ids, sizeof(ids), "%" PRId64, id);
	rc = begin(s, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	rc = exec(s, "lock of a dead letter",
	          "SELECT status FROM cpsync.dead_letters WHERE id = $1 FOR UPDATE", 1, p, &res,
	          errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_rollback;
	if (PQntuples(res) != 1) {
		PQclear(res);
		cps_dlq_rollback(s);
		return CPS_OK;
	}
	if (strcmp(PQgetvalue(res, 0, 0), "new") != 0) {
		PQclear(res);
		cps_dlq_rollback(s);
		*outcome = 2;
		return cps_dlq_get(s, id, item, errstr, errstr_size);
	}
	PQclear(res);
	rc = exec(s, "update of a dead letter",
	          "UPDATE cpsync.dead_letters SET status = 'discarded', note = $2, "
	          "updated_at = now() WHERE id = $1",
	          2, p, NULL, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_rollback;
	before = json_pack("{s:s}", "status", "new");
	after = json_pack("{s:s}", "status", "discarded");
	rc = cps_dlq_audit(s, actor, "deadletter.discarded", "dead_letter", ids, before, after,
	                   reason, errstr, errstr_size);
	json_decref(before);
	json_decref(after);
	if (rc != CPS_OK)
		goto out_rollback;
	rc = commit(s, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	*outcome = 0;
	return cps_dlq_get(s, id, item, errstr, errstr_size);

out_rollback:
	cps_dlq_rollback(s);
	return rc;
}

int cps_dlq_audit(struct cps_dlq_store *s, const char *actor, const char *action,
                  const char *entity, const char *key, json_t *before, json_t *after,
                  const char *reason, char *errstr, size_t errstr_size)
{
	char *b = before ? json_dumps(before, JSON_COMPACT) : NULL;
	char *a = after ? json_dumps(after, JSON_COMPACT) : NULL;
	const char *p[7] = {actor, action, entity, key, b, a, reason};
	int rc;

	if ((before && !b) || (after && !a))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	else
		rc = exec(s, "insert into audit",
		          "INSERT INTO cpsync.audit (actor, action, entity, key, before, after, "
		          "reason) VALUES ($1, $2, $3, $4, $5::jsonb, $6::jsonb, $7)",
		          7, p, NULL, errstr, errstr_size);
	free(b);
	free(a);
	return rc;
}

int cps_dlq_set_paused(struct cps_dlq_store *s, const char *link, bool paused, const char *actor,
                       const char *reason, char *errstr, size_t errstr_size)
{
	const char *p[3] = {link, actor, reason};

	if (!paused)
		return exec(s, "forget a pause", "DELETE FROM cpsync.paused_links WHERE link = $1",
		            1, p, NULL, errstr, errstr_size);
	return exec(s, "keep a pause",
	            "INSERT INTO cpsync.paused_links (link, paused_by, reason) VALUES ($1, $2, $3) "
	            "ON CONFLICT (link) DO UPDATE SET paused_by = EXCLUDED.paused_by, "
	            "paused_at = now(), reason = EXCLUDED.reason",
	            3, p, NULL, errstr, errstr_size);
}

int cps_dlq_paused_links(struct cps_dlq_store *s, json_t **links, char *errstr, size_t errstr_size)
{
	PGresult *res = NULL;
	int rc =
	    exec(s, "read the paused links", "SELECT link FROM cpsync.paused_links ORDER BY link",
	         0, NULL, &res, errstr, errstr_size);

	*links = NULL;
	if (rc != CPS_OK)
		return rc;
	*links = json_array();
	for (int i = 0; *links && i < PQntuples(res); i++)
		if (json_array_append_new(*links, json_string(PQgetvalue(res, i, 0))) < 0) {
			json_decref(*links);
			*links = NULL;
		}
	PQclear(res);
	if (!*links)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return CPS_OK;
}
