/*
 * Private to the engine room: the running engine (struct cps_engine) and its
 * start-up stages, one file each under sync/engine/ — settings, schemas,
 * store, Kafka, HTTP and the APIs, reconcile (publisher, workers), sources,
 * sinks — wired and stopped in order by sync/engine.c, and its messages to
 * systemd (engine_notify.c).
 */
#ifndef CPS_ENGINE_INT_H
#define CPS_ENGINE_INT_H

#include "engine.h"
#include "base/common.h"
#include "codec/framing.h"
#include "codec/guard.h"
#include "config/settings.h"
#include "connectors/connector.h"

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

struct cps_api;
struct cps_broker;
struct cps_ingest;
struct cps_ingest_topic;
struct cps_metrics;
struct cps_ops_api;
struct cps_republish_api;
struct cps_publisher;
struct cps_registry;
struct cps_policy;
struct cps_rules;
struct cps_live;
struct cps_sink_runner;
struct cps_sweeper;
struct cps_sweeps_api;
struct cps_workers;

/* One platform source: what it takes to (re)open its connector. */
struct engine_source {
	struct cps_engine *engine;
	char platform[CPS_PLATFORM_MAX];
	const struct cps_connector_ops *ops;
	struct cps_settings settings; /* flattened, framing removed, defaults added */
	enum cps_framing framing;     /* of its messages (the ingest stage's) */
	struct cps_link *link;
	struct cps_ingest *runner;
};

struct cps_engine {
	struct cps_config *cfg;
	bool signals_blocked;
	sigset_t old_mask;
	atomic_bool stop_requested;
	pthread_mutex_t wait_lock;
	pthread_cond_t wait_cond;

	struct cps_status *status;
	struct cps_catalog *catalog;
	struct cps_registry *registry;
	struct cps_rules *rules;      /* the first rules (owned by rules_live once it exists) */
	struct cps_live *rules_live;  /* the rules in force: a reload or `rules apply` swaps them */
	struct cps_live *policy_live; /* the policy in force (owns e->policy once it exists) */
	int64_t rule_set;             /* the stored number of the rules the engine last loaded */
	pthread_mutex_t reload_lock;  /* one reload at a time */
	struct cps_policy
	    *policy; /* loaded and its standards checked at start; not yet run per change */
	struct cps_guard_limits limits;
	char *conninfo;
	struct cps_settings kafka_props;

	struct cps_broker *broker; /* embedded only */
	char *bootstrap;

	struct cps_status_http *status_http;
	struct cps_http_server *http;
	struct cps_metrics *metrics;

	struct cps_publisher *publisher;
	struct cps_ingest_topic *identity; /* verifies the stored ingest offsets */
	struct cps_workers *workers;

	struct engine_source *sources;
	size_t n_sources;

	struct cps_sink_runner **sinks; /* one per platform with a `sink` section */
	size_t n_sinks;

	struct cps_ops_api *ops_api;             /* dead letters and connector controls */
	struct cps_api *api;                     /* steward API: conflicts, records, audit */
	struct cps_republish_api *republish_api; /* POST /api/v1/republish */
	struct cps_sweeper *sweeper;             /* three-way sweeps (sweep/sweep.h) */
	struct cps_sweeps_api *sweeps_api;       /* /api/v1/sweeps */

	json_t *paused_links; /* names of the links kept paused in the store */

	uint64_t watchdog_usec;      /* systemd's WATCHDOG_USEC, 0 = no watchdog */
	uint64_t watchdog_last_usec; /* CLOCK_MONOTONIC of the last WATCHDOG=1 */
};

/* A stage of cps_engine_start (engine.c lists them in order): returns
 * CPS_OK or fills errstr; on error cps_engine_stop stops what the earlier
 * stages started. `opts` may be NULL. */
typedef int cps_engine_stage_fn(struct cps_engine *e, const struct cps_engine_opts *opts,
                                char *errstr, size_t errstr_size);

/* engine_settings.c: removes `key` from `s` (settings have no delete of their own). */
void cps_engine_settings_remove(struct cps_settings *s, const char *key);
/* engine_schemas.c: the schema catalog and the registry client. */
cps_engine_stage_fn cps_engine_load_schemas;
/* engine_store.c: the store migrated to the latest schema version, and
 * the paused links read. */
cps_engine_stage_fn cps_engine_migrate_store;
/* Whether an operator's pause of link `link` is kept in the store (then
 * logs that it starts PAUSED). */
bool cps_engine_link_paused(const struct cps_engine *e, const char *link);
/* Adds the link to /status; *paused says whether an operator paused it, and
 * such a link shows PAUSED at once (its runner starts paused). */
struct cps_link *cps_engine_add_link(struct cps_engine *e, const char *name, const char *platform,
                                     const char *type, enum cps_link_direction dir, bool *paused);
/* engine_rules.c: the configuration's rule set stored and numbered, the
 * rules and policy behind swappable pointers. */
cps_engine_stage_fn cps_engine_record_rules;
/* SIGHUP and POST /api/v1/reload: rules, policy, API tokens and log
 * settings from the configuration file, all validated before any changes;
 * CPS_ERR_INVALID with the reason when the file is not valid. Any thread. */
int cps_engine_reload(struct cps_engine *e, char *errstr, size_t errstr_size);
/* The same as a cps_api_conf.reload callback (ctx: the engine). */
int cps_engine_reload_cb(void *ctx, char *errstr, size_t errstr_size);
/* engine_kafka.c: the embedded broker with every topic, or external brokers. */
cps_engine_stage_fn cps_engine_start_kafka;
/* engine_http.c: the HTTP server with /healthz, /readyz, /status, /metrics
 * and the dashboard; then the operator and steward APIs on it. */
cps_engine_stage_fn cps_engine_start_http;
cps_engine_stage_fn cps_engine_start_ops_api;
cps_engine_stage_fn cps_engine_start_steward_api;
/* engine_republish.c: POST /api/v1/republish. */
cps_engine_stage_fn cps_engine_start_republish_api;
/* engine_reconcile.c: the publisher, the ingest topic's identity check and
 * the reconcile workers. */
cps_engine_stage_fn cps_engine_start_reconcile;
/* engine_sources.c: one ingest runner per enabled platform source. */
cps_engine_stage_fn cps_engine_start_sources;
/* engine_sweeps.c: the sweeper over the running sources and its routes. */
cps_engine_stage_fn cps_engine_start_sweeps;
/* engine_sinks.c: one sink runner per enabled platform with a `sink` section. */
cps_engine_stage_fn cps_engine_start_sinks;

/* engine_notify.c: systemd's notify protocol (no-ops outside systemd).
 * READY=1 after start-up (reads WATCHDOG_USEC); WATCHDOG=1 when half the
 * watchdog interval has passed, called from the loop of cps_engine_wait;
 * STOPPING=1 on shutdown. @locality the thread of cps_engine_start/wait */
void cps_engine_notify_ready(struct cps_engine *e);
void cps_engine_notify_watchdog(struct cps_engine *e);
void cps_engine_notify_stopping(struct cps_engine *e);

#endif
