/*
 * The policy's checks on a batch (policy/policy.h, issue 12): every
 * enrolment and verification whose unified record the batch changed is
 * checked, and so is every stored enrolment whose checks read a person or
 * household the batch changed (found in one query, at most RECHECK_MAX of
 * them), with the person and household its checks read — the batch's own
 * states first, the store's for the rest, in at most two more queries. What
 * is found goes into the batch's own transaction (cpsync.policy_findings),
 * so findings and the version they are about commit together. A typed
 * state's record is read field by field from its values; a record in Avro
 * JSON (a JSON state's, or the store's) becomes typed through its Avro
 * encoding.
 */
#include "worker/worker_int.h"
#include "base/live.h"

#include "base/clock.h"
#include "base/log.h"
#include "codec/avro_json.h"
#include "codec/codec.h"
#include "codec/record.h"
#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define DAY_MS          86400000LL
#define CHINA_OFFSET_MS (8LL * 3600 * 1000) /* policy days are Beijing time */
/* Stored enrolments rechecked per batch at most, because a person or
 * household they read changed. A household has a handful of enrolments, so
 * the cap bites only on a batch that changes hundreds of registers at once
 * (an initial load): those past it are logged and left unchecked until they
 * or their subject change next. */
#define RECHECK_MAX 512

static const char *const typed_entities[] = {"person", "household", "enrolment", "verification"};

/* A worker's converters from Avro JSON to typed records, one per entity the
 * checks read, made on first use. */
struct cps_worker_policy {
	struct cps_codec *codec[4];
	struct cps_record_schema *rs[4];
	struct cps_buf bytes;
	struct cps_arena arena;
};

void cps_worker_policy_free(struct cps_worker_policy *wp)
{
	if (!wp)
		return;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(typed_entities); i++) {
		cps_codec_free(wp->codec[i]);
		cps_record_schema_free(wp->rs[i]);
	}
	cps_buf_release(&wp->bytes);
	cps_arena_release(&wp->arena);
	free(wp);
}

/* The typed form of Avro JSON record `j` of `entity` in wp's arena; 0 when
 * it cannot be made (logged: the record is then not checked). */
static int typed(struct cps_catalog *catalog, struct cps_worker_policy *wp, const char *entity,
                 json_t *j, struct cps_policy_record *out)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_tval *v;
	size_t e = 0;

	while (e < CPS_ARRAY_SIZE(typed_entities) && strcmp(typed_entities[e], entity))
		e++;
	if (e == CPS_ARRAY_SIZE(typed_entities) || !json_is_object(j))
		return 0;
	if (!wp->codec[e] &&
	    (cps_codec_for_entity(catalog, entity, &wp->codec[e], err, sizeof(err)) != CPS_OK ||
	     cps_record_schema_new(cps_codec_schema(wp->codec[e]), &wp->rs[e], err, sizeof(err)) !=
	         CPS_OK))
		goto fail;
	cps_buf_reset(&wp->bytes);
	if (!(v = cps_arena_alloc(&wp->arena, sizeof(*v))) ||
	    cps_value_from_json(j, cps_codec_value(wp->codec[e]), err, sizeof(err)) != CPS_OK ||
	    cps_codec_encode(wp->codec[e], cps_codec_value(wp->codec[e]), &wp->bytes, err,
	                     sizeof(err)) != CPS_OK ||
	    cps_record_decode(wp->rs[e], wp->bytes.data, wp->bytes.len, NULL, CPS_RECORD_COPY_BYTES,
	                      &wp->arena, v, err, sizeof(err)) != CPS_OK)
		goto fail;
	out->type = wp->rs[e]->root;
	out->value = v;
	return 1;
fail:
	cps_log_warn(FAC, "policy: a %s record could not be checked: %s", entity, err);
	return 0;
}

/* ---- the records the checks read ------------------------------------------------ */

