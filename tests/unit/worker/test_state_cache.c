/*
 * Proves the reconcile workers' state cache (sync/worker/worker_cache.c):
 * a state taken out is gone until put back, with the writer's id it was
 * put with; a newer put replaces an older copy; the byte cap evicts the
 * least recently put first; clear empties it; a state it cannot keep is
 * freed (ASan sees leaks and double frees); the figures /status and
 * /metrics show (entries, bytes, evictions, lookups) follow all of that.
 * Typed states (a tslot each) are kept beside JSON ones, costing their
 * arena; one whose arena holds mostly what events left behind is copied
 * compact before it is kept.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <cmocka.h>

#include "worker/worker_int.h"
#include "testengines.h"

static struct cps_key_state *state(const char *key, size_t mem_hint)
{
	struct cps_key_state *st = calloc(1, sizeof(*st));

	assert_non_null(st);
	assert_int_equal(cps_key_state_init(st, "person", key), CPS_OK);
	st->mem_hint = mem_hint;
	return st;
}

static void drop(struct cps_key_state *st)
{
	cps_key_state_release(st);
	free(st);
}

/* The cache's calls on JSON states. */
static struct cps_key_state *take(struct cps_state_cache *c, const char *key, uint64_t *xid)
{
	struct cps_cached got = cps_state_cache_take(c, key, xid);

	assert_null(got.typed);
	return got.json;
}

static void put(struct cps_state_cache *c, const char *key, struct cps_key_state *st, uint64_t xid)
{
	cps_state_cache_put(c, key, (struct cps_cached){.json = st}, xid);
}

static void test_take_put_replace(void **unused)
{
	struct cps_state_cache *c = cps_state_cache_new(1 << 20, NULL);
	struct cps_key_state *a = state("A", 100), *b = state("B", 100), *got;
	uint64_t xid;

	assert_null(take(c, "person/A", &xid));
	assert_true(xid == 0);
	put(c, "person/A", a, 7);
	put(c, "person/B", b, 8);
	assert_int_equal(cps_state_cache_count(c), 2);
	got = take(c, "person/A", &xid);
	assert_ptr_equal(got, a);
	assert_true(xid == 7);
	assert_null(take(c, "person/A", &xid)); /* taken: gone */
	put(c, "person/A", got, 9);
	put(c, "person/B", state("B", 100), 10); /* replaces (and frees) b */
	got = take(c, "person/B", &xid);
	assert_true(xid == 10);
	drop(got);
	put(c, "person/C", state("C", 100), 0); /* no writer: not kept */
	assert_int_equal(cps_state_cache_count(c), 1);
	cps_state_cache_free(c);
}

static void test_cap_evicts_oldest(void **unused)
{
	/* each state costs 7 * 1000 + 256 bytes: room for 3 */
	struct cps_link_cache stats = {0};
	struct cps_state_cache *c = cps_state_cache_new(3 * 7256 + 100, &stats);
	char key[32];
	uint64_t xid;

	for (int i = 0; i < 5; i++) {
		snprintf(key, sizeof(key), "person/%d", i);
		put(c, key, state(key + 7, 1000), (uint64_t)i + 1);
	}
	assert_int_equal(cps_state_cache_count(c), 3);
	assert_int_equal(stats.entries, 3);
	assert_int_equal(stats.bytes, 3 * 7256);
	assert_int_equal(stats.evictions, 2);
	for (int i = 0; i < 5; i++) {
		struct cps_key_state *st;

		snprintf(key, sizeof(key), "person/%d", i);
		st = take(c, key, &xid);
		if (i < 2) {
			assert_null(st);
		} else {
			assert_non_null(st);
			assert_true(xid == (uint64_t)i + 1);
			drop(st);
		}
	}
	assert_int_equal(stats.entries, 0); /* all taken */
	assert_int_equal(stats.bytes, 0);
	put(c, "person/big", state("big", 1 << 20), 1); /* over the cap alone */
	assert_int_equal(cps_state_cache_count(c), 0);
	put(c, "person/5", state("5", 1000), 6);
	cps_state_cache_clear(c); /* a revocation */
	assert_int_equal(stats.entries, 0);
	assert_int_equal(stats.bytes, 0);
	cps_state_cache_count_lookups(c, 5, 2, 3);
	cps_state_cache_count_lookups(c, 1, 0, 0);
	assert_int_equal(stats.hits, 6);
	assert_int_equal(stats.stale, 2);
	assert_int_equal(stats.misses, 3);
	assert_int_equal(stats.evictions, 2);
	cps_state_cache_free(c);
}

