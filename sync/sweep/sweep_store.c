/*
 * The store's side of a sweep, on the sweep thread's own connection. What a
 * platform holds is gathered in a temporary table (pg_temp.sweep_seen:
 * entity, key, record; the latest per key wins, a NULL record = gone at the
 * platform), then compared by key in keyset batches of chunk_rows:
 *  - its records against cpsync.records: no row, or no live fact of the
 *    platform there: unknown_to_store; a field whose value differs from the
 *    platform's fact the store holds (platforms.<p>.fields.<f>.v): stale_value;
 *    a row's facts (bytea, store/state_facts.h) are decoded here first and the
 *    platform's part kept as jsonb in pg_temp.sweep_facts; a row written
 *    before migration 012 has them in its `platforms` jsonb;
 *  - the store's records of the covered entities with a live fact of the
 *    platform against it: not there (or gone): missing_at_platform.
 * jsonb compares the values: both sides are Avro JSON escaped by store/jsonb.
 */
#include "sweep/sweep_int.h"

#include "base/log.h"
#include "store/jsonb.h"
#include "store/pgerr.h"
#include "store/state_facts.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define WHO "sweep"

PGconn *cps_sweep_connect(const char *conninfo, const char *application, const char *who,
                          char *errstr, size_t errstr_size)
{
	const char *const keys[] = {"application_name", "connect_timeout", "dbname", NULL};
	const char *const values[] = {application, "10", conninfo, NULL};
	PGconn *c = PQconnectdbParams(keys, values, 1);
	char line[160];

	if (!c || PQstatus(c) != CONNECTION_OK) {
		cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "%s: cannot connect: %s", who,
		           cps_pg_conn_message(c, line, sizeof(line)));
		PQfinish(c);
		return NULL;
	}
	return c;
}

int cps_sweep_conn(struct cps_sweeper *sw, char *errstr, size_t errstr_size)
{
	if (sw->conn && PQstatus(sw->conn) == CONNECTION_OK)
		return CPS_OK;
	PQfinish(sw->conn);
	sw->conn = cps_sweep_connect(sw->conninfo, "cpsync-sweep", "sweep", errstr, errstr_size);
	if (!sw->conn)
		return CPS_ERR_RETRIABLE;
	PQsetErrorVerbosity(sw->conn, PQERRORS_TERSE);
	return CPS_OK;
}

/* Runs `sql` with text parameters; *out (may be NULL) gets the result. */
static int exec(PGconn *c, const char *what, const char *sql, int n, const char *const *params,
                PGresult **out, char *errstr, size_t errstr_size)
{
	PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
	ExecStatusType st = PQresultStatus(r);
	int rc = CPS_OK;

	if (st != PGRES_COMMAND_OK && st != PGRES_TUPLES_OK)
		rc = cps_pg_result_error(c, r, WHO, what, errstr, errstr_size);
	if (rc == CPS_OK && out)
		*out = r;
	else
		PQclear(r);
	return rc;
}

