/*
 * Schema loading (see schema.h): JSON text or file → references to other
 * files of the catalog inlined at their first use → Avro C schema and
 * generic value class → Parsing Canonical Form and fingerprint. The catalog
 * that gathers a directory's schemas is in catalog.c.
 */
#include "codec/schema.h"
#include "codec/schema_int.h"

#include "base/common.h"

#include <stdarg.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* Deeper nesting than this is refused: schemas may come from a registry. */
#define RESOLVE_MAX_DEPTH 256

/* ---- names ---- */

static int is_named_type(const char *t)
{
	return !strcmp(t, "record") || !strcmp(t, "error") || !strcmp(t, "enum") ||
	       !strcmp(t, "fixed");
}

/* The full name of a top-level named schema, or NULL when it is not one. */
static char *top_level_name(const json_t *json)
{
	const json_t *type = json_object_get(json, "type"), *name = json_object_get(json, "name");

	if (!json_is_string(type) || !is_named_type(json_string_value(type)) ||
	    !json_is_string(name))
		return NULL;
	return cps_avro_full_name(json_string_value(name), json_object_get(json, "namespace"), "");
}

static int strlist_has(const struct strlist *l, const char *s)
{
	for (size_t i = 0; i < l->n; i++)
		if (!strcmp(l->v[i], s))
			return 1;
	return 0;
}

int cps_schema_strlist_add(struct strlist *l, const char *s)
{
	if (cps_grow(&l->v, &l->cap, l->n + 1, sizeof(*l->v)) != 0)
		return -1;
	if (!(l->v[l->n] = strdup(s)))
		return -1;
	l->n++;
	return 0;
}

void cps_schema_strlist_release(struct strlist *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->v[i]);
	free(l->v);
	memset(l, 0, sizeof(*l));
}

/* ---- definitions of the other files, for cross-file references ---- */

static int definitions_add(struct definitions *d, const char *name, const json_t *def,
                           int top_level)
{
	if (cps_grow(&d->v, &d->cap, d->n + 1, sizeof(*d->v)) != 0)
		return -1;
	if (!(d->v[d->n].name = strdup(name)))
		return -1;
	d->v[d->n].def = def;
	d->v[d->n].top_level = top_level;
	d->n++;
	return 0;
}

void cps_schema_definitions_release(struct definitions *d)
{
	for (size_t i = 0; i < d->n; i++)
		free(d->v[i].name);
	free(d->v);
	memset(d, 0, sizeof(*d));
}

/* A file's own root definition wins over a nested one of the same name. */
static const json_t *definitions_find(const struct definitions *d, const char *name)
{
	const json_t *nested = NULL;

	for (size_t i = 0; d && i < d->n; i++) {
		if (strcmp(d->v[i].name, name))
			continue;
		if (d->v[i].top_level)
			return d->v[i].def;
		if (!nested)
			nested = d->v[i].def;
	}
	return nested;
}

/* Records every named type defined in `s` (best effort: malformed parts are
 * skipped here and reported when the file itself is resolved). */
int cps_schema_definitions_collect(struct definitions *d, const json_t *s, const char *ns,
                                   int depth, int top_level)
{
	const json_t *type, *name;
	const char *t;
	int rc = 0;

	if (depth > RESOLVE_MAX_DEPTH)
		return 0;
	if (json_is_array(s)) {
		const json_t *b;
		size_t i;

		json_array_foreach (s, i, b) {
			if (cps_schema_definitions_collect(d, b, ns, depth + 1, 0))
				return -1;
		}
		return 0;
	}
	if (!json_is_object(s))
		return 0;
	type = json_object_get(s, "type");
	if (!json_is_string(type))
		return cps_schema_definitions_collect(d, type, ns, depth + 1, 0);
	t = json_string_value(type);
	if (!strcmp(t, "array"))
		return cps_schema_definitions_collect(d, json_object_get(s, "items"), ns, depth + 1,
		                                      0);
	if (!strcmp(t, "map"))
		return cps_schema_definitions_collect(d, json_object_get(s, "values"), ns,
		                                      depth + 1, 0);
	name = json_object_get(s, "name");
	if (is_named_type(t) && json_is_string(name)) {
		char *full = cps_avro_full_name(json_string_value(name),
		                                json_object_get(s, "namespace"), ns);
		char *inner = full ? cps_avro_namespace_of(full) : NULL;
		const json_t *fields = json_object_get(s, "fields"), *f;
		size_t i;

		if (!full || !inner || definitions_add(d, full, s, top_level))
			rc = -1;
		json_array_foreach (fields, i, f) {
			if (rc == 0)
				rc = cps_schema_definitions_collect(d, json_object_get(f, "type"),
				                                    inner, depth + 1, 0);
		}
		free(inner);
		free(full);
	}
	return rc;
}

