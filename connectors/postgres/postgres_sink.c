/*
 * The postgres sink (the city's inbound tables): unified changes upserted in
 * one transaction per flush, sent in libpq pipeline mode as statements
 * prepared once per shape and connection (pg_sink_stmt.c), idempotent by
 * (key, version): INSERT ... ON CONFLICT (key) DO UPDATE ... WHERE the stored
 * version is older. The session carries the replication origin "cpsync" so
 * that the city's logical decoding marks these writes and the source skips
 * them. Records are CPS_SINK_FORMAT_JSON (connectors/sink.h).
 */
#include "connectors/connector.h"
#include "base/arena.h"
#include "base/clock.h"
#include "connectors/postgres/pg_sink_stmt.h"
#include "connectors/postgres/postgres_int.h"
#include "connectors/sink.h"
#include "store/pgerr.h"

#include <libpq-fe.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SESSION_OPTIONS "-c datestyle=ISO -c timezone=UTC"
#define PIPELINE_DEPTH  256 /* queries sent before the results are read */

static const struct cps_setting_decl sink_settings[] = {
    {"column.*", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_SINK,
     "column.<entity>.<field>: the column a field is written to (default: the field name)"},
    {"key_column", CPS_SETTING_STRING, "cpsync_key", 0, 0, CPS_SETTING_SINK,
     "column holding the entity key: the upsert's conflict target (unique)"},
    {"version_column", CPS_SETTING_STRING, "cpsync_version", 0, 0, CPS_SETTING_SINK,
     "bigint column holding the unified version: an older version never overwrites a newer"},
    {"origin", CPS_SETTING_STRING, "cpsync", 0, 0, CPS_SETTING_SINK,
     "replication origin the sink's session writes under (the source's ignore_origin)"},
};

struct pg_sink {
	struct cps_conn base;
	PGconn *db;
	char *conninfo; /* these four in `strings` */
	char *origin;
	char *key_column, *version_column;
	struct cps_arena strings;
	struct cps_settings map; /* table.<entity>, column.<entity>.<field> */
	struct pg_sink_change *pending;
	size_t n_pending, cap_pending;
	struct cps_arena batch;        /* the pending changes' strings, reset at each flush */
	struct pg_sink_shapes shapes;  /* prepared on `db`: they die with it */
	struct cps_conn_status counts; /* enqueued, delivered, failed, errors, last_* */
};

static int sink_fail(struct pg_sink *k, int rc, char *errstr, size_t errstr_size, const char *fmt,
                     ...) __attribute__((format(printf, 5, 6)));

static int sink_fail(struct pg_sink *k, int rc, char *errstr, size_t errstr_size, const char *fmt,
                     ...)
{
	va_list ap;

	k->counts.errors++;
	va_start(ap, fmt);
	vsnprintf(k->counts.last_error, sizeof(k->counts.last_error), fmt, ap);
	va_end(ap);
	return cps_seterr(rc, errstr, errstr_size, "%s", k->counts.last_error);
}

static void pending_clear(struct pg_sink *k)
{
	cps_arena_reset(&k->batch);
	k->n_pending = 0;
}

static void pg_sink_close(struct cps_conn *c)
{
	struct pg_sink *k = (struct pg_sink *)c;

	if (!k)
		return;
	free(k->pending);
	cps_arena_release(&k->batch);
	pg_sink_shapes_release(&k->shapes);
	PQfinish(k->db);
	cps_arena_release(&k->strings);
	cps_settings_release(&k->map);
	free(k);
}

static int exec_simple(struct pg_sink *k, const char *sql, int n, const char *const *params,
                       char *errstr, size_t errstr_size)
{
	PGresult *res = PQexecParams(k->db, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(res);
	char why[256];

	if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
		PQclear(res);
		return CPS_OK;
	}
	cps_pg_safe_message(res, k->db, why, sizeof(why));
	PQclear(res);
	return sink_fail(k, PQstatus(k->db) == CONNECTION_OK ? CPS_ERR_FATAL : CPS_ERR_RETRIABLE,
	                 errstr, errstr_size, "%s", why);
}

