/*
 * The viewer's record view (api_records.c) against the real schema
 * catalog (schemas/): a field is shown only when its .avsc declares
 * "cpsync.viewer": true (an allow-list), in the record, provenance,
 * platform values, conflicts and history alike; the health fields issue 11
 * found unmasked (disabled, disability_grade, ...) are not on it.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api_int.h"
#include "base/common.h"
#include "codec/schema.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static struct cps_catalog *load_catalog(void)
{
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	struct cps_catalog *c = NULL;
	char err[CPS_ERRSTR_SIZE];

	assert_non_null(dir);
	if (cps_catalog_load_dir(dir, &c, err, sizeof(err)) != CPS_OK)
		fail_msg("catalog: %s", err);
	return c;
}

/* {"<field>": "<value of field>"} for every field of s. */
static json_t *all_fields(const struct cps_schema *s, const char *tag)
{
	json_t *o = json_object(), *f;
	size_t i;

	json_array_foreach (json_object_get(s->json, "fields"), i, f) {
		const char *n = json_string_value(json_object_get(f, "name"));
		char v[128];

		snprintf(v, sizeof(v), "%s-%s", tag, n);
		json_object_set_new(o, n, json_string(v));
	}
	return o;
}

static json_t *provenance(const struct cps_schema *s)
{
	json_t *o = json_object(), *f;
	size_t i;

	json_array_foreach (json_object_get(s->json, "fields"), i, f)
		json_object_set_new(
		    o, json_string_value(json_object_get(f, "name")),
		    json_pack("{s:s,s:s}", "platform", "city", "reason", "steward's free text"));
	return o;
}

static json_t *field_names(const struct cps_schema *s)
{
	json_t *a = json_array(), *f;
	size_t i;

	json_array_foreach (json_object_get(s->json, "fields"), i, f)
		json_array_append(a, json_object_get(f, "name"));
	return a;
}

/* Every object keyed by field name in doc holds only allowed fields. */
static void assert_only_visible(const struct cps_schema *s, json_t *by_field, size_t want)
{
	const char *k;
	json_t *v;

	assert_true(json_is_object(by_field));
	json_object_foreach (by_field, k, v)
		if (!cps_api_viewer_may_see(s, k))
			fail_msg("%s: field '%s' shown to the viewer", s->name, k);
	assert_int_equal(json_object_size(by_field), want);
}

static void test_every_entity(void **state)
{
	static const char *const entities[] = {"person", "household", "enrolment", "verification",
	                                       "alert"};
	struct cps_catalog *c = load_catalog();

	(void)state;
	for (size_t e = 0; e < CPS_ARRAY_SIZE(entities); e++) {
		const struct cps_schema *s = cps_catalog_by_entity(c, entities[e]);
		json_t *doc, *fields = NULL, *conflicts = json_array(), *f, *h;
		size_t visible = 0, i;
		char *text;

		assert_non_null(s);
		json_array_foreach (json_object_get(s->json, "fields"), i, f) {
			const char *n = json_string_value(json_object_get(f, "name"));

			visible += cps_api_viewer_may_see(s, n) ? 1 : 0;
			json_array_append_new(conflicts,
			                      json_pack("{s:s,s:s}", "field", n, "key", "K"));
		}
		assert_true(visible > 0);
		assert_true(visible < json_array_size(json_object_get(s->json, "fields")));
		fields = all_fields(s, "p");
		doc = json_pack("{s:s,s:s,s:o,s:o,s:{s:{s:o}},s:o,s:[{s:o,s:o,s:o}]}", "entity",
		                entities[e], "key", "K", "record", all_fields(s, "r"), "provenance",
		                provenance(s), "platforms", "city", "fields", fields, "conflicts",
		                conflicts, "history", "record", all_fields(s, "h"), "provenance",
		                provenance(s), "changed_fields", field_names(s));
		assert_non_null(doc);
		cps_api_viewer_view(s, doc);
		assert_only_visible(s, json_object_get(doc, "record"), visible);
		assert_only_visible(s, json_object_get(doc, "provenance"), visible);
		assert_only_visible(
		    s,
		    json_object_get(json_object_get(json_object_get(doc, "platforms"), "city"),
		                    "fields"),
		    visible);
		h = json_array_get(json_object_get(doc, "history"), 0);
		assert_only_visible(s, json_object_get(h, "record"), visible);
		assert_only_visible(s, json_object_get(h, "provenance"), visible);
		assert_int_equal(json_array_size(json_object_get(h, "changed_fields")), visible);
		assert_int_equal(json_array_size(json_object_get(doc, "conflicts")), visible);
		json_array_foreach (json_object_get(doc, "conflicts"), i, f)
			assert_true(cps_api_viewer_may_see(
			    s, json_string_value(json_object_get(f, "field"))));
		text = json_dumps(doc, 0);
		assert_null(strstr(text, "steward's free text"));
		free(text);
		json_decref(doc);
	}
	cps_catalog_free(c);
}

