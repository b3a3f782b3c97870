/*
 * Field-level reconciliation of one key (reconcile.h, ENGINE.md
 * "Reconciliation"): per-platform last-seen facts, per-field survivorship
 * rules, conflicts, steward decisions. Pure: no I/O, no clock. Step 1, the
 * facts, is in reconcile_facts.c. An apply works on the state's trees in
 * place; only running out of memory can fail it midway, and the worker
 * then drops the state and reloads it.
 */
#include "reconcile/reconcile_int.h"

#include "base/common.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

const struct cps_field_rule cps_reconcile_fallback_rule = {
    .kind = CPS_RULE_LATEST,
    .on_disagree = CPS_DISAGREE_ACCEPT,
};

/* ---- lifecycle ------------------------------------------------------------- */

int cps_key_state_init(struct cps_key_state *st, const char *entity, const char *key)
{
	memset(st, 0, sizeof(*st));
	if (!entity || strlen(entity) >= sizeof(st->entity) || !key)
		return CPS_ERR_INVALID;
	strcpy(st->entity, entity);
	st->key = strdup(key);
	st->platforms = json_object();
	st->record = json_null();
	st->provenance = json_object();
	st->conflicts = json_object();
	if (!st->key || !st->platforms || !st->provenance || !st->conflicts) {
		cps_key_state_release(st);
		return CPS_ERR_FATAL;
	}
	return CPS_OK;
}

void cps_key_state_release(struct cps_key_state *st)
{
	free(st->key);
	json_decref(st->platforms);
	json_decref(st->record);
	json_decref(st->provenance);
	json_decref(st->conflicts);
	memset(st, 0, sizeof(*st));
}

void cps_reconcile_outcome_init(struct cps_reconcile_outcome *o)
{
	memset(o, 0, sizeof(*o));
	o->op = CPS_OP_UPSERT;
}

void cps_reconcile_outcome_release(struct cps_reconcile_outcome *o)
{
	json_decref(o->opened);
	json_decref(o->updated);
	json_decref(o->closed);
	json_decref(o->changed_fields);
	json_decref(o->prior_platforms);
	cps_reconcile_outcome_init(o);
}

int cps_reconcile_outcome_reset(struct cps_reconcile_outcome *o)
{
	cps_reconcile_outcome_release(o);
	o->opened = json_array();
	o->updated = json_array();
	o->closed = json_array();
	o->changed_fields = json_array();
	return o->opened && o->updated && o->closed && o->changed_fields ? CPS_OK : CPS_ERR_FATAL;
}

/* ---- one apply's working copy ------------------------------------------------ */

#define MAX_PLATFORMS 64

struct work {
	const struct cps_rules *rules;
	const struct cps_entity_rules *er; /* the entity's rules; NULL: none */
	const struct cps_rule_case *rcase; /* the case that matched the record, or NULL */
	const char *entity;
	const char *key;
	const char *key_field;
	int64_t opened_at;
	json_t *platforms; /* the state's own, updated in place (no copy per event) */
	json_t *provenance;
	json_t *conflicts;
	json_t *old_record; /* the state's, borrowed */
	json_t *record;     /* the new one */
	struct cps_reconcile_outcome *out;
	int oom;
	/* the platforms in the order of `order_rule` (platform_order), made
	 * once per rule: the facts do not change while recompute runs */
	const struct cps_field_rule *order_rule;
	struct platform_ref {
		const char *name;
		json_t *fields;
		bool withdrawn;
	} order[MAX_PLATFORMS];
	size_t n_order;
};

/* The case that decides `field`: none for a field a condition reads. */
static const struct cps_rule_case *case_of(const struct work *w, const char *field)
{
	return w->rcase && !cps_rules_is_condition(w->er, field) ? w->rcase : NULL;
}

static const struct cps_field_rule *rule_of(const struct work *w, const char *field, int *ver)
{
	if (!w->er) {
		*ver = 0;
		return &cps_reconcile_fallback_rule;
	}
	*ver = w->er->version;
	return cps_rules_field(w->er, case_of(w, field), field);
}

