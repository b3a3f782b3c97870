/*
 * The postgres source (the city): change capture over the streaming
 * replication protocol with the built-in pgoutput plugin through libpq,
 * with a consistent initial snapshot handed over to streaming through an
 * exported snapshot, or a polling mode (incrementing column + timestamp)
 * where replication rights are not granted. Each row leaves as the entity
 * record in Avro binary (framing raw); a delete as a tombstone (value NULL).
 *
 * Positions: stream = slot name, partition 0, offset = a "virtual LSN" that
 * is the change's own LSN made strictly increasing in stream order (so rows
 * of one transaction, and of transactions interleaved in WAL, stay unique and
 * ordered); snapshot rows take 1..N. The source keeps, per transaction seen
 * to its Commit, the offset of its last row and its end LSN: committing a
 * position confirms (flush) the end LSN of every transaction wholly at or
 * before it, never more. Origins read "<platform>:<commit LSN>#<row index>".
 */
#include "connectors/connector.h"
#include "connectors/builtin.h"

#include "codec/codec.h"
#include "base/log.h"
#include "connectors/postgres/pg_mapping.h"
#include "connectors/postgres/pgoutput.h"

#include <errno.h>
#include <inttypes.h>
#include <libpq-fe.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define SESSION_OPTIONS                                                                            \
	"-c datestyle=ISO -c timezone=UTC -c intervalstyle=iso_8601 -c extra_float_digits=3"
#define TOAST_CACHE_SLOTS 1024 /* per table, direct-mapped by key hash */
#define TOAST_MIN_LEN     1024 /* rows with a value this long may see 'u' later */
#define LAG_QUERY_MS      3000

static const struct cps_setting_decl pg_settings[] = {
    {"conninfo", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_BOTH | CPS_SETTING_REQUIRED,
     "libpq connection string of the city database (secret: may hold a password)"},
    {"schema_dir", CPS_SETTING_STRING, "schemas", 0, 0, CPS_SETTING_SOURCE,
     "directory of the entity schemas the rows are encoded in"},
    {"mode", CPS_SETTING_STRING, "replication", 0, 0, CPS_SETTING_SOURCE,
     "replication (pgoutput change capture) or polling (increment + timestamp columns)"},
    {"slot", CPS_SETTING_STRING, "cpsync_city", 0, 0, CPS_SETTING_SOURCE,
     "logical replication slot name"},
    {"publication", CPS_SETTING_STRING, "cpsync_city", 0, 0, CPS_SETTING_SOURCE,
     "publication the slot streams"},
    {"create_slot", CPS_SETTING_BOOL, "true", 0, 0, CPS_SETTING_SOURCE,
     "create the slot (with an initial snapshot) when it is missing"},
    {"create_publication", CPS_SETTING_BOOL, "true", 0, 0, CPS_SETTING_SOURCE,
     "create the publication for the mapped tables when it is missing"},
    {"ignore_origin", CPS_SETTING_STRING, "cpsync", 0, 0, CPS_SETTING_SOURCE,
     "replication origin whose changes are cpsync's own writes: skipped"},
    {"status_interval_ms", CPS_SETTING_INT, "10000", 100, 3600000, CPS_SETTING_SOURCE,
     "interval of standby status updates to the server"},
    {"max_slot_lag_bytes", CPS_SETTING_INT, "1073741824", 0, 0, CPS_SETTING_SOURCE,
     "slot lag beyond which the status reports an error (status only)"},
    {"poll_interval_ms", CPS_SETTING_INT, "1000", 10, 3600000, CPS_SETTING_SOURCE,
     "polling mode: pause between rounds that found nothing"},
    {"snapshot_batch", CPS_SETTING_INT, "1000", 1, 1000000, CPS_SETTING_SOURCE,
     "rows fetched per round trip in the initial snapshot and in polling"},
    {"table.*", CPS_SETTING_STRING, NULL, 0, 0, CPS_SETTING_BOTH,
     "table.<schema.table>.entity | .key | .column.<col> (field name) | .increment_column "
     "| .timestamp_column"},
};

enum phase { PHASE_SNAPSHOT, PHASE_STREAMING, PHASE_POLLING };

/* A committed transaction: its last row's offset and the LSN past its commit. */
struct txn_mark {
	int64_t last_offset;
	uint64_t end_lsn;
};

struct cached_row {
	char *key;
	size_t n;
	char **names, **values; /* values[i] NULL = SQL NULL */
};

/* The column plan of one relation, rebuilt by each Relation message. */
struct relplan {
	struct cps_pg_plan plan;
	struct relplan *next;
};

struct table_state {
	struct cps_codec *codec;
	struct cached_row *toast; /* TOAST_CACHE_SLOTS, lazily allocated */
	char *last_ts, *last_inc; /* polling progress */
	int64_t poll_seq;
};

struct pg_source {
	struct cps_conn base;
	char platform[CPS_PLATFORM_MAX];
	char *conninfo, *slot, *publication, *ignore_origin;
	bool create_slot, create_publication, polling;
	int64_t status_interval_ms, poll_interval_ms, batch_rows, max_lag_bytes;
	struct cps_catalog *catalog;
	struct cps_pg_mapping *map;
	struct table_state *ts; /* parallel to map->tables */
	PGconn *repl, *sql;
	enum phase phase;
	bool streaming_started, copy_done;
	/* snapshot */
	char snapshot_name[128];
	uint64_t consistent_lsn;
	size_t snap_table;
	bool snap_cursor_open, snap_txn_open;
	/* streaming */
	struct cps_pgo_decoder dec;
	struct cps_pgo_relcache rels;
	bool in_txn, skip_txn;
	uint64_t txn_final_lsn;
	int64_t txn_commit_ms;
	uint32_t txn_row;
	int64_t last_offset, committed_offset;
	struct txn_mark *marks;
	size_t n_marks, cap_marks;
	uint64_t flushed_lsn;    /* reported to the server as write/flush/apply */
	uint64_t server_wal_end; /* from keepalives and XLogData */
	int64_t last_status_ms;
	/* the batch handed out by the last poll */
	struct cps_source_msg *msgs;
	size_t n_msgs, cap_msgs;
	struct cps_buf arena;     /* keys and values of the batch; pointers fixed at the end */
	struct cps_buf row;       /* NUL-terminated copies of one tuple's values */
	struct cps_pg_text *vals; /* one row's values, over row or a PGresult */
	size_t cap_vals;
	struct relplan *plans;              /* owned; reached through the relcache's user */
	struct cps_pg_plan result_plan;     /* of the last snapshot/polling result */
	char origin_prefix[CPS_ORIGIN_MAX]; /* "<platform>:<at>#" */
	size_t origin_prefix_len, slot_len;
	/* status */
	int64_t lag_bytes, last_commit_ms, last_lag_query_ms;
	uint64_t received, committed, errors;
	char last_error[256];
};