/* Makes the origin this session's. One session at a time may have it: while
 * another instance's sink does (SQLSTATE 55006), this one stands by. */
static int setup_origin(struct pg_sink *k, char *errstr, size_t errstr_size)
{
	const char *params[1] = {k->origin};
	PGresult *res = PQexecParams(k->db, "SELECT pg_replication_origin_session_setup($1)", 1,
	                             NULL, params, NULL, NULL, 0);
	const char *state = PQresultErrorField(res, PG_DIAG_SQLSTATE);
	char why[256];
	int rc = CPS_OK;

	if (PQresultStatus(res) == PGRES_TUPLES_OK) {
		rc = CPS_OK;
	} else if (state && !strcmp(state, "55006")) {
		rc = cps_seterr(CPS_CONN_STANDBY, errstr, errstr_size,
		                "replication origin '%s' is in use by another instance's sink",
		                k->origin);
	} else {
		cps_pg_safe_message(res, k->db, why, sizeof(why));
		rc = sink_fail(k,
		               PQstatus(k->db) == CONNECTION_OK ? CPS_ERR_FATAL : CPS_ERR_RETRIABLE,
		               errstr, errstr_size, "%s", why);
	}
	PQclear(res);
	return rc;
}

/* Connects and sets the session's replication origin (created if missing). */
static int connect_db(struct pg_sink *k, char *errstr, size_t errstr_size)
{
	const char *keys[] = {"dbname", "options", "application_name", NULL};
	const char *vals[] = {k->conninfo, SESSION_OPTIONS, "cpsync-sink", NULL};
	const char *params[1] = {k->origin};
	char why[256];
	int rc;

	PQfinish(k->db);
	pg_sink_shapes_forget(&k->shapes, NULL); /* a new session has none prepared */
	k->db = PQconnectdbParams(keys, vals, 1 /* expand dbname as a conninfo */);
	if (PQstatus(k->db) != CONNECTION_OK) {
		snprintf(why, sizeof(why), "%s", PQerrorMessage(k->db));
		why[strcspn(why, "\n")] = '\0';
		return sink_fail(k, CPS_ERR_RETRIABLE, errstr, errstr_size,
		                 "connecting to the city database failed: %s", why);
	}
	rc = exec_simple(
	    k,
	    "SELECT pg_replication_origin_create($1) WHERE pg_replication_origin_oid($1) IS NULL",
	    1, params, errstr, errstr_size);
	if (rc != CPS_OK) /* a concurrent create: try once more */
		rc = exec_simple(
		    k,
		    "SELECT pg_replication_origin_create($1) WHERE pg_replication_origin_oid($1) IS NULL",
		    1, params, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = setup_origin(k, errstr, errstr_size);
	return rc == CPS_ERR_FATAL ? CPS_ERR_RETRIABLE : rc;
}

static int pg_sink_open(const char *platform, const struct cps_settings *settings,
                        struct cps_conn **out, char *errstr, size_t errstr_size)
{
	struct pg_sink *k = calloc(1, sizeof(*k));
	const struct cps_setting *kv;
	size_t it = 0;
	int rc;

	(void)platform;
	if (!k)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_settings_init(&k->map);
	cps_conn_status_reset(&k->counts);
	cps_arena_init(&k->batch, 0);
	cps_arena_init(&k->strings, 512);
	k->conninfo = cps_arena_strdup(&k->strings, cps_settings_get(settings, "conninfo"));
	k->origin = cps_arena_strdup(&k->strings, cps_settings_get(settings, "origin"));
	k->key_column = cps_arena_strdup(&k->strings, cps_settings_get(settings, "key_column"));
	k->version_column =
	    cps_arena_strdup(&k->strings, cps_settings_get(settings, "version_column"));
	if (!k->conninfo || !k->origin || !k->key_column || !k->version_column) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_close;
	}
	if (!*k->origin || !*k->key_column || !*k->version_column) {
		rc = cps_seterr(
		    CPS_ERR_INVALID, errstr, errstr_size,
		    "settings 'origin', 'key_column' and 'version_column' may not be empty");
		goto out_close;
	}
	while ((kv = cps_settings_next(settings, "table.", &it)))
		if (!strchr(kv->key + 6, '.') && cps_settings_set(&k->map, kv->key, kv->value) < 0)
			goto out_oom;
	it = 0;
	while ((kv = cps_settings_next(settings, "column.", &it)))
		if (cps_settings_set(&k->map, kv->key, kv->value) < 0)
			goto out_oom;
	rc = connect_db(k, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_close;
	*out = &k->base;
	return CPS_OK;

out_oom:
	rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
out_close:
	pg_sink_close(&k->base);
	return rc;
}

static const char *header(const struct cps_sink_record *r, const char *name, char *buf, size_t size)
{
	for (size_t i = 0; i < r->n_headers; i++)
		if (!strcmp(r->headers[i].name, name) && r->headers[i].value) {
			size_t n =
			    r->headers[i].value_len < size - 1 ? r->headers[i].value_len : size - 1;

			memcpy(buf, r->headers[i].value, n);
			buf[n] = '\0';
			return buf;
		}
	return NULL;
}

/* @locality the single thread that uses this sink */
static int pg_sink_put(struct cps_conn *c, const struct cps_sink_record *recs, size_t n,
                       size_t *accepted, char *errstr, size_t errstr_size)
{
	struct pg_sink *k = (struct pg_sink *)c;
	size_t i;
	int rc = CPS_OK;

	for (i = 0; i < n; i++) {
		const struct cps_sink_record *r = &recs[i];
		char version[32], op[16], tkey[128];
		struct pg_sink_change *p;
		int64_t v;

		if (!r->entity || !r->key ||
		    !header(r, CPS_SINK_HEADER_VERSION, version, sizeof(version))) {
			rc = sink_fail(k, CPS_ERR_INVALID, errstr, errstr_size, "%s",
			               "record without entity, key or cpsync-version header");
			break;
		}
		snprintf(tkey, sizeof(tkey), "table.%s", r->entity);
		if (!cps_settings_get(&k->map, tkey)) {
			/* a configuration error, not a poison record */
			rc = sink_fail(k, CPS_ERR_FATAL, errstr, errstr_size,
			               "no table for entity '%s' (set table.<entity>)", r->entity);
			break;
		}
		if (cps_setting_parse_int(version, &v) != CPS_OK || v <= 0) {
			rc = sink_fail(k, CPS_ERR_INVALID, errstr, errstr_size, "%s",
			               "cpsync-version header is not a positive integer");
			break;
		}
		if (cps_grow(&k->pending, &k->cap_pending, k->n_pending + 1, sizeof(*k->pending)) !=
		    0) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			break;
		}
		p = &k->pending[k->n_pending];
		p->entity = cps_arena_strdup(&k->batch, r->entity);
		p->key = cps_arena_strndup(&k->batch, r->key, r->key_len);
		p->json = r->value ? cps_arena_strndup(&k->batch, r->value, r->value_len) : "null";
		p->version = v;
		p->is_delete =
		    header(r, CPS_SINK_HEADER_OPERATION, op, sizeof(op)) && !strcmp(op, "DELETE");
		if (!p->entity || !p->key || !p->json) {
			/* what was copied stays in the batch arena until the flush */
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			break;
		}
		k->n_pending++;
		k->counts.enqueued++;
	}
	*accepted = i;
	return rc;
}

