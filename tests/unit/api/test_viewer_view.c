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

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_every_entity),
	    cmocka_unit_test(test_personal_fields_hidden),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