static int64_t mono_ms(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

static int64_t wall_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
}

/* A one-line libpq error without the trailing newline. */
static const char *pq_err(PGconn *c)
{
	static __thread char buf[256];
	size_t n;

	snprintf(buf, sizeof(buf), "%s", c ? PQerrorMessage(c) : "no connection");
	n = strcspn(buf, "\n");
	buf[n] = '\0';
	return buf;
}

static int conn_error(struct pg_source *s, PGconn *c, const char *what, char *errstr,
                      size_t errstr_size)
{
	int code = PQstatus(c) == CONNECTION_OK ? CPS_ERR_FATAL : CPS_ERR_RETRIABLE;

	s->errors++;
	snprintf(s->last_error, sizeof(s->last_error), "%s: %s", what, pq_err(c));
	return cps_seterr(code, errstr, errstr_size, "postgres source '%s': %s: %s",
	                       s->platform, what, pq_err(c));
}

static PGconn *connect_db(const char *conninfo, bool replication)
{
	const char *keys[] = {"dbname", "replication", "options", "fallback_application_name",
	                      NULL};
	const char *vals[] = {conninfo, replication ? "database" : NULL, SESSION_OPTIONS, "cpsync",
	                      NULL};

	if (!replication) {
		keys[1] = "options";
		vals[1] = SESSION_OPTIONS;
		keys[2] = "fallback_application_name";
		vals[2] = "cpsync";
		keys[3] = NULL;
	}
	return PQconnectdbParams(keys, vals, 1);
}

/* Runs a command expecting `want`; on failure fills errstr. */
static int exec_expect(struct pg_source *s, PGconn *c, const char *sql, ExecStatusType want,
                       PGresult **out, const char *what, char *errstr, size_t errstr_size)
{
	PGresult *r = PQexec(c, sql);

	if (PQresultStatus(r) != want) {
		int rc = conn_error(s, c, what, errstr, errstr_size);

		PQclear(r);
		return rc;
	}
	if (out)
		*out = r;
	else
		PQclear(r);
	return CPS_OK;
}

/* ------------------------------------------------------------ the batch */

static void batch_reset(struct pg_source *s)
{
	s->n_msgs = 0;
	cps_buf_reset(&s->arena);
}

/* A new message whose key/value are arena offsets until batch_finish. */
static struct cps_source_msg *batch_add(struct pg_source *s)
{
	struct cps_source_msg *m;

	if (s->n_msgs == s->cap_msgs) {
		size_t cap = s->cap_msgs ? s->cap_msgs * 2 : 256;
		struct cps_source_msg *p = realloc(s->msgs, cap * sizeof(*p));

		if (!p)
			return NULL;
		s->msgs = p;
		s->cap_msgs = cap;
	}
	m = &s->msgs[s->n_msgs++];
	memset(m, 0, sizeof(*m));
	m->source_ts_ms = -1;
	return m;
}

static void batch_finish(struct pg_source *s, struct cps_source_batch *b)
{
	for (size_t i = 0; i < s->n_msgs; i++) {
		struct cps_source_msg *m = &s->msgs[i];

		if (m->key)
			m->key = s->arena.data + ((uintptr_t)m->key - 1);
		if (m->value)
			m->value = s->arena.data + ((uintptr_t)m->value - 1);
	}
	b->msgs = s->msgs;
	b->n = s->n_msgs;
	s->received += s->n_msgs;
}

/* ------------------------------------------------------- row encoding */

static int table_index(struct pg_source *s, const struct cps_pg_table *t)
{
	return (int)(t - s->map->tables);
}

/* Copies at most size-1 bytes of src and terminates; returns the length. */
static size_t copy_str(char *dst, size_t size, const char *src, size_t len)
{
	if (len >= size)
		len = size - 1;
	memcpy(dst, src, len);
	dst[len] = '\0';
	return len;
}

/* The origin up to the row index: "<platform>:<at>#"; rows then only append
 * their decimal index (see emit_row). */
static void set_origin_at(struct pg_source *s, const char *at)
{
	int n = snprintf(s->origin_prefix, sizeof(s->origin_prefix), "%s:%s#", s->platform, at);

	s->origin_prefix_len = n < 0 ? 0
	                       : (size_t)n >= sizeof(s->origin_prefix)
	                           ? sizeof(s->origin_prefix) - 1
	                           : (size_t)n;
}

/* "X/X" of an LSN, hand-written (the hot path formats one per transaction). */
static void lsn_text(uint64_t lsn, char *buf)
{
	static const char hex[] = "0123456789ABCDEF";
	uint32_t part[2] = {(uint32_t)(lsn >> 32), (uint32_t)lsn};
	char *p = buf;

	for (int k = 0; k < 2; k++) {
		int shift = 28;

		while (shift > 0 && !(part[k] >> shift & 0xF))
			shift -= 4;
		for (; shift >= 0; shift -= 4)
			*p++ = hex[part[k] >> shift & 0xF];
		if (k == 0)
			*p++ = '/';
	}
	*p = '\0';
}

/* Encodes one row (values of plan p's columns) as a message; value NULL for
 * a delete. A row that cannot be encoded leaves with an empty value, which
 * ingest refuses and dead-letters with its origin. */
