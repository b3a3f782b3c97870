/*
 * Streaming replication for the postgres source: START_REPLICATION on the
 * slot, pgoutput messages decoded into rows, transaction marks, standby
 * status updates that confirm (flush) what the engine committed, the slot's
 * lag, and the orderly end of the stream at close.
 */
#include "connectors/postgres/pg_source_int.h"

#include "base/log.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define LAG_QUERY_MS 3000

static int64_t wall_us(void)
{
	struct timespec t;

	clock_gettime(CLOCK_REALTIME, &t);
	return (int64_t)t.tv_sec * 1000000 + t.tv_nsec / 1000;
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

/* ---------------------------------------------------------- streaming */

int pg_source_send_status(struct pg_source *s, bool force, char *errstr, size_t errstr_size)
{
	uint8_t msg[34];
	int64_t now = cps_mono_ms();

	if (!s->streaming_started || s->copy_done)
		return CPS_OK;
	if (!force && now - s->last_status_ms < s->status_interval_ms)
		return CPS_OK;
	cps_pgo_status_update(msg, s->flushed_lsn, s->flushed_lsn, s->flushed_lsn,
	                      wall_us() - CPS_PG_EPOCH_OFFSET_US, false);
	if (PQputCopyData(s->repl, (const char *)msg, sizeof(msg)) <= 0 || PQflush(s->repl) < 0)
		return pg_source_conn_error(s, s->repl, "standby status update", errstr,
		                            errstr_size);
	s->last_status_ms = now;
	return CPS_OK;
}

int pg_source_push_mark(struct pg_source *s, uint64_t end_lsn)
{
	if (cps_grow(&s->marks, &s->cap_marks, s->n_marks + 1, sizeof(*s->marks)) != 0)
		return -1;
	s->marks[s->n_marks].last_offset = s->last_offset;
	s->marks[s->n_marks].end_lsn = end_lsn;
	s->n_marks++;
	return 0;
}

/* Confirms every transaction wholly committed by the engine. */
bool pg_source_advance_flush(struct pg_source *s)
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
			cached =
			    pg_source_toast_lookup(&s->ts[pg_source_table_index(s, p->t)], key);
		for (size_t j = 0; cached && j < cached->n; j++)
			if (cached->names[j] && !strcmp(cached->names[j], p->colnames[i]))
				val = cached->values[j];
		if (!val && key)
			val = fetched = pg_source_read_current_value(s, p->t, p->colnames[i], key);
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

	if (!rel && s->skip_txn)
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
	if (s->skip_txn) { /* cpsync's own write: not emitted, and no chunk row replaces it */
		if (!pg_source_resnap_watching(s, p->t))
			return CPS_OK;
		if (tuple_texts(s, p, is_delete ? &m->old_tuple : &m->new_tuple, &vals, &key) < 0)
			goto out_oom;
		pg_source_resnap_change(s, p->t, key);
		return CPS_OK;
	}
	st = &s->ts[pg_source_table_index(s, p->t)];
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
			pg_source_resnap_change(s, p->t, old_key);
			pg_source_toast_remember(st, old_key, p, vals, true);
			rc =
			    pg_source_emit_row(s, p, vals, true, pg_source_next_offset(s, lsn),
			                       s->txn_row++, s->txn_commit_ms, errstr, errstr_size);
			if (rc != CPS_OK)
				return rc;
		}
	}
	if (tuple_texts(s, p, is_delete ? &m->old_tuple : &m->new_tuple, &vals, &key) < 0)
		goto out_oom;
	pg_source_resnap_change(s, p->t, key);
	rc = pg_source_emit_row(s, p, vals, is_delete, pg_source_next_offset(s, lsn), s->txn_row++,
	                        s->txn_commit_ms, errstr, errstr_size);
	pg_source_toast_remember(st, key, p, vals, is_delete);
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

/* A TRUNCATE is no per-row delete: it is not propagated. By the setting
 * `truncate`, each mapped table it empties becomes one dead letter naming
 * it (dead_letter), or a warning only (ignore). */
