/*
 * Private to the worker room: the state of a reconcile worker pool shared by
 * the files that split it by concept — lifecycle (worker.c), consuming
 * (worker_consume.c), where partitions start and what a batch commits as
 * offsets (worker_offsets.c), one batch (worker_batch.c), applying it
 * (worker_apply.c: loading the keys' states, each event in order) to what
 * the attempt holds and commits (worker_attempt.c), an event on a typed
 * state (worker_typed.c, in a tslot: worker_tslot.c), the policy's checks
 * and alerts (worker_policy.c, worker_alerts.c), the state cache
 * (worker_cache.c) and the store connection (worker_store.c).
 */
#ifndef CPS_WORKER_INT_H
#define CPS_WORKER_INT_H

#include "worker/worker.h"
#include "base/arena.h"
#include "base/common.h"
#include "model/event.h"
#include "model/entity.h"
#include "reconcile/typed_state.h"
#include "reconcile/unified.h"
#include "store/store.h"

#include <jansson.h>
#include <librdkafka/rdkafka.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <unistd.h>

#define FAC            "RECONCILE"
#define BACKOFF_MIN_MS 100
#define BACKOFF_MAX_MS 5000
/* Serialization failures of one batch retried before the link shows one. */
#define QUIET_CONFLICTS 3

struct worker {
	struct cps_workers *pool;
	int idx;
	pthread_t thread;
	int started;
	rd_kafka_t *rk;
	struct cps_store *store;
	struct cps_event_codec *ec;
	struct cps_unified *uni;
	int revoked; /* set by the rebalance callback: drop the batch being collected */
	int joined;  /* has had its first assignment (possibly empty) */
	int paused;  /* its assignment is paused (the pool's `paused` seen) */
	struct cps_worker_policy *policy; /* worker_policy.c, made on first use */
	struct cps_state_cache *cache;    /* worker_cache.c; NULL: none */
	/* worker_typed.c: the entities' record schemas for typed states, made
	 * on first use (typed_tried: made or found missing) */
	struct cps_record_schema *typed_rs[CPS_N_ENTITIES];
	bool typed_tried[CPS_N_ENTITIES];
	bool older_rows_seen; /* a state with no typed form was loaded (logged once) */
};

struct cps_workers {
	struct cps_worker_conf conf; /* its strings are copies in `strings` */
	struct cps_arena strings;
	struct cps_settings props;
	atomic_int stop;
	struct cps_pause pause; /* no batch starts */
	int n;
	struct worker *w;
	atomic_llong batches, events, emitted, dead_letters, conflicts, retries;
	atomic_int joined; /* workers that have had their first assignment */
};

/* Whether the pool is stopping (any thread). */
static inline int stopping(struct worker *w)
{
	return atomic_load(&w->pool->stop);
}

/* Sleeps `ms` in short steps, returning early when stopping. */
static inline void nap(struct worker *w, int ms)
{
	while (ms > 0 && !stopping(w)) {
		int step = ms > 50 ? 50 : ms;

		usleep((useconds_t)step * 1000);
		ms -= step;
	}
}

/* One consumed message of a batch. */
struct item {
	rd_kafka_message_t *m;
	struct cps_ingest_event ev;
	int ok;       /* decoded */
	int skip;     /* dead-lettered (undecodable, or refused by reconcile/encode) */
	char *reason; /* why, for the dead letter */
	char origin[256];
	bool typed;   /* its state is a typed one (a->tstates) */
	size_t state; /* index in the attempt's states or tstates */
};

/* A typed key state with an arena of its own, so that the state cache can
 * keep it whole. Applying only adds to the arena; `loaded` is what it held
 * when loaded (or last copied), so that a state grown well past it is
 * copied compact before it is kept. `st` comes first: the attempt's and the
 * store batch's struct cps_tstate pointers are tslots. */
struct tslot {
	struct cps_tstate st;
	struct cps_arena arena;
	size_t loaded;
};

/* What one attempt builds; everything borrowed by the store batch is owned
 * here (JSON references in `keep`). */
struct attempt {
	struct cps_key_state **states;
	size_t n_states;
	struct cps_store_emit *emits;
	size_t n_emits, cap_emits;
	struct cps_store_conflict *conflicts;
	size_t n_conflicts, cap_conflicts;
	struct cps_store_audit *audits;
	size_t n_audits, cap_audits;
	uint8_t **payloads;
	struct cps_store_policy *policy; /* the changed records' findings (worker_policy.c) */
	size_t n_policy;
	json_t *keep;
	json_t *index; /* "entity/key" -> i for states[i], -1 - i for tstates[i] */
	/* the typed states (struct tslot each), and their records as Avro JSON,
	 * made when an alert asks (cps_worker_attempt_record_json) */
	struct cps_tstate **tstates;
	size_t n_tstates, cap_tstates;
	json_t **trecords;
	/* per typed state, its emit that stands for it as it is (as_state):
	 * written down before the state changes again; SIZE_MAX: none */
	size_t *tpending;
	/* what the typed states' emits carry written down */
	struct cps_arena texts;
};

