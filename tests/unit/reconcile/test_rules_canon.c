/*
 * Unit tests of rules_canon.c and cps_reconcile_rerun: the same rules as
 * YAML or JSON, in another key order or with other versions hash the same;
 * another case order (the first match wins) or another rule does not; the
 * canonical JSON reads back to the same rules; bad text names its position;
 * and deciding a state again under its own rules changes nothing, while
 * under other rules it emits a new version naming the new rule version.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"

#include <stdlib.h>
#include <string.h>

static const char yaml_a[] =
    "rules:\n"
    "  person:\n"
    "    version: 3\n"
    "    default: {rule: precedence, platforms: [city, province], on_disagree: flag}\n"
    "    fields:\n"
    "      phone: {rule: latest}\n"
    "  enrolment:\n"
    "    default: {rule: precedence, platforms: [city, province]}\n"
    "    cases:\n"
    "      shenshan: {when: {granting_region_code: \"441521\"}, default: {rule: precedence, "
    "platforms: [province, city]}}\n"
    "      city: {when: {granting_region_code: \"440303\"}}\n";

static const char json_a[] =
    "{\"enrolment\": {\"cases\": {\"shenshan\": {\"default\": {\"platforms\": [\"province\", "
    "\"city\"], \"rule\": \"precedence\"}, \"when\": {\"granting_region_code\": \"441521\"}}, "
    "\"city\": {\"when\": {\"granting_region_code\": \"440303\"}}}, \"default\": {\"rule\": "
    "\"precedence\", \"platforms\": [\"city\", \"province\"]}}, \"person\": {\"fields\": "
    "{\"phone\": {\"rule\": \"latest\"}}, \"default\": {\"rule\": \"precedence\", "
    "\"platforms\": [\"city\", \"province\"], \"on_disagree\": \"flag\"}}}";

static void hash_of(const char *text, char hash[65])
{
	struct cps_rules *r = NULL;
	char err[CPS_ERRSTR_SIZE], *canon = NULL;

	assert_int_equal(cps_rules_from_text(text, strlen(text), &r, err, sizeof(err)), CPS_OK);
	assert_int_equal(cps_rules_canonical(r, &canon, hash), CPS_OK);
	free(canon);
	cps_rules_free(r);
}

static void test_the_same_rules_hash_the_same(void **state)
{
	char a[65], b[65], c[65], d[65];
	char *swapped = strdup(yaml_a), *other = strdup(yaml_a);
	char *p = strstr(swapped, "      shenshan:"), *q = strstr(swapped, "      city:");
	size_t la = (size_t)(q - p), lb = strlen(q);
	char *tmp = malloc(la + lb + 1);

	(void)state;
	hash_of(yaml_a, a);
	hash_of(json_a, b);
	assert_string_equal(a, b); /* YAML or JSON, key order, versions: the same set */
	memcpy(tmp, q, lb);        /* the cases the other way round */
	memcpy(tmp + lb, p, la);
	memcpy(p, tmp, la + lb);
	hash_of(swapped, c);
	assert_string_not_equal(a, c);
	memcpy(strstr(other, "phone: {rule: latest}"), "phone: {rule: manual}", 21);
	hash_of(other, d);
	assert_string_not_equal(a, d);
	free(tmp);
	free(swapped);
	free(other);
}

static void test_canonical_json_reads_back(void **state)
{
	struct cps_rules *r = NULL, *back = NULL;
	char err[CPS_ERRSTR_SIZE], h1[65], h2[65], *c1 = NULL, *c2 = NULL;
	json_t *j;

	(void)state;
	assert_int_equal(cps_rules_from_text(yaml_a, strlen(yaml_a), &r, err, sizeof(err)), 0);
	j = cps_rules_to_json(r);
	assert_int_equal(cps_rules_from_json(j, &back, err, sizeof(err)), CPS_OK);
	cps_rules_canonical(r, &c1, h1);
	cps_rules_canonical(back, &c2, h2);
	assert_string_equal(c1, c2);
	assert_string_equal(cps_rules_entity(back, "enrolment")->cases[0].name, "shenshan");
	free(c1);
	free(c2);
	json_decref(j);
	cps_rules_free(r);
	cps_rules_free(back);
}

