/*
 * The dead-letter part of the store for the operator API: list and inspect
 * cpsync.dead_letters, lock one for a replay (status checked under the row
 * lock, so a dead letter is replayed at most once), mark it replayed or keep
 * it new with a fresh reason, discard it, append operator actions to
 * cpsync.audit, and keep the links operators paused (cpsync.paused_links). One struct cps_dlq_store is one PostgreSQL connection, for
 * one thread at a time.
 */
#ifndef CPS_STORE_DEADLETTERS_H
#define CPS_STORE_DEADLETTERS_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct cps_dlq_store;

/* Opens a connection (statement timeout 30 s). */
int cps_dlq_store_open(const char *conninfo, struct cps_dlq_store **out, char *errstr,
                       size_t errstr_size);
/* NULL-safe; rolls back an open transaction. */
void cps_dlq_store_close(struct cps_dlq_store *s);
/* Whether the connection is still usable (for a pool). */
bool cps_dlq_store_ok(struct cps_dlq_store *s);

/* A list query; NULL or "" strings do not filter. */
struct cps_dlq_filter {
	const char *status; /* "new", "replayed", "discarded" */
	const char *platform;
	const char *entity;
	const char *reason_contains; /* substring of the reason, case-sensitive */
	int64_t before_id;           /* cursor: only ids below it; 0 = from the newest */
	size_t limit;                /* 1..1000 */
};

/* Newest first. *items = JSON array of {id, received_at, platform, origin,
 * entity, reason, status, size, note, updated_at, kind ("source" or "sink"),
 * link (a sink's: "city-sink"; else null), version (a sink's unified
 * version; else null)} (caller decrefs);
 * *next_cursor = the id to pass as before_id for the next page, 0 when this
 * page is the last. */
int cps_dlq_list(struct cps_dlq_store *s, const struct cps_dlq_filter *f, json_t **items,
                 int64_t *next_cursor, char *errstr, size_t errstr_size);

/* One dead letter with "raw" and "key" as base64 strings (key null when
 * there was none). *item = NULL when no such id. */
int cps_dlq_get(struct cps_dlq_store *s, int64_t id, json_t **item, char *errstr,
                size_t errstr_size);

/* A dead letter held under its row lock (strings and bytes owned by it). */
struct cps_dlq_locked {
	int64_t id;
	char *platform, *origin, *entity, *status; /* entity NULL when unknown */
	unsigned char *raw, *raw_key;              /* NULL when the column is NULL */
	size_t raw_len, raw_key_len;
	bool raw_purged; /* retention dropped raw and raw_key: not replayable */
	/* "source", or "sink": then raw = the unified event, raw_key = the
	 * unified key, link = the sink's link, version = the unified version */
	char *kind, *link;
	int64_t version;
};
void cps_dlq_locked_release(struct cps_dlq_locked *row);

/* BEGIN, then SELECT … FOR UPDATE of dead letter `id`. *found = false (and
 * the transaction rolled back) when it does not exist. Otherwise the
 * transaction stays open: end it with cps_dlq_finish_replay or
 * cps_dlq_rollback. */
int cps_dlq_lock(struct cps_dlq_store *s, int64_t id, struct cps_dlq_locked *row, bool *found,
                 char *errstr, size_t errstr_size);

/* Ends the transaction of cps_dlq_lock with the replay's outcome: replayed
 * (status replayed, note, audit row deadletter.replayed by `actor`) or
 * still bad (stays new, reason = `new_reason`), then COMMIT. */
int cps_dlq_finish_replay(struct cps_dlq_store *s, const struct cps_dlq_locked *row, bool replayed,
                          const char *actor, const char *note, const char *new_reason, char *errstr,
                          size_t errstr_size);
/* ROLLBACK of an open transaction (NULL-safe, errors ignored). */
void cps_dlq_rollback(struct cps_dlq_store *s);

/* Ids of new dead letters matching f (status ignored: always "new"),
 * oldest first, at most f->limit. *ids is malloc'd (caller frees). */
int cps_dlq_select_new(struct cps_dlq_store *s, const struct cps_dlq_filter *f, int64_t **ids,
                       size_t *n, char *errstr, size_t errstr_size);

/* Discards a new dead letter in one transaction: status discarded, note =
 * reason, audit row deadletter.discarded by `actor` with the reason.
 * *outcome: 0 done, 1 no such id, 2 not new (*item is then its current
 * form). *item = its form after (caller decrefs), NULL when not found. */
int cps_dlq_discard(struct cps_dlq_store *s, int64_t id, const char *actor, const char *reason,
                    int *outcome, json_t **item, char *errstr, size_t errstr_size);

/* Appends one row to cpsync.audit (its own statement). before/after are
 * borrowed and may be NULL. */
int cps_dlq_audit(struct cps_dlq_store *s, const char *actor, const char *action,
                  const char *entity, const char *key, json_t *before, json_t *after,
                  const char *reason, char *errstr, size_t errstr_size);

/* Keeps link `link` paused (cpsync.paused_links, by `actor` with the
 * optional reason) or forgets its pause; its own statement, idempotent. */
int cps_dlq_set_paused(struct cps_dlq_store *s, const char *link, bool paused, const char *actor,
                       const char *reason, char *errstr, size_t errstr_size);
/* The names of the paused links: *links = a JSON array of strings (caller
 * decrefs). */
int cps_dlq_paused_links(struct cps_dlq_store *s, json_t **links, char *errstr, size_t errstr_size);

#endif
