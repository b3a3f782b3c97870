/*
 * The typed state's provenance in the provenance layout (state_typed.h):
 * `0x01` then the object {field: {platform, pos, eff, src, rule,
 * rule_version, and the optional members of reconcile.h}} in the tagged
 * binary JSON, read into struct cps_tprov and written from it.
 */
#include "store/state_typed_int.h"

#include "base/utf8.h"

#include <string.h>

/* The members of a provenance entry, in the order they are written. */
enum member {
	M_PLATFORM,
	M_POS,
	M_EFF,
	M_SRC,
	M_RULE,
	M_RULE_VERSION,
	M_CASE,
	M_PENDING,
	M_FLAGGED,
	M_DISAGREEING,
	M_STEWARD,
	M_DECIDED_AT,
	M_REASON,
	M_SEEN_EFF,
	M_SEEN_SRC,
	M_CONFLICT_ID,
	N_MEMBERS,
};

static const char *const member_names[N_MEMBERS] = {
    "platform", "pos",      "eff",      "src",         "rule",    "rule_version",
    "case",     "pending",  "flagged",  "disagreeing", "steward", "decided_at",
    "reason",   "seen_eff", "seen_src", "conflict_id",
};

/* The members entry p has, as a bit set of enum member. */
static uint32_t members_of(const struct cps_tprov *p)
{
	uint32_t m = (1u << M_PLATFORM) | (1u << M_POS) | (1u << M_EFF) | (1u << M_SRC) |
	             (1u << M_RULE) | (1u << M_RULE_VERSION);

	if (p->has & CPS_TPROV_CASE)
		m |= 1u << M_CASE;
	if (p->has & CPS_TPROV_PENDING)
		m |= 1u << M_PENDING;
	if (p->has & CPS_TPROV_FLAGGED)
		m |= 1u << M_FLAGGED;
	if (p->has & CPS_TPROV_DISAGREEING)
		m |= 1u << M_DISAGREEING;
	if (p->has & CPS_TPROV_STEWARD)
		m |= (1u << M_STEWARD) | (1u << M_DECIDED_AT) | (1u << M_REASON);
	if (p->has & CPS_TPROV_SEEN)
		m |= (1u << M_SEEN_EFF) | (1u << M_SEEN_SRC);
	if (p->has & CPS_TPROV_CONFLICT_ID)
		m |= 1u << M_CONFLICT_ID;
	return m;
}

/* ---- encoding -------------------------------------------------------------------- */

static int put_text(struct cps_buf *b, const char *s)
{
	return s ? cps_buf_append_byte(b, CPS_TAG_STR) || cps_tag_put_str(b, s, strlen(s))
	         : cps_buf_append_byte(b, CPS_TAG_NULL);
}

static int put_int(struct cps_buf *b, int64_t v)
{
	return cps_buf_append_byte(b, CPS_TAG_INT) || cps_tag_put_zz(b, v);
}

static int put_member(const struct cps_tstate *st, const struct cps_tprov *p, enum member m,
                      struct cps_buf *b)
{
	const struct cps_tstamp *s = &st->stamps[p->stamp];

	switch (m) {
	case M_PLATFORM:
		return put_text(
		    b, p->platform == CPS_TSTATE_NONE ? NULL : st->platforms[p->platform].name);
	case M_POS:
		return put_text(b, s->pos);
	case M_EFF:
		return put_int(b, s->eff);
	case M_SRC:
		return put_int(b, s->src);
	case M_RULE:
		return put_text(b, p->rule);
	case M_RULE_VERSION:
		return put_int(b, p->rule_version);
	case M_CASE:
		return put_text(b, p->rcase);
	case M_PENDING:
	case M_FLAGGED:
		return cps_buf_append_byte(b, CPS_TAG_TRUE);
	case M_DISAGREEING:
		if (cps_buf_append_byte(b, CPS_TAG_ARRAY) ||
		    cps_tag_put_varint(b, p->n_disagreeing))
			return -1;
		for (uint32_t i = 0; i < p->n_disagreeing; i++)
			if (put_text(b, st->platforms[p->disagreeing[i]].name))
				return -1;
		return 0;
	case M_STEWARD:
		return put_text(b, p->steward);
	case M_DECIDED_AT:
		return put_int(b, p->decided_at);
	case M_REASON:
		return put_text(b, p->reason);
	case M_SEEN_EFF:
		return put_int(b, p->seen_eff);
	case M_SEEN_SRC:
		return put_int(b, p->seen_src);
	default:
		return put_int(b, p->conflict_id);
	}
}

