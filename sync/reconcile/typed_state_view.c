/*
 * The JSON view of a typed key state (typed_state.h): the four trees of
 * struct cps_key_state, in the shapes reconcile.c writes, for the edges
 * that speak JSON (API, steward, rules, sweep) and for the differential
 * tests against the JSON engine.
 */
#include "reconcile/typed_state.h"

#include "base/common.h"

#include <string.h>

struct view {
	const struct cps_tstate *st;
	struct cps_arena scratch; /* one value's decoded form at a time */
	int oom;
	int bad; /* a value did not decode: errstr says which field */
	char *errstr;
	size_t errstr_size;
};

/* Sets obj[key] = v, stealing v; notes an allocation failure. */
static void put(struct view *w, json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v) < 0)
		w->oom = 1;
}

static json_t *str_or_null(const char *s)
{
	return s ? json_string(s) : json_null();
}

static json_t *value_json(struct view *w, uint32_t f, struct cps_tbytes v)
{
	const struct cps_rfield *field = &w->st->rs->root->fields[f];
	struct cps_tval tv;
	json_t *j = NULL;

	cps_arena_reset(&w->scratch);
	if (cps_record_decode_at(field->type, v.p, v.len, NULL, 0, &w->scratch, &tv, w->errstr,
	                         w->errstr_size) == CPS_OK)
		j = cps_record_to_json_at(field->type, &tv, w->errstr, w->errstr_size);
	if (!j && !w->bad) {
		w->bad = 1;
		cps_seterr(CPS_ERR_INVALID, w->errstr, w->errstr_size,
		           "a typed value of field '%.64s' does not decode", field->name);
	}
	return j;
}

/* Adds "eff", "src" and "pos" of stamp s to object o. */
static void put_stamp(struct view *w, json_t *o, uint32_t s)
{
	const struct cps_tstamp *t = &w->st->stamps[s];

	put(w, o, "eff", json_integer(t->eff));
	put(w, o, "src", json_integer(t->src));
	put(w, o, "pos", str_or_null(t->pos));
}

static const char *platform_name(const struct view *w, uint32_t p)
{
	return w->st->platforms[p].name;
}

static json_t *platforms_json(struct view *w)
{
	const struct cps_tstate *st = w->st;
	json_t *platforms = json_object();

	for (uint32_t i = 0; platforms && i < st->n_platforms; i++) {
		const struct cps_tplatform *p = &st->platforms[i];
		json_t *o = json_object(), *fields = json_object();

		if (!o || !fields) {
			json_decref(fields);
			put(w, platforms, p->name, o);
			w->oom = 1;
			break;
		}
		put(w, o, "withdrawn", json_boolean(p->withdrawn));
		put_stamp(w, o, p->stamp);
		for (uint32_t f = 0; f < st->n_fields; f++) {
			json_t *fact;

			if (p->facts[f].stamp == CPS_TSTATE_NONE)
				continue;
			fact = json_object();
			if (fact) {
				put(w, fact, "v", value_json(w, f, p->facts[f].v));
				put_stamp(w, fact, p->facts[f].stamp);
			}
			put(w, fields, st->rs->root->fields[f].name, fact);
		}
		put(w, o, "fields", fields);
		put(w, platforms, p->name, o);
	}
	if (!platforms)
		w->oom = 1;
	return platforms;
}

static json_t *record_json(struct view *w)
{
	const struct cps_tstate *st = w->st;
	json_t *record;

	if (!st->has_record)
		return json_null();
	record = json_object();
	for (uint32_t f = 0; record && f < st->n_fields; f++)
		if (st->record[f].p)
			put(w, record, st->rs->root->fields[f].name,
			    value_json(w, f, st->record[f]));
	return record;
}

static json_t *disagreeing_json(struct view *w, const struct cps_tprov *p)
{
	json_t *list = json_array();

	for (uint32_t i = 0; list && i < p->n_disagreeing; i++)
		if (json_array_append_new(list, json_string(platform_name(w, p->disagreeing[i]))))
			w->oom = 1;
	return list;
}

