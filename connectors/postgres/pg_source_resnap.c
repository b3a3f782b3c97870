/*
 * The incremental snapshot of the postgres source (Netflix DBLog, Debezium's
 * incremental snapshot): a mapped table re-read in key-ordered chunks while
 * the stream goes on. Design, guarantee and progress table:
 * pg_source_resnap.md next to this file.
 */
#include "connectors/postgres/pg_source_int.h"

#include "base/clock.h"
#include "base/log.h"
#include "store/pgerr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define MSG_PREFIX "cpsync"
/* How often an idle source looks for requests by itself: the request's
 * message can reach it a moment before the request's row is visible. */
#define RESNAP_CHECK_MS 3000

static const char create_sql[] =
    "slot text NOT NULL, tbl text NOT NULL, "
    "state text NOT NULL CHECK (state IN ('requested', 'running', 'done')), "
    "cause text NOT NULL, last_key text, chunks bigint NOT NULL DEFAULT 0, "
    "rows_read bigint NOT NULL DEFAULT 0, requested_at timestamptz NOT NULL DEFAULT now(), "
    "finished_at timestamptz, PRIMARY KEY (slot, tbl)";

/* -------------------------------------------------- the progress table */

/* "schema.table" of the setting, quoted for SQL into out; -1 when malformed. */
static int progress_name(PGconn *c, const char *setting, char *out, size_t size)
{
	const char *dot = strchr(setting, '.');
	char *qs, *qt;
	int n;

	if (!dot || dot == setting || !dot[1] || strchr(dot + 1, '.'))
		return -1;
	qs = PQescapeIdentifier(c, setting, (size_t)(dot - setting));
	qt = PQescapeIdentifier(c, dot + 1, strlen(dot + 1));
	n = qs && qt ? snprintf(out, size, "%s.%s", qs, qt) : -1;
	PQfreemem(qs);
	PQfreemem(qt);
	return n < 0 || (size_t)n >= size ? -1 : 0;
}

int pg_source_state_table(PGconn *c, const char *name, const char *columns, char *quoted,
                          size_t quoted_size, char *errstr, size_t errstr_size)
{
	const char *params[1] = {name};
	char sql[1024];
	PGresult *r;
	bool exists;

	if (progress_name(c, name, quoted, quoted_size) < 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "state table setting '%s' is not schema.table", name);
	r = PQexecParams(c, "SELECT to_regclass($1) IS NOT NULL", 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                  "reading whether table '%s' exists failed", name);
	}
	exists = !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	if (exists)
		return CPS_OK;
	snprintf(sql, sizeof(sql), "CREATE TABLE %s (%s)", quoted, columns);
	r = PQexec(c, sql);
	if (PQresultStatus(r) != PGRES_COMMAND_OK) {
		int code = PQresultErrorField(r, PG_DIAG_SQLSTATE) &&
		                   !strcmp(PQresultErrorField(r, PG_DIAG_SQLSTATE), "42P07")
		               ? CPS_OK /* created meanwhile */
		               : CPS_ERR_FATAL;

		PQclear(r);
		return code == CPS_OK
		           ? CPS_OK
		           : cps_seterr(code, errstr, errstr_size,
		                        "creating the state table '%s' failed (the city user "
		                        "needs CREATE on its schema)",
		                        name);
	}
	PQclear(r);
	return CPS_OK;
}

int pg_source_resnap_table(PGconn *c, const char *name, char *quoted, size_t quoted_size,
                           char *errstr, size_t errstr_size)
{
	return pg_source_state_table(c, name, create_sql, quoted, quoted_size, errstr, errstr_size);
}

/* A command with text parameters on the source's SQL session; false (logged)
 * when it failed. *out, when not NULL, gets a tuples result. */
