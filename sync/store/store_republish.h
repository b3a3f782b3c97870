/*
 * The store's side of a re-publish (publish/republish.c): the current
 * unified records of one entity, or its change log from a time on, read a
 * page at a time by keyset (never the whole table at once), each row with
 * the framed event the live stream published for that version when the log
 * still holds it.
 */
#ifndef CPS_STORE_REPUBLISH_H
#define CPS_STORE_REPUBLISH_H

#include "store/store.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* One row of a page; every pointer is borrowed from the page. */
struct cps_republish_row {
	const char *key;
	int64_t version;
	bool deleted;       /* current records: the unified record is deleted */
	const char *record; /* current records: cpsync.records.record as JSON text, or NULL */
	/* current records: its provenance in binary (state_facts.h), or from
	 * a row written before migration 014, as JSON text */
	const uint8_t *prov;
	size_t prov_len;
	const char *provenance;
	int64_t updated_ms;     /* current records: updated_at; change log: committed_at */
	const uint8_t *payload; /* the framed event of this version, NULL when not logged */
	size_t payload_len;
	uint64_t xid; /* change log: the position in log order */
	int64_t seq;
};

/* A page of rows: release with cps_republish_page_release. */
struct cps_republish_page {
	struct cps_republish_row *rows;
	size_t n;
	void *res; /* the PGresult the rows borrow from */
};

/* Where the next page starts: after `key` (current records) or after
 * (xid, seq) (change log). Zeroed: from the start. */
struct cps_republish_pos {
	char *key; /* owned; NULL before the first page */
	uint64_t xid;
	int64_t seq;
};

/* The next `limit` current records of `entity` after pos->key, in key
 * order, that were ever emitted (version > 0), each with the logged
 * payload of its current version when the change log still has it; moves
 * pos past them. CPS_ERR_RETRIABLE when the server is unreachable. */
int cps_store_current_page(struct cps_store *s, const char *entity, size_t limit,
                           struct cps_republish_pos *pos, struct cps_republish_page *page,
                           char *errstr, size_t errstr_size);

/* The next `limit` changes of `entity` committed at or after `since` (a
 * PostgreSQL timestamptz text, e.g. "2024-05-01T00:00:00Z"), after pos in
 * (xid, seq) order and only from ended transactions (as the publisher
 * reads, ENGINE.md "The change log"); moves pos past them. A `since` that
 * is no timestamp: CPS_ERR_INVALID. */
int cps_store_changes_page(struct cps_store *s, const char *entity, const char *since, size_t limit,
                           struct cps_republish_pos *pos, struct cps_republish_page *page,
                           char *errstr, size_t errstr_size);

void cps_republish_page_release(struct cps_republish_page *page);
void cps_republish_pos_release(struct cps_republish_pos *pos);

#endif
