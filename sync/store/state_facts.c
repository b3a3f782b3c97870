/*
 * The per-platform facts of a key state as cpsync.records.facts (bytea):
 * what reconciliation needs, without the JSON text's repeated stamps.
 *
 * Layout 1 (varint: LEB128, 7 bits a byte, at most 10 bytes; zz: a signed
 * integer zigzag-encoded as a varint; str: varint length, then the bytes):
 *
 *   facts    := 0x01 varint(n) platform{n}          the first byte is the layout
 *   platform := str(name) 0x00 value                any other shape, as JSON
 *             | str(name) 0x01 0x00|0x01(withdrawn) zz(eff) zz(src) pos
 *               varint(s) stamp{s} varint(f) field{f}
 *   pos      := 0x00 (null) | 0x01 str
 *   stamp    := zz(eff) zz(src) pos                 distinct, other than the platform's
 *   field    := str(name) varint(0) value           any other shape, as JSON
 *             | str(name) varint(1) value(v)        stamped as its platform
 *             | str(name) varint(2 + i) value(v)    stamped as stamp i
 *   value    := 0x00 null | 0x01 false | 0x02 true | 0x03 zz | 0x04 8 bytes
 *               (an IEEE double, little-endian) | 0x05 str | 0x06 varint(n)
 *               value{n} | 0x07 varint(n) (str value){n}   an object
 *
 * A key state's provenance (cpsync.records.prov, cpsync.changes.prov,
 * migration 014) is `0x01 value`: the object in the same value grammar.
 *
 * The compact shapes are reconcile.c's: a platform is exactly {"withdrawn":
 * bool, "eff": int, "src": int, "pos": string|null, "fields": {}} and a
 * field exactly {"v", "eff": int, "src": int, "pos": string|null}; anything
 * else is kept whole as a JSON value, so every tree round-trips exactly.
 */
#include "store/state_facts.h"

#include "base/common.h"
#include "store/json_intern.h"
#include "store/tagged.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

/* Depths as the decoder counts them: the root is 0. */
enum { DEPTH_PLATFORM = 1, DEPTH_FIELD = 3 };

struct stamp {
	int64_t eff, src;
	const char *pos; /* NULL: null */
	size_t pos_len;
};

/* ---- encoding ------------------------------------------------------------ */

/* -1: out of memory or limit; -2: deeper than the decoder accepts. */
static int put_value(struct cps_buf *b, json_t *j, int depth)
{
	const char *k;
	size_t i, klen;
	json_t *v;

	if (depth > CPS_FACTS_MAX_DEPTH)
		return -2;
	switch (json_typeof(j)) {
	case JSON_NULL:
		return cps_buf_append_byte(b, CPS_TAG_NULL);
	case JSON_FALSE:
		return cps_buf_append_byte(b, CPS_TAG_FALSE);
	case JSON_TRUE:
		return cps_buf_append_byte(b, CPS_TAG_TRUE);
	case JSON_INTEGER:
		return cps_buf_append_byte(b, CPS_TAG_INT) ||
		       cps_tag_put_zz(b, json_integer_value(j));
	case JSON_REAL:
		return cps_buf_append_byte(b, CPS_TAG_REAL) ||
		       cps_tag_put_real(b, json_real_value(j));
	case JSON_STRING:
		return cps_buf_append_byte(b, CPS_TAG_STR) ||
		       cps_tag_put_str(b, json_string_value(j), json_string_length(j));
	case JSON_ARRAY:
		if (cps_buf_append_byte(b, CPS_TAG_ARRAY) ||
		    cps_tag_put_varint(b, json_array_size(j)))
			return -1;
		json_array_foreach (j, i, v) {
			int rc = put_value(b, v, depth + 1);

			if (rc)
				return rc;
		}
		return 0;
	case JSON_OBJECT:
		if (cps_buf_append_byte(b, CPS_TAG_OBJECT) ||
		    cps_tag_put_varint(b, json_object_size(j)))
			return -1;
		json_object_keylen_foreach(j, k, klen, v)
		{
			int rc = cps_tag_put_str(b, k, klen) ? -1 : put_value(b, v, depth + 1);

			if (rc)
				return rc;
		}
		return 0;
	}
	return -1;
}

