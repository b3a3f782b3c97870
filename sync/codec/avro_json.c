/*
 * What the Avro JSON encoder (avro_json_encode.c) and decoder
 * (avro_json_decode.c) share, also with evolution.c (avro_json_int.h): the
 * named-type table of a schema JSON (where defaults live), schema type
 * names, and the field paths error texts name (never a value: records
 * carry personal data).
 */
#include "codec/avro_json.h"

#include "codec/avro_json_int.h"
#include "base/common.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
	if (cps_grow(&t->v, &t->cap, t->n + 1, sizeof(*t->v)) != 0) {
		free(full);
		return -1;
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

	if (depth > CPS_AVRO_JSON_MAX_DEPTH)
		return 0;
	if (json_is_array(node)) {
		json_array_foreach (node, i, el) {
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
		json_array_foreach (json_object_get(node, "fields"), i, el) {
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

	json_array_foreach (json_object_get(record_def, "fields"), i, f) {
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

json_t *cps_json_bytes_string(const uint8_t *p, size_t len)
{
	char stackbuf[256] = "";
	char *s = len * 2 <= sizeof(stackbuf) ? stackbuf : calloc(len * 2 + 1, 1);
	size_t n = 0;
	json_t *j;

	if (!s)
		return NULL;
	for (size_t i = 0; i < len; i++) {
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
