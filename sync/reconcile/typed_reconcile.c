/*
 * Steps 2 and 3 of reconciliation on the typed state (typed_reconcile.h,
 * ENGINE.md "Reconciliation"): every field recomputed by its rule from the
 * non-withdrawn platforms' facts, conflicts opened, updated and closed,
 * provenance kept or replaced, a new version when the record changed.
 * reconcile.c is the same on JSON trees; test_reconcile.c runs both on
 * every case and compares them.
 */
#include "reconcile/reconcile_int.h"
#include "reconcile/typed_int.h"

#include <string.h>

#define MAX_PLATFORMS 64

/* One candidate value of a field: a non-withdrawn platform's fact. */
struct tcand {
	uint32_t platform, stamp;
	struct cps_tbytes v;
	int64_t eff, src;
};

struct twork {
	const struct cps_entity_rules *er; /* NULL: the entity has no rules */
	const struct cps_rule_case *rcase; /* the case that matched, or NULL */
	struct cps_tstate *st;
	const struct cps_rfield *fields;
	int64_t opened_at;
	uint32_t key_field; /* CPS_TSTATE_NONE: the entity has none */
	struct cps_tbytes key_value;
	const struct cps_tbytes *old; /* the record before; NULL: none */
	struct cps_tbytes *rec;       /* the new one */
	struct cps_toutcome *out;
	int oom;
	const char *bad_field; /* a field with no value its type can hold */
	/* the platforms in the order of `order_rule`, made once per rule */
	const struct cps_field_rule *order_rule;
	uint32_t order[MAX_PLATFORMS];
	uint32_t n_order;
};

static const struct cps_rule_case *case_of(const struct twork *w, uint32_t f)
{
	return w->rcase && !cps_rules_is_condition(w->er, w->fields[f].name) ? w->rcase : NULL;
}

static const struct cps_field_rule *rule_of(const struct twork *w, uint32_t f, int *ver)
{
	if (!w->er) {
		*ver = 0;
		return &cps_reconcile_fallback_rule;
	}
	*ver = w->er->version;
	return cps_rules_field(w->er, case_of(w, f), w->fields[f].name);
}

static bool listed(const struct cps_field_rule *rule, const char *platform)
{
	for (size_t i = 0; i < rule->n_platforms; i++)
		if (!strcmp(rule->platforms[i], platform))
			return true;
	return false;
}

/* The state's platforms in the order of `rule`: its list first, then every
 * other platform by name. */
static void order_for(struct twork *w, const struct cps_field_rule *rule)
{
	const struct cps_tstate *st = w->st;
	uint32_t n = 0, rest;

	if (w->order_rule == rule)
		return;
	for (size_t i = 0; i < rule->n_platforms && n < MAX_PLATFORMS; i++) {
		uint32_t p = cps_tstate_platform(w->st, rule->platforms[i], false);

		if (p != CPS_TSTATE_NONE)
			w->order[n++] = p;
	}
	rest = n;
	for (uint32_t p = 0; p < st->n_platforms && n < MAX_PLATFORMS; p++) {
		if (listed(rule, st->platforms[p].name))
			continue;
		/* insertion by name: a state has a handful of platforms */
		uint32_t j = n++;

		while (j > rest &&
		       strcmp(st->platforms[w->order[j - 1]].name, st->platforms[p].name) > 0) {
			w->order[j] = w->order[j - 1];
			j--;
		}
		w->order[j] = p;
	}
	w->n_order = n;
	w->order_rule = rule;
}

static int cand_cmp(const struct tcand *a, const struct tcand *b)
{
	return stamp_cmp(a->eff, a->src, b->eff, b->src);
}

/* The candidates of field f in the rule's order (non-null values of
 * non-withdrawn platforms) into c; *newest the newest of their facts, null
 * or not (newest->stamp CPS_TSTATE_NONE when none). */
static uint32_t field_candidates(struct twork *w, const struct cps_field_rule *rule, uint32_t f,
                                 struct tcand *c, struct tcand *newest)
{
	const struct cps_tstate *st = w->st;
	uint32_t k = 0;

	order_for(w, rule);
	newest->stamp = CPS_TSTATE_NONE;
	for (uint32_t i = 0; i < w->n_order; i++) {
		const struct cps_tplatform *p = &st->platforms[w->order[i]];
		const struct cps_tfact *fact = &p->facts[f];
		struct tcand one;

		if (p->withdrawn || fact->stamp == CPS_TSTATE_NONE)
			continue;
		one = (struct tcand){w->order[i], fact->stamp, fact->v, st->stamps[fact->stamp].eff,
		                     st->stamps[fact->stamp].src};
		if (newest->stamp == CPS_TSTATE_NONE || cand_cmp(&one, newest) > 0)
			*newest = one;
		if (!cps_tbytes_is_null(w->fields[f].type, one.v))
			c[k++] = one;
	}
	return k;
}

