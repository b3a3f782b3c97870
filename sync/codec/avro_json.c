/*
 * Avro values to and from the Avro specification's JSON encoding, walking
 * the Avro C value API, plus the filler for schema "default" values shared
 * with evolution.c (avro_json_int.h). Error texts name the field path and
 * the JSON type, never a string value: records carry personal data.
 */
#include "codec/avro_json.h"

#include "codec/avro_json_int.h"
#include "base/common.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper JSON than this is refused (recursive schemas could otherwise
 * recurse as deep as the JSON goes). */
#define MAX_DEPTH 128

/* ---- named-type table ------------------------------------------------ */

struct name_entry {
	char *name;
	json_t *def;
};

struct cps_json_names {
	struct name_entry *v;
	size_t n, cap;
};

static int names_add(struct cps_json_names *t, const char *ns, const char *name, json_t *def)
{
	size_t size = (ns ? strlen(ns) : 0) + strlen(name) + 2;
	char *full = malloc(size);

	if (!full)
		return -1;
	if (ns && *ns)
		snprintf(full, size, "%s.%s", ns, name);
	else
		snprintf(full, size, "%s", name);
	if (t->n == t->cap) {
		size_t cap = t->cap ? t->cap * 2 : 8;
		struct name_entry *v = realloc(t->v, cap * sizeof(*v));

		if (!v) {
			free(full);
			return -1;
		}
		t->v = v;
		t->cap = cap;
	}
	t->v[t->n].name = full;
	t->v[t->n].def = def;
	t->n++;
	return 0;
}

/* Namespace a named definition gives to the types nested in it. */
static const char *def_namespace(json_t *def, const char *enclosing, char *buf, size_t size)
{
	const char *name = json_string_value(json_object_get(def, "name"));
	const char *ns = json_string_value(json_object_get(def, "namespace"));
	const char *dot = name ? strrchr(name, '.') : NULL;

	if (dot) {
		snprintf(buf, size, "%.*s", (int)(dot - name), name);
		return buf;
	}
	if (ns)
		return ns;
	return enclosing;
}

static int names_collect(struct cps_json_names *t, json_t *node, const char *ns, unsigned depth)
{
	char nsbuf[256];
	const char *type, *name, *inner;
	size_t i;
	json_t *el;

	if (depth > MAX_DEPTH)
		return 0;
	if (json_is_array(node)) {
		json_array_foreach(node, i, el)
		{
			if (names_collect(t, el, ns, depth + 1) < 0)
				return -1;
		}
		return 0;
	}
	if (!json_is_object(node))
		return 0;
	type = json_string_value(json_object_get(node, "type"));
	name = json_string_value(json_object_get(node, "name"));
	if (!type)
		return names_collect(t, json_object_get(node, "type"), ns, depth + 1);
	if (name && (!strcmp(type, "record") || !strcmp(type, "error") || !strcmp(type, "enum") ||
	             !strcmp(type, "fixed"))) {
		inner = def_namespace(node, ns, nsbuf, sizeof(nsbuf));
		if (names_add(t, inner, strrchr(name, '.') ? strrchr(name, '.') + 1 : name, node) <
		    0)
			return -1;
		json_array_foreach(json_object_get(node, "fields"), i, el)
		{
			if (names_collect(t, json_object_get(el, "type"), inner, depth + 1) < 0)
				return -1;
		}
		return 0;
	}
	if (!strcmp(type, "array"))
		return names_collect(t, json_object_get(node, "items"), ns, depth + 1);
	if (!strcmp(type, "map"))
		return names_collect(t, json_object_get(node, "values"), ns, depth + 1);
	return 0;
}

struct cps_json_names *cps_json_names_new(json_t *schema)
{
	struct cps_json_names *t = calloc(1, sizeof(*t));

	if (!t)
		return NULL;
	if (schema && names_collect(t, schema, NULL, 0) < 0) {
		cps_json_names_free(t);
		return NULL;
	}
	return t;
}

void cps_json_names_free(struct cps_json_names *t)
{
	size_t i;

	if (!t)
		return;
	for (i = 0; i < t->n; i++)
		free(t->v[i].name);
	free(t->v);
	free(t);
}

json_t *cps_json_names_find(const struct cps_json_names *t, avro_schema_t s)
{
	char full[512];
	size_t i;

	if (!t)
		return NULL;
	cps_avro_type_name(s, full, sizeof(full));
	for (i = 0; i < t->n; i++) {
		if (!strcmp(t->v[i].name, full))
			return t->v[i].def;
	}
	return NULL;
}

