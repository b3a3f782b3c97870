/*
 * The demo follows the policy of 深民〔2021〕80号 (issue 12, item 6): the
 * generator's records, run for a simulated year and a half of changes, are
 * checked with the default policy (deploy/policy.default.yaml) as the
 * unified records would be. Gradual exits last exactly 6 months and start
 * only above the 低保 standard; residence-permit holders are enrolled where
 * they live; and a small, deliberate rate of violations leaves stewards
 * findings of several kinds to see, already in the initial load.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/arena.h"
#include "base/common.h"
#include "codec/schema.h"
#include "config/config.h"
#include "demo/demo.h"
#include "policy/policy.h"
#include "testcases.h"
#include "testrecords.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define PEOPLE  3000
#define CHANGES 20000
#define STEP_MS (30LL * 60 * 1000) /* one change every simulated half hour */
#define START   1767225600000LL    /* 2026-01-01 */

static struct cps_catalog *catalog;

/* The latest record of each key per entity, as the granting (local)
 * platform states it: the city's or Shenshan's. */
struct latest {
	json_t *by_entity[CPS_DEMO_ENTITIES];
	int permit_holders;
};

static int keep(void *arg, const struct cps_demo_msg *m)
{
	struct latest *l = arg;

	if (m->platform == CPS_DEMO_PROVINCE)
		return 0;
	if (m->record)
		json_object_set(l->by_entity[m->entity], m->key, m->record);
	else
		json_object_del(l->by_entity[m->entity], m->key);
	return 0;
}

struct lookup_ctx {
	struct latest *l;
	struct cps_arena *arena;
};

static int find(struct lookup_ctx *x, enum cps_demo_entity ent, const char *name, const char *key,
                struct cps_policy_record *out)
{
	json_t *j = json_object_get(x->l->by_entity[ent], key);

	if (!j)
		return 0;
	out->value = cps_test_typed(catalog, name, j, x->arena, &out->type);
	assert_non_null(out->value);
	return 1;
}

static int person_of(void *ctx, const char *id, struct cps_policy_record *out)
{
	return find(ctx, CPS_DEMO_PERSON, "person", id, out);
}

static int household_of(void *ctx, const char *id, struct cps_policy_record *out)
{
	return find(ctx, CPS_DEMO_HOUSEHOLD, "household", id, out);
}

static struct cps_policy *default_policy(void)
{
	char path[1200], err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg = NULL;
	struct cps_policy *p = NULL;
	char *text;

	snprintf(path, sizeof(path), "%s/deploy/policy.default.yaml",
	         getenv("CPSYNC_SOURCE_DIR") ? getenv("CPSYNC_SOURCE_DIR") : ".");
	text = cps_test_read_file(path);
	assert_non_null(text);
	if (cps_config_load_string(text, strlen(text), "policy.default.yaml", NULL, &cfg, err,
	                           sizeof(err)) != CPS_OK ||
	    cps_policy_from_config(cfg, &p, err, sizeof(err)) != CPS_OK)
		fail_msg("policy: %s", err);
	cps_config_free(cfg);
	free(text);
	return p;
}

/* Findings per check over every enrolment and verification; returns how
 * many records had any. */
static size_t evaluate(struct cps_policy *p, struct latest *l, int32_t day, size_t *per_check,
                       size_t *evaluated)
{
	static const struct {
		enum cps_demo_entity ent;
		const char *name;
	} checked[] = {{CPS_DEMO_ENROLMENT, "enrolment"}, {CPS_DEMO_VERIFICATION, "verification"}};
	struct cps_arena arena;
	struct lookup_ctx x = {l, &arena};
	struct cps_policy_lookup lk = {person_of, household_of, &x};
	size_t with_findings = 0;

	cps_arena_init(&arena, 1 << 16);
	for (size_t c = 0; c < CPS_ARRAY_SIZE(checked); c++) {
		const char *key;
		json_t *j;

		json_object_foreach (l->by_entity[checked[c].ent], key, j) {
			struct cps_policy_record rec;
			json_t *findings = json_array(), *f;
			size_t i;

			rec.value = cps_test_typed(catalog, checked[c].name, j, &arena, &rec.type);
			assert_non_null(rec.value);
			assert_int_equal(
			    cps_policy_evaluate(p, checked[c].name, key, &rec, &lk, day, findings),
			    CPS_OK);
			json_array_foreach (findings, i, f)
				per_check[cps_policy_check_parse(
				    json_string_value(json_object_get(f, "check")))]++;
			with_findings += json_array_size(findings) > 0;
			(*evaluated)++;
			json_decref(findings);
			cps_arena_reset(&arena);
		}
	}
	cps_arena_release(&arena);
	return with_findings;
}

