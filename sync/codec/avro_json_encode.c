/*
 * Avro values to the Avro specification's JSON encoding (cps_value_to_json),
 * walking the Avro C value API: unions as {"type name": value}, bytes and
 * fixed as strings of code points 0-255. Error texts name the field path,
 * never a value: records carry personal data.
 */
#include "codec/avro_json.h"

#include "codec/avro_json_int.h"
#include "base/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- value -> JSON ---------------------------------------------------- */

struct out_ctx {
	struct cps_json_path path;
	char *errstr;
	size_t errstr_size;
};

static json_t *value_to_json(struct out_ctx *c, avro_value_t *v, unsigned depth);

/* Where a child value stands: its path mark and its error text follow. */
enum container { IN_RECORD, IN_ARRAY, IN_MAP };

/* The JSON of child `i` of record, array or map `v`, its field name or map
 * key in *key; NULL with the error set. The path names the child only while
 * it is converted, and still names it after a failure. */
static json_t *child_to_json(struct out_ctx *c, avro_value_t *v, enum container in, size_t i,
                             const char **key, unsigned depth)
{
	avro_value_t child;
	size_t saved;
	json_t *cj;

	if (avro_value_get_by_index(v, i, &child, key)) {
		cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "cannot read %s at %s: %s",
		           in == IN_RECORD ? "record field" : "item", cps_json_path_str(&c->path),
		           avro_strerror());
		return NULL;
	}
	if (in == IN_RECORD)
		saved = cps_json_path_push_field(&c->path, *key);
	else
		saved = cps_json_path_push_index(&c->path, in == IN_MAP, i);
	cj = value_to_json(c, &child, depth + 1);
	if (cj)
		cps_json_path_pop(&c->path, saved);
	return cj;
}

/* A record or map as a JSON object, an array as a JSON array. */
static json_t *container_to_json(struct out_ctx *c, avro_value_t *v, enum container in,
                                 unsigned depth)
{
	json_t *out = in == IN_ARRAY ? json_array() : json_object();
	size_t i, n = 0;

	if (!out)
		goto out_nomem;
	avro_value_get_size(v, &n);
	for (i = 0; i < n; i++) {
		const char *key = NULL;
		json_t *cj = child_to_json(c, v, in, i, &key, depth);

		if (!cj)
			goto out_fail;
		if (in == IN_MAP) {
			json_t *k = json_string(key);

			if (!k) {
				json_decref(cj);
				cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
				           "map key at %s{%zu} is not valid UTF-8",
				           cps_json_path_str(&c->path), i);
				goto out_fail;
			}
			json_decref(k);
		}
		if (in == IN_ARRAY ? json_array_append_new(out, cj)
		                   : json_object_set_new(out, key, cj))
			goto out_nomem;
	}
	return out;

out_nomem:
	cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "out of memory at %s",
	           cps_json_path_str(&c->path));
out_fail:
	json_decref(out);
	return NULL;
}

static json_t *union_to_json(struct out_ctx *c, avro_value_t *v, unsigned depth)
{
	avro_schema_t us = avro_value_get_schema(v), bs;
	avro_value_t branch;
	int disc = -1;
	char namebuf[512];
	json_t *obj, *cj;

	if (avro_value_get_discriminant(v, &disc) || disc < 0 ||
	    avro_value_get_current_branch(v, &branch)) {
		cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
		           "union at %s has no branch set", cps_json_path_str(&c->path));
		return NULL;
	}
	bs = cps_avro_deref(avro_schema_union_branch(cps_avro_deref(us), disc));
	if (is_avro_null(bs))
		return json_null();
	cj = value_to_json(c, &branch, depth + 1);
	if (!cj)
		return NULL;
	obj = json_object();
	if (!obj ||
	    json_object_set_new(obj, cps_avro_type_name(bs, namebuf, sizeof(namebuf)), cj)) {
		json_decref(obj);
		cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "out of memory at %s",
		           cps_json_path_str(&c->path));
		return NULL;
	}
	return obj;
}

static json_t *value_to_json(struct out_ctx *c, avro_value_t *v, unsigned depth)
{
	const char *s = NULL;
	const void *buf = NULL;
	size_t size = 0;
	int32_t i32 = 0;
	int64_t i64 = 0;
	float f = 0;
	double d = 0;
	int b = 0, e = 0;
	json_t *j;

	if (depth > CPS_AVRO_JSON_MAX_DEPTH) {
		cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
		           "value nested deeper than %d at %s", CPS_AVRO_JSON_MAX_DEPTH,
		           cps_json_path_str(&c->path));
		return NULL;
	}
	switch (avro_value_get_type(v)) {
	case AVRO_STRING:
		avro_value_get_string(v, &s, &size);
		j = json_stringn(s ? s : "", size ? size - 1 : 0);
		if (!j)
			cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
			           "string at %s is not valid UTF-8", cps_json_path_str(&c->path));
		return j;
	case AVRO_BYTES:
	case AVRO_FIXED:
		if (avro_value_get_type(v) == AVRO_BYTES)
			avro_value_get_bytes(v, &buf, &size);
		else
			avro_value_get_fixed(v, &buf, &size);
		j = cps_json_bytes_string(buf, size);
		if (!j)
			cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
			           "out of memory at %s", cps_json_path_str(&c->path));
		return j;
	case AVRO_INT32:
		avro_value_get_int(v, &i32);
		return json_integer(i32);
	case AVRO_INT64:
		avro_value_get_long(v, &i64);
		return json_integer(i64);
	case AVRO_FLOAT:
		avro_value_get_float(v, &f);
		d = f;
		goto real;
	case AVRO_DOUBLE:
		avro_value_get_double(v, &d);
	real:
		if (!isfinite(d)) {
			cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
			           "non-finite number at %s has no JSON encoding",
			           cps_json_path_str(&c->path));
			return NULL;
		}
		return json_real(d);
	case AVRO_BOOLEAN:
		avro_value_get_boolean(v, &b);
		return json_boolean(b);
	case AVRO_NULL:
		return json_null();
	case AVRO_ENUM: {
		avro_schema_t es = cps_avro_deref(avro_value_get_schema(v));

		avro_value_get_enum(v, &e);
		if (e < 0 || e >= avro_schema_enum_number_of_symbols(es)) {
			cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
			           "enum index %d out of range at %s", e,
			           cps_json_path_str(&c->path));
			return NULL;
		}
		return json_string(avro_schema_enum_get(es, e));
	}
	case AVRO_RECORD:
		return container_to_json(c, v, IN_RECORD, depth);
	case AVRO_ARRAY:
		return container_to_json(c, v, IN_ARRAY, depth);
	case AVRO_MAP:
		return container_to_json(c, v, IN_MAP, depth);
	case AVRO_UNION:
		return union_to_json(c, v, depth);
	default:
		cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
		           "unsupported Avro type at %s", cps_json_path_str(&c->path));
		return NULL;
	}
}

json_t *cps_value_to_json(avro_value_t *value, char *errstr, size_t errstr_size)
{
	struct out_ctx c = {.errstr = errstr, .errstr_size = errstr_size};

	cps_json_path_init(&c.path);
	return value_to_json(&c, value, 0);
}
