/*
 * The change log as the publisher reads it (003_change_log.sql): the rows
 * after its cursor, in (xid, seq) order, the cursor moved once Kafka has
 * them, retention (the log is the history), and the sinks' version guard
 * (sink_versions). A fetch's rows are borrowed from its PGresult, kept on
 * the store until the next fetch (or close).
 */
#include "store/store.h"

#include "base/buf.h"
#include "base/common.h"
#include "store/store_conn_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static uint64_t be64(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | (uint8_t)p[i];
	return v;
}

int cps_store_changes_fetch(struct cps_store *s, size_t limit, struct cps_change_row **rows,
                            size_t *n, char *errstr, size_t errstr_size)
{
	char num[24];
	const char *values[1] = {num};
	PGresult *res = NULL;
	size_t count;
	int rc;

	*rows = NULL;
	*n = 0;
	PQclear(s->changes_res);
	s->changes_res = NULL;
	free(s->changes_rows);
	s->changes_rows = NULL;
	snprintf(num, sizeof(num), "%zu", limit);
	/* binary results: seq as int8, xid as xid8 (8 bytes), texts as they are,
	 * the payload raw */
	rc = cps_store_exec_prepared(s, ST_CHANGES_FETCH, values, NULL, NULL, 1, &res, errstr,
	                             errstr_size);
	if (rc)
		return rc;
	count = (size_t)PQntuples(res);
	if (count) {
		s->changes_rows = calloc(count, sizeof(*s->changes_rows));
		if (!s->changes_rows) {
			PQclear(res);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "store: out of memory");
		}
	}
	for (size_t i = 0; i < count; i++) {
		struct cps_change_row *r = &s->changes_rows[i];

		if (PQgetlength(res, (int)i, 0) != 8 || PQgetlength(res, (int)i, 1) != 8) {
			PQclear(res);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "store: unexpected change-log position format");
		}
		r->seq = (int64_t)be64(PQgetvalue(res, (int)i, 0));
		r->xid = be64(PQgetvalue(res, (int)i, 1));
		r->topic = PQgetvalue(res, (int)i, 2); /* libpq NUL-terminates values */
		r->key = PQgetvalue(res, (int)i, 3);
		r->payload = (const uint8_t *)PQgetvalue(res, (int)i, 4);
		r->payload_len = (size_t)PQgetlength(res, (int)i, 4);
	}
	s->changes_res = res;
	*rows = s->changes_rows;
	*n = count;
	return CPS_OK;
}

int cps_store_changes_advance(struct cps_store *s, const struct cps_change_row *row, char *errstr,
                              size_t errstr_size)
{
	char xid[24], seq[24];
	const char *values[2] = {xid, seq};
	PGresult *res = NULL;
	int rc;

	snprintf(xid, sizeof(xid), "%" PRIu64, row->xid);
	snprintf(seq, sizeof(seq), "%" PRId64, row->seq);
	rc = cps_store_exec_prepared(s, ST_CURSOR_ADVANCE, values, NULL, NULL, 0, &res, errstr,
	                             errstr_size);
	PQclear(res);
	return rc;
}

int cps_store_changes_prune(struct cps_store *s, int64_t retention_ms, size_t limit,
                            size_t *deleted, char *errstr, size_t errstr_size)
{
	char age[24], max[24];
	const char *values[2] = {age, max};
	PGresult *res = NULL;
	int rc;

	*deleted = 0;
	snprintf(age, sizeof(age), "%" PRId64, retention_ms);
	snprintf(max, sizeof(max), "%zu", limit);
	rc = cps_store_exec_prepared(s, ST_CHANGES_PRUNE, values, NULL, NULL, 0, &res, errstr,
	                             errstr_size);
	if (rc == CPS_OK)
		*deleted = (size_t)strtoull(PQcmdTuples(res), NULL, 10);
	PQclear(res);
	return rc;
}

/* The (entity, key) arrays of refs as array literals into a and b. */
static int ref_arrays(const struct cps_change_ref *refs, size_t n, struct cps_buf *a,
                      struct cps_buf *b)
{
	cps_buf_init(a, 0);
	cps_buf_init(b, 0);
	return cps_store_text_array(a, &refs[0].entity, sizeof(*refs), n) ||
	               cps_store_text_array(b, &refs[0].key, sizeof(*refs), n)
	           ? -1
	           : 0;
}

int cps_store_sink_versions_get(struct cps_store *s, const char *link,
                                const struct cps_change_ref *refs, size_t n, int64_t *versions,
                                char *errstr, size_t errstr_size)
{
	struct cps_buf entities, keys;
	const char *values[3];
	PGresult *res = NULL;
	int rc;

	for (size_t i = 0; i < n; i++)
		versions[i] = 0;
	if (!n)
		return CPS_OK;
	if (ref_arrays(refs, n, &entities, &keys) < 0) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
		goto out;
	}
	values[0] = link;
	values[1] = (const char *)entities.data;
	values[2] = (const char *)keys.data;
	rc = cps_store_exec_prepared(s, ST_SINK_VERSIONS_GET, values, NULL, NULL, 0, &res, errstr,
	                             errstr_size);
	for (int row = 0; rc == CPS_OK && row < PQntuples(res); row++) {
		long i = cps_store_row_index(res, row, n);

		if (i >= 0 && !PQgetisnull(res, row, 1))
			versions[i] = strtoll(PQgetvalue(res, row, 1), NULL, 10);
	}
out:
	PQclear(res);
	cps_buf_release(&entities);
	cps_buf_release(&keys);
	return rc;
}

int cps_store_sink_versions_put(struct cps_store *s, const char *link,
                                const struct cps_change_ref *refs, size_t n, char *errstr,
                                size_t errstr_size)
{
	struct cps_buf entities, keys, versions;
	const char *values[4];
	PGresult *res = NULL;
	int rc;

	if (!n)
		return CPS_OK;
	cps_buf_init(&versions, 0);
	if (ref_arrays(refs, n, &entities, &keys) < 0 ||
	    cps_store_int_array(&versions, &refs[0].version, sizeof(*refs), n)) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
		goto out;
	}
	values[0] = link;
	values[1] = (const char *)entities.data;
	values[2] = (const char *)keys.data;
	values[3] = (const char *)versions.data;
	rc = cps_store_exec_prepared(s, ST_SINK_VERSIONS_PUT, values, NULL, NULL, 0, &res, errstr,
	                             errstr_size);
out:
	PQclear(res);
	cps_buf_release(&entities);
	cps_buf_release(&keys);
	cps_buf_release(&versions);
	return rc;
}
