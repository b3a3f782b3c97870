/*
 * Private to the schema module (schema.c, canonical.c): Avro name
 * resolution shared by the catalog and the canonical form.
 */
#ifndef CPS_SCHEMA_INT_H
#define CPS_SCHEMA_INT_H

#include <jansson.h>

/* Full name of a named type (malloc'd): a dotted `name` as is, else the
 * `namespace` attribute when present ("" = none), else the enclosing one. */
char *cps_avro_full_name(const char *name, const json_t *ns_attr, const char *enclosing);
/* The namespace part of a full name (malloc'd, "" for none). */
char *cps_avro_namespace_of(const char *full);

#endif