static json_t *one_prov_json(struct view *w, const struct cps_tprov *p)
{
	json_t *o = json_object();

	if (!o)
		return NULL;
	put(w, o, "platform",
	    p->platform == CPS_TSTATE_NONE ? json_null()
	                                   : json_string(platform_name(w, p->platform)));
	put_stamp(w, o, p->stamp);
	put(w, o, "rule", json_string(p->rule));
	put(w, o, "rule_version", json_integer(p->rule_version));
	if (p->has & CPS_TPROV_CASE)
		put(w, o, "case", json_string(p->rcase));
	if (p->has & CPS_TPROV_PENDING)
		put(w, o, "pending", json_true());
	if (p->has & CPS_TPROV_FLAGGED)
		put(w, o, "flagged", json_true());
	if (p->has & CPS_TPROV_DISAGREEING)
		put(w, o, "disagreeing", disagreeing_json(w, p));
	if (p->has & CPS_TPROV_STEWARD) {
		put(w, o, "steward", json_string(p->steward));
		put(w, o, "decided_at", json_integer(p->decided_at));
		put(w, o, "reason", str_or_null(p->reason));
	}
	if (p->has & CPS_TPROV_SEEN) {
		put(w, o, "seen_eff", json_integer(p->seen_eff));
		put(w, o, "seen_src", json_integer(p->seen_src));
	}
	if (p->has & CPS_TPROV_CONFLICT_ID)
		put(w, o, "conflict_id", json_integer(p->conflict_id));
	return o;
}

static json_t *provenance_json(struct view *w)
{
	const struct cps_tstate *st = w->st;
	json_t *prov = json_object();

	for (uint32_t f = 0; prov && f < st->n_fields; f++)
		if (st->prov[f].set)
			put(w, prov, st->rs->root->fields[f].name, one_prov_json(w, &st->prov[f]));
	return prov;
}

static json_t *candidates_json(struct view *w, uint32_t f, const struct cps_tconflict *k)
{
	json_t *list = json_array();

	for (uint32_t i = 0; list && i < k->n_cands; i++) {
		const struct cps_tcand *c = &k->cands[i];
		json_t *o = json_object();

		if (o) {
			put(w, o, "platform", json_string(platform_name(w, c->platform)));
			put(w, o, "v", value_json(w, f, c->v));
			put_stamp(w, o, c->stamp);
		}
		if (!o || json_array_append_new(list, o))
			w->oom = 1;
	}
	return list;
}

static json_t *conflicts_json(struct view *w)
{
	const struct cps_tstate *st = w->st;
	json_t *conflicts = json_object();

	for (uint32_t f = 0; conflicts && f < st->n_fields; f++) {
		const struct cps_tconflict *k = &st->conf[f];
		json_t *o;

		if (!k->open)
			continue;
		o = json_object();
		if (o) {
			put(w, o, "candidates", candidates_json(w, f, k));
			put(w, o, "rule", json_string(k->rule));
			put(w, o, "opened_at", json_integer(k->opened_at));
		}
		put(w, conflicts, st->rs->root->fields[f].name, o);
	}
	return conflicts;
}

int cps_tstate_to_json(const struct cps_tstate *st, struct cps_key_state *js, char *errstr,
                       size_t errstr_size)
{
	struct view w = {.st = st, .errstr = errstr, .errstr_size = errstr_size};
	int rc = cps_key_state_init(js, st->entity, st->key);

	if (rc != CPS_OK)
		return cps_seterr(rc, errstr, errstr_size,
		                  "typed state of entity '%.32s' has no view", st->entity);
	cps_arena_init(&w.scratch, 0);
	js->version = st->version;
	js->deleted = st->deleted;
	json_decref(js->platforms);
	json_decref(js->record);
	json_decref(js->provenance);
	json_decref(js->conflicts);
	js->platforms = platforms_json(&w);
	js->record = record_json(&w);
	js->provenance = provenance_json(&w);
	js->conflicts = conflicts_json(&w);
	cps_arena_release(&w.scratch);
	if (!js->platforms || !js->record || !js->provenance || !js->conflicts)
		w.oom = 1;
	if (w.oom || w.bad) {
		cps_key_state_release(js);
		return w.bad ? CPS_ERR_INVALID
		             : cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	}
	return CPS_OK;
}