static int stamp_pos_ok(const json_t *pos)
{
	return pos && (json_is_string(pos) || json_is_null(pos));
}

/* The stamp of a compact platform or field (its shape checked). */
static struct stamp stamp_of(const json_t *o)
{
	json_t *pos = json_object_get(o, "pos");

	return (struct stamp){json_integer_value(json_object_get(o, "eff")),
	                      json_integer_value(json_object_get(o, "src")),
	                      json_is_string(pos) ? json_string_value(pos) : NULL,
	                      json_is_string(pos) ? json_string_length(pos) : 0};
}

static int stamped(const json_t *o, size_t size)
{
	return json_is_object(o) && json_object_size(o) == size &&
	       json_is_integer(json_object_get(o, "eff")) &&
	       json_is_integer(json_object_get(o, "src")) &&
	       stamp_pos_ok(json_object_get(o, "pos"));
}

static int platform_compact(const json_t *p)
{
	return stamped(p, 5) && json_is_boolean(json_object_get(p, "withdrawn")) &&
	       json_is_object(json_object_get(p, "fields"));
}

static int stamp_equal(const struct stamp *a, const struct stamp *b)
{
	return a->eff == b->eff && a->src == b->src && !a->pos == !b->pos &&
	       a->pos_len == b->pos_len && (!a->pos || !memcmp(a->pos, b->pos, a->pos_len));
}

static int put_stamp(struct cps_buf *b, const struct stamp *s)
{
	return cps_tag_put_zz(b, s->eff) || cps_tag_put_zz(b, s->src) ||
	       (s->pos ? cps_buf_append_byte(b, 1) || cps_tag_put_str(b, s->pos, s->pos_len)
	               : cps_buf_append_byte(b, 0));
}

/* One field of a platform as the encoder writes it: compact (exactly "v",
 * "eff", "src" and "pos", the stamp referred to by `ref`) or whole. Read in
 * one pass over its members, not by name. */
struct field_view {
	const char *k;
	size_t klen;
	json_t *f, *v; /* v NULL: not compact, f is written whole */
	struct stamp s;
	uint64_t ref; /* 1: the platform's stamp; 2 + i: the platform's stamps[i] */
};

static void view_field(struct field_view *fv)
{
	json_t *eff = NULL, *src = NULL, *pos = NULL, *m;
	const char *k;

	fv->v = NULL;
	if (!json_is_object(fv->f) || json_object_size(fv->f) != 4)
		return;
	json_object_foreach (fv->f, k, m) {
		if (!strcmp(k, "v"))
			fv->v = m;
		else if (!strcmp(k, "eff"))
			eff = m;
		else if (!strcmp(k, "src"))
			src = m;
		else if (!strcmp(k, "pos"))
			pos = m;
	}
	if (!fv->v || !json_is_integer(eff) || !json_is_integer(src) || !stamp_pos_ok(pos)) {
		fv->v = NULL;
		return;
	}
	fv->s = (struct stamp){json_integer_value(eff), json_integer_value(src),
	                       json_is_string(pos) ? json_string_value(pos) : NULL,
	                       json_is_string(pos) ? json_string_length(pos) : 0};
}

/* Each compact field's stamp reference, the distinct stamps other than the
 * platform's own into *stamps (malloc'd, *n of them) in field order. -1
 * when out of memory. */
static int collect_stamps(struct field_view *fv, size_t n_fields, const struct stamp *own,
                          struct stamp **stamps, size_t *n)
{
	size_t cap = 0, i;

	*stamps = NULL;
	*n = 0;
	for (size_t f = 0; f < n_fields; f++) {
		if (!fv[f].v)
			continue;
		if (stamp_equal(&fv[f].s, own)) {
			fv[f].ref = 1;
			continue;
		}
		for (i = 0; i < *n && !stamp_equal(&fv[f].s, &(*stamps)[i]); i++)
			;
		fv[f].ref = 2 + i;
		if (i < *n)
			continue;
		if (*n == cap) {
			struct stamp *t = realloc(*stamps, (cap = cap ? 2 * cap : 4) * sizeof(*t));

			if (!t)
				return -1;
			*stamps = t;
		}
		(*stamps)[(*n)++] = fv[f].s;
	}
	return 0;
}

