/*
 * The policy's checks on a batch (policy/policy.h, issue 12): every
 * enrolment and verification whose unified record the batch changed is
 * checked, with the person and household its checks read — the batch's
 * own states first, the store's for the rest, in at most two queries (the
 * subjects, then their households or heads). What is found goes into the
 * batch's own transaction (cpsync.policy_findings), so findings and the
 * version they are about commit together. Records become typed through
 * their Avro encoding (the engine's state is still Avro JSON).
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
static int typed(struct worker *w, const char *entity, json_t *j, struct cps_policy_record *out)
{
	struct cps_worker_policy *wp = w->policy;
	char err[CPS_ERRSTR_SIZE];
	struct cps_tval *v;
	size_t e = 0;

	while (e < CPS_ARRAY_SIZE(typed_entities) && strcmp(typed_entities[e], entity))
		e++;
	if (e == CPS_ARRAY_SIZE(typed_entities) || !json_is_object(j))
		return 0;
	if (!wp->codec[e] && (cps_codec_for_entity(w->pool->conf.catalog, entity, &wp->codec[e],
	                                           err, sizeof(err)) != CPS_OK ||
	                      cps_record_schema_new(cps_codec_schema(wp->codec[e]), &wp->rs[e], err,
	                                            sizeof(err)) != CPS_OK))
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
	struct worker *w;
	struct attempt *a;
	json_t *loaded; /* "entity/key" -> record (Avro JSON) read from the store */
};

static json_t *record_of(struct lookup *l, const char *entity, const char *key)
{
	char k[CPS_NAME_MAX + 256];
	json_t *idx;

	snprintf(k, sizeof(k), "%s/%s", entity, key);
	if ((idx = json_object_get(l->a->index, k)))
		return l->a->states[json_integer_value(idx)]->record;
	return json_object_get(l->loaded, k);
}

static int find(struct lookup *l, const char *entity, const char *key,
                struct cps_policy_record *out)
{
	json_t *r = record_of(l, entity, key);

	return r && !json_is_null(r) && typed(l->w, entity, r, out);
}

static int person_of(void *ctx, const char *id, struct cps_policy_record *out)
{
	return find(ctx, "person", id, out);
}

static int household_of(void *ctx, const char *id, struct cps_policy_record *out)
{
	return find(ctx, "household", id, out);
}

/* A string field of Avro JSON record r (a union's branch unwrapped). */
static const char *jstr(json_t *r, const char *field)
{
	json_t *v = json_object_get(r, field);

	if (json_is_object(v) && json_object_size(v) == 1)
		v = json_object_iter_value(json_object_iter(v));
	return json_string_value(v);
}

/* Adds (entity, key) to `want` unless the batch or l->loaded has it. */
static void want_key(struct lookup *l, json_t *want, const char *entity, const char *key)
{
	char k[CPS_NAME_MAX + 256];

	if (!key)
		return;
	snprintf(k, sizeof(k), "%s/%s", entity, key);
	if (!json_object_get(l->a->index, k) && !json_object_get(l->loaded, k))
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
		rc = cps_store_load_states(l->w->store, st, n, errstr, errstr_size);
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

/* Whether the checks read records of s's entity as the changed record. */
static bool checked_entity(const struct cps_key_state *s)
{
	return !strcmp(s->entity, "enrolment") || !strcmp(s->entity, "verification");
}

/* Reads what the enrolments' checks need: their subjects, then the
 * subjects' households (a person's) or heads (a household's). */
static int preload(struct lookup *l, const bool *changed, char *errstr, size_t errstr_size)
{
	for (int round = 0; round < 2; round++) {
		json_t *want = json_object();
		int rc;

		if (!want)
			return cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		for (size_t i = 0; i < l->a->n_states; i++) {
			json_t *r = l->a->states[i]->record, *subject;
			const char *type = jstr(r, "subject_type"), *id = jstr(r, "subject_id");
			bool person = type && !strcmp(type, "PERSON");

			if (!changed[i] || strcmp(l->a->states[i]->entity, "enrolment") || !id)
				continue;
			if (round == 0) {
				want_key(l, want, person ? "person" : "household", id);
				continue;
			}
			subject = record_of(l, person ? "person" : "household", id);
			if (person)
				want_key(l, want, "household", jstr(subject, "household_id"));
			else
				want_key(l, want, "person", jstr(subject, "head_national_id"));
		}
		rc = load(l, want, errstr, errstr_size);
		json_decref(want);
		if (rc != CPS_OK)
			return rc;
	}
	return CPS_OK;
}

int cps_worker_policy_pass(struct worker *w, struct attempt *a, char *errstr, size_t errstr_size)
{
	struct cps_live *live = w->pool->conf.policy_live;
	const struct cps_policy *policy = live ? cps_live_take(live) : w->pool->conf.policy;
	struct lookup l = {w, a, json_object()};
	struct cps_policy_lookup lk = {person_of, household_of, &l};
	int32_t day = (int32_t)((cps_wall_ms() + CHINA_OFFSET_MS) / DAY_MS);
	bool *changed = calloc(a->n_states ? a->n_states : 1, sizeof(*changed));
	size_t n = 0;
	int rc = CPS_OK;

	if (!changed || !l.loaded)
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; rc == CPS_OK && i < a->n_emits; i++) {
		char k[CPS_NAME_MAX + 256];
		json_t *idx;

		snprintf(k, sizeof(k), "%s/%s", a->emits[i].entity, a->emits[i].key);
		if ((idx = json_object_get(a->index, k)) &&
		    checked_entity(a->states[json_integer_value(idx)]) &&
		    !changed[json_integer_value(idx)]) {
			changed[json_integer_value(idx)] = true;
			n++;
		}
	}
	if (rc == CPS_OK && n && !w->policy) {
		if (!(w->policy = calloc(1, sizeof(*w->policy))))
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		else {
			cps_buf_init(&w->policy->bytes, 0);
			cps_arena_init(&w->policy->arena, 1 << 16);
		}
	}
	if (rc == CPS_OK && n)
		rc = preload(&l, changed, errstr, errstr_size);
	if (rc == CPS_OK && n && !(a->policy = calloc(n, sizeof(*a->policy))))
		rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
	for (size_t i = 0; rc == CPS_OK && i < a->n_states; i++) {
		struct cps_key_state *s = a->states[i];
		struct cps_policy_record rec;
		json_t *findings;

		if (!changed[i])
			continue;
		findings = json_array();
		json_array_append_new(a->keep, findings);
		if (!s->deleted && typed(w, s->entity, s->record, &rec) &&
		    cps_policy_evaluate(policy, s->entity, s->key, &rec, &lk, day, findings) !=
		        CPS_OK)
			rc = cps_seterr(CPS_ERR_FATAL, errstr, errstr_size, "out of memory");
		a->policy[a->n_policy++] = (struct cps_store_policy){s->entity, s->key, findings};
		cps_arena_reset(&w->policy->arena);
	}
	json_decref(l.loaded);
	free(changed);
	if (live)
		cps_live_give(live, (void *)policy);
	return rc;
}
