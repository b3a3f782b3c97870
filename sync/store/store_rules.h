/*
 * The rules lifecycle in the store (issue 12): the rule sets cpsync runs
 * (cpsync.rule_sets, migration 008), the load fence of the reconcile
 * workers, and one pass over every stored key state under new rules — a
 * dry run (`cpsync rules diff`) or, in locked batches, the rewrite
 * (`cpsync rules apply`). Both report the same figures, so a diff
 * predicts what an apply of the same rules on the same states does.
 */
#ifndef CPS_STORE_RULES_H
#define CPS_STORE_RULES_H

#include "store/store.h"
#include "store/store_steward.h"

#include <jansson.h>
#include <stdint.h>

/* Stores the rule set of `canonical` (cps_rules_canonical) unless a set of
 * that hash is stored; its number in *id either way. */
int cps_store_rule_set_put(struct cps_store *s, const char *hash, const char *canonical,
                           const char *instance, int64_t *id, char *errstr, size_t errstr_size);
/* The stored set `id`: {"id", "hash", "first_loaded_at", "loaded_by",
 * "applied_at", "applied_by"} (times as ISO 8601 text) and, when
 * with_rules, "rules"; JSON null when there is none. New reference. */
int cps_store_rule_set_get(struct cps_store *s, int64_t id, int with_rules, json_t **out,
                           char *errstr, size_t errstr_size);

/* A reconcile worker's load fence (migration 008): call just before it
 * loads a batch's states, on the connection that will commit them. Until
 * the next fence, an upsert of a row written by a transaction this
 * snapshot did not see fails as a serialization failure (retriable).
 * @locality the worker's thread */
int cps_store_load_fence(struct cps_store *s, char *errstr, size_t errstr_size);

struct cps_rules_pass {
	const struct cps_rules *rules; /* the new rules; their version is the new set's number */
	int apply;                     /* 0: a dry run, nothing locked or written */
	size_t batch;                  /* keys per page (per transaction when applying) */
	int samples;                   /* per entity, at most */
	/* apply only */
	int64_t rule_set;         /* recorded as applied at the end */
	const char *actor;        /* the audit rows' actor ("operator:NAME") */
	const char *instance;     /* rule_sets.applied_by */
	const char *topic_prefix; /* of the unified topics; NULL = "cpsync.unified." */
	cps_steward_encode_fn encode;
	void *encode_ctx;
	void (*after_batch)(void *ctx); /* after each committed batch (wake the publisher) */
	void *after_ctx;
	/* may be NULL: the policy's findings of a record the pass changes, into
	 * *findings (NULL: not checked), read through `s` inside the page's
	 * transaction; they are written there too (worker.h's
	 * cps_policy_checker_check). No alerts are raised for them. */
	int (*policy_check)(void *ctx, struct cps_store *s, const struct cps_key_state *st,
	                    json_t **findings, char *errstr, size_t errstr_size);
	void *policy_ctx;
};

/* Every stored (entity, key), in key order, decided again under p->rules.
 * *report: {"records": n, "changed": n, "rewritten": n, "entities":
 * {"person": {"records", "changed", "rewritten", "fields": {"name": n},
 * "conflicts_opened", "conflicts_closed", "samples": [{"key", "from", "to",
 * "fields": {"name": {"before", "after"}}}]}}} — "changed": new versions,
 * "rewritten": states whose conflicts or provenance markers change
 * without a new version. Applying, each batch is one transaction: rows
 * locked (FOR UPDATE), decided, state, change-log row, conflicts and audit
 * written; a batch that meets a serialization failure or deadlock is
 * retried. Samples hold keys and values: the caller masks them. */
int cps_store_rules_pass(struct cps_store *s, const struct cps_rules_pass *p, json_t **report,
                         char *errstr, size_t errstr_size);

#endif