/* Unions of the Avro JSON records: {"string": "440305"} or null. */
static const char *opt_str(json_t *rec, const char *field)
{
	json_t *v = json_object_get(rec, field);

	return json_is_object(v) ? json_string_value(json_object_get(v, "string"))
	                         : json_string_value(v);
}

/* Residence-permit holders, and temporary assistance for an emergency
 * outside the home district (of which: granted where it happened). */
static void region_facts(struct latest *l, size_t *permit, size_t *elsewhere, size_t *granted_there)
{
	const char *key;
	json_t *j;

	*permit = *elsewhere = *granted_there = 0;
	json_object_foreach (l->by_entity[CPS_DEMO_PERSON], key, j)
		*permit += json_is_true(json_object_get(j, "has_residence_permit"));
	json_object_foreach (l->by_entity[CPS_DEMO_ENROLMENT], key, j) {
		json_t *h =
		    json_object_get(l->by_entity[CPS_DEMO_HOUSEHOLD], opt_str(j, "subject_id"));
		const char *emergency = opt_str(j, "emergency_region_code");

		if (strcmp(opt_str(j, "programme"), "TEMPORARY_ASSISTANCE") || !h || !emergency ||
		    !strcmp(emergency, opt_str(h, "region_code")))
			continue;
		(*elsewhere)++;
		*granted_there += !strcmp(emergency, opt_str(j, "granting_region_code"));
	}
}

