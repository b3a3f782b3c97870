/*
 * The guard: a schema-driven walk over Avro binary bytes that runs *before*
 * Avro C sees them. Avro C allocates what a message declares and trusts
 * enum and union indexes (../shared/DEPENDENCIES.md); the guard rejects
 * with a specific reason: bad varints, lengths beyond the remaining bytes,
 * out-of-range enum or union indexes, absurd block counts, too many items in
 * total, too deep nesting, oversize messages and trailing bytes.
 * It allocates nothing, so nothing can leak on a rejection.
 */
#ifndef CPS_GUARD_H
#define CPS_GUARD_H

#include <avro.h>
#include <stddef.h>
#include <stdint.h>

struct cps_guard_limits {
	size_t max_message_bytes; /* default 4 MiB */
	uint64_t max_items; /* array/map items in one message, all blocks; default 1,000,000 */
	unsigned max_depth; /* nesting of records/arrays/maps/unions; default 64 */
};

void cps_guard_limits_default(struct cps_guard_limits *l);

/* 0 if `buf` is exactly one well-formed datum of `schema` within the
 * limits; otherwise CPS_ERR_INVALID and a reason naming the byte offset and
 * the field path, e.g. "enum index 7 out of range 0..3 at offset 12 (.gender)". */
int cps_guard_check(avro_schema_t schema, const void *buf, size_t len,
                    const struct cps_guard_limits *limits, char *errstr, size_t errstr_size);

/* Like cps_guard_check but for a prefix: sets *consumed to the size of the
 * datum and does not treat following bytes as an error (container-file blocks). */
int cps_guard_check_prefix(avro_schema_t schema, const void *buf, size_t len,
                           const struct cps_guard_limits *limits, size_t *consumed, char *errstr,
                           size_t errstr_size);

#endif
