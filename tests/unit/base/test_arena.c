/*
 * Unit tests of arena.c's string copies: cps_arena_strdup and
 * cps_arena_strndup copy into the arena (terminated, independent of the
 * source), a NULL string copies to NULL, strings larger than a chunk get a
 * chunk of their own, and cps_arena_release gives all of them back at once.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/arena.h"

#include <stdlib.h>
#include <string.h>

static void test_strdup_copies_into_the_arena(void **state)
{
	struct cps_arena a;
	char src[] = "cpsync.ingest";
	char *copy;

	(void)state;
	cps_arena_init(&a, 64);
	copy = cps_arena_strdup(&a, src);
	assert_non_null(copy);
	assert_ptr_not_equal(copy, src);
	src[0] = 'X';
	assert_string_equal(copy, "cpsync.ingest");
	assert_true(cps_arena_used(&a) >= sizeof(src));
	assert_null(cps_arena_strdup(&a, NULL));
	cps_arena_release(&a);
	assert_int_equal(cps_arena_used(&a), 0);
}

static void test_strndup_terminates_a_prefix(void **state)
{
	struct cps_arena a;
	char *t, *empty;

	(void)state;
	cps_arena_init(&a, 64);
	t = cps_arena_strndup(&a, "topic_a,topic_b", 7);
	empty = cps_arena_strndup(&a, "abc", 0);
	assert_non_null(t);
	assert_string_equal(t, "topic_a");
	assert_non_null(empty);
	assert_string_equal(empty, "");
	cps_arena_release(&a);
}

static void test_long_string_gets_its_own_chunk(void **state)
{
	struct cps_arena a;
	char big[1000];
	char *small, *copy;

	(void)state;
	memset(big, 'k', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	cps_arena_init(&a, 64);
	small = cps_arena_strdup(&a, "slot");
	copy = cps_arena_strdup(&a, big);
	assert_non_null(copy);
	assert_string_equal(copy, big);
	assert_string_equal(small, "slot"); /* the earlier copy is untouched */
	cps_arena_release(&a);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_strdup_copies_into_the_arena),
	    cmocka_unit_test(test_strndup_terminates_a_prefix),
	    cmocka_unit_test(test_long_string_gets_its_own_chunk),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
