/*
 * Avro values from the Avro specification's JSON encoding
 * (cps_value_from_json, _defaults), and the filler for schema "default"
 * values shared with evolution.c (cps_json_fill, _from_schema). Error texts
 * name the field path and the JSON type, never a string value: records carry
 * personal data.
 */
#include "codec/avro_json.h"

#include "codec/avro_json_int.h"
#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- JSON -> value ----------------------------------------------------- */

struct in_ctx {
	const struct cps_json_names *names;
	struct cps_json_path *path;
	char *errstr;
	size_t errstr_size;
};

static const char *json_type_name(json_t *j)
{
	switch (json_typeof(j)) {
	case JSON_OBJECT:
		return "object";
	case JSON_ARRAY:
		return "array";
	case JSON_STRING:
		return "string";
	case JSON_INTEGER:
		return "integer";
	case JSON_REAL:
		return "real";
	case JSON_TRUE:
	case JSON_FALSE:
		return "boolean";
	case JSON_NULL:
		return "null";
	}
	return "unknown";
}

static int type_error(struct in_ctx *c, const char *expected, json_t *j)
{
	return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "expected %s for %s, got %s",
	                  expected, cps_json_path_str(c->path), json_type_name(j));
}

static int avro_error(struct in_ctx *c, const char *what)
{
	return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "cannot set %s at %s: %s",
	                  what, cps_json_path_str(c->path), avro_strerror());
}

/* Decodes a string of code points 0-255 into bytes (malloc'd in *out). */
static int json_to_bytes(struct in_ctx *c, json_t *j, uint8_t **out, size_t *out_len)
{
	const uint8_t *s = (const uint8_t *)json_string_value(j);
	size_t len = json_string_length(j), i = 0, n = 0;
	uint8_t *b = malloc(len + 1);

	if (!b)
		return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "out of memory at %s",
		                  cps_json_path_str(c->path));
	while (i < len) {
		if (s[i] < 0x80) {
			b[n++] = s[i++];
		} else if ((s[i] & 0xE0) == 0xC0 && i + 1 < len && s[i] <= 0xC3) {
			b[n++] = (uint8_t)(((s[i] & 0x1F) << 6) | (s[i + 1] & 0x3F));
			i += 2;
		} else {
			free(b);
			return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
			                  "code point above 255 in bytes at %s",
			                  cps_json_path_str(c->path));
		}
	}
	*out = b;
	*out_len = n;
	return CPS_OK;
}

static int fill(struct in_ctx *c, json_t *j, int as_default, avro_value_t *v, unsigned depth);

static int fill_record(struct in_ctx *c, json_t *j, int as_default, avro_value_t *v, unsigned depth)
{
	avro_schema_t rs = cps_avro_deref(avro_value_get_schema(v));
	json_t *def = cps_json_names_find(c->names, rs);
	size_t i, n = avro_schema_record_size(rs), present = 0;
	char namebuf[512];
	int rc;

	if (!json_is_object(j))
		return type_error(c, "object", j);
	for (i = 0; i < n; i++) {
		const char *name = avro_schema_record_field_name(rs, (int)i);
		json_t *fj = json_object_get(j, name);
		int fdefault = as_default;
		avro_value_t child;
		size_t saved;

		if (avro_value_get_by_index(v, i, &child, NULL))
			return avro_error(c, "record field");
		saved = cps_json_path_push_field(c->path, name);
		if (fj) {
			present++;
		} else {
			fj = cps_json_field_default(def, name);
			fdefault = 1;
			if (!fj)
				return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
				                  "missing field %s, which has no default",
				                  cps_json_path_str(c->path));
		}
		rc = fill(c, fj, fdefault, &child, depth + 1);
		if (rc != CPS_OK)
			return rc;
		cps_json_path_pop(c->path, saved);
	}
	if (present != json_object_size(j))
		return cps_seterr(
		    CPS_ERR_INVALID, c->errstr, c->errstr_size, "unknown field in record %s at %s",
		    cps_avro_type_name(rs, namebuf, sizeof(namebuf)), cps_json_path_str(c->path));
	return CPS_OK;
}

/* Item `i` of an array or map: the path names it while it is filled (and
 * still after a failure). */
