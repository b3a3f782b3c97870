/*
 * Tests of rule loading (rules.c, rules_config.c, rules_json.c): the JSON
 * of case files and the configuration's `rules` section, with their
 * errors; deploy/rules.default.yaml and the example configuration (whose
 * rules must be the default ones); conditional rule sets (`cases`): order,
 * inheritance, and what a case may not do.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"
#include "config/config.h"
#include "model/event.h"
#include "reconcile/rules.h"
#include "testcases.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char source_dir[1024];

static struct cps_rules *rules_of(const char *text)
{
	json_error_t jerr;
	json_t *j = json_loads(text, 0, &jerr);
	struct cps_rules *r = NULL;
	char err[CPS_ERRSTR_SIZE];

	assert_non_null(j);
	if (cps_rules_from_json(j, &r, err, sizeof(err)) != CPS_OK)
		fail_msg("rules: %s", err);
	json_decref(j);
	return r;
}

static void test_rules_json(void **state)
{
	struct cps_rules *r = rules_of(
	    "{\"person\": {\"version\": 3, \"default\": {\"rule\": \"precedence\", "
	    "\"platforms\": [\"city\", \"province\"], \"on_disagree\": \"flag\"}, "
	    "\"fields\": {\"phone\": {\"rule\": \"latest\"}, \"name\": {\"rule\": \"manual\", "
	    "\"platforms\": [\"province\"]}}}}");
	const struct cps_field_rule *fr;
	int ver = 0;

	(void)state;
	fr = cps_rules_for(r, "person", "phone", &ver);
	assert_int_equal(ver, 3);
	assert_int_equal(fr->kind, CPS_RULE_LATEST);
	assert_int_equal(fr->on_disagree, CPS_DISAGREE_FLAG); /* inherited */
	assert_int_equal(fr->n_platforms, 2);
	fr = cps_rules_for(r, "person", "name", &ver);
	assert_int_equal(fr->kind, CPS_RULE_MANUAL);
	assert_int_equal(fr->n_platforms, 1);
	assert_string_equal(fr->platforms[0], "province");
	fr = cps_rules_for(r, "person", "gender", &ver);
	assert_null(fr->field);
	assert_int_equal(fr->kind, CPS_RULE_PRECEDENCE);
	assert_null(cps_rules_for(r, "household", "x", &ver));
	cps_rules_free(r);
}

static void test_rules_json_errors(void **state)
{
	static const char *const bad[] = {
	    "[]",
	    "{\"person\": {\"default\": {\"rule\": \"oldest\"}}}",
	    "{\"person\": {\"default\": {\"rule\": \"precedence\"}}}",
	    "{\"person\": {\"default\": {\"on_disagree\": \"shout\"}}}",
	    "{\"person\": {\"fields\": {\"a\": {\"platforms\": \"city\"}}}}",
	    "{\"person\": {\"fields\": {\"a\": {\"rul\": \"latest\"}}}}",
	    "{\"person\": {\"version\": 0}}",
	    "{\"person\": {\"default\": {\"platforms\": [\"city\", \"city\"]}}}",
	    ("{\"person\": {\"default\": {\"platforms\": [\"a\",\"b\",\"c\",\"d\",\"e\",\"f\","
	     "\"g\",\"h\",\"i\"]}}}"),
	    /* cases */
	    "{\"e\": {\"cases\": []}}",
	    "{\"e\": {\"cases\": {\"c\": {}}}}",
	    "{\"e\": {\"cases\": {\"c\": {\"when\": {}}}}}",
	    "{\"e\": {\"cases\": {\"c\": {\"when\": {\"a\": [\"1\"]}}}}}",
	    "{\"e\": {\"cases\": {\"c\": {\"when\": {\"a\": \"1\"}, \"then\": {}}}}}",
	    "{\"e\": {\"cases\": {\"c\": {\"when\": {\"a\": \"1\"}, \"fields\": {\"a\": {}}}}}}",
	    ("{\"e\": {\"cases\": {\"c\": {\"when\": {\"a\": \"1\"}, \"default\": {\"rule\": "
	     "\"precedence\"}}}}}"),
	};
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(bad); i++) {
		json_t *j = json_loads(bad[i], 0, NULL);
		struct cps_rules *r = (void *)1;

		assert_non_null(j);
		err[0] = 0;
		assert_int_equal(cps_rules_from_json(j, &r, err, sizeof(err)), CPS_ERR_INVALID);
		assert_null(r);
		assert_true(err[0] >= 'a' && err[0] <= 'z');
		assert_true(err[strlen(err) - 1] != '.');
		json_decref(j);
	}
}

