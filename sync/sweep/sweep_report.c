/*
 * Reading the sweeps' results for the API and the dashboard: the newest
 * runs with their counts, and a run's differences page by page (keyset on
 * the difference id), each over a short connection of its own.
 */
#include "sweep/sweep_int.h"

#include "store/pgerr.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Rows of `sql` as JSON: the query returns one jsonb column per row. */
static int query_json_rows(const char *conninfo, const char *what, const char *sql, int n,
                           const char *const *params, json_t **out, char *errstr,
                           size_t errstr_size)
{
	PGconn *c =
	    cps_sweep_connect(conninfo, "cpsync-sweep-report", "sweep report", errstr, errstr_size);
	PGresult *r;
	json_t *items;
	int rc = CPS_OK;

	*out = NULL;
	if (!c)
		return CPS_ERR_RETRIABLE;
	r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = cps_pg_result_error(c, r, "sweep report", what, errstr, errstr_size);
		goto out;
	}
	items = json_array();
	for (int i = 0; items && i < PQntuples(r); i++)
		json_array_append_new(items,
		                      json_loads(PQgetvalue(r, i, 0), JSON_DECODE_ANY, NULL));
	if (!items)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	*out = items;
out:
	PQclear(r);
	PQfinish(c);
	return rc;
}

int cps_sweep_runs_list(const char *conninfo, int limit, json_t **out, char *errstr,
                        size_t errstr_size)
{
	char lim[16];
	const char *params[1] = {lim};

	snprintf(lim, sizeof(lim), "%d", limit);
	return query_json_rows(
	    conninfo, "listing the runs",
	    "SELECT jsonb_build_object('id', id, 'trigger', trigger, 'requested_by', requested_by, "
	    "'state', state, 'started_at', to_char(started_at AT TIME ZONE 'UTC', "
	    "'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'finished_at', to_char(finished_at AT TIME ZONE "
	    "'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS.MS\"Z\"'), 'duration_ms', duration_ms, 'counts', "
	    "counts, 'platforms', platforms, 'error', error) FROM cpsync.sweep_runs ORDER BY id "
	    "DESC LIMIT $1::int",
	    1, params, out, errstr, errstr_size);
}

int cps_sweep_differences_page(const char *conninfo, int64_t run_id, int64_t after, int limit,
                               const char *platform, const char *kind, json_t **out, int64_t *next,
                               char *errstr, size_t errstr_size)
{
	char run[24], aft[24], lim[16];
	const char *params[5] = {run, aft, lim, platform, kind}, *one[1] = {run};
	json_t *exists = NULL;
	int rc;

	*next = 0;
	*out = NULL;
	snprintf(run, sizeof(run), "%" PRId64, run_id);
	snprintf(aft, sizeof(aft), "%" PRId64, after);
	snprintf(lim, sizeof(lim), "%d", limit);
	rc = query_json_rows(conninfo, "looking the run up",
	                     "SELECT to_jsonb(id) FROM cpsync.sweep_runs WHERE id = $1::bigint", 1,
	                     one, &exists, errstr, errstr_size);
	if (rc == CPS_OK && json_array_size(exists) == 0)
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "no sweep run %" PRId64,
		                run_id);
	json_decref(exists);
	if (rc != CPS_OK)
		return rc;
	rc = query_json_rows(
	    conninfo, "listing the differences",
	    "SELECT jsonb_build_object('id', id, 'platform', platform, 'entity', entity, 'key', key, "
	    "'field', field, 'kind', kind, 'status', status) FROM cpsync.sweep_differences WHERE "
	    "run_id = $1::bigint AND id > $2::bigint AND ($4::text IS NULL OR platform = $4) AND "
	    "($5::text IS NULL OR kind = $5) ORDER BY id LIMIT $3::int",
	    5, params, out, errstr, errstr_size);
	if (rc == CPS_OK && (int)json_array_size(*out) == limit)
		*next = json_integer_value(json_object_get(json_array_get(*out, limit - 1), "id"));
	return rc;
}
