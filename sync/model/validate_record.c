/*
 * Record validation on typed records (validate.h): validate.c's rules and
 * reasons read off a decoded record without its JSON form, so that ingest
 * can accept a source's bytes without a JSON round trip. Each check reads a
 * field as validate.c's field_string sees its JSON: a union shows as
 * {"type": v}, an enum as its symbol, a string up to its first NUL.
 */
#include "model/validate.h"

#include "base/common.h"
#include "base/pii.h"
#include "base/utf8.h"
#include "model/entity.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* As avro_json's CPS_AVRO_JSON_MAX_DEPTH (record_json.c's JSON_MAX_DEPTH). */
#define JSON_MAX_DEPTH 128

/* What field_string (validate.c) finds in a field. */
enum tstr {
	TSTR_ABSENT, /* not in the record, or null */
	TSTR_STRING, /* a JSON string: *s, *len */
	TSTR_OTHER,  /* present, not a string */
	TSTR_UNMODELLED,
};

/* The JSON string of value `v` of non-union type `t`, as field_string reads
 * it once a union is unwrapped. */
static enum tstr value_string(const struct cps_rtype *t, const struct cps_tval *v, const char **s,
                              size_t *len)
{
	switch (t->kind) {
	case CPS_RK_NULL:
		return TSTR_ABSENT;
	case CPS_RK_STRING:
		*s = (const char *)v->u.b.ptr;
		*len = v->u.b.len ? strnlen(*s, v->u.b.len) : 0;
		return TSTR_STRING;
	case CPS_RK_ENUM:
		*s = t->symbols[v->u.i];
		*len = strlen(*s);
		return TSTR_STRING;
	case CPS_RK_BYTES:
	case CPS_RK_FIXED: /* a string of code points 0-255 */
		return TSTR_UNMODELLED;
	case CPS_RK_RECORD: /* an object: one member called "string" would be read */
		return t->n == 1 && !strcmp(t->fields[0].name, "string") ? TSTR_UNMODELLED
		                                                         : TSTR_OTHER;
	case CPS_RK_MAP:
		return v->u.list.n == 1 ? TSTR_UNMODELLED : TSTR_OTHER;
	default:
		return TSTR_OTHER;
	}
}

/* field_string on field `name` of record `rec` (of record type `rt`). */
static enum tstr field_string(const struct cps_rtype *rt, const struct cps_tval *rec,
                              const char *name, const char **s, size_t *len)
{
	const struct cps_rfield *f = cps_rtype_field(rt, name);
	const struct cps_rtype *t;
	const struct cps_tval *v;

	if (!f)
		return TSTR_ABSENT;
	t = f->type;
	v = &rec->u.list.v[f->index];
	if (t->kind != CPS_RK_UNION)
		return value_string(t, v, s, len);
	t = t->branches[v->branch];
	if (t->kind == CPS_RK_NULL)
		return TSTR_ABSENT;
	/* {"string": s} gives s; any other branch an object without "string" */
	return t->kind == CPS_RK_STRING ? value_string(t, v, s, len) : TSTR_OTHER;
}

static int check_national_id(const char *path, const struct cps_rtype *rt,
                             const struct cps_tval *rec, const char *name, bool required,
                             char *errstr, size_t errstr_size)
{
	char why[CPS_ERRSTR_SIZE], small[64], *id;
	const char *s = NULL;
	size_t len = 0;
	int rc;

	switch (field_string(rt, rec, name, &s, &len)) {
	case TSTR_ABSENT:
		if (!required)
			return CPS_OK;
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "field '%s' is missing",
		                  path);
	case TSTR_OTHER:
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "field '%s' is not a string", path);
	case TSTR_UNMODELLED:
		return CPS_VALIDATE_UNMODELLED;
	case TSTR_STRING:
		break;
	}
	id = len < sizeof(small) ? small : malloc(len + 1);
	if (!id)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	memcpy(id, s, len);
	id[len] = '\0';
	rc = cps_national_id_validate(id, why, sizeof(why));
	if (id != small)
		free(id);
	if (rc != CPS_OK)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "field '%s': %s", path,
		                  why);
	return CPS_OK;
}

