/*
 * Private to the sink room: the sink runner's state shared by the files that
 * split it by concept — the runner loop and lifecycle (sink_runner.c), its
 * configuration (sink_config.c), the record built for the target from one
 * unified event (sink_record.c), delivery (sink_deliver.c), poison records
 * and replays (sink_poison.c) and the version guard (sink_guard.c). Not for use outside sync/sink/.
 */
#ifndef CPS_SINK_RUNNER_INT_H
#define CPS_SINK_RUNNER_INT_H

#include "sink/sink_runner.h"
#include "base/arena.h"
#include "base/buf.h"
#include "codec/codec.h"
#include "codec/framing.h"
#include "codec/record.h"
#include "model/entity.h"
#include "reconcile/unified.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#define FACILITY                  "SINK"
#define CPS_SINK_FLUSH_TIMEOUT_MS 30000

/* One record for the target, with the buffers its fields point into. */
struct out_rec {
	struct cps_buf value;
	char *key; /* in the runner's `values`, of any length */
	char version[24];
	char fp[17];
	int64_t v;  /* the unified version */
	int ei;     /* the entity's index */
	size_t msg; /* its message in the poll */
	struct cps_header headers[5];
};

/* A version put since the last flush (the guard saves them at the flush). */
struct sink_written {
	int ei;
	char *key; /* in the runner's `written_keys` */
	int64_t version;
};

/* A key of the guard's map while it filters a poll (sink_guard.c). */
struct sink_guard_slot {
	const char *key; /* borrowed from the poll or `written`; NULL: empty */
	uint64_t hash;
	int ei;
	int64_t version; /* the newest put since the last flush or kept in the poll */
};

/* A replay waiting for the runner's thread (cps_sink_runner_replay). The
 * caller owns it: it withdraws it before it is taken or waits until done. */
struct sink_replay {
	char entity[CPS_NAME_MAX];
	uint8_t *raw;
	size_t raw_len;
	bool taken, done;
	int rc;
	char reason[CPS_ERRSTR_SIZE], err[CPS_ERRSTR_SIZE];
};

struct cps_sink_runner {
	char platform[CPS_PLATFORM_MAX];
	const struct cps_connector_ops *ops;
	enum cps_sink_format format;
	enum cps_framing framing;
	struct cps_settings sink_settings;   /* for the connector */
	struct cps_settings source_settings; /* for the Kafka consumer */
	char *allow[CPS_N_ENTITIES];         /* NULL = entity not sent */
	struct cps_catalog *catalog;
	struct cps_registry *registry;
	char *store_conninfo;
	struct cps_store *store; /* opened at the first use, reopened after a failure */
	struct cps_status *status;
	struct cps_link *link;
	size_t batch_max;
	int poll_ms;
	int flush_ms; /* settings `flush_ms`: flush and commit at most this often; 0 = every batch */
	struct cps_position *pending; /* consumed and put, not yet flushed: newest per partition */
	size_t n_pending, cap_pending;
	size_t unflushed; /* records put since the last flush */
	bool failing;     /* the last put or flush failed; cleared by a good flush */
	bool isolate; /* a refusal among several batches: deliver the next one record by record */
	char link_name[CPS_PLATFORM_MAX + 8]; /* "city-sink": a dead letter's link */
	int retry_attempts, retry_backoff_ms, retry_backoff_max_ms;
	uint64_t jitter; /* xorshift state of the backoff's jitter */
	/* the version guard (Kafka and files sinks): versions put since the
	 * last flush, and for each out record of a batch the newest version
	 * written before it; their keys in `written_keys`, reset with them */
	struct sink_written *written;
	size_t n_written, cap_written;
	struct cps_arena written_keys;
	int64_t *last_written;
	struct sink_guard_slot *guard_slots; /* the guard's map: a power of two of them */
	size_t n_guard_slots;
	pthread_mutex_t replay_lock;
	pthread_cond_t replay_cond;
	struct sink_replay *replay; /* waiting to be taken; NULL when none */

	struct cps_unified *unified;
	struct cps_conn *source, *sink;
	/* the arrays below, batch_max each, all in `scratch` (allocated once) */
	struct cps_arena scratch;
	struct out_rec *out;
	struct cps_sink_record *recs;
	/* one poll's decoded events (key NULL: none), their typed values in
	 * `values` (reset per poll), and the guard's (entity, key) of each */
	struct cps_sink_event *events;
	struct cps_arena values;
	int *entity_of;
	struct cps_change_ref *refs;
	size_t *out_of; /* r->recs[k] is built in r->out[out_of[k]] */

	pthread_t thread;
	bool started;
	atomic_bool stop;
	struct cps_pause pause; /* both sides closed until resume */
	atomic_bool restart;    /* cps_sink_runner_restart: close and reopen both sides */
	atomic_int_fast64_t restarts;
	pthread_mutex_t stats_lock;
	struct cps_sink_stats stats;
	char masked_key[64];
};

/* Adds `n` to one of r->stats' counters. Any thread. */
static inline void stat_add(struct cps_sink_runner *r, uint64_t *field, uint64_t n)
{
	pthread_mutex_lock(&r->stats_lock);
	*field += n;
	pthread_mutex_unlock(&r->stats_lock);
}