/* config.c has no include mechanism: deploy/rules.default.yaml (a top-level
 * `rules:` section) is loaded after a minimal platforms section. */
static struct cps_config *default_rules_config(void)
{
	static const char head[] = "platforms:\n"
	                           "  province: {connector: kafka}\n"
	                           "  city: {connector: postgres}\n"
	                           "  shenshan: {connector: files}\n";
	char path[1200], err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg = NULL;
	char *body, *text;

	snprintf(path, sizeof(path), "%s/deploy/rules.default.yaml", source_dir);
	body = cps_test_read_file(path);
	assert_non_null(body);
	text = malloc(strlen(head) + strlen(body) + 1);
	strcpy(text, head);
	strcat(text, body);
	if (cps_config_load_string(text, strlen(text), "rules.default.yaml", NULL, &cfg, err,
	                           sizeof(err)) != CPS_OK)
		fail_msg("config: %s", err);
	free(text);
	free(body);
	return cfg;
}

static void test_rules_default_yaml(void **state)
{
	char err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg = default_rules_config();
	struct cps_rules *r = NULL;
	const struct cps_entity_rules *e;
	const struct cps_field_rule *fr;
	int ver = 0;

	(void)state;
	if (cps_rules_from_config(cfg, &r, err, sizeof(err)) != CPS_OK)
		fail_msg("rules: %s", err);
	assert_int_equal(r->n_entities, 5);
	for (size_t i = 0; i < 5; i++)
		assert_non_null(cps_rules_for(r, cps_entities[i], NULL, &ver));

	fr = cps_rules_for(r, "household", "per_capita_monthly_income", &ver);
	assert_int_equal(fr->kind, CPS_RULE_PRECEDENCE);
	assert_string_equal(fr->platforms[0], "city");
	fr = cps_rules_for(r, "household", "monitoring_category", &ver);
	assert_int_equal(fr->kind, CPS_RULE_PRECEDENCE);
	assert_string_equal(fr->platforms[0], "province");
	fr = cps_rules_for(r, "verification", "per_capita_income", &ver);
	assert_string_equal(fr->platforms[0], "city");
	fr = cps_rules_for(r, "alert", "severity", &ver);
	assert_string_equal(fr->platforms[0], "province");
	/* enrolment: the city first, but Shenshan first for its own residents */
	fr = cps_rules_for(r, "enrolment", "monthly_amount", &ver);
	assert_int_equal(fr->kind, CPS_RULE_PRECEDENCE);
	assert_int_equal(fr->n_platforms, 3);
	assert_string_equal(fr->platforms[0], "city");
	assert_int_equal(fr->on_disagree, CPS_DISAGREE_FLAG);
	e = cps_rules_entity(r, "enrolment");
	assert_int_equal(e->n_cases, 1);
	assert_string_equal(e->cases[0].name, "shenshan_residents");
	assert_int_equal(e->cases[0].n_when, 1);
	assert_string_equal(e->cases[0].when[0].field, "granting_region_code");
	assert_string_equal(e->cases[0].when[0].value, "441521");
	assert_true(cps_rules_is_condition(e, "granting_region_code"));
	assert_false(cps_rules_is_condition(e, "status"));
	fr = cps_rules_field(e, &e->cases[0], "status");
	assert_string_equal(fr->platforms[0], "shenshan");
	assert_string_equal(fr->platforms[1], "city");
	assert_int_equal(fr->on_disagree, CPS_DISAGREE_FLAG);
	assert_int_equal(ver, 2);
	fr = cps_rules_for(r, "person", "residence_region_code", &ver);
	assert_int_equal(fr->kind, CPS_RULE_LATEST);
	fr = cps_rules_for(r, "person", "residence_address", &ver);
	assert_int_equal(fr->kind, CPS_RULE_LATEST);
	fr = cps_rules_for(r, "person", "phone", &ver);
	assert_int_equal(fr->kind, CPS_RULE_LATEST);
	fr = cps_rules_for(r, "person", "disability_grade", &ver);
	assert_int_equal(fr->kind, CPS_RULE_MANUAL);
	fr = cps_rules_for(r, "person", "name", &ver);
	assert_int_equal(fr->kind, CPS_RULE_MANUAL);
	assert_int_equal(ver, 1);

	cps_rules_free(r);
	cps_config_free(cfg);
}

