/*
 * The typed key state's codec (state_typed.h): facts and provenance in
 * state_facts.c's layouts (documented at its top), read into the typed
 * state and written from it without a jansson tree.
 */
#include "store/state_typed_int.h"

#include "base/utf8.h"
#include "store/jsonb.h"

#include <string.h>

/* A decode: the reader, the state, and what a refusal names. */
struct dec {
	struct cps_tstate *st;
	struct cps_tag_reader r;
	struct cps_buf buf; /* a value's Avro binary before it goes to the arena */
	char field[64];     /* the field being read, or "" */
	int oom;
};

static int refused(const struct dec *d, const char *what, char *errstr, size_t errstr_size)
{
	if (d->oom)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
	                  "typed %s of entity '%.32s': %s%s%s%s at byte %zu of %zu", what,
	                  d->st->entity, d->r.err ? d->r.err : "bytes that do not read",
	                  d->field[0] ? " (field '" : "", d->field, d->field[0] ? "')" : "",
	                  d->r.at, d->r.n);
}

/* The schema's field named s[0..len), which refusals now name. */
static const struct cps_rfield *field_named(struct dec *d, const char *s, size_t len)
{
	if (len >= sizeof(d->field)) {
		cps_tag_fail(&d->r, "a field name too long");
		return NULL;
	}
	memcpy(d->field, s, len); /* not snprintf: this runs for every fact */
	d->field[len] = '\0';
	return cps_rtype_field(d->st->rs->root, d->field);
}

static int get_stamp(struct dec *d, uint32_t *out)
{
	int64_t eff, src;
	const char *pos = NULL;
	size_t len = 0;
	uint8_t has_pos;

	if (cps_tag_zz(&d->r, &eff) || cps_tag_zz(&d->r, &src) || cps_tag_byte(&d->r, &has_pos))
		return -1;
	if (has_pos > 1)
		return cps_tag_fail(&d->r, "a position that is neither null nor a string");
	if (has_pos && cps_tag_str(&d->r, &pos, &len))
		return -1;
	if (pos && !cps_utf8_valid((const uint8_t *)pos, len))
		return cps_tag_fail(&d->r, "a position not UTF-8");
	*out = cps_tstate_stampn(d->st, eff, src, pos, len);
	if (*out == CPS_TSTATE_NONE)
		d->oom = 1;
	return *out == CPS_TSTATE_NONE ? -1 : 0;
}

/* One field of a compact platform: its name, stamp reference and value. */
static int get_fact(struct dec *d, struct cps_tplatform *p, const uint32_t *stamps, size_t n)
{
	const struct cps_rfield *field;
	const char *name;
	size_t len;
	uint64_t ref;

	if (cps_tag_str(&d->r, &name, &len) || cps_tag_varint(&d->r, &ref))
		return -1;
	if (ref == 0)
		return cps_tag_fail(&d->r, "a field kept whole (not a fact reconcile writes)");
	if (ref > n)
		return cps_tag_fail(&d->r, "a field referring to a stamp that is not there");
	if (!(field = field_named(d, name, len)))
		return cps_tag_fail(&d->r, "a fact of a field the schema lacks");
	cps_buf_reset(&d->buf);
	if (cps_tagged_to_avro(&d->r, field->type, &d->buf))
		return -1;
	p->facts[field->index] =
	    (struct cps_tfact){stamps[ref - 1], cps_tstate_keep(d->st, &d->buf)};
	if (!p->facts[field->index].v.p) {
		d->oom = 1;
		return -1;
	}
	d->field[0] = '\0';
	return 0;
}

static int get_platform(struct dec *d)
{
	const char *name;
	size_t len, n_st, n_f;
	uint32_t pi, *stamps;
	uint8_t kind, withdrawn;
	struct cps_tplatform *p;

	if (cps_tag_str(&d->r, &name, &len) || cps_tag_byte(&d->r, &kind))
		return -1;
	if (kind != 1)
		return cps_tag_fail(&d->r, "a platform kept whole (not one reconcile writes)");
	if (!cps_utf8_valid((const uint8_t *)name, len))
		return cps_tag_fail(&d->r, "a platform name not UTF-8");
	if (cps_tstate_platformn(d->st, name, len, false) != CPS_TSTATE_NONE)
		return cps_tag_fail(&d->r, "a platform twice");
	pi = cps_tstate_platformn(d->st, name, len, true);
	if (pi == CPS_TSTATE_NONE) {
		d->oom = 1;
		return -1;
	}
	p = &d->st->platforms[pi];
	if (cps_tag_byte(&d->r, &withdrawn) || withdrawn > 1)
		return cps_tag_fail(&d->r, "a withdrawn flag not 0 or 1");
	p->withdrawn = withdrawn;
	if (get_stamp(d, &p->stamp) || cps_tag_count(&d->r, 3, &n_st))
		return -1;
	stamps = cps_arena_alloc(d->st->arena, (n_st + 1) * sizeof(*stamps));
	if (!stamps) {
		d->oom = 1;
		return -1;
	}
	stamps[0] = p->stamp;
	for (size_t i = 1; i <= n_st; i++)
		if (get_stamp(d, &stamps[i]))
			return -1;
	if (cps_tag_count(&d->r, 2, &n_f))
		return -1;
	for (size_t i = 0; i < n_f; i++)
		if (get_fact(d, p, stamps, n_st + 1))
			return -1;
	return 0;
}

