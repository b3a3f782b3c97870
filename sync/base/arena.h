/*
 * A bump allocator in chunks: memory that lives as long as a piece of work
 * (a batch, a decoded record) and is given back all at once (PostgreSQL's
 * memory contexts, nginx pools). Allocation is a pointer bump in the
 * current chunk; cps_arena_reset keeps the first chunk for the next batch.
 * Not thread-safe: one arena per thread or per batch.
 */
#ifndef CPS_ARENA_H
#define CPS_ARENA_H

#include <stddef.h>
#include <stdint.h>

struct cps_arena_chunk;

struct cps_arena {
	struct cps_arena_chunk *first;   /* kept by cps_arena_reset */
	struct cps_arena_chunk *current; /* allocations come from here */
	uint8_t *p, *end;                /* free space of `current` */
	size_t chunk_size;               /* usable bytes of a normal chunk */
	size_t used;                     /* bytes handed out since the last reset */
};

#define CPS_ARENA_ALIGN         16 /* every allocation is aligned for any C type */
#define CPS_ARENA_DEFAULT_CHUNK ((size_t)64 << 10)

/* No allocation; chunk_size 0 means CPS_ARENA_DEFAULT_CHUNK. */
void cps_arena_init(struct cps_arena *a, size_t chunk_size);
/* `size` bytes aligned to CPS_ARENA_ALIGN, uninitialised, valid until the
 * next cps_arena_reset or cps_arena_release; NULL when memory is out (the
 * arena is then unchanged and still usable). A request larger than a chunk
 * gets a chunk of its own. size 0 returns a valid (not dereferenceable)
 * pointer, not NULL. */
void *cps_arena_alloc(struct cps_arena *a, size_t size);
/* Like cps_arena_alloc, zero-filled; NULL also when n * size overflows. */
void *cps_arena_calloc(struct cps_arena *a, size_t n, size_t size);
/* A NUL-terminated copy of the first `len` bytes of `s` in the arena: an
 * object's strings (names, topics, connection strings) live and die with
 * one arena instead of one malloc each. NULL when memory is out. */
char *cps_arena_strndup(struct cps_arena *a, const char *s, size_t len);
/* cps_arena_strndup of all of `s`; NULL when `s` is NULL or memory is out. */
char *cps_arena_strdup(struct cps_arena *a, const char *s);
/* Gives back everything allocated; frees every chunk but the first, which
 * the next allocations reuse. */
void cps_arena_reset(struct cps_arena *a);
/* Frees every chunk; the struct may be reused after cps_arena_init. */
void cps_arena_release(struct cps_arena *a);
/* Bytes handed out since the last reset (alignment padding included). */
size_t cps_arena_used(const struct cps_arena *a);

#endif