static int put_fields(struct cps_buf *b, const struct field_view *fv, size_t n_fields)
{
	if (cps_tag_put_varint(b, n_fields))
		return -1;
	for (size_t f = 0; f < n_fields; f++) {
		/* compact: its stamp's reference and the value; whole: 0 and the field */
		int rc;

		if (cps_tag_put_str(b, fv[f].k, fv[f].klen) ||
		    cps_tag_put_varint(b, fv[f].v ? fv[f].ref : 0))
			return -1;
		rc = put_value(b, fv[f].v ? fv[f].v : fv[f].f, DEPTH_FIELD);
		if (rc)
			return rc;
	}
	return 0;
}

static int put_platform(struct cps_buf *b, const json_t *p)
{
	struct field_view few[64], *fv = few;
	struct stamp own, *stamps = NULL;
	json_t *fields, *f;
	const char *k;
	size_t klen, n = 0, n_fields = 0;
	int rc;

	if (!platform_compact(p))
		return cps_buf_append_byte(b, 0) ? -1 : put_value(b, (json_t *)p, DEPTH_PLATFORM);
	own = stamp_of(p);
	fields = json_object_get(p, "fields");
	if (json_object_size(fields) > CPS_ARRAY_SIZE(few) &&
	    !(fv = malloc(json_object_size(fields) * sizeof(*fv))))
		return -1;
	json_object_keylen_foreach(fields, k, klen, f)
	{
		fv[n_fields] = (struct field_view){.k = k, .klen = klen, .f = f};
		view_field(&fv[n_fields++]);
	}
	if (collect_stamps(fv, n_fields, &own, &stamps, &n))
		rc = -1;
	else
		rc = cps_buf_append_byte(b, 1) ||
		     cps_buf_append_byte(b, json_is_true(json_object_get(p, "withdrawn"))) ||
		     put_stamp(b, &own) || cps_tag_put_varint(b, n);
	for (size_t i = 0; !rc && i < n; i++)
		rc = put_stamp(b, &stamps[i]);
	if (!rc)
		rc = put_fields(b, fv, n_fields);
	free(stamps);
	if (fv != few)
		free(fv);
	return rc;
}

/* The outcome of an encode whose put_*() returned `rc`: -2 a value too
 * deep, another nonzero no memory (or the buffer's cap). */
static int encoded(int rc, const char *what, const struct cps_buf *out, char *errstr,
                   size_t errstr_size)
{
	if (rc == -2)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "%s: a value nests deeper than %d levels", what,
		                  CPS_FACTS_MAX_DEPTH);
	if (rc)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "%s: out of memory (or past %zu bytes) encoding", what,
		                  out->limit);
	return CPS_OK;
}

int cps_facts_encode(json_t *platforms, struct cps_buf *out, char *errstr, size_t errstr_size)
{
	const char *k;
	size_t klen;
	json_t *p;
	int rc;

	if (platforms && !json_is_object(platforms))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "facts: the platforms are not a JSON object");
	rc = cps_buf_append_byte(out, CPS_FACTS_LAYOUT) ||
	     cps_tag_put_varint(out, platforms ? json_object_size(platforms) : 0);
	if (platforms)
		json_object_keylen_foreach(platforms, k, klen, p)
		{
			if (rc)
				break;
			rc = cps_tag_put_str(out, k, klen) ? -1 : put_platform(out, p);
		}
	return encoded(rc, "facts", out, errstr, errstr_size);
}

/* ---- decoding ------------------------------------------------------------ */

/* A read position in untrusted bytes, and what the decoded tree takes. */
struct cur {
	struct cps_tag_reader r;
	size_t size;                    /* the JSON text estimate */
	struct cps_json_intern *intern; /* the scalars made so far, shared */
};

static int fail(struct cur *c, const char *why)
{
	return cps_tag_fail(&c->r, why);
}

static int get_byte(struct cur *c, uint8_t *v)
{
	return cps_tag_byte(&c->r, v);
}

