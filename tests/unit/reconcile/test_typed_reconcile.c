/*
 * The typed reconcile engine (reconcile/typed_reconcile.h) against the JSON
 * engine on random streams: for every reconcile case's rules, entity and
 * key, 30 streams of 30 events from the three platforms — upserts whose
 * fields are drawn from the values the cases' records hold (so values
 * collide and differ), deletes, equal and older stamps, the same event
 * delivered again, now and then a steward's decision on an open conflict
 * and a rerun under other rules (latest with conflicts, manual, another
 * precedence), each made by both engines. After every step both must hold
 * the same state and report the same outcome, and every event's unified
 * event must be the same bytes from either state. A failure names the case, stream and event (the streams
 * are seeded from those, so it replays).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "model/entity.h"
#include "model/event.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"
#include "reconcile/typed_reconcile.h"
#include "testcases.h"
#include "testengines.h"

#include <glob.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define STREAMS 30
#define EVENTS  30

static const char *const platforms[] = {"province", "city", "shenshan"};

/* Every record of the cases, by entity: {"person": [record, …], …}. */
static json_t *records;

static uint32_t next(uint64_t *seed)
{
	*seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
	return (uint32_t)(*seed >> 33);
}

static json_t *pick(json_t *list, uint64_t *seed)
{
	return json_array_get(list, next(seed) % json_array_size(list));
}

/* A record of `entity` for `key`: one of the cases' records with about a
 * third of its fields taken from other records. */
static json_t *random_record(const char *entity, const char *key, uint64_t *seed)
{
	json_t *pool = json_object_get(records, entity);
	const struct cps_record_schema *rs = cps_test_entity_schema(entity);
	json_t *rec = json_deep_copy(pick(pool, seed)), *v;
	const char *kf = cps_entity_key_field(entity), *field;
	void *tmp;

	json_object_foreach_safe (rec, tmp, field, v) {
		json_t *other = json_object_get(pick(pool, seed), field);

		if (other && next(seed) % 3 == 0)
			json_object_set(rec, field, other);
	}
	if (kf)
		json_object_set_new(rec, kf, json_string(key));
	/* a nullable field added since the cases were written reads as null */
	for (size_t f = 0; f < rs->root->n; f++)
		if (rs->root->fields[f].nullable && !json_object_get(rec, rs->root->fields[f].name))
			json_object_set_new(rec, rs->root->fields[f].name, json_null());
	return rec;
}

static void random_event(struct cps_ingest_event *ev, const char *entity, const char *key,
                         uint64_t *seed)
{
	const char *platform = platforms[next(seed) % 3];
	char pos[64];

	memset(ev, 0, sizeof(*ev));
	snprintf(ev->platform, sizeof(ev->platform), "%s", platform);
	snprintf(ev->entity, sizeof(ev->entity), "%s", entity);
	ev->key = strdup(key);
	ev->op = next(seed) % 100 < 12 ? CPS_OP_DELETE : CPS_OP_UPSERT;
	/* few distinct times: equal and older stamps are common */
	ev->effective_ms = 1717200000000 + (int64_t)(next(seed) % 6) * 3600000;
	ev->source_ms = ev->effective_ms + (int64_t)(next(seed) % 3) * 1000;
	uint32_t stream = next(seed) % 2, offset = next(seed) % 40;

	/* two streams a platform: positions of different ones do not compare */
	snprintf(pos, sizeof(pos), "%s:t/%u@%u", platform, stream, offset);
	ev->source_position = strdup(pos);
	if (ev->op == CPS_OP_UPSERT)
		ev->record = random_record(entity, key, seed);
	assert_true(ev->key && ev->source_position);
}

/* A steward's decision on one of the state's open conflicts, if any, made
 * by both engines. */
static void random_decision(const struct cps_rules *rules, struct cps_key_state *st,
                            struct cps_tstate *ts, uint64_t *seed, const char *after)
{
	const char *field = NULL, *k, *platform, *reason = next(seed) % 2 ? "checked" : NULL;
	char name[64];
	json_t *c, *cand, *value = NULL;
	enum cps_resolution how = (enum cps_resolution)(next(seed) % 3);
	int64_t id = (int64_t)(next(seed) % 100), now;
	struct cps_reconcile_outcome o;
	char err[CPS_ERRSTR_SIZE];