struct lookup {
	struct cps_catalog *catalog;
	struct cps_worker_policy *wp;
	struct cps_store *store;
	struct attempt *a; /* the batch's states; NULL outside a batch (rules apply) */
	json_t *loaded;    /* "entity/key" -> record (Avro JSON) read from the store */
};

/* A string field of Avro JSON record r (a union's branch unwrapped). */
static const char *jstr(json_t *r, const char *field)
{
	json_t *v = json_object_get(r, field);

	if (json_is_object(v) && json_object_size(v) == 1)
		v = json_object_iter_value(json_object_iter(v));
	return json_string_value(v);
}

/* A record the checks read: a typed state's of the batch, or Avro JSON (a
 * JSON state's of the batch, or one read from the store); neither: none. */
struct rec {
	json_t *json;
	const struct cps_tstate *ts;
};

static struct rec rec_of(struct lookup *l, const char *entity, const char *key)
{
	char k[CPS_NAME_MAX + 256];
	struct slot_view v;

	snprintf(k, sizeof(k), "%s/%s", entity, key);
	if (l->a && cps_worker_attempt_view(l->a, k, &v))
		return (struct rec){v.record, v.ts};
	return (struct rec){json_object_get(l->loaded, k), NULL};
}

/* The typed form of record r of `entity` in wp's arena; 0 when there is
 * none or it cannot be made (logged). A typed state's record is decoded
 * field by field; one that lacks a field goes the JSON way, as a JSON
 * state's would. */
static int rec_typed(struct lookup *l, const char *entity, struct rec r,
                     struct cps_policy_record *out)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_tval *v;
	json_t *j;
	int ok;

	if (!r.ts)
		return r.json && !json_is_null(r.json) &&
		       typed(l->catalog, l->wp, entity, r.json, out);
	if (!r.ts->has_record)
		return 0;
	if ((v = cps_arena_alloc(&l->wp->arena, sizeof(*v))) &&
	    cps_tstate_record_tval(r.ts, &l->wp->arena, v, err, sizeof(err)) == CPS_OK) {
		out->type = r.ts->rs->root;
		out->value = v;
		return 1;
	}
	if (!(j = cps_tstate_record_json(r.ts, err, sizeof(err)))) {
		cps_log_warn(FAC, "policy: a %s record could not be checked: %s", entity, err);
		return 0;
	}
	ok = typed(l->catalog, l->wp, entity, j, out);
	json_decref(j);
	return ok;
}

/* A string (or enum) field of record r, NULL when it has none. */
static const char *rec_str(struct lookup *l, struct rec r, const char *field)
{
	return r.ts ? cps_tstate_field_text(r.ts, field, &l->wp->arena) : jstr(r.json, field);
}

static int find(struct lookup *l, const char *entity, const char *key,
                struct cps_policy_record *out)
{
	return rec_typed(l, entity, rec_of(l, entity, key), out);
}

static int person_of(void *ctx, const char *id, struct cps_policy_record *out)
{
	return find(ctx, "person", id, out);
}

static int household_of(void *ctx, const char *id, struct cps_policy_record *out)
{
	return find(ctx, "household", id, out);
}

/* Adds (entity, key) to `want` unless the batch or l->loaded has it. */
static void want_key(struct lookup *l, json_t *want, const char *entity, const char *key)
{
	char k[CPS_NAME_MAX + 256];

	if (!key)
		return;
	snprintf(k, sizeof(k), "%s/%s", entity, key);
	if (!(l->a && json_object_get(l->a->index, k)) && !json_object_get(l->loaded, k))
		json_object_set_new(want, k, json_pack("[s,s]", entity, key));
}