json_t *cps_json_field_default(json_t *record_def, const char *field)
{
	size_t i;
	json_t *f;

	json_array_foreach(json_object_get(record_def, "fields"), i, f)
	{
		const char *name = json_string_value(json_object_get(f, "name"));

		if (name && !strcmp(name, field))
			return json_object_get(f, "default");
	}
	return NULL;
}

/* ---- schema names ---------------------------------------------------- */

avro_schema_t cps_avro_deref(avro_schema_t s)
{
	while (s && is_avro_link(s))
		s = avro_schema_link_target(s);
	return s;
}

const char *cps_avro_type_name(avro_schema_t s, char *buf, size_t size)
{
	const char *ns;

	s = cps_avro_deref(s);
	switch (avro_typeof(s)) {
	case AVRO_STRING:
		return "string";
	case AVRO_BYTES:
		return "bytes";
	case AVRO_INT32:
		return "int";
	case AVRO_INT64:
		return "long";
	case AVRO_FLOAT:
		return "float";
	case AVRO_DOUBLE:
		return "double";
	case AVRO_BOOLEAN:
		return "boolean";
	case AVRO_NULL:
		return "null";
	case AVRO_MAP:
		return "map";
	case AVRO_ARRAY:
		return "array";
	case AVRO_UNION:
		return "union";
	case AVRO_RECORD:
	case AVRO_ENUM:
	case AVRO_FIXED:
		ns = avro_schema_namespace(s);
		if (ns && *ns)
			snprintf(buf, size, "%s.%s", ns, avro_schema_name(s));
		else
			snprintf(buf, size, "%s", avro_schema_name(s));
		return buf;
	default:
		return "unknown";
	}
}

/* ---- paths ----------------------------------------------------------- */

void cps_json_path_init(struct cps_json_path *p)
{
	p->buf[0] = '\0';
	p->len = 0;
}

static size_t path_append(struct cps_json_path *p, const char *text)
{
	size_t old = p->len;
	int n = snprintf(p->buf + p->len, sizeof(p->buf) - p->len, "%s", text);

	p->len += (size_t)n < sizeof(p->buf) - p->len ? (size_t)n : sizeof(p->buf) - p->len - 1;
	return old;
}

size_t cps_json_path_push_field(struct cps_json_path *p, const char *name)
{
	size_t old = path_append(p, ".");

	path_append(p, name);
	return old;
}

size_t cps_json_path_push_index(struct cps_json_path *p, int is_map, size_t i)
{
	char tmp[32];

	snprintf(tmp, sizeof(tmp), is_map ? "{%zu}" : "[%zu]", i);
	return path_append(p, tmp);
}

size_t cps_json_path_push_raw(struct cps_json_path *p, const char *text)
{
	return path_append(p, text);
}

void cps_json_path_pop(struct cps_json_path *p, size_t len)
{
	p->len = len;
	p->buf[len] = '\0';
}

const char *cps_json_path_str(const struct cps_json_path *p)
{
	return p->len ? p->buf : ".";
}

/* ---- value -> JSON ---------------------------------------------------- */

struct out_ctx {
	struct cps_json_path path;
	char *errstr;
	size_t errstr_size;
};

static json_t *bytes_to_json(const uint8_t *p, size_t len)
{
	char stackbuf[256];
	char *s = len * 2 <= sizeof(stackbuf) ? stackbuf : malloc(len * 2 + 1);
	size_t i, n = 0;
	json_t *j;

	if (!s)
		return NULL;
	for (i = 0; i < len; i++) {
		if (p[i] < 0x80) {
			s[n++] = (char)p[i];
		} else {
			s[n++] = (char)(0xC0 | (p[i] >> 6));
			s[n++] = (char)(0x80 | (p[i] & 0x3F));
		}
	}
	j = json_stringn(s, n);
	if (s != stackbuf)
		free(s);
	return j;
}

static json_t *value_to_json(struct out_ctx *c, avro_value_t *v, unsigned depth);

