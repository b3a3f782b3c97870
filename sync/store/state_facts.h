/*
 * A key state's per-platform facts (reconcile.h's `platforms` tree), and
 * its provenance, in the compact binary forms the store keeps. The facts,
 * in cpsync.records.facts (bytea, migration 012): each platform's stamp once, its fields' distinct stamps
 * in a table the fields refer to, values as tagged binary JSON. The layout
 * is documented at the top of state_facts.c. Any JSON tree round-trips
 * exactly (json_equal); the decoder is safe on any bytes.
 */
#ifndef CPS_STATE_FACTS_H
#define CPS_STATE_FACTS_H

#include "base/buf.h"
#include "store/tagged.h"

#include <jansson.h>

#include <stddef.h>
#include <stdint.h>

#define CPS_FACTS_LAYOUT    1  /* the first byte of every encoding */
#define CPS_FACTS_MAX_DEPTH 64 /* nesting the decoder accepts */

/* The shapes of the encoders and decoders below (callers that take either
 * form: store/jsonb.c, store/pg_params.c, store/store_batch.c, the fuzz
 * harness). */
typedef int cps_tree_encode_fn(json_t *tree, struct cps_buf *out, char *errstr, size_t errstr_size);
typedef int cps_tree_decode_fn(const uint8_t *p, size_t n, json_t **tree, size_t *json_size,
                               char *errstr, size_t errstr_size);

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

/* A key state's provenance (reconcile.h) in cpsync.records.prov and
 * cpsync.changes.prov (bytea, migration 014): the object in the facts'
 * tagged binary JSON, about 4x cheaper to write and read than its text. */
#define CPS_PROV_LAYOUT 1 /* the first byte of every encoding */

/* Appends the encoding of the object `prov` to `out`; errors as
 * cps_facts_encode. */
int cps_prov_encode(json_t *prov, struct cps_buf *out, char *errstr, size_t errstr_size);

/* The object encoded in p[0..n) into *prov (a new reference), and into
 * *json_size (NULL: not wanted) an estimate of its compact JSON text's
 * length. CPS_ERR_INVALID, *prov NULL, for bytes that are not a whole
 * valid encoding; never reads outside p[0..n). */
int cps_prov_decode(const uint8_t *p, size_t n, json_t **prov, size_t *json_size, char *errstr,
                    size_t errstr_size);

/* One value of the layouts' tagged binary JSON, for the typed state's
 * codec (state_typed.c), which takes this way for the values it does not
 * transcode itself: read at r into *out (a new reference; -1 with r->err
 * set), or appended to b (-1 out of memory or limit, -2 nested deeper than
 * the decoder accepts). */
int cps_tagged_value_get(struct cps_tag_reader *r, json_t **out);
int cps_tagged_value_put(struct cps_buf *b, json_t *j);

#endif