/* Reads the results of `n` pipelined statements and the sync. */
static int read_results(struct pg_sink *k, size_t n, char *errstr, size_t errstr_size)
{
	char why[256] = "";
	int rc = CPS_OK;

	for (size_t i = 0; i < n; i++) {
		PGresult *res;

		while ((res = PQgetResult(k->db))) {
			ExecStatusType st = PQresultStatus(res);

			if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK && rc == CPS_OK) {
				cps_pg_safe_message(res, k->db, why, sizeof(why));
				rc = pg_sink_upsert_error(res);
			}
			PQclear(res);
		}
		if (PQstatus(k->db) != CONNECTION_OK) {
			snprintf(why, sizeof(why), "connection lost");
			return sink_fail(k, CPS_ERR_RETRIABLE, errstr, errstr_size,
			                 "writing to the city database failed: %s", why);
		}
	}
	{
		PGresult *res = PQgetResult(k->db);

		if (PQresultStatus(res) != PGRES_PIPELINE_SYNC && rc == CPS_OK) {
			cps_pg_safe_message(res, k->db, why, sizeof(why));
			rc = CPS_ERR_RETRIABLE;
		}
		PQclear(res);
	}
	if (rc != CPS_OK)
		return sink_fail(k, rc, errstr, errstr_size,
		                 "upsert into the city database failed: %s", why);
	return CPS_OK;
}