static bool sql_params(struct pg_source *s, const char *sql, int n, const char *const *params,
                       PGresult **out, const char *what)
{
	PGresult *r = PQexecParams(s->sql, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK) {
		char why[256];

		cps_pg_safe_message(r, s->sql, why, sizeof(why));
		cps_log_warn("PGSRC", "postgres source '%s': %s failed: %s", s->platform, what,
		             why);
		PQclear(r);
		return false;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return true;
}

static void table_name(const struct cps_pg_table *t, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%s", t->nspname, t->relname);
}

static void show(struct resnap *z, const char *table, const char *state, int64_t chunks,
                 int64_t rows)
{
	snprintf(z->shown_table, sizeof(z->shown_table), "%s", table);
	snprintf(z->shown_state, sizeof(z->shown_state), "%s", state);
	z->shown_chunks = chunks;
	z->shown_rows = rows;
}

/* Every mapped table without a row for this slot is requested: it was
 * mapped after the slot's snapshot (or that snapshot never committed). */
static void request_unsnapshotted(struct pg_source *s)
{
	char sql[400], tbl[300];

	snprintf(sql, sizeof(sql),
	         "INSERT INTO %s (slot, tbl, state, cause) VALUES ($1, $2, 'requested', 'mapping') "
	         "ON CONFLICT (slot, tbl) DO NOTHING RETURNING tbl",
	         s->resnap.progress);
	for (size_t i = 0; i < s->map->n; i++) {
		const char *params[2] = {s->slot, tbl};
		PGresult *r = NULL;

		table_name(&s->map->tables[i], tbl, sizeof(tbl));
		if (!sql_params(s, sql, 2, params, &r, "requesting a newly mapped table"))
			return;
		if (PQntuples(r) == 1)
			cps_log_info(
			    "PGSRC",
			    "postgres source '%s': table '%s' was never snapshotted for slot "
			    "'%s': an incremental snapshot is requested",
			    s->platform, tbl, s->slot);
		PQclear(r);
	}
}

/* What describe shows at open: the last snapshot asked for. */
static void load_shown(struct pg_source *s)
{
	const char *params[1] = {s->slot};
	char sql[400];
	PGresult *r = NULL;

	snprintf(sql, sizeof(sql),
	         "SELECT tbl, state, chunks, rows_read FROM %s WHERE slot = $1 AND cause <> "
	         "'initial' ORDER BY state <> 'done' DESC, coalesce(finished_at, requested_at) "
	         "DESC LIMIT 1",
	         s->resnap.progress);
	if (!sql_params(s, sql, 1, params, &r, "reading the snapshot progress"))
		return;
	if (PQntuples(r) == 1)
		show(&s->resnap, PQgetvalue(r, 0, 0), PQgetvalue(r, 0, 1),
		     strtoll(PQgetvalue(r, 0, 2), NULL, 10),
		     strtoll(PQgetvalue(r, 0, 3), NULL, 10));
	PQclear(r);
}

int pg_source_resnap_open(struct pg_source *s, bool slot_created, char *errstr, size_t errstr_size)
{
	struct resnap *z = &s->resnap;
	char err[CPS_ERRSTR_SIZE];

	z->table = -1;
	z->run = (uint64_t)getpid() << 40 ^ (uint64_t)cps_wall_ms();
	if (PQserverVersion(s->sql) < 140000) {
		cps_log_warn("PGSRC",
		             "postgres source '%s': PostgreSQL %d streams no logical messages "
		             "(14 or later does): no incremental snapshots",
		             s->platform, PQserverVersion(s->sql));
		return CPS_OK;
	}
	if (pg_source_resnap_table(s->sql, s->snapshot_table, z->progress, sizeof(z->progress), err,
	                           sizeof(err)) != CPS_OK) {
		if (strstr(err, "not schema.table"))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s", err);
		cps_log_warn("PGSRC", "postgres source '%s': %s: no incremental snapshots",
		             s->platform, err);
		return CPS_OK;
	}
	z->usable = true;
	if (!slot_created)
		request_unsnapshotted(s);
	z->reload = true;
	load_shown(s);
	return CPS_OK;
}

/* ------------------------------------------------------------ progress */

static int push_done(struct pg_source *s, int table, const char *last_key, int64_t rows,
                     bool finished)
{
	struct resnap *z = &s->resnap;
	struct resnap_done *d;

	if (cps_grow(&z->done, &z->cap_done, z->n_done + 1, sizeof(*z->done)) != 0)
		return -1;
	d = &z->done[z->n_done];
	d->last_key = last_key ? strdup(last_key) : NULL;
	if (last_key && !d->last_key)
		return -1;
	d->last_offset = s->last_offset;
	d->table = table;
	d->rows = rows;
	d->finished = finished;
	z->n_done++;
	return 0;
}

int pg_source_resnap_initial_done(struct pg_source *s)
{
	return s->resnap.usable ? push_done(s, -1, NULL, 0, true) : 0;
}

/* Makes one entry durable (a failure costs a re-read after a restart). */
static void persist(struct pg_source *s, const struct resnap_done *d)
{
	struct resnap *z = &s->resnap;
	char sql[600], tbl[300], rows[24];

	if (d->table < 0) {
		snprintf(sql, sizeof(sql),
		         "INSERT INTO %s (slot, tbl, state, cause, finished_at) VALUES ($1, $2, "
		         "'done', 'initial', now()) ON CONFLICT (slot, tbl) DO UPDATE SET state = "
		         "'done', cause = 'initial', finished_at = now()",
		         z->progress);
		for (size_t i = 0; i < s->map->n; i++) {
			const char *params[2] = {s->slot, tbl};

			table_name(&s->map->tables[i], tbl, sizeof(tbl));
			if (!sql_params(s, sql, 2, params, NULL, "recording the initial snapshot"))
				return;
		}
		return;
	}
	table_name(&s->map->tables[d->table], tbl, sizeof(tbl));
	snprintf(rows, sizeof(rows), "%" PRId64, d->rows);
	snprintf(sql, sizeof(sql),
	         "UPDATE %s SET last_key = coalesce($3, last_key), chunks = chunks + 1, "
	         "rows_read = rows_read + $4::bigint, state = CASE WHEN $5::bool THEN 'done' ELSE "
	         "state END, finished_at = CASE WHEN $5::bool THEN now() END WHERE slot = $1 AND "
	         "tbl = $2 AND state = 'running' RETURNING chunks, rows_read, state",
	         z->progress);
	{
		const char *params[5] = {s->slot, tbl, d->last_key, rows, d->finished ? "t" : "f"};
		PGresult *r = NULL;

		if (!sql_params(s, sql, 5, params, &r, "recording the snapshot progress"))
			return;
		if (PQntuples(r) == 1)
			show(z, tbl, PQgetvalue(r, 0, 2), strtoll(PQgetvalue(r, 0, 0), NULL, 10),
			     strtoll(PQgetvalue(r, 0, 1), NULL, 10));
		if (d->finished)
			cps_log_info("PGSRC",
			             "postgres source '%s': incremental snapshot of '%s' done "
			             "(%s chunks, %s rows)",
			             s->platform, tbl, PQntuples(r) ? PQgetvalue(r, 0, 0) : "?",
			             PQntuples(r) ? PQgetvalue(r, 0, 1) : "?");
		PQclear(r);
	}
}

void pg_source_resnap_committed(struct pg_source *s)
{
	struct resnap *z = &s->resnap;
	size_t k = 0;

	while (k < z->n_done && z->done[k].last_offset <= s->committed_offset) {
		persist(s, &z->done[k]);
		free(z->done[k].last_key);
		k++;
	}
	if (k) {
		memmove(z->done, z->done + k, (z->n_done - k) * sizeof(*z->done));
		z->n_done -= k;
	}
}

/* ------------------------------------------------------------- requests */

static int table_by_name(struct pg_source *s, const char *name)
{
	char tbl[300];

	for (size_t i = 0; i < s->map->n; i++) {
		table_name(&s->map->tables[i], tbl, sizeof(tbl));
		if (!strcmp(tbl, name))
			return (int)i;
	}
	return -1;
}

/* The next waiting table (running first: a restart resumes it), started. */
static void load_next(struct pg_source *s)
{
	struct resnap *z = &s->resnap;
	const char *params[2] = {s->slot, NULL};
	char sql[500];
	PGresult *r = NULL;
	bool resumed;

	z->reload = false;
	z->next_check_ms = cps_mono_ms() + RESNAP_CHECK_MS;
	snprintf(sql, sizeof(sql),
	         "SELECT tbl, state, last_key, chunks, rows_read, count(*) OVER () FROM %s WHERE "
	         "slot = $1 AND state IN ('requested', 'running') ORDER BY state = 'running' DESC, "
	         "requested_at, tbl LIMIT 1",
	         z->progress);
	if (!sql_params(s, sql, 1, params, &r, "reading the snapshot requests"))
		return;
	if (PQntuples(r) == 0) {
		PQclear(r);
		return;
	}
	params[1] = PQgetvalue(r, 0, 0);
	z->table = table_by_name(s, params[1]);
	if (z->table < 0) {
		cps_log_warn(
		    "PGSRC",
		    "postgres source '%s': table '%s' was asked to be snapshotted but is no "
		    "longer mapped: dropped from the requests",
		    s->platform, params[1]);
		snprintf(sql, sizeof(sql), "DELETE FROM %s WHERE slot = $1 AND tbl = $2",
		         z->progress);
		sql_params(s, sql, 2, params, NULL, "dropping a request");
		PQclear(r);
		z->reload = true;
		return;
	}
	free(z->last_key);
	z->last_key = NULL;
	z->chunks = z->rows = 0;
	resumed = !strcmp(PQgetvalue(r, 0, 1), "running");
	if (resumed) {
		z->last_key = PQgetisnull(r, 0, 2) ? NULL : strdup(PQgetvalue(r, 0, 2));
		z->chunks = strtoll(PQgetvalue(r, 0, 3), NULL, 10);
		z->rows = strtoll(PQgetvalue(r, 0, 4), NULL, 10);
	} else {
		snprintf(
		    sql, sizeof(sql),
		    "UPDATE %s SET state = 'running', last_key = NULL, chunks = 0, rows_read = "
		    "0 WHERE slot = $1 AND tbl = $2",
		    z->progress);
		if (!sql_params(s, sql, 2, params, NULL, "starting a snapshot")) {
			z->table = -1;
			z->reload = true;
			PQclear(r);
			return;
		}
	}
	z->waiting = strtoll(PQgetvalue(r, 0, 5), NULL, 10) - 1;
	z->chunk = CHUNK_NONE;
	show(z, params[1], "running", z->chunks, z->rows);
	cps_log_info("PGSRC",
	             "postgres source '%s': incremental snapshot of '%s' %s (chunks of %" PRId64
	             " rows, streaming goes on)",
	             s->platform, params[1], resumed ? "resumed" : "started", s->batch_rows);
	PQclear(r);
}

/* --------------------------------------------------------------- chunks */

static __thread const struct resnap *sort_z; /* qsort has no context argument */

static int key_cmp(const void *a, const void *b)
{
	const struct resnap *z = sort_z;

	return strcmp(PQgetvalue(z->res, *(const int *)a, z->key_field),
	              PQgetvalue(z->res, *(const int *)b, z->key_field));
}

/* The row of the chunk with key `key`, or -1. */
static int chunk_find(const struct resnap *z, const char *key)
{
	int lo = 0, hi = z->n_rows - 1;

	while (lo <= hi) {
		int mid = lo + (hi - lo) / 2;
		int c = strcmp(key, PQgetvalue(z->res, z->order[mid], z->key_field));

		if (c == 0)
			return z->order[mid];
		if (c < 0)
			hi = mid - 1;
		else
			lo = mid + 1;
	}
	return -1;
}

/* "xmin:xmax:xip,..." of pg_current_snapshot(); -1 when malformed. */
static int parse_snapshot(struct resnap *z, const char *text)
{
	char *end;
	size_t n = 1;

	z->xmin = strtoull(text, &end, 10);
	if (*end != ':')
		return -1;
	z->xmax = strtoull(end + 1, &end, 10);
	if (*end != ':')
		return -1;
	for (const char *p = end + 1; *p; p++)
		n += *p == ',';
	free(z->xip);
	z->xip = calloc(n, sizeof(*z->xip));
	z->n_xip = 0;
	if (!z->xip)
		return -1;
	for (const char *p = end + 1; *p;) {
		z->xip[z->n_xip++] = strtoull(p, &end, 10);
		if (end == p)
			return -1;
		p = *end == ',' ? end + 1 : end;
	}
	return 0;
}

/* Whether transaction xid (32 bits, from the stream) was committed and
 * visible to the chunk's snapshot. */
static bool xid_visible(const struct resnap *z, uint32_t xid)
{
	uint64_t x = z->xmin + (uint64_t)(int64_t)(int32_t)(xid - (uint32_t)z->xmin);

	if (x < z->xmin)
		return true;
	if (x >= z->xmax)
		return false;
	for (size_t i = 0; i < z->n_xip; i++)
		if (z->xip[i] == x)
			return false;
	return true;
}

static void chunk_free(struct resnap *z)
{
	PQclear(z->res);
	z->res = NULL;
	free(z->order);
	free(z->dropped);
	z->order = NULL;
	z->dropped = NULL;
	z->n_rows = z->flushed = 0;
	z->chunk = CHUNK_NONE;
}

static bool emit_watermark(struct pg_source *s, const char *kind)
{
	char content[CPS_STREAM_MAX + 64];
	const char *params[1] = {content};

	snprintf(content, sizeof(content), "%s %s %" PRIu64 " %" PRIu32, s->slot, kind,
	         s->resnap.run, s->resnap.chunk_no);
	return sql_params(s, "SELECT pg_logical_emit_message(true, '" MSG_PREFIX "', $1)", 1,
	                  params, NULL, "emitting a watermark");
}

/* The table's chunk past last_key between a low and a high watermark. */
static int chunk_read(struct pg_source *s, char *errstr, size_t errstr_size)
{
	struct resnap *z = &s->resnap;
	struct cps_pg_table *t = &s->map->tables[z->table];
	const char *params[1] = {z->last_key};
	char sql[1024];
	char *qkey = PQescapeIdentifier(s->sql, t->key_column, strlen(t->key_column));
	PGresult *r = NULL;
	int nf;

	if (!qkey)
		return pg_source_conn_error(s, s->sql, "quoting the key column", errstr,
		                            errstr_size);
	snprintf(sql, sizeof(sql),
	         "SELECT *, pg_current_snapshot()::text AS cps_snapshot FROM %s %s%s%s ORDER BY "
	         "%s LIMIT %" PRId64,
	         t->qualified, z->last_key ? "WHERE " : "", z->last_key ? qkey : "",
	         z->last_key ? " > $1" : "", qkey, s->batch_rows);
	PQfreemem(qkey);
	z->chunk_no++;
	if (!emit_watermark(s, "lw"))
		return pg_source_conn_error(s, s->sql, "low watermark", errstr, errstr_size);
	r = PQexecParams(s->sql, sql, z->last_key ? 1 : 0, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return pg_source_conn_error(s, s->sql, "snapshot chunk", errstr, errstr_size);
	}
	z->res = r;
	z->n_rows = PQntuples(r);
	z->last_chunk = z->n_rows < s->batch_rows;
	if (z->n_rows == 0) {
		chunk_free(z);
		if (push_done(s, z->table, NULL, 0, true) < 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		z->table = -1;
		z->reload = true;
		return CPS_OK;
	}
	nf = PQnfields(r);
	z->key_field = -1;
	for (int i = 0; i < nf; i++)
		if (!strcmp(PQfname(r, i), t->key_column))
			z->key_field = i;
	z->order = calloc((size_t)z->n_rows, sizeof(int));
	z->dropped = calloc((size_t)z->n_rows, sizeof(bool));
	if (!z->order || !z->dropped || z->key_field < 0 ||
	    parse_snapshot(z, PQgetvalue(r, 0, nf - 1)) < 0) {
		chunk_free(z);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "postgres source '%s': snapshot chunk of '%s.%s' unusable (key "
		                  "column, snapshot or memory)",
		                  s->platform, t->nspname, t->relname);
	}
	for (int i = 0; i < z->n_rows; i++)
		z->order[i] = i;
	sort_z = z;
	qsort(z->order, (size_t)z->n_rows, sizeof(int), key_cmp);
	if (s->chunk_delay_ms > 0) {
		struct timespec ts = {s->chunk_delay_ms / 1000,
		                      (s->chunk_delay_ms % 1000) * 1000000};

		nanosleep(&ts, NULL);
	}
	if (!emit_watermark(s, "hw")) {
		chunk_free(z);
		return pg_source_conn_error(s, s->sql, "high watermark", errstr, errstr_size);
	}
	z->chunk = CHUNK_SELECTED;
	return CPS_OK;
}

/* Hands out the ready chunk's rows the stream did not change, up to max. */
static int chunk_flush(struct pg_source *s, size_t max, bool *hold, char *errstr,
                       size_t errstr_size)
{
	struct resnap *z = &s->resnap;
	struct cps_pg_table *t = &s->map->tables[z->table];
	int rows[256];
	size_t n = 0;
	char lsn[40], at[64];
	int64_t first = z->flushed;
	int rc;

	while (z->flushed < z->n_rows && s->n_msgs + n < max && n < CPS_ARRAY_SIZE(rows)) {
		if (!z->dropped[z->flushed])
			rows[n++] = z->flushed;
		z->flushed++;
	}
	cps_pgo_lsn_format(z->hw_lsn, lsn, sizeof(lsn));
	snprintf(at, sizeof(at), "resnapshot@%s", lsn);
	rc = pg_source_emit_result_rows(s, t, z->res, rows, n, z->hw_lsn, at, first,
	                                z->hw_commit_ms, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	z->rows += (int64_t)n;
	if (z->flushed < z->n_rows) {
		*hold = true;
		return CPS_OK;
	}
	{
		int64_t emitted = 0;

		for (int i = 0; i < z->n_rows; i++)
			emitted += !z->dropped[i];
		free(z->last_key);
		z->last_key = strdup(PQgetvalue(z->res, z->n_rows - 1, z->key_field));
		if (!z->last_key ||
		    push_done(s, z->table, z->last_key, emitted, z->last_chunk) < 0) {
			chunk_free(z);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		}
	}
	z->chunks++;
	chunk_free(z);
	if (z->last_chunk) {
		z->table = -1;
		z->reload = true;
	}
	return CPS_OK;
}

static bool finish_pending(const struct resnap *z)
{
	for (size_t i = 0; i < z->n_done; i++)
		if (z->done[i].finished)
			return true;
	return false;
}

int pg_source_resnap_poll(struct pg_source *s, size_t max, bool *hold, char *errstr,
                          size_t errstr_size)
{
	struct resnap *z = &s->resnap;
	int rc = CPS_OK;

	*hold = false;
	if (!z->usable)
		return CPS_OK;
	if (z->n_done)
		pg_source_resnap_committed(s); /* what needed no commit (an empty snapshot) */
	if (z->chunk == CHUNK_READY) {
		rc = chunk_flush(s, max, hold, errstr, errstr_size);
		if (rc != CPS_OK || *hold)
			return rc;
	}
	/* a table read to its end waits until that is durable: read again now,
	 * its row would still say running */
	if (z->table < 0 && (z->reload || cps_mono_ms() >= z->next_check_ms) && !finish_pending(z))
		load_next(s);
	/* a chunk per poll at most: the batch before it leaves first, so its
	 * progress can be committed while the next chunk is read */
	if (z->table >= 0 && z->chunk == CHUNK_NONE && s->n_msgs == 0)
		rc = chunk_read(s, errstr, errstr_size);
	return rc;
}

/* ------------------------------------------------------------ the stream */

void pg_source_resnap_message(struct pg_source *s, const struct cps_pgo_msg *m, uint64_t lsn)
{
	struct resnap *z = &s->resnap;
	char content[CPS_STREAM_MAX + 64], kind[8];
	uint64_t run;
	uint32_t chunk;

	if (!z->usable || !m->name || strcmp(m->name, MSG_PREFIX) != 0 ||
	    m->content_len >= sizeof(content))
		return;
	memcpy(content, m->content, m->content_len);
	content[m->content_len] = '\0';
	if (strncmp(content, s->slot, s->slot_len) != 0 || content[s->slot_len] != ' ')
		return;
	if (!strcmp(content + s->slot_len + 1, "request")) {
		z->reload = true;
		return;
	}
	if (sscanf(content + s->slot_len + 1, "%7s %" SCNu64 " %" SCNu32, kind, &run, &chunk) !=
	        3 ||
	    run != z->run || chunk != z->chunk_no)
		return; /* another instance's, or a chunk before a restart */
	if (!strcmp(kind, "lw") && z->chunk == CHUNK_SELECTED) {
		z->chunk = CHUNK_WINDOW;
	} else if (!strcmp(kind, "hw") && z->chunk == CHUNK_WINDOW) {
		z->chunk = CHUNK_READY;
		z->hw_lsn = lsn;
		z->hw_commit_ms = s->txn_commit_ms;
		z->flushed = 0;
	}
}

bool pg_source_resnap_watching(struct pg_source *s, const struct cps_pg_table *t)
{
	const struct resnap *z = &s->resnap;

	return (z->chunk == CHUNK_SELECTED || z->chunk == CHUNK_WINDOW) &&
	       pg_source_table_index(s, t) == z->table;
}

void pg_source_resnap_change(struct pg_source *s, const struct cps_pg_table *t, const char *key)
{
	struct resnap *z = &s->resnap;
	int row;

	if (!key || !pg_source_resnap_watching(s, t))
		return;
	/* before the low watermark, a change the chunk already saw is in it */
	if (z->chunk == CHUNK_SELECTED && xid_visible(z, s->txn_xid))
		return;
	row = chunk_find(z, key);
	if (row >= 0)
		z->dropped[row] = true;
}

/* --------------------------------------------------------------- status */

void pg_source_resnap_describe(struct pg_source *s, struct cps_conn_status *st)
{
	const struct resnap *z = &s->resnap;

	snprintf(st->snapshot_table, sizeof(st->snapshot_table), "%s", z->shown_table);
	snprintf(st->snapshot_state, sizeof(st->snapshot_state), "%s", z->shown_state);
	st->snapshot_chunks = z->table >= 0 ? z->chunks : z->shown_chunks;
	st->snapshot_rows = z->table >= 0 ? z->rows : z->shown_rows;
	st->snapshot_waiting = z->table >= 0 ? z->waiting : 0;
}

void pg_source_resnap_release(struct pg_source *s)
{
	struct resnap *z = &s->resnap;

	chunk_free(z);
	free(z->xip);
	free(z->last_key);
	for (size_t i = 0; i < z->n_done; i++)
		free(z->done[i].last_key);
	free(z->done);
}
