/*
 * The typed encoder: struct cps_tval values to Avro binary in a struct
 * cps_buf. Canonical: arrays and maps as one block of positive count,
 * decimals in their minimal two's-complement form, so Avro C's output
 * decoded and encoded again comes back byte for byte. Checks the value
 * against the schema as it goes (values are built by code too).
 */
#include "codec/record.h"

#include "codec/record_int.h"
#include "base/common.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static const char *const kind_names[] = {
    [CPS_RK_NULL] = "null",     [CPS_RK_BOOLEAN] = "boolean", [CPS_RK_INT] = "int",
    [CPS_RK_LONG] = "long",     [CPS_RK_FLOAT] = "float",     [CPS_RK_DOUBLE] = "double",
    [CPS_RK_STRING] = "string", [CPS_RK_BYTES] = "bytes",     [CPS_RK_FIXED] = "fixed",
    [CPS_RK_ENUM] = "enum",     [CPS_RK_RECORD] = "record",   [CPS_RK_ARRAY] = "array",
    [CPS_RK_MAP] = "map",       [CPS_RK_UNION] = "union",
};

struct enc {
	struct cps_buf *out;
	unsigned depth;
	struct cps_rplace at;
};

static const char *kind_name(unsigned kind)
{
	return kind < CPS_ARRAY_SIZE(kind_names) ? kind_names[kind] : "unknown";
}

/* Room for `n` more bytes. */
static inline int need(struct enc *e, size_t n)
{
	if (__builtin_expect(e->out->cap > e->out->len + n, 1))
		return CPS_OK;
	if (cps_buf_reserve(e->out, n) != 0)
		return cps_rplace_refuse(
		    &e->at, "output passes its limit of %zu bytes or memory is out", e->out->limit);
	return CPS_OK;
}

static int write_varint(struct enc *e, int64_t v)
{
	int rc;

	if ((rc = need(e, 10)) != CPS_OK)
		return rc;
	e->out->len += cps_avro_long_put(e->out->data + e->out->len, v);
	return CPS_OK;
}

static int write_len_bytes(struct enc *e, const uint8_t *p, size_t len)
{
	int rc;

	if (len > (size_t)INT64_MAX - 10 || (rc = need(e, 10 + len)) != CPS_OK)
		return len > (size_t)INT64_MAX - 10
		           ? cps_rplace_refuse(&e->at, "length %zu too large", len)
		           : rc;
	e->out->len += cps_avro_long_put(e->out->data + e->out->len, (int64_t)len);
	if (len)
		memcpy(e->out->data + e->out->len, p, len);
	e->out->len += len;
	return CPS_OK;
}

/* A decimal's unscaled value: minimal big-endian two's complement (bytes),
 * or sign-extended to the fixed size. */
static int write_decimal(struct enc *e, const struct cps_rtype *t, int64_t v)
{
	uint8_t be[8];
	size_t start = cps_decimal_be(v, be), i;
	int rc;

	if (t->kind == CPS_RK_BYTES)
		return write_len_bytes(e, be + start, 8 - start);
	if (8 - start > t->size)
		return cps_rplace_refuse(&e->at, "decimal does not fit fixed of %zu bytes",
		                         t->size);
	if ((rc = need(e, t->size)) != CPS_OK)
		return rc;
	for (i = 0; i + 8 < t->size; i++)
		e->out->data[e->out->len++] = v < 0 ? 0xff : 0x00;
	memcpy(e->out->data + e->out->len, be + (t->size < 8 ? 8 - t->size : 0),
	       t->size < 8 ? t->size : 8);
	e->out->len += t->size < 8 ? t->size : 8;
	return CPS_OK;
}

static int encode_value(struct enc *e, const struct cps_rtype *t, const struct cps_tval *v);

static int encode_blocks(struct enc *e, const struct cps_rtype *t, const struct cps_tval *v)
{
	int is_map = t->kind == CPS_RK_MAP;
	struct cps_rseg *seg;
	size_t i, n = v->u.list.n;
	int rc;

	if (n && !v->u.list.v)
		return cps_rplace_refuse(&e->at, "%s of %zu items without items",
		                         kind_name(t->kind), n);
	if (n && (rc = write_varint(e, (int64_t)n)) != CPS_OK)
		return rc;
	seg = &e->at.path[e->at.nseg++];
	seg->type = t;
	for (i = 0; i < n; i++) {
		const struct cps_tval *item = &v->u.list.v[is_map ? 2 * i : i];

		seg->index = i;
		if (is_map) {
			seg->kind = CPS_RSEG_KEY;
			if (item->kind != CPS_RK_STRING)
				return cps_rplace_refuse(&e->at, "map key of type %s",
				                         kind_name(item->kind));
			if ((rc = write_len_bytes(e, item->u.b.ptr, item->u.b.len)) != CPS_OK)
				return rc;
			item++;
			seg->kind = CPS_RSEG_VALUE;
		} else {
			seg->kind = CPS_RSEG_ITEM;
		}
		if ((rc = encode_value(e, t->items, item)) != CPS_OK)
			return rc;
	}
	e->at.nseg--;
	return write_varint(e, 0);
}