/* What the policy reads of a key's state in the attempt, JSON or typed.
 * `flat` numbers the attempt's states: states[i] as i, tstates[i] as
 * n_states + i. */
struct slot_view {
	const char *entity, *key;
	json_t *record;              /* a JSON state's (JSON null: none); NULL: typed */
	const struct cps_tstate *ts; /* a typed state; NULL: JSON */
	bool deleted;
	size_t flat;
};

/* ---- worker_cache.c ------------------------------------------------------ */

/* States committed by this worker, by "entity/key", with the id of the
 * transaction that wrote them; `cap_bytes` bounds them (oldest out first).
 * `stats` (NULL: none), shared by the link's workers, receives its entries,
 * bytes and evictions, and the lookups cps_state_cache_count_lookups
 * reports. */
struct cps_state_cache *cps_state_cache_new(size_t cap_bytes, struct cps_link_cache *stats);
void cps_state_cache_free(struct cps_state_cache *c);
/* A state the cache keeps: a JSON one or a typed one (a tslot's). */
struct cps_cached {
	struct cps_key_state *json;
	struct cps_tstate *typed;
};
/* Removes and returns the state of `key` (the caller owns it; both NULL:
 * none) and the id of its writer. */
struct cps_cached cps_state_cache_take(struct cps_state_cache *c, const char *key, uint64_t *xid);
/* Keeps `s` (owned by the cache from now on; freed at once when it cannot
 * be kept: no cache, xid 0, too large or out of memory). */
void cps_state_cache_put(struct cps_state_cache *c, const char *key, struct cps_cached s,
                         uint64_t xid);
/* Frees a state taken from the cache. */
void cps_cached_free(struct cps_cached s);
void cps_state_cache_clear(struct cps_state_cache *c);
/* A batch's lookups: found and still current, found but written since by
 * another transaction, not found. */
void cps_state_cache_count_lookups(struct cps_state_cache *c, size_t hits, size_t stale,
                                   size_t misses);
/* After its commit by transaction `xid`: the attempt's states go to the
 * worker's cache (the attempt no longer holds them). */
void cps_worker_attempt_keep(struct worker *w, struct attempt *a, uint64_t xid);
size_t cps_state_cache_count(const struct cps_state_cache *c);

/* ---- worker_store.c ------------------------------------------------------ */

/* Reports a failure: log, and the reconcile link FAILED with the message. */
void cps_worker_fail(struct worker *w, const char *what, const char *err);
/* Opens the worker's store connection, retrying until it works or stop. */
int cps_worker_store_ready(struct worker *w);
void cps_worker_store_drop(struct worker *w);

/* ---- worker_offsets.c ---------------------------------------------------- */

/* The consumer's rebalance callback: assigns at the offsets stored in
 * PostgreSQL (never Kafka's committed ones). @locality the worker's thread */
void cps_worker_on_rebalance(rd_kafka_t *rk, rd_kafka_resp_err_t err,
                             rd_kafka_topic_partition_list_t *parts, void *opaque);
/* Fills `offs` (room for n) with the batch's next offsets and fingerprints;
 * returns how many. */
size_t cps_worker_batch_offsets(struct cps_workers *p, struct item *items, size_t n,
                                struct cps_store_offset *offs);
/* Commits the offsets to Kafka too, asynchronously: for lag figures only. */
void cps_worker_commit_for_lag(struct worker *w, const struct cps_store_offset *offs, size_t k);

/* ---- worker_tslot.c ------------------------------------------------------ */

/* A new empty typed state of (entity, key) in a tslot of its own; NULL when
 * memory is out. */
struct cps_tstate *cps_tslot_new(const struct cps_record_schema *rs, const char *entity,
                                 const char *key);
void cps_tslot_free(struct cps_tstate *ts);
/* Notes what a freshly loaded state's arena holds. */
void cps_tslot_loaded(struct cps_tstate *ts);
/* A committed typed state to keep: ts itself, or when its arena has grown
 * well past what it held when loaded, a compact copy (ts freed); NULL when
 * memory is out (ts freed). */
struct cps_tstate *cps_tslot_compacted(struct cps_tstate *ts);
/* What a typed state's tslot takes in memory. */
size_t cps_tslot_bytes(const struct cps_tstate *ts);

/* ---- worker_attempt.c ---------------------------------------------------- */

