/*
 * A key state's per-platform facts (reconcile.h's `platforms` tree) in the
 * compact binary form the store keeps in cpsync.records.facts (bytea,
 * migration 012): each platform's stamp once, its fields' distinct stamps
 * in a table the fields refer to, values as tagged binary JSON. The layout
 * is documented at the top of state_facts.c. Any JSON tree round-trips
 * exactly (json_equal); the decoder is safe on any bytes.
 */
#ifndef CPS_STATE_FACTS_H
#define CPS_STATE_FACTS_H

#include "base/buf.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

#define CPS_FACTS_LAYOUT    1  /* the first byte of every encoding */
#define CPS_FACTS_MAX_DEPTH 64 /* nesting the decoder accepts */

/* Appends the encoding of `platforms` (an object; NULL: an empty one) to
 * `out`. CPS_ERR_INVALID when it is not an object, CPS_ERR_FATAL when
 * memory or out's limit runs out. */
int cps_facts_encode(json_t *platforms, struct cps_buf *out, char *errstr, size_t errstr_size);

/* The tree encoded in p[0..n) into *platforms (a new reference).
 * CPS_ERR_INVALID, *platforms NULL, for bytes that are not a whole valid
 * encoding; never reads outside p[0..n). */
int cps_facts_decode(const uint8_t *p, size_t n, json_t **platforms, char *errstr,
                     size_t errstr_size);

/* cps_facts_decode that also estimates, into *json_size, how long the
 * tree's compact JSON text would be (the key state's mem_hint: caches). */
int cps_facts_decode_sized(const uint8_t *p, size_t n, json_t **platforms, size_t *json_size,
                           char *errstr, size_t errstr_size);

#endif
