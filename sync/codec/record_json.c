/*
 * Typed records to the Avro specification's JSON encoding, for the edges
 * that speak JSON (the HTTP API, the CLI): the same text avro_json_encode.c
 * makes from an Avro C value, without Avro C. Error texts name the field
 * path as avro_json does, never a value.
 */
#include "codec/record.h"

#include "codec/record_int.h"
#include "codec/avro_json_int.h"
#include "base/common.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* As avro_json_int.h's CPS_AVRO_JSON_MAX_DEPTH. */
#define JSON_MAX_DEPTH 128

static const char *const type_names[] = {
    [CPS_RK_NULL] = "null",     [CPS_RK_BOOLEAN] = "boolean", [CPS_RK_INT] = "int",
    [CPS_RK_LONG] = "long",     [CPS_RK_FLOAT] = "float",     [CPS_RK_DOUBLE] = "double",
    [CPS_RK_STRING] = "string", [CPS_RK_BYTES] = "bytes",     [CPS_RK_ARRAY] = "array",
    [CPS_RK_MAP] = "map",       [CPS_RK_UNION] = "union",
};

const char *cps_rtype_json_name(const struct cps_rtype *t)
{
	return t->name                                ? t->name
	       : t->kind < CPS_ARRAY_SIZE(type_names) ? type_names[t->kind]
	                                              : NULL;
}

int cps_rtype_branch_named(const struct cps_rtype *t, const char *name)
{
	const char *dot;

	if (!t->name)
		return t->kind != CPS_RK_UNION && t->kind < CPS_ARRAY_SIZE(type_names) &&
		       type_names[t->kind] && !strcmp(type_names[t->kind], name);
	dot = strrchr(t->name, '.');
	return !strcmp(t->name, name) || (dot && !strcmp(dot + 1, name));
}

struct jctx {
	unsigned nseg;
	char *errstr;
	size_t errstr_size;
	struct cps_rseg path[JSON_MAX_DEPTH + 2];
};

/* Sets errstr to `fmt` with the current path for its one %s (avro_json's
 * wording, e.g. "string at .name is not valid UTF-8"); returns NULL. */
__attribute__((noinline, cold)) static json_t *fail(struct jctx *c, const char *fmt)
{
	char path[256];

	cps_rpath_format(c->path, c->nseg, path, sizeof(path));
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wformat-nonliteral"
	cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, fmt, path[0] ? path : ".");
#pragma GCC diagnostic pop
	return NULL;
}

size_t cps_decimal_be(int64_t v, uint8_t be[8])
{
	size_t start = 0;

	for (size_t i = 0; i < 8; i++)
		be[i] = (uint8_t)((uint64_t)v >> (56 - 8 * i));
	while (start < 7 && ((be[start] == 0x00 && !(be[start + 1] & 0x80)) ||
	                     (be[start] == 0xff && (be[start + 1] & 0x80))))
		start++;
	return start;
}

json_t *cps_decimal_json(int64_t v)
{
	uint8_t be[8];
	size_t start = cps_decimal_be(v, be);

	return cps_json_bytes_string(be + start, 8 - start);
}

/* A decimal's bytes as the encoder writes them. */
static json_t *decimal_to_json(const struct cps_rtype *t, int64_t v)
{
	uint8_t be[8], fixed[64];
	size_t start;

	if (t->kind == CPS_RK_BYTES)
		return cps_decimal_json(v);
	start = cps_decimal_be(v, be);
	if (t->size > sizeof(fixed) || 8 - start > t->size)
		return NULL;
	memset(fixed, v < 0 ? 0xff : 0x00, t->size);
	memcpy(fixed + t->size - (8 - start), be + start, 8 - start);
	return cps_json_bytes_string(fixed, t->size);
}

static json_t *to_json(struct jctx *c, const struct cps_rtype *t, const struct cps_tval *v,
                       unsigned depth);

