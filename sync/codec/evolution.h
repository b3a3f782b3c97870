/*
 * Schema evolution (Avro specification "Schema Resolution"): data written
 * with a writer schema read into a reader schema. Avro C's resolved writer
 * fails on reader fields that have defaults and the writer lacks, and its
 * parser drops defaults; so cpsync resolves itself, reading the defaults
 * from the reader schema's JSON. Enums resolve by symbol name; a reader
 * enum that reorders or removes a writer symbol is refused as incompatible
 * (cpsync only ever appends enum symbols).
 */
#ifndef CPS_EVOLUTION_H
#define CPS_EVOLUTION_H

#include "codec/guard.h"
#include "codec/schema.h"

/* 0 when data written with `writer` can be read as `reader`; otherwise
 * CPS_ERR_INVALID with the first incompatibility, e.g.
 * "enum cpsync.Gender: symbol 'MALE' moved from index 0 to 1". */
int cps_schema_check_compatible(const struct cps_schema *writer, const struct cps_schema *reader,
                                char *errstr, size_t errstr_size);

/* Decodes `buf` (one datum of `writer`, checked by the guard first) into
 * `out`, a value of `reader`'s class, filling reader-only fields from their
 * defaults. */
int cps_resolve_decode(const struct cps_schema *writer, const struct cps_schema *reader,
                       const void *buf, size_t len, const struct cps_guard_limits *limits,
                       avro_value_t *out, char *errstr, size_t errstr_size);

/* Sets `out` to a JSON default value (as found in a schema's "default"). */
int cps_value_set_default(json_t *schema, json_t *dflt, avro_value_t *out, char *errstr,
                          size_t errstr_size);

#endif
