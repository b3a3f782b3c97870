/*
 * A worker's cache of key states (engine issue, item 6): the states its
 * last batches committed, kept with the id of the transaction that wrote
 * them, so that the next batch on the same keys asks the store only
 * whether that transaction is still each row's last writer instead of
 * loading and parsing the state again. Bounded in bytes (an estimate from
 * the stored size for a JSON state, its arena for a typed one), least
 * recently committed out first; emptied when the worker's partitions are
 * revoked.
 */
#include "worker/worker_int.h"
#include "base/hash.h"

#include <stdlib.h>
#include <string.h>

struct cache_entry {
	char *key; /* "entity/key" */
	uint64_t hash;
	struct cps_cached st;
	uint64_t xid;
	size_t bytes;
	struct cache_entry *older, *newer; /* the eviction order */
};

struct cps_state_cache {
	struct cache_entry **slots; /* open addressing, linear probing */
	size_t n_slots, n;
	size_t bytes, cap_bytes;
	struct cache_entry *oldest, *newest;
	struct cps_link_cache *stats; /* NULL: none */
};

/* What a state costs in memory: a JSON state's trees take 6.6 times their
 * stored text (200 demo person and household states parsed under a counting
 * allocator: 5.9 KB of text, 39.5 KB of heap on average); a typed one its
 * arena. */
static size_t state_bytes(struct cps_cached s)
{
	if (s.typed)
		return cps_tslot_bytes(s.typed) + 256;
	return 7 * (s.json->mem_hint ? s.json->mem_hint : 1024) + 256;
}

void cps_cached_free(struct cps_cached s)
{
	if (s.json) {
		cps_key_state_release(s.json);
		free(s.json);
	}
	if (s.typed)
		cps_tslot_free(s.typed);
}

struct cps_state_cache *cps_state_cache_new(size_t cap_bytes, struct cps_link_cache *stats)
{
	struct cps_state_cache *c = calloc(1, sizeof(*c));

	if (!c)
		return NULL;
	c->cap_bytes = cap_bytes;
	c->stats = stats;
	return c;
}

/* Entries and bytes come and go: the shared figures follow. */
static void stats_add(struct cps_state_cache *c, int64_t entries, int64_t bytes)
{
	if (!c->stats)
		return;
	atomic_fetch_add(&c->stats->entries, entries);
	atomic_fetch_add(&c->stats->bytes, bytes);
}

void cps_state_cache_count_lookups(struct cps_state_cache *c, size_t hits, size_t stale,
                                   size_t misses)
{
	if (!c || !c->stats)
		return;
	atomic_fetch_add(&c->stats->hits, (int64_t)hits);
	atomic_fetch_add(&c->stats->stale, (int64_t)stale);
	atomic_fetch_add(&c->stats->misses, (int64_t)misses);
}

static void entry_free(struct cache_entry *e)
{
	cps_cached_free(e->st);
	free(e->key);
	free(e);
}

/* Index of `key`'s slot, or of the empty slot where it would go. */
static size_t find_slot(const struct cps_state_cache *c, const char *key, uint64_t h)
{
	size_t mask = c->n_slots - 1, i = (size_t)h & mask;

	while (c->slots[i] && (c->slots[i]->hash != h || strcmp(c->slots[i]->key, key)))
		i = (i + 1) & mask;
	return i;
}

/* Empties slot i, moving later entries of its run back (no tombstones). */
static void slot_remove(struct cps_state_cache *c, size_t i)
{
	size_t mask = c->n_slots - 1, j = i;

	c->slots[i] = NULL;
	for (;;) {
		size_t home;

		j = (j + 1) & mask;
		if (!c->slots[j])
			return;
		home = (size_t)c->slots[j]->hash & mask;
		/* slot j's entry may move to i unless its home lies in (i, j] */
		if ((j > i && (home <= i || home > j)) || (j < i && home <= i && home > j)) {
			c->slots[i] = c->slots[j];
			c->slots[j] = NULL;
			i = j;
		}
	}
}