/* The config engineer's example configuration carries its own rules section:
 * it must load through cps_rules_from_config too. */
static void test_rules_example_config(void **state)
{
	char path[1200], err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg = NULL;
	struct cps_rules *r = NULL;
	const struct cps_config_node *rules;
	int ver = 0;

	(void)state;
	snprintf(path, sizeof(path), "%s/deploy/cpsync.example.yaml", source_dir);
	if (cps_config_load(path, &cfg, err, sizeof(err)) != CPS_OK)
		fail_msg("config: %s", err);
	if (cps_rules_from_config(cfg, &r, err, sizeof(err)) != CPS_OK)
		fail_msg("rules: %s", err);
	rules = cps_config_get_map(cfg, "rules");
	assert_int_equal(r->n_entities, rules->count);
	for (size_t i = 0; i < r->n_entities; i++) {
		const struct cps_config_node *e = rules->children[i];
		const struct cps_config_node *fields = cps_config_node_child(e, "fields");
		const char *def_rule = cps_config_node_string(e, "default.rule", NULL);
		const char *def_dis = cps_config_node_string(e, "default.on_disagree", NULL);

		for (size_t j = 0; fields && j < fields->count; j++) {
			const struct cps_config_node *entry = fields->children[j];
			const struct cps_field_rule *fr =
			    cps_rules_for(r, e->key, entry->key, &ver);

			assert_non_null(fr->field);
			assert_string_equal(cps_rule_kind_name(fr->kind),
			                    cps_config_node_string(entry, "rule", def_rule));
			assert_string_equal(cps_rule_disagree_name(fr->on_disagree),
			                    cps_config_node_string(entry, "on_disagree", def_dis));
			assert_int_equal(fr->n_platforms,
			                 cps_config_node_child(entry, "platforms")->count);
			assert_int_equal(ver, (int)cps_config_node_int(e, "version", 0));
		}
	}
	cps_rules_free(r);
	cps_config_free(cfg);
}

/* The rules section of tests/data/config/full.yaml: the text the config
 * holds becomes the enums; a field entry takes what it does not set from
 * the entity's default, except platforms (a field entry always has its own
 * list after the load, empty when not written). */
