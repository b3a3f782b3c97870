/*
 * The rules of Avro binary that the guard and the typed decoder share (see
 * avro_reader_int.h), with the guard's wording: every reason names what is
 * wrong, the byte offset and the field path, never the bytes' content.
 */
#include "codec/avro_reader_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* guard.h's defaults, here with the reader that applies them for the guard
 * and the typed decoder. */
void cps_guard_limits_default(struct cps_guard_limits *l)
{
	l->max_message_bytes = (size_t)4 << 20;
	l->max_items = 1000000;
	l->max_depth = 64;
}

int cps_avro_reader_start(struct cps_avro_reader *r, const void *buf, size_t len,
                          const struct cps_guard_limits *limits, unsigned depth_cap, bool whole,
                          char *errstr, size_t errstr_size,
                          void (*path)(const struct cps_avro_reader *, char *, size_t))
{
	struct cps_guard_limits defaults;

	if (!limits) {
		cps_guard_limits_default(&defaults);
		limits = &defaults;
	}
	r->base = buf ? buf : (const void *)"";
	r->p = r->base;
	r->end = r->base + len;
	r->items = 0;
	r->max_items = limits->max_items;
	r->max_bytes = limits->max_message_bytes;
	r->depth = 0;
	r->max_depth = limits->max_depth < depth_cap ? limits->max_depth : depth_cap;
	r->errstr = errstr;
	r->errstr_size = errstr_size;
	r->path = path;
	if (whole && len > r->max_bytes)
		return cps_avro_reject(r, r->base, "message of %zu bytes exceeds max %zu", len,
		                       r->max_bytes);
	return CPS_OK;
}

int cps_avro_reject(struct cps_avro_reader *r, const uint8_t *at, const char *fmt, ...)
{
	char what[160];
	char path[256];
	va_list ap;

	if (!r->errstr || r->errstr_size == 0)
		return CPS_ERR_INVALID;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	r->path(r, path, sizeof(path));
	if (path[0])
		snprintf(r->errstr, r->errstr_size, "%s at offset %zu (%s)", what,
		         (size_t)(at - r->base), path);
	else
		snprintf(r->errstr, r->errstr_size, "%s at offset %zu", what,
		         (size_t)(at - r->base));
	return CPS_ERR_INVALID;
}

int cps_avro_read_varint_slow(struct cps_avro_reader *r, unsigned max_bytes, int64_t *out)
{
	const uint8_t *start = r->p;
	const uint8_t *p = r->p;
	uint64_t v = 0;
	unsigned i, shift = 0;

	for (i = 0;; i++, shift += 7) {
		uint8_t b;

		if (p == r->end)
			return cps_avro_reject(r, start, "truncated varint");
		b = *p++;
		if (i == max_bytes - 1 && (b & 0x80))
			return cps_avro_reject(r, start, "varint longer than %u bytes", max_bytes);
		if (i == max_bytes - 1 && (b >> (max_bytes == 10 ? 1 : 4)) != 0) {
			if (max_bytes == 10)
				return cps_avro_reject(r, start, "varint overflows 64 bits");
			return cps_avro_reject(r, start, "int out of range");
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0)
				return cps_avro_reject(r, start, "non-minimal varint");
			break;
		}
	}
	r->p = p;
	*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
	return CPS_OK;
}

int cps_avro_index_reject(struct cps_avro_reader *r, const uint8_t *at, const char *what, size_t n,
                          int64_t v)
{
	if (n == 0 && strcmp(what, "union") == 0)
		return cps_avro_reject(r, at, "union index %" PRId64 " of an empty union", v);
	return cps_avro_reject(r, at, "%s index %" PRId64 " out of range 0..%lld", what, v,
	                       (long long)n - 1);
}

int cps_avro_block_next(struct cps_avro_reader *r, struct cps_avro_blocks *b, uint64_t *n)
{
	const uint8_t *at = r->p;
	int64_t count;
	int rc;

	b->at = at;
	b->size = -1;
	*n = 0;
	if ((rc = cps_avro_read_varint(r, 10, &count)) != CPS_OK)
		return rc;
	if (count == 0)
		return CPS_OK;
	if (count < 0) {
		if (count == INT64_MIN)
			return cps_avro_reject(r, at, "block count %" PRId64 " cannot be negated",
			                       count);
		count = -count;
		if ((rc = cps_avro_read_varint(r, 10, &b->size)) != CPS_OK)
			return rc;
		if (b->size < 0)
			return cps_avro_reject(r, at, "negative block byte size %" PRId64, b->size);
		if ((uint64_t)b->size > cps_avro_remaining(r))
			return cps_avro_reject(
			    r, at, "block byte size %" PRId64 " exceeds remaining %zu bytes",
			    b->size, cps_avro_remaining(r));
	}
	if ((uint64_t)count > r->max_items - r->items)
		return cps_avro_reject(r, at,
		                       "too many items: block of %" PRIu64 " after %" PRIu64
		                       " exceeds max %" PRIu64,
		                       (uint64_t)count, r->items, r->max_items);
	if ((uint64_t)count > cps_avro_remaining(r)) {
		if (b->zero_ok < 0)
			b->zero_ok = b->can_be_empty && b->can_be_empty(b->items);
		if (!b->zero_ok)
			return cps_avro_reject(
			    r, at, "block count %" PRIu64 " exceeds remaining %zu bytes",
			    (uint64_t)count, cps_avro_remaining(r));
	}
	r->items += (uint64_t)count;
	b->start = r->p;
	*n = (uint64_t)count;
	return CPS_OK;
}

int cps_avro_block_end(struct cps_avro_reader *r, const struct cps_avro_blocks *b)
{
	if (b->size >= 0 && (uint64_t)b->size != (uint64_t)(r->p - b->start))
		return cps_avro_reject(
		    r, b->at, "block byte size %" PRId64 " does not match its %zu bytes of items",
		    b->size, (size_t)(r->p - b->start));
	return CPS_OK;
}
