/*
 * Tests of sync/policy: every data-file case of tests/policy/cases/ (format:
 * tests/policy/README.md) — a unified record with its subject and household,
 * a day, and exactly the checks that must fire — each reported by name; the
 * standards' own check; the default policy file, its errors, and the
 * civil-calendar arithmetic of the 6-month rule.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/arena.h"
#include "base/common.h"
#include "codec/record.h"
#include "codec/schema.h"
#include "config/config.h"
#include "policy/policy.h"
#include "policy/policy_int.h"
#include "testcases.h"
#include "testrecords.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char source_dir[1024];
static struct cps_catalog *catalog;

/* The typed form of Avro JSON record `j` of `entity`, as the engine has it. */
static struct cps_policy_record typed(const char *entity, json_t *j, struct cps_arena *arena)
{
	struct cps_policy_record r = {0};

	r.value = cps_test_typed(catalog, entity, j, arena, &r.type);
	if (!r.value)
		fail_msg("%s record does not fit its schema", entity);
	return r;
}

struct related {
	json_t *persons, *households; /* Avro JSON by key */
	struct cps_arena *arena;
};

static int find(struct related *r, json_t *by_key, const char *entity, const char *key,
                struct cps_policy_record *out)
{
	json_t *j = json_object_get(by_key, key);

	if (!j)
		return 0;
	*out = typed(entity, j, r->arena);
	return 1;
}

static int person_of(void *ctx, const char *id, struct cps_policy_record *out)
{
	struct related *r = ctx;

	return find(r, r->persons, "person", id, out);
}

static int household_of(void *ctx, const char *id, struct cps_policy_record *out)
{
	struct related *r = ctx;

	return find(r, r->households, "household", id, out);
}

/* ---- the policy under test ------------------------------------------------------ */

/* deploy/policy.default.yaml through the configuration's loader. */
static struct cps_policy *default_policy(void)
{
	char path[1200], err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg = NULL;
	struct cps_policy *p = NULL;
	char *text;

	snprintf(path, sizeof(path), "%s/deploy/policy.default.yaml", source_dir);
	text = cps_test_read_file(path);
	assert_non_null(text);
	if (cps_config_load_string(text, strlen(text), "policy.default.yaml", NULL, &cfg, err,
	                           sizeof(err)) != CPS_OK)
		fail_msg("config: %s", err);
	if (cps_policy_from_config(cfg, &p, err, sizeof(err)) != CPS_OK)
		fail_msg("policy: %s", err);
	cps_config_free(cfg);
	free(text);
	return p;
}

/* ---- the case runner -------------------------------------------------------------- */

static int32_t day_of(const char *s)
{
	int y = 0;
	unsigned m = 0, d = 0;

	if (!s || sscanf(s, "%d-%u-%u", &y, &m, &d) != 3)
		fail_msg("day '%s' is not YYYY-MM-DD", s ? s : "(none)");
	return cps_days_from_civil(y, m, d);
}

/* The checks found, as a sorted list of "CHECK field,field". */
static json_t *summary(json_t *findings)
{
	json_t *out = json_array(), *f, *name;
	size_t i, k;

	json_array_foreach (findings, i, f) {
		char line[512];
		size_t len = (size_t)snprintf(line, sizeof(line), "%s",
		                              json_string_value(json_object_get(f, "check")));

		json_array_foreach (json_object_get(f, "fields"), k, name)
			len += (size_t)snprintf(line + len, sizeof(line) - len, "%s%s",
			                        k ? "," : " ", json_string_value(name));
		json_array_append_new(out, json_string(line));
	}
	return out;
}

static int cmp_json_str(const void *a, const void *b)
{
	return strcmp(json_string_value(*(json_t *const *)a),
	              json_string_value(*(json_t *const *)b));
}

static json_t *sorted(json_t *arr)
{
	size_t n = json_array_size(arr);
	json_t **items = calloc(n ? n : 1, sizeof(*items)), *out = json_array();

	for (size_t i = 0; i < n; i++)
		items[i] = json_array_get(arr, i);
	qsort(items, n, sizeof(*items), cmp_json_str);
	for (size_t i = 0; i < n; i++)
		json_array_append(out, items[i]);
	free(items);
	return out;
}