int cps_tstate_prov_encode(const struct cps_tstate *st, struct cps_buf *out, char *errstr,
                           size_t errstr_size)
{
	uint32_t n = 0;
	int rc;

	for (uint32_t f = 0; f < st->n_fields; f++)
		n += st->prov[f].set;
	rc = cps_buf_append_byte(out, 1) || cps_buf_append_byte(out, CPS_TAG_OBJECT) ||
	     cps_tag_put_varint(out, n);
	for (uint32_t f = 0; !rc && f < st->n_fields; f++) {
		const struct cps_tprov *p = &st->prov[f];
		const char *name = st->rs->root->fields[f].name;
		uint32_t m = p->set ? members_of(p) : 0;

		if (!p->set)
			continue;
		rc = cps_tag_put_str(out, name, strlen(name)) ||
		     cps_buf_append_byte(out, CPS_TAG_OBJECT) ||
		     cps_tag_put_varint(out, (uint64_t)__builtin_popcount(m));
		for (int k = 0; !rc && k < N_MEMBERS; k++)
			if (m & (1u << k))
				rc = cps_tag_put_str(out, member_names[k],
				                     strlen(member_names[k])) ||
				     put_member(st, p, (enum member)k, out);
	}
	if (rc)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size,
		                  "typed provenance: out of memory (or past %zu bytes) encoding",
		                  out->limit);
	return CPS_OK;
}

/* ---- decoding -------------------------------------------------------------------- */

struct pdec {
	struct cps_tstate *st;
	struct cps_tag_reader r;
	int oom;
};

/* A string or null member into *out (copied into the arena; NULL for null
 * when `nullable`). */
static int get_text(struct pdec *d, bool nullable, const char **out, size_t *len_out)
{
	const char *s;
	size_t len;
	uint8_t tag;

	if (cps_tag_byte(&d->r, &tag))
		return -1;
	if (tag == CPS_TAG_NULL && nullable) {
		*out = NULL;
		*len_out = 0;
		return 0;
	}
	if (tag != CPS_TAG_STR || cps_tag_str(&d->r, &s, &len) ||
	    !cps_utf8_valid((const uint8_t *)s, len))
		return cps_tag_fail(&d->r, "a provenance member that is not a string of UTF-8");
	*len_out = len;
	if (!(*out = cps_arena_strndup(d->st->arena, s, len))) {
		d->oom = 1;
		return -1;
	}
	return 0;
}

static int get_int(struct pdec *d, int64_t *v)
{
	uint8_t tag;

	if (cps_tag_byte(&d->r, &tag) || tag != CPS_TAG_INT)
		return cps_tag_fail(&d->r, "a provenance member that is not an integer");
	return cps_tag_zz(&d->r, v);
}

static int get_true(struct pdec *d)
{
	uint8_t tag;

	return cps_tag_byte(&d->r, &tag) || tag != CPS_TAG_TRUE
	           ? cps_tag_fail(&d->r, "a provenance marker that is not true")
	           : 0;
}

static int get_platform(struct pdec *d, bool nullable, uint32_t *out)
{
	const char *name;
	size_t len;

	if (get_text(d, nullable, &name, &len))
		return -1;
	*out = name ? cps_tstate_platformn(d->st, name, len, false) : CPS_TSTATE_NONE;
	return name && *out == CPS_TSTATE_NONE
	           ? cps_tag_fail(&d->r, "a provenance naming a platform the state lacks")
	           : 0;
}

static int get_disagreeing(struct pdec *d, struct cps_tprov *p)
{
	size_t n;
	uint8_t tag;

	if (cps_tag_byte(&d->r, &tag) || tag != CPS_TAG_ARRAY || cps_tag_count(&d->r, 1, &n))
		return cps_tag_fail(&d->r, "disagreeing that is not an array");
	p->n_disagreeing = (uint32_t)n;
	if (!(p->disagreeing = cps_arena_alloc(d->st->arena, n * sizeof(*p->disagreeing)))) {
		d->oom = 1;
		return -1;
	}
	for (size_t i = 0; i < n; i++)
		if (get_platform(d, false, &p->disagreeing[i]))
			return -1;
	return 0;
}

/* Member m's value into p (and the stamp's parts into eff, src, pos). */
static int get_member(struct pdec *d, enum member m, struct cps_tprov *p, int64_t *stamp,
                      const char **pos, size_t *pos_len)
{
	int64_t v;
	size_t len;

	switch (m) {
	case M_PLATFORM:
		return get_platform(d, true, &p->platform);
	case M_POS:
		return get_text(d, true, pos, pos_len);
	case M_EFF:
	case M_SRC:
		return get_int(d, &stamp[m == M_SRC]);
	case M_RULE:
		return get_text(d, false, &p->rule, &len);
	case M_RULE_VERSION:
		if (get_int(d, &v))
			return -1;
		p->rule_version = (int32_t)v;
		return 0;
	case M_CASE:
		return get_text(d, false, &p->rcase, &len);
	case M_PENDING:
	case M_FLAGGED:
		return get_true(d);
	case M_DISAGREEING:
		return get_disagreeing(d, p);
	case M_STEWARD:
		return get_text(d, false, &p->steward, &len);
	case M_DECIDED_AT:
		return get_int(d, &p->decided_at);
	case M_REASON:
		return get_text(d, true, &p->reason, &len);
	case M_SEEN_EFF:
		return get_int(d, &p->seen_eff);
	case M_SEEN_SRC:
		return get_int(d, &p->seen_src);
	default:
		return get_int(d, &p->conflict_id);
	}
}