int cps_sweep_begin(struct cps_sweeper *sw, const char *trigger, const char *by, bool *held,
                    int64_t *run_id, char *errstr, size_t errstr_size)
{
	const char *lock[1] = {LOCK_NAME}, *run[2] = {trigger, by};
	PGresult *r = NULL;
	int rc;

	*held = false;
	rc = exec(sw->conn, "taking the sweep lock",
	          "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", 1, lock, &r, errstr,
	          errstr_size);
	if (rc != CPS_OK)
		return rc;
	*held = !strcmp(PQgetvalue(r, 0, 0), "t");
	PQclear(r);
	if (!*held)
		return CPS_OK;
	/* holding the lock, no run is going on: one still "running" was cut short */
	rc = exec(sw->conn, "closing interrupted runs",
	          "UPDATE cpsync.sweep_runs SET state = 'failed', finished_at = now(), "
	          "error = 'interrupted: the instance running it stopped' WHERE state = 'running'",
	          0, NULL, NULL, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = exec(sw->conn, "recording the run",
		          "INSERT INTO cpsync.sweep_runs (trigger, requested_by) VALUES ($1, $2) "
		          "RETURNING id",
		          2, run, &r, errstr, errstr_size);
	if (rc == CPS_OK) {
		*run_id = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
		PQclear(r);
		return CPS_OK;
	}
	PQclear(PQexec(sw->conn, "SELECT pg_advisory_unlock_all()"));
	*held = false;
	return rc;
}

/* The run's counts summed by platform and kind (the metric's labels). */
static json_t *counts_by_platform_kind(json_t *counts)
{
	json_t *out = json_array(), *c, *o;
	size_t i, j;

	json_array_foreach (counts, i, c) {
		const char *p = json_string_value(json_object_get(c, "platform"));
		const char *k = json_string_value(json_object_get(c, "kind"));
		json_int_t n = json_integer_value(json_object_get(c, "count"));
		bool found = false;

		json_array_foreach (out, j, o)
			if (!strcmp(json_string_value(json_object_get(o, "platform")), p) &&
			    !strcmp(json_string_value(json_object_get(o, "kind")), k)) {
				json_object_set_new(
				    o, "count",
				    json_integer(json_integer_value(json_object_get(o, "count")) +
				                 n));
				found = true;
			}
		if (!found && p && k)
			json_array_append_new(out, json_pack("{s:s, s:s, s:I}", "platform", p,
			                                     "kind", k, "count", n));
	}
	return out;
}

int cps_sweep_end(struct cps_sweeper *sw, int64_t run_id, json_t *platforms, const char *error,
                  json_t **counts, char *errstr, size_t errstr_size)
{
	char id[24], *plat = json_dumps(platforms, JSON_COMPACT);
	const char *params[4] = {id, error ? "failed" : "done", plat ? plat : "{}", error};
	PGresult *r = NULL;
	int rc;

	*counts = NULL;
	snprintf(id, sizeof(id), "%" PRId64, run_id);
	rc = cps_sweep_conn(sw, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = exec(
		    sw->conn, "recording the run's end",
		    "UPDATE cpsync.sweep_runs SET state = $2, finished_at = now(), duration_ms "
		    "= (extract(epoch FROM now() - started_at) * 1000)::bigint, platforms = "
		    "$3::jsonb, error = $4, counts = coalesce((SELECT jsonb_agg(jsonb_build_"
		    "object('platform', platform, 'entity', entity, 'kind', kind, 'count', n) "
		    "ORDER BY platform, entity, kind) FROM (SELECT platform, entity, kind, "
		    "count(*) AS n FROM cpsync.sweep_differences WHERE run_id = $1 GROUP BY 1, "
		    "2, 3) c), '[]') WHERE id = $1 RETURNING counts",
		    4, params, &r, errstr, errstr_size);
	free(plat);
	if (rc == CPS_OK && PQntuples(r) == 1) {
		json_t *all = json_loads(PQgetvalue(r, 0, 0), 0, NULL);

		*counts = all ? counts_by_platform_kind(all) : NULL;
		json_decref(all);
	}
	PQclear(r);
	/* a finished run's tasks replace those of the runs before it */
	if (rc == CPS_OK && !error)
		rc = exec(sw->conn, "closing older differences",
		          "UPDATE cpsync.sweep_differences SET status = 'closed' WHERE run_id < $1 "
		          "AND status = 'open'",
		          1, params, NULL, errstr, errstr_size);
	if (sw->conn)
		PQclear(PQexec(sw->conn, "SELECT pg_advisory_unlock_all()"));
	return rc;
}

int cps_sweep_store_reset(struct cps_sweeper *sw, char *errstr, size_t errstr_size)
{
	int rc = cps_sweep_conn(sw, errstr, errstr_size);

	if (rc == CPS_OK)
		rc = exec(
		    sw->conn, "creating the sweep's table",
		    "CREATE TEMP TABLE IF NOT EXISTS sweep_seen (entity text, key text, record "
		    "jsonb, PRIMARY KEY (entity, key))",
		    0, NULL, NULL, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = exec(sw->conn, "creating the sweep's facts table",
		          "CREATE TEMP TABLE IF NOT EXISTS sweep_facts (entity text, key text, pf "
		          "jsonb, PRIMARY KEY (entity, key))",
		          0, NULL, NULL, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = exec(sw->conn, "emptying the sweep's table", "TRUNCATE pg_temp.sweep_seen", 0,
		          NULL, NULL, errstr, errstr_size);
	return rc;
}

int cps_sweep_store_chunk(struct cps_sweeper *sw, json_t *chunk, char *errstr, size_t errstr_size)
{
	int ok = 1, rc;
	char *text = cps_jsonb_param(chunk, "[]", &ok);
	const char *params[1] = {text};

	if (!text)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = exec(
	    sw->conn, "adding a chunk",
	    "INSERT INTO pg_temp.sweep_seen (entity, key, record) SELECT DISTINCT ON (x->>'e', "
	    "x->>'k') x->>'e', x->>'k', nullif(x->'r', 'null'::jsonb) FROM "
	    "jsonb_array_elements($1::jsonb) WITH ORDINALITY AS u(x, o) ORDER BY x->>'e', "
	    "x->>'k', o DESC ON CONFLICT (entity, key) DO UPDATE SET record = "
	    "EXCLUDED.record",
	    1, params, NULL, errstr, errstr_size);
	free(text);
	return rc;
}

/* The last (entity, key) of the next batch after (entity, key) in `table`:
 * *more false when the batch runs to the end (hi stays ""). */
static int batch_end(struct cps_sweeper *sw, const char *sql, const char *const *params, char *hi_e,
                     char *hi_k, size_t hi_size, bool *more, char *errstr, size_t errstr_size)
{
	PGresult *r = NULL;
	int rc = exec(sw->conn, "bounding a batch", sql, 4, params, &r, errstr, errstr_size);

	if (rc != CPS_OK)
		return rc;
	*more = PQntuples(r) == 1;
	if (*more && (strlen(PQgetvalue(r, 0, 1)) >= hi_size))
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "a key longer than %zu bytes",
		                hi_size);
	if (*more) {
		snprintf(hi_e, hi_size, "%s", PQgetvalue(r, 0, 0));
		snprintf(hi_k, hi_size, "%s", PQgetvalue(r, 0, 1));
	}
	PQclear(r);
	return rc;
}

#define KEY_MAX 4096

/* One comparison in keyset batches: `bound` finds a batch's last key,
 * `insert` records the batch's differences. Parameters: $1 covered
 * entities (text[]), $2/$3 the key after which the batch starts, $4 the
 * batch size; insert adds $4/$5 the batch's last key (NULL: to the end),
 * $6 the run, $7 the platform. */
static int compare_batches(struct cps_sweeper *sw, const char *what, const char *bound,
                           const char *insert, const char *covered, const char *run,
                           const char *platform, char *errstr, size_t errstr_size)
{
	char *lo_e = calloc(4, KEY_MAX), *lo_k = lo_e + KEY_MAX, *hi_e = lo_k + KEY_MAX,
	     *hi_k = hi_e + KEY_MAX, n[24];
	int64_t batches = 0;
	bool more = true;
	int rc = CPS_OK;

	if (!lo_e)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	snprintf(n, sizeof(n), "%zu", sw->conf.chunk_rows);
	while (more && rc == CPS_OK) {
		const char *bp[4] = {covered, lo_e, lo_k, n};
		const char *ip[7];

		if (atomic_load(&sw->stop)) {
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "sweep stopped");
			break;
		}
		rc = batch_end(sw, bound, bp, hi_e, hi_k, KEY_MAX, &more, errstr, errstr_size);
		if (rc != CPS_OK)
			break;
		ip[0] = covered, ip[1] = lo_e, ip[2] = lo_k;
		ip[3] = more ? hi_e : NULL, ip[4] = more ? hi_k : NULL;
		ip[5] = run, ip[6] = platform;
		rc = exec(sw->conn, what, insert, 7, ip, NULL, errstr, errstr_size);
		batches++;
		if (more) {
			memcpy(lo_e, hi_e, KEY_MAX);
			memcpy(lo_k, hi_k, KEY_MAX);
		}
	}
	free(lo_e);
	CPS_LOG(CPS_LOG_DEBUG, FACILITY, "%s: %" PRId64 " batches", what, batches);
	return rc;
}

static const char SEEN_BOUND[] =
    "SELECT entity, key FROM pg_temp.sweep_seen WHERE entity = ANY($1::text[]) AND (entity, key) "
    "> ($2, $3) ORDER BY entity, key OFFSET $4::int - 1 LIMIT 1";
static const char SEEN_COMPARE[] =
    "WITH b AS (SELECT s.entity, s.key, s.record, COALESCE(sf.pf, r.platforms -> $7) AS pf FROM "
    "pg_temp.sweep_seen s LEFT JOIN cpsync.records r ON r.entity = s.entity AND r.key = s.key "
    "LEFT JOIN pg_temp.sweep_facts sf ON sf.entity = s.entity AND sf.key = s.key WHERE s.entity = ANY($1::text[]) AND (s.entity, s.key) > ($2, $3) AND ($4::text IS NULL OR "
    "(s.entity, s.key) <= ($4, $5)) AND s.record IS NOT NULL) "
    "INSERT INTO cpsync.sweep_differences (run_id, platform, entity, key, field, kind) "
    "SELECT $6::bigint, $7, entity, key, NULL, 'unknown_to_store' FROM b WHERE pf IS NULL OR "
    "pf->>'withdrawn' = 'true' "
    "UNION ALL SELECT $6::bigint, $7, b.entity, b.key, f.key, 'stale_value' FROM b, "
    "jsonb_each(b.record) f WHERE b.pf IS NOT NULL AND b.pf->>'withdrawn' IS DISTINCT FROM "
    "'true' AND b.pf->'fields' ? f.key AND b.pf->'fields'->f.key->'v' IS DISTINCT FROM f.value";
static const char STORE_BOUND[] =
    "SELECT entity, key FROM cpsync.records WHERE entity = ANY($1::text[]) AND (entity, key) > "
    "($2, $3) ORDER BY entity, key OFFSET $4::int - 1 LIMIT 1";
static const char STORE_COMPARE[] =
    "INSERT INTO cpsync.sweep_differences (run_id, platform, entity, key, field, kind) "
    "SELECT $6::bigint, $7, r.entity, r.key, NULL, 'missing_at_platform' FROM cpsync.records r "
    "LEFT JOIN pg_temp.sweep_facts sf ON sf.entity = r.entity AND sf.key = r.key "
    "WHERE r.entity = ANY($1::text[]) AND (r.entity, r.key) > ($2, $3) AND ($4::text IS NULL OR "
    "(r.entity, r.key) <= ($4, $5)) AND COALESCE(sf.pf, r.platforms -> $7) IS NOT NULL AND "
    "COALESCE(sf.pf, r.platforms -> $7)->>'withdrawn' IS DISTINCT FROM 'true' AND NOT EXISTS (SELECT 1 FROM pg_temp.sweep_seen s WHERE s.entity = "
    "r.entity AND s.key = r.key AND s.record IS NOT NULL)";

/* What the comparisons read of a platform's facts: "withdrawn" and each
 * field's "v" (the stamps stay behind: less to send). */
static json_t *facts_compared(json_t *pf)
{
	json_t *fields = json_object(), *f, *v;
	const char *k;

	json_object_foreach (json_object_get(pf, "fields"), k, f) {
		json_t *one = json_object();

		if (!fields || !one ||
		    ((v = json_object_get(f, "v")) && json_object_set(one, "v", v))) {
			json_decref(one);
			json_decref(fields);
			return NULL;
		}
		if (json_object_set_new(fields, k, one)) { /* it took `one` */
			json_decref(fields);
			return NULL;
		}
	}
	return json_pack("{s:O?, s:o}", "withdrawn", json_object_get(pf, "withdrawn"), "fields",
	                 fields);
}

/* One page of rows with facts after (after_e, after_k) (binary results: the
 * facts as bytes): the platform's part of each into `chunk`
 * ([{"e", "k", "pf"}]); the page's last key into after_e/after_k. */
static int facts_page(struct cps_sweeper *sw, const char *covered, const char *platform,
                      char *after_e, char *after_k, json_t *chunk, int *rows, char *errstr,
                      size_t errstr_size)
{
	char n[24];
	const char *params[4] = {covered, after_e, after_k, n};
	PGresult *r;
	int rc = CPS_OK;

	snprintf(n, sizeof(n), "%zu", sw->conf.chunk_rows);
	r = PQexecParams(sw->conn,
	                 "SELECT entity, key, facts FROM cpsync.records WHERE entity = "
	                 "ANY($1::text[]) AND (entity, key) > ($2, $3) AND facts IS NOT NULL "
	                 "ORDER BY entity, key LIMIT $4::int",
	                 4, NULL, params, NULL, NULL, 1);
	if (PQresultStatus(r) != PGRES_TUPLES_OK) {
		rc = cps_pg_result_error(sw->conn, r, WHO, "reading the store's facts", errstr,
		                         errstr_size);
		PQclear(r);
		return rc;
	}
	*rows = PQntuples(r);
	for (int i = 0; rc == CPS_OK && i < *rows; i++) {
		json_t *all, *pf;

		rc = cps_facts_decode((const uint8_t *)PQgetvalue(r, i, 2),
		                      (size_t)PQgetlength(r, i, 2), &all, errstr, errstr_size);
		if (rc != CPS_OK)
			break; /* errstr names the bytes, never the key (personal data) */
		pf = json_object_get(all, platform);
		if (pf && json_array_append_new(
		              chunk, json_pack("{s:s, s:s, s:o}", "e", PQgetvalue(r, i, 0), "k",
		                               PQgetvalue(r, i, 1), "pf", facts_compared(pf))))
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		json_decref(all);
	}
	if (rc == CPS_OK && *rows) {
		if (PQgetlength(r, *rows - 1, 0) >= KEY_MAX ||
		    PQgetlength(r, *rows - 1, 1) >= KEY_MAX)
			rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                "a key longer than %d bytes", KEY_MAX);
		snprintf(after_e, KEY_MAX, "%s", PQgetvalue(r, *rows - 1, 0));
		snprintf(after_k, KEY_MAX, "%s", PQgetvalue(r, *rows - 1, 1));
	}
	PQclear(r);
	return rc;
}

/* pg_temp.sweep_facts: the platform's facts of every row of the covered
 * entities that has them as bytea, as jsonb the comparisons read. */
static int facts_materialize(struct cps_sweeper *sw, const char *covered, const char *platform,
                             char *errstr, size_t errstr_size)
{
	char *after_e = calloc(2, KEY_MAX), *after_k = after_e + KEY_MAX;
	int rows = 1, rc;

	if (!after_e)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = exec(sw->conn, "emptying the sweep's facts", "TRUNCATE pg_temp.sweep_facts", 0, NULL,
	          NULL, errstr, errstr_size);
	while (rc == CPS_OK && rows) {
		json_t *chunk = json_array();
		int ok = 1;
		char *text;

		rc = chunk ? facts_page(sw, covered, platform, after_e, after_k, chunk, &rows,
		                        errstr, errstr_size)
		           : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		text = rc == CPS_OK && json_array_size(chunk) ? cps_jsonb_param(chunk, "[]", &ok)
		                                              : NULL;
		if (rc == CPS_OK && !ok)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		if (rc == CPS_OK && text)
			rc = exec(
			    sw->conn, "keeping the sweep's facts",
			    "INSERT INTO pg_temp.sweep_facts (entity, key, pf) SELECT x->>'e', "
			    "x->>'k', x->'pf' FROM jsonb_array_elements($1::jsonb) x",
			    1, (const char *const[]){text}, NULL, errstr, errstr_size);
		free(text);
		json_decref(chunk);
		if (atomic_load(&sw->stop) && rc == CPS_OK)
			rc = cps_seterr(CPS_ERR_RETRIABLE, errstr, errstr_size, "sweep stopped");
	}
	free(after_e);
	return rc;
}

int cps_sweep_store_compare(struct cps_sweeper *sw, int64_t run_id, const char *platform,
                            const bool *covered, char *errstr, size_t errstr_size)
{
	char list[256] = "{", run[24];
	size_t at = 1;
	int rc;

	for (int i = 0; i < CPS_N_ENTITIES; i++)
		if (covered[i])
			at += (size_t)snprintf(list + at, sizeof(list) - at, "%s%s",
			                       at > 1 ? "," : "", cps_entities[i]);
	snprintf(list + at, sizeof(list) - at, "}");
	if (at == 1)
		return CPS_OK; /* nothing of the platform read in full */
	snprintf(run, sizeof(run), "%" PRId64, run_id);
	rc = facts_materialize(sw, list, platform, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = compare_batches(sw, "comparing the platform's records", SEEN_BOUND,
		                     SEEN_COMPARE, list, run, platform, errstr, errstr_size);
	if (rc == CPS_OK)
		rc = compare_batches(sw, "comparing the store's records", STORE_BOUND,
		                     STORE_COMPARE, list, run, platform, errstr, errstr_size);
	return rc;
}

int64_t cps_sweep_store_since_last(struct cps_sweeper *sw)
{
	PGresult *r = PQexec(sw->conn, "SELECT (extract(epoch FROM now() - max(started_at)) * "
	                               "1000)::bigint FROM cpsync.sweep_runs");
	int64_t ms = -1;

	if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1 && !PQgetisnull(r, 0, 0))
		ms = strtoll(PQgetvalue(r, 0, 0), NULL, 10);
	PQclear(r);
	return ms;
}