/* The sink's connection and names, for its statements. */
static struct pg_sink_target sink_target(const struct pg_sink *k)
{
	return (struct pg_sink_target){k->db, &k->map, k->key_column, k->version_column};
}

/* Forgets the prepared shapes, and the connection too when its statements
 * could not be deallocated: statements and cache live and die together. */
static void forget_shapes(struct pg_sink *k)
{
	if (pg_sink_shapes_forget(&k->shapes, k->db) != 0) {
		PQfinish(k->db);
		k->db = NULL;
	}
}

/* Gives every statement its prepared shape, preparing the new ones. */
static int prepare_shapes(struct pg_sink *k, struct pg_sink_stmt *stmts, char *errstr,
                          size_t errstr_size)
{
	struct pg_sink_target t = sink_target(k);
	char why[256];

	for (size_t i = 0; i < k->n_pending; i++) {
		int rc = pg_sink_stmt_resolve(&k->shapes, &t, &k->pending[i], &stmts[i], why,
		                              sizeof(why));

		if (rc != CPS_OK)
			return sink_fail(k, rc, errstr, errstr_size,
			                 "upsert into the city database failed: %s", why);
	}
	return CPS_OK;
}

/* Sends the statements in pipeline mode, reading the results every
 * PIPELINE_DEPTH, and leaves pipeline mode (closing the connection when
 * that is impossible). */
static int send_pipelined(struct pg_sink *k, const struct pg_sink_stmt *stmts, char *errstr,
                          size_t errstr_size)
{
	size_t sent = 0, batch_start = 0;
	int rc = CPS_OK;

	if (PQenterPipelineMode(k->db) != 1)
		return sink_fail(k, CPS_ERR_RETRIABLE, errstr, errstr_size, "%s",
		                 "cannot enter pipeline mode");
	while (rc == CPS_OK && sent < k->n_pending) {
		if (pg_sink_stmt_send(k->db, &stmts[sent]) != 1) {
			rc = sink_fail(k, CPS_ERR_RETRIABLE, errstr, errstr_size, "%s",
			               "sending an upsert failed");
			break;
		}
		sent++;
		if (sent - batch_start == PIPELINE_DEPTH || sent == k->n_pending) {
			if (PQpipelineSync(k->db) != 1) {
				rc = sink_fail(k, CPS_ERR_RETRIABLE, errstr, errstr_size, "%s",
				               "pipeline sync failed");
				break;
			}
			rc = read_results(k, sent - batch_start, errstr, errstr_size);
			batch_start = sent;
		}
	}
	if (PQpipelineStatus(k->db) != PQ_PIPELINE_OFF && PQexitPipelineMode(k->db) != 1) {
		/* results left unread: the connection is unusable */
		PQfinish(k->db);
		k->db = NULL;
		pg_sink_shapes_forget(&k->shapes, NULL);
		if (rc == CPS_OK)
			rc = sink_fail(k, CPS_ERR_RETRIABLE, errstr, errstr_size, "%s",
			               "cannot leave pipeline mode");
	}
	return rc;
}

