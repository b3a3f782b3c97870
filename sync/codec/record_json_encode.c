/*
 * Avro JSON straight to Avro binary on a compiled schema: what
 * cps_value_from_json followed by Avro C's encoder gives, byte for byte,
 * without building an Avro C value (an allocation per node). The engine
 * writes its unified events this way. Strict like cps_value_from_json:
 * every field present, no unknown field, unions wrapped by branch name.
 */
#include "codec/record.h"

#include "codec/record_int.h"
#include "base/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct jenc {
	struct cps_buf *out;
	struct cps_rplace at;
};

static int put(struct jenc *e, const void *p, size_t n)
{
	if (cps_buf_append(e->out, p, n) != 0)
		return cps_rplace_refuse(&e->at, "output passes its limit or memory is out");
	return CPS_OK;
}

static int put_long(struct jenc *e, int64_t v)
{
	uint8_t b[10];

	return put(e, b, cps_avro_long_put(b, v));
}

/* A string of code points 0-255 as the bytes they stand for (the JSON
 * encoding of bytes and fixed), length-prefixed unless `fixed` says the
 * size. */
static int put_codepoints(struct jenc *e, const json_t *j, const struct cps_rtype *t)
{
	const uint8_t *s = (const uint8_t *)json_string_value(j);
	size_t len = json_string_length(j), n = 0, start;
	int rc;

	for (size_t i = 0; i < len; i++)
		n += (s[i] & 0xC0) != 0x80;
	if (t->kind == CPS_RK_FIXED && n != t->size)
		return cps_rplace_refuse(&e->at, "expected %zu bytes, got %zu", t->size, n);
	if (t->kind != CPS_RK_FIXED && (rc = put_long(e, (int64_t)n)) != CPS_OK)
		return rc;
	if (cps_buf_reserve(e->out, n) != 0)
		return cps_rplace_refuse(&e->at, "output passes its limit or memory is out");
	start = e->out->len;
	for (size_t i = 0; i < len;) {
		if (s[i] < 0x80) {
			e->out->data[e->out->len++] = s[i++];
		} else if ((s[i] & 0xE0) == 0xC0 && i + 1 < len && s[i] <= 0xC3) {
			e->out->data[e->out->len++] =
			    (uint8_t)(((s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F));
			i += 2;
		} else {
			e->out->len = start;
			return cps_rplace_refuse(&e->at, "code point above 255 in bytes");
		}
	}
	return CPS_OK;
}

static int encode(struct jenc *e, const struct cps_rtype *t, const json_t *j);

static int encode_record(struct jenc *e, const struct cps_rtype *t, const json_t *j)
{
	int rc;

	if (!json_is_object(j))
		return cps_rplace_refuse(&e->at, "expected an object for record %s", t->name);
	if (json_object_size(j) != t->n)
		return cps_rplace_refuse(&e->at, "record %s has %zu fields, the JSON %zu", t->name,
		                         t->n, json_object_size(j));
	for (size_t i = 0; i < t->n; i++) {
		const json_t *f = json_object_get(j, t->fields[i].name);

		e->at.path[e->at.nseg++] = (struct cps_rseg){t, i, CPS_RSEG_FIELD};
		if (!f)
			return cps_rplace_refuse(&e->at, "missing field");
		rc = encode(e, t->fields[i].type, f);
		if (rc != CPS_OK)
			return rc;
		e->at.nseg--;
	}
	return CPS_OK;
}

static int encode_array(struct jenc *e, const struct cps_rtype *t, const json_t *j)
{
	size_t i;
	json_t *item;
	int rc;

	if (!json_is_array(j))
		return cps_rplace_refuse(&e->at, "expected an array");
	if (json_array_size(j) && (rc = put_long(e, (int64_t)json_array_size(j))) != CPS_OK)
		return rc;
	json_array_foreach (j, i, item) {
		e->at.path[e->at.nseg++] = (struct cps_rseg){t, i, CPS_RSEG_ITEM};
		rc = encode(e, t->items, item);
		if (rc != CPS_OK)
			return rc;
		e->at.nseg--;
	}
	return put_long(e, 0);
}

static int encode_map(struct jenc *e, const struct cps_rtype *t, const json_t *j)
{
	const char *key;
	json_t *value;
	size_t i = 0;
	int rc;

	if (!json_is_object(j))
		return cps_rplace_refuse(&e->at, "expected an object for a map");
	if (json_object_size(j) && (rc = put_long(e, (int64_t)json_object_size(j))) != CPS_OK)
		return rc;
	json_object_foreach ((json_t *)j, key, value) {
		size_t klen = strlen(key);

		e->at.path[e->at.nseg++] = (struct cps_rseg){t, i++, CPS_RSEG_VALUE};
		if ((rc = put_long(e, (int64_t)klen)) != CPS_OK ||
		    (rc = put(e, key, klen)) != CPS_OK ||
		    (rc = encode(e, t->items, value)) != CPS_OK)
			return rc;
		e->at.nseg--;
	}
	return put_long(e, 0);
}

static int encode_union(struct jenc *e, const struct cps_rtype *t, const json_t *j)
{
	const char *name;
	json_t *inner = NULL;
	int rc;

	if (json_is_null(j)) {
		if (t->null_branch < 0)
			return cps_rplace_refuse(&e->at, "null, whose union has no null branch");
		return put_long(e, t->null_branch);
	}
	if (!json_is_object(j) || json_object_size(j) != 1)
		return cps_rplace_refuse(&e->at, "expected an object with one union branch");
	json_object_foreach ((json_t *)j, name, inner)
		break;
	for (size_t b = 0; b < t->n; b++) {
		if (!cps_rtype_branch_named(t->branches[b], name))
			continue;
		if ((rc = put_long(e, (int64_t)b)) != CPS_OK)
			return rc;
		return encode(e, t->branches[b], inner);
	}
	return cps_rplace_refuse(&e->at, "unknown union branch");
}

static int encode_enum(struct jenc *e, const struct cps_rtype *t, const json_t *j)
{
	const char *sym = json_string_value(j);

	for (size_t i = 0; sym && i < t->n; i++)
		if (!strcmp(t->symbols[i], sym))
			return put_long(e, (int64_t)i);
	return sym ? cps_rplace_refuse(&e->at, "unknown symbol of enum %s", t->name)
	           : cps_rplace_refuse(&e->at, "expected a string for enum %s", t->name);
}

static int encode(struct jenc *e, const struct cps_rtype *t, const json_t *j)
{
	json_int_t iv;
	float f;
	double d;

	if (e->at.nseg >= CPS_RECORD_DEPTH_CAP)
		return cps_rplace_refuse(&e->at, "nested deeper than %d", CPS_RECORD_DEPTH_CAP);
	switch (t->kind) {
	case CPS_RK_NULL:
		return json_is_null(j) ? CPS_OK : cps_rplace_refuse(&e->at, "expected null");
	case CPS_RK_BOOLEAN:
		if (!json_is_boolean(j))
			return cps_rplace_refuse(&e->at, "expected a boolean");
		return put(e, json_is_true(j) ? "\1" : "\0", 1);
	case CPS_RK_INT:
		iv = json_integer_value(j);
		if (!json_is_integer(j) || iv < INT32_MIN || iv > INT32_MAX)
			return cps_rplace_refuse(&e->at, "expected an int");
		return put_long(e, iv);
	case CPS_RK_LONG:
		if (!json_is_integer(j))
			return cps_rplace_refuse(&e->at, "expected an integer");
		return put_long(e, json_integer_value(j));
	case CPS_RK_FLOAT:
		if (!json_is_number(j))
			return cps_rplace_refuse(&e->at, "expected a number");
		f = (float)json_number_value(j);
		return put(e, &f, sizeof(f)); /* little-endian hosts only, as Avro C */
	case CPS_RK_DOUBLE:
		if (!json_is_number(j))
			return cps_rplace_refuse(&e->at, "expected a number");
		d = json_number_value(j);
		return put(e, &d, sizeof(d));
	case CPS_RK_STRING: {
		int rc;

		if (!json_is_string(j))
			return cps_rplace_refuse(&e->at, "expected a string");
		rc = put_long(e, (int64_t)json_string_length(j));
		return rc ? rc : put(e, json_string_value(j), json_string_length(j));
	}
	case CPS_RK_BYTES:
	case CPS_RK_FIXED:
		if (!json_is_string(j))
			return cps_rplace_refuse(&e->at, "expected a string of bytes");
		return put_codepoints(e, j, t);
	case CPS_RK_ENUM:
		return encode_enum(e, t, j);
	case CPS_RK_RECORD:
		return encode_record(e, t, j);
	case CPS_RK_ARRAY:
		return encode_array(e, t, j);
	case CPS_RK_MAP:
		return encode_map(e, t, j);
	case CPS_RK_UNION:
		return encode_union(e, t, j);
	}
	return cps_rplace_refuse(&e->at, "unsupported type");
}

int cps_record_encode_json(const struct cps_record_schema *rs, const json_t *json,
                           struct cps_buf *out, char *errstr, size_t errstr_size)
{
	return cps_record_encode_json_at(rs->root, json, out, errstr, errstr_size);
}

int cps_record_encode_json_at(const struct cps_rtype *t, const json_t *json, struct cps_buf *out,
                              char *errstr, size_t errstr_size)
{
	struct jenc e;

	e.out = out;
	e.at.nseg = 0; /* the path is written as the walk goes deeper */
	e.at.errstr = errstr;
	e.at.errstr_size = errstr_size;

	if (!json)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "cannot encode: no value");
	return encode(&e, t, json);
}