/* Issue 11 found these given to a viewer: none is on the allow-list. */
static void test_personal_fields_hidden(void **state)
{
	static const char *const person_hidden[] = {"national_id",   "name",
	                                            "gender",        "birth_date",
	                                            "disabled",      "disability_grade",
	                                            "seriously_ill", "labour_capacity",
	                                            "phone",         "household_id",
	                                            "deceased",      "residence_address"};
	struct cps_catalog *c = load_catalog();
	const struct cps_schema *s = cps_catalog_by_entity(c, "person");

	(void)state;
	for (size_t i = 0; i < CPS_ARRAY_SIZE(person_hidden); i++)
		if (cps_api_viewer_may_see(s, person_hidden[i]))
			fail_msg("person.%s is on the viewer's allow-list", person_hidden[i]);
	assert_true(cps_api_viewer_may_see(s, "residence_region_code"));
	assert_false(cps_api_viewer_may_see(s, "no_such_field"));
	s = cps_catalog_by_entity(c, "household");
	assert_false(cps_api_viewer_may_see(s, "household_id"));
	assert_false(cps_api_viewer_may_see(s, "per_capita_monthly_income"));
	assert_false(cps_api_viewer_may_see(s, "members"));
	s = cps_catalog_by_entity(c, "enrolment");
	assert_false(cps_api_viewer_may_see(s, "enrolment_id")); /* "<national ID>:<programme>" */
	assert_false(cps_api_viewer_may_see(s, "subject_id"));
	cps_catalog_free(c);
}

/* Issue 11: operators saw records and audit values unmasked; only a
 * steward does now. */
static void test_who_sees_unmasked(void **state)
{
	(void)state;
	assert_true(cps_api_sees_unmasked(CPS_ROLE_STEWARD));
	assert_false(cps_api_sees_unmasked(CPS_ROLE_OPERATOR));
	assert_false(cps_api_sees_unmasked(CPS_ROLE_VIEWER));
	assert_false(cps_api_sees_unmasked(CPS_ROLE_VIEWER | CPS_ROLE_OPERATOR));
}

/* An operator's audit entries: a person's phone resolution keeps neither
 * value nor reason, and its key (a national ID) is masked; a record entry
 * keyed by field keeps only the allowed ones; an operator's own action on a
 * dead letter stays whole. */
static void test_audit_entry_masked(void **state)
{
	struct cps_catalog *c = load_catalog();
	json_t *phone, *rec, *dl;
	char *text;

	(void)state;
	phone =
	    json_pack("{s:s,s:s,s:s,s:s,s:{s:s},s:{s:s,s:s},s:s}", "action", "conflict.resolved",
	              "entity", "person", "key", "44030519900101123X", "field", "phone", "before",
	              "value", "13800001111", "after", "value", "13900000001", "action",
	              "take_platform", "reason", "called 王建国 at home");
	rec = json_pack("{s:s,s:s,s:s,s:{s:s,s:s,s:b}}", "action", "record.changed", "entity",
	                "person", "key", "H-not-an-id", "before", "name", "王建国",
	                "residence_region_code", "440305", "disabled", 1);
	dl = json_pack("{s:s,s:s,s:s,s:{s:s},s:s}", "action", "deadletter.discarded", "entity",
	               "dead_letter", "key", "42", "after", "status", "discarded", "reason",
	               "not a person record");
	assert_non_null(phone);
	assert_non_null(rec);
	assert_non_null(dl);
	cps_api_viewer_audit_entry(c, phone);
	cps_api_viewer_audit_entry(c, rec);
	cps_api_viewer_audit_entry(c, dl);
	text = json_dumps(phone, JSON_SORT_KEYS);
	assert_null(strstr(text, "1380000"));
	assert_null(strstr(text, "1390000"));
	assert_null(strstr(text, "王建国"));
	assert_null(strstr(text, "44030519900101123X"));
	assert_string_equal(json_string_value(json_object_get(phone, "key")), "440305***********X");
	assert_true(json_is_null(json_object_get(phone, "before")));
	free(text);
	assert_string_equal(json_string_value(json_object_get(rec, "key")), "***");
	assert_int_equal(json_object_size(json_object_get(rec, "before")), 1);
	assert_non_null(json_object_get(json_object_get(rec, "before"), "residence_region_code"));
	assert_string_equal(json_string_value(json_object_get(dl, "key")), "42");
	assert_string_equal(json_string_value(json_object_get(dl, "reason")),
	                    "not a person record");
	json_decref(phone);
	json_decref(rec);
	json_decref(dl);
	cps_catalog_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_entity),
	    cmocka_unit_test(test_personal_fields_hidden),
	    cmocka_unit_test(test_who_sees_unmasked),
	    cmocka_unit_test(test_audit_entry_masked),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