static int winner_of(const struct cps_field_rule *rule, const struct tcand *c, uint32_t n)
{
	int best = n ? 0 : -1;

	if (rule->kind != CPS_RULE_LATEST)
		return best; /* precedence: candidates are in the rule's order */
	for (uint32_t i = 1; i < n; i++)
		if (cand_cmp(&c[i], &c[best]) > 0)
			best = (int)i;
	return best;
}

/* Whether a steward's decision still holds against the field's newest
 * fact: until a platform states something newer than all it saw. */
static bool decision_holds(const struct cps_tstate *st, const struct cps_tprov *p,
                           const struct tcand *newest)
{
	int64_t eff = p->has & CPS_TPROV_SEEN ? p->seen_eff : st->stamps[p->stamp].eff;
	int64_t src = p->has & CPS_TPROV_SEEN ? p->seen_src : st->stamps[p->stamp].src;

	return newest->stamp == CPS_TSTATE_NONE ||
	       stamp_cmp(newest->eff, newest->src, eff, src) <= 0;
}

static bool case_is(const struct cps_tprov *p, const struct cps_rule_case *rcase)
{
	bool has = p->has & CPS_TPROV_CASE;

	return rcase ? has && !strcmp(p->rcase, rcase->name) : !has;
}

static bool markers_match(const struct cps_tprov *p, bool pending, bool flagged,
                          const struct tcand *c, uint32_t n, struct cps_tbytes win_v)
{
	uint32_t k = 0;

	if (pending != !!(p->has & CPS_TPROV_PENDING) || flagged != !!(p->has & CPS_TPROV_FLAGGED))
		return false;
	if (!flagged)
		return !(p->has & CPS_TPROV_DISAGREEING);
	for (uint32_t i = 0; i < n; i++) {
		if (cps_tbytes_eq(c[i].v, win_v))
			continue;
		if (k >= p->n_disagreeing || p->disagreeing[k++] != c[i].platform)
			return false;
	}
	return k == p->n_disagreeing;
}

/* "pending" (a manual field's first value while its conflict is open),
 * "flagged" with "disagreeing" (the platforms whose value differs from the
 * winner's, in candidate order). */
