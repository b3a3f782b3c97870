/*
 * The CLI's schema-aware value texts (sync/cli/cli_value.c) with the
 * schemas built into the binary: Avro JSON decimals (bytes, one character a
 * byte) shown with their scale, in unions, arrays of records and at the
 * edges of the int64 range; other bytes as hex; everything else as is.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "cli/cli_value.h"

#include <stdlib.h>
#include <string.h>

/* The text of `json` (Avro JSON of field `field`) under schema `s`. */
static void expect_text(const json_t *s, const char *field, const char *json, const char *want)
{
	json_error_t je;
	json_t *v = json_loads(json, JSON_DECODE_ANY | JSON_ALLOW_NUL, &je);
	char *got;

	if (!v)
		fail_msg("bad test value %s: %s", json, je.text);
	got = cps_cli_field_text(s, field, v);
	assert_non_null(got);
	if (strcmp(got, want) != 0)
		fail_msg("%s = %s: got \"%s\", want \"%s\"", field, json, got, want);
	free(got);
	json_decref(v);
}

static void test_enrolment_decimals(void **state)
{
	json_t *s = cps_cli_entity_schema(NULL, "enrolment");

	(void)state;
	assert_non_null(s);
	expect_text(s, "monthly_amount", "\"\\u0002\\u00154\"", "1365.00");
	expect_text(s, "monthly_amount", "\"\\u0000\"", "0.00");
	expect_text(s, "monthly_amount", "\"\"", "0.00");
	expect_text(s, "monthly_amount", "\"\\u0005\"", "0.05");
	expect_text(s, "monthly_amount", "\"\\u00fb\\u001e\"", "-12.50");
	expect_text(s, "monthly_amount", "\"\\u00ff\"", "-0.01");
	expect_text(s, "monthly_amount", "\"\\u0001\\u0000\"", "2.56");
	expect_text(s, "monthly_amount",
	            "\"\\u007f\\u00ff\\u00ff\\u00ff\\u00ff\\u00ff\\u00ff\\u00ff\"",
	            "92233720368547758.07");
	expect_text(s, "monthly_amount",
	            "\"\\u0080\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\"",
	            "-92233720368547758.08");
	/* wider than an int64: the bytes, not a wrong number */
	expect_text(s, "monthly_amount",
	            "\"\\u0001\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\\u0000\"",
	            "0x010000000000000000");
	/* not bytes (a code point over 255): as the API gave it */
	expect_text(s, "monthly_amount", "\"\\u4e00\"", "\xe4\xb8\x80");
	expect_text(s, "monthly_amount", "null", "-");
	/* other fields and unknown ones unchanged */
	expect_text(s, "programme", "\"DIBAO\"", "DIBAO");
	expect_text(s, "covered_members", "2", "2");
	expect_text(s, "no_such_field", "\"\\u0002\\u00154\"",
	            "\x02\x15"
	            "4");
	expect_text(NULL, "monthly_amount", "\"x\"", "x");
	json_decref(s);
}

/* A decimal as a union branch and on a fixed (none of cpsync's schemas has
 * one yet), scale 0. */
static void test_union_and_fixed(void **state)
{
	json_t *s = json_loads(
	    "{\"type\": \"record\", \"name\": \"T\", \"fields\": ["
	    " {\"name\": \"u\", \"type\": [\"null\", {\"type\": \"bytes\", \"logicalType\": \"decimal\","
	    "  \"precision\": 9, \"scale\": 3}]},"
	    " {\"name\": \"f\", \"type\": {\"type\": \"fixed\", \"name\": \"cpsync.Money\", \"size\": 2,"
	    "  \"logicalType\": \"decimal\", \"precision\": 4, \"scale\": 0}},"
	    " {\"name\": \"raw\", \"type\": [\"null\", \"bytes\"]}]}",
	    0, NULL);

	(void)state;
	assert_non_null(s);
	expect_text(s, "u", "{\"bytes\": \"\\u0001\\u0000\"}", "0.256");
	expect_text(s, "u", "\"\\u0001\\u0000\"", "0.256");
	expect_text(s, "u", "null", "-");
	expect_text(s, "f", "\"\\u0004\\u00d2\"", "1234");
	expect_text(s, "f", "\"\\u00ff\\u00ff\"", "-1");
	expect_text(s, "raw", "{\"bytes\": \"\\u0000\\u00ab\"}", "0x00ab");
	json_decref(s);
}

static void test_nested_decimals(void **state)
{
	json_t *s = cps_cli_entity_schema(NULL, "verification");

	(void)state;
	assert_non_null(s);
	expect_text(
	    s, "items",
	    "[{\"kind\": \"WAGE\", \"amount\": \"\\u0003\\u00d0\\u0090\", \"counted\": true},"
	    " {\"kind\": \"WAGE\", \"amount\": \"\\u0000\", \"counted\": false}]",
	    "[{\"amount\":\"2500.00\",\"counted\":true,\"kind\":\"WAGE\"},"
	    "{\"amount\":\"0.00\",\"counted\":false,\"kind\":\"WAGE\"}]");
	json_decref(s);
}

static void test_render_member(void **state)
{
	json_t *s = cps_cli_entity_schema(NULL, "household");
	/* bytes 04 b9 67 as the API writes them: b9 as U+00B9 */
	json_t *c = json_pack("{s:s, s:s}", "value", "\x04\xc2\xb9g", "platform", "city");

	(void)state;
	assert_non_null(s);
	assert_non_null(c);
	cps_cli_render_member(s, "per_capita_monthly_income", c, "value");
	assert_string_equal(json_string_value(json_object_get(c, "value")), "3096.07");
	cps_cli_render_member(s, "per_capita_monthly_income", c, "missing");
	assert_null(json_object_get(c, "missing"));
	json_decref(c);
	json_decref(s);
	assert_null(cps_cli_entity_schema(NULL, "../enrolment"));
	assert_null(cps_cli_entity_schema(NULL, "no_such_entity"));
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_enrolment_decimals),
	    cmocka_unit_test(test_union_and_fixed),
	    cmocka_unit_test(test_nested_decimals),
	    cmocka_unit_test(test_render_member),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