static int get_varint(struct cur *c, uint64_t *v)
{
	return cps_tag_varint(&c->r, v);
}

static int get_zz(struct cur *c, int64_t *v)
{
	return cps_tag_zz(&c->r, v);
}

static int get_count(struct cur *c, size_t min, size_t *n)
{
	return cps_tag_count(&c->r, min, n);
}

static int get_str(struct cur *c, const char **s, size_t *len)
{
	if (cps_tag_str(&c->r, s, len))
		return -1;
	c->size += *len + 2;
	return 0;
}

static size_t digits(int64_t v)
{
	size_t d = v < 0 ? 2 : 1;

	for (uint64_t u = v < 0 ? 0 - (uint64_t)v : (uint64_t)v; u >= 10; u /= 10)
		d++;
	return d;
}

static json_t *get_value(struct cur *c, int depth);

static json_t *get_array(struct cur *c, int depth)
{
	json_t *a = json_array();
	size_t n;

	if (!a || get_count(c, 1, &n))
		goto fail_out;
	c->size += 2 + n;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(a, get_value(c, depth + 1)))
			goto fail_out;
	return a;
fail_out:
	fail(c, "an array that does not read");
	json_decref(a);
	return NULL;
}

static json_t *get_object(struct cur *c, int depth)
{
	json_t *o = json_object();
	size_t n, klen;
	const char *k;

	if (!o || get_count(c, 2, &n))
		goto fail_out;
	c->size += 2 + 2 * n;
	for (size_t i = 0; i < n; i++)
		if (get_str(c, &k, &klen) ||
		    json_object_setn_new(o, k, klen, get_value(c, depth + 1)))
			goto fail_out;
	return o;
fail_out:
	fail(c, "an object that does not read (or a key not UTF-8)");
	json_decref(o);
	return NULL;
}

static json_t *get_real(struct cur *c)
{
	json_t *r;
	double d;

	if (cps_tag_real(&c->r, &d))
		return NULL;
	c->size += 24;
	if (!(r = json_real(d))) /* NaN and infinities are not JSON */
		fail(c, "a real that is not a finite number");
	return r;
}

static json_t *get_value(struct cur *c, int depth)
{
	const char *s;
	int64_t i;
	size_t len;
	uint8_t tag;
	json_t *j;

	if (depth > CPS_FACTS_MAX_DEPTH) {
		fail(c, "values nested too deep");
		return NULL;
	}
	if (get_byte(c, &tag))
		return NULL;
	switch (tag) {
	case CPS_TAG_NULL:
	case CPS_TAG_TRUE:
		c->size += 4;
		return tag == CPS_TAG_NULL ? json_null() : json_true();
	case CPS_TAG_FALSE:
		c->size += 5;
		return json_false();
	case CPS_TAG_INT:
		if (get_zz(c, &i))
			return NULL;
		c->size += digits(i);
		if (!(j = cps_json_intern_int(&c->intern, i)))
			fail(c, "out of memory");
		return j;
	case CPS_TAG_REAL:
		return get_real(c);
	case CPS_TAG_STR:
		if (get_str(c, &s, &len))
			return NULL;
		if (!(j = cps_json_intern_str(&c->intern, s, len)))
			fail(c, "a string that is not UTF-8 (or out of memory)");
		return j;
	case CPS_TAG_ARRAY:
		return get_array(c, depth);
	case CPS_TAG_OBJECT:
		return get_object(c, depth);
	default:
		fail(c, "an unknown value tag");
		return NULL;
	}
}

/* A stamp and the text it would take in each object stamped with it. */
static int get_stamp(struct cur *c, struct stamp *s, size_t *text)
{
	uint8_t has_pos;
	size_t before = c->size;

	if (get_zz(c, &s->eff) || get_zz(c, &s->src) || get_byte(c, &has_pos))
		return -1;
	s->pos = NULL;
	s->pos_len = 0;
	if (has_pos > 1)
		return fail(c, "a position that is neither null nor a string");
	if (has_pos && get_str(c, &s->pos, &s->pos_len))
		return -1;
	c->size = before;
	*text = 24 + digits(s->eff) + digits(s->src) + (s->pos ? s->pos_len + 2 : 4);
	return 0;
}