static void test_demo_follows_the_policy(void **state)
{
	struct cps_demo_conf conf = {.people = PEOPLE, .seed = 20261203};
	struct latest l = {0};
	struct cps_demo_gen *g;
	struct cps_policy *p = default_policy();
	size_t per_check[CPS_POLICY_CHECKS] = {0}, evaluated = 0, with, kinds = 0;
	size_t permit, elsewhere, granted_there;
	char err[CPS_ERRSTR_SIZE];
	int64_t now = START;

	(void)state;
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
		l.by_entity[e] = json_object();
	assert_int_equal(cps_demo_gen_new(&conf, &g, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_demo_gen_initial(g, keep, &l), 0);
	for (int i = 0; i < CHANGES; i++, now += STEP_MS)
		assert_int_equal(cps_demo_gen_change(g, now, keep, &l), 0);
	cps_demo_gen_free(g);

	with = evaluate(p, &l, (int32_t)(now / 86400000), per_check, &evaluated);
	for (int c = 0; c < CPS_POLICY_CHECKS; c++) {
		printf("  %-32s %zu\n", cps_policy_check_code(c), per_check[c]);
		kinds += per_check[c] > 0;
	}
	printf("%zu of %zu enrolments and verifications with findings, %zu kinds\n", with,
	       evaluated, kinds);
	/* the rules the generator keeps itself */
	assert_int_equal(per_check[CPS_POLICY_GRADUAL_EXIT_NOT_SIX_MONTHS], 0);
	assert_int_equal(per_check[CPS_POLICY_VERIFICATION_TOTAL_MISMATCH], 0);
	assert_int_equal(per_check[CPS_POLICY_VERIFICATION_PER_CAPITA], 0);
	/* permit holders, emergencies away from home granted where they happened */
	region_facts(&l, &permit, &elsewhere, &granted_there);
	printf("%zu residence-permit holders; %zu emergencies outside the home district, %zu "
	       "granted there\n",
	       permit, elsewhere, granted_there);
	assert_true(permit * 100 > PEOPLE * 3);
	assert_true(elsewhere >= 20 && granted_there * 3 >= elsewhere * 2);
	/* a small, deliberate rate of violations, of several kinds */
	assert_true(per_check[CPS_POLICY_TEMPORARY_WRONG_REGION] > 0 &&
	            per_check[CPS_POLICY_TEMPORARY_WRONG_REGION] * 100 < evaluated);
	assert_true(per_check[CPS_POLICY_PERMIT_HOLDER_WRONG_REGION] > 0 &&
	            per_check[CPS_POLICY_PERMIT_HOLDER_WRONG_REGION] * 20 < permit);
	assert_true(kinds >= 4);
	assert_true(with > 0 && with * 100 < evaluated * 5);
	for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
		json_decref(l.by_entity[e]);
	cps_policy_free(p);
}

/* The initial load alone, as `cpsync demo` (seed 20211201) and this
 * file's seed build it for 3000 people: findings of at least five kinds
 * before any change, each one rare, and none of the rules the generator
 * keeps. A new demo shows stewards findings at once. */
static void test_initial_load_has_findings(void **state)
{
	static const uint64_t seeds[] = {20211201, 20261203};
	static const enum cps_policy_check initial[] = {
	    CPS_POLICY_EXITED_DURING_GRADUAL_EXIT,   CPS_POLICY_INCOME_ABOVE_STANDARD_ACTIVE,
	    CPS_POLICY_VERIFICATION_COUNTS_EXCLUDED, CPS_POLICY_SINGLE_PERSON_NOT_ELIGIBLE,
	    CPS_POLICY_TEMPORARY_WRONG_REGION,       CPS_POLICY_PERMIT_HOLDER_WRONG_REGION};
	struct cps_policy *p = default_policy();
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	for (size_t s = 0; s < CPS_ARRAY_SIZE(seeds); s++) {
		struct cps_demo_conf conf = {.people = PEOPLE, .seed = seeds[s]};
		size_t per_check[CPS_POLICY_CHECKS] = {0}, evaluated = 0, with, kinds = 0;
		struct latest l = {0};
		struct cps_demo_gen *g;

		for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
			l.by_entity[e] = json_object();
		assert_int_equal(cps_demo_gen_new(&conf, &g, err, sizeof(err)), CPS_OK);
		assert_int_equal(cps_demo_gen_initial(g, keep, &l), 0);
		cps_demo_gen_free(g);
		with = evaluate(p, &l, (int32_t)(START / 86400000), per_check, &evaluated);
		printf("seed %llu, initial load:\n", (unsigned long long)seeds[s]);
		for (int c = 0; c < CPS_POLICY_CHECKS; c++)
			if (per_check[c])
				printf("  %-32s %zu\n", cps_policy_check_code(c), per_check[c]);
		for (size_t i = 0; i < CPS_ARRAY_SIZE(initial); i++)
			kinds += per_check[initial[i]] > 0;
		printf("%zu of %zu enrolments and verifications with findings, %zu of the %zu "
		       "kinds\n",
		       with, evaluated, kinds, CPS_ARRAY_SIZE(initial));
		assert_true(kinds >= 5);
		for (size_t i = 0; i < CPS_ARRAY_SIZE(initial); i++)
			assert_true(per_check[initial[i]] * 100 < evaluated);
		assert_int_equal(per_check[CPS_POLICY_GRADUAL_EXIT_NOT_SIX_MONTHS], 0);
		assert_int_equal(per_check[CPS_POLICY_VERIFICATION_TOTAL_MISMATCH], 0);
		assert_int_equal(per_check[CPS_POLICY_VERIFICATION_PER_CAPITA], 0);
		assert_int_equal(per_check[CPS_POLICY_DECEASED_ENROLLED], 0);
		assert_true(with > 0 && with * 100 < evaluated * 5);
		for (int e = 0; e < CPS_DEMO_ENTITIES; e++)
			json_decref(l.by_entity[e]);
	}
	cps_policy_free(p);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_demo_follows_the_policy),
	    cmocka_unit_test(test_initial_load_has_findings),
	};
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	char err[CPS_ERRSTR_SIZE];
	int failed;

	if (cps_catalog_load_dir(dir ? dir : "schemas", &catalog, err, sizeof(err)) != CPS_OK) {
		fprintf(stderr, "catalog: %s\n", err);
		return 1;
	}
	failed = cmocka_run_group_tests(tests, NULL, NULL);
	cps_test_typed_release();
	cps_catalog_free(catalog);
	return failed;
}
