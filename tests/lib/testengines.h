/*
 * The typed engine (reconcile/typed_reconcile.h) held against the JSON
 * engine (reconcile/reconcile.h): every check fails the running cmocka test
 * with what differs. The reconcile cases and the random streams share them.
 */
#ifndef CPSYNC_TESTS_TESTENGINES_H
#define CPSYNC_TESTS_TESTENGINES_H

#include "reconcile/reconcile.h"
#include "reconcile/typed_reconcile.h"

/* The compiled record schema of `entity` from the catalog of
 * $CPSYNC_SOURCE_DIR/schemas, compiled once a run; fails the test when it
 * cannot be had. */
const struct cps_record_schema *cps_test_entity_schema(const char *entity);
/* Frees the catalog and the compiled schemas. */
void cps_test_entity_schemas_free(void);

/* The typed state's view equals the JSON state: its four trees, version and
 * deletion. `after` says when, in the failure. */
void cps_test_typed_same(const struct cps_tstate *ts, const struct cps_key_state *st,
                         const char *after);
/* `st` as a typed state (in a scratch arena) and back: the same state; and
 * the typed codec of facts and provenance (store/state_typed.h) reads what
 * the JSON codec wrote of st, and the JSON codec what it wrote. */
void cps_test_typed_round_trip(const struct cps_key_state *st, const char *after);
/* Event `ev`, which the JSON engine applied to `st` with outcome `jo`,
 * applied by the typed engine to `ts`: the same state and outcome (its
 * lists as sets: the typed engine lists fields in the schema's order and
 * platforms in the state's, the JSON engine in the order it met them), and
 * when it changed, the same unified event, byte for byte; a copy of the
 * state in another arena (cps_tstate_clone) is the same state, no larger,
 * sharing nothing. */
void cps_test_engines_agree(const struct cps_rules *rules, struct cps_tstate *ts,
                            const struct cps_key_state *st, const struct cps_ingest_event *ev,
                            const struct cps_reconcile_outcome *jo, const char *after);

/* A steward's decision, which the JSON engine made on `st` with outcome
 * `jo` (field `field`, `how`, `platform`, the Avro JSON `value`, …), made
 * by the typed engine on `ts`: the same state and outcome. */
void cps_test_decisions_agree(const struct cps_rules *rules, struct cps_tstate *ts,
                              const struct cps_key_state *st, const char *field,
                              enum cps_resolution how, const char *platform, json_t *value,
                              const char *steward, const char *reason, int64_t conflict_id,
                              int64_t now_ms, const struct cps_reconcile_outcome *jo,
                              const char *after);
/* A rerun under `rules` at `now_ms`, which the JSON engine made on `st`
 * with outcome `jo`, made by the typed engine on `ts`: the same. */
void cps_test_reruns_agree(const struct cps_rules *rules, struct cps_tstate *ts,
                           const struct cps_key_state *st, int64_t now_ms,
                           const struct cps_reconcile_outcome *jo, const char *after);

#endif
