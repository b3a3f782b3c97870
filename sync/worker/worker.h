/*
 * Reconcile workers (design: ENGINE.md "Reconcile worker"): N threads, each a
 * member of one Kafka consumer group on the ingest topic, each with its own
 * store connection. A worker applies a batch of ingest events in memory and
 * commits states, history, outbox, conflicts, audit and the batch's next
 * offsets in ONE store transaction; partitions are assigned at the offsets
 * stored there (never Kafka's committed offsets).
 */
#ifndef CPS_WORKER_H
#define CPS_WORKER_H

#include "base/pause.h"
#include "codec/framing.h"
#include "ingest/ingest_topic.h"
#include "publish/publish.h"
#include "codec/registry.h"
#include "policy/policy.h"
#include "reconcile/rules.h"
#include "codec/schema.h"
#include "config/settings.h"
#include "observe/status.h"

struct cps_live;

#include <stdbool.h>
#include <stdint.h>

struct cps_worker_conf {
	const char *bootstrap;                       /* required */
	const struct cps_settings *kafka_properties; /* "kafka.properties.*", may be NULL */
	const char *ingest_topic;                    /* kafka.ingest_topic */
	const char *group_id;                        /* kafka.group_id */
	const char *unified_topic_prefix;            /* kafka.unified_topic_prefix */
	const char *conninfo;                        /* store.conninfo */
	int workers;                                 /* reconcile.workers (>= 1) */
	size_t batch_size;                           /* store.batch_size */
	int batch_ms;                                /* store.batch_ms */
	size_t state_cache_bytes;                    /* reconcile.state_cache_mb, whole pool */
	struct cps_catalog *catalog;                 /* borrowed, shared (read-only) */
	const struct cps_rules *rules;               /* borrowed, shared (read-only) */
	const struct cps_policy *policy; /* borrowed, shared; NULL: no checks (policy.h) */
	/* when set, each batch takes the current rules (and policy) from these
	 * instead (a reload or `rules apply` swaps them; base/live.h); borrowed */
	struct cps_live *rules_live;
	struct cps_live *policy_live;
	enum cps_framing unified_framing; /* confluent (default) or single-object */
	struct cps_registry *registry;    /* NULL: registry-free ids */
	struct cps_publisher *publisher;  /* woken after each commit, may be NULL */
	struct cps_status *status;        /* may be NULL */
	struct cps_link *link;            /* the "reconcile" line of /status, may be NULL */
	/* the ingest topic's identity check: workers consume only once it has
	 * verified the stored offsets; NULL = already verified */
	struct cps_ingest_topic *identity;
	bool start_paused; /* start PAUSED (a pause kept in the store) */
};

/* Fills the conf's topic, group, store and batch fields from a loaded
 * config (the rest stays as the caller set it). */
void cps_worker_conf_from_config(const struct cps_config *cfg, struct cps_worker_conf *conf);

struct cps_workers;

/* Starts conf->workers threads. `conf` is copied; borrowed pointers must
 * outlive cps_workers_stop. */
int cps_workers_start(const struct cps_worker_conf *conf, struct cps_workers **out, char *errstr,
                      size_t errstr_size);
/* Stops every worker (an uncommitted batch is dropped: its events stay on
 * the ingest topic after the stored offsets), joins, closes, frees. NULL-safe. */
void cps_workers_stop(struct cps_workers *w);

/* An operator's pause (base/pause.h): each worker finishes its batch, pauses its assigned
 * partitions (and any it gets assigned meanwhile) and keeps polling, so it
 * stays in the group; the link is PAUSED. Resume goes on from the stored
 * offsets' successors. Any thread; returns at once. */
struct cps_pause *cps_workers_pause(struct cps_workers *w);

struct cps_worker_stats {
	int64_t batches;      /* committed batches */
	int64_t events;       /* ingest messages committed (dead letters included) */
	int64_t emitted;      /* unified versions emitted */
	int64_t dead_letters; /* undecodable or unappliable ingest messages */
	int64_t conflicts;    /* conflicts opened */
	int64_t retries;      /* batches re-applied after a store error */
};

struct cps_offsets; /* connectors/connector.h */

/* The workers' positions: per partition of the ingest topic its next offset
 * as stored with the states (cpsync.ingest_offsets, the truth; -1 when none)
 * and its log end, read with a Kafka client and a store connection of their
 * own. Any thread. */
int cps_workers_offsets(struct cps_workers *p, struct cps_offsets *out, char *errstr,
                        size_t errstr_size);
void cps_workers_get_stats(struct cps_workers *w, struct cps_worker_stats *out);
/* cps_workers_stop, giving the final figures (every thread joined) in *out. */
void cps_workers_stop_stats(struct cps_workers *w, struct cps_worker_stats *out);

/* The policy's checks outside a batch, for `rules apply` (store_rules.h's
 * cps_rules_pass.policy_check): the policy in force taken from
 * `policy_live` per record, the person and household a check reads from
 * the store. Both borrowed; one thread at a time. */
struct cps_policy_checker;
struct cps_store;
struct cps_key_state;
int cps_policy_checker_new(struct cps_catalog *catalog, struct cps_live *policy_live,
                           struct cps_policy_checker **out, char *errstr, size_t errstr_size);
void cps_policy_checker_free(struct cps_policy_checker *pc);
/* cps_rules_pass.policy_check with ctx a struct cps_policy_checker:
 * *findings (the caller's) as cps_policy_evaluate gives them for the
 * enrolment or verification `st`, read through `s` (the pass's own
 * transaction); NULL for another entity or when no policy is in force. */
int cps_policy_checker_check(void *ctx, struct cps_store *s, const struct cps_key_state *st,
                             json_t **findings, char *errstr, size_t errstr_size);

#endif
