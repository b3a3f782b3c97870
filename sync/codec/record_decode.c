/*
 * The typed decoder: Avro binary straight into struct cps_tval values in an
 * arena, safe on hostile bytes by itself. It applies the guard's rules
 * (guard.c) with the guard's wording, so a reason reads the same whichever
 * rejected it; decimals add one rule of their own (they must fit 64 bits).
 */
#include "codec/record.h"

#include "codec/record_int.h"
#include "base/common.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct dec {
	const uint8_t *base;
	const uint8_t *p;
	const uint8_t *end;
	struct cps_arena *arena;
	uint64_t items;
	uint64_t max_items;
	unsigned depth;
	unsigned max_depth;
	unsigned nseg;
	int copy;
	char *errstr;
	size_t errstr_size;
	struct cps_rseg path[CPS_RECORD_DEPTH_CAP + 1];
};

static size_t remaining(const struct dec *d)
{
	return (size_t)(d->end - d->p);
}

/* "<what> at offset N (<path>)", as the guard words it. */
__attribute__((format(printf, 3, 4), noinline, cold)) static int
reject(struct dec *d, const uint8_t *at, const char *fmt, ...)
{
	char what[160];
	char path[256];
	va_list ap;

	if (!d->errstr || d->errstr_size == 0)
		return CPS_ERR_INVALID;
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	cps_rpath_format(d->path, d->nseg, path, sizeof(path));
	if (path[0])
		snprintf(d->errstr, d->errstr_size, "%s at offset %zu (%s)", what,
		         (size_t)(at - d->base), path);
	else
		snprintf(d->errstr, d->errstr_size, "%s at offset %zu", what,
		         (size_t)(at - d->base));
	return CPS_ERR_INVALID;
}

__attribute__((noinline, cold)) static int oom(struct dec *d)
{
	return cps_seterr(CPS_ERR_FATAL, d->errstr, d->errstr_size,
	                  "out of memory decoding a record");
}

static __attribute__((noinline)) int read_varint_slow(struct dec *d, unsigned max_bytes,
                                                      int64_t *out)
{
	const uint8_t *start = d->p;
	const uint8_t *p = d->p;
	uint64_t v = 0;
	unsigned i, shift = 0;

	for (i = 0;; i++, shift += 7) {
		uint8_t b;

		if (p == d->end)
			return reject(d, start, "truncated varint");
		b = *p++;
		if (i == max_bytes - 1 && (b & 0x80))
			return reject(d, start, "varint longer than %u bytes", max_bytes);
		if (i == max_bytes - 1 && (b >> (max_bytes == 10 ? 1 : 4)) != 0) {
			if (max_bytes == 10)
				return reject(d, start, "varint overflows 64 bits");
			return reject(d, start, "int out of range");
		}
		v |= (uint64_t)(b & 0x7f) << shift;
		if (!(b & 0x80)) {
			if (b == 0)
				return reject(d, start, "non-minimal varint");
			break;
		}
	}
	d->p = p;
	*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
	return CPS_OK;
}

/* Zig-zag varint of at most `max_bytes` bytes (10 for long, 5 for int),
 * minimal encoding only, no overflow: the guard's read_varint. */
static inline int read_varint(struct dec *d, unsigned max_bytes, int64_t *out)
{
	if (__builtin_expect(d->p < d->end && *d->p < 0x80, 1)) {
		uint64_t v = *d->p++;

		*out = (int64_t)(v >> 1) ^ -(int64_t)(v & 1);
		return CPS_OK;
	}
	return read_varint_slow(d, max_bytes, out);
}

static int enter(struct dec *d, const uint8_t *at)
{
	if (d->depth >= d->max_depth)
		return reject(d, at, "nesting deeper than %u", d->max_depth);
	d->depth++;
	return CPS_OK;
}

