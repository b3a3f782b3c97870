/*
 * The region fields of each entity (api_scope.c) against the real schema
 * catalog (schemas/): exactly the fields whose .avsc declares
 * "cpsync.region": true, which region-scoped tokens are filtered by; an
 * entity without any (verification) gets an empty list, so it is out of
 * every scope rather than in all of them.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "api/api_int.h"
#include "base/common.h"
#include "codec/schema.h"
#include "model/entity.h"

#include <stdlib.h>
#include <string.h>

static void test_region_fields(void **state)
{
	const char *dir = getenv("CPSYNC_SCHEMA_DIR");
	struct cps_catalog *c = NULL;
	char err[CPS_ERRSTR_SIZE], *text;
	json_t *fields, *want;

	(void)state;
	assert_non_null(dir);
	if (cps_catalog_load_dir(dir, &c, err, sizeof(err)) != CPS_OK)
		fail_msg("catalog: %s", err);
	fields = cps_api_region_fields(c);
	assert_non_null(fields);
	want = json_pack("{s:[s,s], s:[s], s:[s,s], s:[], s:[s]}", "person",
	                 "registration_region_code", "residence_region_code", "household",
	                 "region_code", "enrolment", "granting_region_code",
	                 "emergency_region_code", "verification", "alert", "region_code");
	text = json_dumps(fields, JSON_SORT_KEYS);
	if (!json_equal(fields, want))
		fail_msg("region fields: %s", text);
	free(text);
	assert_int_equal(json_object_size(fields), CPS_N_ENTITIES);
	/* every region field is a string a prefix can match, or null (the scope
	 * reads the union's {"string": ...}: CPS_STEWARD_IN_SCOPE) */
	for (size_t e = 0; e < CPS_N_ENTITIES; e++) {
		const struct cps_schema *s = cps_catalog_by_entity(c, cps_entities[e]);
		json_t *f;
		size_t i;

		json_array_foreach (json_object_get(s->json, "fields"), i, f) {
			json_t *t = json_object_get(f, "type");

			if (!json_is_true(json_object_get(f, "cpsync.region")))
				continue;
			if (json_is_array(t)) {
				assert_int_equal(json_array_size(t), 2);
				assert_string_equal(json_string_value(json_array_get(t, 0)),
				                    "null");
				t = json_array_get(t, 1);
			}
			assert_string_equal(json_string_value(t), "string");
		}
	}
	json_decref(want);
	json_decref(fields);
	cps_catalog_free(c);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_region_fields),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