void cps_worker_attempt_release(struct attempt *a);
/* Marks an item dead-lettered with `why`; CPS_ERR_FATAL when out of memory. */
int cps_worker_item_refuse(struct item *it, const char *why);
/* The same for an event an attempt refused, logged (an error when its
 * unified event could not be written: a reconciler bug): CPS_ERR_INVALID,
 * the attempt is made again without it; CPS_ERR_FATAL when out of memory. */
int cps_worker_item_refused(struct item *it, bool unified, const char *why, char *errstr,
                            size_t errstr_size);
/* Adds the unified version `buf` of state `st` (after outcome `o`) to the
 * attempt's emits (copies; CPS_ERR_FATAL when out of memory). */
int cps_worker_attempt_add_emit(struct cps_workers *p, struct attempt *a, struct cps_key_state *st,
                                const struct cps_reconcile_outcome *o, const struct cps_buf *buf);
/* A new emit of (entity, key) with a copy of payload `buf` and its topic;
 * the caller fills in the rest. NULL when out of memory. */
struct cps_store_emit *cps_worker_attempt_new_emit(struct cps_workers *p, struct attempt *a,
                                                   const char *entity, const char *key,
                                                   const struct cps_buf *buf);
/* The conflict rows and audit entries of outcome `o` of (entity, key). */
int cps_worker_attempt_add_conflicts(struct attempt *a, const char *entity, const char *key,
                                     const struct cps_reconcile_outcome *o, int64_t *opened);
/* The view of the state of "entity/key" `k` in the attempt; false when
 * the attempt has no such state. */
bool cps_worker_attempt_view(struct attempt *a, const char *k, struct slot_view *out);
/* The record of the state of "entity/key" `k` as Avro JSON (JSON null:
 * none), kept by the attempt; NULL when the attempt has no such state, or
 * a typed record has no JSON view (logged). */
json_t *cps_worker_attempt_record_json(struct attempt *a, const char *k);

/* ---- worker_typed.c ------------------------------------------------------ */

/* The record schema of `entity` for its typed state; NULL: the entity stays
 * on the JSON path (alerts, which the policy's alerts change as JSON, and
 * an entity whose schema does not compile, logged once). */
const struct cps_record_schema *cps_worker_typed_schema(struct worker *w, const char *entity);
/* Applies item `it` to its typed state: the typed event made from the
 * ingest event, the typed engine's apply, and for a change its unified
 * event, emit and conflict rows. Errors as cps_worker_attempt_build's
 * (an event refused: marked skip, CPS_ERR_INVALID). */
int cps_worker_apply_typed(struct worker *w, struct attempt *a, struct item *it,
                           const struct cps_rules *rules, int64_t now, int64_t *opened,
                           struct cps_buf *buf, char *errstr, size_t errstr_size);

/* ---- worker_apply.c ------------------------------------------------------ */

/* Loads states and applies every event in order. CPS_OK: the attempt is
 * ready to commit; CPS_ERR_INVALID: an event was refused (marked skip), redo;
 * else a store (or memory) error. */
int cps_worker_attempt_build(struct worker *w, struct item *items, size_t n, struct attempt *a,
                             int64_t *opened, char *errstr, size_t errstr_size);

/* ---- worker_policy.c ----------------------------------------------------- */

/* Checks the policy on the enrolments and verifications the attempt
 * changed, into a->policy. CPS_OK, or a store or memory error. */
int cps_worker_policy_pass(struct worker *w, struct attempt *a, char *errstr, size_t errstr_size);
void cps_worker_policy_free(struct cps_worker_policy *wp);

/* ---- worker_alerts.c ----------------------------------------------------- */

/* The alerts of the findings the attempt opens and closes, on the unified
 * alert topic: compares a->policy with the records' open findings in the
 * store and adds an alert version (OPEN, or CLOSED_NO_NEED) per change to
 * the attempt's states and emits. */
int cps_worker_policy_alerts(struct worker *w, struct attempt *a, char *errstr, size_t errstr_size);

/* ---- worker_batch.c ------------------------------------------------------ */

/* Decodes, applies and commits one batch of consumed messages (borrowed). */
void cps_worker_process_batch(struct worker *w, rd_kafka_message_t **msgs, size_t n);

/* ---- worker_consume.c ---------------------------------------------------- */

/* Creates the worker's consumer and subscribes it to the ingest topic. */
int cps_worker_consumer_new(struct worker *w, char *errstr, size_t errstr_size);
/* The worker thread. */
void *cps_worker_run(void *arg);

/* worker_consume.c: a worker's pause (@locality the worker thread): pauses
 * or resumes the partitions it holds and sets the link's state. */
void cps_worker_set_paused(struct worker *w, bool paused);

#endif