/* The optional members' flags from the members read; -1 for a set of
 * members reconcile never writes. */
static int has_of(uint32_t m, struct cps_tprov *p)
{
	static const struct {
		uint32_t members, has;
	} groups[] = {
	    {1u << M_CASE, CPS_TPROV_CASE},
	    {1u << M_PENDING, CPS_TPROV_PENDING},
	    {1u << M_FLAGGED, CPS_TPROV_FLAGGED},
	    {1u << M_DISAGREEING, CPS_TPROV_DISAGREEING},
	    {(1u << M_STEWARD) | (1u << M_DECIDED_AT) | (1u << M_REASON), CPS_TPROV_STEWARD},
	    {(1u << M_SEEN_EFF) | (1u << M_SEEN_SRC), CPS_TPROV_SEEN},
	    {1u << M_CONFLICT_ID, CPS_TPROV_CONFLICT_ID},
	};

	p->has = 0;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(groups); i++) {
		uint32_t part = m & groups[i].members;

		if (part && part != groups[i].members)
			return -1; /* a group only in part */
		if (part)
			p->has |= groups[i].has;
	}
	return 0;
}

static int get_entry(struct pdec *d, struct cps_tprov *p)
{
	const uint32_t required = (1u << M_PLATFORM) | (1u << M_POS) | (1u << M_EFF) |
	                          (1u << M_SRC) | (1u << M_RULE) | (1u << M_RULE_VERSION);
	int64_t stamp[2] = {0, 0};
	const char *pos = NULL, *key;
	size_t n, pos_len = 0, klen;
	uint32_t seen = 0;
	uint8_t tag;

	*p = (struct cps_tprov){.set = true, .platform = CPS_TSTATE_NONE};
	if (cps_tag_byte(&d->r, &tag) || tag != CPS_TAG_OBJECT || cps_tag_count(&d->r, 2, &n))
		return cps_tag_fail(&d->r, "a provenance entry that is not an object");
	for (size_t i = 0; i < n; i++) {
		int m = 0;

		if (cps_tag_str(&d->r, &key, &klen))
			return -1;
		while (m < N_MEMBERS &&
		       (strlen(member_names[m]) != klen || memcmp(member_names[m], key, klen)))
			m++;
		if (m == N_MEMBERS || (seen & (1u << m)))
			return cps_tag_fail(&d->r, "a provenance member reconcile does not write");
		seen |= 1u << m;
		if (get_member(d, (enum member)m, p, stamp, &pos, &pos_len))
			return -1;
	}
	if ((seen & required) != required || has_of(seen, p))
		return cps_tag_fail(&d->r, "a provenance entry reconcile does not write");
	p->stamp = cps_tstate_stampn(d->st, stamp[0], stamp[1], pos, pos_len);
	if (p->stamp == CPS_TSTATE_NONE) {
		d->oom = 1;
		return -1;
	}
	return 0;
}

int cps_tstate_prov_decode(struct cps_tstate *st, const uint8_t *p, size_t n, char *errstr,
                           size_t errstr_size)
{
	struct pdec d = {.st = st, .r = {.p = p, .n = p ? n : 0}};
	const struct cps_rfield *field = NULL;
	char name[64] = "";
	const char *key;
	size_t count, klen;
	uint8_t layout, tag;
	int rc = 0;

	if (cps_tag_byte(&d.r, &layout) || (layout != 1 && cps_tag_fail(&d.r, "unknown layout")) ||
	    cps_tag_byte(&d.r, &tag) ||
	    (tag != CPS_TAG_OBJECT && cps_tag_fail(&d.r, "not an object")) ||
	    cps_tag_count(&d.r, 2, &count))
		rc = -1;
	for (size_t i = 0; !rc && i < count; i++) {
		rc = cps_tag_str(&d.r, &key, &klen);
		if (!rc && klen < sizeof(name)) {
			memcpy(name, key, klen);
			name[klen] = '\0';
			field = cps_rtype_field(st->rs->root, name);
		}
		if (!rc && (klen >= sizeof(name) || !field))
			rc = cps_tag_fail(&d.r, "provenance of a field the schema lacks");
		if (!rc)
			rc = get_entry(&d, &st->prov[field->index]);
	}
	if (!rc && d.r.at != d.r.n)
		rc = cps_tag_fail(&d.r, "bytes after the object");
	if (!rc)
		return CPS_OK;
	if (d.oom)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
	                  "typed provenance of entity '%.32s': %s (field '%s') at byte %zu of %zu",
	                  st->entity, d.r.err ? d.r.err : "bytes that do not read", name, d.r.at,
	                  d.r.n);
}