/* Reads the records of `want` from the store into l->loaded, in one query. */
static int load(struct lookup *l, json_t *want, char *errstr, size_t errstr_size)
{
	size_t n = json_object_size(want), i = 0;
	struct cps_key_state **st = calloc(n ? n : 1, sizeof(*st));
	const char *k;
	json_t *pair;
	int rc = CPS_OK;

	if (!st)
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	json_object_foreach (want, k, pair) {
		if (!(st[i] = calloc(1, sizeof(**st))) ||
		    cps_key_state_init(st[i], json_string_value(json_array_get(pair, 0)),
		                       json_string_value(json_array_get(pair, 1))) != CPS_OK) {
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
			break;
		}
		i++;
	}
	if (rc == CPS_OK && n)
		rc = cps_store_load_states(l->store, st, n, errstr, errstr_size);
	i = 0;
	json_object_foreach (want, k, pair) {
		if (rc == CPS_OK && json_is_object(st[i]->record))
			json_object_set(l->loaded, k, st[i]->record);
		if (st[i])
			cps_key_state_release(st[i]);
		free(st[i++]);
	}
	free(st);
	return rc;
}

/* Whether the checks read records of `entity` as the changed record. */
static bool checked_entity(const char *entity)
{
	return !strcmp(entity, "enrolment") || !strcmp(entity, "verification");
}

/* A record to check: one the batch changed (version 0), or a stored
 * enrolment rechecked at its stored version. */
struct target {
	const char *entity, *key;
	struct rec record;
	int deleted;
	int64_t version;
};

/* Reads what the enrolments' checks need: their subjects, then the
 * subjects' households (a person's) or heads (a household's). */
