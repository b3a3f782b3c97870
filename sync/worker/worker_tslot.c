/*
 * A typed key state in a tslot (worker_int.h): the state with an arena of
 * its own, so that the state cache can keep it whole, and when a committed
 * state is worth keeping.
 */
#include "worker/worker_int.h"

#include <stdlib.h>

/* A typed state's arena grows in steps of this: a person's state is 4 to
 * 6 KiB. */
#define TSLOT_CHUNK 4096
/* A committed state is kept while its arena holds at most this many times
 * what it held when loaded, plus TSLOT_SLACK: a key changed many times over
 * is dropped and loaded compact again. */
#define TSLOT_GROWTH 3
#define TSLOT_SLACK  (8u << 10)

struct cps_tstate *cps_tslot_new(const struct cps_record_schema *rs, const char *entity,
                                 const char *key)
{
	struct tslot *t = malloc(sizeof(*t));

	if (!t)
		return NULL;
	cps_arena_init(&t->arena, TSLOT_CHUNK);
	if (cps_tstate_init(&t->st, rs, entity, key, &t->arena, NULL, 0) != CPS_OK) {
		cps_arena_release(&t->arena);
		free(t);
		return NULL;
	}
	t->loaded = cps_arena_used(&t->arena);
	return &t->st;
}

void cps_tslot_free(struct cps_tstate *ts)
{
	struct tslot *t = (struct tslot *)ts;

	cps_arena_release(&t->arena);
	free(t);
}

void cps_tslot_loaded(struct cps_tstate *ts)
{
	struct tslot *t = (struct tslot *)ts;

	t->loaded = cps_arena_used(&t->arena);
}

bool cps_tslot_compact(const struct cps_tstate *ts)
{
	const struct tslot *t = (const struct tslot *)ts;

	return cps_arena_used(&t->arena) <= TSLOT_GROWTH * t->loaded + TSLOT_SLACK;
}

size_t cps_tslot_bytes(const struct cps_tstate *ts)
{
	const struct tslot *t = (const struct tslot *)ts;

	return sizeof(*t) + cps_arena_used(&t->arena);
}
