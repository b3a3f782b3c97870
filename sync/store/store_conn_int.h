/*
 * Private to the store's connection files (store.c, store_migrate.c,
 * store_pipeline.c, store_batch.c, store_read.c, store_changes.c,
 * store_retention.c, store_republish.c, store_policy.c): the connection struct, the prepared
 * statements, and the error, statement and pipeline helpers they share. Not
 * for other rooms: use store.h.
 */
#ifndef CPS_STORE_CONN_INT_H
#define CPS_STORE_CONN_INT_H

#include "base/buf.h"
#include "store/store.h"

#include <libpq-fe.h>

#include <stddef.h>
#include <stdint.h>

enum stmt_id {
	ST_RECORDS_MERGE,
	ST_CHANGE_APPEND,
	ST_CONFLICT_OPEN,
	ST_CONFLICT_UPDATE,
	ST_CONFLICT_CLOSE,
	ST_AUDIT_INSERT,
	ST_OFFSET_UPSERT,
	ST_DEAD_LETTER_INSERT,
	ST_LOAD_STATES,
	ST_CURRENT_XID,
	ST_LOAD_OFFSETS,
	ST_CHANGES_FETCH,
	ST_CURSOR_ADVANCE,
	ST_CHANGES_PRUNE,
	ST_STATS,
	ST_RETAIN_DEAD_LETTER_RAW,
	ST_RETAIN_DEAD_LETTERS,
	ST_RETAIN_CONFLICTS,
	ST_RETAIN_AUDIT_VALUES,
	ST_SINK_VERSIONS_GET,
	ST_SINK_VERSIONS_PUT,
	ST_POLICY_CLOSE,
	ST_POLICY_OPEN,
	ST_POLICY_OPEN_COUNTS,
	ST_POLICY_OPEN_OF,
	ST_POLICY_DEPENDENTS,
	ST_STANDARDS_PUT,
	ST_STANDARDS_LIST,
	ST_COUNT,
	/* not prepared: sent as plain queries inside a pipeline */
	ST_BEGIN = ST_COUNT,
	ST_COMMIT,
};

struct cps_store_stmt {
	const char *name; /* prepared statement name */
	const char *what; /* for error messages */
	int nparams;
	const char *sql;
};

/* Indexed by enum stmt_id (store.c). */
extern const struct cps_store_stmt cps_store_stmts[ST_COUNT];

struct cps_store {
	PGconn *conn;
	int prepared; /* cps_store_stmts[] prepared on this connection */
	int broken;   /* a pipeline failed half-way: only close is safe */
	/* change-log rows of the last fetch, borrowed from changes_res */
	PGresult *changes_res;
	struct cps_change_row *changes_rows;
	/* the pipeline in progress: what each sent query was */
	uint8_t *sent;
	size_t n_sent, sent_cap;
	uint64_t pipeline_xid;     /* ST_CURRENT_XID's answer in the last pipeline, or 0 */
	bool serialization_failed; /* the last error was SQLSTATE 40001 */
};

/* ---- store.c: errors and statements ---- */

/* Only the SQLSTATE and constraint name: the message and detail may quote values. */
int cps_store_result_error(struct cps_store *s, const PGresult *res, const char *what, char *errstr,
                           size_t errstr_size);
/* CPS_ERR_RETRIABLE when the connection is lost or a pipeline broke it. */
int cps_store_usable(struct cps_store *s, char *errstr, size_t errstr_size);
/* Prepares cps_store_stmts[] once per connection. */
int cps_store_prepare_all(struct cps_store *s, char *errstr, size_t errstr_size);
/* Runs a prepared statement outside any pipeline; *res is the caller's. */
int cps_store_exec_prepared(struct cps_store *s, enum stmt_id id, const char *const *values,
                            const int *lengths, const int *formats, int result_format,
                            PGresult **res, char *errstr, size_t errstr_size);

/* ---- store_read.c: array literals ---- */

/* A PostgreSQL array literal of texts, {"a","b\"c"}: the n strings at
 * `items`, `stride` bytes apart. 0, or -1 when out of memory. */
int cps_store_text_array(struct cps_buf *b, const char *const *items, size_t stride, size_t n);
/* A PostgreSQL array literal of n integers, {1,2,3}: items are int32_t or
 * int64_t (elem_size says which). 0, or -1 when out of memory. */
int cps_store_int_array(struct cps_buf *b, const void *items, size_t elem_size, size_t n);
/* Runs statement `id` with the n array literals in `lists` as its
 * parameters, in order; *res is the caller's. */
int cps_store_exec_lists(struct cps_store *s, enum stmt_id id, const struct cps_buf *const *lists,
                         int n, PGresult **res, char *errstr, size_t errstr_size);
/* The list element a row of an "unnest(…) WITH ORDINALITY" query answers
 * (its ordinal in column 0): an index below n, or -1 for none. */
long cps_store_row_index(const PGresult *res, int row, size_t n);

/* ---- store_pipeline.c: one transaction in pipeline mode ---- */

/* BEGIN in pipeline mode, statements prepared first. */
int cps_store_pipeline_begin(struct cps_store *s, char *errstr, size_t errstr_size);
/* Queues one prepared statement. A failure leaves the connection unusable. */
int cps_store_pipeline_send(struct cps_store *s, enum stmt_id id, const char *const *values,
                            const int *lengths, const int *formats, char *errstr,
                            size_t errstr_size);
/* COMMIT, one sync, then every result: the first failure is reported and
 * the transaction rolled back. `failed_before` aborts without committing. */
int cps_store_pipeline_end(struct cps_store *s, int failed_before, char *errstr,
                           size_t errstr_size);

#endif
