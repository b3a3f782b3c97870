/*
 * The store: cpsync's state in PostgreSQL (schema `cpsync`), created and
 * upgraded by versioned migrations (sync/store/migrations/NNN_*.sql, embedded in
 * the binary). One reconcile batch is ONE transaction: key states, their change-log
 * rows, conflicts, audit and the ingest offsets it consumed — so a crash
 * never applies an event twice or loses one. Writes use libpq pipeline mode
 * (never a round trip per row). One struct cps_store per thread.
 */
#ifndef CPS_STORE_H
#define CPS_STORE_H

#include "model/event.h"
#include "reconcile/reconcile.h"
#include "reconcile/typed_state.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cps_store;

int cps_store_open(const char *conninfo, struct cps_store **out, char *errstr, size_t errstr_size);
void cps_store_close(struct cps_store *s);
/* Applies every migration not yet applied, each in its own transaction,
 * under an advisory lock (several instances may start at once). */
int cps_store_migrate(struct cps_store *s, char *errstr, size_t errstr_size);
/* The highest migration version applied (0 = none) and the newest known. */
int cps_store_schema_version(struct cps_store *s, int *applied, int *latest, char *errstr,
                             size_t errstr_size);
/* The name of the embedded migration `version` ("001_initial"), NULL when
 * there is none: what `cpsync migrate` prints for each version it applied. */
const char *cps_store_migration_name(int version);
/* Whether the last failure was a serialization failure (SQLSTATE 40001:
 * another writer changed a key state this one had loaded, or a stale
 * version): nothing is wrong, the batch is to be loaded and applied again. */
bool cps_store_serialization_failed(const struct cps_store *s);
/* SELECT 1 round trip, for readiness. */
int cps_store_ping(struct cps_store *s, char *errstr, size_t errstr_size);
/* Takes the session-level advisory lock `name` (hashtextextended(name, 0))
 * on this connection if it is free: *held says whether it is ours now. It is
 * held until the connection closes (cps_store_close, or a lost session). */
int cps_store_try_lock(struct cps_store *s, const char *name, bool *held, char *errstr,
                       size_t errstr_size);

/* Loads the stored state of each (entity, key) in `states` (entity and key
 * set, the rest freshly initialised) in one query; keys not in the store
 * stay empty. */
/* The same for a caller that holds some states already: known_xid[i] (0:
 * none) names the transaction that wrote the copy it holds. Where the stored
 * state's last writer is that one, same[i] is set and states[i] is left as
 * it was (the copy is current); xid_out[i] gets each stored state's last
 * writer (0: not in the store). */
int cps_store_load_states_known(struct cps_store *s, struct cps_key_state **states, size_t n,
                                const uint64_t *known_xid, uint64_t *xid_out, unsigned char *same,
                                char *errstr, size_t errstr_size);
/* The same into typed states (reconcile/typed_state.h), each made by
 * cps_tstate_init with its entity's schema and no platform: typed[i] says
 * whether state i has its typed form (a key with no row: an empty one);
 * where it does not — a row written before the binary facts, or a shape the
 * typed state does not hold — the caller loads that key the JSON way. */
int cps_store_load_tstates(struct cps_store *s, struct cps_tstate **states, size_t n,
                           const uint64_t *known_xid, uint64_t *xid_out, unsigned char *same,
                           unsigned char *typed, char *errstr, size_t errstr_size);
int cps_store_load_states(struct cps_store *s, struct cps_key_state **states, size_t n,
                          char *errstr, size_t errstr_size);

/* One unified change: a row of the change log (cpsync.changes), which is
 * both the history and what the publisher sends. */
struct cps_store_emit {
	const char *entity;
	const char *key;
	int64_t version;
	enum cps_op op;
	json_t *record;         /* borrowed */
	json_t *provenance;     /* borrowed */
	json_t *changed_fields; /* borrowed */
	const char *topic;      /* unified topic */
	const uint8_t *payload; /* the encoded unified event (framed) */
	size_t payload_len;
	/* An emit of a typed state (batch.tstates) carries its version written
	 * down when it was made, instead of record, provenance and
	 * changed_fields: the record's jsonb text (NULL: none, a delete), the
	 * provenance's bytes (store/state_typed.h) and the changed fields as a
	 * jsonb array's text. */
	bool encoded;
	const char *record_text;
	const uint8_t *prov_bin;
	size_t prov_len;
	const char *changed_text;
	/* Instead of record_text and prov_bin: the version is its typed state's
	 * as the batch commits it (nothing changed the state since), so the
	 * change-log row takes the state's record and provenance. */
	bool as_state;
};

