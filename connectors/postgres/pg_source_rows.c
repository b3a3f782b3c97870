/*
 * Rows of the postgres source into the batch poll hands out: one message
 * per row (Avro binary of the entity, a tombstone for a delete), its offset
 * and origin, from a pgoutput tuple (pg_source_stream.c) or a result set
 * (snapshot, polling). Keys and values live in the batch's arena.
 */
#include "connectors/postgres/pg_source_int.h"

#include "base/log.h"
#include "connectors/postgres/pg_mapping_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ------------------------------------------------------------ the batch */

void pg_source_batch_reset(struct pg_source *s)
{
	s->n_msgs = 0;
	cps_buf_reset(&s->arena);
}

/* A new message whose key/value are arena offsets until pg_source_batch_finish. */
static struct cps_source_msg *batch_add(struct pg_source *s)
{
	struct cps_source_msg *m;

	if (cps_grow(&s->msgs, &s->cap_msgs, s->n_msgs + 1, sizeof(*s->msgs)) != 0)
		return NULL;
	m = &s->msgs[s->n_msgs++];
	memset(m, 0, sizeof(*m));
	m->source_ts_ms = -1;
	return m;
}

void pg_source_batch_finish(struct pg_source *s, struct cps_source_batch *b)
{
	for (size_t i = 0; i < s->n_msgs; i++) {
		struct cps_source_msg *m = &s->msgs[i];

		if (m->key)
			m->key = s->arena.data + ((uintptr_t)m->key - 1);
		if (m->value)
			m->value = s->arena.data + ((uintptr_t)m->value - 1);
		if (m->refused)
			m->refused = (const char *)s->arena.data + ((uintptr_t)m->refused - 1);
	}
	b->msgs = s->msgs;
	b->n = s->n_msgs;
	s->counts.received += s->n_msgs;
}

/* ------------------------------------------------------- row encoding */

int pg_source_table_index(struct pg_source *s, const struct cps_pg_table *t)
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
 * their decimal index (see pg_source_emit_row). */
void pg_source_set_origin_at(struct pg_source *s, const char *at)
{
	int n = snprintf(s->origin_prefix, sizeof(s->origin_prefix), "%s:%s#", s->platform, at);

	s->origin_prefix_len = n < 0 ? 0
	                       : (size_t)n >= sizeof(s->origin_prefix)
	                           ? sizeof(s->origin_prefix) - 1
	                           : (size_t)n;
}

/* Marks m refused with `why` (copied into the arena): an empty value that
 * ingest dead-letters with that reason. */
static int refuse(struct pg_source *s, struct cps_source_msg *m, const char *why)
{
	size_t start = s->arena.len;

	if (cps_buf_append(&s->arena, why, strlen(why) + 1) < 0)
		return -1;
	m->refused = (const char *)(uintptr_t)(start + 1);
	m->value = (void *)(uintptr_t)(s->arena.len + 1); /* empty, not a delete */
	m->value_len = 0;
	return 0;
}

/* The row's effective-time column (a timestamp or a date) into m; a value
 * that is neither leaves the commit time in charge. */
static void row_effective(const struct cps_pg_plan *p, const struct cps_pg_text *vals,
                          struct cps_source_msg *m)
{
	const struct cps_pg_text *v;
	char text[64];
	const char *at = text;
	int64_t us, days;

	if (p->eff_col < 0 || vals[p->eff_col].kind != 't' || vals[p->eff_col].len >= sizeof(text))
		return;
	v = &vals[p->eff_col];
	memcpy(text, v->text, v->len);
	text[v->len] = '\0';
	if (cps_pg_parse_timestamp(text, &us)) {
		m->effective_ms = us / 1000;
		m->has_effective = true;
	} else if (cps_pg_parse_date(&at, &days) && *at == '\0') {
		m->effective_ms = days * 86400000;
		m->has_effective = true;
	}
}

int pg_source_emit_refusal(struct pg_source *s, struct cps_pg_table *t, int64_t offset,
                           uint64_t row, const char *why, char *errstr, size_t errstr_size)
{
	struct cps_source_msg *m = batch_add(s);
	int n;

	if (!m)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	m->entity = t->entity;
	copy_str(m->pos.stream, sizeof(m->pos.stream), s->slot, s->slot_len);
	m->pos.offset = offset;
	n = snprintf(m->origin, sizeof(m->origin), "%.*s%" PRIu64, (int)s->origin_prefix_len,
	             s->origin_prefix, row);
	(void)n;
	m->source_ts_ms = s->txn_commit_ms;
	if (refuse(s, m, why) < 0)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return CPS_OK;
}

/* Encodes one row (values of plan p's columns) as a message; value NULL for
 * a delete. A row that cannot be encoded is refused with the reason (the
 * column and field, never the value), which ingest dead-letters. */
