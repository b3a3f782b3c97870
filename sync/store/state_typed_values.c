/*
 * One value between the stored layouts' tagged binary JSON (Avro JSON in
 * state_facts.c's grammar) and the typed state's form, its type's Avro
 * binary (state_typed.h). Scalars and unions of them — nearly every field
 * of an entity — go straight from one to the other; any other type goes by
 * way of a jansson value and the codec's Avro JSON encoder and decoder,
 * which define what is right (unit.test_state_typed holds the straight way
 * to it).
 */
#include "store/state_typed_int.h"

#include "base/utf8.h"
#include "store/state_facts.h"

#include <string.h>

/* Whether values of type t take the straight way. */
static bool straight(const struct cps_rtype *t)
{
	switch (t->kind) {
	case CPS_RK_NULL:
	case CPS_RK_BOOLEAN:
	case CPS_RK_INT:
	case CPS_RK_LONG:
	case CPS_RK_STRING:
	case CPS_RK_ENUM:
		return true;
	case CPS_RK_UNION:
		for (size_t b = 0; b < t->n; b++)
			if (t->branches[b]->kind == CPS_RK_UNION || !straight(t->branches[b]))
				return false;
		return true;
	default:
		return false;
	}
}

static int put_long(struct cps_buf *out, int64_t v)
{
	uint8_t b[10];

	return cps_buf_append(out, b, cps_avro_long_put(b, v));
}

/* The index of `t`'s symbol or branch named s[0..len), or -1. */
static int64_t named(const struct cps_rtype *t, const char *s, size_t len)
{
	char name[256];

	if (len >= sizeof(name))
		return -1;
	memcpy(name, s, len);
	name[len] = '\0';
	for (size_t i = 0; i < t->n; i++)
		if (t->kind == CPS_RK_ENUM ? !strcmp(t->symbols[i], name)
		                           : cps_rtype_branch_named(t->branches[i], name))
			return (int64_t)i;
	return -1;
}

static int tagged_to_avro(struct cps_tag_reader *r, const struct cps_rtype *t, struct cps_buf *out);

static int union_to_avro(struct cps_tag_reader *r, uint8_t tag, const struct cps_rtype *t,
                         struct cps_buf *out)
{
	const char *name;
	size_t n, len;
	int64_t b;

	if (tag == CPS_TAG_NULL)
		return t->null_branch < 0 ? cps_tag_fail(r, "null in a union without null")
		                          : put_long(out, t->null_branch);
	if (tag != CPS_TAG_OBJECT || cps_tag_count(r, 2, &n) || n != 1 ||
	    cps_tag_str(r, &name, &len))
		return cps_tag_fail(r, "a union's value that is not {branch: value}");
	if ((b = named(t, name, len)) < 0)
		return cps_tag_fail(r, "an unknown union branch");
	return put_long(out, b) || tagged_to_avro(r, t->branches[b], out) ? -1 : 0;
}

/* One tagged value of straight type t as Avro binary. */
static int tagged_to_avro(struct cps_tag_reader *r, const struct cps_rtype *t, struct cps_buf *out)
{
	const char *s;
	size_t len;
	int64_t v;
	uint8_t tag;

	if (cps_tag_byte(r, &tag))
		return -1;
	switch (t->kind) {
	case CPS_RK_NULL:
		return tag == CPS_TAG_NULL ? 0 : cps_tag_fail(r, "expected null");
	case CPS_RK_BOOLEAN:
		if (tag != CPS_TAG_FALSE && tag != CPS_TAG_TRUE)
			return cps_tag_fail(r, "expected a boolean");
		return cps_buf_append_byte(out, tag == CPS_TAG_TRUE);
	case CPS_RK_INT:
	case CPS_RK_LONG:
		if (tag != CPS_TAG_INT || cps_tag_zz(r, &v) ||
		    (t->kind == CPS_RK_INT && (v < INT32_MIN || v > INT32_MAX)))
			return cps_tag_fail(r, "expected an int or a long");
		return put_long(out, v);
	case CPS_RK_STRING:
		if (tag != CPS_TAG_STR || cps_tag_str(r, &s, &len) ||
		    !cps_utf8_valid((const uint8_t *)s, len))
			return cps_tag_fail(r, "expected a string of UTF-8");
		return put_long(out, (int64_t)len) || cps_buf_append(out, s, len) ? -1 : 0;
	case CPS_RK_ENUM:
		if (tag != CPS_TAG_STR || cps_tag_str(r, &s, &len) || (v = named(t, s, len)) < 0)
			return cps_tag_fail(r, "expected a symbol of the enum");
		return put_long(out, v);
	case CPS_RK_UNION:
		return union_to_avro(r, tag, t, out);
	default:
		return cps_tag_fail(r, "a type the straight way does not take");
	}
}

