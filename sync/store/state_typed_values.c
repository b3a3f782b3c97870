/*
 * One value between the stored layouts' tagged binary JSON (Avro JSON in
 * state_facts.c's grammar) and the typed state's form, its type's Avro
 * binary (state_typed.h); and a value as jsonb text (the record's column). Scalars and unions of them — nearly every field
 * of an entity — go straight from one to the other; any other type goes by
 * way of a jansson value and the codec's Avro JSON encoder and decoder,
 * which define what is right (unit.test_state_typed holds the straight way
 * to it).
 */
#include "store/state_typed_int.h"

#include "base/utf8.h"
#include "store/jsonb.h"
#include "store/state_facts.h"

#include <inttypes.h>
#include <stdlib.h>
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

/* What a straight value is written as: tagged binary JSON or jsonb text. */
struct writer {
	int (*null)(struct cps_buf *out);
	int (*boolean)(struct cps_buf *out, bool v);
	int (*integer)(struct cps_buf *out, int64_t v);
	int (*string)(struct cps_buf *out, const char *s, size_t n);
	int (*branch)(struct cps_buf *out, const char *name); /* {name: … */
	int (*branch_end)(struct cps_buf *out);               /* … } */
};

static int tag_null(struct cps_buf *out)
{
	return cps_buf_append_byte(out, CPS_TAG_NULL);
}

static int tag_boolean(struct cps_buf *out, bool v)
{
	return cps_buf_append_byte(out, v ? CPS_TAG_TRUE : CPS_TAG_FALSE);
}

static int tag_integer(struct cps_buf *out, int64_t v)
{
	return cps_buf_append_byte(out, CPS_TAG_INT) || cps_tag_put_zz(out, v) ? -1 : 0;
}

static int tag_string(struct cps_buf *out, const char *s, size_t n)
{
	return cps_buf_append_byte(out, CPS_TAG_STR) || cps_tag_put_str(out, s, n) ? -1 : 0;
}

static int tag_branch(struct cps_buf *out, const char *name)
{
	return cps_buf_append_byte(out, CPS_TAG_OBJECT) || cps_tag_put_varint(out, 1) ||
	               cps_tag_put_str(out, name, strlen(name))
	           ? -1
	           : 0;
}

static int tag_branch_end(struct cps_buf *out)
{
	(void)out;
	return 0;
}

static const struct writer to_tagged = {tag_null,   tag_boolean, tag_integer,
                                        tag_string, tag_branch,  tag_branch_end};

static int text_null(struct cps_buf *out)
{
	return cps_buf_append(out, "null", 4);
}

static int text_boolean(struct cps_buf *out, bool v)
{
	return v ? cps_buf_append(out, "true", 4) : cps_buf_append(out, "false", 5);
}

static int text_integer(struct cps_buf *out, int64_t v)
{
	return cps_buf_printf(out, "%" PRId64, v) < 0 ? -1 : 0;
}

static int text_branch(struct cps_buf *out, const char *name)
{
	return cps_buf_append_byte(out, '{') || cps_jsonb_put_string(out, name, strlen(name)) ||
	               cps_buf_append_byte(out, ':')
	           ? -1
	           : 0;
}

static int text_branch_end(struct cps_buf *out)
{
	return cps_buf_append_byte(out, '}');
}

static const struct writer to_text = {
    text_null, text_boolean, text_integer, cps_jsonb_put_string, text_branch, text_branch_end};

/* One Avro binary value of straight type t (read by `a`, whose bytes our
 * own encoder wrote) written by `w`. */
static int value_write(struct cps_tag_reader *a, const struct cps_rtype *t, const struct writer *w,
                       struct cps_buf *out)
{
	const char *s;
	int64_t v;
	uint8_t byte;

	switch (t->kind) {
	case CPS_RK_NULL:
		return w->null(out);
	case CPS_RK_BOOLEAN:
		if (cps_tag_byte(a, &byte) || byte > 1)
			return cps_tag_fail(a, "a boolean that is not 0 or 1");
		return w->boolean(out, byte);
	case CPS_RK_INT:
	case CPS_RK_LONG:
		return cps_tag_zz(a, &v) ? -1 : w->integer(out, v);
	case CPS_RK_STRING:
		if (cps_tag_zz(a, &v) || v < 0 || (uint64_t)v > a->n - a->at)
			return cps_tag_fail(a, "a string longer than its bytes");
		s = (const char *)a->p + a->at;
		a->at += (size_t)v;
		return w->string(out, s, (size_t)v);
	case CPS_RK_ENUM:
		if (cps_tag_zz(a, &v) || v < 0 || (uint64_t)v >= t->n)
			return cps_tag_fail(a, "an enum index out of range");
		return w->string(out, t->symbols[v], strlen(t->symbols[v]));
	case CPS_RK_UNION:
		if (cps_tag_zz(a, &v) || v < 0 || (uint64_t)v >= t->n)
			return cps_tag_fail(a, "a union branch out of range");
		t = t->branches[v];
		if (t->kind == CPS_RK_NULL)
			return w->null(out);
		return w->branch(out, cps_rtype_json_name(t)) || value_write(a, t, w, out) ||
		               w->branch_end(out)
		           ? -1
		           : 0;
	default:
		return cps_tag_fail(a, "a type the straight way does not take");
	}
}

/* Value v of type t as Avro JSON (a new reference; NULL when it does not
 * read): the way of the types the straight way does not take. */
static json_t *avro_json(struct cps_tbytes v, const struct cps_rtype *t)
{
	struct cps_arena scratch;
	struct cps_tval tv;
	json_t *j = NULL;

	cps_arena_init(&scratch, 4096);
	if (cps_record_decode_at(t, v.p, v.len, NULL, 0, &scratch, &tv, NULL, 0) == CPS_OK)
		j = cps_record_to_json_at(t, &tv, NULL, 0);
	cps_arena_release(&scratch);
	return j;
}

/* Value v of type t written by `w`, or (not straight) by `put_json`. */
static int avro_out(struct cps_tbytes v, const struct cps_rtype *t, const struct writer *w,
                    int (*put_json)(struct cps_buf *, json_t *), struct cps_buf *out)
{
	struct cps_tag_reader a = {.p = v.p, .n = v.len};
	json_t *j;
	int rc;

	if (straight(t))
		return value_write(&a, t, w, out) || a.at != a.n ? -1 : 0;
	if (!(j = avro_json(v, t)))
		return -1;
	rc = put_json(out, j) ? -1 : 0;
	json_decref(j);
	return rc;
}

/* The jsonb text of j appended to out. */
static int put_jsonb(struct cps_buf *out, json_t *j)
{
	int ok, rc;
	char *text = cps_jsonb_param(j, NULL, &ok);

	rc = ok && text ? cps_buf_append(out, text, strlen(text)) : -1;
	free(text);
	return rc;
}

int cps_avro_to_jsonb(struct cps_tbytes v, const struct cps_rtype *t, struct cps_buf *out)
{
	return avro_out(v, t, &to_text, put_jsonb, out);
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
	return avro_out(v, t, &to_tagged, cps_tagged_value_put, out);
}