/* Writes every pending change in one transaction. @locality the sink's thread */
static int pg_sink_flush(struct cps_conn *c, int timeout_ms, char *errstr, size_t errstr_size)
{
	struct pg_sink *k = (struct pg_sink *)c;
	struct pg_sink_target t;
	struct pg_sink_stmt *stmts = NULL;
	size_t n_stmts = k->n_pending;
	int rc;

	(void)timeout_ms;
	if (k->n_pending == 0)
		return CPS_OK;
	if (k->db && k->shapes.n >= PG_SINK_MAX_SHAPES)
		forget_shapes(k); /* full: start over */
	if (!k->db || PQstatus(k->db) != CONNECTION_OK) {
		rc = connect_db(k, errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	stmts = calloc(n_stmts, sizeof(*stmts));
	if (!stmts)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	t = sink_target(k);
	for (size_t i = 0; i < k->n_pending; i++) {
		rc = pg_sink_stmt_build(&t, &k->pending[i], &stmts[i], errstr, errstr_size);
		if (rc != CPS_OK)
			goto out_release;
	}
	/* out of the transaction: a prepared statement outlives a rollback */
	rc = prepare_shapes(k, stmts, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_rollback;
	rc = exec_simple(k, "BEGIN", 0, NULL, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_release;
	rc = send_pipelined(k, stmts, errstr, errstr_size);
	if (!k->db) /* closed: the server rolled back */
		goto out_release;
	if (rc != CPS_OK)
		goto out_rollback;
	rc = exec_simple(k, "COMMIT", 0, NULL, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_release;
	k->counts.delivered += k->n_pending;
	k->counts.last_msg_ms = cps_wall_ms();
	pending_clear(k);
	goto out_release;

out_rollback:
	if (k->db && PQstatus(k->db) == CONNECTION_OK && PQtransactionStatus(k->db) != PQTRANS_IDLE)
		PQclear(PQexec(k->db, "ROLLBACK"));
	/* not the row's fault: the target may have changed under the prepared
	 * statements (a column dropped, retyped), so the retry prepares anew */
	if (rc != CPS_ERR_INVALID)
		forget_shapes(k);
	k->counts.failed += k->n_pending;
	pending_clear(k); /* the runner re-delivers what it did not commit */
out_release:
	for (size_t i = 0; i < n_stmts; i++)
		pg_sink_stmt_release(&stmts[i]);
	free(stmts);
	return rc;
}

uint64_t cps_postgres_sink_prepared(const struct cps_conn *c)
{
	const struct pg_sink *k = (const struct pg_sink *)c;

	if (!c || c->is_source || c->ops->sink_flush != pg_sink_flush)
		return 0;
	return k->shapes.prepared;
}

static void pg_sink_describe(struct cps_conn *c, struct cps_conn_status *st)
{
	struct pg_sink *k = (struct pg_sink *)c;

	*st = k->counts;
	st->lag = (int64_t)k->n_pending;
}

/* The sink side alone: postgres.c merges it with the source side. */
const struct cps_connector_ops cps_postgres_sink_side = {
    .version = CPS_CONNECTOR_API_VERSION,
    .type = "postgres",
    .settings = sink_settings,
    .n_settings = CPS_ARRAY_SIZE(sink_settings),
    .sink_open = pg_sink_open,
    .sink_put = pg_sink_put,
    .sink_flush = pg_sink_flush,
    .sink_close = pg_sink_close,
    .sink_describe = pg_sink_describe,
};