/* One Avro binary value of straight type t (read by `a`, whose bytes our
 * own encoder wrote) as tagged binary JSON. */
static int avro_to_tagged(struct cps_tag_reader *a, const struct cps_rtype *t, struct cps_buf *out)
{
	const char *s;
	size_t len;
	int64_t v;
	uint8_t byte;

	switch (t->kind) {
	case CPS_RK_NULL:
		return cps_buf_append_byte(out, CPS_TAG_NULL);
	case CPS_RK_BOOLEAN:
		if (cps_tag_byte(a, &byte) || byte > 1)
			return cps_tag_fail(a, "a boolean that is not 0 or 1");
		return cps_buf_append_byte(out, byte ? CPS_TAG_TRUE : CPS_TAG_FALSE);
	case CPS_RK_INT:
	case CPS_RK_LONG:
		if (cps_tag_zz(a, &v))
			return -1;
		return cps_buf_append_byte(out, CPS_TAG_INT) || cps_tag_put_zz(out, v) ? -1 : 0;
	case CPS_RK_STRING:
		if (cps_tag_zz(a, &v) || v < 0 || (uint64_t)v > a->n - a->at)
			return cps_tag_fail(a, "a string longer than its bytes");
		s = (const char *)a->p + a->at;
		a->at += (size_t)v;
		return cps_buf_append_byte(out, CPS_TAG_STR) || cps_tag_put_str(out, s, (size_t)v)
		           ? -1
		           : 0;
	case CPS_RK_ENUM:
		if (cps_tag_zz(a, &v) || v < 0 || (uint64_t)v >= t->n)
			return cps_tag_fail(a, "an enum index out of range");
		s = t->symbols[v];
		return cps_buf_append_byte(out, CPS_TAG_STR) || cps_tag_put_str(out, s, strlen(s))
		           ? -1
		           : 0;
	case CPS_RK_UNION:
		if (cps_tag_zz(a, &v) || v < 0 || (uint64_t)v >= t->n)
			return cps_tag_fail(a, "a union branch out of range");
		t = t->branches[v];
		if (t->kind == CPS_RK_NULL)
			return cps_buf_append_byte(out, CPS_TAG_NULL);
		s = cps_rtype_json_name(t);
		len = strlen(s);
		return cps_buf_append_byte(out, CPS_TAG_OBJECT) || cps_tag_put_varint(out, 1) ||
		               cps_tag_put_str(out, s, len) || avro_to_tagged(a, t, out)
		           ? -1
		           : 0;
	default:
		return cps_tag_fail(a, "a type the straight way does not take");
	}
}

int cps_tagged_to_avro(struct cps_tag_reader *r, const struct cps_rtype *t, struct cps_buf *out)
{
	json_t *j;
	int rc;

	if (straight(t))
		return tagged_to_avro(r, t, out);
	if (cps_tagged_value_get(r, &j))
		return -1;
	rc = cps_record_encode_json_at(t, j, out, NULL, 0);
	json_decref(j);
	return rc == CPS_OK ? 0 : cps_tag_fail(r, "a value that does not match its type");
}

int cps_avro_to_tagged(struct cps_tbytes v, const struct cps_rtype *t, struct cps_buf *out)
{
	struct cps_tag_reader a = {.p = v.p, .n = v.len};
	struct cps_arena scratch;
	struct cps_tval tv;
	json_t *j = NULL;
	int rc = -1;

	if (straight(t))
		return avro_to_tagged(&a, t, out) || a.at != a.n ? -1 : 0;
	cps_arena_init(&scratch, 4096);
	if (cps_record_decode_at(t, v.p, v.len, NULL, 0, &scratch, &tv, NULL, 0) == CPS_OK &&
	    (j = cps_record_to_json_at(t, &tv, NULL, 0)))
		rc = cps_tagged_value_put(out, j) ? -1 : 0;
	json_decref(j);
	cps_arena_release(&scratch);
	return rc;
}
