/*
 * The chunked bump allocator (see arena.h). Chunks form a singly linked
 * list from the first; the fast path of cps_arena_alloc is an aligned
 * pointer bump, the slow path mallocs a new chunk.
 */
#include "base/arena.h"

#include <stdlib.h>
#include <string.h>

struct cps_arena_chunk {
	struct cps_arena_chunk *next;
	size_t size; /* usable bytes after the header */
	_Alignas(CPS_ARENA_ALIGN) uint8_t data[];
};

void cps_arena_init(struct cps_arena *a, size_t chunk_size)
{
	memset(a, 0, sizeof(*a));
	a->chunk_size = chunk_size ? chunk_size : CPS_ARENA_DEFAULT_CHUNK;
}

static size_t align_up(size_t n)
{
	return (n + (CPS_ARENA_ALIGN - 1)) & ~(size_t)(CPS_ARENA_ALIGN - 1);
}

/* Appends a chunk able to hold `size` bytes and makes it current (the
 * current chunk is always the last: reset frees all but the first). */
static void *alloc_slow(struct cps_arena *a, size_t size)
{
	struct cps_arena_chunk *c;
	size_t usable = size > a->chunk_size ? align_up(size) : a->chunk_size;

	if (size > SIZE_MAX - sizeof(*c) - CPS_ARENA_ALIGN)
		return NULL;
	c = malloc(sizeof(*c) + usable);
	if (!c)
		return NULL;
	c->size = usable;
	c->next = NULL;
	if (a->current)
		a->current->next = c;
	else
		a->first = c;
	a->current = c;
	a->p = c->data + size;
	a->end = c->data + usable;
	a->used += size;
	return c->data;
}

void *cps_arena_alloc(struct cps_arena *a, size_t size)
{
	uint8_t *p = (uint8_t *)(((uintptr_t)a->p + (CPS_ARENA_ALIGN - 1)) &
	                         ~(uintptr_t)(CPS_ARENA_ALIGN - 1));

	if (a->p && size <= (size_t)(a->end - a->p) &&
	    (size_t)(p - a->p) <= (size_t)(a->end - a->p) - size) {
		a->used += (size_t)(p - a->p) + size;
		a->p = p + size;
		return p;
	}
	return alloc_slow(a, size);
}

void *cps_arena_calloc(struct cps_arena *a, size_t n, size_t size)
{
	void *p;

	if (size && n > SIZE_MAX / size)
		return NULL;
	p = cps_arena_alloc(a, n * size);
	if (p && n && size)
		memset(p, 0, n * size);
	return p;
}

char *cps_arena_strndup(struct cps_arena *a, const char *s, size_t len)
{
	char *p = len < SIZE_MAX ? cps_arena_alloc(a, len + 1) : NULL;

	if (p) {
		memcpy(p, s, len);
		p[len] = '\0';
	}
	return p;
}

char *cps_arena_strdup(struct cps_arena *a, const char *s)
{
	return s ? cps_arena_strndup(a, s, strlen(s)) : NULL;
}

void cps_arena_reset(struct cps_arena *a)
{
	struct cps_arena_chunk *c, *next;

	if (!a->first)
		return;
	for (c = a->first->next; c; c = next) {
		next = c->next;
		free(c);
	}
	a->first->next = NULL;
	a->current = a->first;
	a->p = a->first->data;
	a->end = a->first->data + a->first->size;
	a->used = 0;
}

void cps_arena_release(struct cps_arena *a)
{
	struct cps_arena_chunk *c, *next;

	for (c = a->first; c; c = next) {
		next = c->next;
		free(c);
	}
	cps_arena_init(a, a->chunk_size);
}

size_t cps_arena_used(const struct cps_arena *a)
{
	return a->used;
}