static void test_bad_text_says_where(void **state)
{
	struct cps_rules *r = NULL;
	char err[CPS_ERRSTR_SIZE];
	const char *known[] = {"city", "province"};

	(void)state;
	assert_int_equal(cps_rules_from_text("rules: [a, b\n", 13, &r, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "not YAML at"));
	assert_int_equal(cps_rules_from_text("{\"person\": ", 11, &r, err, sizeof(err)),
	                 CPS_ERR_INVALID);
	assert_non_null(strstr(err, "not JSON at"));
	assert_int_equal(
	    cps_rules_from_text("person: {default: {rule: often}}", 32, &r, err, sizeof(err)),
	    CPS_ERR_INVALID);
	assert_int_equal(cps_rules_from_text("person: {default: {rule: precedence, platforms: "
	                                     "[zone]}}",
	                                     56, &r, err, sizeof(err)),
	                 CPS_OK);
	assert_int_equal(cps_rules_check_platforms(r, known, 2, err, sizeof(err)), CPS_ERR_INVALID);
	assert_non_null(strstr(err, "unknown platform 'zone'"));
	cps_rules_free(r);
}

static struct cps_rules *rules_of(const char *yaml, int version)
{
	struct cps_rules *r = NULL;
	char err[CPS_ERRSTR_SIZE];

	assert_int_equal(cps_rules_from_text(yaml, strlen(yaml), &r, err, sizeof(err)), CPS_OK);
	cps_rules_set_version(r, version);
	return r;
}

static void test_rerun_changes_only_under_other_rules(void **state)
{
	struct cps_rules *city = rules_of("person: {default: {rule: precedence, platforms: "
	                                  "[city, province]}}",
	                                  1);
	struct cps_rules *prov = rules_of("person: {default: {rule: precedence, platforms: "
	                                  "[province, city]}}",
	                                  2);
	struct cps_key_state st;
	struct cps_reconcile_outcome o;
	struct cps_ingest_event ev[2];
	char err[CPS_ERRSTR_SIZE];
	const char *plat[] = {"city", "province"}, *phone[] = {"111", "222"};
	static char key[] = "440303199001011234";

	(void)state;
	cps_key_state_init(&st, "person", "440303199001011234");
	for (int i = 0; i < 2; i++) {
		memset(&ev[i], 0, sizeof(ev[i]));
		strcpy(ev[i].entity, "person");
		strcpy(ev[i].platform, plat[i]);
		ev[i].key = key;
		ev[i].op = CPS_OP_UPSERT;
		ev[i].effective_ms = 1000 + i;
		ev[i].source_ms = 1000 + i;
		ev[i].record = json_pack("{s:{s:s}}", "phone", "string", phone[i]);
		cps_reconcile_outcome_init(&o);
		assert_int_equal(cps_reconcile_apply(city, &st, &ev[i], &o, err, sizeof(err)), 0);
		cps_reconcile_outcome_release(&o);
		json_decref(ev[i].record);
	}
	assert_int_equal(st.version, 1); /* the province's later value lost to the city's */
	cps_reconcile_outcome_init(&o);
	assert_int_equal(cps_reconcile_rerun(city, &st, 5000, &o, err, sizeof(err)), CPS_OK);
	assert_false(o.changed);
	assert_int_equal(st.version, 1);
	cps_reconcile_outcome_release(&o);
	cps_reconcile_outcome_init(&o);
	assert_int_equal(cps_reconcile_rerun(prov, &st, 5000, &o, err, sizeof(err)), CPS_OK);
	assert_true(o.changed);
	assert_int_equal(st.version, 2);
	assert_string_equal(
	    json_string_value(json_object_get(json_object_get(st.record, "phone"), "string")),
	    "222");
	assert_int_equal(json_integer_value(json_object_get(json_object_get(st.provenance, "phone"),
	                                                    "rule_version")),
	                 2);
	cps_reconcile_outcome_release(&o);
	cps_key_state_release(&st);
	cps_rules_free(city);
	cps_rules_free(prov);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_the_same_rules_hash_the_same),
	    cmocka_unit_test(test_canonical_json_reads_back),
	    cmocka_unit_test(test_bad_text_says_where),
	    cmocka_unit_test(test_rerun_changes_only_under_other_rules),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
