/*
 * The outbox, read oldest first by the publisher and deleted once sent.
 * A fetch's rows are borrowed from its PGresult, kept on the store until the
 * next fetch (or close).
 */
#include "store/store.h"

#include "base/buf.h"
#include "base/common.h"
#include "store/store_conn_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>

static int64_t be64(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | (uint8_t)p[i];
	return (int64_t)v;
}

int cps_store_outbox_fetch(struct cps_store *s, size_t limit, struct cps_outbox_row **rows,
                           size_t *n, char *errstr, size_t errstr_size)
{
	char num[24];
	const char *values[1] = {num};
	PGresult *res = NULL;
	size_t count;
	int rc;

	*rows = NULL;
	*n = 0;
	PQclear(s->outbox_res);
	s->outbox_res = NULL;
	free(s->outbox_rows);
	s->outbox_rows = NULL;
	snprintf(num, sizeof(num), "%zu", limit);
	/* binary results: the id as int8, texts as they are, the payload raw */
	rc = cps_store_exec_prepared(s, ST_OUTBOX_FETCH, values, NULL, NULL, 1, &res, errstr,
	                             errstr_size);
	if (rc)
		return rc;
	count = (size_t)PQntuples(res);
	if (count) {
		s->outbox_rows = calloc(count, sizeof(*s->outbox_rows));
		if (!s->outbox_rows) {
			PQclear(res);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "store: out of memory");
		}
	}
	for (size_t i = 0; i < count; i++) {
		struct cps_outbox_row *r = &s->outbox_rows[i];

		if (PQgetlength(res, (int)i, 0) != 8) {
			PQclear(res);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "store: unexpected outbox id format");
		}
		r->id = be64(PQgetvalue(res, (int)i, 0));
		r->topic = PQgetvalue(res, (int)i, 1); /* libpq NUL-terminates values */
		r->key = PQgetvalue(res, (int)i, 2);
		r->payload = (const uint8_t *)PQgetvalue(res, (int)i, 3);
		r->payload_len = (size_t)PQgetlength(res, (int)i, 3);
	}
	s->outbox_res = res;
	*rows = s->outbox_rows;
	*n = count;
	return CPS_OK;
}

int cps_store_outbox_delete(struct cps_store *s, const int64_t *ids, size_t n, char *errstr,
                            size_t errstr_size)
{
	struct cps_buf list;
	const char *values[1];
	PGresult *res = NULL;
	int rc = CPS_OK;

	if (!n)
		return CPS_OK;
	cps_buf_init(&list, 0);
	if (cps_store_int_array(&list, ids, sizeof(*ids), n)) {
		cps_buf_release(&list);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
	}
	values[0] = (const char *)list.data;
	rc = cps_store_exec_prepared(s, ST_OUTBOX_DELETE, values, NULL, NULL, 0, &res, errstr,
	                             errstr_size);
	PQclear(res);
	cps_buf_release(&list);
	return rc;
}