static int encode_record(struct enc *e, const struct cps_rtype *t, const struct cps_tval *v)
{
	struct cps_rseg *seg;
	size_t i;
	int rc;

	if (v->u.list.n != t->n || (t->n && !v->u.list.v))
		return cps_rplace_refuse(&e->at, "record of %zu fields where %s has %zu",
		                         v->u.list.n, t->name, t->n);
	seg = &e->at.path[e->at.nseg++];
	seg->kind = CPS_RSEG_FIELD;
	seg->type = t;
	for (i = 0; i < t->n; i++) {
		seg->index = i;
		if ((rc = encode_value(e, t->fields[i].type, &v->u.list.v[i])) != CPS_OK)
			return rc;
	}
	e->at.nseg--;
	return CPS_OK;
}

static int encode_scalar(struct enc *e, const struct cps_rtype *t, const struct cps_tval *v)
{
	int rc;

	switch (t->kind) {
	case CPS_RK_NULL:
		return CPS_OK;
	case CPS_RK_BOOLEAN:
		if (v->u.i != 0 && v->u.i != 1)
			return cps_rplace_refuse(&e->at, "boolean not 0 or 1");
		if ((rc = need(e, 1)) != CPS_OK)
			return rc;
		e->out->data[e->out->len++] = (uint8_t)v->u.i;
		return CPS_OK;
	case CPS_RK_INT:
		if (v->u.i < INT32_MIN || v->u.i > INT32_MAX)
			return cps_rplace_refuse(&e->at, "int out of range");
		return write_varint(e, v->u.i);
	case CPS_RK_LONG:
		return write_varint(e, v->u.i);
	case CPS_RK_FLOAT:
	case CPS_RK_DOUBLE:
		if ((rc = need(e, 8)) != CPS_OK)
			return rc;
		if (t->kind == CPS_RK_FLOAT)
			memcpy(e->out->data + e->out->len, &v->u.f, 4);
		else
			memcpy(e->out->data + e->out->len, &v->u.d, 8);
		e->out->len += t->kind == CPS_RK_FLOAT ? 4 : 8;
		return CPS_OK;
	case CPS_RK_STRING:
		return write_len_bytes(e, v->u.b.ptr, v->u.b.len);
	case CPS_RK_BYTES:
		if (t->logical == CPS_LOGICAL_DECIMAL)
			return write_decimal(e, t, v->u.i);
		return write_len_bytes(e, v->u.b.ptr, v->u.b.len);
	case CPS_RK_FIXED:
		if (t->logical == CPS_LOGICAL_DECIMAL)
			return write_decimal(e, t, v->u.i);
		if (v->u.b.len != t->size)
			return cps_rplace_refuse(&e->at, "fixed of %zu bytes where %s has %zu",
			                         v->u.b.len, t->name, t->size);
		if ((rc = need(e, t->size)) != CPS_OK)
			return rc;
		if (t->size)
			memcpy(e->out->data + e->out->len, v->u.b.ptr, t->size);
		e->out->len += t->size;
		return CPS_OK;
	default: /* enum */
		if (v->u.i < 0 || (uint64_t)v->u.i >= t->n)
			return cps_rplace_refuse(&e->at,
			                         "enum index %" PRId64 " out of range 0..%d",
			                         v->u.i, (int)t->n - 1);
		return write_varint(e, v->u.i);
	}
}

static int encode_value(struct enc *e, const struct cps_rtype *t, const struct cps_tval *v)
{
	int rc;

	if (t->kind == CPS_RK_UNION) {
		if (v->branch < 0 || (size_t)v->branch >= t->n)
			return cps_rplace_refuse(&e->at, "union branch %d out of range 0..%zu",
			                         (int)v->branch, t->n - 1);
		if ((rc = write_varint(e, v->branch)) != CPS_OK)
			return rc;
		t = t->branches[v->branch];
	}
	if (v->kind != t->kind)
		return cps_rplace_refuse(&e->at, "value of type %s where the schema has %s",
		                         kind_name(v->kind), kind_name(t->kind));
	switch (t->kind) {
	case CPS_RK_RECORD:
	case CPS_RK_ARRAY:
	case CPS_RK_MAP:
		if (e->depth >= CPS_RECORD_DEPTH_CAP)
			return cps_rplace_refuse(&e->at, "nesting deeper than %u",
			                         CPS_RECORD_DEPTH_CAP);
		e->depth++;
		rc = t->kind == CPS_RK_RECORD ? encode_record(e, t, v) : encode_blocks(e, t, v);
		e->depth--;
		return rc;
	default:
		return encode_scalar(e, t, v);
	}
}

int cps_record_encode(const struct cps_record_schema *rs, const struct cps_tval *v,
                      struct cps_buf *out, char *errstr, size_t errstr_size)
{
	return cps_record_encode_at(rs ? rs->root : NULL, v, out, errstr, errstr_size);
}

int cps_record_encode_at(const struct cps_rtype *t, const struct cps_tval *v, struct cps_buf *out,
                         char *errstr, size_t errstr_size)
{
	struct enc e;

	if (!t || !v || !out)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "record encoder called without a schema, value or buffer");
	e.out = out;
	e.depth = 0;
	e.at.nseg = 0; /* the path is written as the walk goes deeper */
	e.at.errstr = errstr;
	e.at.errstr_size = errstr_size;
	return encode_value(&e, t, v);
}
