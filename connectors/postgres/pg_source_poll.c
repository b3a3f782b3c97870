/*
 * The polling mode of the postgres source, where replication rights are not
 * granted: each mapped table is read past the last (timestamp, increment)
 * seen, in that order, a batch at a time; progress is kept in memory only
 * (a restart re-reads, which the engine's idempotence absorbs).
 */
#include "connectors/postgres/pg_source_int.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>

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