static int handle_truncate(struct pg_source *s, const struct cps_pgo_msg *m, uint64_t lsn,
                           char *errstr, size_t errstr_size)
{
	char why[256];

	cps_log_warn("PGSRC",
	             "postgres source '%s': TRUNCATE of %" PRIu32 " table(s) at %" PRIX64
	             " not propagated (no per-row deletes; setting truncate: %s)",
	             s->platform, m->n_relids, s->txn_final_lsn,
	             s->truncate_dead_letter ? "dead_letter" : "ignore");
	if (s->skip_txn || !s->truncate_dead_letter)
		return CPS_OK;
	for (uint32_t i = 0; i < m->n_relids; i++) {
		struct cps_pgo_relation *rel = cps_pgo_relcache_get(&s->rels, m->relids[i]);
		struct relplan *rp = rel ? rel->user : NULL;
		struct cps_pg_table *t = rp ? rp->plan.t : NULL;
		int rc;

		if (!t)
			continue;
		snprintf(
		    why, sizeof(why),
		    "TRUNCATE of '%s.%s' is not propagated: the unified records stay; re-snapshot the table or delete them row by row",
		    t->nspname, t->relname);
		rc = pg_source_emit_refusal(s, t, pg_source_next_offset(s, lsn), s->txn_row++, why,
		                            errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
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
		s->txn_xid = m.xid;
		s->txn_commit_ms = (m.commit_ts + CPS_PG_EPOCH_OFFSET_US) / 1000;
		s->txn_row = 0;
		lsn_text(m.lsn, at);
		pg_source_set_origin_at(s, at);
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
		return handle_truncate(s, &m, f->wal_start, errstr, errstr_size);
	case CPS_PGO_MESSAGE:
		pg_source_resnap_message(s, &m, f->wal_start);
		break;
	case CPS_PGO_COMMIT:
		s->in_txn = false;
		s->counts.last_msg_ms = (m.commit_ts + CPS_PG_EPOCH_OFFSET_US) / 1000;
		if (pg_source_push_mark(s, m.end_lsn) < 0)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (m.end_lsn > s->server_wal_end)
			s->server_wal_end = m.end_lsn;
		break;
	default:
		break;
	}
	return CPS_OK;
}
int pg_source_start_streaming(struct pg_source *s, uint64_t from, char *errstr, size_t errstr_size)
{
	char sql[512], lsn[40];
	char *qslot = PQescapeIdentifier(s->repl, s->slot, strlen(s->slot));
	char *qpub = PQescapeLiteral(s->repl, s->publication, strlen(s->publication));
	PGresult *r = NULL;

	if (!qslot || !qpub) {
		PQfreemem(qslot);
		PQfreemem(qpub);
		return pg_source_conn_error(s, s->repl, "quoting slot", errstr, errstr_size);
	}
	cps_pgo_lsn_format(from, lsn, sizeof(lsn));
	snprintf(sql, sizeof(sql),
	         "START_REPLICATION SLOT %s LOGICAL %s (proto_version '1', publication_names %s%s)",
	         qslot, lsn, qpub, s->resnap.usable ? ", messages 'true'" : "");
	PQfreemem(qslot);
	PQfreemem(qpub);
	r = PQexec(s->repl, sql);
	if (PQresultStatus(r) != PGRES_COPY_BOTH) {
		PQclear(r);
		return pg_source_conn_error(s, s->repl, "START_REPLICATION", errstr, errstr_size);
	}
	PQclear(r);
	s->phase = PHASE_STREAMING;
	s->streaming_started = true;
	s->flushed_lsn = from;
	cps_log_info("PGSRC", "postgres source '%s': streaming slot '%s' from %s", s->platform,
	             s->slot, lsn);
	return pg_source_send_status(s, true, errstr, errstr_size);
}

static void query_lag(struct pg_source *s)
{
	const char *params[1] = {s->slot};
	PGresult *r = NULL;

	if (!s->sql || cps_mono_ms() - s->last_lag_query_ms < LAG_QUERY_MS)
		return;
	s->last_lag_query_ms = cps_mono_ms();
	r = PQexecParams(
	    s->sql,
	    "SELECT (pg_current_wal_lsn() - confirmed_flush_lsn)::bigint FROM pg_replication_slots WHERE slot_name = $1",
	    1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		s->lag_bytes = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
}

int pg_source_poll_stream(struct pg_source *s, size_t max, int timeout_ms, char *errstr,
                          size_t errstr_size)
{
	int64_t deadline = cps_mono_ms() + timeout_ms;
	bool consumed = false; /* PQconsumeInput ran since the last message */
	int rc;

	query_lag(s);
	rc = pg_source_send_status(s, pg_source_advance_flush(s), errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;
	while (s->n_msgs < max) {
		char *buf = NULL;
		struct cps_pgo_frame f;
		bool hold;
		int len;

		rc = pg_source_resnap_poll(s, max, &hold, errstr, errstr_size);
		if (rc != CPS_OK || hold)
			return rc;
		len = PQgetCopyData(s->repl, &buf, 1);
		if (len == 0) {
			int64_t left;

			if (!consumed) {
				/* take what the socket already holds, without waiting */
				if (!PQconsumeInput(s->repl))
					return pg_source_conn_error(
					    s, s->repl, "reading the stream", errstr, errstr_size);
				consumed = true;
				continue;
			}
			left = deadline - cps_mono_ms();
			if (s->n_msgs > 0 || left <= 0)
				break;
			rc = pg_source_send_status(s, pg_source_advance_flush(s), errstr,
			                           errstr_size);
			if (rc != CPS_OK)
				return rc;
			pg_source_wait_readable(
			    s->repl,
			    (int)(left < s->status_interval_ms ? left : s->status_interval_ms));
			if (!PQconsumeInput(s->repl))
				return pg_source_conn_error(s, s->repl, "reading the stream",
				                            errstr, errstr_size);
			continue;
		}
		consumed = false;
		if (len == -1) {
			s->copy_done = true;
			pg_source_conn_error(s, s->repl, "server ended the stream", errstr,
			                     errstr_size);
			return CPS_ERR_RETRIABLE;
		}
		if (len < 0)
			return pg_source_conn_error(s, s->repl, "reading the stream", errstr,
			                            errstr_size);
		rc = cps_pgo_parse_frame(buf, (size_t)len, &f, errstr, errstr_size);
		if (rc == CPS_OK) {
			if (f.wal_end > s->server_wal_end && f.kind == 'k')
				s->server_wal_end = f.wal_end;
			if (f.kind == 'w')
				rc = handle_xlogdata(s, &f, errstr, errstr_size);
			else if (f.reply_requested) {
				pg_source_advance_flush(s);
				rc = pg_source_send_status(s, true, errstr, errstr_size);
			}
		}
		PQfreemem(buf);
		if (rc != CPS_OK)
			return rc == CPS_ERR_INVALID ? CPS_ERR_FATAL : rc;
	}
	return CPS_OK;
}

void pg_source_stream_end(struct pg_source *s)
{
	char err[CPS_ERRSTR_SIZE], *buf;
	int64_t deadline = cps_mono_ms() + 3000;
	PGresult *r = NULL;
	int len;

	if (!s->repl || !s->streaming_started || s->copy_done || PQstatus(s->repl) != CONNECTION_OK)
		return;
	pg_source_advance_flush(s);
	(void)pg_source_send_status(s, true, err, sizeof(err));
	if (PQputCopyEnd(s->repl, NULL) == 1 && PQflush(s->repl) == 0) {
		/* drain until -1, or PQgetResult would hang */
		while ((len = PQgetCopyData(s->repl, &buf, 1)) != -1 && len != -2 &&
		       cps_mono_ms() < deadline) {
			if (len > 0) {
				PQfreemem(buf);
				continue;
			}
			pg_source_wait_readable(s->repl, 100);
			if (!PQconsumeInput(s->repl))
				break;
		}
		while (cps_mono_ms() < deadline && (r = PQgetResult(s->repl)) != NULL)
			PQclear(r);
	}
}