static void test_rules_config(void **state)
{
	static const char text[] = "platforms:\n"
	                           "  province: {connector: kafka}\n"
	                           "  city: {connector: postgres}\n"
	                           "rules:\n"
	                           "  person:\n"
	                           "    version: 3\n"
	                           "    default:\n"
	                           "      rule: latest\n"
	                           "    fields:\n"
	                           "      disability_grade:\n"
	                           "        rule: manual\n"
	                           "      monitoring_category:\n"
	                           "        rule: precedence\n"
	                           "        platforms: [province]\n"
	                           "        on_disagree: flag\n"
	                           "  verification:\n"
	                           "    default:\n"
	                           "      rule: precedence\n"
	                           "      platforms: [city, province]\n"
	                           "      on_disagree: conflict\n"
	                           "    fields:\n"
	                           "      result:\n"
	                           "        rule: latest\n";
	char err[CPS_ERRSTR_SIZE];
	struct cps_config *cfg = NULL;
	struct cps_rules *r = NULL;
	const struct cps_field_rule *fr;
	int ver = 0;

	(void)state;
	if (cps_config_load_string(text, strlen(text), "t.yaml", NULL, &cfg, err, sizeof(err)) !=
	    CPS_OK)
		fail_msg("config: %s", err);
	if (cps_rules_from_config(cfg, &r, err, sizeof(err)) != CPS_OK)
		fail_msg("rules: %s", err);
	assert_int_equal(r->n_entities, 2);
	assert_string_equal(r->entities[1].entity, "verification");
	fr = cps_rules_for(r, "person", "disability_grade", &ver);
	assert_string_equal(fr->field, "disability_grade");
	assert_int_equal(fr->kind, CPS_RULE_MANUAL);
	assert_int_equal(fr->on_disagree, CPS_DISAGREE_ACCEPT);
	assert_int_equal(ver, 3);
	fr = cps_rules_for(r, "person", "monitoring_category", &ver);
	assert_int_equal(fr->kind, CPS_RULE_PRECEDENCE);
	assert_int_equal(fr->on_disagree, CPS_DISAGREE_FLAG);
	assert_int_equal(fr->n_platforms, 1);
	assert_string_equal(fr->platforms[0], "province");
	/* a field without an entry takes the entity default */
	fr = cps_rules_for(r, "person", "address", &ver);
	assert_null(fr->field);
	assert_int_equal(fr->kind, CPS_RULE_LATEST);
	fr = cps_rules_for(r, "verification", NULL, &ver);
	assert_int_equal(fr->kind, CPS_RULE_PRECEDENCE);
	assert_int_equal(fr->on_disagree, CPS_DISAGREE_CONFLICT);
	assert_int_equal(ver, 1);
	assert_string_equal(fr->platforms[0], "city");
	fr = cps_rules_for(r, "verification", "result", &ver);
	assert_int_equal(fr->kind, CPS_RULE_LATEST);
	assert_int_equal(fr->on_disagree, CPS_DISAGREE_CONFLICT); /* inherited */
	assert_int_equal(fr->n_platforms, 0);                     /* its own, empty */
	assert_null(cps_rules_for(r, "alert", NULL, &ver));
	assert_string_equal(cps_rule_kind_name(CPS_RULE_MANUAL), "manual");
	assert_string_equal(cps_rule_disagree_name(CPS_DISAGREE_FLAG), "flag");
	cps_rules_free(r);
	cps_config_free(cfg);
}

/* The checks across keys name FILE:LINE and the key, as the load's errors do. */
static void test_rules_config_errors(void **state)
{
	static const struct {
		const char *text, *error;
	} bad[] = {
	    {"platforms:\n  city: {connector: postgres}\n"
	     "rules:\n  person:\n    default:\n      rule: precedence\n",
	     "t.yaml:5: key 'rules.person.default.platforms': rule 'precedence' needs at least one platform"},
	    {"platforms:\n  city: {connector: postgres}\n"
	     "rules:\n  person:\n    fields:\n      income:\n        rule: precedence\n"
	     "        platforms: [city, citty]\n",
	     "t.yaml:8: key 'rules.person.fields.income.platforms': unknown platform 'citty' (not under 'platforms')"},
	    {"platforms:\n  city: {connector: postgres}\n"
	     "rules:\n  person:\n    default:\n      platforms: [city, city]\n",
	     "rules 'person.default': platform 'city' listed twice"},
	    /* cases */
	    {"platforms:\n  city: {connector: postgres}\n"
	     "rules:\n  enrolment:\n    default: {rule: latest}\n"
	     "    cases:\n      zone:\n"
	     "        default: {rule: latest}\n",
	     "t.yaml:7: key 'rules.enrolment.cases.zone.when': a case needs at least one "
	     "condition"},
	    {"platforms:\n  city: {connector: postgres}\n"
	     "rules:\n  enrolment:\n    default: {rule: latest}\n"
	     "    cases:\n      zone:\n"
	     "        when: {granting_region_code: \"441521\"}\n"
	     "        fields:\n          granting_region_code: {rule: latest}\n",
	     "t.yaml:8: key 'rules.enrolment.cases.zone.fields.granting_region_code': the "
	     "case's condition reads this field, so the entity's own rules decide it"},
	    {"platforms:\n  city: {connector: postgres}\n"
	     "rules:\n  enrolment:\n    default: {rule: latest}\n"
	     "    cases:\n      zone:\n"
	     "        when: {granting_region_code: \"441521\"}\n"
	     "        default: {rule: precedence, platforms: [shenshan]}\n",
	     "t.yaml:9: key 'rules.enrolment.cases.zone.default.platforms': unknown platform "
	     "'shenshan' (not under 'platforms')"},
	    {"platforms:\n  city: {connector: postgres}\n"
	     "rules:\n  enrolment:\n    default: {rule: latest}\n"
	     "    cases:\n      zone:\n"
	     "        when: {granting_region_code: \"441521\"}\n"
	     "        default: {rule: precedence}\n",
	     "t.yaml:9: key 'rules.enrolment.cases.zone.default.platforms': rule 'precedence' "
	     "needs at least one platform"},
	};
	char err[CPS_ERRSTR_SIZE];

	(void)state;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(bad); i++) {
		struct cps_config *cfg = NULL;
		struct cps_rules *r = (void *)1;

		if (cps_config_load_string(bad[i].text, strlen(bad[i].text), "t.yaml", NULL, &cfg,
		                           err, sizeof(err)) != CPS_OK)
			fail_msg("config: %s", err);
		err[0] = 0;
		assert_int_equal(cps_rules_from_config(cfg, &r, err, sizeof(err)), CPS_ERR_INVALID);
		assert_null(r);
		if (strcmp(err, bad[i].error))
			fail_msg("error is '%s', expected '%s'", err, bad[i].error);
		cps_config_free(cfg);
	}
}