static void run_case(void **state)
{
	const char *path = *state;
	json_error_t jerr;
	json_t *c = json_load_file(path, JSON_ALLOW_NUL, &jerr), *findings = json_array();
	json_t *lines, *got, *want;
	struct cps_arena arena;
	struct related rel = {0};
	struct cps_policy_lookup lk = {person_of, household_of, &rel};
	struct cps_policy *p = NULL;
	struct cps_policy_record rec;
	const char *entity;
	char err[CPS_ERRSTR_SIZE];
	char *g, *w;

	if (!c)
		fail_msg("%s: %s (line %d)", path, jerr.text, jerr.line);
	cps_arena_init(&arena, 4096);
	rel.arena = &arena;
	rel.persons = json_object_get(c, "persons");
	rel.households = json_object_get(c, "households");
	if (json_object_get(c, "policy")) {
		if (cps_policy_from_json(json_object_get(c, "policy"), &p, err, sizeof(err)) !=
		    CPS_OK)
			fail_msg("policy: %s", err);
	} else {
		p = default_policy();
	}
	entity = json_string_value(json_object_get(c, "entity"));
	if (!strcmp(entity, "standard")) {
		assert_int_equal(cps_policy_check_standards(p, findings), CPS_OK);
	} else {
		rec = typed(entity, json_object_get(c, "record"), &arena);
		assert_int_equal(cps_policy_evaluate(
		                     p, entity, json_string_value(json_object_get(c, "key")), &rec,
		                     &lk, day_of(json_string_value(json_object_get(c, "day"))),
		                     findings),
		                 CPS_OK);
	}
	lines = summary(findings);
	got = sorted(lines);
	json_decref(lines);
	want = sorted(json_object_get(c, "expect"));
	g = json_dumps(got, 0);
	w = json_dumps(want, 0);
	if (!json_equal(got, want))
		fail_msg("%s: found %s, expected %s", path, g, w);
	free(g);
	free(w);
	json_decref(got);
	json_decref(want);
	json_decref(findings);
	json_decref(c);
	cps_policy_free(p);
	cps_arena_release(&arena);
}

/* ---- unit tests ---------------------------------------------------------------- */

static void test_calendar(void **state)
{
	int y;
	unsigned m, d;

	(void)state;
	assert_int_equal(cps_days_from_civil(1970, 1, 1), 0);
	assert_int_equal(cps_days_from_civil(2024, 7, 1), 19905);
	cps_civil_from_days(19905, &y, &m, &d);
	assert_true(y == 2024 && m == 7 && d == 1);
	/* six months on: same day, or the target month's last */
	assert_int_equal(cps_add_months(cps_days_from_civil(2024, 1, 15), 6),
	                 cps_days_from_civil(2024, 7, 15));
	assert_int_equal(cps_add_months(cps_days_from_civil(2024, 8, 31), 6),
	                 cps_days_from_civil(2025, 2, 28));
	assert_int_equal(cps_add_months(cps_days_from_civil(2023, 8, 31), 6),
	                 cps_days_from_civil(2024, 2, 29));
	assert_int_equal(cps_add_months(cps_days_from_civil(2024, 12, 1), -13),
	                 cps_days_from_civil(2023, 11, 1));
	assert_int_equal(cps_add_months(cps_days_from_civil(1969, 12, 31), 2),
	                 cps_days_from_civil(1970, 2, 28));
}