/* Many keys: the table grows and removals keep every other key findable. */
static void test_many_keys(void **unused)
{
	struct cps_state_cache *c = cps_state_cache_new((size_t)1 << 30, NULL);
	char key[32];
	uint64_t xid;

	for (int i = 0; i < 5000; i++) {
		snprintf(key, sizeof(key), "person/%d", i);
		put(c, key, state(key + 7, 10), (uint64_t)i + 1);
	}
	for (int i = 0; i < 5000; i += 3) {
		snprintf(key, sizeof(key), "person/%d", i);
		drop(take(c, key, &xid));
	}
	for (int i = 0; i < 5000; i++) {
		struct cps_key_state *st;

		snprintf(key, sizeof(key), "person/%d", i);
		st = take(c, key, &xid);
		if (i % 3 == 0) {
			assert_null(st);
			continue;
		}
		assert_non_null(st);
		assert_true(xid == (uint64_t)i + 1);
		assert_string_equal(st->key, key + 7);
		put(c, key, st, xid);
	}
	assert_int_equal(cps_state_cache_count(c), 5000 - 1667);
	cps_state_cache_clear(c);
	assert_int_equal(cps_state_cache_count(c), 0);
	assert_null(take(c, "person/1", &xid));
	cps_state_cache_free(c);
}

/* A typed state is kept whole with its arena, costs what the arena holds,
 * and is freed by the cache like a JSON one. */
static void test_typed_states(void **unused)
{
	struct cps_link_cache stats = {0};
	struct cps_state_cache *c = cps_state_cache_new(1 << 20, &stats);
	const struct cps_record_schema *rs = cps_test_entity_schema("person");
	struct cps_tstate *t = cps_tslot_new(rs, "person", "T"),
	                  *u = cps_tslot_new(rs, "person", "U");
	struct cps_cached got;
	uint64_t xid;

	assert_non_null(t);
	assert_non_null(u);
	assert_ptr_equal(cps_tslot_compacted(t), t); /* nothing to leave behind */
	cps_state_cache_put(c, "person/T", (struct cps_cached){.typed = t}, 3);
	cps_state_cache_put(c, "person/U", (struct cps_cached){.typed = u}, 4);
	put(c, "person/J", state("J", 100), 5);
	assert_int_equal(stats.entries, 3);
	assert_int_equal(stats.bytes, 2 * (cps_tslot_bytes(t) + 256) + 7 * 100 + 256);
	got = cps_state_cache_take(c, "person/T", &xid);
	assert_ptr_equal(got.typed, t);
	assert_null(got.json);
	assert_true(xid == 3);
	assert_string_equal(got.typed->key, "T");
	cps_cached_free(got);
	u = cps_tslot_new(rs, "person", "U2");
	/* a state whose arena holds mostly what events left behind is copied */
	t = cps_tslot_new(rs, "person", "G");
	assert_non_null(cps_arena_alloc(&((struct tslot *)t)->arena, 20000));
	got.typed = cps_tslot_compacted(t); /* t is freed */
	assert_non_null(got.typed);
	assert_string_equal(got.typed->key, "G");
	assert_true(cps_tslot_bytes(got.typed) <= cps_tslot_bytes(u)); /* as small as new */
	cps_state_cache_put(c, "person/G", got, 6);
	cps_tslot_free(u);
	cps_state_cache_free(c); /* frees U, J and G */
	cps_test_entity_schemas_free();
}

int main(void)
{
	const struct CMUnitTest tests[] = {
	    cmocka_unit_test(test_take_put_replace),
	    cmocka_unit_test(test_cap_evicts_oldest),
	    cmocka_unit_test(test_many_keys),
	    cmocka_unit_test(test_typed_states),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