int pg_source_emit_row(struct pg_source *s, struct cps_pg_plan *p, const struct cps_pg_text *vals,
                       bool is_delete, int64_t offset, uint64_t row, int64_t ts_ms, char *errstr,
                       size_t errstr_size)
{
	struct cps_pg_table *t = p->t;
	struct table_state *st = &s->ts[pg_source_table_index(s, t)];
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
	row_effective(p, vals, m);
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
		if (refuse(s, m, errstr) < 0)
			goto out_oom;
	}
	return CPS_OK;
out_oom:
	return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
}

int64_t pg_source_next_offset(struct pg_source *s, uint64_t lsn)
{
	int64_t o = (int64_t)lsn;

	if (o <= s->last_offset)
		o = s->last_offset + 1;
	s->last_offset = o;
	return o;
}

/* The plan of a result's columns in table t, and room for one row's
 * values. */
static int result_prepare(struct pg_source *s, struct cps_pg_table *t, PGresult *r, char *errstr,
                          size_t errstr_size)
{
	int nf = PQnfields(r);
	const char **names = calloc((size_t)nf + 1, sizeof(char *));
	int rc;

	if (!names)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (int i = 0; i < nf; i++)
		names[i] = PQfname(r, i);
	rc = cps_pg_plan_build(&s->result_plan, t, (size_t)nf, names, errstr, errstr_size);
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
	return CPS_OK;
}

/* Row `row` of r into s->vals. */
static void result_row(struct pg_source *s, PGresult *r, int row)
{
	struct cps_pg_text *vals = s->vals;

	for (int i = 0; i < PQnfields(r); i++) {
		vals[i].kind = PQgetisnull(r, row, i) ? 'n' : 't';
		vals[i].text = vals[i].kind == 't' ? PQgetvalue(r, row, i) : NULL;
		vals[i].len = vals[i].kind == 't' ? (size_t)PQgetlength(r, row, i) : 0;
	}
}

static const char *row_key(const struct cps_pg_plan *p, const struct cps_pg_text *vals)
{
	return p->key_col >= 0 && vals[p->key_col].kind == 't' ? vals[p->key_col].text : NULL;
}

/* Emits the rows of a SELECT result in table t. */
int pg_source_emit_result(struct pg_source *s, struct cps_pg_table *t, PGresult *r, bool snapshot,
                          char *errstr, size_t errstr_size)
{
	int nt = PQntuples(r);
	struct table_state *st = &s->ts[pg_source_table_index(s, t)];
	struct cps_pg_plan *p = &s->result_plan;
	int rc, del_col = -1;
	char at[64];

	rc = result_prepare(s, t, r, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	if (snapshot) {
		char lsn[40];

		cps_pgo_lsn_format(s->consistent_lsn, lsn, sizeof(lsn));
		snprintf(at, sizeof(at), "snapshot@%s", lsn);
	} else {
		snprintf(at, sizeof(at), "poll@%s.%s", t->nspname, t->relname);
	}
	pg_source_set_origin_at(s, at);
	for (int i = 0; !snapshot && t->deleted_column && i < PQnfields(r); i++)
		if (!strcmp(PQfname(r, i), t->deleted_column))
			del_col = i;
	for (int row = 0; row < nt && rc == CPS_OK; row++) {
		int64_t offset;
		/* soft delete: true, or any other value than NULL */
		bool deleted = del_col >= 0 && !PQgetisnull(r, row, del_col) &&
		               strcmp(PQgetvalue(r, row, del_col), "f") != 0;

		result_row(s, r, row);
		offset = snapshot ? pg_source_next_offset(s, 0) : ++st->poll_seq;
		rc = pg_source_emit_row(s, p, s->vals, deleted, offset,
		                        (uint32_t)(snapshot ? offset : st->poll_seq), -1, errstr,
		                        errstr_size);
		if (snapshot)
			pg_source_toast_remember(st, row_key(p, s->vals), p, s->vals, false);
	}
	return rc;
}

int pg_source_emit_result_rows(struct pg_source *s, struct cps_pg_table *t, PGresult *r,
                               const int *rows, size_t n, uint64_t lsn, const char *at,
                               int64_t first_index, int64_t ts_ms, char *errstr, size_t errstr_size)
{
	struct table_state *st = &s->ts[pg_source_table_index(s, t)];
	struct cps_pg_plan *p = &s->result_plan;
	int rc = result_prepare(s, t, r, errstr, errstr_size);

	if (rc != CPS_OK)
		return rc;
	pg_source_set_origin_at(s, at);
	for (size_t i = 0; i < n && rc == CPS_OK; i++) {
		result_row(s, r, rows[i]);
		rc = pg_source_emit_row(s, p, s->vals, false, pg_source_next_offset(s, lsn),
		                        (uint64_t)(first_index + (int64_t)i), ts_ms, errstr,
		                        errstr_size);
		pg_source_toast_remember(st, row_key(p, s->vals), p, s->vals, false);
	}
	return rc;
}