/* ---- conditional rule sets ------------------------------------------------- */

static void test_rules_cases_json(void **state)
{
	struct cps_rules *r = rules_of(
	    "{\"enrolment\": {\"default\": {\"rule\": \"precedence\", \"platforms\": [\"city\", "
	    "\"shenshan\"], \"on_disagree\": \"flag\"},"
	    " \"fields\": {\"monthly_amount\": {\"on_disagree\": \"conflict\"}},"
	    " \"cases\": {"
	    "  \"zone\": {\"when\": {\"granting_region_code\": \"441521\", \"covered_members\": 2},"
	    "            \"default\": {\"platforms\": [\"shenshan\", \"city\"]},"
	    "            \"fields\": {\"status\": {\"rule\": \"latest\"}}},"
	    "  \"any_zone\": {\"when\": {\"granting_region_code\": \"441521\"}}}}}");
	const struct cps_entity_rules *e = cps_rules_entity(r, "enrolment");
	const struct cps_rule_case *zone, *any;
	const struct cps_field_rule *fr;

	(void)state;
	assert_int_equal(e->n_cases, 2);
	zone = &e->cases[0];
	any = &e->cases[1];
	assert_string_equal(zone->name, "zone"); /* the written order */
	assert_string_equal(any->name, "any_zone");
	assert_int_equal(zone->n_when, 2);
	assert_string_equal(zone->when[1].field, "covered_members");
	assert_string_equal(zone->when[1].value, "2");
	/* a case's own field entry, inheriting from the case's default */
	fr = cps_rules_field(e, zone, "status");
	assert_int_equal(fr->kind, CPS_RULE_LATEST);
	assert_string_equal(fr->platforms[0], "shenshan");
	/* the entity's field entry beats the case's default */
	fr = cps_rules_field(e, zone, "monthly_amount");
	assert_int_equal(fr->on_disagree, CPS_DISAGREE_CONFLICT);
	assert_string_equal(fr->platforms[0], "city");
	/* the case's default, inheriting the rule from the entity's */
	fr = cps_rules_field(e, zone, "start_date");
	assert_int_equal(fr->kind, CPS_RULE_PRECEDENCE);
	assert_int_equal(fr->on_disagree, CPS_DISAGREE_FLAG);
	assert_string_equal(fr->platforms[0], "shenshan");
	/* a case without a default: the entity's */
	fr = cps_rules_field(e, any, "start_date");
	assert_string_equal(fr->platforms[0], "city");
	fr = cps_rules_field(e, NULL, "start_date");
	assert_string_equal(fr->platforms[0], "city");
	assert_true(cps_rules_is_condition(e, "covered_members"));
	assert_false(cps_rules_is_condition(e, "start_date"));
	cps_rules_free(r);
}

