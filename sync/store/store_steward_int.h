/*
 * Private to the steward store (store_steward.c, store_steward_resolve.c):
 * the connection pool, statement helpers, column readers and the conflict
 * detail query the decision reuses. Not for other rooms: use store_steward.h.
 */
#ifndef CPS_STORE_STEWARD_INT_H
#define CPS_STORE_STEWARD_INT_H

#include "store/jsonb.h"
#include "store/store_steward.h"

#include <jansson.h>
#include <libpq-fe.h>

#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

struct cps_key_state;

/* A pooled connection (a new one when none is idle); NULL with errstr set. */
PGconn *cps_steward_conn_take(struct cps_steward_store *ss, char *errstr, size_t errstr_size);
/* Back to the pool, unless it is broken or inside a transaction. */
void cps_steward_conn_give(struct cps_steward_store *ss, PGconn *c);

/* Runs one statement with text parameters (a NULL value is SQL NULL; a
 * nonzero lens[i] marks a binary parameter). *res is the caller's. */
int cps_steward_run(PGconn *c, const char *what, const char *sql, int n, const char *const *v,
                    const int *lens, PGresult **res, char *errstr, size_t errstr_size);
/* cps_steward_run, its result dropped; _cmd: without parameters. */
int cps_steward_exec(PGconn *c, const char *what, const char *sql, int n, const char *const *v,
                     const int *lens, char *errstr, size_t errstr_size);
int cps_steward_run_cmd(PGconn *c, const char *what, const char *sql, char *errstr,
                        size_t errstr_size);
/* cps_steward_run for a statement that must give exactly one row: with any
 * other count, *why = why_missing and CPS_ERR_INVALID with the message
 * `missing_fmt` (*res NULL). */
int cps_steward_run_row(PGconn *c, const char *what, const char *sql, int n, const char *const *v,
                        PGresult **res, int *why, int why_missing, char *errstr, size_t errstr_size,
                        const char *missing_fmt, ...) __attribute__((format(printf, 11, 12)));

/* Writes a key state over the version old_version it was read at, in c's
 * transaction; CPS_ERR_RETRIABLE when that version is no longer the stored one. */
int cps_steward_write_state(PGconn *c, const struct cps_key_state *st, int64_t old_version,
                            char *errstr, size_t errstr_size);

/* The scope condition (store_steward.h) with the scope JSON in parameter
 * $n, on the record of entity `ent` and key `key` (SQL expressions): true
 * when $n is NULL (then folded away by the planner, which sees the
 * parameters), else when one of the entity's region fields of that record
 * starts with one of the prefixes. A field holds a string, or
 * {"string": ...} when nullable. */
#define CPS_STEWARD_IN_SCOPE(n, ent, key)                                                          \
	"($" n "::jsonb IS NULL OR EXISTS (SELECT 1 FROM cpsync.records sr, "                      \
	"jsonb_array_elements_text($" n "::jsonb -> 'fields' -> sr.entity) f(name), "              \
	"jsonb_array_elements_text($" n "::jsonb -> 'prefixes') p(prefix) "                        \
	"WHERE sr.entity = " ent " AND sr.key = " key " AND starts_with("                          \
	"COALESCE(sr.record -> f.name ->> 'string', sr.record ->> f.name), p.prefix)))"

/* One conflict in full on connection `c` (cps_steward_conflict_get's
 * shape); out of `scope` (NULL: every region) is not found. */
int cps_steward_conflict_read(PGconn *c, int64_t id, const char *scope, json_t **out, int *why,
                              char *errstr, size_t errstr_size);

static inline int64_t col_int(const PGresult *res, int row, int col)
{
	return PQgetisnull(res, row, col) ? 0 : strtoll(PQgetvalue(res, row, col), NULL, 10);
}

/* A jsonb column as JSON (SQL NULL: JSON null); never NULL (null on error). */
static inline json_t *col_json(const PGresult *res, int row, int col)
{
	json_t *j = cps_jsonb_value(res, row, col);

	return j ? j : json_null();
}

static inline void num(char buf[24], int64_t n)
{
	snprintf(buf, 24, "%" PRId64, n);
}

#endif