/* A length-prefixed string or bytes: sets ptr/len (copied when asked). */
static int read_len_bytes(struct dec *d, const char *what, struct cps_tval *out)
{
	const uint8_t *at = d->p;
	int64_t len;
	int rc;

	if ((rc = read_varint(d, 10, &len)) != CPS_OK)
		return rc;
	if (len < 0)
		return reject(d, at, "negative %s length %" PRId64, what, len);
	if ((uint64_t)len > remaining(d))
		return reject(d, at, "%s length %" PRId64 " exceeds remaining %zu bytes", what, len,
		              remaining(d));
	out->u.b.ptr = d->p;
	out->u.b.len = (size_t)len;
	d->p += len;
	return CPS_OK;
}

/* Decimal bytes (big-endian two's complement) into u.i; `at` is where the
 * value began. Longer forms are accepted when the extra bytes only extend
 * the sign (Python's avro writes -128 as FF 80); the encoder writes the
 * minimal form. */
static int decimal_to_int(struct dec *d, const uint8_t *at, struct cps_tval *out)
{
	const uint8_t *b = out->u.b.ptr;
	size_t len = out->u.b.len, i;
	uint64_t v;

	if (len == 0)
		return reject(d, at, "decimal of 0 bytes");
	if (len > 8) {
		uint8_t ext = (b[len - 8] & 0x80) ? 0xff : 0x00;

		for (i = 0; i < len - 8; i++)
			if (b[i] != ext)
				return reject(d, at, "decimal of %zu bytes does not fit 64 bits",
				              len);
		b += len - 8;
		len = 8;
	}
	v = (b[0] & 0x80) ? UINT64_MAX : 0;
	for (i = 0; i < len; i++)
		v = (v << 8) | b[i];
	out->u.i = (int64_t)v;
	return CPS_OK;
}

static int copy_bytes(struct dec *d, struct cps_tval *out)
{
	uint8_t *p;

	if (!d->copy || out->u.b.len == 0)
		return CPS_OK;
	p = cps_arena_alloc(d->arena, out->u.b.len);
	if (!p)
		return oom(d);
	memcpy(p, out->u.b.ptr, out->u.b.len);
	out->u.b.ptr = p;
	return CPS_OK;
}

static int decode_value(struct dec *d, const struct cps_rtype *t, struct cps_tval *out);

/* Array items or map entries: blocks of `count` items ended by count 0,
 * gathered into one array that grows by doubling. */
static int decode_blocks(struct dec *d, const struct cps_rtype *t, struct cps_tval *out)
{
	const struct cps_rtype *items = t->items;
	int is_map = t->kind == CPS_RK_MAP;
	size_t per = is_map ? 2 : 1, cap = 0, n_total = 0;
	struct cps_tval *v = NULL;
	int zero_ok = -1;
	struct cps_rseg *seg;
	int rc;

	for (;;) {
		const uint8_t *at = d->p, *start;
		int64_t count, size = -1;
		uint64_t n, i;

		if ((rc = read_varint(d, 10, &count)) != CPS_OK)
			return rc;
		if (count == 0)
			break;
		if (count < 0) {
			if (count == INT64_MIN)
				return reject(d, at, "block count %" PRId64 " cannot be negated",
				              count);
			count = -count;
			if ((rc = read_varint(d, 10, &size)) != CPS_OK)
				return rc;
			if (size < 0)
				return reject(d, at, "negative block byte size %" PRId64, size);
			if ((uint64_t)size > remaining(d))
				return reject(d, at,
				              "block byte size %" PRId64
				              " exceeds remaining %zu bytes",
				              size, remaining(d));
		}
		n = (uint64_t)count;
		if (n > d->max_items - d->items)
			return reject(d, at,
			              "too many items: block of %" PRIu64 " after %" PRIu64
			              " exceeds max %" PRIu64,
			              n, d->items, d->max_items);
		if (n > remaining(d)) {
			if (zero_ok < 0)
				zero_ok = !is_map && cps_rtype_can_be_empty(items, 0);
			if (!zero_ok)
				return reject(d, at,
				              "block count %" PRIu64 " exceeds remaining %zu bytes",
				              n, remaining(d));
		}
		d->items += n;
		if (n_total + n > cap) {
			size_t ncap = cap * 2 > n_total + n ? cap * 2 : n_total + n;
			struct cps_tval *nv = cps_arena_alloc(d->arena, ncap * per * sizeof(*nv));

			if (!nv)
				return oom(d);
			if (n_total)
				memcpy(nv, v, n_total * per * sizeof(*nv));
			v = nv;
			cap = ncap;
		}
		start = d->p;
		seg = &d->path[d->nseg++];
		seg->type = t;
		for (i = 0; i < n; i++) {
			struct cps_tval *slot = &v[(n_total + i) * per];

			seg->index = n_total + i;
			if (is_map) {
				seg->kind = CPS_RSEG_KEY;
				slot->kind = CPS_RK_STRING;
				slot->logical = CPS_LOGICAL_NONE;
				slot->branch = -1;
				if ((rc = read_len_bytes(d, "map key", slot)) != CPS_OK ||
				    (rc = copy_bytes(d, slot)) != CPS_OK)
					return rc;
				slot++;
				seg->kind = CPS_RSEG_VALUE;
			} else {
				seg->kind = CPS_RSEG_ITEM;
			}
			if ((rc = decode_value(d, items, slot)) != CPS_OK)
				return rc;
		}
		d->nseg--;
		n_total += n;
		if (size >= 0 && (uint64_t)size != (uint64_t)(d->p - start))
			return reject(d, at,
			              "block byte size %" PRId64
			              " does not match its %zu bytes of items",
			              size, (size_t)(d->p - start));
	}
	out->u.list.v = v;
	out->u.list.n = n_total;
	return CPS_OK;
}