static int emit_row(struct pg_source *s, struct cps_pg_plan *p, const struct cps_pg_text *vals,
                    bool is_delete, int64_t offset, uint64_t row, int64_t ts_ms, char *errstr,
                    size_t errstr_size)
{
	struct cps_pg_table *t = p->t;
	struct table_state *st = &s->ts[table_index(s, t)];
	struct cps_source_msg *m;
	char digits[24], *d = digits + sizeof(digits);
	size_t nd, at;
	int rc;

	m = batch_add(s);
	if (!m)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	m->entity = t->entity;
	if (s->polling)
		copy_str(m->pos.stream, sizeof(m->pos.stream), t->relname, strlen(t->relname));
	else
		copy_str(m->pos.stream, sizeof(m->pos.stream), s->slot, s->slot_len);
	m->pos.offset = offset;
	/* origin: the prefix and the row index in decimal */
	do {
		*--d = (char)('0' + row % 10);
		row /= 10;
	} while (row);
	nd = (size_t)(digits + sizeof(digits) - d);
	at = s->origin_prefix_len;
	memcpy(m->origin, s->origin_prefix, at);
	copy_str(m->origin + at, sizeof(m->origin) - at, d, nd);
	m->source_ts_ms = ts_ms;
	if (p->key_col >= 0 && vals[p->key_col].kind == 't') {
		m->key = (void *)(uintptr_t)(s->arena.len + 1);
		m->key_len = vals[p->key_col].len;
		if (cps_buf_append(&s->arena, vals[p->key_col].text, m->key_len) < 0)
			goto out_oom;
	}
	if (is_delete)
		return CPS_OK;
	rc = cps_pg_row_fill(p, vals, cps_codec_value(st->codec), errstr, errstr_size);
	if (rc == CPS_OK) {
		size_t start = s->arena.len;

		rc = cps_codec_encode(st->codec, cps_codec_value(st->codec), &s->arena, errstr,
		                      errstr_size);
		if (rc == CPS_OK) {
			m->value = (void *)(uintptr_t)(start + 1);
			m->value_len = s->arena.len - start;
		}
	}
	if (rc != CPS_OK) {
		/* the reason names the column and field, never the value */
		cps_log_warn("PGSRC", "row of '%s.%s' at %s: %s", t->nspname, t->relname, m->origin,
		             errstr);
		if (cps_buf_reserve(&s->arena, 1) < 0)
			goto out_oom;
		m->value = (void *)(uintptr_t)(s->arena.len + 1);
		m->value_len = 0;
	}
	return CPS_OK;
out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

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
static void toast_remember(struct table_state *st, const char *key, const struct cps_pg_plan *p,
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

static const struct cached_row *toast_lookup(struct table_state *st, const char *key)
{
	struct cached_row *r;

	if (!st->toast || !key)
		return NULL;
	r = &st->toast[hash_key(key) % TOAST_CACHE_SLOTS];
	return r->key && !strcmp(r->key, key) ? r : NULL;
}

/* The current value of `column` of the row with key `key`, read over the
 * normal connection (the TOAST value was not in the cache). */
static char *read_current_value(struct pg_source *s, struct cps_pg_table *t, const char *column,
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
/* ---------------------------------------------------------- streaming */

static int send_status(struct pg_source *s, bool force, char *errstr, size_t errstr_size)
{
	uint8_t msg[34];
	int64_t now = mono_ms();

	if (!s->streaming_started || s->copy_done)
		return CPS_OK;
	if (!force && now - s->last_status_ms < s->status_interval_ms)
		return CPS_OK;
	cps_pgo_status_update(msg, s->flushed_lsn, s->flushed_lsn, s->flushed_lsn,
	                      wall_us() - CPS_PG_EPOCH_OFFSET_US, false);
	if (PQputCopyData(s->repl, (const char *)msg, sizeof(msg)) <= 0 || PQflush(s->repl) < 0)
		return conn_error(s, s->repl, "standby status update", errstr, errstr_size);
	s->last_status_ms = now;
	return CPS_OK;
}

static int64_t next_offset(struct pg_source *s, uint64_t lsn)
{
	int64_t o = (int64_t)lsn;

	if (o <= s->last_offset)
		o = s->last_offset + 1;
	s->last_offset = o;
	return o;
}

static int push_mark(struct pg_source *s, uint64_t end_lsn)
{
	if (s->n_marks == s->cap_marks) {
		size_t cap = s->cap_marks ? s->cap_marks * 2 : 64;
		struct txn_mark *p = realloc(s->marks, cap * sizeof(*p));

		if (!p)
			return -1;
		s->marks = p;
		s->cap_marks = cap;
	}
	s->marks[s->n_marks].last_offset = s->last_offset;
	s->marks[s->n_marks].end_lsn = end_lsn;
	s->n_marks++;
	return 0;
}

/* Confirms every transaction wholly committed by the engine. */
static bool advance_flush(struct pg_source *s)
{
	size_t done = 0;
	uint64_t lsn = s->flushed_lsn;

	while (done < s->n_marks && s->marks[done].last_offset <= s->committed_offset) {
		if (s->marks[done].end_lsn > lsn)
			lsn = s->marks[done].end_lsn;
		done++;
	}
	if (done) {
		memmove(s->marks, s->marks + done, (s->n_marks - done) * sizeof(*s->marks));
		s->n_marks -= done;
	}
	/* nothing in flight: the server's WAL end may be confirmed (idle database) */
	if (s->phase == PHASE_STREAMING && !s->in_txn && s->n_marks == 0 &&
	    s->committed_offset >= s->last_offset && s->server_wal_end > lsn)
		lsn = s->server_wal_end;
	if (lsn == s->flushed_lsn)
		return false;
	s->flushed_lsn = lsn;
	return true;
}

/* The values of one tuple (plan p's columns) as NUL-terminated texts in
 * s->row, with unchanged TOAST values ('u') merged from the cache or the
 * database (still unknown: 'u', the field takes its default); *key_out is
 * the key column's text or NULL. No allocation once the buffers are grown. */
static int tuple_texts(struct pg_source *s, struct cps_pg_plan *p, const struct cps_pgo_tuple *tup,
                       struct cps_pg_text **out, const char **key_out)
{
	size_t n = p->ncols, total = 1;
	struct cps_pg_text *v;
	const struct cached_row *cached = NULL;
	bool toasted = false;

	if (n + 1 > s->cap_vals) {
		struct cps_pg_text *a = realloc(s->vals, (n + 1) * sizeof(*a));

		if (!a)
			return -1;
		s->vals = a;
		s->cap_vals = n + 1;
	}
	v = s->vals;
	cps_buf_reset(&s->row);
	for (size_t i = 0; i < n && i < tup->n; i++)
		if (tup->vals[i].kind == 't' || tup->vals[i].kind == 'b')
			total += tup->vals[i].len + 1;
	if (cps_buf_reserve(&s->row, total) < 0)
		return -1;
	/* texts as offsets into s->row until the end (a fetch may move it) */
	for (size_t i = 0; i < n; i++) {
		const struct cps_pgo_value *pv = i < tup->n ? &tup->vals[i] : NULL;

		v[i].text = NULL;
		v[i].len = 0;
		if (!pv || pv->kind == 'u' || pv->kind == 'n') {
			v[i].kind = pv && pv->kind == 'n' ? 'n' : 'u';
			toasted |= pv && pv->kind == 'u';
			continue;
		}
		v[i].kind = 't';
		v[i].text = (const char *)(uintptr_t)s->row.len;
		v[i].len = pv->len;
		memcpy(s->row.data + s->row.len, pv->data, pv->len);
		s->row.len += pv->len;
		s->row.data[s->row.len++] = '\0';
	}
	s->row.data[s->row.len] = '\0';
	for (size_t i = 0; toasted && i < n && i < tup->n; i++) {
		const char *key = NULL, *val = NULL;
		char *fetched = NULL;

		if (tup->vals[i].kind != 'u')
			continue;
		if (p->key_col >= 0 && v[p->key_col].kind == 't')
			key = (const char *)s->row.data + (uintptr_t)v[p->key_col].text;
		if (!cached)
			cached = toast_lookup(&s->ts[table_index(s, p->t)], key);
		for (size_t j = 0; cached && j < cached->n; j++)
			if (cached->names[j] && !strcmp(cached->names[j], p->colnames[i]))
				val = cached->values[j];
		if (!val && key)
			val = fetched = read_current_value(s, p->t, p->colnames[i], key);
		if (val) {
			size_t at = s->row.len, len = strlen(val);

			if (cps_buf_append(&s->row, val, len + 1) == 0) {
				v[i].kind = 't';
				v[i].text = (const char *)(uintptr_t)at;
				v[i].len = len;
			}
		}
		free(fetched);
	}
	for (size_t i = 0; i < n; i++)
		if (v[i].kind == 't')
			v[i].text = (const char *)s->row.data + (uintptr_t)v[i].text;
	*key_out = p->key_col >= 0 && v[p->key_col].kind == 't' ? v[p->key_col].text : NULL;
	*out = v;
	return 0;
}

static int handle_change(struct pg_source *s, const struct cps_pgo_msg *m, uint64_t lsn,
                         char *errstr, size_t errstr_size)
{
	struct cps_pgo_relation *rel = cps_pgo_relcache_get(&s->rels, m->relid);
	struct relplan *rp;
	struct cps_pg_plan *p;
	struct table_state *st;
	struct cps_pg_text *vals;
	const char *key = NULL, *old_key = NULL;
	bool is_delete = m->kind == CPS_PGO_DELETE;
	int rc;

	if (s->skip_txn)
		return CPS_OK;
	if (!rel)
		return cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size,
		                       "postgres source '%s': change for relation %" PRIu32
		                       " before its Relation message",
		                       s->platform, m->relid);
	rp = rel->user;
	if (!rp || !rp->plan.t)
		return CPS_OK;
	p = &rp->plan;
	st = &s->ts[table_index(s, p->t)];
	/* an update that changed the key: the old key goes away first */
	if (m->kind == CPS_PGO_UPDATE && m->old_kind) {
		if (tuple_texts(s, p, &m->old_tuple, &vals, &old_key) < 0)
			goto out_oom;
		if (old_key && p->key_col >= 0 && (size_t)p->key_col < m->new_tuple.n) {
			const struct cps_pgo_value *nv = &m->new_tuple.vals[p->key_col];
			size_t len = strlen(old_key);

			if (nv->kind == 't' && nv->len == len && !memcmp(nv->data, old_key, len))
				old_key = NULL;
		}
		if (old_key) {
			toast_remember(st, old_key, p, vals, true);
			rc = emit_row(s, p, vals, true, next_offset(s, lsn), s->txn_row++,
			              s->txn_commit_ms, errstr, errstr_size);
			if (rc != CPS_OK)
				return rc;
		}
	}
	if (tuple_texts(s, p, is_delete ? &m->old_tuple : &m->new_tuple, &vals, &key) < 0)
		goto out_oom;
	rc = emit_row(s, p, vals, is_delete, next_offset(s, lsn), s->txn_row++, s->txn_commit_ms,
	              errstr, errstr_size);
	toast_remember(st, key, p, vals, is_delete);
	return rc;
out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

/* A Relation message: the relation's column plan, (re)built once. */
static int handle_relation(struct pg_source *s, const struct cps_pgo_msg *m, char *errstr,
                           size_t errstr_size)
{
	struct cps_pgo_relation *rel = cps_pgo_relcache_put(&s->rels, m);
	struct relplan *rp;

	if (!rel)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rp = rel->user;
	if (!rp) {
		rp = calloc(1, sizeof(*rp));
		if (!rp)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		rp->next = s->plans;
		s->plans = rp;
		rel->user = rp;
	}
	return cps_pg_plan_build(&rp->plan, cps_pg_mapping_find(s->map, rel->nspname, rel->relname),
	                         rel->ncols, (const char *const *)rel->colnames, errstr,
	                         errstr_size);
}

static int handle_xlogdata(struct pg_source *s, const struct cps_pgo_frame *f, char *errstr,
                           size_t errstr_size)
{
	struct cps_pgo_msg m;
	char at[40];
	int rc;

	rc = cps_pgo_decode(&s->dec, f->data, f->len, &m, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc == CPS_ERR_INVALID ? CPS_ERR_FATAL : rc;
	switch (m.kind) {
	case CPS_PGO_BEGIN:
		s->in_txn = true;
		s->skip_txn = false;
		s->txn_final_lsn = m.lsn;
		s->txn_commit_ms = (m.commit_ts + CPS_PG_EPOCH_OFFSET_US) / 1000;
		s->txn_row = 0;
		lsn_text(m.lsn, at);
		set_origin_at(s, at);
		break;
	case CPS_PGO_ORIGIN:
		if (*s->ignore_origin && !strcmp(m.name, s->ignore_origin))
			s->skip_txn = true;
		break;
	case CPS_PGO_RELATION:
		return handle_relation(s, &m, errstr, errstr_size);
	case CPS_PGO_INSERT:
	case CPS_PGO_UPDATE:
	case CPS_PGO_DELETE:
		return handle_change(s, &m, f->wal_start, errstr, errstr_size);
	case CPS_PGO_TRUNCATE:
		cps_log_warn("PGSRC",
		             "postgres source '%s': TRUNCATE of %" PRIu32 " table(s) at %" PRIX64
		             " not propagated (no per-row deletes)",
		             s->platform, m.n_relids, s->txn_final_lsn);
		break;
	case CPS_PGO_COMMIT:
		s->in_txn = false;
		s->last_commit_ms = (m.commit_ts + CPS_PG_EPOCH_OFFSET_US) / 1000;
		if (push_mark(s, m.end_lsn) < 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (m.end_lsn > s->server_wal_end)
			s->server_wal_end = m.end_lsn;
		break;
	default:
		break;
	}
	return CPS_OK;
}
static int start_streaming(struct pg_source *s, uint64_t from, char *errstr, size_t errstr_size)
{
	char sql[512], lsn[40];
	char *qslot = PQescapeIdentifier(s->repl, s->slot, strlen(s->slot));
	char *qpub = PQescapeLiteral(s->repl, s->publication, strlen(s->publication));
	PGresult *r = NULL;

	if (!qslot || !qpub) {
		PQfreemem(qslot);
		PQfreemem(qpub);
		return conn_error(s, s->repl, "quoting slot", errstr, errstr_size);
	}
	cps_pgo_lsn_format(from, lsn, sizeof(lsn));
	snprintf(sql, sizeof(sql),
	         "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', publication_names %s)",
	         qslot, lsn, qpub);
	PQfreemem(qslot);
	PQfreemem(qpub);
	r = PQexec(s->repl, sql);
	if (PQresultStatus(r) != PGRES_COPY_BOTH) {
		PQclear(r);
		return conn_error(s, s->repl, "START_REPLICATION", errstr, errstr_size);
	}
	PQclear(r);
	s->phase = PHASE_STREAMING;
	s->streaming_started = true;
	s->flushed_lsn = from;
	cps_log_info("PGSRC", "postgres source '%s': streaming slot '%s' from %s", s->platform,
	             s->slot, lsn);
	return send_status(s, true, errstr, errstr_size);
}

/* Waits until the socket of c is readable or timeout_ms passes. */
static void wait_readable(PGconn *c, int timeout_ms)
{
	struct pollfd pfd = {.fd = PQsocket(c), .events = POLLIN};

	if (pfd.fd >= 0 && timeout_ms > 0)
		(void)poll(&pfd, 1, timeout_ms);
}

static void query_lag(struct pg_source *s)
{
	const char *params[1] = {s->slot};
	PGresult *r = NULL;

	if (!s->sql || mono_ms() - s->last_lag_query_ms < LAG_QUERY_MS)
		return;
	s->last_lag_query_ms = mono_ms();
	r = PQexecParams(s->sql,
	                 "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM "
	                 "pg_replication_slots WHERE slot_name = $1",
	                 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		s->lag_bytes = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
}

static int poll_stream(struct pg_source *s, size_t max, int timeout_ms, char *errstr,
                       size_t errstr_size)
{
	int64_t deadline = mono_ms() + timeout_ms;
	bool consumed = false; /* PQconsumeInput ran since the last message */
	int rc;

	query_lag(s);
	rc = send_status(s, advance_flush(s), errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	while (s->n_msgs < max) {
		char *buf = NULL;
		struct cps_pgo_frame f;
		int len;

		len = PQgetCopyData(s->repl, &buf, 1);
		if (len == 0) {
			int64_t left;

			if (!consumed) {
				/* take what the socket already holds, without waiting */
				if (!PQconsumeInput(s->repl))
					return conn_error(s, s->repl, "reading the stream", errstr,
					                  errstr_size);
				consumed = true;
				continue;
			}
			left = deadline - mono_ms();
			if (s->n_msgs > 0 || left <= 0)
				break;
			rc = send_status(s, advance_flush(s), errstr, errstr_size);
			if (rc != CPS_OK)
				return rc;
			wait_readable(
			    s->repl,
			    (int)(left < s->status_interval_ms ? left : s->status_interval_ms));
			if (!PQconsumeInput(s->repl))
				return conn_error(s, s->repl, "reading the stream", errstr,
				                  errstr_size);
			continue;
		}
		consumed = false;
		if (len == -1) {
			s->copy_done = true;
			conn_error(s, s->repl, "server ended the stream", errstr, errstr_size);
			return CPS_ERR_RETRIABLE;
		}
		if (len < 0)
			return conn_error(s, s->repl, "reading the stream", errstr, errstr_size);
		rc = cps_pgo_parse_frame(buf, (size_t)len, &f, errstr, errstr_size);
		if (rc == CPS_OK) {
			if (f.wal_end > s->server_wal_end && f.kind == 'k')
				s->server_wal_end = f.wal_end;
			if (f.kind == 'w')
				rc = handle_xlogdata(s, &f, errstr, errstr_size);
			else if (f.reply_requested) {
				advance_flush(s);
				rc = send_status(s, true, errstr, errstr_size);
			}
		}
		PQfreemem(buf);
		if (rc != CPS_OK)
			return rc == CPS_ERR_INVALID ? CPS_ERR_FATAL : rc;
	}
	return CPS_OK;
}

/* ----------------------------------------------------------- snapshot */

/* Emits the rows of a SELECT result in table t. */
static int emit_result(struct pg_source *s, struct cps_pg_table *t, PGresult *r, bool snapshot,
                       char *errstr, size_t errstr_size)
{
	int nf = PQnfields(r), nt = PQntuples(r);
	const char **names = calloc((size_t)nf + 1, sizeof(char *));
	struct table_state *st = &s->ts[table_index(s, t)];
	struct cps_pg_plan *p = &s->result_plan;
	struct cps_pg_text *vals;
	int rc = CPS_OK;
	char at[64];

	if (!names)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (int i = 0; i < nf; i++)
		names[i] = PQfname(r, i);
	rc = cps_pg_plan_build(p, t, (size_t)nf, names, errstr, errstr_size);
	free(names);
	if (rc != CPS_OK)
		return rc;
	if ((size_t)nf + 1 > s->cap_vals) {
		struct cps_pg_text *a = realloc(s->vals, ((size_t)nf + 1) * sizeof(*a));

		if (!a)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		s->vals = a;
		s->cap_vals = (size_t)nf + 1;
	}
	vals = s->vals;
	if (snapshot) {
		char lsn[40];

		cps_pgo_lsn_format(s->consistent_lsn, lsn, sizeof(lsn));
		snprintf(at, sizeof(at), "snapshot@%s", lsn);
	} else {
		snprintf(at, sizeof(at), "poll@%s.%s", t->nspname, t->relname);
	}
	set_origin_at(s, at);
	for (int row = 0; row < nt && rc == CPS_OK; row++) {
		int64_t offset;

		for (int i = 0; i < nf; i++) {
			vals[i].kind = PQgetisnull(r, row, i) ? 'n' : 't';
			vals[i].text = vals[i].kind == 't' ? PQgetvalue(r, row, i) : NULL;
			vals[i].len = vals[i].kind == 't' ? (size_t)PQgetlength(r, row, i) : 0;
		}
		offset = snapshot ? next_offset(s, 0) : ++st->poll_seq;
		rc =
		    emit_row(s, p, vals, false, offset,
		             (uint32_t)(snapshot ? offset : st->poll_seq), -1, errstr, errstr_size);
		if (snapshot)
			toast_remember(st,
			               p->key_col >= 0 && vals[p->key_col].kind == 't'
			                   ? vals[p->key_col].text
			                   : NULL,
			               p, vals, false);
	}
	return rc;
}

static int poll_snapshot(struct pg_source *s, size_t max, char *errstr, size_t errstr_size)
{
	char sql[1024];
	PGresult *r = NULL;
	int rc;

	if (!s->snap_txn_open) {
		snprintf(
		    sql, sizeof(sql),
		    "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY; SET TRANSACTION SNAPSHOT "
		    "'%s'",
		    s->snapshot_name);
		rc = exec_expect(s, s->sql, sql, PGRES_COMMAND_OK, NULL, "snapshot transaction",
		                 errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
		s->snap_txn_open = true;
	}
	while (s->snap_table < s->map->n && s->n_msgs < max) {
		struct cps_pg_table *t = &s->map->tables[s->snap_table];

		if (!s->snap_cursor_open) {
			snprintf(sql, sizeof(sql),
			         "DECLARE cps_snap NO SCROLL CURSOR FOR SELECT * FROM %s",
			         t->qualified);
			rc = exec_expect(s, s->sql, sql, PGRES_COMMAND_OK, NULL, "snapshot cursor",
			                 errstr, errstr_size);
			if (rc != CPS_OK)
				return rc;
			s->snap_cursor_open = true;
		}
		snprintf(sql, sizeof(sql), "FETCH FORWARD %zu FROM cps_snap", max - s->n_msgs);
		rc = exec_expect(s, s->sql, sql, PGRES_TUPLES_OK, &r, "snapshot fetch", errstr,
		                 errstr_size);
		if (rc != CPS_OK)
			return rc;
		if (PQntuples(r) == 0) {
			PQclear(r);
			rc = exec_expect(s, s->sql, "CLOSE cps_snap", PGRES_COMMAND_OK, NULL,
			                 "snapshot cursor close", errstr, errstr_size);
			if (rc != CPS_OK)
				return rc;
			s->snap_cursor_open = false;
			cps_log_info("PGSRC", "postgres source '%s': snapshot of '%s.%s' done",
			             s->platform, t->nspname, t->relname);
			s->snap_table++;
			continue;
		}
		rc = emit_result(s, t, r, true, errstr, errstr_size);
		PQclear(r);
		if (rc != CPS_OK)
			return rc;
	}
	if (s->snap_table < s->map->n)
		return CPS_OK;
	rc = exec_expect(s, s->sql, "COMMIT", PGRES_COMMAND_OK, NULL, "snapshot commit", errstr,
	                 errstr_size);
	if (rc != CPS_OK)
		return rc;
	s->snap_txn_open = false;
	if (push_mark(s, s->consistent_lsn) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return start_streaming(s, s->consistent_lsn, errstr, errstr_size);
}

/* ------------------------------------------------------------ polling */

static int poll_tables(struct pg_source *s, size_t max, int timeout_ms, char *errstr,
                       size_t errstr_size)
{
	int64_t deadline = mono_ms() + timeout_ms;

	for (;;) {
		for (size_t i = 0; i < s->map->n && s->n_msgs < max; i++) {
			struct cps_pg_table *t = &s->map->tables[i];
			struct table_state *st = &s->ts[i];
			char sql[1024];
			char *qts = PQescapeIdentifier(s->sql, t->timestamp_column,
			                               strlen(t->timestamp_column));
			char *qinc = PQescapeIdentifier(s->sql, t->increment_column,
			                                strlen(t->increment_column));
			const char *params[2] = {st->last_ts, st->last_inc};
			size_t limit = max - s->n_msgs;
			PGresult *r = NULL;
			int rc, nt;

			if (!qts || !qinc) {
				PQfreemem(qts);
				PQfreemem(qinc);
				return conn_error(s, s->sql, "quoting columns", errstr,
				                  errstr_size);
			}
			if (st->last_ts)
				snprintf(
				    sql, sizeof(sql),
				    "SELECT *, %s::text AS cps_ts, %s::text AS cps_inc FROM %s "
				    "WHERE (%s, %s) > ($1, $2) ORDER BY %s, %s LIMIT %zu",
				    qts, qinc, t->qualified, qts, qinc, qts, qinc, limit);
			else
				snprintf(
				    sql, sizeof(sql),
				    "SELECT *, %s::text AS cps_ts, %s::text AS cps_inc FROM %s "
				    "ORDER BY %s, %s LIMIT %zu",
				    qts, qinc, t->qualified, qts, qinc, limit);
			PQfreemem(qts);
			PQfreemem(qinc);
			r = PQexecParams(s->sql, sql, st->last_ts ? 2 : 0, NULL, params, NULL, NULL,
			                 0);
			if (PQresultStatus(r) != PGRES_TUPLES_OK) {
				PQclear(r);
				return conn_error(s, s->sql, "polling query", errstr, errstr_size);
			}
			nt = PQntuples(r);
			if (nt > 0) {
				int nf = PQnfields(r);
				char *ts = strdup(PQgetvalue(r, nt - 1, nf - 2));
				char *inc = strdup(PQgetvalue(r, nt - 1, nf - 1));

				if (!ts || !inc) {
					free(ts);
					free(inc);
					PQclear(r);
					return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
					                       "out of memory");
				}
				free(st->last_ts);
				free(st->last_inc);
				st->last_ts = ts;
				st->last_inc = inc;
			}
			rc = emit_result(s, t, r, false, errstr, errstr_size);
			PQclear(r);
			if (rc != CPS_OK)
				return rc;
		}
		if (s->n_msgs > 0)
			return CPS_OK;
		{
			int64_t left = deadline - mono_ms();
			struct timespec ts;

			if (left <= 0)
				return CPS_OK;
			if (left > s->poll_interval_ms)
				left = s->poll_interval_ms;
			ts.tv_sec = left / 1000;
			ts.tv_nsec = (left % 1000) * 1000000;
			nanosleep(&ts, NULL);
		}
	}
}

/* ---------------------------------------------------- the source table */

static void pg_source_close(struct cps_conn *c)
{
	struct pg_source *s = (struct pg_source *)c;

	if (!s)
		return;
	if (s->repl && s->streaming_started && !s->copy_done &&
	    PQstatus(s->repl) == CONNECTION_OK) {
		char err[CPS_ERRSTR_SIZE], *buf;
		int64_t deadline = mono_ms() + 3000;
		PGresult *r = NULL;
		int len;

		advance_flush(s);
		(void)send_status(s, true, err, sizeof(err));
		if (PQputCopyEnd(s->repl, NULL) == 1 && PQflush(s->repl) == 0) {
			/* drain until -1, or PQgetResult would hang */
			while ((len = PQgetCopyData(s->repl, &buf, 1)) != -1 && len != -2 &&
			       mono_ms() < deadline) {
				if (len > 0) {
					PQfreemem(buf);
					continue;
				}
				wait_readable(s->repl, 100);
				if (!PQconsumeInput(s->repl))
					break;
			}
			while (mono_ms() < deadline && (r = PQgetResult(s->repl)) != NULL)
				PQclear(r);
		}
	}
	if (s->repl)
		PQfinish(s->repl);
	/* a snapshot that never completed: drop the slot so the next open starts over */
	if (!s->polling && s->phase == PHASE_SNAPSHOT && s->snapshot_name[0] && s->sql &&
	    PQstatus(s->sql) == CONNECTION_OK) {
		const char *params[1] = {s->slot};
		PGresult *r = NULL;

		PQclear(PQexec(s->sql, "ROLLBACK"));
		r = PQexecParams(s->sql, "SELECT pg_drop_replication_slot($1)", 1, NULL, params,
		                 NULL, NULL, 0);
		PQclear(r);
		cps_log_warn("PGSRC",
		             "postgres source '%s': snapshot incomplete, slot '%s' dropped",
		             s->platform, s->slot);
	}
	if (s->sql)
		PQfinish(s->sql);
	for (size_t i = 0; s->ts && s->map && i < s->map->n; i++) {
		cps_codec_free(s->ts[i].codec);
		for (size_t j = 0; s->ts[i].toast && j < TOAST_CACHE_SLOTS; j++)
			cached_row_release(&s->ts[i].toast[j]);
		free(s->ts[i].toast);
		free(s->ts[i].last_ts);
		free(s->ts[i].last_inc);
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
	free(s->conninfo);
	free(s->slot);
	free(s->publication);
	free(s->ignore_origin);
	free(s);
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
		return conn_error(s, s->sql, "reading publications", errstr, errstr_size);
	}
	exists = PQntuples(r) > 0;
	PQclear(r);
	if (exists)
		return CPS_OK;
	if (!s->create_publication)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "postgres source '%s': publication '%s' does not exist and "
		                       "create_publication is off",
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
	rc = exec_expect(s, s->sql, (const char *)sql.data, PGRES_COMMAND_OK, NULL,
	                 "creating the publication", errstr, errstr_size);
	cps_buf_release(&sql);
	return rc;
}

/* Starts replication: creates the slot with an exported snapshot (the
 * snapshot then runs in poll), or resumes an existing slot. */
static int open_replication(struct pg_source *s, char *errstr, size_t errstr_size)
{
	const char *params[1] = {s->slot};
	PGresult *r = NULL;
	char sql[512];
	char *qslot;
	int rc;

	s->repl = connect_db(s->conninfo, true);
	if (PQstatus(s->repl) != CONNECTION_OK)
		return conn_error(s, s->repl, "replication connection", errstr, errstr_size);
	rc = exec_expect(s, s->repl, "IDENTIFY_SYSTEM", PGRES_TUPLES_OK, &r, "IDENTIFY_SYSTEM",
	                 errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (PQnfields(r) < 4 || PQgetisnull(r, 0, 3)) {
		PQclear(r);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "postgres source '%s': the replication connection is not "
		                       "bound to a database",
		                       s->platform);
	}
	PQclear(r);
	rc = ensure_publication(s, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	r = PQexecParams(s->sql,
	                 "SELECT confirmed_flush_lsn::text, plugin, database = current_database() "
	                 "FROM pg_replication_slots WHERE slot_name = $1",
	                 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return conn_error(s, s->sql, "reading replication slots", errstr, errstr_size);
	}
	if (PQntuples(r) == 1) {
		uint64_t from = 0;

		if (strcmp(PQgetvalue(r, 0, 1), "pgoutput") || strcmp(PQgetvalue(r, 0, 2), "t") ||
		    cps_pgo_lsn_parse(PQgetvalue(r, 0, 0), &from) < 0) {
			PQclear(r);
			return cps_seterr(
			    CPS_ERR_FATAL, errstr, errstr_size,
			    "postgres source '%s': slot '%s' exists but is not a "
			    "pgoutput slot of this database",
			    s->platform, s->slot);
		}
		PQclear(r);
		s->last_offset = (int64_t)from;
		s->committed_offset = s->last_offset;
		return start_streaming(s, from, errstr, errstr_size);
	}
	PQclear(r);
	if (!s->create_slot)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "postgres source '%s': slot '%s' does not exist and "
		                       "create_slot is off",
		                       s->platform, s->slot);
	qslot = PQescapeIdentifier(s->repl, s->slot, strlen(s->slot));
	if (!qslot)
		return conn_error(s, s->repl, "quoting slot", errstr, errstr_size);
	snprintf(sql, sizeof(sql),
	         "CREATE_REPLICATION_SLOT %s LOGICAL pgoutput (SNAPSHOT 'export')", qslot);
	PQfreemem(qslot);
	rc = exec_expect(s, s->repl, sql, PGRES_TUPLES_OK, &r, "CREATE_REPLICATION_SLOT", errstr,
	                 errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (PQnfields(r) < 3 || cps_pgo_lsn_parse(PQgetvalue(r, 0, 1), &s->consistent_lsn) < 0 ||
	    PQgetisnull(r, 0, 2)) {
		PQclear(r);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                       "postgres source '%s': unexpected CREATE_REPLICATION_SLOT "
		                       "answer",
		                       s->platform);
	}
	snprintf(s->snapshot_name, sizeof(s->snapshot_name), "%s", PQgetvalue(r, 0, 2));
	PQclear(r);
	s->phase = PHASE_SNAPSHOT;
	cps_log_info("PGSRC", "postgres source '%s': slot '%s' created, snapshot of %zu table(s)",
	             s->platform, s->slot, s->map->n);
	return CPS_OK;
}

static int pg_source_open(const char *platform, const struct cps_settings *settings,
                          struct cps_conn **out, char *errstr, size_t errstr_size)
{
	struct pg_source *s = calloc(1, sizeof(*s));
	const char *mode = cps_settings_get(settings, "mode");
	const char *dir = cps_settings_get(settings, "schema_dir");
	int rc;

	if (!s)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	snprintf(s->platform, sizeof(s->platform), "%s", platform);
	cps_pgo_decoder_init(&s->dec);
	cps_pgo_relcache_init(&s->rels);
	cps_buf_init(&s->arena, 0);
	cps_buf_init(&s->row, 0);
	s->lag_bytes = -1;
	s->last_commit_ms = -1;
	s->conninfo = strdup(cps_settings_get(settings, "conninfo"));
	s->slot = strdup(cps_settings_get(settings, "slot"));
	s->publication = strdup(cps_settings_get(settings, "publication"));
	s->ignore_origin = strdup(cps_settings_get(settings, "ignore_origin"));
	if (!s->conninfo || !s->slot || !s->publication || !s->ignore_origin) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_close;
	}
	s->slot_len = strlen(s->slot);
	s->create_slot = cps_settings_get_bool(settings, "create_slot", true);
	s->create_publication = cps_settings_get_bool(settings, "create_publication", true);
	s->status_interval_ms = cps_settings_get_int(settings, "status_interval_ms", 10000);
	s->poll_interval_ms = cps_settings_get_int(settings, "poll_interval_ms", 1000);
	s->batch_rows = cps_settings_get_int(settings, "snapshot_batch", 1000);
	s->max_lag_bytes = cps_settings_get_int(settings, "max_slot_lag_bytes", 1 << 30);
	if (strcmp(mode, "replication") && strcmp(mode, "polling")) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                "postgres source '%s': mode '%s' is not replication or polling",
		                platform, mode);
		goto out_close;
	}
	s->polling = !strcmp(mode, "polling");
	rc = cps_catalog_load_dir(dir, &s->catalog, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_close;
	rc = cps_pg_mapping_from_settings(settings, s->catalog, &s->map, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_close;
	s->ts = calloc(s->map->n, sizeof(*s->ts));
	if (!s->ts) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out_close;
	}
	for (size_t i = 0; i < s->map->n; i++) {
		struct cps_pg_table *t = &s->map->tables[i];

		if (s->polling && !t->increment_column) {
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "postgres source '%s': polling table '%s.%s' needs "
			                "increment_column and timestamp_column",
			                platform, t->nspname, t->relname);
			goto out_close;
		}
		rc = cps_codec_new(t->schema, NULL, &s->ts[i].codec, errstr, errstr_size);
		if (rc == CPS_OK)
			rc = cps_pg_table_prepare(t, errstr, errstr_size);
		if (rc != CPS_OK)
			goto out_close;
	}
	s->sql = connect_db(s->conninfo, false);
	if (PQstatus(s->sql) != CONNECTION_OK) {
		rc = conn_error(s, s->sql, "connection", errstr, errstr_size);
		goto out_close;
	}
	if (s->polling) {
		s->phase = PHASE_POLLING;
		*out = &s->base;
		return CPS_OK;
	}
	rc = open_replication(s, errstr, errstr_size);
	if (rc != CPS_OK)
		goto out_close;
	*out = &s->base;
	return CPS_OK;
out_close:
	pg_source_close(&s->base);
	return rc;
}

static int pg_source_poll(struct cps_conn *c, struct cps_source_batch *batch, size_t max,
                          int timeout_ms, char *errstr, size_t errstr_size)
{
	struct pg_source *s = (struct pg_source *)c;
	int rc;

	batch_reset(s);
	batch->msgs = NULL;
	batch->n = 0;
	if (max == 0)
		return CPS_OK;
	switch (s->phase) {
	case PHASE_SNAPSHOT:
		rc = poll_snapshot(s, max < (size_t)s->batch_rows ? max : (size_t)s->batch_rows,
		                   errstr, errstr_size);
		break;
	case PHASE_STREAMING:
		rc = poll_stream(s, max, timeout_ms, errstr, errstr_size);
		break;
	default:
		rc = poll_tables(s, max < (size_t)s->batch_rows ? max : (size_t)s->batch_rows,
		                 timeout_ms, errstr, errstr_size);
		break;
	}
	if (rc != CPS_OK && s->n_msgs > 0 && rc == CPS_ERR_RETRIABLE) {
		/* hand out what was collected; the error comes back on the next poll */
		batch_finish(s, batch);
		return CPS_OK;
	}
	if (rc != CPS_OK) {
		s->n_msgs = 0;
		return rc;
	}
	batch_finish(s, batch);
	return CPS_OK;
}

static int pg_source_commit(struct cps_conn *c, const struct cps_position *pos, size_t n,
                            char *errstr, size_t errstr_size)
{
	struct pg_source *s = (struct pg_source *)c;

	for (size_t i = 0; i < n; i++) {
		s->committed++;
		if (s->polling)
			continue; /* progress is in memory: a restart re-reads (idempotent) */
		if (strcmp(pos[i].stream, s->slot) != 0)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "postgres source '%s': position of stream '%s' is not "
			                  "slot '%s'",
			                  s->platform, pos[i].stream, s->slot);
		if (pos[i].offset > s->committed_offset)
			s->committed_offset = pos[i].offset;
	}
	if (!s->polling && advance_flush(s))
		return send_status(s, true, errstr, errstr_size);
	return CPS_OK;
}

static void pg_source_describe(struct cps_conn *c, struct cps_conn_status *st)
{
	struct pg_source *s = (struct pg_source *)c;

	st->lag = s->lag_bytes; /* bytes of WAL the slot retains past its confirmed flush */
	st->received = s->received;
	st->committed = s->committed;
	st->errors = s->errors;
	st->last_msg_ms = s->last_commit_ms; /* slot lag in seconds = now - this */
	if (s->lag_bytes > s->max_lag_bytes && s->max_lag_bytes > 0)
		snprintf(st->last_error, sizeof(st->last_error),
		         "slot '%s' lags %" PRId64 " bytes (max_slot_lag_bytes %" PRId64 ")",
		         s->slot, s->lag_bytes, s->max_lag_bytes);
	else
		snprintf(st->last_error, sizeof(st->last_error), "%s", s->last_error);
}

const struct cps_connector_ops cps_postgres_connector = {
    .version = CPS_CONNECTOR_API_VERSION,
    .type = "postgres",
    .settings = pg_settings,
    .n_settings = CPS_ARRAY_SIZE(pg_settings),
    .source_open = pg_source_open,
    .source_poll = pg_source_poll,
    .source_commit = pg_source_commit,
    .source_close = pg_source_close,
    .source_describe = pg_source_describe,
};