static void set_markers(struct twork *w, struct cps_tprov *p, bool pending, bool flagged,
                        const struct tcand *c, uint32_t n, struct cps_tbytes win_v)
{
	p->has = pending ? p->has | CPS_TPROV_PENDING : p->has & ~(uint32_t)CPS_TPROV_PENDING;
	p->has &= ~(uint32_t)(CPS_TPROV_FLAGGED | CPS_TPROV_DISAGREEING);
	p->n_disagreeing = 0;
	if (!flagged)
		return;
	p->has |= CPS_TPROV_FLAGGED | CPS_TPROV_DISAGREEING;
	p->disagreeing = cps_arena_alloc(w->st->arena, n * sizeof(*p->disagreeing));
	if (!p->disagreeing) {
		w->oom = 1;
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		if (!cps_tbytes_eq(c[i].v, win_v))
			p->disagreeing[p->n_disagreeing++] = c[i].platform;
}

static void note_conflict(struct twork *w, uint32_t f, enum cps_tconflict_change_kind kind)
{
	w->out->conflicts[w->out->n_conflicts++] = (struct cps_tconflict_change){f, kind};
}

static bool cands_equal(const struct cps_tconflict *k, const struct tcand *c, uint32_t n)
{
	if (k->n_cands != n)
		return false;
	for (uint32_t i = 0; i < n; i++)
		if (k->cands[i].platform != c[i].platform || k->cands[i].stamp != c[i].stamp ||
		    !cps_tbytes_eq(k->cands[i].v, c[i].v))
			return false;
	return true;
}

static void conflict_track(struct twork *w, uint32_t f, const struct cps_field_rule *rule,
                           const struct tcand *c, uint32_t n, bool needed)
{
	struct cps_tconflict *k = &w->st->conf[f];
	bool was_open = k->open;

	if (!needed) {
		if (was_open) {
			k->open = false;
			note_conflict(w, f, CPS_TCONFLICT_CLOSED);
		}
		return;
	}
	if (was_open && cands_equal(k, c, n))
		return;
	k->cands = cps_arena_alloc(w->st->arena, n * sizeof(*k->cands));
	if (!k->cands) {
		w->oom = 1;
		return;
	}
	for (uint32_t i = 0; i < n; i++)
		k->cands[i] = (struct cps_tcand){c[i].platform, c[i].stamp, c[i].v};
	k->n_cands = n;
	if (!was_open) {
		k->open = true;
		k->rule = cps_rule_kind_name(rule->kind);
		k->opened_at = w->opened_at;
	}
	note_conflict(w, f, was_open ? CPS_TCONFLICT_UPDATED : CPS_TCONFLICT_OPENED);
}

bool cps_tbytes_null(const struct cps_rtype *t, struct cps_tbytes *out)
{
	/* a union's null branch index as Avro writes it: one zig-zag byte */
	static const uint8_t zz[64] = {
	    0,  2,  4,   6,   8,   10,  12,  14,  16,  18,  20,  22,  24,  26,  28,  30,
	    32, 34, 36,  38,  40,  42,  44,  46,  48,  50,  52,  54,  56,  58,  60,  62,
	    64, 66, 68,  70,  72,  74,  76,  78,  80,  82,  84,  86,  88,  90,  92,  94,
	    96, 98, 100, 102, 104, 106, 108, 110, 112, 114, 116, 118, 120, 122, 124, 126};

	if (t->kind == CPS_RK_NULL) {
		*out = (struct cps_tbytes){zz, 0};
		return true;
	}
	if (t->kind == CPS_RK_UNION && t->null_branch >= 0 && t->null_branch < 64) {
		*out = (struct cps_tbytes){&zz[t->null_branch], 1};
		return true;
	}
	return false;
}

/* The value of field f when no platform gives one: null, when its type can
 * hold it. */
static struct cps_tbytes null_of(struct twork *w, uint32_t f)
{
	struct cps_tbytes v = {0};

	if (!cps_tbytes_null(w->fields[f].type, &v))
		w->bad_field = w->fields[f].name;
	return v;
}

/* A new provenance entry for winner `win` under `rule` (of case rcase). */
static void new_provenance(struct twork *w, struct cps_tprov *p, const struct cps_field_rule *rule,
                           int ver, const struct cps_rule_case *rcase, const struct tcand *win)
{
	*p = (struct cps_tprov){.set = true,
	                        .platform = win->platform,
	                        .stamp = win->stamp,
	                        .rule = cps_rule_kind_name(rule->kind),
	                        .rule_version = ver};
	if (rcase) {
		p->has = CPS_TPROV_CASE;
		p->rcase = cps_arena_strdup(w->st->arena, rcase->name);
		w->oom |= !p->rcase;
	}
}

/* Recomputes field f into w->rec and its provenance. Returns whether
 * another platform now backs the field's unchanged value. */
static bool reconcile_field(struct twork *w, uint32_t f)
{
	int ver;
	const struct cps_field_rule *rule = rule_of(w, f, &ver);
	struct cps_tbytes cur = w->old ? w->old[f] : (struct cps_tbytes){0};
	struct cps_tprov *prov = &w->st->prov[f];
	struct tcand c[MAX_PLATFORMS], newest;
	const struct tcand *win = NULL;
	struct cps_tbytes win_v = {0}, value;
	uint32_t n = field_candidates(w, rule, f, c, &newest), n_disagree = 0;
	bool pending = false, flagged = false, needed, new_winner = false;
	int wi;

	if (prov->set && (prov->has & CPS_TPROV_STEWARD) && cur.p &&
	    decision_holds(w->st, prov, &newest)) {
		w->rec[f] = cur;
		return false;
	}
	wi = winner_of(rule, c, n);
	if (wi >= 0) {
		win = &c[wi];
		win_v = win->v;
	}
	for (uint32_t i = 0; i < n; i++)
		n_disagree += !cps_tbytes_eq(c[i].v, win_v);
	needed = n_disagree > 0 &&
	         (rule->kind == CPS_RULE_MANUAL || rule->on_disagree == CPS_DISAGREE_CONFLICT);
	conflict_track(w, f, rule, c, n, needed);
	if (rule->kind == CPS_RULE_MANUAL && needed) {
		if (cur.p && !cps_tbytes_is_null(w->fields[f].type, cur)) {
			w->rec[f] = cur; /* parked: the field keeps its value and provenance */
			return false;
		}
		win = &c[0];
		pending = true;
	} else if (win) {
		flagged = rule->on_disagree == CPS_DISAGREE_FLAG && n_disagree;
	}
	value = f == w->key_field ? w->key_value : win ? win->v : null_of(w, f);
	if (!win) {
		*prov = (struct cps_tprov){0};
	} else if (prov->set && !(prov->has & CPS_TPROV_STEWARD) && cur.p &&
	           cps_tbytes_eq(cur, value) && prov->platform == win->platform &&
	           case_is(prov, case_of(w, f))) {
		/* same value, same winner, same case: the provenance stays, markers follow */
		if (!markers_match(prov, pending, flagged, c, n, win_v))
			set_markers(w, prov, pending, flagged, c, n, win_v);
	} else {
		new_winner = prov->set && cur.p && cps_tbytes_eq(cur, value);
		new_provenance(w, prov, rule, ver, case_of(w, f), win);
		set_markers(w, prov, pending, flagged, c, n, win_v);
	}
	w->rec[f] = value;
	return new_winner;
}

/* The first case whose conditions all hold on the record's decided
 * condition fields; NULL when none does. */
static const struct cps_rule_case *matching_case(struct twork *w)
{
	char buf[32], err[CPS_ERRSTR_SIZE];

	for (size_t i = 0; w->er && i < w->er->n_cases; i++) {
		const struct cps_rule_case *c = &w->er->cases[i];
		size_t j = 0;

		for (; j < c->n_when; j++) {
			const struct cps_rfield *field =
			    cps_rtype_field(w->st->rs->root, c->when[j].field);
			json_t *v =
			    field && w->rec[field->index].p
			        ? cps_tstate_value_json(w->st, field->index, w->rec[field->index],
			                                err, sizeof(err))
			        : NULL;
			const char *t = cps_cond_text(v, buf, sizeof(buf));
			bool holds = t && !strcmp(t, c->when[j].value);

			json_decref(v);
			if (!holds)
				break;
		}
		if (j == c->n_when)
			return c;
	}
	return NULL;
}

/* Whether field f belongs in the record: it had a value, a platform stated
 * it, or it is the key. */
static bool in_record(const struct twork *w, uint32_t f)
{
	if ((w->old && w->old[f].p) || f == w->key_field)
		return true;
	for (uint32_t p = 0; p < w->st->n_platforms; p++)
		if (w->st->platforms[p].facts[f].stamp != CPS_TSTATE_NONE)
			return true;
	return false;
}

/* Recomputes the record's fields: first those the cases' conditions read
 * (by the entity's own rules), then, with the case chosen on their values,
 * the rest; notes the fields whose value or backing changed. */
static void recompute_fields(struct twork *w)
{
	uint32_t n = w->st->n_fields;
	bool *news = cps_arena_calloc(w->st->arena, n + 1, sizeof(*news));
	bool *want = cps_arena_calloc(w->st->arena, n + 1, sizeof(*want));

	if (!news || !want) {
		w->oom = 1;
		return;
	}
	for (uint32_t f = 0; f < n; f++)
		want[f] = in_record(w, f);
	for (int pass = 0; pass < 2; pass++) {
		if (pass == 1)
			w->rcase = matching_case(w);
		for (uint32_t f = 0; f < n; f++)
			if (want[f] &&
			    cps_rules_is_condition(w->er, w->fields[f].name) == (pass == 0))
				news[f] = reconcile_field(w, f);
	}
	for (uint32_t f = 0; f < n; f++)
		if (want[f] &&
		    (news[f] || !w->old || !w->old[f].p || !cps_tbytes_eq(w->old[f], w->rec[f])))
			w->out->changed_fields[w->out->n_changed++] = f;
}

/* Every platform withdrew: open conflicts close, the record is deleted (a
 * change when there was one), noting the platforms its provenance named. */
static void withdraw_all(struct twork *w)
{
	struct cps_tstate *st = w->st;

	for (uint32_t f = 0; f < st->n_fields; f++) {
		if (st->conf[f].open) {
			st->conf[f].open = false;
			note_conflict(w, f, CPS_TCONFLICT_CLOSED);
		}
	}
	/* in the state's order of platforms, each once */
	for (uint32_t p = 0; st->has_record && p < st->n_platforms; p++) {
		uint32_t f = 0;

		while (f < st->n_fields && !(st->prov[f].set && st->prov[f].platform == p))
			f++;
		if (f < st->n_fields)
			w->out->prior_platforms[w->out->n_prior++] = p;
	}
	memset(st->prov, 0, st->n_fields * sizeof(*st->prov));
	if (st->has_record) {
		w->out->changed = true;
		w->out->op = CPS_OP_DELETE;
	}
}

static bool all_withdrawn(const struct cps_tstate *st)
{
	for (uint32_t p = 0; p < st->n_platforms; p++)
		if (!st->platforms[p].withdrawn)
			return false;
	return st->n_platforms > 0;
}

/* The key's value as the key field holds it: an Avro string. -1 out of
 * memory, -2 a key field of another type. */
static int key_value(struct twork *w)
{
	const struct cps_rfield *kf;
	const char *name = cps_entity_key_field(w->st->entity);
	size_t len = strlen(w->st->key);
	uint8_t *p;
	size_t n;

	w->key_field = CPS_TSTATE_NONE;
	if (!name || !(kf = cps_rtype_field(w->st->rs->root, name)))
		return 0;
	if (kf->type->kind != CPS_RK_STRING)
		return -2;
	p = cps_arena_alloc(w->st->arena, len + 10);
	if (!p)
		return -1;
	n = cps_avro_long_put(p, (int64_t)len);
	memcpy(p + n, w->st->key, len);
	w->key_field = kf->index;
	w->key_value = (struct cps_tbytes){p, (uint32_t)(n + len)};
	return 0;
}

static int work_init(struct twork *w, const struct cps_rules *rules, struct cps_tstate *st,
                     int64_t opened_at, struct cps_toutcome *out)
{
	uint32_t n = st->n_fields;

	*w = (struct twork){.er = cps_rules_entity(rules, st->entity),
	                    .st = st,
	                    .fields = st->rs->root->fields,
	                    .opened_at = opened_at,
	                    .old = st->has_record ? st->record : NULL,
	                    .out = out};
	*out = (struct cps_toutcome){.op = CPS_OP_UPSERT};
	out->changed_fields = cps_arena_alloc(st->arena, (n + 1) * sizeof(uint32_t));
	out->conflicts = cps_arena_alloc(st->arena, (n + 1) * sizeof(*out->conflicts));
	out->prior_platforms = cps_arena_alloc(st->arena, (st->n_platforms + 1) * sizeof(uint32_t));
	w->rec = cps_arena_calloc(st->arena, n + 1, sizeof(*w->rec));
	if (!out->changed_fields || !out->conflicts || !out->prior_platforms || !w->rec)
		return -1;
	return key_value(w);
}

/* Steps 2 and 3 on st's facts as they are, conflicts opened at `opened_at`. */
static int recompute(const struct cps_rules *rules, struct cps_tstate *st, int64_t opened_at,
                     struct cps_toutcome *out, char *errstr, size_t errstr_size)
{
	struct twork w;
	bool deleted;
	int rc = work_init(&w, rules, st, opened_at, out);

	if (rc == -1)
		return OOM(errstr, errstr_size);
	if (rc == -2)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "the key field of entity '%.32s' is not a string", st->entity);
	deleted = all_withdrawn(st);
	if (deleted)
		withdraw_all(&w);
	else
		recompute_fields(&w);
	if (w.oom)
		return OOM(errstr, errstr_size);
	if (w.bad_field)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "field '%.64s' of entity '%.32s' has no value and cannot be null",
		                  w.bad_field, st->entity);
	if (!deleted && (out->n_changed || !st->has_record))
		out->changed = true;
	st->record = w.rec;
	st->has_record = !deleted;
	st->deleted = deleted;
	if (out->changed)
		out->version = ++st->version;
	return CPS_OK;
}

int cps_treconcile_apply(const struct cps_rules *rules, struct cps_tstate *st,
                         const struct cps_tevent *ev, struct cps_toutcome *out, char *errstr,
                         size_t errstr_size)
{
	if (!ev->platform || !ev->platform[0])
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size, "event without a platform");
	if (ev->op != CPS_OP_DELETE && !ev->values)
		return cps_seterr(CPS_ERR_INVALID, errstr, errstr_size,
		                  "upsert event from '%.32s' without a record", ev->platform);
	if (cps_tstate_update_facts(st, ev))
		return OOM(errstr, errstr_size);
	return recompute(rules, st, ev->src, out, errstr, errstr_size);
}

int cps_treconcile_rerun(const struct cps_rules *rules, struct cps_tstate *st, int64_t now_ms,
                         struct cps_toutcome *out, char *errstr, size_t errstr_size)
{
	*out = (struct cps_toutcome){.op = CPS_OP_UPSERT};
	if (!st->n_platforms)
		return CPS_OK; /* nothing stated: nothing to decide */
	return recompute(rules, st, now_ms, out, errstr, errstr_size);
}