/* ---- resolution: inline other files' definitions at their first use ---- */

struct resolver {
	const struct definitions *others; /* may be NULL */
	struct strlist defined;           /* full names defined so far */
	const char *what;                 /* for errors: the file, or "schema" */
	char *errstr;
	size_t errstr_size;
	int rc;
};

static json_t *resolve_fail(struct resolver *r, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static json_t *resolve_fail(struct resolver *r, int code, const char *fmt, ...)
{
	char reason[CPS_ERRSTR_SIZE];
	va_list ap;

	if (r->rc == CPS_OK) {
		va_start(ap, fmt);
		vsnprintf(reason, sizeof(reason), fmt, ap);
		va_end(ap);
		r->rc = cps_seterr(code, r->errstr, r->errstr_size, "%s: %s", r->what, reason);
	}
	return NULL;
}

static json_t *resolve(struct resolver *r, const json_t *s, const char *ns, int depth);

/* A copy of another file's definition of `full`, made independent of the
 * namespace it was nested in, then resolved in the current context. */
static json_t *inline_definition(struct resolver *r, const json_t *def, const char *full,
                                 const char *ns, int depth)
{
	json_t *copy = json_copy((json_t *)def), *out = NULL;
	const char *dot = strrchr(full, '.');

	if (!copy)
		return resolve_fail(r, CPS_ERR_FATAL, "out of memory");
	if (dot)
		json_object_del(copy, "namespace"); /* absent is fine */
	if (json_object_set_new(copy, "name", json_string(full)) ||
	    (!dot && json_object_set_new(copy, "namespace", json_string("")))) {
		json_decref(copy);
		return resolve_fail(r, CPS_ERR_FATAL, "out of memory");
	}
	out = resolve(r, copy, ns, depth + 1);
	json_decref(copy);
	return out;
}

static json_t *resolve_reference(struct resolver *r, json_t *ref, const char *ns, int depth)
{
	const char *name = json_string_value(ref);
	const json_t *def;
	char *full;
	json_t *out;

	if (cps_avro_is_primitive(name))
		return json_incref(ref);
	if (!(full = cps_avro_full_name(name, NULL, ns)))
		return resolve_fail(r, CPS_ERR_FATAL, "out of memory");
	/* As Java resolves a short name: the enclosing namespace, then none. */
	if (strlist_has(&r->defined, full) || strlist_has(&r->defined, name)) {
		free(full);
		return json_incref(ref);
	}
	def = definitions_find(r->others, full);
	if (!def && strcmp(full, name)) {
		def = definitions_find(r->others, name);
		if (def) {
			free(full);
			if (!(full = strdup(name)))
				return resolve_fail(r, CPS_ERR_FATAL, "out of memory");
		}
	}
	if (!def) {
		resolve_fail(r, CPS_ERR_INVALID, "unknown type \"%s\"", full);
		free(full);
		return NULL;
	}
	out = inline_definition(r, def, full, ns, depth);
	free(full);
	return out;
}

static json_t *resolve_named(struct resolver *r, const json_t *s, const char *t, const char *ns,
                             int depth)
{
	const json_t *name = json_object_get(s, "name"), *fields, *f;
	char *full = NULL, *inner = NULL;
	json_t *out = NULL, *new_fields = NULL;
	size_t i;

	if (!json_is_string(name))
		return resolve_fail(r, CPS_ERR_INVALID, "%s schema without a name", t);
	full = cps_avro_full_name(json_string_value(name), json_object_get(s, "namespace"), ns);
	inner = full ? cps_avro_namespace_of(full) : NULL;
	if (!full || !inner || cps_schema_strlist_add(&r->defined, full)) {
		resolve_fail(r, CPS_ERR_FATAL, "out of memory");
		goto out;
	}
	if (!(out = json_copy((json_t *)s))) {
		resolve_fail(r, CPS_ERR_FATAL, "out of memory");
		goto out;
	}
	if (strcmp(t, "record") && strcmp(t, "error"))
		goto out;
	fields = json_object_get(s, "fields");
	if (!json_is_array(fields)) {
		resolve_fail(r, CPS_ERR_INVALID, "record \"%s\" without a fields array", full);
		goto fail;
	}
	if (!(new_fields = json_array()) || json_object_set(out, "fields", new_fields)) {
		resolve_fail(r, CPS_ERR_FATAL, "out of memory");
		goto fail;
	}
	json_array_foreach (fields, i, f) {
		json_t *nf, *ft;

		if (!json_is_object(f) || !json_object_get(f, "type")) {
			resolve_fail(r, CPS_ERR_INVALID, "record \"%s\" has a field without a type",
			             full);
			goto fail;
		}
		if (!(ft = resolve(r, json_object_get(f, "type"), inner, depth + 1)))
			goto fail;
		nf = json_copy((json_t *)f);
		if (!nf || json_object_set_new(nf, "type", ft) ||
		    json_array_append_new(new_fields, nf)) {
			if (!nf)
				json_decref(ft);
			resolve_fail(r, CPS_ERR_FATAL, "out of memory");
			goto fail;
		}
	}
	goto out;
fail:
	json_decref(out);
	out = NULL;
out:
	json_decref(new_fields);
	free(inner);
	free(full);
	return out;
}

/* Returns a new reference to the resolved form of `s`, or NULL (r->rc set). */
static json_t *resolve(struct resolver *r, const json_t *s, const char *ns, int depth)
{
	const json_t *type;
	const char *t;
	const char *child_key = NULL;
	json_t *out, *child;

	if (depth > RESOLVE_MAX_DEPTH)
		return resolve_fail(r, CPS_ERR_INVALID, "schema nested deeper than %d levels",
		                    RESOLVE_MAX_DEPTH);
	if (json_is_string(s))
		return resolve_reference(r, (json_t *)s, ns, depth);
	if (json_is_array(s)) {
		const json_t *b;
		size_t i;

		if (!(out = json_array()))
			return resolve_fail(r, CPS_ERR_FATAL, "out of memory");
		json_array_foreach (s, i, b) {
			json_t *nb = resolve(r, b, ns, depth + 1);

			if (!nb || json_array_append_new(out, nb)) {
				json_decref(out);
				return nb ? resolve_fail(r, CPS_ERR_FATAL, "out of memory") : NULL;
			}
		}
		return out;
	}
	if (!json_is_object(s))
		return resolve_fail(r, CPS_ERR_INVALID,
		                    "schema is not a string, an array or an object");
	type = json_object_get(s, "type");
	if (json_is_string(type)) {
		t = json_string_value(type);
		if (cps_avro_is_primitive(t))
			return json_incref((json_t *)s);
		if (is_named_type(t))
			return resolve_named(r, s, t, ns, depth);
		if (!strcmp(t, "array"))
			child_key = "items";
		else if (!strcmp(t, "map"))
			child_key = "values";
		else
			return resolve_reference(r, (json_t *)type, ns, depth);
	} else if (json_is_object(type) || json_is_array(type)) {
		child_key = "type";
	} else {
		return resolve_fail(r, CPS_ERR_INVALID, "schema object without a type");
	}
	if (!json_object_get(s, child_key))
		return resolve_fail(r, CPS_ERR_INVALID, "schema without \"%s\"", child_key);
	if (!(child = resolve(r, json_object_get(s, child_key), ns, depth + 1)))
		return NULL;
	if (!(out = json_copy((json_t *)s)) || json_object_set_new(out, child_key, child)) {
		if (!out)
			json_decref(child);
		json_decref(out);
		return resolve_fail(r, CPS_ERR_FATAL, "out of memory");
	}
	return out;
}

/* ---- one schema ---- */

void cps_schema_free(struct cps_schema *s)
{
	if (!s)
		return;
	if (s->iface)
		avro_value_iface_decref(s->iface);
	if (s->avro)
		avro_schema_decref(s->avro);
	json_decref(s->json);
	free(s->canonical);
	free(s->name);
	free(s->path);
	free(s);
}

/*
 * Builds a schema from JSON whose references are resolved against `others`
 * (may be NULL). `what` names the input in errors (the file, or "schema").
 */
int cps_schema_build(const json_t *json, const char *path, const struct definitions *others,
                     struct cps_schema **out, char *errstr, size_t errstr_size)
{
	struct resolver r = {.others = others,
	                     .what = path ? path : "schema",
	                     .errstr = errstr,
	                     .errstr_size = errstr_size};
	struct cps_schema *s = NULL;
	char *text = NULL, reason[CPS_ERRSTR_SIZE];
	int rc = CPS_OK;

	*out = NULL;
	if (!(s = calloc(1, sizeof(*s)))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	if (!(s->json = resolve(&r, json, "", 0))) {
		rc = r.rc;
		goto out;
	}
	if (path && !(s->path = strdup(path))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	if (!(s->canonical = cps_canonical_form(s->json, reason, sizeof(reason)))) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s: %s", r.what, reason);
		goto out;
	}
	s->fingerprint = cps_crc64_avro(s->canonical, strlen(s->canonical));
	s->name = top_level_name(s->json);
	if (!s->name && !(s->name = strdup(s->canonical))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	if (!(text = json_dumps(s->json, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY))) {
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		goto out;
	}
	if (avro_schema_from_json_length(text, strlen(text), &s->avro)) {
		s->avro = NULL;
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s: avro: %s", r.what,
		                avro_strerror());
		goto out;
	}
	if (!(s->iface = avro_generic_class_from_schema(s->avro))) {
		rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s: avro value class: %s",
		                r.what, avro_strerror());
		goto out;
	}
	*out = s;
	s = NULL;
out:
	free(text);
	cps_schema_free(s);
	cps_schema_strlist_release(&r.defined);
	return rc;
}

int cps_schema_from_json(json_t *json, struct cps_schema **out, char *errstr, size_t errstr_size)
{
	if (!json) {
		*out = NULL;
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "no schema");
	}
	return cps_schema_build(json, NULL, NULL, out, errstr, errstr_size);
}

