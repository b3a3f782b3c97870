/*
 * The polling mode of the postgres source, where replication rights are not
 * granted: each mapped table is read past the last (timestamp, increment)
 * seen, in that order, a batch at a time. Progress becomes durable in the
 * city database (setting poll_table, one row per slot name and table) once
 * the engine commits the rows before it, so a restart reads only what was
 * not committed. Deletes: a soft-delete column (deleted_column) makes a row
 * a delete; a row removed from the table is not seen.
 */
#include "connectors/postgres/pg_source_int.h"

#include "base/log.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char create_sql[] =
    "slot text NOT NULL, tbl text NOT NULL, last_ts text NOT NULL, "
    "last_inc text NOT NULL, updated_at timestamptz NOT NULL DEFAULT now(), "
    "PRIMARY KEY (slot, tbl)";

static void table_name(const struct cps_pg_table *t, char *buf, size_t size)
{
	snprintf(buf, size, "%s.%s", t->nspname, t->relname);
}

int pg_source_poll_open(struct pg_source *s, char *errstr, size_t errstr_size)
{
	const char *params[1] = {s->slot};
	char err[CPS_ERRSTR_SIZE], sql[300], tbl[300];
	PGresult *r;

	if (pg_source_state_table(s->sql, s->poll_table, create_sql, s->poll_quoted,
	                          sizeof(s->poll_quoted), err, sizeof(err)) != CPS_OK) {
		s->poll_quoted[0] = '\0';
		if (strstr(err, "not schema.table"))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s", err);
		cps_log_warn("PGSRC",
		             "postgres source '%s': %s: polling progress kept in memory (a restart "
		             "reads every table again)",
		             s->platform, err);
		return CPS_OK;
	}
	snprintf(sql, sizeof(sql), "SELECT tbl, last_ts, last_inc FROM %s WHERE slot = $1",
	         s->poll_quoted);
	r = PQexecParams(s->sql, sql, 1, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		PQclear(r);
		return pg_source_conn_error(s, s->sql, "reading the polling progress", errstr,
		                            errstr_size);
	}
	for (int row = 0; row < PQntuples(r); row++)
		for (size_t i = 0; i < s->map->n; i++) {
			struct table_state *st = &s->ts[i];

			table_name(&s->map->tables[i], tbl, sizeof(tbl));
			if (strcmp(tbl, PQgetvalue(r, row, 0)) != 0)
				continue;
			free(st->last_ts);
			free(st->last_inc);
			st->last_ts = strdup(PQgetvalue(r, row, 1));
			st->last_inc = strdup(PQgetvalue(r, row, 2));
			if (!st->last_ts || !st->last_inc) {
				PQclear(r);
				return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
				                  "out of memory");
			}
		}
	PQclear(r);
	return CPS_OK;
}

/* Remembers where table st stands after its message `seq`. */
static int push_mark(struct table_state *st, const char *ts, const char *inc)
{
	struct poll_mark *m;

	if (cps_grow(&st->marks, &st->cap_marks, st->n_marks + 1, sizeof(*st->marks)) != 0)
		return -1;
	m = &st->marks[st->n_marks];
	m->seq = st->poll_seq;
	m->ts = strdup(ts);
	m->inc = strdup(inc);
	if (!m->ts || !m->inc) {
		free(m->ts);
		free(m->inc);
		return -1;
	}
	st->n_marks++;
	return 0;
}

int pg_source_poll_commit(struct pg_source *s, const struct cps_position *pos, char *errstr,
                          size_t errstr_size)
{
	for (size_t i = 0; i < s->map->n; i++) {
		struct cps_pg_table *t = &s->map->tables[i];
		struct table_state *st = &s->ts[i];
		size_t k = 0;
		char sql[400], tbl[300];

		if (strcmp(t->relname, pos->stream) != 0)
			continue;
		while (k < st->n_marks && st->marks[k].seq <= pos->offset)
			k++;
		if (k == 0)
			continue;
		if (s->poll_quoted[0]) {
			const char *params[4] = {s->slot, tbl, st->marks[k - 1].ts,
			                         st->marks[k - 1].inc};
			PGresult *r;
			int rc = CPS_OK;

			table_name(t, tbl, sizeof(tbl));
			snprintf(
			    sql, sizeof(sql),
			    "INSERT INTO %s (slot, tbl, last_ts, last_inc) VALUES ($1, $2, $3, $4) "
			    "ON CONFLICT (slot, tbl) DO UPDATE SET last_ts = excluded.last_ts, "
			    "last_inc = excluded.last_inc, updated_at = now()",
			    s->poll_quoted);
			r = PQexecParams(s->sql, sql, 4, NULL, params, NULL, NULL, 0);
			if (PQresultStatus(r) != PGRES_COMMAND_OK)
				rc = pg_source_conn_error(s, s->sql,
				                          "recording the polling progress", errstr,
				                          errstr_size);
			PQclear(r);
			if (rc != CPS_OK)
				return rc;
		}
		for (size_t j = 0; j < k; j++) {
			free(st->marks[j].ts);
			free(st->marks[j].inc);
		}
		memmove(st->marks, st->marks + k, (st->n_marks - k) * sizeof(*st->marks));
		st->n_marks -= k;
	}
	return CPS_OK;
}

void pg_source_poll_release(struct table_state *st)
{
	free(st->last_ts);
	free(st->last_inc);
	for (size_t j = 0; j < st->n_marks; j++) {
		free(st->marks[j].ts);
		free(st->marks[j].inc);
	}
	free(st->marks);
}

/* ------------------------------------------------------------ polling */

int pg_source_poll_tables(struct pg_source *s, size_t max, int timeout_ms, char *errstr,
                          size_t errstr_size)
{
	int64_t deadline = cps_mono_ms() + timeout_ms;

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
				return pg_source_conn_error(s, s->sql, "quoting columns", errstr,
				                            errstr_size);
			}
			if (st->last_ts)
				snprintf(
				    sql, sizeof(sql),
				    "SELECT *, %s::text AS cps_ts, %s::text AS cps_inc FROM %s WHERE (%s, %s) > ($1, $2) ORDER BY %s, %s LIMIT %zu",
				    qts, qinc, t->qualified, qts, qinc, qts, qinc, limit);
			else
				snprintf(
				    sql, sizeof(sql),
				    "SELECT *, %s::text AS cps_ts, %s::text AS cps_inc FROM %s ORDER BY %s, %s LIMIT %zu",
				    qts, qinc, t->qualified, qts, qinc, limit);
			PQfreemem(qts);
			PQfreemem(qinc);
			r = PQexecParams(s->sql, sql, st->last_ts ? 2 : 0, NULL, params, NULL, NULL,
			                 0);
			if (PQresultStatus(r) != PGRES_TUPLES_OK) {
				PQclear(r);
				return pg_source_conn_error(s, s->sql, "polling query", errstr,
				                            errstr_size);
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
			rc = pg_source_emit_result(s, t, r, false, errstr, errstr_size);
			PQclear(r);
			if (rc == CPS_OK && nt > 0 && push_mark(st, st->last_ts, st->last_inc) < 0)
				rc =
				    cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			if (rc != CPS_OK)
				return rc;
		}
		if (s->n_msgs > 0)
			return CPS_OK;
		{
			int64_t left = deadline - cps_mono_ms();
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
