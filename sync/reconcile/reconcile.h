/*
 * Field-level reconciliation of one key (design: ENGINE.md). Pure: no I/O,
 * no clock — times come in as arguments — so every case can be replayed
 * from a data file (tests/reconcile/cases/).
 */
#ifndef CPS_RECONCILE_H
#define CPS_RECONCILE_H

#include "model/event.h"
#include "reconcile/rules.h"

#include <jansson.h>
#include <stdint.h>

/*
 * Everything cpsync knows about one (entity, key). All JSON is owned.
 *  platforms:  {"city": {"withdrawn": false, "eff": ms, "src": ms, "pos": "…",
 *                        "fields": {"name": {"v": <Avro JSON>, "eff": ms, "src": ms, "pos": "…"}}}}
 *              (stored compactly as cpsync.records.facts: store/state_facts.c)
 *  record:     the unified record as an Avro JSON object, or null before the first value
 *  provenance: {"name": {"platform": "city", "pos": "…", "eff": ms, "src": ms,
 *                        "rule": "precedence", "rule_version": 1,
 *                        "flagged": true?, "pending": true?}}
 *              platform, pos, eff and src are those of the fact the value came
 *              from. A steward decision (rule "steward") adds "conflict_id"?,
 *              "steward", "decided_at", "reason"? and "seen_eff"/"seen_src": the
 *              newest fact of the field the decision saw (a newer one ends it).
 *              Taking a platform's value: that candidate's platform, pos, eff,
 *              src. Entering a value: platform and pos null, eff = src =
 *              decided_at. Dismissing: the kept value's own platform, pos, eff
 *              and src (as for an entered value when the value is null).
 *  conflicts:  open conflicts by field: {"income": {"candidates": [{"platform": "city",
 *                        "v": …, "eff": ms, "src": ms, "pos": "…"}, …], "rule": "manual",
 *                        "opened_at": ms}}
 */
struct cps_key_state {
	char entity[CPS_NAME_MAX];
	char *key;
	int64_t version; /* of the unified record; 0 = never emitted */
	int deleted;     /* every platform withdrew: the unified record is deleted */
	json_t *platforms;
	json_t *record;
	json_t *provenance;
	json_t *conflicts;
	size_t mem_hint; /* the JSON's size as text when loaded (0 unknown): caches */
};

/* Fills an empty state (no allocation of JSON until needed is fine, but all
 * four JSON members must be valid objects / null after init). */
int cps_key_state_init(struct cps_key_state *st, const char *entity, const char *key);
void cps_key_state_release(struct cps_key_state *st);

/* What one apply or resolve did. All JSON owned; release with _release. */
struct cps_reconcile_outcome {
	int changed;     /* the unified record changed: a new version to emit */
	int64_t version; /* the new version when changed */
	enum cps_op op;  /* upsert, or delete when every platform withdrew */
	json_t *opened;  /* [{"field", "candidates", "rule"}] conflicts opened */
	json_t *updated; /* [{"field", "candidates"}] open conflicts whose candidates changed */
	json_t *closed;  /* [{"field", "how": "auto"|"resolved"|"dismissed"}] */
	json_t *changed_fields; /* ["name", …] fields whose unified value changed */
	/* For a delete: ["city", …] the platforms named in the provenance of the
	 * version before it (each once), taken before the state is cleared in
	 * place; the sinks' no-echo rule reads it from the unified event. May be
	 * NULL (none). */
	json_t *prior_platforms;
};

void cps_reconcile_outcome_init(struct cps_reconcile_outcome *o);
void cps_reconcile_outcome_release(struct cps_reconcile_outcome *o);

/* Applies one ingest event to `st` (its entity and key must match), in
 * place. CPS_ERR_INVALID (a bad event) leaves `st` untouched; on
 * CPS_ERR_FATAL (out of memory) `st` may be half-applied: drop it. */
int cps_reconcile_apply(const struct cps_rules *rules, struct cps_key_state *st,
                        const struct cps_ingest_event *ev, struct cps_reconcile_outcome *out,
                        char *errstr, size_t errstr_size);

/* Decides `st` again under `rules` from the facts it holds, as if its
 * newest fact had just arrived (a rules change: cpsync rules diff/apply).
 * A new version only when the unified record changes; conflicts open and
 * close as the rules say (opened at now_ms). Errors as cps_reconcile_apply. */
int cps_reconcile_rerun(const struct cps_rules *rules, struct cps_key_state *st, int64_t now_ms,
                        struct cps_reconcile_outcome *out, char *errstr, size_t errstr_size);

enum cps_resolution {
	CPS_RESOLVE_TAKE_PLATFORM, /* the value of one candidate platform */
	CPS_RESOLVE_ENTER_VALUE,   /* a value the steward enters */
	CPS_RESOLVE_DISMISS,       /* keep the current unified value */
};

/* A steward's decision on the open conflict of `field`. `value` is used for
 * ENTER_VALUE, `platform` for TAKE_PLATFORM. `conflict_id` is the store's id
 * of that conflict, recorded in the field's provenance (0: none recorded). */
int cps_reconcile_resolve(const struct cps_rules *rules, struct cps_key_state *st,
                          const char *field, enum cps_resolution how, const char *platform,
                          json_t *value, const char *steward, const char *reason,
                          int64_t conflict_id, int64_t now_ms, struct cps_reconcile_outcome *out,
                          char *errstr, size_t errstr_size);

#endif