static int decode_record(struct dec *d, const struct cps_rtype *t, struct cps_tval *out)
{
	struct cps_tval *v = NULL;
	struct cps_rseg *seg;
	size_t i;
	int rc;

	if (t->n) {
		v = cps_arena_alloc(d->arena, t->n * sizeof(*v));
		if (!v)
			return oom(d);
	}
	out->u.list.v = v;
	out->u.list.n = t->n;
	seg = &d->path[d->nseg++];
	seg->kind = CPS_RSEG_FIELD;
	seg->type = t;
	for (i = 0; i < t->n; i++) {
		seg->index = i;
		if ((rc = decode_value(d, t->fields[i].type, &v[i])) != CPS_OK)
			return rc;
	}
	d->nseg--;
	return CPS_OK;
}

/* Null, boolean, numbers, strings, bytes, fixed, enum. */
static int decode_scalar(struct dec *d, const struct cps_rtype *t, struct cps_tval *out,
                         const uint8_t *at)
{
	int rc;

	switch (t->kind) {
	case CPS_RK_NULL:
		out->u.i = 0;
		return CPS_OK;
	case CPS_RK_BOOLEAN:
		if (d->p == d->end)
			return reject(d, at, "truncated boolean");
		if (*d->p > 1)
			return reject(d, at, "boolean byte not 0 or 1");
		out->u.i = *d->p++;
		return CPS_OK;
	case CPS_RK_INT:
		return read_varint(d, 5, &out->u.i);
	case CPS_RK_LONG:
		return read_varint(d, 10, &out->u.i);
	case CPS_RK_FLOAT:
	case CPS_RK_DOUBLE: {
		size_t need = t->kind == CPS_RK_FLOAT ? 4 : 8;

		if (remaining(d) < need)
			return reject(d, at, "truncated %s: %zu bytes needed, %zu remain",
			              need == 4 ? "float" : "double", need, remaining(d));
		if (need == 4)
			memcpy(&out->u.f, d->p, 4);
		else
			memcpy(&out->u.d, d->p, 8);
		d->p += need;
		return CPS_OK;
	}
	case CPS_RK_STRING:
		if ((rc = read_len_bytes(d, "string", out)) != CPS_OK)
			return rc;
		return copy_bytes(d, out);
	case CPS_RK_BYTES:
		if ((rc = read_len_bytes(d, "bytes", out)) != CPS_OK)
			return rc;
		if (t->logical == CPS_LOGICAL_DECIMAL)
			return decimal_to_int(d, at, out);
		return copy_bytes(d, out);
	case CPS_RK_FIXED:
		if (t->size > remaining(d))
			return reject(d, at,
			              "truncated fixed: %" PRId64 " bytes needed, %zu remain",
			              (int64_t)t->size, remaining(d));
		out->u.b.ptr = d->p;
		out->u.b.len = t->size;
		d->p += t->size;
		if (t->logical == CPS_LOGICAL_DECIMAL)
			return decimal_to_int(d, at, out);
		return copy_bytes(d, out);
	default: /* enum */
		if ((rc = read_varint(d, 10, &out->u.i)) != CPS_OK)
			return rc;
		if (out->u.i < 0 || (uint64_t)out->u.i >= t->n)
			return reject(d, at, "enum index %" PRId64 " out of range 0..%d", out->u.i,
			              (int)t->n - 1);
		return CPS_OK;
	}
}

