/*
 * Parsing Canonical Form of an Avro schema and its CRC-64-AVRO (Rabin)
 * fingerprint, both as the Avro 1.11 specification defines them ("Parsing
 * Canonical Form for Schemas", "Schema Fingerprints"). Avro C has neither.
 * The form is computed on the schema JSON (jansson), not on Avro C's schema.
 */
#include "codec/schema.h"
#include "codec/schema_int.h"

#include "base/buf.h"
#include "base/common.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper nesting than this is refused: schemas may come from a registry. */
#define CANONICAL_MAX_DEPTH 256

#define CRC64_AVRO_EMPTY 0xc15d213aa4d7a795ULL

static uint64_t crc64_table[256];
static pthread_once_t crc64_once = PTHREAD_ONCE_INIT;

static void crc64_table_init(void)
{
	for (int i = 0; i < 256; i++) {
		uint64_t fp = (uint64_t)i;

		for (int j = 0; j < 8; j++)
			fp = (fp >> 1) ^ (CRC64_AVRO_EMPTY & -(fp & 1));
		crc64_table[i] = fp;
	}
}

uint64_t cps_crc64_avro(const void *data, size_t len)
{
	const uint8_t *p = data;
	uint64_t fp = CRC64_AVRO_EMPTY;

	pthread_once(&crc64_once, crc64_table_init);
	for (size_t i = 0; i < len; i++)
		fp = (fp >> 8) ^ crc64_table[(fp ^ p[i]) & 0xff];
	return fp;
}

/* The state of one canonicalisation: output and the full names defined so far. */
struct pcf {
	struct cps_buf out;
	char **names;
	size_t nnames, cap;
	char *errstr;
	size_t errstr_size;
	int failed;
};