static int fill_item(struct in_ctx *c, json_t *el, int as_default, avro_value_t *child, int is_map,
                     size_t i, unsigned depth)
{
	size_t saved = cps_json_path_push_index(c->path, is_map, i);
	int rc = fill(c, el, as_default, child, depth + 1);

	if (rc == CPS_OK)
		cps_json_path_pop(c->path, saved);
	return rc;
}

static int fill_array(struct in_ctx *c, json_t *j, int as_default, avro_value_t *v, unsigned depth)
{
	size_t i;
	json_t *el;
	int rc;

	if (!json_is_array(j))
		return type_error(c, "array", j);
	json_array_foreach (j, i, el) {
		avro_value_t child;

		if (avro_value_append(v, &child, NULL))
			return avro_error(c, "array item");
		rc = fill_item(c, el, as_default, &child, 0, i, depth);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

static int fill_map(struct in_ctx *c, json_t *j, int as_default, avro_value_t *v, unsigned depth)
{
	const char *key;
	json_t *el;
	size_t i = 0;
	int rc;

	if (!json_is_object(j))
		return type_error(c, "object", j);
	json_object_foreach (j, key, el) {
		avro_value_t child;

		if (avro_value_add(v, key, &child, NULL, NULL))
			return avro_error(c, "map entry");
		rc = fill_item(c, el, as_default, &child, 1, i++, depth);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

/* Index of the branch of union `us` named `name` (full or short name for
 * named types), or -1. */
static int union_branch_by_name(avro_schema_t us, const char *name)
{
	size_t i, n = avro_schema_union_size(us);
	char buf[512];

	for (i = 0; i < n; i++) {
		avro_schema_t bs = cps_avro_deref(avro_schema_union_branch(us, (int)i));

		if (!strcmp(cps_avro_type_name(bs, buf, sizeof(buf)), name))
			return (int)i;
		if (is_avro_named_type(bs) && !strcmp(avro_schema_name(bs), name))
			return (int)i;
	}
	return -1;
}

static int fill_union(struct in_ctx *c, json_t *j, int as_default, avro_value_t *v, unsigned depth)
{
	avro_schema_t us = cps_avro_deref(avro_value_get_schema(v));
	avro_value_t branch;
	const char *key = NULL;
	json_t *inner = j;
	int disc;

	if (as_default) {
		disc = 0; /* a default is for the first branch, unwrapped */
	} else if (json_is_null(j)) {
		disc = union_branch_by_name(us, "null");
		if (disc < 0)
			return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
			                  "null for %s, whose union has no null branch",
			                  cps_json_path_str(c->path));
	} else {
		if (!json_is_object(j) || json_object_size(j) != 1)
			return type_error(c, "object with one union branch", j);
		json_object_foreach (j, key, inner)
			break;
		disc = union_branch_by_name(us, key);
		if (disc < 0)
			return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
			                  "unknown union branch for %s",
			                  cps_json_path_str(c->path));
	}
	if (avro_value_set_branch(v, disc, &branch))
		return avro_error(c, "union branch");
	return fill(c, inner, as_default, &branch, depth + 1);
}

/* The JSON kind a scalar Avro type is written as, when `j` is not of it;
 * NULL when it is, and for records, arrays, maps and unions (their fillers
 * check their JSON themselves). */
static const char *scalar_json_mismatch(avro_type_t t, const json_t *j)
{
	switch (t) {
	case AVRO_STRING:
	case AVRO_BYTES:
	case AVRO_FIXED:
	case AVRO_ENUM:
		return json_is_string(j) ? NULL : "string";
	case AVRO_INT32:
	case AVRO_INT64:
		return json_is_integer(j) ? NULL : "integer";
	case AVRO_FLOAT:
	case AVRO_DOUBLE:
		return json_is_number(j) ? NULL : "number";
	case AVRO_BOOLEAN:
		return json_is_boolean(j) ? NULL : "boolean";
	case AVRO_NULL:
		return json_is_null(j) ? NULL : "null";
	default:
		return NULL;
	}
}

static int fill(struct in_ctx *c, json_t *j, int as_default, avro_value_t *v, unsigned depth)
{
	avro_schema_t s;
	uint8_t *bytes = NULL;
	size_t len = 0;
	json_int_t iv;
	const char *wanted;
	int rc, idx;

	if (depth > CPS_AVRO_JSON_MAX_DEPTH)
		return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
		                  "JSON nested deeper than %d at %s", CPS_AVRO_JSON_MAX_DEPTH,
		                  cps_json_path_str(c->path));
	if ((wanted = scalar_json_mismatch(avro_value_get_type(v), j)))
		return type_error(c, wanted, j);
	switch (avro_value_get_type(v)) {
	case AVRO_STRING:
		if (avro_value_set_string_len(v, json_string_value(j), json_string_length(j) + 1))
			return avro_error(c, "string");
		return CPS_OK;
	case AVRO_BYTES:
	case AVRO_FIXED:
		rc = json_to_bytes(c, j, &bytes, &len);
		if (rc != CPS_OK)
			return rc;
		if (avro_value_get_type(v) == AVRO_FIXED) {
			int64_t want =
			    avro_schema_fixed_size(cps_avro_deref(avro_value_get_schema(v)));

			if ((int64_t)len != want) {
				free(bytes);
				return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
				                  "expected %lld bytes for %s, got %zu",
				                  (long long)want, cps_json_path_str(c->path), len);
			}
			rc = avro_value_set_fixed(v, bytes, len);
		} else {
			rc = avro_value_set_bytes(v, bytes, len);
		}
		free(bytes);
		return rc ? avro_error(c, "bytes") : CPS_OK;
	case AVRO_INT32:
		iv = json_integer_value(j);
		if (iv < INT32_MIN || iv > INT32_MAX)
			return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
			                  "int out of range for %s", cps_json_path_str(c->path));
		avro_value_set_int(v, (int32_t)iv);
		return CPS_OK;
	case AVRO_INT64:
		avro_value_set_long(v, json_integer_value(j));
		return CPS_OK;
	case AVRO_FLOAT:
		avro_value_set_float(v, (float)json_number_value(j));
		return CPS_OK;
	case AVRO_DOUBLE:
		avro_value_set_double(v, json_number_value(j));
		return CPS_OK;
	case AVRO_BOOLEAN:
		avro_value_set_boolean(v, json_is_true(j));
		return CPS_OK;
	case AVRO_NULL:
		avro_value_set_null(v);
		return CPS_OK;
	case AVRO_ENUM: {
		char namebuf[512];

		s = cps_avro_deref(avro_value_get_schema(v));
		idx = avro_schema_enum_get_by_name(s, json_string_value(j));
		if (idx < 0)
			return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
			                  "unknown symbol of enum %s at %s",
			                  cps_avro_type_name(s, namebuf, sizeof(namebuf)),
			                  cps_json_path_str(c->path));
		avro_value_set_enum(v, idx);
		return CPS_OK;
	}
	case AVRO_RECORD:
		return fill_record(c, j, as_default, v, depth);
	case AVRO_ARRAY:
		avro_value_reset(v);
		return fill_array(c, j, as_default, v, depth);
	case AVRO_MAP:
		avro_value_reset(v);
		return fill_map(c, j, as_default, v, depth);
	case AVRO_UNION:
		return fill_union(c, j, as_default, v, depth);
	default:
		return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
		                  "unsupported Avro type at %s", cps_json_path_str(c->path));
	}
}

