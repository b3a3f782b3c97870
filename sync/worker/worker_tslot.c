/*
 * A typed key state in a tslot (worker_int.h): the state with an arena of
 * its own, so that the state cache can keep it whole, copied now and then
 * to stay compact.
 */
#include "worker/worker_int.h"

#include <stdlib.h>

/* A typed state's arena grows in steps of this: a person's state is 4 to
 * 6 KiB. */
#define TSLOT_CHUNK 2048
/* A committed state is kept as it is while its arena holds at most this
 * many times what it held when loaded or last copied, plus TSLOT_SLACK;
 * past that it is copied, leaving behind what events replaced. */
#define TSLOT_GROWTH 2
#define TSLOT_SLACK  1024

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

struct cps_tstate *cps_tslot_compacted(struct cps_tstate *ts)
{
	struct tslot *t = (struct tslot *)ts, *c;

	if (cps_arena_used(&t->arena) <= TSLOT_GROWTH * t->loaded + TSLOT_SLACK)
		return ts;
	c = malloc(sizeof(*c));
	if (c) {
		cps_arena_init(&c->arena, TSLOT_CHUNK);
		if (cps_tstate_clone(ts, &c->arena, &c->st) == CPS_OK) {
			c->loaded = cps_arena_used(&c->arena);
			cps_tslot_free(ts);
			return &c->st;
		}
		cps_arena_release(&c->arena);
		free(c);
	}
	cps_tslot_free(ts);
	return NULL;
}

size_t cps_tslot_bytes(const struct cps_tstate *ts)
{
	const struct tslot *t = (const struct tslot *)ts;
	size_t used = cps_arena_used(&t->arena);

	/* the arena's chunks, not only what was handed out of them */
	return sizeof(*t) + (used + TSLOT_CHUNK - 1) / TSLOT_CHUNK * TSLOT_CHUNK;
}