static int preload(struct lookup *l, const struct target *t, size_t n, char *errstr,
                   size_t errstr_size)
{
	for (int round = 0; round < 2; round++) {
		json_t *want = json_object();
		int rc;

		if (!want)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		for (size_t i = 0; i < n; i++) {
			struct rec r = t[i].record, subject;
			const char *type = rec_str(l, r, "subject_type"),
			           *id = rec_str(l, r, "subject_id");
			bool person = type && !strcmp(type, "PERSON");

			if (strcmp(t[i].entity, "enrolment") || !id)
				continue;
			if (round == 0) {
				want_key(l, want, person ? "person" : "household", id);
				continue;
			}
			subject = rec_of(l, person ? "person" : "household", id);
			if (person)
				want_key(l, want, "household", rec_str(l, subject, "household_id"));
			else
				want_key(l, want, "person",
				         rec_str(l, subject, "head_national_id"));
		}
		rc = load(l, want, errstr, errstr_size);
		json_decref(want);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

/* Appends string s to array `to` once (`seen` remembers). */
static void add_once(json_t *to, json_t *seen, const char *s)
{
	if (s && !json_object_get(seen, s) && !json_object_set_new(seen, s, json_true()))
		json_array_append_new(to, json_string(s));
}

/* Adds to t (*n of them) the stored enrolments that read a person or
 * household the batch changed: by subject (a person, a household, or a
 * person's household, whose head it may be), or through a person of a
 * changed household. `changed` marks the batch's own targets. */
static int add_rechecks(struct lookup *l, const bool *changed, struct target *t, size_t *n,
                        char *errstr, size_t errstr_size)
{
	struct attempt *a = l->a;
	json_t *subjects = json_array(), *households = json_array(), *seen = json_object();
	json_t *rows = NULL, *row;
	size_t i, skipped = 0;
	int rc = CPS_OK;

	if (!subjects || !households || !seen)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (i = 0; rc == CPS_OK && i < a->n_emits; i++) {
		char k[CPS_NAME_MAX + 256];
		struct slot_view s;

		snprintf(k, sizeof(k), "%s/%s", a->emits[i].entity, a->emits[i].key);
		if (!cps_worker_attempt_view(a, k, &s))
			continue;
		if (!strcmp(s.entity, "person")) {
			add_once(subjects, seen, s.key);
			add_once(subjects, seen,
			         rec_str(l, (struct rec){s.record, s.ts}, "household_id"));
		} else if (!strcmp(s.entity, "household")) {
			add_once(subjects, seen, s.key);
			json_array_append_new(households, json_string(s.key));
		}
	}
	if (rc == CPS_OK && json_array_size(subjects))
		rc = cps_store_policy_dependents(l->store, subjects, households, RECHECK_MAX + 1,
		                                 &rows, errstr, errstr_size);
	json_array_foreach (rows, i, row) {
		char k[CPS_NAME_MAX + 256];
		const char *key = json_string_value(json_array_get(row, 0));
		struct slot_view s;

		snprintf(k, sizeof(k), "enrolment/%s", key);
		if (cps_worker_attempt_view(a, k, &s) && changed[s.flat])
			continue; /* checked as the batch's own change */
		if (i >= RECHECK_MAX) {
			skipped++;
			continue;
		}
		t[(*n)++] = (struct target){"enrolment",
		                            key,
		                            {json_array_get(row, 2), NULL},
		                            0,
		                            json_integer_value(json_array_get(row, 1))};
	}
	if (skipped)
		cps_log_warn(
		    FAC,
		    "policy: more than %d enrolments read the batch's changed persons or households: those past the cap are left unchecked until they or their subject change",
		    RECHECK_MAX);
	if (rows)
		json_array_append_new(a->keep, rows); /* the targets' keys and records */
	json_decref(subjects);
	json_decref(households);
	json_decref(seen);
	return rc;
}

/* Marks in changed[] the enrolments and verifications the batch changed and
 * lists them in t; their number. */
static size_t batch_targets(struct attempt *a, bool *changed, struct target *t)
{
	size_t n = 0;

	for (size_t i = 0; i < a->n_emits; i++) {
		char k[CPS_NAME_MAX + 256];
		struct slot_view s;

		snprintf(k, sizeof(k), "%s/%s", a->emits[i].entity, a->emits[i].key);
		if (!checked_entity(a->emits[i].entity) || !cps_worker_attempt_view(a, k, &s) ||
		    changed[s.flat])
			continue;
		changed[s.flat] = true;
		t[n++] = (struct target){s.entity, s.key, {s.record, s.ts}, s.deleted, 0};
	}
	return n;
}

/* Whether the batch changed a person or household (whose enrolments then
 * are rechecked). */
static bool changes_registers(struct attempt *a)
{
	for (size_t i = 0; i < a->n_emits; i++)
		if (!strcmp(a->emits[i].entity, "person") ||
		    !strcmp(a->emits[i].entity, "household"))
			return true;
	return false;
}

static int policy_init(struct cps_worker_policy **wp, char *errstr, size_t errstr_size)
{
	if (*wp)
		return CPS_OK;
	if (!(*wp = calloc(1, sizeof(**wp))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	cps_buf_init(&(*wp)->bytes, 0);
	cps_arena_init(&(*wp)->arena, 1 << 16);
	return CPS_OK;
}

/* Evaluates the targets into a->policy. */
static int evaluate_targets(struct lookup *l, const struct cps_policy *policy,
                            const struct target *t, size_t n, char *errstr, size_t errstr_size)
{
	struct cps_policy_lookup lk = {person_of, household_of, l};
	int32_t day = (int32_t)((cps_wall_ms() + CHINA_OFFSET_MS) / DAY_MS);
	struct attempt *a = l->a;
	int rc = CPS_OK;

	if (!(a->policy = calloc(n, sizeof(*a->policy))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; rc == CPS_OK && i < n; i++) {
		struct cps_policy_record rec;
		json_t *findings = json_array();

		json_array_append_new(a->keep, findings);
		if (!t[i].deleted && rec_typed(l, t[i].entity, t[i].record, &rec) &&
		    cps_policy_evaluate(policy, t[i].entity, t[i].key, &rec, &lk, day, findings) !=
		        CPS_OK)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		a->policy[a->n_policy++] = (struct cps_store_policy){
		    t[i].entity, t[i].key, findings, t[i].version, t[i].record.json};
		cps_arena_reset(&l->wp->arena);
	}
	return rc;
}

int cps_worker_policy_pass(struct worker *w, struct attempt *a, char *errstr, size_t errstr_size)
{
	struct cps_live *live = w->pool->conf.policy_live;
	const struct cps_policy *policy = live ? cps_live_take(live) : w->pool->conf.policy;
	struct lookup l = {w->pool->conf.catalog, NULL, w->store, a, json_object()};
	bool *changed = calloc(a->n_states + a->n_tstates + 1, sizeof(*changed));
	struct target *t = calloc(a->n_emits + RECHECK_MAX + 1, sizeof(*t));
	size_t n = 0;
	int rc = CPS_OK;

	if (!changed || !t || !l.loaded)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (rc == CPS_OK)
		n = batch_targets(a, changed, t);
	if (rc == CPS_OK)
		rc = policy_init(&w->policy, errstr, errstr_size);
	l.wp = w->policy;
	if (rc == CPS_OK && changes_registers(a))
		rc = add_rechecks(&l, changed, t, &n, errstr, errstr_size);
	if (rc == CPS_OK && n)
		rc = preload(&l, t, n, errstr, errstr_size);
	if (rc == CPS_OK && n)
		rc = evaluate_targets(&l, policy, t, n, errstr, errstr_size);
	json_decref(l.loaded);
	free(changed);
	free(t);
	if (live)
		cps_live_give(live, (void *)policy);
	return rc;
}

/* ---- the checks of `rules apply` (store_rules.h) -------------------------------- */

struct cps_policy_checker {
	struct cps_catalog *catalog;
	struct cps_live *policy_live;
	struct cps_worker_policy *wp;
};

int cps_policy_checker_new(struct cps_catalog *catalog, struct cps_live *policy_live,
                           struct cps_policy_checker **out, char *errstr, size_t errstr_size)
{
	if (!(*out = calloc(1, sizeof(**out))))
		return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	(*out)->catalog = catalog;
	(*out)->policy_live = policy_live;
	return CPS_OK;
}

void cps_policy_checker_free(struct cps_policy_checker *pc)
{
	if (!pc)
		return;
	cps_worker_policy_free(pc->wp);
	free(pc);
}

int cps_policy_checker_check(void *ctx, struct cps_store *s, const struct cps_key_state *st,
                             json_t **findings, char *errstr, size_t errstr_size)
{
	struct cps_policy_checker *pc = ctx;
	const struct cps_policy *policy = cps_live_take(pc->policy_live);
	struct target t = {st->entity, st->key, {st->record, NULL}, st->deleted, 0};
	struct lookup l = {pc->catalog, NULL, s, NULL, json_object()};
	int rc = CPS_OK;

	*findings = NULL;
	if (!policy || !checked_entity(st->entity))
		goto out; /* no policy in force, or an entity it does not check */
	if (!l.loaded || !(*findings = json_array()))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	if (rc == CPS_OK)
		rc = policy_init(&pc->wp, errstr, errstr_size);
	l.wp = pc->wp;
	if (rc == CPS_OK && !st->deleted)
		rc = preload(&l, &t, 1, errstr, errstr_size);
	if (rc == CPS_OK && !st->deleted) {
		struct cps_policy_lookup lk = {person_of, household_of, &l};
		int32_t day = (int32_t)((cps_wall_ms() + CHINA_OFFSET_MS) / DAY_MS);
		struct cps_policy_record rec;

		if (typed(pc->catalog, pc->wp, st->entity, st->record, &rec) &&
		    cps_policy_evaluate(policy, st->entity, st->key, &rec, &lk, day, *findings) !=
		        CPS_OK)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		cps_arena_reset(&pc->wp->arena);
	}
	if (rc != CPS_OK) {
		json_decref(*findings);
		*findings = NULL;
	}
out:
	json_decref(l.loaded);
	cps_live_give(pc->policy_live, (void *)policy);
	return rc;
}