	json_object_foreach (st->conflicts, k, c) {
		if (!field || next(seed) % 2)
			field = k;
	}
	if (!field)
		return;
	/* the conflict's key goes with the conflict: keep the name */
	snprintf(name, sizeof(name), "%s", field);
	field = name;
	now = 1717200000000 + (int64_t)(next(seed) % 8) * 3600000;
	cand = pick(json_object_get(json_object_get(st->conflicts, field), "candidates"), seed);
	platform = json_string_value(json_object_get(cand, "platform"));
	if (how == CPS_RESOLVE_ENTER_VALUE)
		value = json_incref(json_object_get(cand, "v"));
	platform = platform ? strdup(platform) : NULL;
	cps_reconcile_outcome_init(&o);
	if (cps_reconcile_resolve(rules, st, field, how, platform, value, "random.steward", reason,
	                          id, now, &o, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: decision on '%s': %s", after, field, err);
	cps_test_decisions_agree(rules, ts, st, field, how, platform, value, "random.steward",
	                         reason, id, now, &o, after);
	cps_reconcile_outcome_release(&o);
	free((char *)platform);
	json_decref(value);
}

/* The state decided again under other rules (a rules change), by both. */
static void random_rerun(const char *entity, struct cps_key_state *st, struct cps_tstate *ts,
                         uint64_t *seed, const char *after)
{
	static const char *const defaults[] = {
	    "{\"rule\": \"latest\", \"on_disagree\": \"conflict\"}",
	    "{\"rule\": \"manual\", \"platforms\": [\"shenshan\", \"city\", \"province\"]}",
	    ("{\"rule\": \"precedence\", \"platforms\": [\"shenshan\", \"province\"], "
	     "\"on_disagree\": \"flag\"}"),
	};
	char text[512], err[CPS_ERRSTR_SIZE];
	struct cps_rules *rules;
	struct cps_reconcile_outcome o;
	json_t *j;
	int64_t now = 1717200000000 + (int64_t)(next(seed) % 8) * 3600000;

	snprintf(text, sizeof(text), "{\"%s\": {\"version\": %u, \"default\": %s}}", entity,
	         3 + next(seed) % 5, defaults[next(seed) % CPS_ARRAY_SIZE(defaults)]);
	j = cps_test_json(text);
	if (cps_rules_from_json(j, &rules, err, sizeof(err)) != CPS_OK)
		fail_msg("rules %s: %s", text, err);
	cps_reconcile_outcome_init(&o);
	if (cps_reconcile_rerun(rules, st, now, &o, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: rerun: %s", after, err);
	cps_test_reruns_agree(rules, ts, st, now, &o, after);
	cps_reconcile_outcome_release(&o);
	cps_rules_free(rules);
	json_decref(j);
}

static void run_stream(const struct cps_rules *rules, const char *entity, const char *key,
                       const char *name, uint64_t seed)
{
	const struct cps_record_schema *rs = cps_test_entity_schema(entity);
	struct cps_key_state st;
	struct cps_ingest_event ev = {0}, again;
	struct cps_arena arena;
	struct cps_tstate ts;
	char err[CPS_ERRSTR_SIZE], after[160];
	const uint64_t first = seed;

	assert_int_equal(cps_key_state_init(&st, entity, key), CPS_OK);
	cps_arena_init(&arena, 0);
	assert_int_equal(cps_tstate_init(&ts, rs, entity, key, &arena, err, sizeof(err)), CPS_OK);
	for (int i = 0; i < EVENTS; i++) {
		struct cps_reconcile_outcome o;
		bool redeliver = i > 0 && next(&seed) % 10 == 0;

		snprintf(after, sizeof(after), "%s, stream seed %llu, event %d", name,
		         (unsigned long long)first, i);
		if (!redeliver) {
			cps_ingest_event_release(&ev);
			random_event(&ev, entity, key, &seed);
		}
		again = ev; /* the same event delivered again when redeliver */
		cps_reconcile_outcome_init(&o);
		if (cps_reconcile_apply(rules, &st, &again, &o, err, sizeof(err)) != CPS_OK)
			fail_msg("%s: JSON engine: %s", after, err);
		cps_test_engines_agree(rules, &ts, &st, &again, &o, after);
		cps_reconcile_outcome_release(&o);
		if (next(&seed) % 100 < 8)
			random_decision(rules, &st, &ts, &seed, after);
		if (next(&seed) % 100 < 4)
			random_rerun(entity, &st, &ts, &seed, after);
		cps_test_typed_round_trip(&st, after);
	}
	cps_ingest_event_release(&ev);
	cps_key_state_release(&st);
	cps_arena_release(&arena);
}

static void run_case(void **state)
{
	const char *path = *state;
	json_t *c = json_load_file(path, 0, NULL);
	const char *entity = json_string_value(json_object_get(c, "entity"));
	const char *key = json_string_value(json_object_get(c, "key"));
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	struct cps_rules *rules;
	char err[CPS_ERRSTR_SIZE];

	assert_non_null(c);
	if (cps_rules_from_json(json_object_get(c, "rules"), &rules, err, sizeof(err)) != CPS_OK)
		fail_msg("%s: rules: %s", name, err);
	uint64_t base = 1469598103934665603ull; /* FNV-1a of the case's name */

	for (const char *p = name; *p; p++)
		base = (base ^ (uint8_t)*p) * 1099511628211ull;
	for (uint64_t s = 0; s < STREAMS; s++)
		run_stream(rules, entity, key, name, base + s);
	cps_rules_free(rules);
	json_decref(c);
}

/* Gathers every upsert's record of the cases, by entity. */
static int gather_records(const char *dir)
{
	char pattern[1200];
	glob_t g;

	records = json_object();
	snprintf(pattern, sizeof(pattern), "%s/*.json", dir);
	if (glob(pattern, 0, NULL, &g) != 0)
		return -1;
	for (size_t i = 0; i < g.gl_pathc; i++) {
		json_t *c = json_load_file(g.gl_pathv[i], 0, NULL), *e;
		const char *entity = json_string_value(json_object_get(c, "entity"));
		size_t j;

		if (!json_object_get(records, entity))
			json_object_set_new(records, entity, json_array());
		json_array_foreach (json_object_get(c, "events"), j, e) {
			if (json_object_get(e, "record"))
				json_array_append(json_object_get(records, entity),
				                  json_object_get(e, "record"));
		}
		json_decref(c);
	}
	globfree(&g);
	return 0;
}

int main(void)
{
	const char *src = getenv("CPSYNC_SOURCE_DIR");
	char dir[1100];
	struct CMUnitTest cases[512];
	size_t n;
	int failed;

	snprintf(dir, sizeof(dir), "%s/tests/reconcile/cases", src ? src : ".");
	if (gather_records(dir) != 0) {
		fprintf(stderr, "no cases in %s\n", dir);
		return 1;
	}
	n = cps_test_json_cases(dir, run_case, cases, CPS_ARRAY_SIZE(cases));
	failed = n ? _cmocka_run_group_tests("typed_vs_json", cases, n, NULL, NULL) : 1;
	cps_test_json_cases_free(cases, n);
	cps_test_entity_schemas_free();
	json_decref(records);
	return failed ? 1 : 0;
}
