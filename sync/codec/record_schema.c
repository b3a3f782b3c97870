/*
 * Compiles an Avro C schema (the structure) and its JSON (the logical
 * types, which Avro C drops) into the typed-record type table of record.h.
 * Both are walked in step; a named type is compiled once, at its first
 * appearance (where the JSON holds its definition), and shared after that.
 */
#include "codec/record.h"

#include "codec/record_int.h"
#include "base/common.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Deeper schemas than this are refused (a JSON or Avro C schema nests as
 * deep as its text). */
#define COMPILE_MAX_DEPTH 128

struct named {
	avro_schema_t avro;
	struct cps_rtype *type;
};

struct compile {
	struct cps_arena *arena;
	struct named *named;
	size_t nnamed, cap;
	char *errstr;
	size_t errstr_size;
};

static int oom(struct compile *c)
{
	return cps_seterr(CPS_ERR_FATAL, c->errstr, c->errstr_size, "out of memory");
}

static struct cps_rtype *find_named(const struct compile *c, avro_schema_t s)
{
	size_t i;

	for (i = 0; i < c->nnamed; i++)
		if (c->named[i].avro == s)
			return c->named[i].type;
	return NULL;
}

/* A type node's JSON: a wrapped {"type": {...}} or {"type": [...]} is
 * unwrapped; a name reference (a string) has no attributes: NULL. */
static const json_t *type_json(const json_t *j)
{
	while (json_is_object(j)) {
		const json_t *inner = json_object_get(j, "type");

		if (!json_is_object(inner) && !json_is_array(inner))
			return j;
		j = inner;
	}
	return json_is_array(j) ? j : NULL;
}

/* The logical type of a primitive, bytes or fixed node, when valid. */
static void set_logical(struct cps_rtype *t, const json_t *j)
{
	const char *lt = json_string_value(json_object_get(j, "logicalType"));
	json_int_t p, s;

	if (!lt)
		return;
	if (!strcmp(lt, "date") && t->kind == CPS_RK_INT) {
		t->logical = CPS_LOGICAL_DATE;
	} else if (!strcmp(lt, "timestamp-millis") && t->kind == CPS_RK_LONG) {
		t->logical = CPS_LOGICAL_TIMESTAMP_MILLIS;
	} else if (!strcmp(lt, "decimal") && (t->kind == CPS_RK_BYTES || t->kind == CPS_RK_FIXED)) {
		p = json_integer_value(json_object_get(j, "precision"));
		s = json_is_integer(json_object_get(j, "scale"))
		        ? json_integer_value(json_object_get(j, "scale"))
		        : 0;
		if (p <= 0 || s < 0 || s > p || p > 1000)
			return; /* invalid: the specification says ignore it */
		t->logical = CPS_LOGICAL_DECIMAL;
		t->precision = (int32_t)p;
		t->scale = (int32_t)s;
	}
}

static int compile_type(struct compile *c, avro_schema_t s, const json_t *j, unsigned depth,
                        struct cps_rtype **out);

static int compile_record(struct compile *c, avro_schema_t s, const json_t *j, unsigned depth,
                          struct cps_rtype *t)
{
	const json_t *jfields = json_object_get(j, "fields");
	size_t i;
	int rc;

	t->kind = CPS_RK_RECORD;
	t->n = avro_schema_record_size(s);
	t->fields = cps_arena_calloc(c->arena, t->n, sizeof(*t->fields));
	if (!t->fields && t->n)
		return oom(c);
	for (i = 0; i < t->n; i++) {
		struct cps_rfield *f = &t->fields[i];
		const json_t *jf = json_array_get(jfields, i);

		f->index = (uint32_t)i;
		f->name = cps_arena_strdup(c->arena, avro_schema_record_field_name(s, (int)i));
		if (!f->name)
			return oom(c);
		rc = compile_type(c, avro_schema_record_field_get_by_index(s, (int)i),
		                  json_object_get(jf, "type"), depth + 1, &f->type);
		if (rc != CPS_OK)
			return rc;
		f->nullable = f->type->kind == CPS_RK_UNION && f->type->null_branch >= 0;
	}
	return CPS_OK;
}

static int compile_named(struct compile *c, avro_schema_t s, const json_t *j, unsigned depth,
                         struct cps_rtype *t)
{
	const char *ns = avro_schema_namespace(s);
	char full[512];
	size_t i;