/* The stamp's members set on object o, as the decode's shared values
 * (json_intern.c: every object stamped alike holds the same ones); -1 out of
 * memory or not UTF-8. */
static int set_stamp(struct cur *c, json_t *o, const struct stamp *s)
{
	json_t *pos = s->pos ? cps_json_intern_str(&c->intern, s->pos, s->pos_len) : json_null();

	return !pos || json_object_set_new_nocheck(o, "pos", pos) ||
	       json_object_set_new_nocheck(o, "eff", cps_json_intern_int(&c->intern, s->eff)) ||
	       json_object_set_new_nocheck(o, "src", cps_json_intern_int(&c->intern, s->src));
}

/* {"v": v}, stealing v (NULL: a value that did not read); NULL when it
 * cannot be made. */
static json_t *fact_of(json_t *v)
{
	json_t *f = v ? json_object() : NULL;

	if (!f) {
		json_decref(v);
		return NULL;
	}
	if (json_object_set_new_nocheck(f, "v", v)) {
		json_decref(f);
		return NULL;
	}
	return f;
}

/* One field of a compact platform into `fields`. */
static int get_field(struct cur *c, json_t *fields, const struct stamp *stamps, const size_t *texts,
                     size_t n)
{
	const char *k;
	size_t klen;
	uint64_t ref;
	json_t *f;

	if (get_str(c, &k, &klen) || get_varint(c, &ref))
		return -1;
	if (ref > n)
		return fail(c, "a field referring to a stamp that is not there");
	if (ref == 0) {
		f = get_value(c, DEPTH_FIELD);
	} else {
		f = fact_of(get_value(c, DEPTH_FIELD));
		c->size += texts[ref - 1] + 6;
		if (f && set_stamp(c, f, &stamps[ref - 1])) {
			json_decref(f);
			f = NULL;
		}
	}
	if (!f || json_object_setn_new(fields, k, klen, f))
		return fail(c, "a field that does not read (or a name not UTF-8)");
	return 0;
}

/* A compact platform's body, after its 0x01. stamps[0] is its own. */
static json_t *get_compact(struct cur *c)
{
	struct stamp *stamps = NULL;
	size_t *texts = NULL, n_st, n_f;
	json_t *p = NULL, *fields;
	uint8_t withdrawn;

	if (get_byte(c, &withdrawn) || (withdrawn > 1 && fail(c, "a withdrawn flag not 0 or 1")))
		return NULL;
	{
		struct stamp own;
		size_t own_text;

		if (get_stamp(c, &own, &own_text) || get_count(c, 3, &n_st))
			return NULL;
		stamps = malloc((n_st + 1) * sizeof(*stamps));
		texts = malloc((n_st + 1) * sizeof(*texts));
		if (!stamps || !texts)
			goto out;
		stamps[0] = own;
		texts[0] = own_text;
		c->size += own_text + 30;
	}
	for (size_t i = 1; i <= n_st; i++)
		if (get_stamp(c, &stamps[i], &texts[i]))
			goto out;
	if (get_count(c, 2, &n_f))
		goto out;
	p = json_object();
	if (!p || json_object_set_new_nocheck(p, "withdrawn", json_boolean(withdrawn)) ||
	    set_stamp(c, p, &stamps[0]) ||
	    json_object_set_new_nocheck(p, "fields", fields = json_object()) || !fields) {
		fail(c, "out of memory, or a position not UTF-8");
		goto out;
	}
	for (size_t i = 0; i < n_f; i++)
		if (get_field(c, fields, stamps, texts, n_st + 1))
			goto out;
	free(stamps);
	free(texts);
	return p;
out:
	fail(c, "out of memory");
	json_decref(p);
	free(stamps);
	free(texts);
	return NULL;
}

