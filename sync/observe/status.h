/*
 * Live figures of every link, for /status, /readyz and (later) /metrics.
 * Each running connector owns one struct cps_link; its thread updates the
 * counters with atomics, readers take a consistent-enough snapshot without
 * locks. The set of links is fixed at start-up.
 */
#ifndef CPS_STATUS_H
#define CPS_STATUS_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <jansson.h>

#include "observe/throughput.h"

enum cps_link_state {
	CPS_LINK_STARTING,
	CPS_LINK_RUNNING,
	CPS_LINK_PAUSED,
	CPS_LINK_FAILED, /* retrying after an error */
	CPS_LINK_STOPPED,
	CPS_LINK_STANDBY,  /* a single-reader source another instance holds */
	CPS_LINK_DEGRADED, /* a sink retrying deliveries that failed: not ready */
};

enum cps_link_direction {
	CPS_LINK_SOURCE,
	CPS_LINK_SINK,
};

/* Why a sink did not send a record of its stream. */
enum cps_drop_reason {
	CPS_DROP_ECHO,        /* the change came from the sink's own platform */
	CPS_DROP_NOT_ALLOWED, /* a required field is outside the sink's allow-list */
	CPS_DROP_UNDECODABLE, /* not a unified event of its topic's entity (dead-lettered) */
	CPS_DROP_REFUSED,     /* the target refused it or it cannot be encoded (dead-lettered) */
	CPS_DROP_SUPERSEDED,  /* the sink already wrote this version of the key or a newer one */
	CPS_DROP_REASONS
};
const char *cps_drop_reason_name(enum cps_drop_reason why);

struct cps_link {
	char name[64];     /* "province-source" */
	char platform[32]; /* "province" */
	char type[16];     /* connector type: "kafka", "postgres", "files" */
	enum cps_link_direction direction;
	_Atomic int state;
	_Atomic int64_t records; /* accepted (source) or delivered (sink) */
	_Atomic int64_t errors;
	_Atomic int64_t dead_letters;
	_Atomic int64_t lag;                       /* messages behind, -1 unknown */
	_Atomic int64_t ignored_files;             /* a source's entries it will never read */
	_Atomic int64_t dropped[CPS_DROP_REASONS]; /* a sink's records not sent, by reason */
	_Atomic int64_t last_success_ms;           /* wall clock, 0 never */
	_Atomic int64_t newest_effective_ms;       /* freshness: newest fact accepted */
	char last_error[256];                      /* masked; written under the registry lock */
	/* the reconcile link's key-state cache (worker/worker_cache.c), summed
	 * over its workers; cap_bytes 0: no cache */
	struct cps_link_cache {
		_Atomic int64_t hits, stale, misses; /* lookups: stale = cached copy outdated */
		_Atomic int64_t evictions, entries, bytes, cap_bytes;
	} cache;
	/* a source's incremental snapshot (re-read of a table while streaming):
	 * table "" when none; written under the registry lock */
	struct cps_link_snapshot {
		char table[128], state[16];
		int64_t chunks, rows, waiting;
	} snapshot;
	/* records per second over the last minute, filled by cps_status_sample */
	struct cps_throughput throughput;
	int64_t sampled_records; /* `records` at the last sample; the sampler's own */
};

struct cps_status;

int cps_status_new(const char *instance, struct cps_status **out);
void cps_status_free(struct cps_status *st);
/* Adds a link; the pointer stays valid for the registry's lifetime. */
struct cps_link *cps_status_add_link(struct cps_status *st, const char *name, const char *platform,
                                     const char *type, enum cps_link_direction dir);
void cps_link_set_state(struct cps_link *l, enum cps_link_state s);
/* `msg` must already be masked (pii.h). */
void cps_link_set_error(struct cps_status *st, struct cps_link *l, const char *msg);
const char *cps_link_state_name(enum cps_link_state s);
/* A source's incremental snapshot figures (/status "snapshot"); table ""
 * shows none. */
void cps_link_set_snapshot(struct cps_status *st, struct cps_link *l,
                           const struct cps_link_snapshot *snap);

/* Global facts shown in /status. */
void cps_status_set_bootstrap(struct cps_status *st, const char *bootstrap);
/* An instance-wide reason /readyz answers 503 for (already masked); NULL or
 * "" clears it. cps_status_unready copies it and says whether one is set. */
void cps_status_set_unready(struct cps_status *st, const char *reason);
bool cps_status_unready(struct cps_status *st, char *out, size_t out_size);
size_t cps_status_link_count(struct cps_status *st);
struct cps_link *cps_status_link_at(struct cps_status *st, size_t i);

/* Links of this pseudo-platform are cpsync's own (reconcile, publisher):
 * listed among the links, not among the platforms. */
#define CPS_STATUS_ENGINE_PLATFORM "cpsync"

/* The freshness target of `platform` in seconds (platforms.*.freshness_target_s);
 * a platform without one is fresh once it has applied anything. */
void cps_status_set_freshness_target(struct cps_status *st, const char *platform, int64_t target_s);
/* Moves each link's records since the last call into its throughput ring
 * at the current second. Call about once a second from ONE thread (the
 * metrics sampler). */
void cps_status_sample(struct cps_status *st);

/* Retention purged `rows` of `what` ("history", "dead_letter_raw", …):
 * /status "retention" and /metrics cpsync_retention_purged_total{what}
 * show the totals since start. Thread-safe. */
void cps_status_count_purged(struct cps_status *st, const char *what, int64_t rows);

/* The /status document without the store part (caller adds it): version,
 * instance, uptime_s, kafka, links (each with throughput_per_min and
 * `series`, the last 60 per-second counts, oldest first) and platforms
 * (name, links, freshness_s, freshness_target_s, fresh, throughput_per_min,
 * errors, dead_letters, last_error). */
json_t *cps_status_to_json(struct cps_status *st);
/* The last sweep's differences ([{"platform", "kind", "count"}], borrowed:
 * a reference is taken), shown as "sweep": {"differences": …} and as the
 * metric cpsync_sweep_differences. */
void cps_status_set_sweep(struct cps_status *st, json_t *differences);

#endif
