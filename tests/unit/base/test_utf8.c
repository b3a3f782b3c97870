/*
 * Unit tests of utf8.c: cps_utf8_valid accepts ASCII (NUL included) and
 * well-formed 2-, 3- and 4-byte forms up to U+10FFFF, and refuses what
 * jansson refuses: overlong forms, surrogates, code points past U+10FFFF,
 * stray continuation bytes and sequences cut short.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/utf8.h"

#include <string.h>

static bool valid(const char *s, size_t len)
{
	return cps_utf8_valid((const uint8_t *)s, len);
}

static void test_accepts_well_formed(void **state)
{
	(void)state;
	assert_true(valid("", 0));
	assert_true(valid("abc\0def", 7));
	assert_true(valid("\xC2\x80", 2));         /* U+0080 */
	assert_true(valid("\xE5\xBC\xA0", 3));     /* a CJK character */
	assert_true(valid("\xED\x9F\xBF", 3));     /* U+D7FF, just below the surrogates */
	assert_true(valid("\xF0\x90\x80\x80", 4)); /* U+10000 */
	assert_true(valid("\xF4\x8F\xBF\xBF", 4)); /* U+10FFFF */
}

static void test_refuses_ill_formed(void **state)
{
	(void)state;
	assert_false(valid("\xC0\xAF", 2));         /* overlong '/' */
	assert_false(valid("\xC1\xBF", 2));         /* overlong */
	assert_false(valid("\xE0\x80\xAF", 3));     /* overlong 3-byte */
	assert_false(valid("\xF0\x80\x80\xAF", 4)); /* overlong 4-byte */
	assert_false(valid("\xED\xA0\x80", 3));     /* U+D800, a surrogate */
	assert_false(valid("\xF4\x90\x80\x80", 4)); /* past U+10FFFF */
	assert_false(valid("\xF5\x80\x80\x80", 4)); /* lead byte past F4 */
	assert_false(valid("\x80", 1));             /* stray continuation */
	assert_false(valid("\xE5\xBC", 2));         /* cut short */
	assert_false(valid("\xE5\x41\xA0", 3));     /* not a continuation */
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_accepts_well_formed),
	    cmocka_unit_test(test_refuses_ill_formed),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
