/*
 * The typed key state (reconcile/typed_state.h) in the store's forms: the
 * facts (cpsync.records.facts) and the provenance (cpsync.records.prov,
 * cpsync.changes.prov) read straight into it and written straight from it,
 * and its record written as jsonb text,
 * in state_facts.c's layouts, so that the JSON engine and the typed one
 * read what the other wrote, and psql's cpsync.facts_json and
 * cpsync.provenance_json keep working. No jansson tree is built: a value is
 * turned from the layout's Avro JSON into its field type's Avro binary and
 * back (state_typed_values.c).
 *
 * The decoders take what the typed state can hold: a platform or a field
 * the JSON engine kept whole (an odd shape), a field the entity's schema
 * lacks, a value not of its field's type, or a provenance member reconcile
 * never writes is CPS_ERR_INVALID naming what (never a value), as is any
 * byte that does not read; such a state stays on the JSON path.
 */
#ifndef CPS_STATE_TYPED_H
#define CPS_STATE_TYPED_H

#include "base/buf.h"
#include "reconcile/typed_state.h"

#include <stddef.h>
#include <stdint.h>

/* Appends st's platforms and facts in the facts layout (state_facts.c).
 * CPS_ERR_FATAL when memory or out's limit runs out; CPS_ERR_INVALID when
 * a value's bytes do not read. */
int cps_tstate_facts_encode(const struct cps_tstate *st, struct cps_buf *out, char *errstr,
                            size_t errstr_size);
/* The facts encoded in p[0..n) into st's platforms, stamps and facts (st
 * made by cps_tstate_init, with no platform yet). */
int cps_tstate_facts_decode(struct cps_tstate *st, const uint8_t *p, size_t n, char *errstr,
                            size_t errstr_size);

/* Appends st's provenance in the provenance layout. Errors as
 * cps_tstate_facts_encode. */
int cps_tstate_prov_encode(const struct cps_tstate *st, struct cps_buf *out, char *errstr,
                           size_t errstr_size);
/* The provenance encoded in p[0..n) into st->prov; its platforms must be
 * st's already (the facts decoded first). */
int cps_tstate_prov_decode(struct cps_tstate *st, const uint8_t *p, size_t n, char *errstr,
                           size_t errstr_size);

/* Appends the jsonb text of st's record (an object of the fields it has,
 * escaped as store/jsonb.c escapes: the record column of cpsync.records and
 * cpsync.changes); for a state with a record. Errors as
 * cps_tstate_facts_encode. */
int cps_tstate_record_jsonb(const struct cps_tstate *st, struct cps_buf *out, char *errstr,
                            size_t errstr_size);

#endif
