/*
 * Unit tests of live.c, the swappable reference-counted pointer the rules
 * and the policy sit behind: a swap publishes at once, an object a reader
 * still holds is freed only when it is given back, and one nobody holds is
 * freed by the swap itself.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include "base/live.h"

#include <stdlib.h>

static int freed[4];

static void mark_freed(void *obj)
{
	freed[*(int *)obj]++;
	free(obj);
}

static int *obj(int id)
{
	int *p = malloc(sizeof(*p));

	*p = id;
	return p;
}

static void test_a_held_object_outlives_its_swap(void **state)
{
	struct cps_live *l = cps_live_new(obj(0), mark_freed);
	int *a, *b;
	uint64_t gen = 0;

	(void)state;
	a = cps_live_take(l);
	assert_int_equal(*a, 0);
	assert_int_equal(cps_live_swap(l, obj(1), &gen), 0);
	assert_int_equal(gen, 1);
	b = cps_live_take(l);
	assert_int_equal(*b, 1);       /* the swap is seen at once */
	assert_int_equal(freed[0], 0); /* ... but the reader keeps its object */
	assert_int_equal(cps_live_retired(l), 1);
	cps_live_give(l, a);
	assert_int_equal(freed[0], 1); /* freed by its last reader */
	assert_int_equal(cps_live_retired(l), 0);
	cps_live_give(l, b);
	assert_int_equal(cps_live_swap(l, obj(2), NULL), 0);
	assert_int_equal(freed[1], 1); /* nobody held it: freed by the swap */
	cps_live_free(l);
	assert_int_equal(freed[2], 1);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_a_held_object_outlives_its_swap),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