static int fail(struct pcf *st, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static int fail(struct pcf *st, const char *fmt, ...)
{
	va_list ap;

	if (!st->failed && st->errstr && st->errstr_size) {
		va_start(ap, fmt);
		vsnprintf(st->errstr, st->errstr_size, fmt, ap);
		va_end(ap);
	}
	st->failed = 1;
	return -1;
}

static int name_defined(struct pcf *st, const char *full)
{
	for (size_t i = 0; i < st->nnames; i++)
		if (!strcmp(st->names[i], full))
			return 1;
	return 0;
}

static int name_add(struct pcf *st, const char *full)
{
	if (cps_grow(&st->names, &st->cap, st->nnames + 1, sizeof(*st->names)) != 0)
		return fail(st, "out of memory");
	if (!(st->names[st->nnames] = strdup(full)))
		return fail(st, "out of memory");
	st->nnames++;
	return 0;
}

/* A JSON string: UTF-8 as is (no \u escapes), only what JSON requires escaped. */
static int put_string(struct pcf *st, const char *s)
{
	int rc = cps_buf_append_byte(&st->out, '"');

	for (; *s && rc == 0; s++) {
		unsigned char c = (unsigned char)*s;

		if (c == '"' || c == '\\') {
			rc = cps_buf_append_byte(&st->out, '\\');
			if (rc == 0)
				rc = cps_buf_append_byte(&st->out, c);
		} else if (c < 0x20) {
			rc = cps_buf_printf(&st->out, "\\u%04x", c);
		} else {
			rc = cps_buf_append_byte(&st->out, c);
		}
	}
	if (rc == 0)
		rc = cps_buf_append_byte(&st->out, '"');
	if (rc)
		return fail(st, "canonical form too large");
	return 0;
}

static int put(struct pcf *st, const char *s)
{
	if (cps_buf_append(&st->out, s, strlen(s)))
		return fail(st, "canonical form too large");
	return 0;
}

static const char *const primitives[] = {"null",  "boolean", "int",   "long",
                                         "float", "double",  "bytes", "string"};

int cps_avro_is_primitive(const char *s)
{
	for (size_t i = 0; i < CPS_ARRAY_SIZE(primitives); i++)
		if (!strcmp(s, primitives[i]))
			return 1;
	return 0;
}

char *cps_avro_full_name(const char *name, const json_t *ns_attr, const char *enclosing)
{
	const char *ns = enclosing;
	char *full;

	if (strchr(name, '.'))
		return strdup(name);
	if (json_is_string(ns_attr))
		ns = json_string_value(ns_attr);
	if (!ns || !*ns)
		return strdup(name);
	if (asprintf(&full, "%s.%s", ns, name) < 0)
		return NULL;
	return full;
}

char *cps_avro_namespace_of(const char *full)
{
	const char *dot = strrchr(full, '.');

	return dot ? strndup(full, (size_t)(dot - full)) : strdup("");
}

/* A reference by name: its full name as Java's parser resolves it (the
 * enclosing namespace first, then the null namespace). */
static int put_reference(struct pcf *st, const char *ref, const char *ns)
{
	char *full;
	int rc;

	if (cps_avro_is_primitive(ref))
		return put_string(st, ref);
	if (!(full = cps_avro_full_name(ref, NULL, ns)))
		return fail(st, "out of memory");
	if (!name_defined(st, full) && name_defined(st, ref))
		rc = put_string(st, ref);
	else
		rc = put_string(st, full);
	free(full);
	return rc;
}

static int put_schema(struct pcf *st, const json_t *s, const char *ns, int depth);

/* Writes one element of a named type's list (a record field, an enum symbol). */
typedef int (*put_item_fn)(struct pcf *st, const json_t *item, const char *full, const char *ns,
                           int depth);

static int put_field(struct pcf *st, const json_t *f, const char *full, const char *ns, int depth)
{
	const json_t *fname = json_object_get(f, "name");

	if (!json_is_string(fname) || !json_object_get(f, "type"))
		return fail(st, "record \"%s\" has a field without a name or a type", full);
	if (put(st, "{\"name\":") || put_string(st, json_string_value(fname)) ||
	    put(st, ",\"type\":") || put_schema(st, json_object_get(f, "type"), ns, depth + 1))
		return -1;
	return put(st, "}");
}

static int put_symbol(struct pcf *st, const json_t *sym, const char *full, const char *ns,
                      int depth)
{
	(void)ns;
	(void)depth;
	if (!json_is_string(sym))
		return fail(st, "enum \"%s\" has a symbol that is not a string", full);
	return put_string(st, json_string_value(sym));
}

/* `,"attr":[...]`: the array attribute `attr` of the `kind` named `full`,
 * each element written by `put_item`. */
static int put_list(struct pcf *st, const json_t *s, const char *kind, const char *attr,
                    const char *full, const char *ns, int depth, put_item_fn put_item)
{
	const json_t *list = json_object_get(s, attr), *item;
	size_t i;

	if (!json_is_array(list))
		return fail(st, "%s \"%s\" without a %s array", kind, full, attr);
	if (put(st, ",\"") || put(st, attr) || put(st, "\":["))
		return -1;
	json_array_foreach (list, i, item) {
		if ((i && put(st, ",")) || put_item(st, item, full, ns, depth))
			return -1;
	}
	return put(st, "]");
}

static int put_size(struct pcf *st, const json_t *s, const char *full)
{
	const json_t *size = json_object_get(s, "size");
	char num[32];

	if (!json_is_integer(size) || json_integer_value(size) < 0)
		return fail(st, "fixed \"%s\" without a non-negative integer size", full);
	snprintf(num, sizeof(num), ",\"size\":%lld", (long long)json_integer_value(size));
	return put(st, num);
}

static int put_named(struct pcf *st, const json_t *s, const char *type, const char *ns, int depth)
{
	const json_t *name = json_object_get(s, "name");
	char *full = NULL, *inner_ns = NULL;
	int rc = -1;

	if (!json_is_string(name) || !*json_string_value(name))
		return fail(st, "%s schema without a name", type);
	if (!(full =
	          cps_avro_full_name(json_string_value(name), json_object_get(s, "namespace"), ns)))
		return fail(st, "out of memory");
	if (name_defined(st, full)) {
		/* A second definition: written as the reference it stands for. */
		rc = put_string(st, full);
		goto out;
	}
	if (name_add(st, full) || put(st, "{\"name\":") || put_string(st, full) ||
	    put(st, ",\"type\":") || put_string(st, type))
		goto out;
	if (!(inner_ns = cps_avro_namespace_of(full))) {
		fail(st, "out of memory");
		goto out;
	}

	if (!strcmp(type, "record") || !strcmp(type, "error"))
		rc = put_list(st, s, "record", "fields", full, inner_ns, depth, put_field);
	else if (!strcmp(type, "enum"))
		rc = put_list(st, s, "enum", "symbols", full, inner_ns, depth, put_symbol);
	else /* fixed */
		rc = put_size(st, s, full);
	if (rc == 0)
		rc = put(st, "}");
out:
	free(inner_ns);
	free(full);
	return rc;
}

static int put_schema(struct pcf *st, const json_t *s, const char *ns, int depth)
{
	const json_t *type;
	const char *t;

	if (depth > CANONICAL_MAX_DEPTH)
		return fail(st, "schema nested deeper than %d levels", CANONICAL_MAX_DEPTH);
	if (json_is_string(s))
		return put_reference(st, json_string_value(s), ns);
	if (json_is_array(s)) {
		const json_t *branch;
		size_t i;

		if (put(st, "["))
			return -1;
		json_array_foreach (s, i, branch) {
			if ((i && put(st, ",")) || put_schema(st, branch, ns, depth + 1))
				return -1;
		}
		return put(st, "]");
	}
	if (!json_is_object(s))
		return fail(st, "schema is not a string, an array or an object");
	type = json_object_get(s, "type");
	if (json_is_object(type) || json_is_array(type))
		return put_schema(st, type, ns, depth + 1);
	if (!json_is_string(type))
		return fail(st, "schema object without a type");
	t = json_string_value(type);
	if (cps_avro_is_primitive(t))
		return put_string(st, t); /* logicalType and the rest are stripped */
	if (!strcmp(t, "record") || !strcmp(t, "error") || !strcmp(t, "enum") ||
	    !strcmp(t, "fixed"))
		return put_named(st, s, t, ns, depth);
	if (!strcmp(t, "array") || !strcmp(t, "map")) {
		/* {"type":"array","items":S} or {"type":"map","values":S} */
		const char *attr = !strcmp(t, "array") ? "items" : "values";
		const json_t *inner = json_object_get(s, attr);

		if (!inner)
			return fail(st, "%s schema without %s", t, attr);
		if (put(st, "{\"type\":") || put_string(st, t) || put(st, ",\"") || put(st, attr) ||
		    put(st, "\":") || put_schema(st, inner, ns, depth + 1))
			return -1;
		return put(st, "}");
	}
	/* {"type": "SomeName"}: a reference to a named type. */
	return put_reference(st, t, ns);
}

char *cps_canonical_form(json_t *schema, char *errstr, size_t errstr_size)
{
	struct pcf st = {.errstr = errstr, .errstr_size = errstr_size};
	char *result = NULL;

	cps_buf_init(&st.out, 0);
	if (!schema) {
		cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "no schema");
		goto out;
	}
	if (put_schema(&st, schema, "", 0))
		goto out;
	result = (char *)st.out.data;
	st.out.data = NULL;
out:
	cps_buf_release(&st.out);
	for (size_t i = 0; i < st.nnames; i++)
		free(st.names[i]);
	free(st.names);
	return result;
}