static json_t *record_to_json(struct out_ctx *c, avro_value_t *v, unsigned depth)
{
	json_t *obj = json_object();
	size_t i, n = 0;

	if (!obj)
		goto out_nomem;
	avro_value_get_size(v, &n);
	for (i = 0; i < n; i++) {
		avro_value_t child;
		const char *name = NULL;
		size_t saved;
		json_t *cj;

		if (avro_value_get_by_index(v, i, &child, &name))
			goto out_avro;
		saved = cps_json_path_push_field(&c->path, name);
		cj = value_to_json(c, &child, depth + 1);
		if (!cj)
			goto out_fail;
		cps_json_path_pop(&c->path, saved);
		if (json_object_set_new(obj, name, cj))
			goto out_nomem;
	}
	return obj;

out_avro:
	cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "cannot read record field at %s: %s",
	           cps_json_path_str(&c->path), avro_strerror());
	goto out_fail;
out_nomem:
	cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "out of memory at %s", cps_json_path_str(&c->path));
out_fail:
	json_decref(obj);
	return NULL;
}

static json_t *list_to_json(struct out_ctx *c, avro_value_t *v, int is_map, unsigned depth)
{
	json_t *out = is_map ? json_object() : json_array();
	size_t i, n = 0;

	if (!out)
		goto out_nomem;
	avro_value_get_size(v, &n);
	for (i = 0; i < n; i++) {
		avro_value_t child;
		const char *key = NULL;
		size_t saved;
		json_t *cj;

		if (avro_value_get_by_index(v, i, &child, &key)) {
			cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "cannot read item at %s: %s",
			           cps_json_path_str(&c->path), avro_strerror());
			goto out_fail;
		}
		saved = cps_json_path_push_index(&c->path, is_map, i);
		cj = value_to_json(c, &child, depth + 1);
		if (!cj)
			goto out_fail;
		cps_json_path_pop(&c->path, saved);
		if (is_map) {
			json_t *k = json_string(key);

			if (!k) {
				json_decref(cj);
				cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
				           "map key at %s{%zu} is not valid UTF-8",
				           cps_json_path_str(&c->path), i);
				goto out_fail;
			}
			json_decref(k);
			if (json_object_set_new(out, key, cj))
				goto out_nomem;
		} else if (json_array_append_new(out, cj)) {
			goto out_nomem;
		}
	}
	return out;

out_nomem:
	cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "out of memory at %s", cps_json_path_str(&c->path));
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
		cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "union at %s has no branch set",
		           cps_json_path_str(&c->path));
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

	if (depth > MAX_DEPTH) {
		cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "value nested deeper than %d at %s",
		           MAX_DEPTH, cps_json_path_str(&c->path));
		return NULL;
	}
	switch (avro_value_get_type(v)) {
	case AVRO_STRING:
		avro_value_get_string(v, &s, &size);
		j = json_stringn(s ? s : "", size ? size - 1 : 0);
		if (!j)
			cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "string at %s is not valid UTF-8",
			           cps_json_path_str(&c->path));
		return j;
	case AVRO_BYTES:
	case AVRO_FIXED:
		if (avro_value_get_type(v) == AVRO_BYTES)
			avro_value_get_bytes(v, &buf, &size);
		else
			avro_value_get_fixed(v, &buf, &size);
		j = bytes_to_json(buf, size);
		if (!j)
			cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "out of memory at %s",
			           cps_json_path_str(&c->path));
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
			cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "enum index %d out of range at %s", e,
			           cps_json_path_str(&c->path));
			return NULL;
		}
		return json_string(avro_schema_enum_get(es, e));
	}
	case AVRO_RECORD:
		return record_to_json(c, v, depth);
	case AVRO_ARRAY:
		return list_to_json(c, v, 0, depth);
	case AVRO_MAP:
		return list_to_json(c, v, 1, depth);
	case AVRO_UNION:
		return union_to_json(c, v, depth);
	default:
		cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "unsupported Avro type at %s",
		           cps_json_path_str(&c->path));
		return NULL;
	}
}

json_t *cps_value_to_json(avro_value_t *value, char *errstr, size_t errstr_size)
{
	struct out_ctx c = {.errstr = errstr, .errstr_size = errstr_size};

	cps_json_path_init(&c.path);
	return value_to_json(&c, value, 0);
}

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
	return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "expected %s for %s, got %s", expected,
	                  cps_json_path_str(c->path), json_type_name(j));
}

static int avro_error(struct in_ctx *c, const char *what)
{
	return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "cannot set %s at %s: %s", what,
	                  cps_json_path_str(c->path), avro_strerror());
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
		return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "unknown field in record %s at %s",
		                  cps_avro_type_name(rs, namebuf, sizeof(namebuf)),
		                  cps_json_path_str(c->path));
	return CPS_OK;
}

