/*
 * Private to the two readers of Avro binary, the guard (guard.c) and the
 * typed decoder (record_decode.c): the cursor over the bytes with the limits
 * both apply, and the rules they share — minimal zig-zag varints, nesting,
 * lengths, fixed sizes, enum and union indexes, array/map blocks — written
 * once, so a reason reads the same whichever of them rejected the bytes.
 */
#ifndef CPS_AVRO_READER_INT_H
#define CPS_AVRO_READER_INT_H

#include "codec/guard.h"
#include "base/common.h"

#include <inttypes.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cps_avro_reader {
	const uint8_t *base; /* offsets in reasons count from here */
	const uint8_t *p;
	const uint8_t *end;
	uint64_t items; /* array/map items so far, all blocks */
	uint64_t max_items;
	size_t max_bytes; /* the limits' max_message_bytes */
	unsigned depth;
	unsigned max_depth;
	char *errstr;
	size_t errstr_size;
	/* Writes the field path of the current position ("" at the top); the
	 * reader is the first member of the caller's walker. */
	void (*path)(const struct cps_avro_reader *r, char *out, size_t size);
};

/* Starts reading buf[0..len) (buf may be NULL when len is 0) under `limits`
 * (NULL: cps_guard_limits_default), the depth at most `depth_cap`. When
 * `whole`, a message over the size limit is rejected here (the caller's
 * path must already read as empty). */
int cps_avro_reader_start(struct cps_avro_reader *r, const void *buf, size_t len,
                          const struct cps_guard_limits *limits, unsigned depth_cap, bool whole,
                          char *errstr, size_t errstr_size,
                          void (*path)(const struct cps_avro_reader *, char *, size_t));

static inline size_t cps_avro_remaining(const struct cps_avro_reader *r)
{
	return (size_t)(r->end - r->p);
}

/* Rejects: "<what> at offset N (<path>)", `at` the offending byte; returns
 * CPS_ERR_INVALID. */
__attribute__((format(printf, 3, 4), cold)) int
cps_avro_reject(struct cps_avro_reader *r, const uint8_t *at, const char *fmt, ...);

/* The multi-byte case of cps_avro_read_varint. */
int cps_avro_read_varint_slow(struct cps_avro_reader *r, unsigned max_bytes, int64_t *out);

/* Zig-zag varint of at most `max_bytes` bytes (10 for long, 5 for int),
 * minimal encoding only (Avro C re-encodes minimally), no overflow. */
static inline int cps_avro_read_varint(struct cps_avro_reader *r, unsigned max_bytes, int64_t *out)
{
	if (__builtin_expect(r->p < r->end && *r->p < 0x80, 1)) {
		uint64_t v = *r->p++;

		*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
		return CPS_OK;
	}
	return cps_avro_read_varint_slow(r, max_bytes, out);
}

/* One level deeper (a union, record, array or map starting at `at`); the
 * caller decrements r->depth when it is done. */
static inline int cps_avro_enter(struct cps_avro_reader *r, const uint8_t *at)
{
	if (r->depth >= r->max_depth)
		return cps_avro_reject(r, at, "nesting deeper than %u", r->max_depth);
	r->depth++;
	return CPS_OK;
}

/* The length prefix of a string, bytes or map key (`what`), within the
 * remaining bytes; the bytes follow at r->p. */
static inline int cps_avro_read_len(struct cps_avro_reader *r, const char *what, int64_t *len)
{
	const uint8_t *at = r->p;
	int rc;

	if ((rc = cps_avro_read_varint(r, 10, len)) != CPS_OK)
		return rc;
	if (*len < 0)
		return cps_avro_reject(r, at, "negative %s length %" PRId64, what, *len);
	if ((uint64_t)*len > cps_avro_remaining(r))
		return cps_avro_reject(r, at, "%s length %" PRId64 " exceeds remaining %zu bytes",
		                       what, *len, cps_avro_remaining(r));
	return CPS_OK;
}

/* A boolean byte (0 or 1) of the value starting at `at`. */
static inline int cps_avro_read_boolean(struct cps_avro_reader *r, const uint8_t *at, int64_t *out)
{
	if (r->p == r->end)
		return cps_avro_reject(r, at, "truncated boolean");
	if (*r->p > 1)
		return cps_avro_reject(r, at, "boolean byte not 0 or 1");
	*out = *r->p++;
	return CPS_OK;
}

/* The `need` bytes of a float, double or fixed (`what`): *bytes points at
 * them and the cursor moves past them. */
static inline int cps_avro_take(struct cps_avro_reader *r, const uint8_t *at, const char *what,
                                int64_t need, const uint8_t **bytes)
{
	if (need < 0 || (uint64_t)need > cps_avro_remaining(r))
		return cps_avro_reject(r, at, "truncated %s: %" PRId64 " bytes needed, %zu remain",
		                       what, need, cps_avro_remaining(r));
	*bytes = r->p;
	r->p += need;
	return CPS_OK;
}

/* Rejects index `v` of an enum or a union (`what`) of `n` symbols or
 * branches. */
__attribute__((cold)) int cps_avro_index_reject(struct cps_avro_reader *r, const uint8_t *at,
                                                const char *what, size_t n, int64_t v);

/* An enum index (`what` "enum") or a union branch ("union") in 0..n-1. */
static inline int cps_avro_read_index(struct cps_avro_reader *r, const uint8_t *at,
                                      const char *what, size_t n, int64_t *out)
{
	int rc = cps_avro_read_varint(r, 10, out);

	if (rc != CPS_OK)
		return rc;
	if (*out < 0 || (uint64_t)*out >= n)
		return cps_avro_index_reject(r, at, what, n, *out);
	return CPS_OK;
}

/* Reading one array's or map's blocks: cps_avro_block_next until it sets
 * *n to 0; after each block's n items, cps_avro_block_end. */
struct cps_avro_blocks {
	const uint8_t *at;    /* where the current block began */
	const uint8_t *start; /* its first item */
	int64_t size;         /* its byte size, -1 when not given */
	int zero_ok;          /* whether an item can be zero bytes; -1 until needed */
	/* the items' rule for zero_ok, NULL for map entries (never empty) */
	int (*can_be_empty)(const void *items);
	const void *items;
};

/* The header of the next block: its item count in *n (0 at the end), within
 * the items limit and the remaining bytes (unless an item can be zero bytes). */
int cps_avro_block_next(struct cps_avro_reader *r, struct cps_avro_blocks *b, uint64_t *n);
/* Checks the block's byte size, when it gave one, against its items. */
int cps_avro_block_end(struct cps_avro_reader *r, const struct cps_avro_blocks *b);

#endif