	snprintf(full, sizeof(full), "%s%s%s", ns && *ns ? ns : "", ns && *ns ? "." : "",
	         avro_schema_name(s));
	t->name = cps_arena_strdup(c->arena, full);
	if (!t->name)
		return oom(c);
	switch (avro_typeof(s)) {
	case AVRO_RECORD:
		return compile_record(c, s, j, depth, t);
	case AVRO_ENUM:
		t->kind = CPS_RK_ENUM;
		t->n = (size_t)avro_schema_enum_number_of_symbols(s);
		t->symbols = cps_arena_calloc(c->arena, t->n, sizeof(*t->symbols));
		if (!t->symbols && t->n)
			return oom(c);
		for (i = 0; i < t->n; i++) {
			t->symbols[i] = cps_arena_strdup(c->arena, avro_schema_enum_get(s, (int)i));
			if (!t->symbols[i])
				return oom(c);
		}
		return CPS_OK;
	default: /* fixed */
		t->kind = CPS_RK_FIXED;
		t->size = (size_t)avro_schema_fixed_size(s);
		set_logical(t, j);
		if (t->logical == CPS_LOGICAL_DECIMAL && t->size == 0)
			t->logical = CPS_LOGICAL_NONE;
		return CPS_OK;
	}
}

static int compile_union(struct compile *c, avro_schema_t s, const json_t *j, unsigned depth,
                         struct cps_rtype *t)
{
	size_t i;
	int rc;

	t->kind = CPS_RK_UNION;
	t->null_branch = -1;
	t->n = avro_schema_union_size(s);
	t->branches = cps_arena_calloc(c->arena, t->n, sizeof(*t->branches));
	if (!t->branches && t->n)
		return oom(c);
	for (i = 0; i < t->n; i++) {
		rc = compile_type(c, avro_schema_union_branch(s, (int)i),
		                  json_is_array(j) ? json_array_get(j, i) : NULL, depth + 1,
		                  &t->branches[i]);
		if (rc != CPS_OK)
			return rc;
		if (t->branches[i]->kind == CPS_RK_NULL && t->null_branch < 0)
			t->null_branch = (int32_t)i;
	}
	return CPS_OK;
}

static const enum cps_rkind primitive_kind[] = {
    [AVRO_STRING] = CPS_RK_STRING,   [AVRO_BYTES] = CPS_RK_BYTES, [AVRO_INT32] = CPS_RK_INT,
    [AVRO_INT64] = CPS_RK_LONG,      [AVRO_FLOAT] = CPS_RK_FLOAT, [AVRO_DOUBLE] = CPS_RK_DOUBLE,
    [AVRO_BOOLEAN] = CPS_RK_BOOLEAN, [AVRO_NULL] = CPS_RK_NULL,
};

static int compile_type(struct compile *c, avro_schema_t s, const json_t *j, unsigned depth,
                        struct cps_rtype **out)
{
	struct cps_rtype *t;
	avro_type_t at;

	if (depth > COMPILE_MAX_DEPTH)
		return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
		                  "schema nests deeper than %d", COMPILE_MAX_DEPTH);
	while (s && avro_typeof(s) == AVRO_LINK)
		s = avro_schema_link_target(s);
	if (!s)
		return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
		                  "schema has an unresolved reference");
	j = type_json(j);
	at = avro_typeof(s);
	if ((at == AVRO_RECORD || at == AVRO_ENUM || at == AVRO_FIXED) &&
	    (*out = find_named(c, s)) != NULL)
		return CPS_OK;
	t = cps_arena_calloc(c->arena, 1, sizeof(*t));
	if (!t)
		return oom(c);
	t->null_branch = -1;
	*out = t;
	switch (at) {
	case AVRO_RECORD:
	case AVRO_ENUM:
	case AVRO_FIXED:
		/* registered before its fields: recursive references find it */
		if (cps_grow(&c->named, &c->cap, c->nnamed + 1, sizeof(*c->named)) != 0)
			return oom(c);
		c->named[c->nnamed].avro = s;
		c->named[c->nnamed++].type = t;
		return compile_named(c, s, j, depth, t);
	case AVRO_UNION:
		return compile_union(c, s, j, depth, t);
	case AVRO_ARRAY:
		t->kind = CPS_RK_ARRAY;
		return compile_type(c, avro_schema_array_items(s), json_object_get(j, "items"),
		                    depth + 1, &t->items);
	case AVRO_MAP:
		t->kind = CPS_RK_MAP;
		return compile_type(c, avro_schema_map_values(s), json_object_get(j, "values"),
		                    depth + 1, &t->items);
	case AVRO_STRING:
	case AVRO_BYTES:
	case AVRO_INT32:
	case AVRO_INT64:
	case AVRO_FLOAT:
	case AVRO_DOUBLE:
	case AVRO_BOOLEAN:
	case AVRO_NULL:
		t->kind = primitive_kind[at];
		set_logical(t, j);
		return CPS_OK;
	default:
		return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
		                  "unsupported schema type %d", (int)at);
	}
}