static void test_default_policy(void **state)
{
	struct cps_policy *p = default_policy();
	const struct cps_policy_standard *s;
	json_t *findings = json_array();

	(void)state;
	assert_int_equal(p->n_standards, 2);
	for (int i = 0; i < CPS_POLICY_CHECKS; i++) {
		assert_true(p->checks[i].enabled);
		assert_int_equal(cps_policy_check_parse(cps_policy_check_code(i)), i);
		assert_non_null(
		    strstr("ELIGIBILITY_CHANGE DATA_INCONSISTENCY", p->checks[i].category));
	}
	assert_string_equal(p->checks[CPS_POLICY_INCOME_ABOVE_STANDARD_ACTIVE].severity, "HIGH");
	assert_string_equal(p->checks[CPS_POLICY_TEKUN_STANDARD_TOO_LOW].severity, "HIGH");
	/* Shenshan is level with the city; the period is the latest not after the day */
	s = cps_policy_standard_for(p, "441521", cps_days_from_civil(2024, 7, 1));
	assert_string_equal(s->name, "shenzhen_2024");
	assert_int_equal(s->dibao_fen, 136500);
	s = cps_policy_standard_for(p, "440305", cps_days_from_civil(2024, 6, 30));
	assert_string_equal(s->name, "shenzhen_2023");
	assert_null(cps_policy_standard_for(p, "440305", cps_days_from_civil(2023, 6, 30)));
	assert_null(cps_policy_standard_for(p, "445100", cps_days_from_civil(2025, 1, 1)));
	/* the default standards keep 特困 at 1.6 × 低保 */
	assert_int_equal(cps_policy_check_standards(p, findings), CPS_OK);
	assert_int_equal(json_array_size(findings), 0);
	json_decref(findings);
	cps_policy_free(p);
}

static void test_policy_errors(void **state)
{
	static const struct {
		const char *json, *error;
	} bad[] = {
	    {"{\"checks\": {\"NO_SUCH\": {}}}", "policy 'checks.NO_SUCH': unknown check"},
	    {"{\"standards\": {\"s\": {\"from\": \"2024-07-01\", \"dibao_monthly\": \"1\", "
	     "\"tekun_monthly\": \"2\"}}}",
	     "policy 'standards.s.regions': a list of region-code prefixes is required"},
	    {"{\"standards\": {\"s\": {\"regions\": [\"44x\"], \"from\": \"2024-07-01\", "
	     "\"dibao_monthly\": \"1\", \"tekun_monthly\": \"2\"}}}",
	     "policy 'standards.s.regions[0]': 2 to 6 digits of a region code"},
	    {"{\"standards\": {\"s\": {\"regions\": [\"4403\"], \"from\": \"July 2024\", "
	     "\"dibao_monthly\": \"1\", \"tekun_monthly\": \"2\"}}}",
	     "policy 'standards.s.from': a date YYYY-MM-DD is required"},
	    {"{\"standards\": {\"s\": {\"regions\": [\"4403\"], \"from\": \"2024-07-01\", "
	     "\"dibao_monthly\": \"1,365\", \"tekun_monthly\": \"2\"}}}",
	     "policy 'standards.s': dibao_monthly and tekun_monthly are yuan amounts like "
	     "\"1365.00\""},
	};
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(bad); i++) {
		json_t *j = json_loads(bad[i].json, 0, NULL);
		struct cps_policy *p = (void *)1;

		assert_non_null(j);
		assert_int_equal(cps_policy_from_json(j, &p, err, sizeof(err)), CPS_ERR_INVALID);
		assert_null(p);
		if (!strstr(err, bad[i].error))
			fail_msg("error is '%s', expected '%s'", err, bad[i].error);
		json_decref(j);
	}
}

int main(void)
{
	static const struct CMUnitTest units[] = {
	    cmocka_unit_test(test_calendar),
	    cmocka_unit_test(test_default_policy),
	    cmocka_unit_test(test_policy_errors),
	};
	const char *src = getenv("CPSYNC_SOURCE_DIR"), *schemas = getenv("CPSYNC_SCHEMA_DIR");
	char dir[1100], err[CPS_ERRSTR_SIZE];
	struct CMUnitTest cases[256];
	size_t n;
	int failed;

	snprintf(source_dir, sizeof(source_dir), "%s", src ? src : ".");
	if (cps_catalog_load_dir(schemas ? schemas : "schemas", &catalog, err, sizeof(err)) !=
	    CPS_OK) {
		fprintf(stderr, "catalog: %s\n", err);
		return 1;
	}
	snprintf(dir, sizeof(dir), "%s/tests/policy/cases", source_dir);
	n = cps_test_json_cases(dir, run_case, cases, CPS_ARRAY_SIZE(cases));
	failed = cmocka_run_group_tests(units, NULL, NULL);
	failed += n ? _cmocka_run_group_tests("policy_cases", cases, n, NULL, NULL) : 1;
	cps_test_json_cases_free(cases, n);
	cps_test_typed_release();
	cps_catalog_free(catalog);
	return failed ? 1 : 0;
}