/* A record or map as an object, an array as an array. */
static json_t *container_to_json(struct jctx *c, const struct cps_rtype *t,
                                 const struct cps_tval *v, unsigned depth)
{
	int is_map = t->kind == CPS_RK_MAP, is_array = t->kind == CPS_RK_ARRAY;
	json_t *out = is_array ? json_array() : json_object();
	struct cps_rseg *seg;
	size_t i, n = v->u.list.n;

	if (!out)
		return fail(c, "out of memory at %s");
	seg = &c->path[c->nseg++];
	if (t->kind == CPS_RK_RECORD && n != t->n) {
		c->nseg--;
		json_decref(out);
		return fail(c, "record with a wrong number of fields at %s");
	}
	seg->type = t;
	seg->kind = t->kind == CPS_RK_RECORD ? CPS_RSEG_FIELD
	            : is_map                 ? CPS_RSEG_VALUE
	                                     : CPS_RSEG_ITEM;
	for (i = 0; i < n; i++) {
		const struct cps_tval *item = &v->u.list.v[is_map ? 2 * i : i];
		const struct cps_rtype *it =
		    t->kind == CPS_RK_RECORD ? t->fields[i].type : t->items;
		char keybuf[256], *key = NULL;
		json_t *cj;
		int rc;

		seg->index = i;
		if (is_map) {
			/* Avro C keys are C strings: cut at a NUL, as avro_json sees them */
			size_t klen = strnlen((const char *)item->u.b.ptr, item->u.b.len);
			json_t *k;

			key = klen < sizeof(keybuf) ? keybuf : malloc(klen + 1);
			if (!key)
				goto out_nomem;
			memcpy(key, item->u.b.ptr, klen);
			key[klen] = '\0';
			k = json_string(key);
			if (!k) {
				char m[64];

				c->nseg--;
				if (key != keybuf)
					free(key);
				json_decref(out);
				snprintf(m, sizeof(m), "map key at %%s{%zu} is not valid UTF-8", i);
				return fail(c, m);
			}
			json_decref(k);
			item++;
		}
		cj = to_json(c, it, item, depth + 1);
		if (!cj) {
			if (key && key != keybuf)
				free(key);
			json_decref(out);
			return NULL;
		}
		if (is_array)
			rc = json_array_append_new(out, cj);
		else
			rc = json_object_set_new(out, is_map ? key : t->fields[i].name, cj);
		if (key && key != keybuf)
			free(key);
		if (rc)
			goto out_nomem;
	}
	c->nseg--;
	return out;

out_nomem:
	json_decref(out);
	return fail(c, "out of memory at %s");
}

static json_t *scalar_to_json(struct jctx *c, const struct cps_rtype *t, const struct cps_tval *v)
{
	double d;
	json_t *j;

	switch (t->kind) {
	case CPS_RK_NULL:
		return json_null();
	case CPS_RK_BOOLEAN:
		return json_boolean(v->u.i);
	case CPS_RK_INT:
	case CPS_RK_LONG:
		return json_integer(v->u.i);
	case CPS_RK_FLOAT:
	case CPS_RK_DOUBLE:
		d = t->kind == CPS_RK_FLOAT ? (double)v->u.f : v->u.d;
		if (!isfinite(d))
			return fail(c, "non-finite number at %s has no JSON encoding");
		return json_real(d);
	case CPS_RK_STRING:
		j = json_stringn(v->u.b.len ? (const char *)v->u.b.ptr : "", v->u.b.len);
		return j ? j : fail(c, "string at %s is not valid UTF-8");
	case CPS_RK_BYTES:
	case CPS_RK_FIXED:
		if (t->logical == CPS_LOGICAL_DECIMAL)
			j = decimal_to_json(t, v->u.i);
		else
			j = cps_json_bytes_string(v->u.b.ptr, v->u.b.len);
		return j ? j : fail(c, "out of memory at %s");
	default: /* enum */
		if (v->u.i < 0 || (uint64_t)v->u.i >= t->n) {
			char m[64];

			snprintf(m, sizeof(m), "enum index %d out of range at %%s", (int)v->u.i);
			return fail(c, m);
		}
		return json_string(t->symbols[v->u.i]);
	}
}

static json_t *to_json(struct jctx *c, const struct cps_rtype *t, const struct cps_tval *v,
                       unsigned depth)
{
	json_t *obj, *cj;

	if (depth > JSON_MAX_DEPTH)
		return fail(c, "value nested deeper than 128 at %s");
	if (t->kind == CPS_RK_UNION) {
		if (v->branch < 0 || (size_t)v->branch >= t->n)
			return fail(c, "union at %s has no branch set");
		t = t->branches[v->branch];
		if (t->kind == CPS_RK_NULL)
			return json_null();
		if (!(cj = to_json(c, t, v, depth + 1)))
			return NULL;
		obj = json_object();
		if (!obj || json_object_set_new(obj, cps_rtype_json_name(t), cj)) {
			json_decref(obj);
			return fail(c, "out of memory at %s");
		}
		return obj;
	}
	if (v->kind != t->kind)
		return fail(c, "value at %s does not match the schema");
	if (t->kind == CPS_RK_RECORD || t->kind == CPS_RK_ARRAY || t->kind == CPS_RK_MAP)
		return container_to_json(c, t, v, depth);
	return scalar_to_json(c, t, v);
}

json_t *cps_record_to_json(const struct cps_record_schema *rs, const struct cps_tval *v,
                           char *errstr, size_t errstr_size)
{
	return cps_record_to_json_at(rs ? rs->root : NULL, v, errstr, errstr_size);
}

json_t *cps_record_to_json_at(const struct cps_rtype *t, const struct cps_tval *v, char *errstr,
                              size_t errstr_size)
{
	struct jctx c = {.nseg = 0, .errstr = errstr, .errstr_size = errstr_size};

	if (!t || !v) {
		cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		           "record to JSON called without a schema or value");
		return NULL;
	}
	return to_json(&c, t, v, 0);
}