/* A record the sink does not send, counted in its stats and on its link
 * (/metrics: cpsync_sink_dropped_total{reason}). */
static inline void drop_add(struct cps_sink_runner *r, uint64_t *field, enum cps_drop_reason why)
{
	stat_add(r, field, 1);
	if (r->link)
		atomic_fetch_add(&r->link->dropped[why], 1);
}

/* Whether an error is the target refusing a record (poison), not trouble
 * with the target (retried by reopening, DEGRADED meanwhile). */
static inline bool is_refusal(int rc)
{
	return rc == CPS_ERR_INVALID;
}

/* ---- sink_deliver.c ------------------------------------------------------ */

/* Flushes the sink, saves the guard's versions, then commits what it
 * consumed: a committed offset is always delivered. @locality the runner
 * thread */
int cps_sink_flush_and_commit(struct cps_sink_runner *r, int64_t *last_flush, char *errstr,
                              size_t errstr_size);
/* Opens the sink side when it is closed. @locality the runner thread */
int cps_sink_open_sink(struct cps_sink_runner *r, char *errstr, size_t errstr_size);

/* ---- sink_poison.c ------------------------------------------------------- */

/* Stores a dead letter of the sink for message `m` (the unified event's raw
 * bytes and key, "sink:<origin>"), entity index `ei` (-1 when unknown) and
 * unified version (0 when unknown), counted. Errors are the store's: the
 * batch is then not committed. @locality the runner thread */
int cps_sink_dead_letter(struct cps_sink_runner *r, const struct cps_source_msg *m, int ei,
                         int64_t version, const char *reason, char *errstr, size_t errstr_size);
/* Delivers the n out records of a poll one by one, each put and flushed
 * alone: a refused one is tried again r->retry_attempts times after a
 * backoff with jitter, then dead-lettered; the sink goes on with the next.
 * Other errors end it (the runner reopens; nothing is committed). The
 * caller commits. @locality the runner thread */
int cps_sink_deliver_isolated(struct cps_sink_runner *r, const struct cps_source_batch *b, size_t n,
                              char *errstr, size_t errstr_size);
/* Serves a waiting replay, if any. @locality the runner thread */
void cps_sink_serve_replay(struct cps_sink_runner *r, int64_t *last_flush);
/* Answers a waiting replay with CPS_ERR_RETRIABLE `why` (paused, failing). */
void cps_sink_refuse_replay(struct cps_sink_runner *r, const char *why);

/* ---- sink_guard.c -------------------------------------------------------- */

/* Drops from the n records of the poll (r->recs and r->out_of, compacted
 * in order) those whose version the sink already wrote for their key or that
 * an earlier record of the poll supersedes (counted); *n is what remains.
 * Kafka and files sinks only (the postgres sink guards in its table). One
 * store query for the whole poll. @locality the runner thread */
int cps_sink_guard_filter(struct cps_sink_runner *r, size_t *n, char *errstr, size_t errstr_size);
/* Notes that r->recs[k] was put. 0, or -1 when memory is out. */
int cps_sink_guard_note(struct cps_sink_runner *r, size_t k);
/* Saves the noted versions in one statement and forgets them (after a good
 * flush); cps_sink_guard_forget drops them (after a failure). */
int cps_sink_guard_save(struct cps_sink_runner *r, char *errstr, size_t errstr_size);
void cps_sink_guard_forget(struct cps_sink_runner *r);

/* ---- sink_config.c ------------------------------------------------------- */

/* Takes the runner's own keys out of conf->settings (allow.<entity>,
 * framing, flush_ms) into r, the rest into r->sink_settings, and builds
 * r->source_settings for the consumer of the unified topics. Needs r->format.
 * CPS_ERR_INVALID names the platform's bad setting. */
int cps_sink_split_settings(struct cps_sink_runner *r, const struct cps_sink_runner_conf *conf,
                            char *errstr, size_t errstr_size);

/* ---- sink_record.c ------------------------------------------------------- */

/* r->store, opened when it is not; on an error it stays closed. @locality
 * the runner thread */
int cps_sink_store(struct cps_sink_runner *r, char *errstr, size_t errstr_size);
/* Closes r->store after a store error (reopened at the next use). */
void cps_sink_store_failed(struct cps_sink_runner *r);

/* Builds out record `o` and `rec` of one decoded unified event of entity
 * index `ei` (the no-echo rule decided from the event alone); CPS_OK and
 * *skip set when the event is dropped (counted). CPS_ERR_INVALID when the
 * record cannot be encoded (the caller dead-letters it). @locality the
 * runner thread */
/* Decodes a unified event of entity `ei` into *out, its values in
 * r->values; CPS_ERR_INVALID (with the reason) when it cannot be read. */
int cps_sink_decode_event(struct cps_sink_runner *r, int ei, const void *buf, size_t len,
                          struct cps_sink_event *out, char *errstr, size_t errstr_size);
int cps_sink_build_record(struct cps_sink_runner *r, int ei, const struct cps_sink_event *ev,
                          struct out_rec *o, struct cps_sink_record *rec, bool *skip, char *errstr,
                          size_t errstr_size);

#endif