enum cps_conflict_change_kind {
	CPS_CONFLICT_OPEN,
	CPS_CONFLICT_UPDATE,
	CPS_CONFLICT_CLOSE,
};

struct cps_store_conflict {
	enum cps_conflict_change_kind kind;
	const char *entity;
	const char *key;
	const char *field;
	json_t *candidates; /* borrowed; open and update */
	const char *rule;   /* open */
	const char *how;    /* close: "auto", "resolved", "dismissed" */
};

struct cps_store_audit {
	const char *actor;  /* "cpsync" or a steward's name */
	const char *action; /* "conflict.opened", "conflict.auto_closed", "conflict.resolved", … */
	const char *entity;
	const char *key;
	const char *field;
	json_t *before; /* borrowed, may be NULL */
	json_t *after;  /* borrowed, may be NULL */
	const char *reason;
};

struct cps_store_offset {
	const char *topic;
	int32_t partition;
	int64_t next_offset;       /* the next offset to consume */
	uint64_t last_fingerprint; /* of the message at next_offset - 1 (ingest_topic.h) */
};

/* What the policy's checks found in one record's latest version (a JSON
 * array of cps_policy_evaluate's findings, possibly empty): these are
 * opened (or kept open), the record's other open findings closed. */
struct cps_store_policy {
	const char *entity;
	const char *key;
	json_t *findings; /* borrowed */
	/* 0: a record the batch itself writes; else a record the batch only
	 * rechecked, at this stored version: its findings are written only while
	 * the record is still at it (another worker may have changed it since) */
	int64_t version;
	json_t *record; /* borrowed: the checked record (Avro JSON), for its alerts;
	                 * NULL: the batch's own typed state's */
};

/* The enrolments whose policy checks read the persons or households a batch
 * changed (010_policy_recheck.sql), in one query: those whose subject_id is
 * in `subjects`, or is a person whose household_id is in `households` (two
 * JSON arrays of strings). *out: a JSON array of [key, version, record],
 * at most `limit` of them (in no particular order). */
int cps_store_policy_dependents(struct cps_store *s, json_t *subjects, json_t *households,
                                int limit, json_t **out, char *errstr, size_t errstr_size);

/* Writes one record's findings as a batch does (send_policy), outside a
 * pipeline: in the caller's transaction, if any. */
int cps_store_policy_write(struct cps_store *s, const struct cps_store_policy *pf, char *errstr,
                           size_t errstr_size);

/* Stores the policy's standards (011_standards.sql) as a new version
 * unless the latest has the same `hash`; *version the new one, or 0. */
int cps_store_standards_put(struct cps_store *s, const char *hash, const char *standards,
                            const char *instance, int64_t *version, char *errstr,
                            size_t errstr_size);
/* Every stored version of the standards, newest first: *out a JSON array of
 * {"version", "hash", "standards", "loaded_at", "loaded_by"}. */
int cps_store_standards_list(struct cps_store *s, json_t **out, char *errstr, size_t errstr_size);

/* What one batch writes. The arrays are borrowed for the call. */
struct cps_store_batch {
	struct cps_key_state **states; /* every state the batch changed */
	size_t n_states;
	struct cps_store_emit *emits;
	size_t n_emits;
	struct cps_store_conflict *conflicts;
	size_t n_conflicts;
	struct cps_store_audit *audits;
	size_t n_audits;
	struct cps_store_offset *offsets;
	size_t n_offsets;
	struct cps_store_policy *policy;
	size_t n_policy;
	struct cps_tstate **tstates; /* and the typed ones (reconcile/typed_state.h) */
	size_t n_tstates;
};

/* Writes the batch in one transaction (pipeline mode). On error nothing is
 * written; CPS_ERR_RETRIABLE for connection loss or serialization failure.
 * `xid` (may be NULL) gets the committed transaction's id, the written_xid
 * of every state it wrote (0 on error). */
int cps_store_commit_batch(struct cps_store *s, const struct cps_store_batch *b, uint64_t *xid,
                           char *errstr, size_t errstr_size);

/* Stored next offsets of `topic`'s partitions: offsets[i] for partitions[i],
 * -1 when none is stored. */
int cps_store_load_offsets(struct cps_store *s, const char *topic, const int32_t *partitions,
                           int64_t *offsets, size_t n, char *errstr, size_t errstr_size);

/* A message cpsync could not accept, kept with its raw bytes. `origin` is
 * unique: adding the same origin twice keeps the first (idempotent). */