static int get_platform(struct cur *c, json_t *platforms)
{
	const char *name;
	size_t len;
	uint8_t kind;
	json_t *p;

	if (get_str(c, &name, &len) || get_byte(c, &kind))
		return -1;
	if (kind > 1)
		return fail(c, "an unknown platform kind");
	p = kind ? get_compact(c) : get_value(c, DEPTH_PLATFORM);
	if (!p || json_object_setn_new(platforms, name, len, p))
		return fail(c, "a platform that does not read (or a name not UTF-8)");
	return 0;
}

/* What a decode's errors name: the encoding, the layout byte it opens
 * with, and what bytes left over at its end follow. */
struct layout {
	const char *what;
	uint8_t layout;
	const char *trailing;
};

static const struct layout facts_layout = {"facts", CPS_FACTS_LAYOUT,
                                           "bytes after the last platform"};
static const struct layout prov_layout = {"provenance", CPS_PROV_LAYOUT, "bytes after the object"};

static int get_layout(struct cur *c, const struct layout *l)
{
	uint8_t layout;

	return get_byte(c, &layout) || (layout != l->layout && fail(c, "unknown layout"));
}

/* Ends a decode into *out: when it `read` and used every byte, the JSON
 * size estimate in *json_size (if asked); else *out dropped and
 * CPS_ERR_INVALID naming where. */
static int decode_end(struct cur *c, int read, const struct layout *l, json_t **out,
                      size_t *json_size, char *errstr, size_t errstr_size)
{
	int bad = !read || (c->r.at != c->r.n && fail(c, l->trailing));

	cps_json_intern_free(c->intern);
	if (bad) {
		json_decref(*out);
		*out = NULL;
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "%s: %s at byte %zu of %zu (layout %d expected)", l->what,
		                  c->r.err, c->r.at, c->r.n, l->layout);
	}
	if (json_size)
		*json_size = c->size;
	return CPS_OK;
}

int cps_facts_decode_sized(const uint8_t *p, size_t n, json_t **platforms, size_t *json_size,
                           char *errstr, size_t errstr_size)
{
	struct cur c = {.r = {.p = p, .n = p ? n : 0}};
	size_t count;
	int read = 0;

	*platforms = NULL;
	if (get_layout(&c, &facts_layout))
		goto out;
	if (get_count(&c, 3, &count) || !(*platforms = json_object())) {
		fail(&c, "out of memory");
		goto out;
	}
	c.size = 2 + count;
	for (size_t i = 0; i < count; i++)
		if (get_platform(&c, *platforms))
			goto out;
	read = 1;
out:
	return decode_end(&c, read, &facts_layout, platforms, json_size, errstr, errstr_size);
}

int cps_facts_decode(const uint8_t *p, size_t n, json_t **platforms, char *errstr,
                     size_t errstr_size)
{
	return cps_facts_decode_sized(p, n, platforms, NULL, errstr, errstr_size);
}

/* ---- provenance ---------------------------------------------------------- */

int cps_prov_encode(json_t *prov, struct cps_buf *out, char *errstr, size_t errstr_size)
{
	int rc;

	if (!json_is_object(prov))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "provenance: not a JSON object");
	rc = cps_buf_append_byte(out, CPS_PROV_LAYOUT) ? -1 : put_value(out, prov, 0);
	return encoded(rc, "provenance", out, errstr, errstr_size);
}

int cps_prov_decode(const uint8_t *p, size_t n, json_t **prov, size_t *json_size, char *errstr,
                    size_t errstr_size)
{
	struct cur c = {.r = {.p = p, .n = p ? n : 0}};
	int read = 0;

	*prov = NULL;
	if (!get_layout(&c, &prov_layout) && (*prov = get_value(&c, 0)))
		read = json_is_object(*prov) || !fail(&c, "not an object");
	return decode_end(&c, read, &prov_layout, prov, json_size, errstr, errstr_size);
}

/* ---- one value, for the typed codec ---------------------------------------- */

int cps_tagged_value_get(struct cps_tag_reader *r, json_t **out)
{
	struct cur c = {.r = *r};

	*out = get_value(&c, DEPTH_FIELD);
	*r = c.r;
	cps_json_intern_free(c.intern);
	return *out ? 0 : -1;
}

int cps_tagged_value_put(struct cps_buf *b, json_t *j)
{
	return put_value(b, j, DEPTH_FIELD);
}
