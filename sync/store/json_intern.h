/*
 * A decode's table of the scalars it has made (state_facts.c): equal short
 * strings and equal integers within one decoded tree are one shared jansson
 * value. A key state's facts and provenance repeat a few values many times
 * (platform and rule names, positions, stamps); sharing them saves an
 * allocation and a free per occurrence. Safe because values in a key state
 * are replaced, never changed in place.
 */
#ifndef CPS_JSON_INTERN_H
#define CPS_JSON_INTERN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

struct cps_json_intern;

/* A new reference to the string s[0..len) (shared when short); NULL out of
 * memory or not UTF-8. *t is made on first use. */
json_t *cps_json_intern_str(struct cps_json_intern **t, const char *s, size_t len);

/* A new reference to the integer i (shared); NULL out of memory. */
json_t *cps_json_intern_int(struct cps_json_intern **t, int64_t i);

/* Drops the table's references (the values live on in the tree). */
void cps_json_intern_free(struct cps_json_intern *t);

#endif