int cps_record_schema_compile(avro_schema_t avro, const json_t *json,
                              struct cps_record_schema **out, char *errstr, size_t errstr_size)
{
	struct cps_record_schema *rs;
	struct compile c = {.errstr = errstr, .errstr_size = errstr_size};
	int rc;

	*out = NULL;
	if (!avro)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "record schema compiled without a schema");
	rs = calloc(1, sizeof(*rs));
	if (!rs)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_arena_init(&rs->arena, 4096);
	c.arena = &rs->arena;
	rc = compile_type(&c, avro, json, 0, &rs->root);
	free(c.named);
	if (rc != CPS_OK) {
		cps_arena_release(&rs->arena);
		free(rs);
		return rc;
	}
	rs->avro = avro_schema_incref(avro);
	*out = rs;
	return CPS_OK;
}

int cps_record_schema_new(const struct cps_schema *schema, struct cps_record_schema **out,
                          char *errstr, size_t errstr_size)
{
	return cps_record_schema_compile(schema->avro, schema->json, out, errstr, errstr_size);
}

void cps_record_schema_free(struct cps_record_schema *rs)
{
	if (!rs)
		return;
	avro_schema_decref(rs->avro);
	cps_arena_release(&rs->arena);
	free(rs);
}

const struct cps_rfield *cps_rtype_field(const struct cps_rtype *t, const char *name)
{
	size_t i;

	if (!t || t->kind != CPS_RK_RECORD)
		return NULL;
	for (i = 0; i < t->n; i++)
		if (!strcmp(t->fields[i].name, name))
			return &t->fields[i];
	return NULL;
}

int cps_rtype_can_be_empty(const struct cps_rtype *t, unsigned depth)
{
	size_t i;

	if (depth > 32)
		return 0;
	switch (t->kind) {
	case CPS_RK_NULL:
		return 1;
	case CPS_RK_FIXED:
		return t->size == 0;
	case CPS_RK_RECORD:
		for (i = 0; i < t->n; i++)
			if (!cps_rtype_can_be_empty(t->fields[i].type, depth + 1))
				return 0;
		return 1;
	default:
		return 0;
	}
}

int cps_rpath_append(char *out, size_t size, size_t *used, enum cps_rseg_kind kind,
                     const char *name, uint64_t index)
{
	int n;

	switch (kind) {
	case CPS_RSEG_FIELD:
		n = snprintf(out + *used, size - *used, ".%s", name);
		break;
	case CPS_RSEG_ITEM:
		n = snprintf(out + *used, size - *used, "[%" PRIu64 "]", index);
		break;
	case CPS_RSEG_VALUE:
		n = snprintf(out + *used, size - *used, "{%" PRIu64 "}", index);
		break;
	default:
		n = snprintf(out + *used, size - *used, "{%" PRIu64 "}<key>", index);
		break;
	}
	if (n < 0)
		return -1;
	*used += (size_t)n;
	return 0;
}

void cps_rpath_truncated(char *out, size_t size, size_t used)
{
	if (used >= size && size > 4)
		memcpy(out + size - 4, "...", 4);
}

void cps_rpath_format(const struct cps_rseg *path, unsigned n, char *out, size_t size)
{
	size_t used = 0;
	unsigned i;

	out[0] = '\0';
	for (i = 0; i < n && used + 1 < size; i++) {
		const struct cps_rseg *s = &path[i];
		const char *name =
		    s->kind == CPS_RSEG_FIELD ? s->type->fields[s->index].name : NULL;

		if (cps_rpath_append(out, size, &used, s->kind, name, s->index) < 0)
			break;
	}
	cps_rpath_truncated(out, size, used);
}

int cps_rplace_refuse(struct cps_rplace *at, const char *fmt, ...)
{
	char what[160], where[256];
	va_list ap;

	if (!at->errstr || at->errstr_size == 0)
		return CPS_ERR_INVALID;
	cps_rpath_format(at->path, at->nseg, where, sizeof(where));
	va_start(ap, fmt);
	vsnprintf(what, sizeof(what), fmt, ap);
	va_end(ap);
	snprintf(at->errstr, at->errstr_size, "cannot encode: %s (%s)", what,
	         where[0] ? where : ".");
	return CPS_ERR_INVALID;
}
