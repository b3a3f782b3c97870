/*
 * Unit tests of common.c: cps_seterr returns the code the call site names
 * and truncates safely; cps_grow doubles a growable array from 16 until it
 * holds what is asked, keeps its contents, and on an impossible size fails
 * leaving the array and its capacity as they were; cps_parse_decimal takes
 * 1 to 18 digits and nothing else, so it never overflows.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/common.h"

#include <stdlib.h>
#include <string.h>

static void test_seterr_returns_the_code(void **state)
{
	char err[8];

	(void)state;
	assert_int_equal(cps_seterr(CPS_ERR_RETRIABLE, err, sizeof(err), "store %s", "unreachable"),
	                 CPS_ERR_RETRIABLE);
	assert_string_equal(err, "store u"); /* cut to fit, terminated */
	assert_int_equal(cps_seterr(CPS_ERR_INVALID, NULL, 0, "ignored"), CPS_ERR_INVALID);
}

static void test_grow_doubles_and_keeps(void **state)
{
	int *v = NULL;
	size_t cap = 0;

	(void)state;
	assert_int_equal(cps_grow(&v, &cap, 1, sizeof(*v)), 0);
	assert_int_equal(cap, 16);
	for (int i = 0; i < 16; i++)
		v[i] = i;
	assert_int_equal(cps_grow(&v, &cap, 16, sizeof(*v)), 0); /* fits: unchanged */
	assert_int_equal(cap, 16);
	assert_int_equal(cps_grow(&v, &cap, 100, sizeof(*v)), 0);
	assert_int_equal(cap, 128);
	for (int i = 0; i < 16; i++)
		assert_int_equal(v[i], i);
	free(v);
}

static void test_grow_fails_cleanly(void **state)
{
	int *v = NULL;
	size_t cap = 0;
	int *before;

	(void)state;
	assert_int_equal(cps_grow(&v, &cap, 4, sizeof(*v)), 0);
	before = v;
	assert_int_equal(cps_grow(&v, &cap, SIZE_MAX / 2, sizeof(*v)), -1);
	assert_ptr_equal(v, before);
	assert_int_equal(cap, 16);
	free(v);
}

static void test_parse_decimal(void **state)
{
	static const char *const bad[] = {"",
	                                  "-1",
	                                  "+1",
	                                  " 1",
	                                  "1 ",
	                                  "1x",
	                                  "0x10",
	                                  "1e3",
	                                  "9999999999999999999",
	                                  "99999999999999999999999"};
	int64_t v = -1;

	(void)state;
	assert_int_equal(cps_parse_decimal("0", &v), 0);
	assert_int_equal(v, 0);
	assert_int_equal(cps_parse_decimal("999999999999999999", &v), 0);
	assert_int_equal(v, INT64_C(999999999999999999));
	for (size_t i = 0; i < CPS_ARRAY_SIZE(bad); i++)
		assert_int_equal(cps_parse_decimal(bad[i], &v), -1);
	assert_int_equal(cps_parse_decimal(NULL, &v), -1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_seterr_returns_the_code),
	    cmocka_unit_test(test_grow_doubles_and_keeps),
	    cmocka_unit_test(test_grow_fails_cleanly),
	    cmocka_unit_test(test_parse_decimal),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