static void order_unlink(struct cps_state_cache *c, struct cache_entry *e)
{
	if (e->older)
		e->older->newer = e->newer;
	else
		c->oldest = e->newer;
	if (e->newer)
		e->newer->older = e->older;
	else
		c->newest = e->older;
	e->older = e->newer = NULL;
}

static void entry_remove(struct cps_state_cache *c, size_t slot)
{
	struct cache_entry *e = c->slots[slot];

	slot_remove(c, slot);
	order_unlink(c, e);
	c->n--;
	c->bytes -= e->bytes;
	stats_add(c, -1, -(int64_t)e->bytes);
}

static int grow(struct cps_state_cache *c)
{
	size_t n_slots = c->n_slots ? c->n_slots * 2 : 1024;
	struct cache_entry **old = c->slots;
	size_t old_n = c->n_slots;

	c->slots = calloc(n_slots, sizeof(*c->slots));
	if (!c->slots) {
		c->slots = old;
		return -1;
	}
	c->n_slots = n_slots;
	for (size_t i = 0; i < old_n; i++)
		if (old[i])
			c->slots[find_slot(c, old[i]->key, old[i]->hash)] = old[i];
	free(old);
	return 0;
}

struct cps_cached cps_state_cache_take(struct cps_state_cache *c, const char *key, uint64_t *xid)
{
	struct cps_cached st = {0};
	struct cache_entry *e;
	size_t i;

	*xid = 0;
	if (!c || !c->n)
		return st;
	i = find_slot(c, key, cps_fnv1a(key));
	e = c->slots[i];
	if (!e)
		return st;
	entry_remove(c, i);
	st = e->st;
	*xid = e->xid;
	free(e->key);
	free(e);
	return st;
}

void cps_state_cache_put(struct cps_state_cache *c, const char *key, struct cps_cached st,
                         uint64_t xid)
{
	struct cache_entry *e;
	uint64_t h = cps_fnv1a(key);
	size_t i;

	if (!c || !xid || state_bytes(st) > c->cap_bytes ||
	    ((c->n + 1) * 2 > c->n_slots && grow(c) != 0))
		goto drop;
	i = find_slot(c, key, h);
	if (c->slots[i]) { /* a stale copy: the new one replaces it */
		struct cache_entry *old = c->slots[i];

		entry_remove(c, i);
		entry_free(old);
		i = find_slot(c, key, h);
	}
	e = calloc(1, sizeof(*e));
	if (!e || !(e->key = strdup(key))) {
		free(e);
		goto drop;
	}
	e->hash = h;
	e->st = st;
	e->xid = xid;
	e->bytes = state_bytes(st);
	c->slots[i] = e;
	c->n++;
	c->bytes += e->bytes;
	stats_add(c, 1, (int64_t)e->bytes);
	e->older = c->newest;
	if (c->newest)
		c->newest->newer = e;
	else
		c->oldest = e;
	c->newest = e;
	while (c->bytes > c->cap_bytes && c->oldest) {
		struct cache_entry *victim = c->oldest;

		entry_remove(c, find_slot(c, victim->key, victim->hash));
		entry_free(victim);
		if (c->stats)
			atomic_fetch_add(&c->stats->evictions, 1);
	}
	return;
drop:
	cps_cached_free(st);
}

void cps_state_cache_clear(struct cps_state_cache *c)
{
	if (!c)
		return;
	while (c->oldest) {
		struct cache_entry *e = c->oldest;

		order_unlink(c, e);
		stats_add(c, -1, -(int64_t)e->bytes);
		entry_free(e);
	}
	free(c->slots);
	c->slots = NULL;
	c->n_slots = c->n = c->bytes = 0;
}

void cps_state_cache_free(struct cps_state_cache *c)
{
	cps_state_cache_clear(c);
	free(c);
}

size_t cps_state_cache_count(const struct cps_state_cache *c)
{
	return c ? c->n : 0;
}
