/*
 * Private to the schema module (schema.c, catalog.c, canonical.c): Avro name
 * resolution shared by the catalog and the canonical form, and what the
 * catalog uses of schema.c to build its schemas against each other.
 */
#ifndef CPS_SCHEMA_INT_H
#define CPS_SCHEMA_INT_H

#include "codec/schema.h"

#include <jansson.h>
#include <stddef.h>

/* Whether `s` names one of Avro's eight primitive types. */
int cps_avro_is_primitive(const char *s);
/* Full name of a named type (malloc'd): a dotted `name` as is, else the
 * `namespace` attribute when present ("" = none), else the enclosing one. */
char *cps_avro_full_name(const char *name, const json_t *ns_attr, const char *enclosing);
/* The namespace part of a full name (malloc'd, "" for none). */
char *cps_avro_namespace_of(const char *full);

/* ---- schema.c, for the catalog ---- */

/* A growable list of strings. */
struct strlist {
	char **v;
	size_t n, cap;
};

int cps_schema_strlist_add(struct strlist *l, const char *s);
void cps_schema_strlist_release(struct strlist *l);

/* Named types defined in the catalog's files, for cross-file references. */
struct definition {
	char *name;        /* full name */
	const json_t *def; /* borrowed from the file's JSON */
	int top_level;     /* the file's root schema */
};

struct definitions {
	struct definition *v;
	size_t n, cap;
};

/* Records every named type defined in `s` (best effort: malformed parts are
 * skipped here and reported when the file itself is resolved). */
int cps_schema_definitions_collect(struct definitions *d, const json_t *s, const char *ns,
                                   int depth, int top_level);
void cps_schema_definitions_release(struct definitions *d);

/* Builds a schema from JSON whose references are resolved against `others`
 * (may be NULL). `path` names the input in errors (NULL: "schema"). */
int cps_schema_build(const json_t *json, const char *path, const struct definitions *others,
                     struct cps_schema **out, char *errstr, size_t errstr_size);
/* A file's JSON; NULL with *rc and errstr set when unreadable or invalid. */
json_t *cps_schema_load_json_file(const char *path, char *errstr, size_t errstr_size, int *rc);

#endif
