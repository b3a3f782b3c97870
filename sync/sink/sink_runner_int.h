/*
 * Private to the sink room: the sink runner's state shared by the files that
 * split it by concept — the runner loop and lifecycle (sink_runner.c), its
 * configuration (sink_config.c) and the record built for the target from one
 * unified event (sink_record.c). Not for use outside sync/sink/.
 */
#ifndef CPS_SINK_RUNNER_INT_H
#define CPS_SINK_RUNNER_INT_H

#include "sink/sink_runner.h"
#include "base/arena.h"
#include "base/buf.h"
#include "codec/codec.h"
#include "codec/framing.h"
#include "model/entity.h"
#include "reconcile/unified.h"
#include "store/store.h"

#include <libpq-fe.h>
#include <pthread.h>
#include <stdatomic.h>

#define FACILITY "SINK"

/* One record for the target, with the buffers its fields point into. */
struct out_rec {
	struct cps_buf value;
	char key[256];
	char version[24];
	char fp[17];
	struct cps_header headers[5];
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
	struct cps_store *store; /* opened at the first lookup, reopened after a failure */
	struct cps_status *status;
	struct cps_link *link;
	size_t batch_max;
	int poll_ms;
	int flush_ms; /* settings `flush_ms`: flush and commit at most this often; 0 = every batch */
	struct cps_position *pending; /* consumed and put, not yet flushed: newest per partition */
	size_t n_pending, cap_pending;
	size_t unflushed; /* records put since the last flush */
	bool failing;     /* the last put or flush failed; cleared by a good flush */

	struct cps_unified *unified;
	struct cps_codec *codecs[CPS_N_ENTITIES];
	struct cps_conn *source, *sink;
	/* the arrays below, batch_max each, all in `scratch` (allocated once) */
	struct cps_arena scratch;
	struct out_rec *out;
	struct cps_sink_record *recs;
	/* one poll's decoded events and what the change log says of them */
	json_t **events;
	int *entity_of;
	struct cps_change_ref *refs;
	json_t **changed, **prev;

	pthread_t thread;
	bool started;
	atomic_bool stop;
	atomic_bool paused;  /* cps_sink_runner_pause: both sides closed until resume */
	atomic_bool restart; /* cps_sink_runner_restart: close and reopen both sides */
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

/* ---- sink_config.c ------------------------------------------------------- */

/* Takes the runner's own keys out of conf->settings (allow.<entity>,
 * framing, flush_ms) into r, the rest into r->sink_settings, and builds
 * r->source_settings for the consumer of the unified topics. Needs r->format.
 * CPS_ERR_INVALID names the platform's bad setting. */
int cps_sink_split_settings(struct cps_sink_runner *r, const struct cps_sink_runner_conf *conf,
                            char *errstr, size_t errstr_size);

/* ---- sink_record.c ------------------------------------------------------- */

/* What the no-echo rule needs of the n decoded events in r->events (NULL
 * entries skipped): r->changed[i] and r->prev[i] from the store's change
 * log, in one query (all NULL without a store). @locality the runner thread */
int cps_sink_lookup_changes(struct cps_sink_runner *r, size_t n, char *errstr, size_t errstr_size);

/* Builds out record `o` and `rec` of one decoded unified event of entity
 * index `ei`, with its changed fields and previous provenance (from
 * cps_sink_lookup_changes; NULL when unknown); CPS_OK and *skip set when the
 * event is dropped (counted). @locality the runner thread */
int cps_sink_build_record(struct cps_sink_runner *r, int ei, json_t *event, json_t *changed,
                          json_t *prev, struct out_rec *o, struct cps_sink_record *rec, bool *skip,
                          char *errstr, size_t errstr_size);

#endif
