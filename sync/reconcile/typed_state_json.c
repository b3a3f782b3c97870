/*
 * The typed key state to and from the JSON trees of struct cps_key_state
 * (typed_state.h): the bridge that lets the typed engine be tested against
 * the JSON one, and the view the JSON edges read until they are moved.
 */
#include "reconcile/typed_state.h"

#include "base/common.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

struct conv {
	struct cps_tstate *st;
	const char *field;  /* the field being read, named by refusals; NULL: none */
	struct cps_buf buf; /* a value's Avro binary before it goes to the arena */
	char *errstr;
	size_t errstr_size;
};

static int refuse(struct conv *c, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* CPS_ERR_INVALID: the tree is not one the typed state can hold. */
static int refuse(struct conv *c, const char *fmt, ...)
{
	char why[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(why, sizeof(why), fmt, ap);
	va_end(ap);
	if (!c->field)
		return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
		                  "state of entity '%.32s' has no typed form: %s", c->st->entity,
		                  why);
	return cps_seterr(CPS_ERR_INVALID, c->errstr, c->errstr_size,
	                  "state of entity '%.32s' has no typed form: field '%.64s': %s",
	                  c->st->entity, c->field, why);
}

static int oom(struct conv *c)
{
	return cps_seterr(CPS_ERR_FATAL, c->errstr, c->errstr_size, "out of memory");
}

/* The schema's field `name`, which refusals now name; NULL when the schema
 * lacks it. */
static const struct cps_rfield *field_named(struct conv *c, const char *name)
{
	c->field = name;
	return cps_rtype_field(c->st->rs->root, name);
}

/* `j`, a value of `field`, as its Avro binary in the arena. */
static int value_of(struct conv *c, const struct cps_rfield *field, const json_t *j,
                    struct cps_tbytes *out)
{
	int rc = cps_tstate_value_from_json(c->st, field, j, &c->buf, out);

	if (rc == CPS_ERR_INVALID)
		return refuse(c, "a value does not match its type");
	return rc == CPS_OK ? CPS_OK : oom(c);
}

/* The stamp of object `o` (its "eff", "src" and "pos" members, or those
 * named `eff` and `src`). */
static int stamp_of(struct conv *c, const json_t *o, const char *what, uint32_t *out)
{
	json_t *eff = json_object_get(o, "eff"), *src = json_object_get(o, "src");
	json_t *pos = json_object_get(o, "pos");

	if (!json_is_integer(eff) || !json_is_integer(src) ||
	    !(json_is_string(pos) || json_is_null(pos)))
		return refuse(c, "%s without an integer eff and src and a pos", what);
	*out = cps_tstate_stamp(c->st, json_integer_value(eff), json_integer_value(src),
	                        json_string_value(pos));
	return *out == CPS_TSTATE_NONE ? oom(c) : CPS_OK;
}

static int platform_of(struct conv *c, const json_t *name, const char *what, uint32_t *out)
{
	*out = json_is_string(name) ? cps_tstate_platform(c->st, json_string_value(name), false)
	                            : CPS_TSTATE_NONE;
	if (*out == CPS_TSTATE_NONE)
		return refuse(c, "%s names no platform of the state", what);
	return CPS_OK;
}

static int facts_from_json(struct conv *c, uint32_t pi, const json_t *fields)
{
	const char *name;
	json_t *f;
	int rc;

	json_object_foreach ((json_t *)fields, name, f) {
		const struct cps_rfield *field = field_named(c, name);
		struct cps_tfact *fact;

		if (!field)
			return refuse(c, "a fact of a field its schema lacks");
		if (json_object_size(f) != 4 || !json_object_get(f, "v"))
			return refuse(c, "a fact is not {v, eff, src, pos}");
		fact = &c->st->platforms[pi].facts[field->index];
		if ((rc = stamp_of(c, f, "a fact", &fact->stamp)) != CPS_OK ||
		    (rc = value_of(c, field, json_object_get(f, "v"), &fact->v)) != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

static int platforms_from_json(struct conv *c, const json_t *platforms)
{
	const char *name;
	json_t *p;
	int rc;

	if (!json_is_object(platforms))
		return refuse(c, "its platforms are not an object");
	json_object_foreach ((json_t *)platforms, name, p) {
		json_t *withdrawn = json_object_get(p, "withdrawn"),
		       *fields = json_object_get(p, "fields");
		uint32_t pi = cps_tstate_platform(c->st, name, true);

		c->field = NULL;
		if (pi == CPS_TSTATE_NONE)
			return oom(c);
		if (json_object_size(p) != 5 || !json_is_boolean(withdrawn) ||
		    !json_is_object(fields))
			return refuse(
			    c, "platform '%.32s' is not {withdrawn, eff, src, pos, fields}", name);
		c->st->platforms[pi].withdrawn = json_is_true(withdrawn);
		if ((rc = stamp_of(c, p, "a platform", &c->st->platforms[pi].stamp)) != CPS_OK ||
		    (rc = facts_from_json(c, pi, fields)) != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

static int record_from_json(struct conv *c, const json_t *record)
{
	const char *name;
	json_t *v;
	int rc;

	if (json_is_null(record))
		return CPS_OK;
	if (!json_is_object(record))
		return refuse(c, "its record is neither an object nor null");
	c->st->has_record = true;
	json_object_foreach ((json_t *)record, name, v) {
		const struct cps_rfield *field = field_named(c, name);

		if (!field)
			return refuse(c, "the record has a field its schema lacks");
		if ((rc = value_of(c, field, v, &c->st->record[field->index])) != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

/* ---- provenance ------------------------------------------------------------ */

static int disagreeing_from_json(struct conv *c, struct cps_tprov *p, const json_t *list)
{
	size_t i;
	json_t *name;
	int rc;

	if (!json_is_array(list))
		return refuse(c, "a provenance's disagreeing is not an array");
	p->n_disagreeing = (uint32_t)json_array_size(list);
	p->disagreeing = cps_arena_alloc(c->st->arena, p->n_disagreeing * sizeof(uint32_t));
	if (!p->disagreeing)
		return oom(c);
	json_array_foreach (list, i, name) {
		if ((rc = platform_of(c, name, "a disagreeing platform", &p->disagreeing[i])) !=
		    CPS_OK)
			return rc;
	}
	return CPS_OK;
}

static int int_member(struct conv *c, const json_t *o, const char *key, int64_t *out)
{
	json_t *v = json_object_get(o, key);

	if (!json_is_integer(v))
		return refuse(c, "a provenance's %s is not an integer", key);
	*out = json_integer_value(v);
	return CPS_OK;
}

/* A string member (NULL for a JSON null when `nullable`), copied. */
static int str_member(struct conv *c, const json_t *o, const char *key, bool nullable,
                      const char **out)
{
	json_t *v = json_object_get(o, key);

	if (nullable && json_is_null(v)) {
		*out = NULL;
		return CPS_OK;
	}
	if (!json_is_string(v))
		return refuse(c, "a provenance's %s is not a string", key);
	*out = cps_arena_strdup(c->st->arena, json_string_value(v));
	return *out ? CPS_OK : oom(c);
}

/* The optional members of a provenance entry into p->has; the count of
 * members they make up. */
static int prov_optional(struct conv *c, const json_t *o, struct cps_tprov *p, size_t *members)
{
	int64_t rv;
	int rc = CPS_OK;

	if (json_object_get(o, "case")) {
		p->has |= CPS_TPROV_CASE;
		rc = str_member(c, o, "case", false, &p->rcase);
		*members += 1;
	}
	if (rc == CPS_OK && json_object_get(o, "pending")) {
		p->has |= CPS_TPROV_PENDING;
		rc = json_is_true(json_object_get(o, "pending")) ? CPS_OK
		                                                 : refuse(c, "pending is not true");
		*members += 1;
	}
	if (rc == CPS_OK && json_object_get(o, "flagged")) {
		p->has |= CPS_TPROV_FLAGGED;
		rc = json_is_true(json_object_get(o, "flagged")) ? CPS_OK
		                                                 : refuse(c, "flagged is not true");
		*members += 1;
	}
	if (rc == CPS_OK && json_object_get(o, "disagreeing")) {
		p->has |= CPS_TPROV_DISAGREEING;
		rc = disagreeing_from_json(c, p, json_object_get(o, "disagreeing"));
		*members += 1;
	}
	if (rc == CPS_OK && json_object_get(o, "steward")) {
		p->has |= CPS_TPROV_STEWARD;
		if ((rc = str_member(c, o, "steward", false, &p->steward)) == CPS_OK &&
		    (rc = int_member(c, o, "decided_at", &p->decided_at)) == CPS_OK &&
		    json_object_get(o, "reason"))
			rc = str_member(c, o, "reason", true, &p->reason);
		else if (rc == CPS_OK)
			rc = refuse(c, "a steward's provenance without a reason");
		*members += 3;
	}
	if (rc == CPS_OK && json_object_get(o, "seen_eff")) {
		p->has |= CPS_TPROV_SEEN;
		if ((rc = int_member(c, o, "seen_eff", &p->seen_eff)) == CPS_OK)
			rc = int_member(c, o, "seen_src", &p->seen_src);
		*members += 2;
	}
	if (rc == CPS_OK && json_object_get(o, "conflict_id")) {
		p->has |= CPS_TPROV_CONFLICT_ID;
		rc = int_member(c, o, "conflict_id", &p->conflict_id);
		*members += 1;
	}
	if (rc == CPS_OK && (rc = int_member(c, o, "rule_version", &rv)) == CPS_OK)
		p->rule_version = (int32_t)rv;
	return rc;
}

static int prov_from_json(struct conv *c, const json_t *provenance)
{
	const char *name;
	json_t *o;
	int rc;

	if (!json_is_object(provenance))
		return refuse(c, "its provenance is not an object");
	json_object_foreach ((json_t *)provenance, name, o) {
		const struct cps_rfield *field = field_named(c, name);
		json_t *platform = json_object_get(o, "platform");
		struct cps_tprov *p;
		size_t members = 6; /* platform, pos, eff, src, rule, rule_version */

		if (!field)
			return refuse(c, "provenance of a field its schema lacks");
		p = &c->st->prov[field->index];
		*p = (struct cps_tprov){.set = true, .platform = CPS_TSTATE_NONE};
		if (!json_is_null(platform) &&
		    (rc = platform_of(c, platform, "a provenance", &p->platform)) != CPS_OK)
			return rc;
		if ((rc = stamp_of(c, o, "a provenance", &p->stamp)) != CPS_OK ||
		    (rc = str_member(c, o, "rule", false, &p->rule)) != CPS_OK ||
		    (rc = prov_optional(c, o, p, &members)) != CPS_OK)
			return rc;
		if (json_object_size(o) != members)
			return refuse(c, "its provenance has members reconcile does not write");
	}
	return CPS_OK;
}

/* ---- conflicts ------------------------------------------------------------- */

static int conflict_from_json(struct conv *c, const struct cps_rfield *field, const json_t *o)
{
	struct cps_tconflict *k = &c->st->conf[field->index];
	json_t *cands = json_object_get(o, "candidates"), *cand;
	json_t *rule = json_object_get(o, "rule"), *opened = json_object_get(o, "opened_at");
	size_t i;
	int rc;

	if (json_object_size(o) != 3 || !json_is_array(cands) || !json_is_string(rule) ||
	    !json_is_integer(opened))
		return refuse(c, "its conflict is not {candidates, rule, opened_at}");
	k->open = true;
	k->opened_at = json_integer_value(opened);
	k->rule = cps_arena_strdup(c->st->arena, json_string_value(rule));
	k->n_cands = (uint32_t)json_array_size(cands);
	k->cands = cps_arena_alloc(c->st->arena, k->n_cands * sizeof(*k->cands));
	if (!k->rule || !k->cands)
		return oom(c);
	json_array_foreach (cands, i, cand) {
		struct cps_tcand *t = &k->cands[i];

		if (json_object_size(cand) != 5 || !json_object_get(cand, "v"))
			return refuse(c, "a candidate is not {platform, v, eff, src, pos}");
		if ((rc = platform_of(c, json_object_get(cand, "platform"), "a candidate",
		                      &t->platform)) != CPS_OK ||
		    (rc = stamp_of(c, cand, "a candidate", &t->stamp)) != CPS_OK ||
		    (rc = value_of(c, field, json_object_get(cand, "v"), &t->v)) != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

static int conflicts_from_json(struct conv *c, const json_t *conflicts)
{
	const char *name;
	json_t *o;
	int rc;

	if (!json_is_object(conflicts))
		return refuse(c, "its conflicts are not an object");
	json_object_foreach ((json_t *)conflicts, name, o) {
		const struct cps_rfield *field = field_named(c, name);

		if (!field)
			return refuse(c, "a conflict on a field its schema lacks");
		if ((rc = conflict_from_json(c, field, o)) != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

int cps_tstate_from_json(const struct cps_key_state *js, const struct cps_record_schema *rs,
                         struct cps_arena *arena, struct cps_tstate *out, char *errstr,
                         size_t errstr_size)
{
	struct conv c = {.st = out, .errstr = errstr, .errstr_size = errstr_size};
	int rc = cps_tstate_init(out, rs, js->entity, js->key, arena, errstr, errstr_size);

	if (rc != CPS_OK)
		return rc;
	out->version = js->version;
	out->deleted = js->deleted != 0;
	cps_buf_init(&c.buf, CPS_BUF_DEFAULT_LIMIT);
	if ((rc = platforms_from_json(&c, js->platforms)) == CPS_OK &&
	    (rc = record_from_json(&c, js->record)) == CPS_OK &&
	    (rc = prov_from_json(&c, js->provenance)) == CPS_OK)
		rc = conflicts_from_json(&c, js->conflicts);
	cps_buf_release(&c.buf);
	return rc;
}

/* One part of a JSON state into st by `part`. */
static int part_from_json(struct cps_tstate *st, int (*part)(struct conv *, const json_t *),
                          const json_t *j, char *errstr, size_t errstr_size)
{
	struct conv c = {.st = st, .errstr = errstr, .errstr_size = errstr_size};
	int rc;

	cps_buf_init(&c.buf, CPS_BUF_DEFAULT_LIMIT);
	rc = part(&c, j);
	cps_buf_release(&c.buf);
	return rc;
}

int cps_tstate_record_from_json(struct cps_tstate *st, const json_t *record, char *errstr,
                                size_t errstr_size)
{
	return part_from_json(st, record_from_json, record, errstr, errstr_size);
}

int cps_tstate_conflicts_from_json(struct cps_tstate *st, const json_t *conflicts, char *errstr,
                                   size_t errstr_size)
{
	return part_from_json(st, conflicts_from_json, conflicts, errstr, errstr_size);
}