json_t *cps_tstate_value_json(const struct cps_tstate *st, uint32_t f, struct cps_tbytes v,
                              char *errstr, size_t errstr_size)
{
	struct view w = {.st = st, .errstr = errstr, .errstr_size = errstr_size};
	json_t *j;

	cps_arena_init(&w.scratch, 4096);
	j = value_json(&w, f, v);
	cps_arena_release(&w.scratch);
	return j;
}

json_t *cps_tstate_record_json(const struct cps_tstate *st, char *errstr, size_t errstr_size)
{
	struct view w = {.st = st, .errstr = errstr, .errstr_size = errstr_size};
	json_t *j;

	cps_arena_init(&w.scratch, 4096);
	j = record_json(&w);
	cps_arena_release(&w.scratch);
	if (j && !w.oom && !w.bad)
		return j;
	json_decref(j);
	if (!w.bad)
		cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	return NULL;
}

json_t *cps_tstate_candidates_json(const struct cps_tstate *st, uint32_t f, char *errstr,
                                   size_t errstr_size)
{
	struct view w = {.st = st, .errstr = errstr, .errstr_size = errstr_size};
	json_t *j;

	cps_arena_init(&w.scratch, 4096);
	j = candidates_json(&w, f, &st->conf[f]);
	cps_arena_release(&w.scratch);
	if (w.oom || w.bad) {
		json_decref(j);
		if (w.oom)
			cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		return NULL;
	}
	return j;
}

int cps_tstate_record_tval(const struct cps_tstate *st, struct cps_arena *arena,
                           struct cps_tval *out, char *errstr, size_t errstr_size)
{
	const struct cps_rtype *root = st->rs->root;
	struct cps_tval *fields;

	if (!st->has_record)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "the %.32s has no record",
		                  st->entity);
	if (!(fields = cps_arena_calloc(arena, st->n_fields, sizeof(*fields))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (uint32_t f = 0; f < st->n_fields; f++) {
		int rc;

		if (!st->record[f].p)
			return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
			                  "the %.32s record lacks field '%.64s'", st->entity,
			                  root->fields[f].name);
		rc = cps_record_decode_at(root->fields[f].type, st->record[f].p, st->record[f].len,
		                          NULL, 0, arena, &fields[f], errstr, errstr_size);
		if (rc != CPS_OK)
			return rc;
	}
	*out = (struct cps_tval){
	    .kind = CPS_RK_RECORD, .logical = (uint8_t)root->logical, .branch = -1};
	out->u.list.v = fields;
	out->u.list.n = st->n_fields;
	return CPS_OK;
}

const char *cps_tstate_field_text(const struct cps_tstate *st, const char *name,
                                  struct cps_arena *arena)
{
	const struct cps_rfield *f = cps_rtype_field(st->rs->root, name);
	const struct cps_rtype *t;
	struct cps_tval v;

	if (!f || !st->has_record || !st->record[f->index].p ||
	    cps_record_decode_at(f->type, st->record[f->index].p, st->record[f->index].len, NULL, 0,
	                         arena, &v, NULL, 0) != CPS_OK)
		return NULL;
	t = v.branch >= 0 ? f->type->branches[v.branch] : f->type;
	if (v.kind == CPS_RK_STRING)
		return cps_arena_strndup(arena, (const char *)v.u.b.ptr, v.u.b.len);
	if (v.kind == CPS_RK_ENUM && v.u.i >= 0 && (size_t)v.u.i < t->n)
		return t->symbols[v.u.i];
	return NULL;
}