int cps_tstate_facts_decode(struct cps_tstate *st, const uint8_t *p, size_t n, char *errstr,
                            size_t errstr_size)
{
	struct dec d = {.st = st, .r = {.p = p, .n = p ? n : 0}};
	size_t count;
	uint8_t layout;
	int rc = 0;

	cps_buf_init(&d.buf, CPS_BUF_DEFAULT_LIMIT);
	if (cps_tag_byte(&d.r, &layout) || (layout != 1 && cps_tag_fail(&d.r, "unknown layout")) ||
	    cps_tag_count(&d.r, 3, &count))
		rc = -1;
	for (size_t i = 0; !rc && i < count; i++)
		rc = get_platform(&d);
	if (!rc && d.r.at != d.r.n)
		rc = cps_tag_fail(&d.r, "bytes after the last platform");
	cps_buf_release(&d.buf);
	return rc ? refused(&d, "facts", errstr, errstr_size) : CPS_OK;
}

/* ---- encoding the facts -------------------------------------------------------- */

/* Writing `what` of st failed: a value that does not read (the state's own
 * values always do), memory, or out's limit. */
static int write_failed(const struct cps_tstate *st, const char *what, const struct cps_buf *out,
                        char *errstr, size_t errstr_size)
{
	return cps_seterr(
	    CPS_ERR_FATAL, errstr, errstr_size,
	    "typed %s of entity '%.32s': not written (a bad value, memory, or %zu bytes)", what,
	    st->entity, out->limit);
}

static int put_stamp(struct cps_buf *b, const struct cps_tstamp *s)
{
	return cps_tag_put_zz(b, s->eff) || cps_tag_put_zz(b, s->src) ||
	       (s->pos ? cps_buf_append_byte(b, 1) || cps_tag_put_str(b, s->pos, strlen(s->pos))
	               : cps_buf_append_byte(b, 0));
}

/* Platform p: its own stamp, then its facts' other distinct stamps in field
 * order (refs[f]: 1 its own, 2 + i the i-th other), then the facts. */
static int put_platform(const struct cps_tstate *st, const struct cps_tplatform *p, uint32_t *refs,
                        uint32_t *others, struct cps_buf *out)
{
	const struct cps_rfield *fields = st->rs->root->fields;
	uint32_t n_others = 0, n_facts = 0;

	for (uint32_t f = 0; f < st->n_fields; f++) {
		uint32_t s = p->facts[f].stamp, i = 0;

		if (s == CPS_TSTATE_NONE)
			continue;
		n_facts++;
		if (s == p->stamp) {
			refs[f] = 1;
			continue;
		}
		while (i < n_others && others[i] != s)
			i++;
		if (i == n_others)
			others[n_others++] = s;
		refs[f] = 2 + i;
	}
	if (cps_tag_put_str(out, p->name, strlen(p->name)) || cps_buf_append_byte(out, 1) ||
	    cps_buf_append_byte(out, p->withdrawn) || put_stamp(out, &st->stamps[p->stamp]) ||
	    cps_tag_put_varint(out, n_others))
		return -1;
	for (uint32_t i = 0; i < n_others; i++)
		if (put_stamp(out, &st->stamps[others[i]]))
			return -1;
	if (cps_tag_put_varint(out, n_facts))
		return -1;
	for (uint32_t f = 0; f < st->n_fields; f++) {
		if (p->facts[f].stamp == CPS_TSTATE_NONE)
			continue;
		if (cps_tag_put_str(out, fields[f].name, strlen(fields[f].name)) ||
		    cps_tag_put_varint(out, refs[f]) ||
		    cps_avro_to_tagged(p->facts[f].v, fields[f].type, out))
			return -1;
	}
	return 0;
}

int cps_tstate_facts_encode(const struct cps_tstate *st, struct cps_buf *out, char *errstr,
                            size_t errstr_size)
{
	uint32_t *refs = cps_arena_alloc(st->arena, 2 * (st->n_fields + 1) * sizeof(*refs));
	int rc;

	if (!refs)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	rc = cps_buf_append_byte(out, 1) || cps_tag_put_varint(out, st->n_platforms);
	for (uint32_t i = 0; !rc && i < st->n_platforms; i++)
		rc = put_platform(st, &st->platforms[i], refs, refs + st->n_fields + 1, out);
	return rc ? write_failed(st, "facts", out, errstr, errstr_size) : CPS_OK;
}

/* ---- the record as jsonb text ---------------------------------------------------- */

int cps_tstate_record_jsonb(const struct cps_tstate *st, struct cps_buf *out, char *errstr,
                            size_t errstr_size)
{
	const struct cps_rfield *fields = st->rs->root->fields;
	bool first = true;
	int rc = cps_buf_append_byte(out, '{');

	for (uint32_t f = 0; !rc && f < st->n_fields; f++) {
		if (!st->record[f].p)
			continue;
		rc = (!first && cps_buf_append_byte(out, ',')) ||
		     cps_jsonb_put_string(out, fields[f].name, strlen(fields[f].name)) ||
		     cps_buf_append_byte(out, ':') ||
		     cps_avro_to_jsonb(st->record[f], fields[f].type, out);
		first = false;
	}
	if (rc || cps_buf_append_byte(out, '}'))
		return write_failed(st, "record", out, errstr, errstr_size);
	return CPS_OK;
}
