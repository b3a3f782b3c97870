/*
 * Reconciliation on the typed key state (ENGINE.md "The typed key
 * state", step 3): the rules of reconcile.h — facts newest-stamp-wins,
 * precedence / latest / manual with on_disagree, cases, steward decisions
 * holding until a newer fact, deletion when every platform withdrew, a
 * steward's decision, a rerun under new rules — on
 * arrays by field index, values compared as bytes. Pure: no I/O, no clock.
 * Everything it allocates lives in the state's arena.
 *
 * Where it differs from the JSON engine, by design: changed fields and
 * conflict changes come out in the schema's order and prior platforms in
 * the state's, not in the trees' insertion order; values are equal when
 * their Avro binary is (a double stated as 1 and as 1.0 is one value).
 */
#ifndef CPS_TYPED_RECONCILE_H
#define CPS_TYPED_RECONCILE_H

#include "model/event.h"
#include "reconcile/rules.h"
#include "reconcile/typed_state.h"

/* One platform event for the typed engine. */
struct cps_tevent {
	const char *platform;
	enum cps_op op;
	int64_t eff, src;
	const char *pos;           /* NULL: none */
	struct cps_tbytes *values; /* upsert: n_fields, by index; p NULL: not stated */
};

enum cps_tconflict_change_kind {
	CPS_TCONFLICT_OPENED,
	CPS_TCONFLICT_UPDATED,   /* its candidates changed */
	CPS_TCONFLICT_CLOSED,    /* by itself ("auto") */
	CPS_TCONFLICT_RESOLVED,  /* by a steward's value ("resolved") */
	CPS_TCONFLICT_DISMISSED, /* by a steward keeping the value ("dismissed") */
};

/* What happened to the conflict of one field; its candidates, for opened
 * and updated, are the state's (st->conf[field]) after the apply. */
struct cps_tconflict_change {
	uint32_t field;
	enum cps_tconflict_change_kind kind;
};

/* What one apply did. Arrays in the state's arena, valid until its reset. */
struct cps_toutcome {
	bool changed;    /* the unified record changed: a new version to emit */
	int64_t version; /* the new version when changed */
	enum cps_op op;
	uint32_t n_changed;
	uint32_t *changed_fields; /* whose unified value or backing changed */
	uint32_t n_conflicts;
	struct cps_tconflict_change *conflicts;
	uint32_t n_prior;
	uint32_t *prior_platforms; /* a delete: the platforms the last version's provenance named */
};

/* `ev` (an upsert or a delete of st's entity and key) as a typed event in
 * st's arena: the record's fields encoded in their types. CPS_ERR_INVALID
 * for a field the schema lacks or a value of the wrong type (named, never
 * shown). */
int cps_tevent_from_json(struct cps_tstate *st, const struct cps_ingest_event *ev,
                         struct cps_tevent *out, char *errstr, size_t errstr_size);

/* The same from the record's Avro binary in `payload` (one datum of st's
 * schema, as the ingest payload carries it; ev's record is not read): every
 * field of the record, each written again by the encoder, so that equal
 * values have equal bytes. CPS_ERR_INVALID for bytes that do not decode,
 * worded as the decoder words it (a byte offset and a field path). */
int cps_tevent_from_avro(struct cps_tstate *st, const struct cps_ingest_event *ev,
                         const void *payload, size_t len, struct cps_tevent *out, char *errstr,
                         size_t errstr_size);

/* Applies `ev` to `st` in place. CPS_ERR_INVALID (a bad event, or a field
 * with no value that its type cannot hold as null) leaves the record as it
 * was but may have updated facts: drop the state. CPS_ERR_FATAL: out of
 * memory, the same. */
int cps_treconcile_apply(const struct cps_rules *rules, struct cps_tstate *st,
                         const struct cps_tevent *ev, struct cps_toutcome *out, char *errstr,
                         size_t errstr_size);

/* Decides `st` again under `rules` from the facts it holds, as
 * cps_reconcile_rerun (a rules change). Errors as cps_treconcile_apply. */
int cps_treconcile_rerun(const struct cps_rules *rules, struct cps_tstate *st, int64_t now_ms,
                         struct cps_toutcome *out, char *errstr, size_t errstr_size);

/* A steward's decision on the open conflict of field `f`, as
 * cps_reconcile_resolve: `platform` for TAKE_PLATFORM, `value` (the
 * field type's Avro binary) for ENTER_VALUE. CPS_ERR_INVALID for a decision
 * that does not fit (no open conflict, no steward, a platform that is not a
 * candidate, no value), the state unchanged. */
int cps_treconcile_resolve(const struct cps_rules *rules, struct cps_tstate *st, uint32_t f,
                           enum cps_resolution how, const char *platform, struct cps_tbytes value,
                           const char *steward, const char *reason, int64_t conflict_id,
                           int64_t now_ms, struct cps_toutcome *out, char *errstr,
                           size_t errstr_size);

/* The outcome in reconcile.h's JSON shape (opened, updated, closed,
 * changed_fields, prior_platforms), for the edges that speak JSON and the
 * differential tests. `out` is initialised here. */
int cps_toutcome_to_json(const struct cps_tstate *st, const struct cps_toutcome *o,
                         struct cps_reconcile_outcome *out, char *errstr, size_t errstr_size);

#endif