static int fill_array(struct in_ctx *c, json_t *j, int as_default, avro_value_t *v, unsigned depth)
{
	size_t i;
	json_t *el;
	int rc;

	if (!json_is_array(j))
		return type_error(c, "array", j);
	json_array_foreach(j, i, el)
	{
		avro_value_t child;
		size_t saved;

		if (avro_value_append(v, &child, NULL))
			return avro_error(c, "array item");
		saved = cps_json_path_push_index(c->path, 0, i);
		rc = fill(c, el, as_default, &child, depth + 1);
		if (rc != CPS_OK)
			return rc;
		cps_json_path_pop(c->path, saved);
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
	json_object_foreach(j, key, el)
	{
		avro_value_t child;
		size_t saved;

		if (avro_value_add(v, key, &child, NULL, NULL))
			return avro_error(c, "map entry");
		saved = cps_json_path_push_index(c->path, 1, i++);
		rc = fill(c, el, as_default, &child, depth + 1);
		if (rc != CPS_OK)
			return rc;
		cps_json_path_pop(c->path, saved);
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
		json_object_foreach(j, key, inner) break;
		disc = union_branch_by_name(us, key);
		if (disc < 0)
			return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "unknown union branch for %s",
			                  cps_json_path_str(c->path));
	}
	if (avro_value_set_branch(v, disc, &branch))
		return avro_error(c, "union branch");
	return fill(c, inner, as_default, &branch, depth + 1);
}

static int fill(struct in_ctx *c, json_t *j, int as_default, avro_value_t *v, unsigned depth)
{
	avro_schema_t s;
	uint8_t *bytes = NULL;
	size_t len = 0;
	json_int_t iv;
	int rc, idx;

	if (depth > MAX_DEPTH)
		return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "JSON nested deeper than %d at %s",
		                  MAX_DEPTH, cps_json_path_str(c->path));
	switch (avro_value_get_type(v)) {
	case AVRO_STRING:
		if (!json_is_string(j))
			return type_error(c, "string", j);
		if (avro_value_set_string_len(v, json_string_value(j), json_string_length(j) + 1))
			return avro_error(c, "string");
		return CPS_OK;
	case AVRO_BYTES:
	case AVRO_FIXED:
		if (!json_is_string(j))
			return type_error(c, "string", j);
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
		if (!json_is_integer(j))
			return type_error(c, "integer", j);
		iv = json_integer_value(j);
		if (iv < INT32_MIN || iv > INT32_MAX)
			return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "int out of range for %s",
			                  cps_json_path_str(c->path));
		avro_value_set_int(v, (int32_t)iv);
		return CPS_OK;
	case AVRO_INT64:
		if (!json_is_integer(j))
			return type_error(c, "integer", j);
		avro_value_set_long(v, json_integer_value(j));
		return CPS_OK;
	case AVRO_FLOAT:
		if (!json_is_number(j))
			return type_error(c, "number", j);
		avro_value_set_float(v, (float)json_number_value(j));
		return CPS_OK;
	case AVRO_DOUBLE:
		if (!json_is_number(j))
			return type_error(c, "number", j);
		avro_value_set_double(v, json_number_value(j));
		return CPS_OK;
	case AVRO_BOOLEAN:
		if (!json_is_boolean(j))
			return type_error(c, "boolean", j);
		avro_value_set_boolean(v, json_is_true(j));
		return CPS_OK;
	case AVRO_NULL:
		if (!json_is_null(j))
			return type_error(c, "null", j);
		avro_value_set_null(v);
		return CPS_OK;
	case AVRO_ENUM: {
		char namebuf[512];

		if (!json_is_string(j))
			return type_error(c, "string", j);
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
		return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size, "unsupported Avro type at %s",
		                  cps_json_path_str(c->path));
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

int cps_value_from_json_defaults(json_t *schema_json, json_t *json, avro_value_t *value,
                                 char *errstr, size_t errstr_size)
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
	rc = cps_json_fill(names, json, 0, value, &path, errstr, errstr_size);
	cps_json_names_free(names);
	return rc;
}

int cps_value_from_json(json_t *json, avro_value_t *value, char *errstr, size_t errstr_size)
{
	return cps_value_from_json_defaults(NULL, json, value, errstr, errstr_size);
}
