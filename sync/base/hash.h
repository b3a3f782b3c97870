/*
 * FNV-1a, 64 bits: the hash of the in-memory tables keyed by strings (the
 * workers' state cache, the sinks' version guard). Not for anything an
 * outsider chooses to collide: the tables compare the keys themselves.
 */
#ifndef CPS_HASH_H
#define CPS_HASH_H

#include <stdint.h>

#define CPS_FNV1A_SEED 1469598103934665603ull

/* Continues hash h over the string s. */
static inline uint64_t cps_fnv1a_with(uint64_t h, const char *s)
{
	for (; *s; s++)
		h = (h ^ (uint8_t)*s) * 1099511628211ull;
	return h;
}

static inline uint64_t cps_fnv1a(const char *s)
{
	return cps_fnv1a_with(CPS_FNV1A_SEED, s);
}

#endif
