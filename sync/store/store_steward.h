/*
 * The store's steward side (store_steward.c): the queries behind the steward
 * API (conflict list and detail, claim, record view, audit trail) and the
 * steward's decision on a conflict, written in ONE transaction with the same
 * tables and invariants as a reconcile batch (store.h). Connections come from
 * a small pool, so any HTTP thread may call any function at any time.
 * Results are JSON shaped as docs/openapi.yaml says; errors never hold values.
 */
#ifndef CPS_STORE_STEWARD_H
#define CPS_STORE_STEWARD_H

#include "base/buf.h"
#include "reconcile/reconcile.h"
#include "reconcile/rules.h"

#include <jansson.h>
#include <stdint.h>

/* Why a call refused (with CPS_ERR_INVALID): the API maps these to HTTP. */
enum cps_steward_refusal {
	CPS_STEWARD_BAD_REQUEST = 1, /* 400: the decision or a filter is not acceptable */
	CPS_STEWARD_NOT_FOUND,       /* 404: no such conflict or record */
	CPS_STEWARD_STATE,           /* 409: the conflict is not in a state that allows it */
};

struct cps_steward_store;

/* A token's region scope, as every call below takes it: the JSON text
 * {"fields": {"<entity>": ["<region field>", ...], ...}, "prefixes":
 * ["441521", ...]}. A record is in scope when ANY of its entity's region
 * fields (in the current unified record) starts with one of the prefixes;
 * an entity without region fields, or a record missing or without those
 * values, is never in scope. Conflicts and audit entries are in scope with their record.
 * Out of scope is "not found" (a single object) or left out (a list),
 * filtered in SQL so pages stay full. NULL scope: every region. */

/* Opens nothing yet: connections are made on first use (at most `max_idle`
 * are kept). The conninfo is copied. */
int cps_steward_store_new(const char *conninfo, unsigned max_idle, struct cps_steward_store **out,
                          char *errstr, size_t errstr_size);
void cps_steward_store_free(struct cps_steward_store *ss);

/* Keyset position of a listing: (time in microseconds since the epoch, id). */
struct cps_steward_cursor {
	int has;
	int64_t at_us;
	int64_t id;
};

struct cps_conflict_filter {
	const char *status, *entity, *field, *platform; /* NULL = any */
	int64_t min_age_s;                              /* < 0 = any */
	int ascending;                                  /* else newest first */
	int limit;                                      /* 1..500 */
	struct cps_steward_cursor after;
	const char *scope; /* NULL = every region */
};

/* A page of conflict summaries: *items is a new JSON array; *next has
 * next->has set when there may be more (the position of the last item). */
int cps_steward_conflicts_list(struct cps_steward_store *ss, const struct cps_conflict_filter *f,
                               json_t **items, struct cps_steward_cursor *next, char *errstr,
                               size_t errstr_size);

/* One conflict in full (docs/openapi.yaml Conflict), *why on refusal. */
int cps_steward_conflict_get(struct cps_steward_store *ss, int64_t id, const char *scope,
                             json_t **out, int *why, char *errstr, size_t errstr_size);

/* open -> claimed by `steward` (claiming one's own claim again is fine);
 * audited as conflict.claimed. Returns the conflict as _get does. */
int cps_steward_conflict_claim(struct cps_steward_store *ss, int64_t id, const char *steward,
                               const char *scope, json_t **out, int *why, char *errstr,
                               size_t errstr_size);

/* Encodes the unified event of `st` after `o` (framed) into `out`;
 * CPS_ERR_INVALID when the record does not fit its schema. */
typedef int (*cps_steward_encode_fn)(void *ctx, const struct cps_key_state *st,
                                     const struct cps_reconcile_outcome *o, int64_t now_ms,
                                     struct cps_buf *out, char *errstr, size_t errstr_size);

struct cps_steward_decision {
	int64_t conflict_id;
	enum cps_resolution how;
	const char *platform; /* TAKE_PLATFORM */
	json_t *value;        /* ENTER_VALUE, borrowed */
	const char *steward;  /* the token's principal */
	const char *scope;    /* the token's regions; NULL = every region */
	const char *reason;   /* non-empty */
	const struct cps_rules *rules;
	const char *topic_prefix; /* of the unified topic */
	cps_steward_encode_fn encode;
	void *encode_ctx;
};

/* The decision in one transaction (conflict and records rows locked FOR
 * UPDATE): new key state, its change-log row, conflict closed with its
 * resolution, audit row. On success *out is the closed conflict and
 * *version the record's new version. Of concurrent resolves of one conflict
 * exactly one succeeds; the others get CPS_STEWARD_STATE. */
int cps_steward_conflict_resolve(struct cps_steward_store *ss, const struct cps_steward_decision *d,
                                 json_t **out, int64_t *version, int *why, char *errstr,
                                 size_t errstr_size);

/* The unified record of (entity, key) with provenance, platforms' last-seen
 * values, live conflicts and the newest `history_limit` history rows. */
int cps_steward_record_get(struct cps_steward_store *ss, const char *entity, const char *key,
                           const char *scope, int history_limit, json_t **out, int *why,
                           char *errstr, size_t errstr_size);

struct cps_audit_filter {
	const char *entity, *key, *actor; /* NULL = any */
	int64_t since_us, until_us;       /* < 0 = unbounded; until is exclusive */
	int limit;
	struct cps_steward_cursor after; /* newest first: entries before it */
	const char *scope;               /* NULL = every region */
};

/* The policy's findings (007_policy_findings.sql), newest first. */
struct cps_finding_filter {
	const char *status; /* "open" or "closed"; NULL = both */
	const char *check;  /* a check code; NULL = every check */
	const char *entity;
	const char *key;
	int limit;
	struct cps_steward_cursor after;
	const char *scope; /* NULL = every region */
};

int cps_steward_findings_list(struct cps_steward_store *ss, const struct cps_finding_filter *f,
                              json_t **items, struct cps_steward_cursor *next, char *errstr,
                              size_t errstr_size);

int cps_steward_audit_list(struct cps_steward_store *ss, const struct cps_audit_filter *f,
                           json_t **items, struct cps_steward_cursor *next, char *errstr,
                           size_t errstr_size);

#endif