static int decode_value(struct dec *d, const struct cps_rtype *t, struct cps_tval *out)
{
	const uint8_t *at = d->p;
	int64_t v;
	int rc;

	out->branch = -1;
	if (t->kind == CPS_RK_UNION) {
		if ((rc = enter(d, at)) != CPS_OK)
			return rc;
		if ((rc = read_varint(d, 10, &v)) != CPS_OK)
			return rc;
		if (v < 0 || (uint64_t)v >= t->n) {
			if (t->n == 0)
				return reject(d, at, "union index %" PRId64 " of an empty union",
				              v);
			return reject(d, at, "union index %" PRId64 " out of range 0..%zu", v,
			              t->n - 1);
		}
		t = t->branches[v];
		rc = decode_value(d, t, out);
		out->branch = (int32_t)v;
		d->depth--;
		return rc;
	}
	out->kind = (uint8_t)t->kind;
	out->logical = (uint8_t)t->logical;
	out->reserved = 0;
	switch (t->kind) {
	case CPS_RK_RECORD:
	case CPS_RK_ARRAY:
	case CPS_RK_MAP:
		if ((rc = enter(d, at)) != CPS_OK)
			return rc;
		if (t->kind == CPS_RK_RECORD)
			rc = decode_record(d, t, out);
		else
			rc = decode_blocks(d, t, out);
		d->depth--;
		return rc;
	default:
		return decode_scalar(d, t, out, at);
	}
}

int cps_record_decode(const struct cps_record_schema *rs, const void *buf, size_t len,
                      const struct cps_guard_limits *limits, unsigned flags,
                      struct cps_arena *arena, struct cps_tval *out, char *errstr,
                      size_t errstr_size)
{
	struct cps_guard_limits defaults;
	struct dec d;
	int rc;

	if (!limits) {
		cps_guard_limits_default(&defaults);
		limits = &defaults;
	}
	if (!rs || !arena || !out || (!buf && len > 0))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "record decoder called without a schema, arena or buffer");
	d.base = buf ? buf : (const void *)"";
	d.p = d.base;
	d.end = d.base + len;
	d.arena = arena;
	d.items = 0;
	d.max_items = limits->max_items;
	d.depth = 0;
	d.max_depth =
	    limits->max_depth < CPS_RECORD_DEPTH_CAP ? limits->max_depth : CPS_RECORD_DEPTH_CAP;
	d.nseg = 0;
	d.copy = (flags & CPS_RECORD_COPY_BYTES) != 0;
	d.errstr = errstr;
	d.errstr_size = errstr_size;
	if (len > limits->max_message_bytes)
		return reject(&d, d.base, "message of %zu bytes exceeds max %zu", len,
		              limits->max_message_bytes);
	if ((rc = decode_value(&d, rs->root, out)) != CPS_OK)
		return rc;
	d.nseg = 0;
	if (d.p != d.end)
		return reject(&d, d.p, "trailing bytes: %zu after the datum", remaining(&d));
	return CPS_OK;
}
