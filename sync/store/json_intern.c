/*
 * The decode's scalar table (json_intern.h): open addressing on a hash of
 * the bytes; when it is full, values are simply not shared.
 */
#include "store/json_intern.h"

#include <stdlib.h>
#include <string.h>

#define INTERN_SLOTS      256 /* a power of two */
#define INTERN_MAX_STR    128 /* longer strings are rarely repeated (a position fits) */
#define INTERN_MAX_PROBES 16  /* then the value is not shared */

struct slot {
	uint64_t hash;
	json_t *v; /* NULL: empty */
};

struct cps_json_intern {
	struct slot slots[INTERN_SLOTS];
};

static uint64_t hash_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *s = p;

	for (size_t i = 0; i < n; i++)
		h = (h ^ s[i]) * 1099511628211ull;
	return h;
}

static int same(json_t *v, int is_str, const char *s, size_t len, int64_t i)
{
	if (is_str)
		return json_is_string(v) && json_string_length(v) == len &&
		       !memcmp(json_string_value(v), s, len);
	return json_is_integer(v) && json_integer_value(v) == i;
}

/* The value, found or made and entered; a new reference. */
static json_t *intern(struct cps_json_intern **t, int is_str, const char *s, size_t len, int64_t i)
{
	uint64_t h = is_str ? hash_bytes(14695981039346656037ull, s, len)
	                    : hash_bytes(1099511628211ull, &i, sizeof(i));
	json_t *v;

	if (!*t && !(*t = calloc(1, sizeof(**t))))
		return NULL;
	for (size_t n = 0, at = h & (INTERN_SLOTS - 1); n < INTERN_MAX_PROBES;
	     n++, at = (at + 1) & (INTERN_SLOTS - 1)) {
		struct slot *sl = &(*t)->slots[at];

		if (sl->v && sl->hash == h && same(sl->v, is_str, s, len, i))
			return json_incref(sl->v);
		if (!sl->v) {
			v = is_str ? json_stringn(s, len) : json_integer(i);
			if (v) {
				sl->hash = h;
				sl->v = json_incref(v);
			}
			return v;
		}
	}
	return is_str ? json_stringn(s, len) : json_integer(i);
}

json_t *cps_json_intern_str(struct cps_json_intern **t, const char *s, size_t len)
{
	if (len > INTERN_MAX_STR)
		return json_stringn(s, len);
	return intern(t, 1, s, len, 0);
}

json_t *cps_json_intern_int(struct cps_json_intern **t, int64_t i)
{
	return intern(t, 0, NULL, 0, i);
}

void cps_json_intern_free(struct cps_json_intern *t)
{
	if (!t)
		return;
	for (size_t i = 0; i < INTERN_SLOTS; i++)
		json_decref(t->slots[i].v);
	free(t);
}