int cps_schema_parse(const char *text, size_t len, struct cps_schema **out, char *errstr,
                     size_t errstr_size)
{
	json_error_t jerr;
	json_t *json;
	int rc;

	*out = NULL;
	json = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);
	if (!json)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "schema: invalid JSON at line %d: %s", jerr.line, jerr.text);
	rc = cps_schema_from_json(json, out, errstr, errstr_size);
	json_decref(json);
	return rc;
}

json_t *cps_schema_load_json_file(const char *path, char *errstr, size_t errstr_size, int *rc)
{
	json_error_t jerr;
	json_t *json = json_load_file(path, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &jerr);

	*rc = CPS_OK;
	if (json)
		return json;
	if (access(path, R_OK) != 0)
		*rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "%s: cannot read: %s", path,
		                 strerror(errno));
	else
		*rc = cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                 "%s: invalid JSON at line %d: %s", path, jerr.line, jerr.text);
	return NULL;
}

int cps_schema_load_file(const char *path, struct cps_schema **out, char *errstr,
                         size_t errstr_size)
{
	json_t *json;
	int rc;

	*out = NULL;
	if (!(json = cps_schema_load_json_file(path, errstr, errstr_size, &rc)))
		return rc;
	rc = cps_schema_build(json, path, NULL, out, errstr, errstr_size);
	json_decref(json);
	return rc;
}
