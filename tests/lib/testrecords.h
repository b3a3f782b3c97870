/*
 * Typed records (codec/record.h) from Avro JSON, for tests that feed pure
 * code the records the engine would hold: the JSON is encoded by Avro C
 * (defaults filled in for fields it leaves out) and decoded by the typed
 * decoder. One compiled schema per entity is kept for the whole run.
 */
#ifndef CPSYNC_TESTS_TESTRECORDS_H
#define CPSYNC_TESTS_TESTRECORDS_H

#include "base/arena.h"
#include "codec/record.h"
#include "codec/schema.h"

#include <jansson.h>

/* The typed value of Avro JSON record `j` of `entity` (allocated in
 * `arena`) and its type (*type); NULL with the reason on stderr when the
 * JSON does not fit the catalog's schema. */
const struct cps_tval *cps_test_typed(struct cps_catalog *catalog, const char *entity, json_t *j,
                                      struct cps_arena *arena, const struct cps_rtype **type);
/* Frees the compiled schemas. */
void cps_test_typed_release(void);

#endif
