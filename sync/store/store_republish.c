/*
 * Keyset pages for a re-publish (store_republish.h): current records by
 * (entity, key), the change log by (xid, seq), one query per page with
 * binary results, so a table of any size streams in pages of `limit` rows.
 */
#include "store/store_republish.h"

#include "base/common.h"
#include "store/store_conn_int.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Binary results: int8/xid8 big-endian, bool one byte, text and bytea raw. */
static const char current_sql[] =
    "SELECT r.key, r.version, r.deleted, r.record::text, "
    "CASE WHEN r.prov IS NULL THEN r.provenance::text END, "
    "(extract(epoch FROM r.updated_at) * 1000)::int8, c.payload, r.prov "
    "FROM cpsync.records r LEFT JOIN cpsync.changes c "
    "ON c.entity = r.entity AND c.key = r.key AND c.version = r.version "
    "WHERE r.entity = $1 AND r.version > 0 AND r.key > COALESCE($2, '') "
    "ORDER BY r.key LIMIT $3";

static const char changes_sql[] =
    "SELECT c.key, c.version, c.op = 'delete', NULL::text, NULL::text, "
    "(extract(epoch FROM c.committed_at) * 1000)::int8, c.payload, NULL::bytea, c.xid, c.seq "
    "FROM cpsync.changes c "
    "WHERE c.entity = $1 AND c.committed_at >= $2::timestamptz "
    "AND (c.xid, c.seq) > ($3::xid8, $4::bigint) "
    "AND c.xid < pg_snapshot_xmin(pg_current_snapshot()) "
    "ORDER BY c.xid, c.seq LIMIT $5";

static uint64_t be64(const char *p)
{
	uint64_t v = 0;

	for (int i = 0; i < 8; i++)
		v = v << 8 | (uint8_t)p[i];
	return v;
}

static const char *opt_text(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? NULL : PQgetvalue(res, row, col);
}

/* Runs `sql` and fills `page` from its rows (columns as current_sql, then
 * xid and seq when `logged`). */
static int run_page(struct cps_store *s, const char *sql, int n, const char *const *values,
                    bool logged, struct cps_republish_page *page, char *errstr, size_t errstr_size)
{
	PGresult *res;
	int rc = cps_store_usable(s, errstr, errstr_size);

	memset(page, 0, sizeof(*page));
	if (rc != CPS_OK)
		return rc;
	res = PQexecParams(s->conn, sql, n, NULL, values, NULL, NULL, 1);
	if (PQresultStatus(res) != PGRES_TUPLES_OK) {
		rc = cps_store_result_error(s, res, "re-publish page", errstr, errstr_size);
		PQclear(res);
		return rc;
	}
	page->n = (size_t)PQntuples(res);
	page->rows = calloc(page->n ? page->n : 1, sizeof(*page->rows));
	page->res = res;
	if (!page->rows) {
		cps_republish_page_release(page);
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "store: out of memory");
	}
	for (int i = 0; i < (int)page->n; i++) {
		struct cps_republish_row *r = &page->rows[i];

		if (PQgetlength(res, i, 1) != 8 || PQgetlength(res, i, 2) != 1 ||
		    PQgetlength(res, i, 5) != 8 ||
		    (logged && (PQgetlength(res, i, 8) != 8 || PQgetlength(res, i, 9) != 8))) {
			cps_republish_page_release(page);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "store: unexpected re-publish row format");
		}
		r->key = PQgetvalue(res, i, 0);
		r->version = (int64_t)be64(PQgetvalue(res, i, 1));
		r->deleted = PQgetvalue(res, i, 2)[0] != 0;
		r->record = opt_text(res, i, 3);
		r->provenance = opt_text(res, i, 4);
		r->updated_ms = (int64_t)be64(PQgetvalue(res, i, 5));
		r->payload = (const uint8_t *)opt_text(res, i, 6);
		r->payload_len = r->payload ? (size_t)PQgetlength(res, i, 6) : 0;
		r->prov = (const uint8_t *)opt_text(res, i, 7);
		r->prov_len = r->prov ? (size_t)PQgetlength(res, i, 7) : 0;
		if (logged) {
			r->xid = be64(PQgetvalue(res, i, 8));
			r->seq = (int64_t)be64(PQgetvalue(res, i, 9));
		}
	}
	return CPS_OK;
}

int cps_store_current_page(struct cps_store *s, const char *entity, size_t limit,
                           struct cps_republish_pos *pos, struct cps_republish_page *page,
                           char *errstr, size_t errstr_size)
{
	char num[24];
	const char *values[3] = {entity, pos->key, num};
	int rc;

	snprintf(num, sizeof(num), "%zu", limit);
	rc = run_page(s, current_sql, 3, values, false, page, errstr, errstr_size);
	if (rc == CPS_OK && page->n) {
		char *last = strdup(page->rows[page->n - 1].key);

		if (!last) {
			cps_republish_page_release(page);
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
			                  "store: out of memory");
		}
		free(pos->key);
		pos->key = last;
	}
	return rc;
}

int cps_store_changes_page(struct cps_store *s, const char *entity, const char *since, size_t limit,
                           struct cps_republish_pos *pos, struct cps_republish_page *page,
                           char *errstr, size_t errstr_size)
{
	char num[24], xid[24], seq[24];
	const char *values[5] = {entity, since, xid, seq, num};
	int rc;

	snprintf(num, sizeof(num), "%zu", limit);
	snprintf(xid, sizeof(xid), "%" PRIu64, pos->xid);
	snprintf(seq, sizeof(seq), "%" PRId64, pos->seq);
	rc = run_page(s, changes_sql, 5, values, true, page, errstr, errstr_size);
	if (rc == CPS_OK && page->n) {
		pos->xid = page->rows[page->n - 1].xid;
		pos->seq = page->rows[page->n - 1].seq;
	}
	return rc;
}

void cps_republish_page_release(struct cps_republish_page *page)
{
	free(page->rows);
	PQclear(page->res);
	memset(page, 0, sizeof(*page));
}

void cps_republish_pos_release(struct cps_republish_pos *pos)
{
	free(pos->key);
	memset(pos, 0, sizeof(*pos));
}
