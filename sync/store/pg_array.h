/*
 * A one-dimensional PostgreSQL array in its binary wire form (array_send),
 * built element by element, for statements that write a whole batch with
 * unnest() (store_batch.c). Binary, so bytea and jsonb go in as they are:
 * no quoting, no hex.
 */
#ifndef CPS_PG_ARRAY_H
#define CPS_PG_ARRAY_H

#include "base/buf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The element types' fixed OIDs (pg_type.dat): the server checks them. */
enum cps_pg_oid {
	CPS_OID_BOOL = 16,
	CPS_OID_BYTEA = 17,
	CPS_OID_INT8 = 20,
	CPS_OID_TEXT = 25,
	CPS_OID_JSONB = 3802,
};

struct cps_pg_array {
	struct cps_buf b; /* the header, then each element's length and bytes */
	uint32_t n;
	bool has_null;
	enum cps_pg_oid oid;
	size_t open; /* where the open element's length goes (cps_pg_array_open) */
};

void cps_pg_array_init(struct cps_pg_array *a, enum cps_pg_oid oid);
void cps_pg_array_release(struct cps_pg_array *a);

/* Each appends one element; 0, or -1 out of memory (past 1 GiB, PostgreSQL's
 * limit for one value). */
int cps_pg_array_null(struct cps_pg_array *a);
int cps_pg_array_bytes(struct cps_pg_array *a, const void *p, size_t n);
int cps_pg_array_text(struct cps_pg_array *a, const char *s); /* NULL: SQL NULL */
int cps_pg_array_int8(struct cps_pg_array *a, int64_t v);
int cps_pg_array_bool(struct cps_pg_array *a, bool v);
/* A jsonb element from its JSON text (NULL: SQL NULL). */
int cps_pg_array_jsonb(struct cps_pg_array *a, const char *text);

/* An element whose bytes the caller appends to a->b itself (an encoder
 * writing in place): open it, append, close it. */
int cps_pg_array_open(struct cps_pg_array *a);
void cps_pg_array_close(struct cps_pg_array *a);

/* The finished array as a binary parameter: its bytes, *len their count;
 * NULL when init could not allocate. */
const char *cps_pg_array_finish(struct cps_pg_array *a, int *len);

#endif