int cps_json_fill(const struct cps_json_names *names, json_t *json, int as_default,
                  avro_value_t *value, struct cps_json_path *path, char *errstr, size_t errstr_size)
{
	struct in_ctx c = {
	    .names = names, .path = path, .errstr = errstr, .errstr_size = errstr_size};

	if (!json)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "no JSON value for %s",
		                  cps_json_path_str(path));
	return fill(&c, json, as_default, value, 0);
}

int cps_json_fill_from_schema(json_t *schema_json, json_t *json, int as_default,
                              avro_value_t *value, char *errstr, size_t errstr_size)
{
	struct cps_json_names *names = NULL;
	struct cps_json_path path;
	int rc;

	if (schema_json) {
		names = cps_json_names_new(schema_json);
		if (!names)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	cps_json_path_init(&path);
	avro_value_reset(value);
	rc = cps_json_fill(names, json, as_default, value, &path, errstr, errstr_size);
	cps_json_names_free(names);
	return rc;
}

int cps_value_from_json_defaults(json_t *schema_json, json_t *json, avro_value_t *value,
                                 char *errstr, size_t errstr_size)
{
	return cps_json_fill_from_schema(schema_json, json, 0, value, errstr, errstr_size);
}

int cps_value_from_json(json_t *json, avro_value_t *value, char *errstr, size_t errstr_size)
{
	return cps_value_from_json_defaults(NULL, json, value, errstr, errstr_size);
}