/* subject_id holds a national ID when subject_type is PERSON. */
static int check_subject(const char *entity, const struct cps_rtype *rt, const struct cps_tval *rec,
                         char *errstr, size_t errstr_size)
{
	char path[64];
	const char *type = NULL;
	size_t len = 0;

	switch (field_string(rt, rec, "subject_type", &type, &len)) {
	case TSTR_UNMODELLED:
		return CPS_VALIDATE_UNMODELLED;
	case TSTR_STRING:
		break;
	default:
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "field '%s.subject_type' is missing", entity);
	}
	if (len != 6 || memcmp(type, "PERSON", 6) != 0)
		return CPS_OK;
	snprintf(path, sizeof(path), "%s.subject_id", entity);
	return check_national_id(path, rt, rec, "subject_id", true, errstr, errstr_size);
}

static int check_array_ids(const char *entity, const struct cps_rtype *rt,
                           const struct cps_tval *rec, const char *array, const char *name,
                           bool required, char *errstr, size_t errstr_size)
{
	const struct cps_rfield *f = cps_rtype_field(rt, array);
	const struct cps_rtype *it;
	const struct cps_tval *items;
	char path[128];
	int rc;

	if (!f)
		return CPS_OK;
	if (f->type->kind != CPS_RK_ARRAY) /* null, or a union's {"array": …}, is no array */
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "field '%s.%s' is not an array", entity, array);
	items = &rec->u.list.v[f->index];
	it = f->type->items;
	for (size_t i = 0; i < items->u.list.n; i++) {
		if (it->kind == CPS_RK_UNION || it->kind == CPS_RK_MAP)
			return CPS_VALIDATE_UNMODELLED;
		if (it->kind != CPS_RK_RECORD)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "field '%s.%s[%zu]' is not a record", entity, array, i);
		snprintf(path, sizeof(path), "%s.%s[%zu].%s", entity, array, i, name);
		rc = check_national_id(path, it, &items->u.list.v[i], name, required, errstr,
		                       errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

static bool all_digits(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (s[i] < '0' || s[i] > '9')
			return false;
	return true;
}

/* Every field named "*region_code", in schema order (jansson iterates an
 * object in insertion order, which is the schema's). */
static int check_region_codes(const char *entity, const struct cps_rtype *rt,
                              const struct cps_tval *rec, char *errstr, size_t errstr_size)
{
	const char *suffix = "region_code";
	size_t ls = strlen(suffix);

	for (size_t i = 0; i < rt->n; i++) {
		const char *name = rt->fields[i].name, *code = NULL;
		size_t ln = strlen(name), len = 0;

		if (ln < ls || strcmp(name + ln - ls, suffix) != 0)
			continue;
		switch (field_string(rt, rec, name, &code, &len)) {
		case TSTR_ABSENT:
			continue;
		case TSTR_UNMODELLED:
			return CPS_VALIDATE_UNMODELLED;
		case TSTR_OTHER:
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "field '%s.%s' is not a string", entity, name);
		case TSTR_STRING:
			break;
		}
		if (len != 6 || !all_digits(code, 6))
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "field '%s.%s' is not a 6-digit region code", entity,
			                  name);
	}
	return CPS_OK;
}

static int check_key(const char *entity, const struct cps_rtype *rt, const struct cps_tval *rec,
                     struct cps_typed_key *key, char *errstr, size_t errstr_size)
{
	const char *key_field = cps_entity_key_field(entity);
	const struct cps_rfield *f;

	switch (field_string(rt, rec, key_field, &key->ptr, &key->len)) {
	case TSTR_ABSENT:
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "key field '%s.%s' is missing", entity, key_field);
	case TSTR_OTHER:
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "key field '%s.%s' is not a string", entity, key_field);
	case TSTR_UNMODELLED:
		return CPS_VALIDATE_UNMODELLED;
	case TSTR_STRING:
		break;
	}
	if (key->len == 0)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "key field '%s.%s' is empty", entity, key_field);
	f = cps_rtype_field(rt, key_field);
	key->plain = f->type->kind != CPS_RK_UNION;
	return CPS_OK;
}