struct cps_dead_letter {
	const char *platform;
	const char *origin; /* "province:topic/3@1234" */
	const char *entity; /* may be NULL when unknown */
	const char *reason;
	const uint8_t *raw;
	size_t raw_len;
	const uint8_t *raw_key;
	size_t raw_key_len;
	int64_t received_ms;
	/* a sink's dead letter (migration 006): kind "sink", its link
	 * ("city-sink"), the unified version; NULL, NULL, 0 for a source's */
	const char *kind;
	const char *link;
	int64_t version;
};

int cps_store_add_dead_letters(struct cps_store *s, const struct cps_dead_letter *dl, size_t n,
                               char *errstr, size_t errstr_size);

/* The change log after the publisher's cursor, in log order: only changes
 * of ended transactions, so the cursor never passes one that commits later
 * (003_change_log.sql). Rows are borrowed until the next fetch. */
struct cps_change_row {
	int64_t seq;
	uint64_t xid; /* of the transaction that appended it */
	const char *topic;
	const char *key;
	const uint8_t *payload;
	size_t payload_len;
};

int cps_store_changes_fetch(struct cps_store *s, size_t limit, struct cps_change_row **rows,
                            size_t *n, char *errstr, size_t errstr_size);
/* Moves the publisher's cursor to `row` (never back): every change up to it
 * is on Kafka. */
int cps_store_changes_advance(struct cps_store *s, const struct cps_change_row *row, char *errstr,
                              size_t errstr_size);

/* Retention: deletes up to `limit` changes committed more than
 * `retention_ms` ago that the publisher has sent; *deleted says how many. */
int cps_store_changes_prune(struct cps_store *s, int64_t retention_ms, size_t limit,
                            size_t *deleted, char *errstr, size_t errstr_size);

/* What retention purges besides the change log (store_retention.c). */
enum cps_retention {
	CPS_RETAIN_DEAD_LETTER_RAW, /* raw bytes of dead letters, whatever their status */
	CPS_RETAIN_DEAD_LETTERS,    /* dead letters replayed or discarded */
	CPS_RETAIN_CONFLICTS,       /* conflicts closed (resolved, dismissed, auto-closed) */
	CPS_RETAIN_AUDIT_VALUES,    /* before/after values of audit entries (the entry stays) */
	CPS_RETAIN_KINDS
};
/* "dead_letter_raw", "dead_letters", "conflicts", "audit_values". */
const char *cps_retention_name(enum cps_retention what);
/* One slice: purges `what` of up to `limit` rows older than `age_ms`;
 * *done says how many. */
int cps_store_retain(struct cps_store *s, enum cps_retention what, int64_t age_ms, size_t limit,
                     size_t *done, char *errstr, size_t errstr_size);

/* One published version, as a sink names it. */
struct cps_change_ref {
	const char *entity;
	const char *key;
	int64_t version;
};

/* The version guard of a Kafka or files sink (cpsync.sink_versions): for
 * each of refs (entity, key; version ignored), in one query, the newest
 * version link `link` wrote into versions[i], 0 when none. */
int cps_store_sink_versions_get(struct cps_store *s, const char *link,
                                const struct cps_change_ref *refs, size_t n, int64_t *versions,
                                char *errstr, size_t errstr_size);
/* Records in one statement that `link` wrote refs[i].version of each key
 * (a stored version only grows). */
int cps_store_sink_versions_put(struct cps_store *s, const char *link,
                                const struct cps_change_ref *refs, size_t n, char *errstr,
                                size_t errstr_size);

/* Figures for /status. */
struct cps_store_stats {
	int64_t records;
	int64_t open_conflicts;
	int64_t oldest_conflict_age_s; /* -1 when none */
	int64_t dead_letters;          /* not yet replayed or discarded */
	int64_t outbox_pending;        /* changes the publisher has not sent yet */
};

int cps_store_stats(struct cps_store *s, struct cps_store_stats *out, char *errstr,
                    size_t errstr_size);
/* The checks with an open finding on each record of `records` ([[entity,
 * key], …]): {"entity/key": ["CHECK", …], …} (records without any absent). */
int cps_store_policy_open_of(struct cps_store *s, json_t *records, json_t **out, char *errstr,
                             size_t errstr_size);
/* The open policy findings by check: {"CHECK": n, …}. */
int cps_store_policy_open_counts(struct cps_store *s, json_t **out, char *errstr,
                                 size_t errstr_size);

#endif