/* Sets obj[key] = v, stealing v; records an allocation failure. */
static void put(struct work *w, json_t *obj, const char *key, json_t *v)
{
	if (!v || json_object_set_new(obj, key, v) < 0)
		w->oom = 1;
}

static void push(struct work *w, json_t *arr, json_t *v)
{
	if (!v || json_array_append_new(arr, v) < 0)
		w->oom = 1;
}

static int listed(const struct cps_field_rule *rule, const char *platform)
{
	for (size_t i = 0; i < rule->n_platforms; i++)
		if (!strcmp(rule->platforms[i], platform))
			return 1;
	return 0;
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* The platforms in the rule's order: its list first, then every other
 * platform of the state by name. Returns the count; names are borrowed. */
static size_t platform_order(const struct cps_field_rule *rule, json_t *platforms,
                             const char **names, size_t cap)
{
	size_t n = 0, rest;
	const char *name;
	json_t *p;

	for (size_t i = 0; i < rule->n_platforms && n < cap; i++)
		if (json_object_get(platforms, rule->platforms[i]))
			names[n++] = rule->platforms[i];
	rest = n;
	json_object_foreach (platforms, name, p) {
		if (n < cap && !listed(rule, name))
			names[n++] = name;
	}
	qsort(names + rest, n - rest, sizeof(*names), cmp_str);
	return n;
}

/* One candidate value of a field: a non-withdrawn platform's last-seen
 * fact {"v", "eff", "src", "pos"} with a non-null value (borrowed), its
 * members read once. */
struct cand {
	const char *platform;
	json_t *f, *v;
	int64_t eff, src;
};

/* The platforms of the state in the order of `rule` into w->order, unless
 * they are there already. */
static void order_for(struct work *w, const struct cps_field_rule *rule)
{
	const char *names[MAX_PLATFORMS];

	if (w->order_rule == rule)
		return;
	w->n_order = platform_order(rule, w->platforms, names, MAX_PLATFORMS);
	for (size_t i = 0; i < w->n_order; i++) {
		json_t *p = json_object_get(w->platforms, names[i]);

		w->order[i] = (struct platform_ref){names[i], json_object_get(p, "fields"),
		                                    json_is_true(json_object_get(p, "withdrawn"))};
	}
	w->order_rule = rule;
}

/* Candidate c made of fact f (an object), its members read in one pass. */
static void cand_of(struct cand *c, const char *platform, json_t *f)
{
	const char *k;
	json_t *m;

	*c = (struct cand){.platform = platform, .f = f};
	json_object_foreach (f, k, m) {
		if (!strcmp(k, "v"))
			c->v = m;
		else if (!strcmp(k, "eff"))
			c->eff = json_integer_value(m);
		else if (!strcmp(k, "src"))
			c->src = json_integer_value(m);
	}
}

static int cand_cmp(const struct cand *a, const struct cand *b)
{
	return stamp_cmp(a->eff, a->src, b->eff, b->src);
}

/* The candidates of `field` in the rule's order into c (MAX_PLATFORMS);
 * returns their count. `newest` receives the newest fact (null or not) of
 * those platforms for the field (newest->f NULL when none). No allocation:
 * JSON is built only where a conflict needs it (candidates_json). */
static size_t field_candidates(struct work *w, const struct cps_field_rule *rule, const char *field,
                               struct cand *c, struct cand *newest)
{
	size_t k = 0;

	order_for(w, rule);
	newest->f = NULL;
	for (size_t i = 0; i < w->n_order; i++) {
		json_t *f =
		    w->order[i].withdrawn ? NULL : json_object_get(w->order[i].fields, field);
		struct cand one;

		if (!f)
			continue;
		cand_of(&one, w->order[i].name, f);
		if (!newest->f || cand_cmp(&one, newest) > 0)
			*newest = one;
		if (!one.v || json_is_null(one.v))
			continue;
		c[k++] = one;
	}
	return k;
}

/* The candidates as a conflict keeps them: [{platform, v, eff, src, pos}]. */
static json_t *candidates_json(struct work *w, const struct cand *c, size_t n)
{
	json_t *cands = json_array();

	if (!cands) {
		w->oom = 1;
		return NULL;
	}
	for (size_t i = 0; i < n; i++)
		push(w, cands,
		     json_pack("{s:s, s:O, s:I, s:I, s:O}", "platform", c[i].platform, "v", c[i].v,
		               "eff", (json_int_t)c[i].eff, "src", (json_int_t)c[i].src, "pos",
		               json_object_get(c[i].f, "pos")));
	return cands;
}

/* The winner's index by the rule (-1 when there are no candidates). */
static int winner_of(const struct cps_field_rule *rule, const struct cand *c, size_t n)
{
	int best = n ? 0 : -1;

	if (rule->kind != CPS_RULE_LATEST)
		return best; /* precedence: candidates are in the rule's order */
	for (size_t i = 1; i < n; i++)
		if (cand_cmp(&c[i], &c[best]) > 0)
			best = (int)i;
	return best;
}

/* `rcase`: the case whose rules decided (NULL: the entity's own). */
static json_t *new_provenance(const struct cps_field_rule *rule, int ver,
                              const struct cps_rule_case *rcase, const struct cand *c)
{
	return json_pack("{s:s, s:O, s:I, s:I, s:s, s:i, s:s*}", "platform", c->platform, "pos",
	                 json_object_get(c->f, "pos"), "eff", (json_int_t)c->eff, "src",
	                 (json_int_t)c->src, "rule", cps_rule_kind_name(rule->kind), "rule_version",
	                 ver, "case", rcase ? rcase->name : NULL);
}

static bool case_is(json_t *prov, const struct cps_rule_case *rcase)
{
	const char *c = json_string_value(json_object_get(prov, "case"));

	return rcase ? c && !strcmp(c, rcase->name) : !c;
}

/* Whether the steward decision of provenance `prov` still holds against the
 * newest fact `newest` (newest->f NULL: none) of the field: it does until a platform
 * states something newer than every fact the decision saw ("seen_eff",
 * "seen_src"; a decision stored before those existed was stamped in "eff"
 * and "src" with them). */
static int decision_holds(const json_t *prov, const struct cand *newest)
{
	const char *eff = json_object_get(prov, "seen_eff") ? "seen_eff" : "eff";
	const char *src = json_object_get(prov, "seen_eff") ? "seen_src" : "src";

	return !newest->f ||
	       stamp_cmp(newest->eff, newest->src, jint(prov, eff), jint(prov, src)) <= 0;
}

/* Whether the provenance names `platform`. */
static bool platform_is(json_t *prov, const char *platform)
{
	const char *p = json_string_value(json_object_get(prov, "platform"));

	return p && !strcmp(p, platform);
}

/* Whether the provenance already carries the markers set_markers would
 * give it. */
static bool markers_match(json_t *prov, bool pending, bool flagged, const struct cand *c, size_t n,
                          json_t *win_v)
{
	json_t *dis = json_object_get(prov, "disagreeing");
	size_t k = 0;

	if (pending != json_is_true(json_object_get(prov, "pending")) ||
	    flagged != json_is_true(json_object_get(prov, "flagged")))
		return false;
	if (!flagged)
		return !dis;
	for (size_t i = 0; i < n; i++) {
		const char *p;

		if (json_equal(c[i].v, win_v))
			continue;
		p = json_string_value(json_array_get(dis, k++));
		if (!p || strcmp(p, c[i].platform))
			return false;
	}
	return k == json_array_size(dis);
}

/* Brings the markers of provenance `prov` in line: "pending" (a manual
 * field's first value, while its conflict is open), "flagged" with
 * "disagreeing" (the platforms whose value differs from the winner's
 * `win_v`, in candidate order). */
static void set_markers(struct work *w, json_t *prov, bool pending, bool flagged,
                        const struct cand *c, size_t n, json_t *win_v)
{
	if (pending && !json_is_true(json_object_get(prov, "pending")))
		put(w, prov, "pending", json_true());
	else if (!pending)
		json_object_del(prov, "pending");
	if (!flagged) {
		json_object_del(prov, "flagged");
		json_object_del(prov, "disagreeing");
		return;
	}
	json_t *disagreeing = json_array();

	for (size_t i = 0; disagreeing && i < n; i++)
		if (!json_equal(c[i].v, win_v))
			push(w, disagreeing, json_string(c[i].platform));
	if (!json_is_true(json_object_get(prov, "flagged")))
		put(w, prov, "flagged", json_true());
	if (!disagreeing || !json_equal(disagreeing, json_object_get(prov, "disagreeing")))
		put(w, prov, "disagreeing", disagreeing);
	else
		json_decref(disagreeing);
}

static void conflict_track(struct work *w, const char *field, const struct cps_field_rule *rule,
                           const struct cand *c, size_t n, int needed)
{
	json_t *open = json_object_get(w->conflicts, field), *cands;

	if (!needed) {
		if (open) {
			json_object_del(w->conflicts, field);
			push(w, w->out->closed,
			     json_pack("{s:s, s:s}", "field", field, "how", "auto"));
		}
		return;
	}
	cands = candidates_json(w, c, n);
	if (!cands)
		return;
	if (!open) {
		put(w, w->conflicts, field,
		    json_pack("{s:O, s:s, s:I}", "candidates", cands, "rule",
		              cps_rule_kind_name(rule->kind), "opened_at",
		              (json_int_t)w->opened_at));
		push(w, w->out->opened,
		     json_pack("{s:s, s:O, s:s}", "field", field, "candidates", cands, "rule",
		               cps_rule_kind_name(rule->kind)));
	} else if (!json_equal(json_object_get(open, "candidates"), cands)) {
		put(w, open, "candidates", json_incref(cands));
		push(w, w->out->updated,
		     json_pack("{s:s, s:O}", "field", field, "candidates", cands));
	}
	json_decref(cands);
}

/* Recomputes one field into w->record and w->provenance. Returns whether
 * another platform now backs the field's unchanged value: that is news for
 * consumers too (the published provenance must agree with the store's). */
static bool reconcile_field(struct work *w, const char *field)
{
	bool new_winner = false;
	int ver;
	const struct cps_field_rule *rule = rule_of(w, field, &ver);
	json_t *cur = json_is_object(w->old_record) ? json_object_get(w->old_record, field) : NULL;
	json_t *prov = json_object_get(w->provenance, field);
	json_t *value, *nprov, *win_v;
	struct cand newest;
	struct cand c[MAX_PLATFORMS];
	const struct cand *win = NULL;
	size_t n, n_disagree = 0;
	bool pending = false, flagged = false;
	int wi, needed;

	n = field_candidates(w, rule, field, c, &newest);
	/* a steward decision holds until a fact newer than all it saw */
	if (prov && json_object_get(prov, "steward") && cur && decision_holds(prov, &newest)) {
		put(w, w->record, field, json_incref(cur));
		return false;
	}
	wi = winner_of(rule, c, n);
	if (wi >= 0)
		win = &c[wi];
	win_v = win ? win->v : NULL;
	for (size_t i = 0; i < n; i++)
		n_disagree += !json_equal(c[i].v, win_v);
	needed = n_disagree > 0 &&
	         (rule->kind == CPS_RULE_MANUAL || rule->on_disagree == CPS_DISAGREE_CONFLICT);
	conflict_track(w, field, rule, c, n, needed);

	if (rule->kind == CPS_RULE_MANUAL && needed) {
		if (cur && !json_is_null(cur)) {
			/* parked: the field keeps its value and provenance */
			put(w, w->record, field, json_incref(cur));
			return false;
		}
		win = &c[0];
		pending = true;
	} else if (win) {
		flagged = rule->on_disagree == CPS_DISAGREE_FLAG && n_disagree;
	}
	value = win ? win->v : json_null();
	if (w->key_field && !strcmp(field, w->key_field))
		value = json_string(w->key);
	else
		json_incref(value);
	if (!win) {
		json_object_del(w->provenance, field);
	} else if (prov && !json_object_get(prov, "steward") && cur && json_equal(cur, value) &&
	           platform_is(prov, win->platform) && case_is(prov, case_of(w, field))) {
		/* same value, same winner, same case: the provenance stays, markers follow;
		 * entries are never changed in place (a batch's emits share them) */
		if (!markers_match(prov, pending, flagged, c, n, win_v)) {
			nprov = json_copy(prov);
			if (nprov)
				set_markers(w, nprov, pending, flagged, c, n, win_v);
			put(w, w->provenance, field, nprov);
		}
	} else {
		new_winner = prov && cur && json_equal(cur, value);
		nprov = new_provenance(rule, ver, case_of(w, field), win);
		if (!nprov)
			w->oom = 1;
		else
			set_markers(w, nprov, pending, flagged, c, n, win_v);
		put(w, w->provenance, field, nprov);
	}
	put(w, w->record, field, value);
	return new_winner;
}

/* Whether `field` is among the fields of a platform before `upto` in
 * w->platforms' order. */
static bool stated_before(struct work *w, json_t *upto, const char *field)
{
	const char *pn;
	json_t *p;

	json_object_foreach (w->platforms, pn, p) {
		if (p == upto)
			return false;
		if (json_object_get(json_object_get(p, "fields"), field))
			return true;
	}
	return false;
}

/* field_names after event `ev` on a state with a record: the record's
 * fields, then those the event states for the first time. Every other fact
 * is in the record already: each recompute puts every stated field in it
 * and nothing takes one out. Walking all the facts instead was a tenth of
 * an apply, most of it cache misses. */
static const char **field_names_after(json_t *old, const struct cps_ingest_event *ev, size_t *n)
{
	json_t *rec = ev->op == CPS_OP_DELETE ? NULL : ev->record, *v;
	const char **names =
	               malloc((json_object_size(old) + json_object_size(rec) + 1) * sizeof(*names)),
	           *k;

	*n = 0;
	if (!names)
		return NULL;
	json_object_foreach (old, k, v)
		names[(*n)++] = k;
	json_object_foreach (rec, k, v) {
		if (!json_object_get(old, k))
			names[(*n)++] = k;
	}
	return names;
}

/* The fields of the unified record: the current record's, then any other
 * field some platform has stated (after event `ev`, or NULL: a rerun).
 * Returns them in a new array of borrowed names (the old record's, the
 * facts' and the event's keys, stable while recompute runs), *n their
 * count; NULL out of memory. */
static const char **field_names(struct work *w, const struct cps_ingest_event *ev, size_t *n)
{
	json_t *old = json_is_object(w->old_record) ? w->old_record : NULL, *p, *v;
	size_t cap = json_object_size(old) + 1;
	const char **names, *k, *pn;

	if (old && ev)
		return field_names_after(old, ev, n);
	json_object_foreach (w->platforms, pn, p)
		cap += json_object_size(json_object_get(p, "fields"));
	names = malloc(cap * sizeof(*names));
	*n = 0;
	if (!names)
		return NULL;
	json_object_foreach (old, k, v)
		names[(*n)++] = k;
	json_object_foreach (w->platforms, pn, p) {
		json_object_foreach (json_object_get(p, "fields"), k, v) {
			if (!(old && json_object_get(old, k)) && !stated_before(w, p, k))
				names[(*n)++] = k;
		}
	}
	if (w->key_field && !(old && json_object_get(old, w->key_field)) &&
	    !stated_before(w, NULL, w->key_field))
		names[(*n)++] = w->key_field; /* the key is always there */
	return names;
}

const char *cps_cond_text(const json_t *v, char *buf, size_t size)
{
	if (json_is_object(v) && json_object_size(v) == 1)
		v = json_object_iter_value(json_object_iter((json_t *)v));
	if (json_is_string(v))
		return json_string_value(v);
	if (json_is_integer(v)) {
		snprintf(buf, size, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
		return buf;
	}
	if (json_is_boolean(v))
		return json_is_true(v) ? "true" : "false";
	return NULL;
}

/* The first case whose conditions all hold on w->record (where the
 * condition fields are already decided); NULL when none does. */
static const struct cps_rule_case *matching_case(const struct work *w)
{
	char buf[32];

	for (size_t i = 0; w->er && i < w->er->n_cases; i++) {
		const struct cps_rule_case *c = &w->er->cases[i];
		size_t j = 0;

		for (; j < c->n_when; j++) {
			const char *t = cps_cond_text(json_object_get(w->record, c->when[j].field),
			                              buf, sizeof(buf));
			if (!t || strcmp(t, c->when[j].value))
				break;
		}
		if (j == c->n_when)
			return c;
	}
	return NULL;
}

/* Recomputes the fields of `names`: first those the cases' conditions read
 * (by the entity's own rules), then, with the case chosen on their values,
 * the rest. Fields whose value or backing changed go to changed_fields in
 * the order of `names`. */
static void recompute_fields(struct work *w, const char **names, size_t n)
{
	bool *news = calloc(n ? n : 1, sizeof(*news));

	if (!news) {
		w->oom = 1;
		return;
	}
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			w->rcase = matching_case(w);
		for (size_t i = 0; i < n; i++)
			if (cps_rules_is_condition(w->er, names[i]) == (pass == 0))
				news[i] = reconcile_field(w, names[i]);
	}
	for (size_t i = 0; i < n; i++) {
		json_t *before =
		    json_is_object(w->old_record) ? json_object_get(w->old_record, names[i]) : NULL;

		if (news[i] || !before || !json_equal(before, json_object_get(w->record, names[i])))
			push(w, w->out->changed_fields, json_string(names[i]));
	}
	free(news);
}

/* The platforms the provenance names, each once, into out->prior_platforms:
 * for a delete, taken before the provenance is cleared in place (the unified
 * event carries them for the sinks' no-echo rule). */
static void note_prior_platforms(struct work *w)
{
	json_t *names = json_array(), *p, *seen;
	const char *k;
	size_t i;

	if (!names) {
		w->oom = 1;
		return;
	}
	json_object_foreach (w->provenance, k, p) {
		const char *name = json_string_value(json_object_get(p, "platform"));
		bool known = false;

		json_array_foreach (names, i, seen)
			known |= !strcmp(json_string_value(seen), name ? name : "");
		if (name && !known)
			push(w, names, json_string(name));
	}
	json_decref(w->out->prior_platforms);
	w->out->prior_platforms = names;
}

/* Step 2 and 3 of ENGINE.md: recompute every field, decide the outcome
 * (after event `ev`, or NULL: a rerun). */
static void recompute(struct work *w, struct cps_key_state *st, const struct cps_ingest_event *ev,
                      int *deleted)
{
	struct cps_reconcile_outcome *out = w->out;
	int all_withdrawn = json_object_size(w->platforms) > 0;
	const char *k, **names;
	size_t n_names;
	json_t *p;

	json_object_foreach (w->platforms, k, p) {
		if (!json_is_true(json_object_get(p, "withdrawn")))
			all_withdrawn = 0;
	}
	if (all_withdrawn) {
		json_object_foreach (w->conflicts, k, p) {
			push(w, out->closed, json_pack("{s:s, s:s}", "field", k, "how", "auto"));
		}
		json_object_clear(w->conflicts);
		if (!json_is_null(st->record))
			note_prior_platforms(w);
		json_object_clear(w->provenance);
		w->record = json_null();
		*deleted = 1;
		if (!json_is_null(st->record)) {
			out->changed = 1;
			out->op = CPS_OP_DELETE;
		}
		return;
	}
	*deleted = 0;
	w->record = json_object();
	names = field_names(w, ev, &n_names);
	if (!w->record || !names) {
		w->oom = 1;
		free(names);
		return;
	}
	recompute_fields(w, names, n_names);
	free(names);
	if (json_array_size(out->changed_fields) || !json_is_object(st->record))
		out->changed = 1;
}

/* Works on the state's trees in place: a deep copy of three trees per event
 * was 40% of the cost. */
static void work_init(struct work *w, const struct cps_rules *rules, struct cps_key_state *st,
                      int64_t opened_at, struct cps_reconcile_outcome *out)
{
	w->rules = rules;
	w->er = cps_rules_entity(rules, st->entity);
	w->entity = st->entity;
	w->key = st->key;
	w->key_field = cps_entity_key_field(st->entity);
	w->opened_at = opened_at;
	w->out = out;
	w->old_record = st->record;
	w->platforms = st->platforms;
	w->provenance = st->provenance;
	w->conflicts = st->conflicts;
}

/* The record recompute() built becomes the state's, with a new version when
 * anything changed; out of memory, the state is left as it was. */
static int commit_work(struct work *w, struct cps_key_state *st, int deleted,
                       struct cps_reconcile_outcome *out, char *errstr, size_t errstr_size)
{
	if (w->oom) {
		int rc = OOM(errstr, errstr_size);

		json_decref(w->record);
		cps_reconcile_outcome_release(out);
		return rc;
	}
	json_decref(st->record);
	st->record = w->record;
	st->deleted = deleted;
	if (out->changed) {
		st->version++;
		out->version = st->version;
	}
	return CPS_OK;
}

int cps_reconcile_apply(const struct cps_rules *rules, struct cps_key_state *st,
                        const struct cps_ingest_event *ev, struct cps_reconcile_outcome *out,
                        char *errstr, size_t errstr_size)
{
	struct work w = {0};
	int deleted = st->deleted;

	if (cps_reconcile_outcome_reset(out) != CPS_OK)
		return OOM(errstr, errstr_size);
	if (strcmp(ev->entity, st->entity))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "event of entity '%.32s' applied to a state of entity '%.32s'",
		                  ev->entity, st->entity);
	if (!ev->key || !st->key || strcmp(ev->key, st->key))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "event key differs from the state's key (entity '%.32s')",
		                  st->entity);
	if (!ev->platform[0])
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "event without a platform");
	if (ev->op != CPS_OP_DELETE && !json_is_object(ev->record))
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "upsert event from '%.32s' without a record object",
		                  ev->platform);

	/* Nothing fails past the checks above but memory, and a caller drops a
	 * state whose apply ran out of memory (the worker reloads its batch). */
	work_init(&w, rules, st, ev->source_ms, out);
	if (cps_reconcile_update_facts(st->platforms, ev))
		w.oom = 1;
	else
		recompute(&w, st, ev, &deleted);
	return commit_work(&w, st, deleted, out, errstr, errstr_size);
}

int cps_reconcile_rerun(const struct cps_rules *rules, struct cps_key_state *st, int64_t now_ms,
                        struct cps_reconcile_outcome *out, char *errstr, size_t errstr_size)
{
	struct work w = {0};
	int deleted = st->deleted;

	if (cps_reconcile_outcome_reset(out) != CPS_OK)
		return OOM(errstr, errstr_size);
	if (!json_object_size(st->platforms))
		return CPS_OK; /* nothing stated: nothing to decide */
	work_init(&w, rules, st, now_ms, out);
	recompute(&w, st, NULL, &deleted);
	return commit_work(&w, st, deleted, out, errstr, errstr_size);
}