int cps_validate_typed(const char *entity, const struct cps_rtype *type, const struct cps_tval *rec,
                       struct cps_typed_key *key, char *errstr, size_t errstr_size)
{
	int rc;

	memset(key, 0, sizeof(*key));
	if (!entity || !cps_entity_key_field(entity))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "unknown entity '%s'",
		                  entity ? entity : "(none)");
	if (type->kind != CPS_RK_RECORD || rec->kind != CPS_RK_RECORD || rec->u.list.n != type->n)
		return CPS_VALIDATE_UNMODELLED;
	rc = check_key(entity, type, rec, key, errstr, errstr_size);
	if (rc != CPS_OK)
		return rc;

	if (!strcmp(entity, "person")) {
		rc = check_national_id("person.national_id", type, rec, "national_id", true, errstr,
		                       errstr_size);
	} else if (!strcmp(entity, "household")) {
		rc = check_national_id("household.head_national_id", type, rec, "head_national_id",
		                       true, errstr, errstr_size);
		if (rc == CPS_OK)
			rc = check_array_ids(entity, type, rec, "members", "national_id", true,
			                     errstr, errstr_size);
	} else if (!strcmp(entity, "verification")) {
		rc = check_array_ids(entity, type, rec, "items", "member_national_id", false,
		                     errstr, errstr_size);
	} else if (!strcmp(entity, "enrolment") || !strcmp(entity, "alert")) {
		rc = check_subject(entity, type, rec, errstr, errstr_size);
	} else {
		rc = CPS_OK;
	}
	if (rc != CPS_OK)
		return rc;
	return check_region_codes(entity, type, rec, errstr, errstr_size);
}

/* ---- has the record a JSON form ------------------------------------------ */

/* Whether value `v` of type `t` surely has a JSON form (false: maybe not),
 * nesting counted as record_json.c counts it. */
static bool json_form_ok(const struct cps_rtype *t, const struct cps_tval *v, unsigned depth)
{
	if (depth > JSON_MAX_DEPTH)
		return false;
	if (t->kind == CPS_RK_UNION) {
		if (v->branch < 0 || (size_t)v->branch >= t->n)
			return false;
		t = t->branches[v->branch];
		return t->kind == CPS_RK_NULL || json_form_ok(t, v, depth + 1);
	}
	if (v->kind != t->kind)
		return false;
	switch (t->kind) {
	case CPS_RK_FLOAT:
		return isfinite(v->u.f);
	case CPS_RK_DOUBLE:
		return isfinite(v->u.d);
	case CPS_RK_STRING:
		return cps_utf8_valid(v->u.b.ptr, v->u.b.len);
	case CPS_RK_ENUM:
		return v->u.i >= 0 && (uint64_t)v->u.i < t->n;
	case CPS_RK_RECORD:
		if (v->u.list.n != t->n)
			return false;
		for (size_t i = 0; i < t->n; i++)
			if (!json_form_ok(t->fields[i].type, &v->u.list.v[i], depth + 1))
				return false;
		return true;
	case CPS_RK_ARRAY:
		for (size_t i = 0; i < v->u.list.n; i++)
			if (!json_form_ok(t->items, &v->u.list.v[i], depth + 1))
				return false;
		return true;
	case CPS_RK_MAP:
		for (size_t i = 0; i < v->u.list.n; i++) {
			const struct cps_tval *k = &v->u.list.v[2 * i];
			size_t klen =
			    k->u.b.len ? strnlen((const char *)k->u.b.ptr, k->u.b.len) : 0;

			if (!cps_utf8_valid(k->u.b.ptr, klen) ||
			    !json_form_ok(t->items, k + 1, depth + 1))
				return false;
		}
		return true;
	default:
		return true;
	}
}

int cps_typed_json_form_check(const struct cps_record_schema *rs, const struct cps_tval *rec,
                              char *errstr, size_t errstr_size)
{
	json_t *j;

	if (json_form_ok(rs->root, rec, 0))
		return CPS_OK;
	/* rare: let record_json.c find the first failure and word it */
	j = cps_record_to_json(rs, rec, errstr, errstr_size);
	if (!j)
		return CPS_ERR_INVALID;
	json_decref(j);
	return CPS_OK;
}
