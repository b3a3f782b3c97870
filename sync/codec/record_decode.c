/*
 * The typed decoder: Avro binary straight into struct cps_tval values in an
 * arena, safe on hostile bytes by itself. It applies the guard's rules
 * (guard.c) with the guard's wording, so a reason reads the same whichever
 * rejected it; decimals add one rule of their own (they must fit 64 bits).
 */
#include "codec/record.h"

#include "codec/avro_reader_int.h"
#include "codec/record_int.h"
#include "base/common.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

struct dec {
	struct cps_avro_reader r; /* first: dec_path gets it */
	struct cps_arena *arena;
	unsigned nseg;
	int copy;
	struct cps_rseg path[CPS_RECORD_DEPTH_CAP + 1];
};

static void dec_path(const struct cps_avro_reader *r, char *out, size_t size)
{
	const struct dec *d = (const struct dec *)r;

	cps_rpath_format(d->path, d->nseg, out, size);
}

__attribute__((noinline, cold)) static int oom(struct dec *d)
{
	return cps_seterr(CPS_ERR_FATAL, d->r.errstr, d->r.errstr_size,
	                  "out of memory decoding a record");
}

/* A length-prefixed string or bytes: sets ptr/len (copied when asked). */
static int read_len_bytes(struct dec *d, const char *what, struct cps_tval *out)
{
	int64_t len;
	int rc;

	if ((rc = cps_avro_read_len(&d->r, what, &len)) != CPS_OK)
		return rc;
	out->u.b.ptr = d->r.p;
	out->u.b.len = (size_t)len;
	d->r.p += len;
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
		return cps_avro_reject(&d->r, at, "decimal of 0 bytes");
	if (len > 8) {
		uint8_t ext = (b[len - 8] & 0x80) ? 0xff : 0x00;

		for (i = 0; i < len - 8; i++)
			if (b[i] != ext)
				return cps_avro_reject(
				    &d->r, at, "decimal of %zu bytes does not fit 64 bits", len);
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

static int items_can_be_empty(const void *items)
{
	return cps_rtype_can_be_empty(items, 0);
}

/* Array items or map entries: blocks of `count` items ended by count 0,
 * gathered into one array that grows by doubling. */
static int decode_blocks(struct dec *d, const struct cps_rtype *t, struct cps_tval *out)
{
	const struct cps_rtype *items = t->items;
	int is_map = t->kind == CPS_RK_MAP;
	struct cps_avro_blocks b = {
	    .zero_ok = -1, .can_be_empty = is_map ? NULL : items_can_be_empty, .items = items};
	size_t per = is_map ? 2 : 1, cap = 0, n_total = 0;
	struct cps_tval *v = NULL;
	struct cps_rseg *seg;
	uint64_t n, i;
	int rc;

	for (;;) {
		if ((rc = cps_avro_block_next(&d->r, &b, &n)) != CPS_OK)
			return rc;
		if (n == 0)
			break;
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
		if ((rc = cps_avro_block_end(&d->r, &b)) != CPS_OK)
			return rc;
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
	const uint8_t *bytes = NULL;
	int rc;

	switch (t->kind) {
	case CPS_RK_NULL:
		out->u.i = 0;
		return CPS_OK;
	case CPS_RK_BOOLEAN:
		return cps_avro_read_boolean(&d->r, at, &out->u.i);
	case CPS_RK_INT:
		return cps_avro_read_varint(&d->r, 5, &out->u.i);
	case CPS_RK_LONG:
		return cps_avro_read_varint(&d->r, 10, &out->u.i);
	case CPS_RK_FLOAT:
		if ((rc = cps_avro_take(&d->r, at, "float", 4, &bytes)) == CPS_OK)
			memcpy(&out->u.f, bytes, 4);
		return rc;
	case CPS_RK_DOUBLE:
		if ((rc = cps_avro_take(&d->r, at, "double", 8, &bytes)) == CPS_OK)
			memcpy(&out->u.d, bytes, 8);
		return rc;
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
		if ((rc = cps_avro_take(&d->r, at, "fixed", (int64_t)t->size, &out->u.b.ptr)) !=
		    CPS_OK)
			return rc;
		out->u.b.len = t->size;
		if (t->logical == CPS_LOGICAL_DECIMAL)
			return decimal_to_int(d, at, out);
		return copy_bytes(d, out);
	default: /* enum */
		return cps_avro_read_index(&d->r, at, "enum", t->n, &out->u.i);
	}
}

static int decode_value(struct dec *d, const struct cps_rtype *t, struct cps_tval *out)
{
	const uint8_t *at = d->r.p;
	int64_t v;
	int rc;

	out->branch = -1;
	if (t->kind == CPS_RK_UNION) {
		if ((rc = cps_avro_enter(&d->r, at)) != CPS_OK)
			return rc;
		if ((rc = cps_avro_read_index(&d->r, at, "union", t->n, &v)) != CPS_OK)
			return rc;
		t = t->branches[v];
		rc = decode_value(d, t, out);
		out->branch = (int32_t)v;
		d->r.depth--;
		return rc;
	}
	out->kind = (uint8_t)t->kind;
	out->logical = (uint8_t)t->logical;
	out->reserved = 0;
	switch (t->kind) {
	case CPS_RK_RECORD:
	case CPS_RK_ARRAY:
	case CPS_RK_MAP:
		if ((rc = cps_avro_enter(&d->r, at)) != CPS_OK)
			return rc;
		if (t->kind == CPS_RK_RECORD)
			rc = decode_record(d, t, out);
		else
			rc = decode_blocks(d, t, out);
		d->r.depth--;
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
	return cps_record_decode_at(rs ? rs->root : NULL, buf, len, limits, flags, arena, out,
	                            errstr, errstr_size);
}

int cps_record_decode_at(const struct cps_rtype *t, const void *buf, size_t len,
                         const struct cps_guard_limits *limits, unsigned flags,
                         struct cps_arena *arena, struct cps_tval *out, char *errstr,
                         size_t errstr_size)
{
	struct dec d;
	int rc;

	if (!t || !arena || !out || (!buf && len > 0))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "record decoder called without a schema, arena or buffer");
	d.arena = arena;
	d.nseg = 0;
	d.copy = (flags & CPS_RECORD_COPY_BYTES) != 0;
	rc = cps_avro_reader_start(&d.r, buf, len, limits, CPS_RECORD_DEPTH_CAP, true, errstr,
	                           errstr_size, dec_path);
	if (rc != CPS_OK || (rc = decode_value(&d, t, out)) != CPS_OK)
		return rc;
	d.nseg = 0;
	if (d.r.p != d.r.end)
		return cps_avro_reject(&d.r, d.r.p, "trailing bytes: %zu after the datum",
		                       cps_avro_remaining(&d.r));
	return CPS_OK;
}