/* ---- the example configuration carries the default rules -------------------- */

static void assert_field_rule_equal(const struct cps_field_rule *a, const struct cps_field_rule *b)
{
	if ((a->field == NULL) != (b->field == NULL) || (a->field && strcmp(a->field, b->field)))
		fail_msg("field entry '%s' against '%s'", a->field ? a->field : "(default)",
		         b->field ? b->field : "(default)");
	assert_int_equal(a->kind, b->kind);
	assert_int_equal(a->on_disagree, b->on_disagree);
	assert_int_equal(a->n_platforms, b->n_platforms);
	for (size_t i = 0; i < a->n_platforms; i++)
		assert_string_equal(a->platforms[i], b->platforms[i]);
}

static void assert_fields_equal(const struct cps_field_rule *a, size_t na,
                                const struct cps_field_rule *b, size_t nb)
{
	assert_int_equal(na, nb);
	for (size_t i = 0; i < na; i++)
		assert_field_rule_equal(&a[i], &b[i]);
}

static void test_rules_example_is_default(void **state)
{
	char path[1200], err[CPS_ERRSTR_SIZE];
	struct cps_config *dcfg = default_rules_config(), *ecfg = NULL;
	struct cps_rules *d = NULL, *x = NULL;

	(void)state;
	snprintf(path, sizeof(path), "%s/deploy/cpsync.example.yaml", source_dir);
	if (cps_config_load(path, &ecfg, err, sizeof(err)) != CPS_OK)
		fail_msg("config: %s", err);
	if (cps_rules_from_config(dcfg, &d, err, sizeof(err)) != CPS_OK ||
	    cps_rules_from_config(ecfg, &x, err, sizeof(err)) != CPS_OK)
		fail_msg("rules: %s", err);
	assert_int_equal(x->n_entities, d->n_entities);
	for (size_t i = 0; i < d->n_entities; i++) {
		const struct cps_entity_rules *a = &d->entities[i], *b = &x->entities[i];

		assert_string_equal(b->entity, a->entity);
		assert_int_equal(b->version, a->version);
		assert_field_rule_equal(&a->dflt, &b->dflt);
		assert_fields_equal(a->fields, a->n_fields, b->fields, b->n_fields);
		assert_int_equal(a->n_cases, b->n_cases);
		for (size_t j = 0; j < a->n_cases; j++) {
			const struct cps_rule_case *ca = &a->cases[j], *cb = &b->cases[j];

			assert_string_equal(ca->name, cb->name);
			assert_int_equal(ca->n_when, cb->n_when);
			for (size_t k = 0; k < ca->n_when; k++) {
				assert_string_equal(ca->when[k].field, cb->when[k].field);
				assert_string_equal(ca->when[k].value, cb->when[k].value);
			}
			assert_int_equal(ca->has_dflt, cb->has_dflt);
			assert_field_rule_equal(&ca->dflt, &cb->dflt);
			assert_fields_equal(ca->fields, ca->n_fields, cb->fields, cb->n_fields);
		}
	}
	cps_rules_free(d);
	cps_rules_free(x);
	cps_config_free(dcfg);
	cps_config_free(ecfg);
}

int main(void)
{
	static const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_rules_json),
	    cmocka_unit_test(test_rules_json_errors),
	    cmocka_unit_test(test_rules_default_yaml),
	    cmocka_unit_test(test_rules_example_config),
	    cmocka_unit_test(test_rules_config),
	    cmocka_unit_test(test_rules_config_errors),
	    cmocka_unit_test(test_rules_cases_json),
	    cmocka_unit_test(test_rules_example_is_default),
	};
	const char *src = getenv("CPSYNC_SOURCE_DIR");

	snprintf(source_dir, sizeof(source_dir), "%s", src ? src : ".");
	return cmocka_run_group_tests(tests, NULL, NULL);
}
